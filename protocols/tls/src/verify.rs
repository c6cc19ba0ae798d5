//! The embedded-tls verifier and crypto provider.

use core::marker::PhantomData;

use embedded_tls::{
    CertificateEntryRef, CertificateRef, CertificateVerifyRef, CryptoProvider, NoClock,
    TlsCipherSuite, TlsClock, TlsVerifier,
};
use rand_core::CryptoRngCore;
use sha2::Digest;

use crate::chain::{
    MAX_CHAIN_LEN, Time, Trust, TrustedBy, leaf_spki, verify_handshake_signature,
    verify_server_chain,
};
use crate::offer::{SigAlgs, Suite};
use crate::{CertError, TlsError};

/// The cipher suite every connection of this crate uses: TLS_AES_128_GCM_SHA256 with the
/// signature-scheme selection `S` (see [`Suite`]; the default offers every scheme).
///
/// One suite for all connections keeps a single copy of the handshake code in flash. Every
/// TLS 1.3 server must support it (RFC 8446 §9.1).
pub type CipherSuite<const S: u8 = { SigAlgs::ALL_BITS }> = Suite<S>;

/// The longest server name (DNS name or IP address text) that can be verified: the longest
/// DNS name (RFC 1035: 253 characters in text form).
pub const MAX_SERVER_NAME_LEN: usize = 253;

/// The largest SubjectPublicKeyInfo of a server certificate the verifier keeps between the
/// Certificate and the CertificateVerify message (an RSA-4096 key takes about 550 bytes).
pub const MAX_SPKI_LEN: usize = 600;

/// The largest transcript hash (SHA-512).
const MAX_HASH_LEN: usize = 64;

/// TLS 1.3 CertificateVerify context string, with its terminating zero byte.
const CONTEXT: &[u8] = b"TLS 1.3, server CertificateVerify\x00";

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

/// Where the verifier is in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No certificate seen yet.
    Pending,
    /// The chain and name were verified; the CertificateVerify signature is still to come.
    ChainVerified,
    /// Chain, name and CertificateVerify signature verified.
    Verified,
    /// Refused (the reason is in `error`).
    Failed,
}

/// Verifies the server during an embedded-tls handshake: its certificate chain and name
/// (with [`verify_server_chain`], that is rustls-webpki and this crate's signature
/// algorithms) and its CertificateVerify signature.
///
/// - `C`: the clock. [`TlsClock::now`] returning `Some(unix_seconds)` checks validity periods
///   at that time ([`Time::Now`]); `None` (as [`NoClock`] does) means [`Time::NoClock`].
///
/// Between the Certificate and the CertificateVerify message it keeps only the server's public
/// key ([`MAX_SPKI_LEN`] bytes) and the transcript hash, not the certificates.
///
/// It also makes sure the server really authenticated: embedded-tls 0.19 completes a
/// handshake in which the server sends neither Certificate nor CertificateVerify, so
/// [`crate::connect`] refuses a connection unless this verifier saw both.
pub struct Verifier<'a, C: TlsClock = NoClock> {
    trust: Trust<'a>,
    name: NameBuf,
    spki: [u8; MAX_SPKI_LEN],
    spki_len: usize,
    transcript: [u8; MAX_HASH_LEN],
    transcript_len: usize,
    state: State,
    trusted_by: Option<TrustedBy>,
    error: Option<TlsError>,
    offered: SigAlgs,
    _clock: PhantomData<fn() -> C>,
}

impl<'a, C: TlsClock> Verifier<'a, C> {
    /// A verifier for `trust`. [`Trust::Anchors`] with no anchors trusts nobody.
    pub fn new(trust: &Trust<'a>) -> Self {
        Self {
            trust: *trust,
            name: NameBuf::EMPTY,
            spki: [0; MAX_SPKI_LEN],
            spki_len: 0,
            transcript: [0; MAX_HASH_LEN],
            transcript_len: 0,
            state: State::Pending,
            trusted_by: None,
            error: None,
            offered: SigAlgs::ALL,
            _clock: PhantomData,
        }
    }

    /// Forgets the last handshake and sets the server name to verify.
    pub(crate) fn prepare(&mut self, server_name: &str) -> Result<(), TlsError> {
        self.reset();
        self.name.set(server_name).map_err(|_| TlsError::ServerName)
    }

