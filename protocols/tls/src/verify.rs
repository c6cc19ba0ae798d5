//! Trust configuration, the certificate verifier and the crypto provider.

use core::net::IpAddr;

use embedded_tls::pki::CertVerifier;
use embedded_tls::{
    Aes128GcmSha256, Certificate, CertificateEntryRef, CertificateRef, CertificateVerifyRef,
    CryptoProvider, NoClock, TlsCipherSuite, TlsClock, TlsVerifier,
};
use rand_core::CryptoRngCore;

use crate::TlsError;
use crate::der::LeafNames;

/// The cipher suite every connection of this crate uses (TLS_AES_128_GCM_SHA256).
///
/// One suite for all connections keeps a single copy of the handshake code in flash.
pub type CipherSuite = Aes128GcmSha256;

type Hash = <CipherSuite as TlsCipherSuite>::Hash;

/// Default for the `CERT_SIZE` parameter of [`Provider`] and [`Verifier`]: how many bytes of
/// the server's certificate message (all certificates it sends, plus 5 bytes each) the
/// verifier keeps between the Certificate and the CertificateVerify message.
///
/// 4096 bytes hold a leaf and an intermediate of usual size. A longer chain makes the
/// handshake fail with [`TlsError::BufferTooSmall`]; pick a larger `CERT_SIZE` then.
pub const DEFAULT_CERT_SIZE: usize = 4096;

/// The longest server name (DNS name or IP address text) that can be verified.
pub const MAX_SERVER_NAME_LEN: usize = 64;

/// Which servers to trust.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Trust<'a> {
    /// Trust certificate chains that lead to one of these CA certificates (each one a DER
    /// X.509 certificate, for example from [`crate::pem::certificates`]). The order does not
    /// matter for the result, but anchors are tried in this order.
    Anchors(&'a [&'a [u8]]),
    /// Do not verify the server at all: anybody on the path can read and change the
    /// connection. Only for tests and for callers who asked for it in so many words.
    Insecure,
}

/// What the verifier found during the last handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// No certificate seen yet.
    Pending,
    /// The chain and name were verified; the CertificateVerify signature is still to come.
    ChainVerified,
    /// Chain, name and CertificateVerify signature verified.
    Verified,
    /// The chain did not verify against any anchor (or the signature did not verify).
    CertificateInvalid,
    /// A chain verified, but not for the server name.
    HostnameMismatch,
}

/// A server name in a fixed buffer.
#[derive(Clone, Copy)]
struct NameBuf {
    buf: [u8; MAX_SERVER_NAME_LEN],
    len: usize,
}

impl NameBuf {
    const EMPTY: Self = Self {
        buf: [0; MAX_SERVER_NAME_LEN],
        len: 0,
    };

    fn set(&mut self, name: &str) -> Result<(), embedded_tls::TlsError> {
        let dst = self
            .buf
            .get_mut(..name.len())
            .ok_or(embedded_tls::TlsError::InsufficientSpace)?;
        dst.copy_from_slice(name.as_bytes());
        self.len = name.len();
        Ok(())
    }

    fn as_str(&self) -> Option<&str> {
        match self.buf.get(..self.len) {
            Some(bytes) if !bytes.is_empty() => core::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }
}

/// Verifies the server's certificate against one or more trust anchors.
///
/// This is an interim verifier: it delegates the actual work to embedded-tls's `rustpki`
/// `CertVerifier`, which takes exactly one anchor, and tries the anchors one after the
/// other until one verifies the server's chain; that one then checks the server's
/// CertificateVerify signature. It inherits that verifier's limits:
///
/// - Only the first **3 DNS names** in the subjectAltName are compared with the server name
///   (then the subject common name, also when there are subjectAltNames).
/// - **basicConstraints, keyUsage and extendedKeyUsage are not checked**: any certificate
///   the server sends in its chain may sign the next one, and a leaf certificate issued by
///   a trusted CA for one name can sign a certificate for another. Name constraints are
///   ignored too.
/// - Without an allocator, only **ECDSA P-256** signatures are verified (P-384 with this
///   crate's `p384` feature); RSA needs `alloc` in embedded-tls, so servers that only have
///   RSA certificates fail with [`TlsError::CertificateInvalid`].
/// - The chain must be sent in order (leaf first) and end at a certificate signed by the
///   anchor (or at the anchor itself); the anchor's own signature and validity are not
///   checked.
/// - Certificate validity periods are only checked with a clock `C` other than
///   [`NoClock`].
///
/// On top of that this verifier
///
/// - matches **IP-address server names** against the certificate's iPAddress
///   subjectAltNames (embedded-tls only knows DNS names; the chain is still verified by
///   embedded-tls),
/// - tells a certificate for another name ([`TlsError::HostnameMismatch`]) from an
///   untrusted chain ([`TlsError::CertificateInvalid`]),
/// - makes sure the server really authenticated: embedded-tls 0.19 completes a handshake in
///   which the server sends neither Certificate nor CertificateVerify, so [`crate::connect`]
///   refuses a connection unless this verifier saw both.
pub struct Verifier<'a, C: TlsClock = NoClock, const CERT_SIZE: usize = DEFAULT_CERT_SIZE> {
    trust: Trust<'a>,
    name: NameBuf,
    active: Option<CertVerifier<'a, CipherSuite, C, CERT_SIZE>>,
    anchor: Option<usize>,
    outcome: Outcome,
}

