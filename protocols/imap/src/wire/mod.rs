//! Pure IMAP parsing and encoding: no I/O, no allocation.
//!
//! # Responses
//!
//! Two entry points share one grammar:
//!
//! * [`ResponseReader`]: the streaming reader over a caller buffer (a "fragmentizer" that
//!   splits the byte stream into responses and literal chunks, feeding the parser). Use it
//!   on a connection: literals of any size pass through a small buffer, over-long lines are
//!   typed errors followed by resynchronisation. See its documentation for the events.
//! * [`parse_response`] / [`parse_greeting`] / [`parse_response_with`]: parse the first
//!   response of a slice that holds it completely (literals included), returning
//!   `Status::Complete((consumed, response))` or `Status::Partial`. [`frame_response`]
//!   only finds the response's end.
//!
//! Responses borrow from the input. Lists and nested structures (ENVELOPE, BODYSTRUCTURE,
//! FETCH items, flag lists, ...) are *lazy views*: the parser validates the whole response
//! once, then the views re-read their fields from the raw bytes on demand, so nothing is
//! copied and nothing is allocated. Strings are [`IStr`]: borrowed wire bytes whose
//! backslash escapes (if any) are resolved on demand. Numbers are `u64`.
//!
//! # Literals
//!
//! A literal (`{N}` / `{N+}` / `~{N}` at a line end) is recognised by the framer before any
//! parsing, so literal bytes are never interpreted as protocol. With the reader, a literal
//! of at most [`ReaderConfig::inline_literal_max`] bytes that fits into the buffer together
//! with its response is kept inline and parsed like a quoted string (so an ENVELOPE subject
//! or a METADATA value sent as a literal is an ordinary string). A larger literal is
//! streamed when it is the value of a FETCH item (`BODY[...]`, `BINARY[...]`, `RFC822*`);
//! anywhere else the response is skipped with [`Error::LiteralTooLarge`].
//!
//! # Tolerance
//!
//! Accepted deviations from the RFC grammar (seen from real servers): one trailing space at
//! the end of a response; two spaces between list elements and before a FETCH literal;
//! a space before `)` in lists; `\*` and `]` in FLAGS; an empty STATUS or QUOTA list; a bare
//! `+`; a response code without text; 8-bit bytes in quoted strings; CAPABILITY lists
//! without `IMAP4rev1`; LF without CR as line end; a known response code with data that
//! does not parse is reported as [`Code::Other`]; unknown untagged responses are
//! [`Response::Other`]. Refused: two or more trailing spaces, CR/LF/NUL inside quoted
//! strings or text, numbers above `u64::MAX`, tagged responses other than OK/NO/BAD,
//! nesting deeper than [`MAX_NESTING`].
//!
//! # Commands
//!
//! [`Command::encode`] writes one command (see [`command`](self::Command)).

mod body;
mod command;
mod fetch;
mod frame;
mod lex;
mod list;
mod reader;
mod response;

use core::fmt;

pub use body::{
    Address, Addresses, BodyStructure, Disposition, Envelope, Languages, Params, Parts,
};
pub use command::{
    Command, Date, EncodeOptions, Encoded, FetchAttr, LiteralMode, MAX_SYNC_LITERALS, SearchKey,
    SeqNum, SeqRange, SequenceSet, StatusAttr, StoreMode, encode_done, encode_sasl_response,
    quote_string,
};
pub use fetch::{Fetch, FetchItem, FetchItems, NamedItems, StreamedItem};
pub use frame::{Framed, Limits, frame_response};
pub use lex::{Chunks, IStr, MAX_NESTING, is_astring_char, is_atom_char, is_tag_char};
pub use list::{Atoms, List, Numbers, SeqSet, Strings, Value, Values};
pub use postwire_core::Status;
pub use reader::{Event, Pending, ReaderConfig, ResponseReader};
pub use response::{
    Acl, Code, Continuation, ESearch, ESearchData, ESearchItem, IdParams, ListRights, MailboxList,
    MailboxStatus, Metadata, MetadataCode, MyRights, Namespace, NamespaceDesc, NamespaceExtensions,
    Namespaces, OtherResponse, Quota, QuotaResources, QuotaRoot, Response, Search, StatusItems,
    StatusKind, StatusResponse, Thread, Vanished,
};

use response::{Mode, Parsed, parse_frame};