    fn reset(&mut self) {
        self.state = State::Pending;
        self.trusted_by = None;
        self.error = None;
        self.spki_len = 0;
        self.transcript_len = 0;
    }

    /// Whether the last handshake authenticated the server (always true with
    /// [`Trust::Insecure`]).
    pub(crate) fn authenticated(&self) -> bool {
        matches!(self.trust, Trust::Insecure) || self.state == State::Verified
    }

    /// The error to report for a failed handshake that ended with `e`.
    pub(crate) fn handshake_error(&self, e: embedded_tls::TlsError) -> TlsError {
        self.error.unwrap_or_else(|| TlsError::from_handshake(e))
    }

    /// The error to report for a handshake that completed without authenticating the server.
    pub(crate) fn unauthenticated_error(&self) -> TlsError {
        self.error
            .unwrap_or(TlsError::CertificateInvalid(CertError::NoCertificate))
    }

    /// Why the last handshake's server was refused, if it was (the error
    /// [`crate::connect`] returns).
    pub fn last_error(&self) -> Option<TlsError> {
        self.error
    }

    /// What made the server of the last handshake trusted (`None` before a successful
    /// verification).
    pub fn trusted_by(&self) -> Option<TrustedBy> {
        match self.state {
            State::Verified => self.trusted_by,
            _ => None,
        }
    }

    /// Index (into [`Trust::Anchors`] or [`Trust::Roots`]) of the anchor that verified the
    /// last handshake's server certificate.
    pub fn verified_anchor(&self) -> Option<usize> {
        match self.trusted_by() {
            Some(TrustedBy::Anchor(i)) => Some(i),
            _ => None,
        }
    }

    fn fail(&mut self, e: TlsError) -> embedded_tls::TlsError {
        self.state = State::Failed;
        self.error = Some(e);
        match e {
            TlsError::CertificateInvalid(CertError::BadHandshakeSignature) => {
                embedded_tls::TlsError::InvalidSignature
            }
            _ => embedded_tls::TlsError::InvalidCertificate,
        }
    }

    fn check_certificate<H: Digest + Clone>(
        &mut self,
        transcript: &H,
        cert: &CertificateRef<'_>,
    ) -> Result<(), TlsError> {
        let mut chain: [&[u8]; MAX_CHAIN_LEN] = [&[]; MAX_CHAIN_LEN];
        let mut len = 0;
        for entry in &cert.entries {
            let CertificateEntryRef::X509(der) = entry else {
                // A raw public key (RFC 7250): never asked for, not verifiable against anchors.
                return Err(CertError::NoCertificate.into());
            };
            let slot = chain.get_mut(len).ok_or(CertError::Malformed)?;
            *slot = der;
            len += 1;
        }
        let chain = chain.get(..len).unwrap_or(&[]);
        let name = self.name.as_str().ok_or(TlsError::ServerName)?;
        let time = C::now().map_or(Time::NoClock, Time::Now);
        let trusted_by = verify_server_chain(chain, name, &self.trust, time)?;

        // Keep what the CertificateVerify check needs: the server's key and the transcript.
        let leaf = chain.first().copied().unwrap_or(&[]);
        let spki = leaf_spki(leaf).ok_or(CertError::Malformed)?;
        self.spki
            .get_mut(..spki.len())
            .ok_or(CertError::UnsupportedSignatureAlgorithm)?
            .copy_from_slice(spki);
        self.spki_len = spki.len();
        let hash = transcript.clone().finalize();
        self.transcript
            .get_mut(..hash.len())
            .ok_or(TlsError::BufferTooSmall)?
            .copy_from_slice(&hash);
        self.transcript_len = hash.len();
        self.trusted_by = Some(trusted_by);
        Ok(())
    }

    /// Sets the signature schemes the ClientHello offered: a CertificateVerify with any other
    /// scheme is refused (RFC 8446 §4.4.3).
    pub(crate) fn set_offered(&mut self, offered: SigAlgs) {
        self.offered = offered;
    }