impl<'a, C: TlsClock, const CERT_SIZE: usize> Verifier<'a, C, CERT_SIZE> {
    /// A verifier for `trust`. [`Trust::Anchors`] with no anchors trusts nobody.
    pub fn new(trust: &Trust<'a>) -> Self {
        Self {
            trust: *trust,
            name: NameBuf::EMPTY,
            active: None,
            anchor: None,
            outcome: Outcome::Pending,
        }
    }

    /// Forgets the last handshake and sets the server name to verify.
    pub(crate) fn prepare(&mut self, server_name: &str) -> Result<(), TlsError> {
        self.active = None;
        self.anchor = None;
        self.outcome = Outcome::Pending;
        self.name.set(server_name).map_err(|_| TlsError::ServerName)
    }

    /// Whether the last handshake authenticated the server (always true with
    /// [`Trust::Insecure`]).
    pub(crate) fn authenticated(&self) -> bool {
        matches!(self.trust, Trust::Insecure) || self.outcome == Outcome::Verified
    }

    /// The error to report for a failed handshake that ended with `e`.
    pub(crate) fn handshake_error(&self, e: embedded_tls::TlsError) -> TlsError {
        match self.outcome {
            Outcome::HostnameMismatch => TlsError::HostnameMismatch,
            Outcome::CertificateInvalid => TlsError::CertificateInvalid,
            _ => TlsError::from_handshake(e),
        }
    }

    /// Index (into [`Trust::Anchors`]) of the anchor that verified the last handshake's
    /// server certificate.
    pub fn verified_anchor(&self) -> Option<usize> {
        self.anchor
    }

    /// Whether anchor `anchor` verifies `cert` for `name`, checked on a copy of `cert`.
    fn trial(
        anchor: &'a [u8],
        name: Option<&str>,
        transcript: &Hash,
        cert: &CertificateRef<'_>,
    ) -> bool {
        // CERT_SIZE 0: the copy has no raw certificate bytes to keep.
        let mut verifier = CertVerifier::<CipherSuite, C, 0>::new(Certificate::X509(anchor));
        if let Some(name) = name
            && verifier.set_hostname_verification(name).is_err()
        {
            return false;
        }
        match copy_certificate(cert) {
            Some(copy) => verifier.verify_certificate(transcript, copy).is_ok(),
            None => false,
        }
    }

    fn verify_anchors(
        &mut self,
        anchors: &'a [&'a [u8]],
        transcript: &Hash,
        cert: CertificateRef<'_>,
    ) -> Result<(), embedded_tls::TlsError> {
        use embedded_tls::TlsError as E;
        self.outcome = Outcome::CertificateInvalid;
        let leaf = match cert.entries.first() {
            Some(CertificateEntryRef::X509(leaf)) => *leaf,
            _ => return Err(E::InvalidCertificate),
        };
        let names = LeafNames::parse(leaf);
        let mut leaf_name_buf = [0u8; 64];
        let leaf_name = names.and_then(|n| n.dns_name(&mut leaf_name_buf));
        let server_name = self.name.as_str().ok_or(E::InvalidCertificate)?;

        // The name embedded-tls checks, and whether the name is already known to match.
        let (check_name, name_ok) = match server_name.parse::<IpAddr>() {
            Ok(ip) => (leaf_name, names.is_some_and(|n| n.has_ip(ip))),
            Err(_) => (Some(server_name), true),
        };

        let Some((&last, others)) = anchors.split_last() else {
            return Err(E::InvalidCertificate);
        };
        let found = others
            .iter()
            .position(|anchor| Self::trial(anchor, check_name, transcript, &cert));

        if !name_ok {
            // IP name not in the certificate: say whether the chain itself was fine.
            if found.is_some() || Self::trial(last, check_name, transcript, &cert) {
                self.outcome = Outcome::HostnameMismatch;
            }
            return Err(E::InvalidCertificate);
        }

        let index = found.unwrap_or(others.len());
        let anchor = anchors.get(index).copied().ok_or(E::InvalidCertificate)?;
        let spare = copy_certificate(&cert);
        let mut verifier =
            CertVerifier::<CipherSuite, C, CERT_SIZE>::new(Certificate::X509(anchor));
        if let Some(name) = check_name {
            verifier.set_hostname_verification(name)?;
        }
        match verifier.verify_certificate(transcript, cert) {
            Ok(()) => {
                self.active = Some(verifier);
                self.anchor = Some(index);
                self.outcome = Outcome::ChainVerified;
                Ok(())
            }
            Err(e @ (E::OutOfMemory | E::InsufficientSpace)) => {
                self.outcome = Outcome::Pending;
                Err(e)
            }
            Err(e) => {
                // Tell a name mismatch from an untrusted chain: does any anchor verify the
                // chain for a name the certificate does have?
                if let (Some(spare), Some(leaf_name), None) = (spare, leaf_name, found)
                    && leaf_name != server_name
                    && anchors
                        .iter()
                        .any(|anchor| Self::trial(anchor, Some(leaf_name), transcript, &spare))
                {
                    self.outcome = Outcome::HostnameMismatch;
                }
                Err(e)
            }
        }
    }
}

