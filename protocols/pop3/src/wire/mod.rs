//! Pure POP3 parsing and encoding: no I/O, no state, no allocation.
//!
//! * Status lines (RFC 1939 §3, RFC 5034): [`parse_status_line`] accepts `+OK`, `-ERR` and
//!   the SASL continuation `+ `; [`StatusLine::code`] gives the RFC 2449 extended response
//!   code (`[IN-USE]`, `[LOGIN-DELAY]`, `[SYS/TEMP]`, `[SYS/PERM]`, `[AUTH]`, ...).
//! * Framing: [`framing_for`] tells whether a command's `+OK` starts a multi-line response;
//!   [`parse_response`] frames one whole response from a byte slice (for decoders and tests;
//!   the [`client`](crate::client) streams multi-line bodies instead of buffering them).
//! * Listings: [`parse_stat`], [`parse_scan_listing`], [`parse_uid_listing`] (numbers are
//!   `u64`, overflow is an error), [`apop_timestamp`], and [`Capabilities`] for CAPA.
//! * Commands: [`Command::encode`] writes one command line and refuses CR, LF and NUL in
//!   every argument (and spaces in names), so no argument can smuggle a second command.
//!
//! ```
//! use postwire_pop3::wire::{parse_status_line, parse_stat, Command, Indicator};
//!
//! let line = parse_status_line(b"+OK 3 4294967800").unwrap();
//! assert_eq!(line.indicator, Indicator::Ok);
//! assert_eq!(parse_stat(line.text_or_empty()), Ok((3, 4_294_967_800)));
//!
//! let mut buf = [0u8; 32];
//! let n = Command::Retr(1).encode(&mut buf).unwrap();
//! assert_eq!(&buf[..n], b"RETR 1\r\n");
//! ```

mod capa;
mod command;
mod response;

pub use capa::{CapaLine, Capabilities, Mechanisms};
pub use command::{Command, EncodeError};
pub use postwire_core::Status;
pub use response::{
    BodyLines, CodeKind, Framing, Indicator, MAX_STATUS_LINE, MAX_UID_LEN, Response, ResponseCode,
    ResponseError, StatusLine, apop_timestamp, framing_for, is_terminator, parse_response,
    parse_scan_listing, parse_stat, parse_status_line, parse_u64, parse_uid_listing, unstuff_line,
};