    fn check_signature(&self, verify: &CertificateVerifyRef<'_>) -> Result<(), TlsError> {
        if !self.offered.allows_scheme(verify.signature_scheme.as_u16()) {
            return Err(CertError::SchemeNotOffered.into());
        }
        // 64 spaces, the context string, the transcript hash (RFC 8446 §4.4.3).
        let mut message = [0x20u8; 64 + CONTEXT.len() + MAX_HASH_LEN];
        let hash = self
            .transcript
            .get(..self.transcript_len)
            .ok_or(CertError::NoCertificate)?;
        let len = 64 + CONTEXT.len() + hash.len();
        let (context, rest) = message
            .get_mut(64..len)
            .ok_or(CertError::NoCertificate)?
            .split_at_mut(CONTEXT.len());
        context.copy_from_slice(CONTEXT);
        rest.copy_from_slice(hash);
        let spki = self
            .spki
            .get(..self.spki_len)
            .ok_or(CertError::NoCertificate)?;
        verify_handshake_signature(
            spki,
            verify.signature_scheme,
            message.get(..len).unwrap_or(&[]),
            verify.signature,
        )?;
        Ok(())
    }
}

impl<'a, C: TlsClock, S: TlsCipherSuite> TlsVerifier<S> for Verifier<'a, C> {
    fn set_hostname_verification(&mut self, hostname: &str) -> Result<(), embedded_tls::TlsError> {
        self.name.set(hostname)
    }

    fn verify_certificate(
        &mut self,
        transcript: &S::Hash,
        cert: CertificateRef<'_>,
    ) -> Result<(), embedded_tls::TlsError> {
        if self.state != State::Pending {
            // A second Certificate message.
            return Err(self.fail(CertError::Malformed.into()));
        }
        if let Trust::Insecure = self.trust {
            self.state = State::ChainVerified;
            return Ok(());
        }
        match self.check_certificate(transcript, &cert) {
            Ok(()) => {
                self.state = State::ChainVerified;
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    fn verify_signature(
        &mut self,
        verify: CertificateVerifyRef<'_>,
    ) -> Result<(), embedded_tls::TlsError> {
        if self.state != State::ChainVerified {
            // A CertificateVerify without (or after a refused) Certificate, or a second one.
            let e = self
                .error
                .unwrap_or(TlsError::CertificateInvalid(CertError::NoCertificate));
            return Err(self.fail(e));
        }
        if let Trust::Insecure = self.trust {
            self.state = State::Verified;
            return Ok(());
        }
        match self.check_signature(&verify) {
            Ok(()) => {
                self.state = State::Verified;
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }
}

/// The [`CryptoProvider`] for embedded-tls: a random number generator and a [`Verifier`].
///
/// - `R`: the random number generator (a hardware TRNG on a device, `rand_core::OsRng` on a
///   host). It must be cryptographically secure: it makes the key share.
/// - `C`: the clock for certificate validity checks, see [`Verifier`]. [`NoClock`] (the
///   default) gives [`Time::NoClock`]; give a type whose [`TlsClock::now`] returns Unix time
///   in seconds once the device knows the time (from SNTP or an RTC).
///
/// Use one `Provider` type (one `R` and `C`) per firmware: each combination compiles its own
/// copy of the handshake.
///
/// `S` is the signature-scheme selection ([`SigAlgs::bits`]) the ClientHello offers; the
/// default offers every scheme this build can verify. See [`crate::offer`].
pub struct Provider<'a, R, C: TlsClock = NoClock, const S: u8 = { SigAlgs::ALL_BITS }> {
    rng: R,
    verifier: Verifier<'a, C>,
}

impl<'a, R: CryptoRngCore, C: TlsClock, const S: u8> Provider<'a, R, C, S> {
    /// A provider that draws randomness from `rng` and verifies servers with `trust`.
    pub fn new(rng: R, trust: &Trust<'a>) -> Self {
        Self {
            rng,
            verifier: Verifier::new(trust),
        }
    }

    /// The verifier (for example for [`Verifier::trusted_by`] after a handshake).
    pub fn verifier(&self) -> &Verifier<'a, C> {
        &self.verifier
    }

    pub(crate) fn verifier_mut(&mut self) -> &mut Verifier<'a, C> {
        &mut self.verifier
    }

    /// Gives the random number generator back.
    pub fn into_rng(self) -> R {
        self.rng
    }
}

impl<R: CryptoRngCore, C: TlsClock, const S: u8> CryptoProvider for Provider<'_, R, C, S> {
    type CipherSuite = Suite<S>;
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
