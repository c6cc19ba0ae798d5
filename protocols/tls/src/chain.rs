//! Server-certificate verification: trust configuration, the time used for validity checks,
//! and [`verify_server_chain`], which the TLS verifier calls and which callers can use
//! directly (for example on a certificate file, without a handshake).

use pki_types::{
    CertificateDer, ServerName, SignatureVerificationAlgorithm, TrustAnchor, UnixTime,
};
use sha2::Digest;

use crate::der::{CertFields, split_spki};
use crate::{CertError, TlsError};

/// The longest chain (server certificate plus intermediates) that is verified. Longer chains
/// give [`CertError::Malformed`]. embedded-tls itself keeps at most 16 entries.
pub const MAX_CHAIN_LEN: usize = 16;

/// Which servers to trust.
///
/// A firmware bakes its anchors in as DER (the bytes of the CA certificate files), for example
/// `static CA: &[u8] = include_bytes!("isrg-root-x1.der");` then
/// `Trust::Anchors(&[CA])`. PEM bundles can be decoded once at start-up with
/// [`crate::pem::decode_certificates`].
#[derive(Debug, Clone, Copy)]
pub enum Trust<'a> {
    /// Trust certificate chains that lead to one of these CA certificates (each one a DER
    /// X.509 certificate, for example from [`crate::pem::certificates`]). Anchors that do not
    /// parse are skipped. The anchor's own validity period and signature are not checked (it
    /// is trusted as given).
    Anchors(&'a [&'a [u8]]),
    /// Trust chains that lead to one of these pre-parsed trust anchors: the form the
    /// `webpki-roots` crate (Mozilla's root store) ships, also usable for anchors written as
    /// constants.
    Roots(&'a [TrustAnchor<'a>]),
    /// SPKI pinning: trust exactly the servers whose own certificate's SubjectPublicKeyInfo
    /// has one of these SHA-256 digests (as `openssl x509 -pubkey -noout | openssl pkey
    /// -pubin -outform der | sha256sum` prints). Nothing else about the certificate is
    /// checked (no chain, name or validity period); the server must still prove with its
    /// CertificateVerify signature that it holds the pinned key.
    Pinned(&'a [[u8; 32]]),
    /// Do not verify the server at all: anybody on the path can read and change the
    /// connection. Only for tests and for callers who asked for it in so many words.
    Insecure,
}

#[cfg(feature = "defmt")]
impl defmt::Format for Trust<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            Self::Anchors(a) => defmt::write!(f, "Anchors({=usize})", a.len()),
            Self::Roots(r) => defmt::write!(f, "Roots({=usize})", r.len()),
            Self::Pinned(p) => defmt::write!(f, "Pinned({=usize})", p.len()),
            Self::Insecure => defmt::write!(f, "Insecure"),
        }
    }
}

/// The time at which certificate validity periods are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Time {
    /// The current time, Unix seconds (from SNTP, an RTC or the host clock).
    Now(u64),
    /// The caller has no clock (a device before SNTP answered, or without an RTC).
    ///
    /// Validity periods cannot be checked against the present then. The chain is checked at
    /// the latest notBefore of the certificates the server sent (the first moment at which
    /// all of them are valid): a chain in which one certificate expired before another became
    /// valid is still refused, but an expired chain is accepted. Everything else (signatures,
    /// CA flags, path lengths, key usages, names) is checked as usual.
    NoClock,
}

/// What made the server trusted (returned by [`verify_server_chain`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TrustedBy {
    /// The anchor at this index of [`Trust::Anchors`] or [`Trust::Roots`].
    Anchor(usize),
    /// The pin at this index of [`Trust::Pinned`].
    Pin(usize),
    /// Nothing: [`Trust::Insecure`].
    Insecure,
}

/// The certificate signature algorithms of this build (see the crate features), for
/// rustls-webpki.
pub fn signature_algorithms() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
    crate::algs::ALL
}