/// Errors of the IMAP codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The response violates the grammar; `offset` is relative to the start of the response.
    Malformed {
        /// Byte offset of the problem.
        offset: usize,
    },
    /// A line fragment does not fit into the buffer / line limit. Recoverable: the reader
    /// skips the rest of the response.
    LineTooLong,
    /// A literal too large to keep inline sits where it cannot be streamed (not a FETCH item
    /// value). Recoverable: the reader skips the response.
    LiteralTooLarge {
        /// The announced length.
        len: u64,
    },
    /// A literal announcement above the configured maximum. Fatal.
    LiteralOverLimit {
        /// The announced length.
        len: u64,
    },
    /// Parenthesised lists nested deeper than [`MAX_NESTING`].
    TooDeep,
    /// An output buffer is too small (encoders, [`IStr::copy_into`]).
    BufferTooSmall,
    /// A command argument cannot be encoded (NUL byte, CR/LF where no literal is possible,
    /// empty atom, too many literals ...).
    InvalidArgument,
}

impl Error {
    /// Whether the byte stream can no longer be trusted (drop the connection).
    pub const fn is_fatal(&self) -> bool {
        matches!(
            self,
            Error::Malformed { .. } | Error::LiteralOverLimit { .. } | Error::TooDeep
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed { offset } => write!(f, "malformed IMAP response at byte {offset}"),
            Error::LineTooLong => f.write_str("IMAP response line longer than the buffer"),
            Error::LiteralTooLarge { len } => {
                write!(
                    f,
                    "literal of {len} bytes too large to hold in this position"
                )
            }
            Error::LiteralOverLimit { len } => {
                write!(f, "literal of {len} bytes exceeds the configured maximum")
            }
            Error::TooDeep => f.write_str("IMAP response nested too deeply"),
            Error::BufferTooSmall => f.write_str("output buffer too small"),
            Error::InvalidArgument => f.write_str("command argument cannot be encoded"),
        }
    }
}

impl core::error::Error for Error {}

impl From<Error> for postwire_core::WireError {
    fn from(e: Error) -> Self {
        use postwire_core::WireError as W;
        match e {
            Error::Malformed { offset } => W::Malformed { offset },
            Error::LineTooLong => W::LineTooLong,
            Error::LiteralTooLarge { .. } | Error::LiteralOverLimit { .. } => W::Unsupported,
            Error::TooDeep => W::Malformed { offset: 0 },
            Error::BufferTooSmall => W::BufferTooSmall,
            Error::InvalidArgument => W::InvalidArgument,
        }
    }
}

/// Parse the first response in `input` with [`Limits::DEFAULT`].
///
/// ```
/// use postwire_imap::wire::{parse_response, Response, Status};
/// let input = b"* 3 EXISTS\r\nA1 OK done\r\n";
/// let Ok(Status::Complete((n, r))) = parse_response(input) else { unreachable!() };
/// assert_eq!((n, r), (12, Response::Exists(3)));
/// assert_eq!(parse_response(b"* 3 EXI"), Ok(Status::Partial));
/// ```
pub fn parse_response(input: &[u8]) -> Result<Status<(usize, Response<'_>)>, Error> {
    parse_response_with(input, &Limits::DEFAULT, false)
}

/// Parse the first response in `input` as a server greeting (untagged OK, PREAUTH or BYE).
pub fn parse_greeting(input: &[u8]) -> Result<Status<(usize, Response<'_>)>, Error> {
    parse_response_with(input, &Limits::DEFAULT, true)
}

/// Parse the first response in `input`; `greeting` restricts it to a server greeting.
pub fn parse_response_with<'a>(
    input: &'a [u8],
    limits: &Limits,
    greeting: bool,
) -> Result<Status<(usize, Response<'a>)>, Error> {
    if !greeting && let Some(done) = response::fetch_unframed(input, limits) {
        return Ok(Status::Complete(done));
    }
    match frame_response(input, limits)? {
        Framed::Incomplete { .. } => Ok(Status::Partial),
        Framed::Complete(n) => {
            let frame = input.get(..n).unwrap_or_default();
            let mode = if greeting {
                Mode::Greeting
            } else {
                Mode::Normal
            };
            match parse_frame(frame, mode, None)? {
                Parsed::Response(r) => Ok(Status::Complete((n, r))),
                // Only produced for streamed frames.
                Parsed::FetchHead { .. } | Parsed::FetchTail { .. } => {
                    Err(Error::Malformed { offset: 0 })
                }
            }
        }
    }
}
