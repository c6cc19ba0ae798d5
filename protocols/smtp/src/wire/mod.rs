//! Pure SMTP parsing and encoding: no I/O, no state, no allocation.
//!
//! * Replies (RFC 5321 §4.2): [`parse_reply`] frames and parses one complete, possibly
//!   multi-line reply from the front of a byte slice and returns
//!   [`Status::Partial`] when more bytes are needed. Lines end in CRLF or, leniently, a bare LF.
//!   Lines and line counts are bounded ([`MAX_REPLY_LINE`], [`MAX_REPLY_LINES`]).
//!   [`next_reply_line`] does the same one line at a time.
//! * Enhanced status codes (RFC 3463 / RFC 2034): [`EnhancedCode`], [`Reply::enhanced`].
//! * EHLO (RFC 5321 §4.1.1.1): [`Capabilities::apply_ehlo_line`] records one keyword line at a
//!   time; [`Capabilities::from_ehlo`] handles a whole reply.
//! * Commands: [`Command::encode`] writes one command line into a caller buffer after checking
//!   that no argument can smuggle CR, LF, NUL or other bytes that would change the command.
//!
//! ```
//! use postwire_smtp::wire::{parse_reply, Command, Status};
//!
//! let input = b"250-mx.example.org\r\n250 SIZE 1000\r\n";
//! let Ok(Status::Complete((used, reply))) = parse_reply(input) else { unreachable!() };
//! assert_eq!(used, input.len());
//! assert_eq!(reply.code().value(), 250);
//!
//! let mut buf = [0u8; 64];
//! let n = Command::Ehlo("client.example").encode(&mut buf).unwrap();
//! assert_eq!(&buf[..n], b"EHLO client.example\r\n");
//! ```

mod command;
mod ehlo;
mod reply;

pub use command::{Command, EncodeError};
pub use ehlo::{AuthMechanisms, Capabilities, EhloLine, Words};
pub use postwire_core::Status;
pub use reply::{
    EnhancedCode, MAX_REPLY_LINE, MAX_REPLY_LINES, Reply, ReplyCode, ReplyError, ReplyLimits,
    ReplyLine, ReplyLines, frame_line, next_reply_line, parse_reply, parse_reply_line,
    parse_reply_with,
};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod proptests;