/// A copy of `cert` that borrows the same certificate bytes (for trial verifications; it
/// has no raw entries, so it cannot be used to verify the CertificateVerify signature).
fn copy_certificate<'c>(cert: &CertificateRef<'c>) -> Option<CertificateRef<'c>> {
    let mut copy = CertificateRef::with_context(&[]);
    for entry in &cert.entries {
        #[allow(clippy::needless_match)] // CertificateEntryRef is not Copy
        let entry = match *entry {
            CertificateEntryRef::X509(der) => CertificateEntryRef::X509(der),
            CertificateEntryRef::RawPublicKey(key) => CertificateEntryRef::RawPublicKey(key),
        };
        copy.add(entry).ok()?;
    }
    Some(copy)
}

impl<'a, C: TlsClock, const CERT_SIZE: usize> TlsVerifier<CipherSuite>
    for Verifier<'a, C, CERT_SIZE>
{
    fn set_hostname_verification(&mut self, hostname: &str) -> Result<(), embedded_tls::TlsError> {
        self.name.set(hostname)
    }

    fn verify_certificate(
        &mut self,
        transcript: &Hash,
        cert: CertificateRef,
    ) -> Result<(), embedded_tls::TlsError> {
        self.active = None;
        self.anchor = None;
        match self.trust {
            Trust::Insecure => Ok(()),
            Trust::Anchors(anchors) => self.verify_anchors(anchors, transcript, cert),
        }
    }

    fn verify_signature(
        &mut self,
        verify: CertificateVerifyRef,
    ) -> Result<(), embedded_tls::TlsError> {
        if let Trust::Insecure = self.trust {
            return Ok(());
        }
        // `take`: a second CertificateVerify (or one before any Certificate) is refused here
        // instead of reaching embedded-tls's verifier, which would panic on it.
        let Some(mut verifier) = self.active.take() else {
            self.outcome = Outcome::CertificateInvalid;
            return Err(embedded_tls::TlsError::InvalidSignature);
        };
        match verifier.verify_signature(verify) {
            Ok(()) if self.outcome == Outcome::ChainVerified => {
                self.outcome = Outcome::Verified;
                Ok(())
            }
            Ok(()) => Err(embedded_tls::TlsError::InvalidSignature),
            Err(e) => {
                self.outcome = Outcome::CertificateInvalid;
                Err(e)
            }
        }
    }
}

/// The [`CryptoProvider`] for embedded-tls: a random number generator and a [`Verifier`].
///
/// - `R`: the random number generator (a hardware TRNG on a device, `rand_core::OsRng` on a
///   host). It must be cryptographically secure: it makes the key share.
/// - `C`: the clock for certificate validity checks. [`NoClock`] (the default) skips them;
///   give a type whose [`TlsClock::now`] returns Unix time in seconds once the device knows
///   the time (from SNTP or an RTC).
/// - `CERT_SIZE`: see [`DEFAULT_CERT_SIZE`].
///
/// Use one `Provider` type (one `R`, `C` and `CERT_SIZE`) per firmware: each combination
/// compiles its own copy of the handshake.
pub struct Provider<'a, R, C: TlsClock = NoClock, const CERT_SIZE: usize = DEFAULT_CERT_SIZE> {
    rng: R,
    verifier: Verifier<'a, C, CERT_SIZE>,
}

impl<'a, R: CryptoRngCore, C: TlsClock, const CERT_SIZE: usize> Provider<'a, R, C, CERT_SIZE> {
    /// A provider that draws randomness from `rng` and verifies servers with `trust`.
    pub fn new(rng: R, trust: &Trust<'a>) -> Self {
        Self {
            rng,
            verifier: Verifier::new(trust),
        }
    }

    /// The verifier (for example for [`Verifier::verified_anchor`] after a handshake).
    pub fn verifier(&self) -> &Verifier<'a, C, CERT_SIZE> {
        &self.verifier
    }

    pub(crate) fn verifier_mut(&mut self) -> &mut Verifier<'a, C, CERT_SIZE> {
        &mut self.verifier
    }

    /// Gives the random number generator back.
    pub fn into_rng(self) -> R {
        self.rng
    }
}

impl<R: CryptoRngCore, C: TlsClock, const CERT_SIZE: usize> CryptoProvider
    for Provider<'_, R, C, CERT_SIZE>
{
    type CipherSuite = CipherSuite;
    // No client certificates: the signer is never used.
    type Signature = [u8; 0];

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut self.rng
    }

    fn verifier(
        &mut self,
    ) -> Result<&mut impl TlsVerifier<Self::CipherSuite>, embedded_tls::TlsError> {
        Ok(&mut self.verifier)
    }
}
