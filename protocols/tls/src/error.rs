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
    /// The server's certificate chain was not verified: no trust anchor verified it, a
    /// certificate is outside its validity period (only checked with a clock), it uses an
    /// algorithm this build cannot verify (RSA, and P-384 without the `p384` feature), the
    /// server's CertificateVerify signature was wrong, or the server skipped authentication.
    CertificateInvalid,
    /// The certificate chain is valid, but the certificate is not valid for the server name
    /// that was asked for.
    HostnameMismatch,
    /// The server does not speak TLS 1.3 (it sent a `protocol_version` alert). embedded-tls
    /// only implements TLS 1.3.
    ProtocolVersion,
    /// The server name is empty, longer than 64 bytes, or contains bytes that cannot be part
    /// of a DNS name or IP address.
    ServerName,
    /// A buffer is too small: a record buffer, or the certificate-chain storage of the
    /// verifier (its `CERT_SIZE` parameter, see [`Provider`](crate::Provider)).
    BufferTooSmall,
    /// The transport reported an error.
    Io(embedded_io::ErrorKind),
    /// The peer closed the connection without a TLS close_notify (a truncation), or the
    /// connection was used after it had been closed.
    Closed,
    /// Any other error from embedded-tls (for example a record that does not decrypt).
    Other(embedded_tls::TlsError),
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
            E::InvalidCertificate | E::InvalidCertificateEntry | E::InvalidSignatureScheme => {
                Self::CertificateInvalid
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
            Self::CertificateInvalid => f.write_str("server certificate not trusted"),
            Self::HostnameMismatch => {
                f.write_str("server certificate is not valid for this server name")
            }
            Self::ProtocolVersion => f.write_str("server does not support TLS 1.3"),
            Self::ServerName => f.write_str("invalid server name"),
            Self::BufferTooSmall => f.write_str("TLS buffer too small"),
            Self::Io(kind) => write!(f, "transport error: {kind:?}"),
            Self::Closed => f.write_str("TLS connection closed"),
            Self::Other(e) => write!(f, "TLS error: {e:?}"),
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
            Self::CertificateInvalid | Self::HostnameMismatch => K::PermissionDenied,
            Self::ServerName => K::InvalidInput,
            Self::BufferTooSmall => K::OutOfMemory,
            Self::ProtocolVersion => K::Unsupported,
            Self::Handshake(_) | Self::Other(_) => K::InvalidData,
        }
    }
}
