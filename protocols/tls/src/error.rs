//! The error type of this crate.

use embedded_tls::alert::AlertDescription;

/// Why a TLS connection could not be set up, or failed later.
///
/// Every variant is fatal for the connection: after an error, drop the [`TlsStream`] (or what
/// is left of it) and its transport, and connect again.
///
/// [`TlsStream`]: crate::TlsStream
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TlsError {
    /// The handshake failed for a reason not listed below: the server sent an alert (for
    /// example `handshake_failure` when it shares no cipher suite, key-exchange group or
    /// signature scheme with us), or it sent a message embedded-tls could not accept.
    /// The original embedded-tls error is kept.
    Handshake(embedded_tls::TlsError),
    /// The server's certificate was refused; [`CertError`] says why. A certificate that is
    /// fine except for the server name is [`TlsError::HostnameMismatch`] instead.
    CertificateInvalid(CertError),
    /// The certificate chain is valid, but the certificate is not valid for the server name
    /// that was asked for.
    HostnameMismatch,
    /// The server does not speak TLS 1.3 (it sent a `protocol_version` alert). embedded-tls
    /// only implements TLS 1.3.
    ProtocolVersion,
    /// The server name is empty, longer than [`MAX_SERVER_NAME_LEN`](crate::MAX_SERVER_NAME_LEN) bytes, or not a valid DNS name or IP address.
    ServerName,
    /// A record buffer is too small.
    BufferTooSmall,
    /// The transport reported an error.
    Io(embedded_io::ErrorKind),
    /// The peer closed the connection without a TLS close_notify (a truncation), or the
    /// connection was used after it had been closed.
    Closed,
    /// Any other error from embedded-tls (for example a record that does not decrypt).
    Other(embedded_tls::TlsError),
    /// The signature-scheme selection ([`SigAlgs`](crate::SigAlgs)) leaves nothing to offer
    /// with the algorithms of this build (for example `rsa` without the `rsa` feature).
    /// Nothing was sent.
    NoSignatureScheme,
}

impl TlsError {
    /// Maps an embedded-tls error from a read, write or flush on an open connection.
    pub(crate) fn from_stream(e: embedded_tls::TlsError) -> Self {
        use embedded_tls::TlsError as E;
        match e {
            E::Io(kind) => Self::Io(kind),
            E::IoError | E::ConnectionClosed | E::MissingHandshake => Self::Closed,
            E::InsufficientSpace | E::OutOfMemory => Self::BufferTooSmall,
            other => Self::Other(other),
        }
    }

    /// Maps an embedded-tls error from the handshake, when the verifier has nothing to add.
    pub(crate) fn from_handshake(e: embedded_tls::TlsError) -> Self {
        use embedded_tls::TlsError as E;
        match e {
            E::Io(kind) => Self::Io(kind),
            E::IoError | E::ConnectionClosed => Self::Closed,
            E::InsufficientSpace | E::OutOfMemory => Self::BufferTooSmall,
            E::HandshakeAborted(_, AlertDescription::ProtocolVersion) => Self::ProtocolVersion,
            E::InvalidCertificate | E::InvalidCertificateEntry => {
                Self::CertificateInvalid(CertError::Malformed)
            }
            E::InvalidSignatureScheme => {
                Self::CertificateInvalid(CertError::UnsupportedSignatureAlgorithm)
            }
            other => Self::Handshake(other),
        }
    }

    /// The embedded-tls error behind this one, where there is one.
    pub fn embedded_tls_error(&self) -> Option<embedded_tls::TlsError> {
        match *self {
            Self::Handshake(e) | Self::Other(e) => Some(e),
            _ => None,
        }
    }
}

impl core::fmt::Display for TlsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Handshake(e) => write!(f, "TLS handshake failed: {e:?}"),
            Self::CertificateInvalid(reason) => {
                write!(f, "server certificate not trusted: {reason}")
            }
            Self::HostnameMismatch => {
                f.write_str("server certificate is not valid for this server name")
            }
            Self::ProtocolVersion => f.write_str("server does not support TLS 1.3"),
            Self::ServerName => f.write_str("invalid server name"),
            Self::BufferTooSmall => f.write_str("TLS buffer too small"),
            Self::Io(kind) => write!(f, "transport error: {kind:?}"),
            Self::Closed => f.write_str("TLS connection closed"),
            Self::Other(e) => write!(f, "TLS error: {e:?}"),
            Self::NoSignatureScheme => f.write_str(
                "no signature scheme left to offer: the selected families (--sigalgs) are not \
                 compiled into this build",
            ),
        }
    }
}

impl core::error::Error for TlsError {}

impl embedded_io::Error for TlsError {
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind as K;
        match self {
            Self::Io(kind) => *kind,
            Self::Closed => K::ConnectionAborted,
            Self::CertificateInvalid(_) | Self::HostnameMismatch => K::PermissionDenied,
            Self::ServerName | Self::NoSignatureScheme => K::InvalidInput,
            Self::BufferTooSmall => K::OutOfMemory,
            Self::ProtocolVersion => K::Unsupported,
            Self::Handshake(_) | Self::Other(_) => K::InvalidData,
        }
    }
}

