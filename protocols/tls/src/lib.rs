//! TLS for the postwire mail clients: [embedded-tls] glue for implicit TLS (RFC 8314) and
//! STARTTLS upgrades, and a server-certificate verifier. `no_std`, no allocator. SMTP, IMAP
//! and POP3 share this one crate.
//!
//! - [`connect`] runs a TLS 1.3 handshake over any connected
//!   [`embedded_io_async::Read`] + [`Write`](embedded_io_async::Write) transport and returns a
//!   [`TlsStream`], which is again `Read + Write`. Implicit TLS and STARTTLS are the same
//!   call: for STARTTLS, call it on the plain transport after the server's go-ahead. The
//!   server name is sent as SNI (unless it is an IP address) and verified.
//! - [`Trust`] says whom to trust: DER CA certificates ([`pem`] decodes PEM bundles),
//!   pre-parsed roots (such as the `webpki-roots` crate's), SPKI SHA-256 pins, or nobody
//!   checked at all ([`Trust::Insecure`], which must be spelled out).
//! - [`verify_server_chain`] verifies a certificate chain without a handshake.
//! - [`Verifier`] and [`Provider`] plug into embedded-tls through its public `TlsVerifier` and
//!   `CryptoProvider` traits; use them through [`connect_with_provider`] to supply a clock.
//!
//! # Certificate verification
//!
//! Chains are verified by [rustls-webpki] (no allocator, no *ring*/aws-lc) with signature
//! algorithms implemented here on RustCrypto and, for RSA, on fixed-size integers. See
//! [`verify_server_chain`] for what is checked: signatures up to one of several anchors,
//! basicConstraints (CA flag, path length), keyUsage, extendedKeyUsage (`serverAuth`), name
//! constraints, unknown critical extensions, validity against the caller's clock ([`Time`]),
//! and the server name against every subjectAltName entry (DNS names with RFC 6125 wildcards,
//! IP addresses). Each refusal is its own [`CertError`]. The server's CertificateVerify
//! signature is then checked with the certificate's key.
//!
//! Why rustls-webpki: it is maintained, builds for `thumbv7em-none-eabihf` and
//! `thumbv6m-none-eabi` with `default-features = false` and no allocator (only its *ring* and
//! aws-lc backends, not used here, need `alloc` for RSA), and it does the path building,
//! basicConstraints, name constraints, EKU and RFC 6125 name matching that embedded-tls's
//! own `rustpki` verifier lacks. Measured in the no-allocator TLS image (thumbv7em, opt-level
//! z, LTO): replacing `rustpki` by rustls-webpki with P-256 costs +8.6 KB of flash and saves
//! 3.6 KB of RAM (no copy of the certificate chain is kept during the handshake).
//!
//! Signature algorithms, each behind a feature so a firmware pays only for what it enables:
//!
//! | feature | algorithms (certificates; TLS 1.3 CertificateVerify scheme) | flash (thumbv7em) |
//! |---|---|---|
//! | `p256` (default) | ECDSA P-256 with SHA-256 or SHA-384; `ecdsa_secp256r1_sha256` | +22 KB |
//! | `p384` | ECDSA P-384 with SHA-384 or SHA-256; `ecdsa_secp384r1_sha384` | +102 KB |
//! | `ed25519` | Ed25519; `ed25519` | +13 KB |
//! | `rsa` | RSA PKCS#1 v1.5 and PSS, SHA-256/384/512, 2048–4096-bit keys; `rsa_pss_rsae_sha256/384/512` | +6 KB |
//!
//! (`scripts/footprint.sh` measures these.) RSA runs on 4096-bit fixed-size integers, so its
//! cost does not depend on the key size much: about 1 ms per RSA-2048 verification and
//! 0.6 ms per RSA-4096 on a desktop CPU (P-256: 0.5 ms, P-384: 3 ms, Ed25519: 0.1 ms).
//!
//! With `rsa` the RSA schemes are also offered in the ClientHello. embedded-tls 0.19 offers
//! them after ECDSA P-256, P-384 and Ed25519, so a server holding both an ECDSA and an RSA
//! certificate (most do) still picks ECDSA; an RSA-only server picks RSA-PSS.
//! `rsa_pkcs1_*` CertificateVerify signatures are refused: TLS 1.3 forbids them
//! (RFC 8446 §4.4.3).
//!
//! ## Trust anchors on a device
//!
//! Bake the CA certificates into the firmware as DER and pass them as [`Trust::Anchors`]:
//!
//! ```
//! // static ISRG_ROOT_X1: &[u8] = include_bytes!("../certs/isrg-root-x1.der");
//! # static ISRG_ROOT_X1: &[u8] = &[];
//! static ANCHORS: &[&[u8]] = &[ISRG_ROOT_X1];
//! let trust = postwire_tls::Trust::Anchors(ANCHORS);
//! # let _ = trust;
//! ```
//!
//! or as pre-parsed [`TrustAnchor`](pki_types::TrustAnchor) constants with [`Trust::Roots`]
//! (the `webpki-roots` crate is a ready-made one: about 150 roots, ~70 KB of flash). A PEM
//! bundle can be decoded at start-up with [`pem::decode_certificates`].
//!
//! ## Time
//!
//! Give the verifier a clock ([`TlsClock`] for the handshake, [`Time::Now`] for
//! [`verify_server_chain`]) once the device knows the time. Without one ([`NoClock`],
//! [`Time::NoClock`]) the chain is checked at the latest notBefore among its certificates:
//! everything is verified except that the chain has not expired.
//!
//! # What embedded-tls 0.19 can do
//!
//! - TLS 1.3 only. A server without TLS 1.3 fails with [`TlsError::ProtocolVersion`] (or
//!   [`TlsError::Handshake`], depending on which alert it sends).
//! - Key exchange: P-256 only. Cipher suite: TLS_AES_128_GCM_SHA256 ([`CipherSuite`]), which
//!   every TLS 1.3 server supports.
//! - No client certificates, no session resumption, no ALPN.
//!
//! # Memory
//!
//! Per connection: the record read buffer ([`RECORD_READ_BUF_SIZE`], 16,640 bytes, is the safe
//! size unless max_fragment_length is negotiated, which embedded-tls only manages when every
//! handshake message fits one fragment), the record write buffer ([`RECORD_WRITE_BUF_SIZE`],
//! 4 KiB), and in the [`Provider`] the server's public key and the transcript hash (about
//! 700 bytes). Verification runs on the stack: rustls-webpki's path building plus, for RSA,
//! a few 512-byte numbers.
//!
//! [embedded-tls]: https://docs.rs/embedded-tls
//! [rustls-webpki]: https://docs.rs/rustls-webpki
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
#[macro_use]
extern crate std;

