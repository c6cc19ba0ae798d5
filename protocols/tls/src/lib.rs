//! TLS for the postwire mail clients: [embedded-tls] glue for implicit TLS (RFC 8314) and
//! STARTTLS upgrades, trust configuration and certificate loading. `no_std`, no allocator.
//!
//! - [`connect`] runs a TLS 1.3 handshake over any connected
//!   [`embedded_io_async::Read`] + [`Write`](embedded_io_async::Write) transport and returns a
//!   [`TlsStream`], which is again `Read + Write`. Implicit TLS and STARTTLS are the same
//!   call: for STARTTLS, call it on the plain transport after the server's go-ahead.
//! - [`Trust`] says whom to trust: DER CA certificates ([`pem`] decodes PEM bundles), or
//!   nobody checked at all ([`Trust::Insecure`], which must be spelled out).
//! - [`Verifier`] and [`Provider`] plug into embedded-tls; use them directly through
//!   [`connect_with_provider`] to supply a clock.
//!
//! # What embedded-tls 0.19 can do
//!
//! - TLS 1.3 only. A server without TLS 1.3 fails with [`TlsError::ProtocolVersion`] or
//!   [`TlsError::Handshake`] (depending on which alert it sends).
//! - Key exchange: P-256 only. Cipher suite: TLS_AES_128_GCM_SHA256 ([`CipherSuite`]).
//! - Server signatures: ECDSA P-256 (P-384 with the `p384` feature). RSA signature schemes
//!   are not offered: embedded-tls cannot verify RSA without an allocator. A server that
//!   holds an RSA and an ECDSA certificate then uses the ECDSA one; a server with only an
//!   RSA certificate aborts the handshake.
//! - No client certificates, no session resumption, no ALPN.
//!
//! # Memory
//!
//! Per connection: the record read buffer ([`RECORD_READ_BUF_SIZE`], 16,640 bytes is the safe
//! size), the record write buffer ([`RECORD_WRITE_BUF_SIZE`], 4 KiB), and during the
//! handshake the verifier's certificate storage ([`DEFAULT_CERT_SIZE`]) plus a few KiB of
//! stack.
//!
//! [embedded-tls]: https://docs.rs/embedded-tls
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod der;
mod error;
pub mod pem;
mod stream;
mod verify;

pub use error::TlsError;
pub use stream::{
    RECORD_READ_BUF_SIZE, RECORD_WRITE_BUF_SIZE, TlsStream, connect, connect_with_provider,
};
pub use verify::{CipherSuite, DEFAULT_CERT_SIZE, MAX_SERVER_NAME_LEN, Provider, Trust, Verifier};

/// Re-exported: the embedded-tls crate, for its error and alert types.
pub use embedded_tls;
/// Re-exported from embedded-tls: implement [`TlsClock`] to have certificate validity
/// periods checked; [`NoClock`] skips the check.
pub use embedded_tls::{NoClock, TlsClock};
