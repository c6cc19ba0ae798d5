//! The errors of the composer and the reader.

use core::fmt;

/// Why a message cannot be composed or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum MimeError {
    /// A header name is not printable ASCII without `:`, or a value contains CR, LF or NUL
    /// (header injection), or a single word is too long to fold.
    InvalidHeader,
    /// An address is not an RFC 5322 addr-spec.
    InvalidAddress,
    /// An address has a non-ASCII local part or domain, but SMTPUTF8 was not allowed.
    NeedsSmtpUtf8,
    /// The unique token (boundaries, Message-ID) is empty, longer than 40 bytes or holds
    /// characters other than `A-Z a-z 0-9 . - _`.
    InvalidToken,
    /// A media type is not `type/subtype` made of RFC 2045 token characters, or a charset
    /// name is not a token.
    InvalidMediaType,
    /// A Content-ID, Message-ID, In-Reply-To or References value is not a valid msg-id.
    InvalidMessageId,
    /// More parts than the message has room for.
    TooManyParts,
    /// Content declared `7bit` or `8bit` holds a line that starts like this message's
    /// boundaries; use quoted-printable or base64.
    BoundaryInContent,
    /// Content declared `7bit` has a byte above 0x7F, or `7bit`/`8bit` content has a NUL.
    Not7Bit,
    /// Content declared `7bit` or `8bit` has a line longer than 998 bytes.
    LineTooLong,
    /// Text given as bytes is not UTF-8 (declare its charset instead).
    NotUtf8,
    /// A source returned `Pending` in a synchronous drive ([`crate::compose::Composer::write_sync`]).
    WouldBlock,
    /// A caller buffer is too small.
    BufferTooSmall,
    /// The reader found malformed input it cannot skip.
    Malformed,
}

impl fmt::Display for MimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MimeError::InvalidHeader => "invalid header name or value (CR, LF or NUL?)",
            MimeError::InvalidAddress => "invalid address",
            MimeError::NeedsSmtpUtf8 => "non-ASCII address needs SMTPUTF8",
            MimeError::InvalidToken => "invalid unique token",
            MimeError::InvalidMediaType => "invalid media type or charset",
            MimeError::InvalidMessageId => "invalid message id or content id",
            MimeError::TooManyParts => "too many parts",
            MimeError::BoundaryInContent => "content contains a boundary-like line",
            MimeError::Not7Bit => "content is not 7-bit (or contains NUL)",
            MimeError::LineTooLong => "line longer than 998 octets",
            MimeError::NotUtf8 => "text is not UTF-8",
            MimeError::WouldBlock => "a source would block",
            MimeError::BufferTooSmall => "buffer too small",
            MimeError::Malformed => "malformed message",
        })
    }
}

impl core::error::Error for MimeError {}

/// The error of the composer as an `embedded_io_async::Read`: a source's I/O error or a
/// composition error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ComposeError<E> {
    /// Reading a part's source failed.
    Io(E),
    /// The message cannot be composed.
    Mime(MimeError),
}

impl<E> From<MimeError> for ComposeError<E> {
    fn from(e: MimeError) -> Self {
        ComposeError::Mime(e)
    }
}

impl<E: fmt::Debug> fmt::Display for ComposeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComposeError::Io(e) => write!(f, "reading a part failed: {e:?}"),
            ComposeError::Mime(e) => write!(f, "{e}"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for ComposeError<E> {}

impl<E: embedded_io_async::Error> embedded_io_async::Error for ComposeError<E> {
    fn kind(&self) -> embedded_io_async::ErrorKind {
        match self {
            ComposeError::Io(e) => e.kind(),
            ComposeError::Mime(_) => embedded_io_async::ErrorKind::InvalidData,
        }
    }
}

impl From<postwire_core::WireError> for MimeError {
    fn from(e: postwire_core::WireError) -> Self {
        match e {
            postwire_core::WireError::BufferTooSmall => MimeError::BufferTooSmall,
            _ => MimeError::Malformed,
        }
    }
}
