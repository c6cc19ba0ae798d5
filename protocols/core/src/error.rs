//! Shared wire-level error kinds.

use core::fmt;

/// An error found while parsing or encoding protocol bytes.
///
/// ```
/// use postwire_core::WireError;
/// let e = WireError::Malformed { offset: 3 };
/// assert_eq!(format!("{e}"), "malformed input at byte 3");
/// assert!(!WireError::BufferTooSmall.is_fatal());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WireError {
    /// The input violates the grammar; `offset` is the byte position (relative to the input
    /// given to the failing call, or to the start of the stream for streaming decoders) where
    /// the problem was detected.
    Malformed {
        /// Byte offset of the offending input.
        offset: usize,
    },
    /// A line did not fit into the line buffer. The reader resynchronises at the next line
    /// end.
    LineTooLong,
    /// The output buffer is too small; retry with a larger one (nothing or only complete
    /// units were written).
    BufferTooSmall,
    /// An argument cannot be encoded (for example it contains CR, LF or NUL).
    InvalidArgument,
    /// The input uses a feature this implementation does not support.
    Unsupported,
}

impl WireError {
    /// Whether the error leaves a byte stream in an unknown state, so that the connection
    /// should be dropped. `LineTooLong` is recoverable (the line reader resynchronises),
    /// `BufferTooSmall` and `InvalidArgument` are caller-side problems.
    pub const fn is_fatal(&self) -> bool {
        matches!(self, WireError::Malformed { .. } | WireError::Unsupported)
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Malformed { offset } => write!(f, "malformed input at byte {offset}"),
            WireError::LineTooLong => f.write_str("line too long for the buffer"),
            WireError::BufferTooSmall => f.write_str("output buffer too small"),
            WireError::InvalidArgument => f.write_str("invalid argument"),
            WireError::Unsupported => f.write_str("unsupported"),
        }
    }
}

impl core::error::Error for WireError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn display() {
        assert_eq!(
            WireError::LineTooLong.to_string(),
            "line too long for the buffer"
        );
        assert_eq!(
            WireError::Malformed { offset: 7 }.to_string(),
            "malformed input at byte 7"
        );
        assert!(WireError::Malformed { offset: 0 }.is_fatal());
    }
}