pub mod algs;
mod chain;
mod der;
mod error;
pub mod offer;
pub mod pem;
#[cfg(feature = "rsa")]
mod rsa;
mod stream;
mod verify;

pub use chain::{
    MAX_CHAIN_LEN, Time, Trust, TrustedBy, signature_algorithms, spki_sha256, verify_server_chain,
};
pub use error::{CertError, TlsError};
pub use offer::{SigAlgs, SigAlgsError, Suite};
pub use stream::{
    RECORD_READ_BUF_SIZE, RECORD_WRITE_BUF_SIZE, TlsStream, connect, connect_with_provider,
};
pub use verify::{CipherSuite, MAX_SERVER_NAME_LEN, MAX_SPKI_LEN, Provider, Verifier};

/// Re-exported: the embedded-tls crate, for its error and alert types.
pub use embedded_tls;
/// Re-exported from embedded-tls: implement [`TlsClock`] to have certificate validity
/// periods checked against the present; [`NoClock`] gives [`Time::NoClock`].
pub use embedded_tls::{NoClock, TlsClock};
/// Re-exported: rustls-pki-types, for [`TrustAnchor`](pki_types::TrustAnchor) and the
/// [`SignatureVerificationAlgorithm`](pki_types::SignatureVerificationAlgorithm) trait.
pub use pki_types;
/// Re-exported: rustls-webpki.
pub use webpki;