/// Why the server's certificate was refused (carried by [`TlsError::CertificateInvalid`]).
///
/// The chain checks come from rustls-webpki ([`webpki::Error`] is mapped onto these); the
/// keyUsage check, SPKI pinning and the CertificateVerify check are this crate's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CertError {
    /// No trust anchor issued the chain: an untrusted (or missing) root, a missing
    /// intermediate, or an issuer that is explicitly distrusted.
    UnknownIssuer,
    /// A certificate of the chain has expired (its notAfter is before the time used).
    Expired,
    /// A certificate of the chain is not valid yet (its notBefore is after the time used).
    NotYetValid,
    /// A certificate that is not a CA (no basicConstraints `CA:TRUE`) issued another
    /// certificate of the chain: for example a leaf signed by a leaf.
    EndEntityUsedAsCa,
    /// The server's own certificate is a CA certificate (`CA:TRUE`).
    CaUsedAsEndEntity,
    /// A CA's basicConstraints pathLenConstraint allows fewer intermediates below it than
    /// the chain has.
    PathLenConstraintViolated,
    /// A certificate has an extension marked critical that is not understood.
    UnsupportedCriticalExtension,
    /// The server's certificate has an extendedKeyUsage without `serverAuth`.
    RequiredEkuNotFound,
    /// A keyUsage extension forbids the use: the server's certificate lacks
    /// `digitalSignature` (TLS 1.3 servers sign the handshake), or an intermediate CA lacks
    /// `keyCertSign`.
    KeyUsageNotAllowed,
    /// A CA's name constraints exclude a name of a certificate below it.
    NameConstraintViolation,
    /// A signature in the chain does not verify.
    BadSignature,
    /// A signature algorithm or key type (in the chain or in the handshake) that this build
    /// cannot verify: see the crate features `p256`, `p384`, `ed25519`, `rsa`; RSA keys must
    /// have 2048 to 4096 bits; TLS 1.3 handshake signatures must not be RSA PKCS#1 v1.5.
    UnsupportedSignatureAlgorithm,
    /// The server's CertificateVerify signature (its proof of holding the certificate's
    /// private key) does not verify.
    BadHandshakeSignature,
    /// The server signed the handshake with a signature scheme the ClientHello did not offer
    /// (see [`SigAlgs`](crate::SigAlgs)).
    SchemeNotOffered,
    /// With [`Trust::Pinned`](crate::Trust::Pinned): the server's public key matches no pin.
    NotPinned,
    /// The server did not authenticate: no certificate, a raw public key, or no
    /// CertificateVerify message.
    NoCertificate,
    /// A certificate (or trust anchor) is not valid DER X.509, or the chain is longer than
    /// [`MAX_CHAIN_LEN`](crate::MAX_CHAIN_LEN).
    Malformed,
    /// Any other refusal by rustls-webpki (for example path building gave up).
    Other,
}

impl CertError {
    /// Maps a rustls-webpki error.
    pub(crate) fn from_webpki(e: &webpki::Error) -> Self {
        use webpki::Error as W;
        #[allow(deprecated)]
        match e {
            W::UnknownIssuer | W::CertDistrusted => Self::UnknownIssuer,
            W::CertExpired { .. } => Self::Expired,
            W::CertNotValidYet { .. } => Self::NotYetValid,
            W::EndEntityUsedAsCa => Self::EndEntityUsedAsCa,
            W::CaUsedAsEndEntity => Self::CaUsedAsEndEntity,
            W::PathLenConstraintViolated => Self::PathLenConstraintViolated,
            W::UnsupportedCriticalExtension => Self::UnsupportedCriticalExtension,
            W::RequiredEkuNotFound | W::RequiredEkuNotFoundContext(_) | W::EmptyEkuExtension => {
                Self::RequiredEkuNotFound
            }
            W::NameConstraintViolation => Self::NameConstraintViolation,
            W::InvalidSignatureForPublicKey => Self::BadSignature,
            W::UnsupportedSignatureAlgorithm
            | W::UnsupportedSignatureAlgorithmContext(_)
            | W::UnsupportedSignatureAlgorithmForPublicKey
            | W::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
            | W::SignatureAlgorithmMismatch => Self::UnsupportedSignatureAlgorithm,
            W::BadDer
            | W::BadDerTime
            | W::TrailingData(_)
            | W::InvalidCertValidity
            | W::ExtensionValueInvalid
            | W::MalformedExtensions
            | W::InvalidSerialNumber
            | W::UnsupportedCertVersion
            | W::MalformedDnsIdentifier
            | W::MalformedNameConstraint => Self::Malformed,
            _ => Self::Other,
        }
    }
}

impl core::fmt::Display for CertError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::UnknownIssuer => "issued by an unknown CA (no trust anchor verifies the chain)",
            Self::Expired => "certificate expired",
            Self::NotYetValid => "certificate not valid yet",
            Self::EndEntityUsedAsCa => "issued by a certificate that is not a CA",
            Self::CaUsedAsEndEntity => "server presented a CA certificate",
            Self::PathLenConstraintViolated => "CA path length constraint exceeded",
            Self::UnsupportedCriticalExtension => "unknown critical extension",
            Self::RequiredEkuNotFound => "certificate not valid for TLS servers (extendedKeyUsage)",
            Self::KeyUsageNotAllowed => "keyUsage does not allow this use",
            Self::NameConstraintViolation => "name constraints violated",
            Self::BadSignature => "bad certificate signature",
            Self::UnsupportedSignatureAlgorithm => "unsupported signature algorithm or key",
            Self::BadHandshakeSignature => "bad CertificateVerify signature",
            Self::SchemeNotOffered => "server signed with a signature scheme that was not offered",
            Self::NotPinned => "server public key matches no pin",
            Self::NoCertificate => "server did not authenticate",
            Self::Malformed => "malformed certificate",
            Self::Other => "certificate refused",
        })
    }
}

impl core::error::Error for CertError {}

impl From<CertError> for TlsError {
    fn from(e: CertError) -> Self {
        Self::CertificateInvalid(e)
    }
}