/// Verifies a server's certificate chain for `server_name` against `trust`, at `time`:
/// what a TLS handshake does with the server's Certificate message, without the handshake.
///
/// - `chain`: DER certificates, the server's own first, then the intermediates it sends (in
///   any order; the path is built by rustls-webpki). At most [`MAX_CHAIN_LEN`].
/// - `server_name`: a DNS name or an IP address (`192.0.2.1`, `::1`). DNS names are matched
///   against every dNSName in the subjectAltName, wildcards only as the whole left-most label
///   (`*.example.com` matches `mail.example.com`, not `example.com` or `a.b.example.com`;
///   `f*.example.com` matches nothing); the subject common name is not used (RFC 6125
///   §6.4.4). IP addresses are matched against iPAddress entries only.
///
/// Checked: the signatures up to an anchor, basicConstraints (CA flag, path length),
/// extendedKeyUsage (`serverAuth` when present), keyUsage (when present: the server's
/// certificate needs `digitalSignature`, intermediates `keyCertSign`), name constraints,
/// critical extensions, validity periods (see [`Time`]) and the name.
///
/// Errors: [`TlsError::CertificateInvalid`] with the reason, [`TlsError::HostnameMismatch`]
/// when only the name is wrong, [`TlsError::ServerName`] for an invalid `server_name`.
///
/// With [`Trust::Pinned`] only the pin is checked; the caller must still check that the server
/// holds the key (the TLS verifier does, with the CertificateVerify signature).
pub fn verify_server_chain(
    chain: &[&[u8]],
    server_name: &str,
    trust: &Trust<'_>,
    time: Time,
) -> Result<TrustedBy, TlsError> {
    let (&leaf_der, intermediates_der) = chain.split_first().ok_or(CertError::NoCertificate)?;
    if chain.len() > MAX_CHAIN_LEN {
        return Err(CertError::Malformed.into());
    }
    let anchors_der = match trust {
        Trust::Insecure => return Ok(TrustedBy::Insecure),
        Trust::Pinned(pins) => return verify_pin(leaf_der, pins),
        Trust::Anchors(anchors) => Some(*anchors),
        Trust::Roots(_) => None,
    };
    let name = ServerName::try_from(server_name).map_err(|_| TlsError::ServerName)?;
    let time = match time {
        Time::Now(now) => now,
        Time::NoClock => latest_not_before(chain)?,
    };
    let time = UnixTime::since_unix_epoch(core::time::Duration::from_secs(time));

    let leaf_cert = CertificateDer::from(leaf_der);
    let leaf =
        webpki::EndEntityCert::try_from(&leaf_cert).map_err(|e| CertError::from_webpki(&e))?;
    let intermediates: [CertificateDer<'_>; MAX_CHAIN_LEN - 1] = core::array::from_fn(|i| {
        CertificateDer::from(intermediates_der.get(i).copied().unwrap_or(&[]))
    });
    let intermediates = intermediates
        .get(..intermediates_der.len())
        .ok_or(CertError::Malformed)?;

    // Builds and checks a path to one of `anchors`; returns the index of the anchor used.
    let verify = |anchors: &[TrustAnchor<'_>]| -> Result<usize, CertError> {
        let path = leaf
            .verify_for_usage(
                signature_algorithms(),
                anchors,
                intermediates,
                time,
                webpki::KeyUsage::server_auth(),
                None,
                None,
            )
            .map_err(|e| CertError::from_webpki(&e))?;
        // rustls-webpki ignores keyUsage; check it on the path it built (the anchor is
        // trusted as given).
        let leaf_ok = key_usage(leaf_der).is_none_or(|ku| ku.digital_signature());
        let cas_ok = path
            .intermediate_certificates()
            .all(|ca| key_usage(ca.der().as_ref()).is_none_or(|ku| ku.key_cert_sign()));
        if !(leaf_ok && cas_ok) {
            return Err(CertError::KeyUsageNotAllowed);
        }
        let used = path.anchor();
        Ok(anchors
            .iter()
            .position(|a| core::ptr::eq(a, used))
            .unwrap_or(0))
    };

    let trusted_by = match trust {
        Trust::Roots(roots) => TrustedBy::Anchor(verify(roots)?),
        _ => {
            // One anchor at a time: without an allocator there is no slice of parsed anchors.
            // The most specific error wins over "unknown issuer".
            let mut error = CertError::UnknownIssuer;
            let mut found = None;
            for (index, der) in anchors_der.unwrap_or(&[]).iter().enumerate() {
                let cert = CertificateDer::from(*der);
                let Ok(anchor) = webpki::anchor_from_trusted_cert(&cert) else {
                    continue;
                };
                match verify(core::slice::from_ref(&anchor)) {
                    Ok(_) => {
                        found = Some(index);
                        break;
                    }
                    Err(e) => {
                        if error == CertError::UnknownIssuer {
                            error = e;
                        }
                    }
                }
            }
            TrustedBy::Anchor(found.ok_or(error)?)
        }
    };

    leaf.verify_is_valid_for_subject_name(&name)
        .map_err(|e| match e {
            webpki::Error::CertNotValidForName(_) => TlsError::HostnameMismatch,
            other => CertError::from_webpki(&other).into(),
        })?;
    Ok(trusted_by)
}

/// The keyUsage bits of `cert`, if it has the extension.
fn key_usage(cert: &[u8]) -> Option<crate::der::KeyUsageBits> {
    CertFields::parse(cert).and_then(|f| f.key_usage)
}

/// The time for [`Time::NoClock`]: the latest notBefore in `chain`.
fn latest_not_before(chain: &[&[u8]]) -> Result<u64, CertError> {
    let mut latest = 0i64;
    for der in chain {
        let fields = CertFields::parse(der).ok_or(CertError::Malformed)?;
        latest = latest.max(fields.not_before);
    }
    u64::try_from(latest).map_err(|_| CertError::Malformed)
}

/// SHA-256 of the SubjectPublicKeyInfo of `cert` (a DER certificate): the value
/// [`Trust::Pinned`] compares. `None` if the certificate does not parse.
pub fn spki_sha256(cert: &[u8]) -> Option<[u8; 32]> {
    let fields = CertFields::parse(cert)?;
    Some(sha2::Sha256::digest(fields.spki).into())
}

fn verify_pin(leaf: &[u8], pins: &[[u8; 32]]) -> Result<TrustedBy, TlsError> {
    let digest = spki_sha256(leaf).ok_or(CertError::Malformed)?;
    pins.iter()
        .position(|pin| *pin == digest)
        .map(TrustedBy::Pin)
        .ok_or(CertError::NotPinned.into())
}

/// The SubjectPublicKeyInfo (whole TLV) of `cert`.
pub(crate) fn leaf_spki(cert: &[u8]) -> Option<&[u8]> {
    CertFields::parse(cert).map(|f| f.spki)
}

/// Verifies a TLS 1.3 CertificateVerify signature `signature` over `message` (already built:
/// 64 spaces, the context string, the transcript hash) with the key in `spki`.
pub(crate) fn verify_handshake_signature(
    spki: &[u8],
    scheme: embedded_tls::SignatureScheme,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CertError> {
    let alg =
        crate::algs::for_tls13_scheme(scheme).ok_or(CertError::UnsupportedSignatureAlgorithm)?;
    let (alg_id, key) = split_spki(spki).ok_or(CertError::Malformed)?;
    if alg.public_key_alg_id().as_ref() != alg_id {
        return Err(CertError::UnsupportedSignatureAlgorithm);
    }
    alg.verify_signature(key, message, signature)
        .map_err(|_| CertError::BadHandshakeSignature)
}
