//! The async IMAP client: a thin driver over any `embedded_io_async::{Read, Write}`
//! transport (embassy-net sockets, embedded-tls streams, host sockets).
//!
//! It moves bytes between the transport, the caller's two buffers and the codec
//! ([`wire::ResponseReader`], [`wire::Command`]); every response it reads goes through
//! [`Session::apply`], so the selected mailbox's state ([`Client::mailbox`]) follows
//! unsolicited EXISTS, EXPUNGE, VANISHED, FETCH and BYE responses whenever they arrive.
//!
//! * Bodies are streamed: FETCH literals pass through the receive buffer chunk by chunk
//!   ([`Client::fetch`], [`Client::fetch_body`]), APPEND reads its message from any
//!   `embedded_io_async::Read` ([`Client::append`]). A 20 MiB message passes through a 1 KiB
//!   receive buffer.
//! * Every network wait is bounded by [`Timeouts`]; IDLE is re-issued every
//!   [`ClientConfig::idle_refresh_ms`] (reset by the server's `* OK` keepalives), and falls
//!   back to NOOP polling when the server has no IDLE.
//! * Security (DESIGN §6): credentials only over TLS unless
//!   [`ClientConfig::allow_plaintext_auth`]; STARTTLS aborts on bytes after the go-ahead and
//!   forgets the capabilities; a PREAUTH greeting on a plain connection is refused when TLS is
//!   required ([`ClientConfig::require_tls`]); `LOGINDISABLED` is honoured.
//! * After a fatal error ([`Error::is_fatal`]) the client returns [`Error::Failed`] for every
//!   later call; open a new connection and resume with [`Client::new_since`].
//!
//! # Cancel safety
//!
//! No method is cancel-safe: dropping a future half-way leaves the connection in an unknown
//! state, and the next call returns [`Error::Cancelled`] (fatal). Use the timeouts, or the
//! `stop` future of [`Client::idle`], instead of dropping futures.
//!
//! # The command-mailbox pattern
//!
//! ```no_run
//! # async fn demo<T, D>(io: T, delay: D) -> Result<(), postwire_imap::client::Error<T::Error>>
//! # where T: embedded_io_async::Read + embedded_io_async::Write, D: embedded_hal_async::delay::DelayNs {
//! use postwire_imap::client::{Buffers, Client, ClientConfig, IdleControl, IdleEvent};
//! use postwire_imap::proto::Checkpoint;
//! use postwire_imap::wire::StoreMode;
//!
//! let (mut rx, mut tx) = ([0u8; 1024], [0u8; 512]);
//! let mut imap = Client::new(io, delay, Buffers { rx: &mut rx, tx: &mut tx }, ClientConfig::default());
//! imap.set_implicit_tls(); // `io` is a TLS stream to port 993
//! imap.greet().await?;
//! imap.login("device-7", "secret").await?;
//! imap.select("Commands").await?;
//! let mut seen = Checkpoint { uidvalidity: 0, last_uid: 0 }; // restored from flash
//! loop {
//!     let mut uids = [0u64; 8];
//!     let mut n = 0;
//!     let news = imap.new_since(seen, |uid| { if n < uids.len() { uids[n] = uid; n += 1; } }).await?;
//!     seen = news.checkpoint;
//!     for &uid in &uids[..n] {
//!         let mut text = [0u8; 256];
//!         let mut len = 0;
//!         imap.fetch_body_with(uid, "TEXT", |chunk| {
//!             let k = chunk.len().min(text.len() - len);
//!             text[len..len + k].copy_from_slice(&chunk[..k]);
//!             len += k;
//!             Ok(())
//!         }).await?;
//!         // ... act on text[..len] ...
//!         imap.store(true, &[postwire_imap::wire::SeqRange::one(uid)], StoreMode::Add, &["\\Seen"], true, |_| {}).await?;
//!         imap.move_to(true, &[postwire_imap::wire::SeqRange::one(uid)], "Done").await?;
//!         seen.last_uid = seen.last_uid.max(uid);
//!     }
//!     // Wait for the next push (EXISTS), at most until the stop future fires.
//!     imap.idle(core::future::pending::<()>(), |ev| match ev {
//!         IdleEvent::Exists(_) => IdleControl::Stop,
//!         _ => IdleControl::Continue,
//!     }).await?;
//! }
//! # }
//! ```

use core::fmt;
use core::future::Future;
use core::pin::pin;

use embassy_futures::select::{Either, Either3, select, select3};
use embedded_hal_async::delay::DelayNs;
use embedded_io_async::{ErrorKind, Read, Write};
use postwire_core::base64;
use postwire_core::io::{WriteAllError, write_all_flush};
use postwire_core::sasl::{Credentials, Mechanism, SaslClient, SaslError};

use crate::mutf7;
use crate::proto::{Applied, Cap, Checkpoint, FlagBits, Mailbox, Session, State};
use crate::wire::{
    self, Atoms, Code, Command, EncodeOptions, Event, FetchAttr, FetchItem, FetchItems, IStr,
    LiteralMode, ReaderConfig, Response, ResponseReader, SearchKey, SeqRange, SequenceSet,
    StatusAttr, StatusKind, StoreMode, StreamedItem,
};

/// The caller's buffers.
pub struct Buffers<'b> {
    /// Receive buffer: holds the longest response line (and small literals kept inline).
    /// Bodies larger than it are streamed through it. 1 KiB is plenty for a command mailbox;
    /// LIST/FETCH responses with long envelopes need more.
    pub rx: &'b mut [u8],
    /// Transmit buffer: the longest command (and the chunk size of APPEND and SASL).
    pub tx: &'b mut [u8],
}

/// Smallest receive buffer accepted.
pub const MIN_RX: usize = 128;
/// Smallest transmit buffer accepted.
pub const MIN_TX: usize = 128;

/// How long each network wait may take, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timeouts {
    /// The greeting.
    pub greeting_ms: u32,
    /// Any read while a command runs (an inactivity timeout: a long FETCH is fine as long as
    /// bytes keep arriving).
    pub command_ms: u32,
    /// Each write.
    pub write_ms: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            greeting_ms: 30_000,
            command_ms: 60_000,
            write_ms: 30_000,
        }
    }
}

/// Client settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClientConfig {
    /// Network wait limits.
    pub timeouts: Timeouts,
    /// Allow LOGIN / AUTHENTICATE over an unencrypted connection (default: no).
    pub allow_plaintext_auth: bool,
    /// Refuse a PREAUTH greeting on an unencrypted connection (it would make STARTTLS
    /// impossible). Default: yes.
    pub require_tls: bool,
    /// After login, ENABLE CONDSTORE, QRESYNC and UTF8=ACCEPT when offered (default: yes).
    pub enable_extensions: bool,
    /// Send the first SASL response with AUTHENTICATE when SASL-IR is offered (default: yes).
    pub sasl_initial_response: bool,
    /// Re-issue IDLE after this long without a server keepalive (default 29 minutes, RFC
    /// 2177; some providers drop idle connections after about 10).
    pub idle_refresh_ms: u32,
    /// NOOP interval when the server has no IDLE (default 60 s).
    pub poll_interval_ms: u32,
    /// Literals up to this size are kept in the receive buffer and parsed with their
    /// response; larger ones (message bodies) are streamed.
    pub inline_literal_max: usize,
    /// Larger literal announcements are a fatal protocol error (default 1 GiB).
    pub max_literal: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeouts: Timeouts::default(),
            allow_plaintext_auth: false,
            require_tls: true,
            enable_extensions: true,
            sasl_initial_response: true,
            idle_refresh_ms: 29 * 60 * 1000,
            poll_interval_ms: 60_000,
            inline_literal_max: 1024,
            max_literal: 1 << 30,
        }
    }
}

/// The command (or wait) an error happened at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum Stage {
    Greeting,
    Capability,
    StartTls,
    Login,
    Authenticate,
    Enable,
    Id,
    List,
    Status,
    Select,
    Create,
    Delete,
    Rename,
    Subscribe,
    Close,
    Fetch,
    Search,
    Store,
    Copy,
    Move,
    Expunge,
    Append,
    Idle,
    Noop,
    Logout,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Stage::Greeting => "the greeting",
            Stage::Capability => "CAPABILITY",
            Stage::StartTls => "STARTTLS",
            Stage::Login => "LOGIN",
            Stage::Authenticate => "AUTHENTICATE",
            Stage::Enable => "ENABLE",
            Stage::Id => "ID",
            Stage::List => "LIST",
            Stage::Status => "STATUS",
            Stage::Select => "SELECT",
            Stage::Create => "CREATE",
            Stage::Delete => "DELETE",
            Stage::Rename => "RENAME",
            Stage::Subscribe => "SUBSCRIBE",
            Stage::Close => "CLOSE",
            Stage::Fetch => "FETCH",
            Stage::Search => "SEARCH",
            Stage::Store => "STORE",
            Stage::Copy => "COPY",
            Stage::Move => "MOVE",
            Stage::Expunge => "EXPUNGE",
            Stage::Append => "APPEND",
            Stage::Idle => "IDLE",
            Stage::Noop => "NOOP",
            Stage::Logout => "LOGOUT",
        };
        f.write_str(s)
    }
}

/// A response code of a refusal (RFC 3501, RFC 5530), for decisions in code; the text is in
/// [`Client::last_response_text`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum RefusalCode {
    Alert,
    Parse,
    TryCreate,
    Nonexistent,
    AlreadyExists,
    AuthenticationFailed,
    AuthorizationFailed,
    Unavailable,
    ExpungeIssued,
    Limit,
    OverQuota,
    Cannot,
    NoPerm,
    InUse,
    ServerBug,
    ClientBug,
    ContactAdmin,
    PrivacyRequired,
    BadCharset,
    /// Another code.
    Other,
}

impl RefusalCode {
    fn from_code(c: &Code<'_>) -> Self {
        match c {
            Code::Alert => RefusalCode::Alert,
            Code::Parse => RefusalCode::Parse,
            Code::TryCreate => RefusalCode::TryCreate,
            Code::BadCharset(_) => RefusalCode::BadCharset,
            Code::Other { name, .. } => {
                const NAMES: [(&[u8], RefusalCode); 15] = [
                    (b"NONEXISTENT", RefusalCode::Nonexistent),
                    (b"ALREADYEXISTS", RefusalCode::AlreadyExists),
                    (b"AUTHENTICATIONFAILED", RefusalCode::AuthenticationFailed),
                    (b"AUTHORIZATIONFAILED", RefusalCode::AuthorizationFailed),
                    (b"UNAVAILABLE", RefusalCode::Unavailable),
                    (b"EXPUNGEISSUED", RefusalCode::ExpungeIssued),
                    (b"LIMIT", RefusalCode::Limit),
                    (b"OVERQUOTA", RefusalCode::OverQuota),
                    (b"CANNOT", RefusalCode::Cannot),
                    (b"NOPERM", RefusalCode::NoPerm),
                    (b"INUSE", RefusalCode::InUse),
                    (b"SERVERBUG", RefusalCode::ServerBug),
                    (b"CLIENTBUG", RefusalCode::ClientBug),
                    (b"CONTACTADMIN", RefusalCode::ContactAdmin),
                    (b"PRIVACYREQUIRED", RefusalCode::PrivacyRequired),
                ];
                NAMES
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map_or(RefusalCode::Other, |(_, c)| *c)
            }
            _ => RefusalCode::Other,
        }
    }
}

/// A `NO` or `BAD` completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rejection {
    /// The command refused.
    pub stage: Stage,
    /// `true` for `BAD` (the server did not understand the command), `false` for `NO`.
    pub bad: bool,
    /// The response code, if any.
    pub code: Option<RefusalCode>,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.bad { "BAD" } else { "NO" };
        write!(f, "the server answered {} {kind}", self.stage)?;
        if let Some(c) = self.code {
            write!(f, " [{c:?}]")?;
        }
        Ok(())
    }
}

/// Ways the server broke the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProtocolError {
    /// A response did not parse (or a literal announcement was over the limit).
    Wire(wire::Error),
    /// The greeting was not `* OK`, `* PREAUTH` or `* BYE`.
    BadGreeting,
    /// A tagged response with a tag the client did not send.
    UnknownTag,
    /// A `+` continuation the client did not ask for.
    UnexpectedContinuation,
    /// Bytes arrived after the STARTTLS go-ahead, before the TLS handshake (injection).
    StartTlsInjection,
    /// The server kept sending SASL challenges.
    AuthLoop,
    /// A method was called in the wrong state (e.g. FETCH with no mailbox selected). Not
    /// fatal; nothing was sent.
    OutOfSequence,
    /// A response the command must produce was missing (e.g. no `* STATUS`).
    MissingResponse,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Wire(e) => write!(f, "{e}"),
            ProtocolError::BadGreeting => {
                f.write_str("the server's greeting is not OK/PREAUTH/BYE")
            }
            ProtocolError::UnknownTag => {
                f.write_str("a response carries a tag the client never sent")
            }
            ProtocolError::UnexpectedContinuation => {
                f.write_str("the server sent a continuation request nobody asked for")
            }
            ProtocolError::StartTlsInjection => {
                f.write_str("bytes arrived after the STARTTLS go-ahead (possible injection)")
            }
            ProtocolError::AuthLoop => f.write_str("the server keeps sending SASL challenges"),
            ProtocolError::OutOfSequence => {
                f.write_str("not possible in the connection's current state")
            }
            ProtocolError::MissingResponse => {
                f.write_str("the server completed the command without its data response")
            }
        }
    }
}

/// A summary of the fatal error that ended a connection, returned as [`Error::Failed`] by
/// every later call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Fatal {
    /// The transport failed.
    Io(ErrorKind),
    /// A wait timed out.
    Timeout(Stage),
    /// The server closed the connection.
    Closed(Stage),
    /// The server said BYE.
    Bye(Stage),
    /// The server broke the protocol.
    Protocol(ProtocolError),
    /// A security rule stopped the session (PREAUTH without TLS).
    Security,
    /// The APPEND source failed or ended early, half-way through the message.
    Source,
    /// An earlier operation was cancelled half-way.
    Cancelled,
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fatal::Io(k) => write!(f, "I/O error: {k:?}"),
            Fatal::Timeout(s) => write!(f, "timed out waiting at {s}"),
            Fatal::Closed(s) => write!(f, "connection closed by the server at {s}"),
            Fatal::Bye(s) => write!(f, "the server said BYE at {s}"),
            Fatal::Protocol(p) => write!(f, "{p}"),
            Fatal::Security => f.write_str("refused for security (PREAUTH without TLS)"),
            Fatal::Source => f.write_str("the APPEND source failed half-way"),
            Fatal::Cancelled => f.write_str("an earlier operation was cancelled half-way"),
        }
    }
}

/// Errors of the async client. `E` is the transport's error type.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error<E> {
    /// The transport failed. Fatal.
    Io(E),
    /// A network wait exceeded its timeout. Fatal.
    Timeout(Stage),
    /// The server closed the connection. Fatal.
    ConnectionClosed(Stage),
    /// The server said `* BYE` (its text is in [`Client::last_response_text`]). Fatal.
    Bye(Stage),
    /// The server broke the protocol. Fatal except [`ProtocolError::OutOfSequence`].
    Protocol(ProtocolError),
    /// The server answered `NO` or `BAD`; the text is in [`Client::last_response_text`].
    /// Not fatal (except for the greeting).
    Rejected(Rejection),
    /// A command argument cannot be sent (NUL byte, CR/LF in an atom position, an empty set
    /// or list, a flag that is not a flag). Nothing was sent.
    InvalidArgument,
    /// A buffer is too small for the command or SASL response. Nothing was sent.
    Capacity,
    /// STARTTLS was asked for but the server does not announce it. The client does not go
    /// on without TLS.
    StartTlsUnavailable,
    /// Credentials would go over an unencrypted connection and
    /// [`ClientConfig::allow_plaintext_auth`] is off. Nothing was sent.
    PlaintextAuthRefused,
    /// The server greeted with PREAUTH on an unencrypted connection while
    /// [`ClientConfig::require_tls`] is on. Fatal.
    PreAuthWithoutTls,
    /// The server announces LOGINDISABLED (typically: use STARTTLS first).
    LoginDisabled,
    /// The server offers no SASL mechanism the client can use.
    NoCommonMechanism,
    /// The SASL mechanism failed locally (e.g. NUL in a user name). Nothing was sent.
    Sasl(SaslError),
    /// The client cancelled the SASL exchange (`*`) because it could not answer a
    /// challenge, and the server ended it. The connection is usable.
    AuthCancelled,
    /// The operation needs a capability the server lacks (e.g. MOVE fallback without
    /// UIDPLUS, UNSELECT).
    Unsupported(Cap),
    /// The command completed, but a response in it was too large for the receive buffer (or
    /// did not parse) and was skipped; results may be incomplete. The connection is usable.
    ResponseSkipped(wire::Error),
    /// The message asked for does not exist (FETCH returned no data).
    NoSuchMessage,
    /// The command completed (the connection is usable), but the caller's sink failed with
    /// this error; what it received is incomplete.
    Sink(ErrorKind),
    /// The APPEND source failed or ended before the announced length. Fatal: the literal
    /// could not be completed.
    Source(ErrorKind),
    /// The APPEND source ended `missing` bytes before the announced length. Fatal: the
    /// literal could not be completed.
    SourceEnded {
        /// Bytes still owed to the server.
        missing: u64,
    },
    /// An earlier operation was dropped half-way; the connection state is unknown. Fatal.
    Cancelled,
    /// The connection already failed with this error; nothing more can be done on it.
    Failed(Fatal),
}

impl<E> Error<E> {
    /// Whether the connection is unusable after this error (drop it and reconnect).
    pub fn is_fatal(&self) -> bool {
        match self {
            Error::Io(_)
            | Error::Timeout(_)
            | Error::ConnectionClosed(_)
            | Error::Bye(_)
            | Error::PreAuthWithoutTls
            | Error::Source(_)
            | Error::SourceEnded { .. }
            | Error::Cancelled
            | Error::Failed(_) => true,
            Error::Protocol(p) => *p != ProtocolError::OutOfSequence,
            Error::Rejected(r) => r.stage == Stage::Greeting,
            _ => false,
        }
    }

    /// The command the error happened at, when known.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            Error::Timeout(s) | Error::ConnectionClosed(s) | Error::Bye(s) => Some(*s),
            Error::Rejected(r) => Some(r.stage),
            Error::Failed(Fatal::Timeout(s) | Fatal::Closed(s) | Fatal::Bye(s)) => Some(*s),
            _ => None,
        }
    }
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e:?}"),
            Error::Timeout(s) => write!(f, "timed out waiting for the response to {s}"),
            Error::ConnectionClosed(s) => write!(f, "connection closed by the server at {s}"),
            Error::Bye(s) => write!(f, "the server said BYE at {s}"),
            Error::Protocol(p) => write!(f, "protocol error: {p}"),
            Error::Rejected(r) => write!(f, "{r}"),
            Error::InvalidArgument => f.write_str(
                "invalid argument (NUL, CR/LF where no literal is possible, empty set, bad flag)",
            ),
            Error::Capacity => f.write_str("buffer too small for the command"),
            Error::StartTlsUnavailable => f.write_str("the server does not offer STARTTLS"),
            Error::PlaintextAuthRefused => {
                f.write_str("refusing to send credentials over an unencrypted connection")
            }
            Error::PreAuthWithoutTls => {
                f.write_str("PREAUTH greeting on an unencrypted connection (TLS is required)")
            }
            Error::LoginDisabled => f.write_str("the server announces LOGINDISABLED"),
            Error::NoCommonMechanism => f.write_str("the server offers no usable login method"),
            Error::Sasl(e) => write!(f, "SASL: {e}"),
            Error::AuthCancelled => {
                f.write_str("SASL exchange cancelled: the server's challenge could not be answered")
            }
            Error::Unsupported(c) => write!(f, "the server lacks the {c} capability"),
            Error::ResponseSkipped(e) => {
                write!(f, "a response was skipped ({e}): results may be incomplete")
            }
            Error::NoSuchMessage => f.write_str("no such message"),
            Error::Sink(k) => write!(f, "writing the fetched data failed: {k:?}"),
            Error::Source(k) => write!(f, "reading the message to append failed: {k:?}"),
            Error::SourceEnded { missing } => write!(
                f,
                "the message to append ended {missing} bytes before its announced length"
            ),
            Error::Cancelled => f.write_str("an earlier operation was cancelled half-way"),
            Error::Failed(fatal) => write!(f, "connection already failed: {fatal}"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

impl<E> From<SaslError> for Error<E> {
    fn from(e: SaslError) -> Self {
        match e {
            SaslError::BufferTooSmall => Error::Capacity,
            SaslError::TooManySteps => Error::Protocol(ProtocolError::AuthLoop),
            other => Error::Sasl(other),
        }
    }
}

fn encode_err<E>(e: wire::Error) -> Error<E> {
    match e {
        wire::Error::BufferTooSmall => Error::Capacity,
        _ => Error::InvalidArgument,
    }
}

/// The server's greeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Greeting {
    /// `* PREAUTH`: the connection is already authenticated.
    pub preauth: bool,
}

/// One mailbox from LIST, with its name decoded to UTF-8.
#[derive(Clone, Copy, Debug)]
pub struct ListEntry<'n, 'a> {
    /// The name in UTF-8 (mUTF-7 decoded), or `None` when it is not valid mUTF-7 / UTF-8 or
    /// longer than 255 bytes decoded (see `wire_name`).
    pub name: Option<&'n str>,
    /// The name as on the wire.
    pub wire_name: IStr<'a>,
    /// Attributes (`\HasChildren`, `\Noselect`, special-use `\Sent`, `\Trash`, ...).
    pub attributes: Atoms<'a>,
    /// The hierarchy delimiter.
    pub delimiter: Option<u8>,
}

impl ListEntry<'_, '_> {
    /// Whether the attribute (e.g. `"\\Sent"`) is present (ASCII case-insensitive).
    pub fn has_attribute(&self, attr: &str) -> bool {
        self.attributes
            .into_iter()
            .any(|a| a.eq_ignore_ascii_case(attr.as_bytes()))
    }
}

/// STATUS results (`None` for items not asked for or not returned).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MailboxStatus {
    /// `MESSAGES`.
    pub messages: Option<u64>,
    /// `RECENT`.
    pub recent: Option<u64>,
    /// `UIDNEXT`.
    pub uidnext: Option<u64>,
    /// `UIDVALIDITY`.
    pub uidvalidity: Option<u64>,
    /// `UNSEEN`.
    pub unseen: Option<u64>,
    /// `HIGHESTMODSEQ`.
    pub highest_modseq: Option<u64>,
    /// `SIZE` (RFC 8438).
    pub size: Option<u64>,
    /// `DELETED` (IMAP4rev2).
    pub deleted: Option<u64>,
}

/// One piece of a FETCH result, handed to the callback of [`Client::fetch`].
///
/// A FETCH response whose values are all small is one [`FetchEvent::Message`]. One with a
/// large body comes as [`FetchEvent::Start`], [`FetchEvent::Data`] chunks, and
/// [`FetchEvent::More`] (the items after the body; another body may follow).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum FetchEvent<'a> {
    /// A complete FETCH response.
    Message {
        /// Sequence number.
        seq: u64,
        /// Its items (bodies included, as [`FetchItem::Section`]).
        items: FetchItems<'a>,
    },
    /// The start of a FETCH response whose `streamed` item's value follows as data.
    Start {
        /// Sequence number.
        seq: u64,
        /// The items before the streamed one.
        items: FetchItems<'a>,
        /// The streamed item (name with section, announced length).
        streamed: StreamedItem<'a>,
    },
    /// Bytes of the streamed value.
    Data {
        /// The bytes (never empty).
        data: &'a [u8],
        /// Bytes still to come in this value.
        remaining: u64,
    },
    /// The items after a streamed value; `streamed` is the next one, or `None` when the
    /// response is complete.
    More {
        /// Items.
        items: FetchItems<'a>,
        /// Another streamed item.
        streamed: Option<StreamedItem<'a>>,
    },
}

/// An event delivered by [`Client::idle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum IdleEvent {
    /// `* n EXISTS`: the mailbox now has `n` messages.
    Exists(u64),
    /// `* n EXPUNGE`.
    Expunge(u64),
    /// `* VANISHED` with this many UIDs (QRESYNC).
    Vanished(u64),
    /// `* n RECENT`.
    Recent(u64),
    /// A message's flags changed.
    Flags {
        /// Sequence number.
        seq: u64,
        /// UID if sent.
        uid: Option<u64>,
        /// The system flags now set.
        flags: FlagBits,
    },
    /// `* OK` keepalive (resets the refresh timer).
    Keepalive,
    /// IDLE was re-issued (refresh timer), or a NOOP poll completed.
    Refreshed,
}

/// What [`Client::idle`] does after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IdleControl {
    /// Keep waiting.
    Continue,
    /// Leave IDLE (DONE) and return.
    Stop,
}

/// Why [`Client::idle`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IdleEnd {
    /// The callback returned [`IdleControl::Stop`].
    Stopped,
    /// The `stop` future completed.
    StopFuture,
}

/// Result of [`Client::new_since`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NewSince {
    /// The UIDVALIDITY changed since the checkpoint: every message counts as new.
    pub uidvalidity_changed: bool,
    /// Number of UIDs delivered.
    pub count: u64,
    /// The checkpoint to continue from: the current UIDVALIDITY, `last_uid` as given (or 0
    /// after a UIDVALIDITY change). Advance `last_uid` as messages are processed.
    pub checkpoint: Checkpoint,
}

/// `APPENDUID` / `COPYUID` data (UIDPLUS): where the messages went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UidPlus {
    /// UIDVALIDITY of the destination mailbox.
    pub uidvalidity: u64,
    /// The first (for APPEND: the) destination UID.
    pub first_uid: u64,
    /// Number of destination UIDs.
    pub count: u64,
}

// ---------------------------------------------------------------------------------------------

const TEXT_LEN: usize = 160;

#[derive(Clone, Copy)]
struct Tag {
    buf: [u8; 12],
    len: u8,
}

impl Tag {
    fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or_default()
    }
}

/// What the tagged completion carried.
#[derive(Clone, Copy, Default)]
struct Done {
    uidplus: Option<UidPlus>,
}

enum Step {
    Continue,
    Done(Done),
}

enum IdleAction {
    End(IdleEnd),
    Refresh,
    ResetTimer,
    ServerEnded,
}

/// Receives what a command's responses carry (untagged responses and fetch stream events),
/// after the session applied them.
trait Handler {
    async fn on(&mut self, ev: &Event<'_>, applied: Applied) -> Result<(), ErrorKind>;
}

struct Ignore;

impl Handler for Ignore {
    async fn on(&mut self, _: &Event<'_>, _: Applied) -> Result<(), ErrorKind> {
        Ok(())
    }
}

struct Sync<F>(F);

impl<F: FnMut(&Event<'_>, Applied) -> Result<(), ErrorKind>> Handler for Sync<F> {
    async fn on(&mut self, ev: &Event<'_>, applied: Applied) -> Result<(), ErrorKind> {
        (self.0)(ev, applied)
    }
}

/// Writes the value of one body section (inline or streamed) into a sink.
trait BodySink {
    async fn put(&mut self, data: &[u8]) -> Result<(), ErrorKind>;
}

struct WriteSink<'w, W>(&'w mut W);

impl<W: Write> BodySink for WriteSink<'_, W> {
    async fn put(&mut self, data: &[u8]) -> Result<(), ErrorKind> {
        self.0
            .write_all(data)
            .await
            .map_err(|e| embedded_io_async::Error::kind(&e))
    }
}

struct FnSink<F>(F);

impl<F: FnMut(&[u8]) -> Result<(), ErrorKind>> BodySink for FnSink<F> {
    async fn put(&mut self, data: &[u8]) -> Result<(), ErrorKind> {
        (self.0)(data)
    }
}

struct BodyHandler<S> {
    sink: S,
    uid: u64,
    /// Inside the streamed literal of the wanted message.
    streaming: bool,
    found: bool,
    bytes: u64,
}

fn is_body_item(name: &[u8]) -> bool {
    let upper = |p: &[u8]| {
        name.len() >= p.len()
            && name
                .get(..p.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(p))
    };
    upper(b"BODY[") || upper(b"BINARY[") || upper(b"RFC822")
}

impl<S: BodySink> Handler for BodyHandler<S> {
    async fn on(&mut self, ev: &Event<'_>, _: Applied) -> Result<(), ErrorKind> {
        match ev {
            Event::Response(Response::Fetch(f))
                if f.items.uid() == Some(self.uid) || f.items.uid().is_none() =>
            {
                for (name, item) in f.items.with_names() {
                    if let FetchItem::Section(v) = item
                        && is_body_item(name)
                        && !self.found
                    {
                        self.found = true;
                        if let Some(v) = v {
                            for chunk in v.chunks() {
                                self.bytes += chunk.len() as u64;
                                self.sink.put(chunk).await?;
                            }
                        }
                    }
                }
                Ok(())
            }
            Event::FetchHead {
                items, streamed, ..
            } => {
                let uid_ok = items.uid().is_none_or(|u| u == self.uid);
                self.streaming = uid_ok && !self.found && is_body_item(streamed.name);
                if self.streaming {
                    self.found = true;
                }
                Ok(())
            }
            Event::LiteralData { data, .. } if self.streaming => {
                self.bytes += data.len() as u64;
                self.sink.put(data).await
            }
            Event::FetchMore { .. } => {
                self.streaming = false;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The text of the last status response, copied out of the receive buffer.
struct Text {
    buf: [u8; TEXT_LEN],
    len: usize,
}

impl Text {
    const EMPTY: Text = Text {
        buf: [0; TEXT_LEN],
        len: 0,
    };

    fn keep(&mut self, text: Option<&[u8]>) {
        let t = text.unwrap_or_default();
        let n = t.len().min(TEXT_LEN);
        if let (Some(dst), Some(src)) = (self.buf.get_mut(..n), t.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.len = n;
    }

    fn get(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// Everything a wait borrows, apart from the timer.
struct Conn<'b, T> {
    io: T,
    reader: ResponseReader<'b>,
    tx: &'b mut [u8],
    session: Session,
    text: Text,
    bye: bool,
}

enum Wait<E> {
    Io(E),
    Closed,
}

impl<T: Read + Write> Conn<'_, T> {
    async fn fill(&mut self) -> Result<(), Wait<T::Error>> {
        let spare = self.reader.spare();
        if spare.is_empty() {
            // The reader makes progress on a full buffer; nothing to read into.
            return Ok(());
        }
        let n = self.io.read(spare).await.map_err(Wait::Io)?;
        if n == 0 {
            return Err(Wait::Closed);
        }
        self.reader.commit(n);
        Ok(())
    }

    async fn write(&mut self, a: usize, b: usize) -> Result<(), Wait<T::Error>> {
        let bytes = self.tx.get(a..b).unwrap_or_default();
        write_all_flush(&mut self.io, bytes)
            .await
            .map_err(|e| match e {
                WriteAllError::Io(e) => Wait::Io(e),
                WriteAllError::Zero => Wait::Closed,
            })
    }

    fn encode_options(&self) -> EncodeOptions {
        let caps = self.session.capabilities();
        EncodeOptions {
            literal: if caps.has(Cap::LiteralPlus) {
                LiteralMode::Plus
            } else if caps.has(Cap::LiteralMinus) {
                LiteralMode::Minus
            } else {
                LiteralMode::Sync
            },
            utf8: self.session.utf8(),
            prefer_quoted: false,
        }
    }
}

/// An IMAP client connection.
///
/// Create it over a connected transport with [`Client::new`], then call
/// [`greet`](Self::greet). For STARTTLS (port 143) call [`starttls`](Self::starttls), run the
/// TLS handshake over the transport from [`into_starttls`](Self::into_starttls) and continue
/// with [`StartTls::resume`]. For implicit TLS (port 993, preferred, RFC 8314) give it the TLS
/// stream and call [`set_implicit_tls`](Self::set_implicit_tls) first.
pub struct Client<'b, T, D> {
    conn: Conn<'b, T>,
    delay: D,
    config: ClientConfig,
    tls: bool,
    /// STARTTLS was accepted: the next step is the TLS handshake.
    starttls_ready: bool,
    busy: bool,
    fatal: Option<Fatal>,
}

impl<'b, T: Read + Write, D: DelayNs> Client<'b, T, D> {
    /// A client over a connected transport. Nothing is sent or read until the first call.
    /// Buffers below [`MIN_RX`] / [`MIN_TX`] make every call fail with [`Error::Capacity`].
    pub fn new(io: T, delay: D, buffers: Buffers<'b>, config: ClientConfig) -> Self {
        let small = buffers.rx.len() < MIN_RX || buffers.tx.len() < MIN_TX;
        let reader_cfg = ReaderConfig {
            inline_literal_max: config.inline_literal_max,
            max_literal: config.max_literal,
            greeting: true,
        };
        Client {
            conn: Conn {
                io,
                reader: ResponseReader::new(buffers.rx, reader_cfg),
                tx: buffers.tx,
                session: Session::new(),
                text: Text::EMPTY,
                bye: false,
            },
            delay,
            config,
            tls: false,
            starttls_ready: false,
            busy: small,
            fatal: None,
        }
    }

    /// Declare the transport encrypted (implicit TLS): credentials may be sent.
    pub fn set_implicit_tls(&mut self) {
        self.tls = true;
    }

    /// Whether the transport is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Capabilities, state and the selected mailbox.
    pub fn session(&self) -> &Session {
        &self.conn.session
    }

    /// The selected mailbox's state, kept up to date by every response.
    pub fn mailbox(&self) -> &Mailbox {
        self.conn.session.mailbox()
    }

    /// The text of the last status response (a refusal's reason, a BYE's text), at most 160
    /// bytes.
    pub fn last_response_text(&self) -> &[u8] {
        self.conn.text.get()
    }

    /// The transport, e.g. to close it.
    pub fn into_inner(self) -> T {
        self.conn.io
    }

    // ------------------------------------------------------------------ driver internals

    fn enter(&mut self) -> Result<(), Error<T::Error>> {
        if let Some(f) = self.fatal {
            return Err(Error::Failed(f));
        }
        if self.conn.tx.len() < MIN_TX || self.conn.reader.capacity() < MIN_RX {
            return Err(Error::Capacity);
        }
        if self.busy {
            self.fatal = Some(Fatal::Cancelled);
            return Err(Error::Cancelled);
        }
        if self.starttls_ready {
            // Only the TLS handshake may follow the go-ahead (`into_starttls`).
            return Err(Error::Protocol(ProtocolError::OutOfSequence));
        }
        self.busy = true;
        Ok(())
    }

    fn leave<R>(&mut self, r: Result<R, Error<T::Error>>) -> Result<R, Error<T::Error>> {
        self.busy = false;
        if let Err(e) = &r
            && e.is_fatal()
            && self.fatal.is_none()
        {
            self.fatal = Some(summarize(e));
            self.conn.session.set_state(State::Logout);
        }
        r
    }

    fn require(&self, states: &[State]) -> Result<(), Error<T::Error>> {
        if states.contains(&self.conn.session.state()) {
            Ok(())
        } else {
            Err(Error::Protocol(ProtocolError::OutOfSequence))
        }
    }

    async fn fill(&mut self, stage: Stage, ms: u32) -> Result<(), Error<T::Error>> {
        match select(self.conn.fill(), self.delay.delay_ms(ms)).await {
            Either::First(Ok(())) => Ok(()),
            Either::First(Err(Wait::Io(e))) => Err(Error::Io(e)),
            Either::First(Err(Wait::Closed)) => Err(if self.conn.bye {
                Error::Bye(stage)
            } else {
                Error::ConnectionClosed(stage)
            }),
            Either::Second(()) => Err(Error::Timeout(stage)),
        }
    }

    async fn write(&mut self, a: usize, b: usize, stage: Stage) -> Result<(), Error<T::Error>> {
        if a >= b {
            return Ok(());
        }
        match select(
            self.conn.write(a, b),
            self.delay.delay_ms(self.config.timeouts.write_ms),
        )
        .await
        {
            Either::First(Ok(())) => Ok(()),
            Either::First(Err(Wait::Io(e))) => Err(Error::Io(e)),
            Either::First(Err(Wait::Closed)) => Err(Error::ConnectionClosed(stage)),
            Either::Second(()) => Err(Error::Timeout(stage)),
        }
    }

    /// Encode and send a command; synchronizing literals wait for `+` (a refusal there ends
    /// the command). With `hold_last`, a sync point at the very end (APPEND) is not waited
    /// for. Returns the tag.
    async fn send(&mut self, stage: Stage, cmd: &Command<'_>) -> Result<Tag, Error<T::Error>> {
        let mut tag = Tag {
            buf: [0; 12],
            len: 0,
        };
        let mut tb = [0u8; 12];
        let t = self.conn.session.next_tag(&mut tb);
        tag.len = t.len() as u8;
        if let Some(dst) = tag.buf.get_mut(..t.len()) {
            dst.copy_from_slice(t.as_bytes());
        }
        let opts = self.conn.encode_options();
        let enc = cmd.encode(t, &opts, self.conn.tx).map_err(encode_err)?;
        let mut from = 0;
        let mut syncs = [0usize; wire::MAX_SYNC_LITERALS];
        let n_syncs = enc.sync_points().len();
        for (d, s) in syncs.iter_mut().zip(enc.sync_points()) {
            *d = *s;
        }
        for &sp in syncs.get(..n_syncs).unwrap_or_default() {
            if sp >= enc.len() {
                break;
            }
            self.write(from, sp, stage).await?;
            from = sp;
            match self.step(stage, &tag, &mut Ignore).await? {
                Step::Continue => {}
                Step::Done(_) => return Err(Error::Protocol(ProtocolError::MissingResponse)),
            }
        }
        self.write(from, enc.len(), stage).await?;
        Ok(tag)
    }

    /// Read until the tagged completion of `tag` or a continuation request.
    async fn step<H: Handler>(
        &mut self,
        stage: Stage,
        tag: &Tag,
        h: &mut H,
    ) -> Result<Step, Error<T::Error>> {
        let ms = if stage == Stage::Greeting {
            self.config.timeouts.greeting_ms
        } else {
            self.config.timeouts.command_ms
        };
        let mut sink_err: Option<ErrorKind> = None;
        let mut skipped: Option<wire::Error> = None;
        let mut untagged_copyuid: Option<UidPlus> = None;
        let mut streamed_seq = 0u64;
        loop {
            let mut wire_err = None;
            loop {
                let ev = match self.conn.reader.next_event() {
                    Ok(Some(ev)) => ev,
                    Ok(None) => break,
                    Err(e) => {
                        wire_err = Some(e);
                        break;
                    }
                };
                let applied = match &ev {
                    Event::Response(r) => self.conn.session.apply(r),
                    // The items around a streamed body (FLAGS, MODSEQ) count too.
                    Event::FetchHead { seq, items, .. } => {
                        streamed_seq = *seq;
                        let f = wire::Fetch {
                            seq: *seq,
                            items: *items,
                        };
                        self.conn.session.apply(&Response::Fetch(f))
                    }
                    Event::FetchMore { items, .. } => {
                        let f = wire::Fetch {
                            seq: streamed_seq,
                            items: *items,
                        };
                        self.conn.session.apply(&Response::Fetch(f))
                    }
                    _ => Applied::Nothing,
                };
                match &ev {
                    Event::Response(Response::Status(s)) if s.tag.is_some() => {
                        if s.tag != Some(tag.as_bytes()) {
                            return Err(Error::Protocol(ProtocolError::UnknownTag));
                        }
                        let text = s.text;
                        let kind = s.kind;
                        let code = s.code;
                        let mut done = Done::default();
                        match code {
                            Some(Code::AppendUid {
                                uidvalidity,
                                mut uids,
                            }) => {
                                if let Some((a, b)) = uids.next() {
                                    done.uidplus = Some(UidPlus {
                                        uidvalidity,
                                        first_uid: a.min(b),
                                        count: a.abs_diff(b) + 1,
                                    });
                                }
                            }
                            Some(Code::CopyUid {
                                uidvalidity, dest, ..
                            }) => done.uidplus = copy_uid(uidvalidity, dest),
                            _ => {}
                        }
                        if done.uidplus.is_none() {
                            done.uidplus = untagged_copyuid;
                        }
                        let refusal = code.as_ref().map(RefusalCode::from_code);
                        self.conn.text.keep(text);
                        return match kind {
                            StatusKind::Ok => {
                                if let Some(k) = sink_err {
                                    Err(Error::Sink(k))
                                } else if let Some(e) = skipped {
                                    Err(Error::ResponseSkipped(e))
                                } else {
                                    Ok(Step::Done(done))
                                }
                            }
                            _ => Err(Error::Rejected(Rejection {
                                stage,
                                bad: kind == StatusKind::Bad,
                                code: refusal,
                            })),
                        };
                    }
                    Event::Response(Response::Continuation(c)) => {
                        let text = c.text;
                        self.conn.text.keep(text);
                        return Ok(Step::Continue);
                    }
                    Event::Response(Response::Status(s)) if s.kind == StatusKind::Bye => {
                        let text = s.text;
                        self.conn.text.keep(text);
                        self.conn.bye = true;
                    }
                    Event::Response(Response::Status(s))
                        if matches!(s.kind, StatusKind::No | StatusKind::Bad)
                            || s.code == Some(Code::Alert) =>
                    {
                        let text = s.text;
                        self.conn.text.keep(text);
                    }
                    // MOVE reports COPYUID in an untagged OK before its EXPUNGEs (RFC 6851
                    // §4.3).
                    Event::Response(Response::Status(s)) if s.kind == StatusKind::Ok => {
                        if let Some(Code::CopyUid {
                            uidvalidity, dest, ..
                        }) = s.code
                        {
                            untagged_copyuid = copy_uid(uidvalidity, dest);
                        }
                    }
                    _ => {}
                }
                if sink_err.is_none()
                    && let Err(k) = h.on(&ev, applied).await
                {
                    sink_err = Some(k);
                }
            }
            if let Some(e) = wire_err {
                // A response that did not fit or did not parse was skipped; the reader goes
                // on with the next one unless the stream itself is broken.
                if self.conn.reader.is_failed() || matches!(e, wire::Error::LiteralOverLimit { .. })
                {
                    return Err(Error::Protocol(ProtocolError::Wire(e)));
                }
                skipped.get_or_insert(e);
                continue;
            }
            self.fill(stage, ms).await?;
        }
    }

    /// Read until the tagged completion; a continuation request is a protocol error.
    async fn finish<H: Handler>(
        &mut self,
        stage: Stage,
        tag: &Tag,
        h: &mut H,
    ) -> Result<Done, Error<T::Error>> {
        match self.step(stage, tag, h).await? {
            Step::Done(d) => Ok(d),
            Step::Continue => Err(Error::Protocol(ProtocolError::UnexpectedContinuation)),
        }
    }

    /// Send a command and read its responses to the end.
    async fn run<H: Handler>(
        &mut self,
        stage: Stage,
        cmd: &Command<'_>,
        h: &mut H,
    ) -> Result<Done, Error<T::Error>> {
        let tag = self.send(stage, cmd).await?;
        self.finish(stage, &tag, h).await
    }

    /// Wraps an operation in the fatal-error bookkeeping.
    async fn guarded<R>(
        &mut self,
        f: impl AsyncFnOnce(&mut Self) -> Result<R, Error<T::Error>>,
    ) -> Result<R, Error<T::Error>> {
        self.enter()?;
        let r = f(self).await;
        self.leave(r)
    }

    // ------------------------------------------------------------------ connection

    /// Read the greeting (`* OK`, `* PREAUTH` or `* BYE`), with the capabilities when the
    /// greeting carries them.
    ///
    /// A PREAUTH greeting on an unencrypted connection is [`Error::PreAuthWithoutTls`] when
    /// [`ClientConfig::require_tls`] is on; a BYE greeting is [`Error::Bye`].
    pub async fn greet(&mut self) -> Result<Greeting, Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Greeting])?;
            let ev = loop {
                match c.conn.reader.next_event() {
                    Ok(Some(Event::Response(Response::Status(s)))) if s.tag.is_none() => {
                        c.conn.session.apply(&Response::Status(s));
                        c.conn.text.keep(s.text);
                        break Some(s.kind);
                    }
                    Ok(Some(_)) => break None,
                    Ok(None) => {}
                    Err(e) => return Err(Error::Protocol(ProtocolError::Wire(e))),
                }
                c.fill(Stage::Greeting, c.config.timeouts.greeting_ms)
                    .await?;
            };
            match ev {
                Some(StatusKind::Ok) => {
                    c.conn.session.set_state(State::NotAuthenticated);
                    Ok(Greeting { preauth: false })
                }
                Some(StatusKind::PreAuth) => {
                    if !c.tls && c.config.require_tls {
                        return Err(Error::PreAuthWithoutTls);
                    }
                    c.conn.session.set_state(State::Authenticated);
                    Ok(Greeting { preauth: true })
                }
                Some(StatusKind::Bye) => {
                    c.conn.bye = true;
                    Err(Error::Bye(Stage::Greeting))
                }
                _ => Err(Error::Protocol(ProtocolError::BadGreeting)),
            }
        })
        .await
    }

    /// CAPABILITY: ask for (and remember) the server's capabilities.
    pub async fn capability(&mut self) -> Result<crate::proto::Capabilities, Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.capability_inner().await?;
            Ok(*c.conn.session.capabilities())
        })
        .await
    }

    async fn capability_inner(&mut self) -> Result<(), Error<T::Error>> {
        self.require(&[
            State::NotAuthenticated,
            State::Authenticated,
            State::Selected,
        ])?;
        match self
            .run(Stage::Capability, &Command::Capability, &mut Ignore)
            .await
        {
            Ok(_) => {}
            Err(Error::Rejected(r)) => {
                // A server that refuses CAPABILITY announces nothing; asking again is
                // pointless.
                self.conn
                    .session
                    .set_capabilities(crate::proto::Capabilities::none());
                return Err(Error::Rejected(r));
            }
            Err(e) => return Err(e),
        }
        if !self.conn.session.capabilities().is_known() {
            return Err(Error::Protocol(ProtocolError::MissingResponse));
        }
        Ok(())
    }

    async fn ensure_capabilities(&mut self) -> Result<(), Error<T::Error>> {
        if !self.conn.session.capabilities().is_known() {
            match self.capability_inner().await {
                // Refused: go on without extensions (LOGIN needs none; STARTTLS, SASL
                // mechanisms, MOVE, IDLE are then unavailable, never assumed).
                Ok(()) | Err(Error::Rejected(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// STARTTLS: ask the server to start TLS. On success, take the transport with
    /// [`into_starttls`](Self::into_starttls), run the handshake and continue with
    /// [`StartTls::resume`]. Refused without the STARTTLS capability
    /// ([`Error::StartTlsUnavailable`]); bytes after the go-ahead (or received with a
    /// refusal) are an injection attempt ([`ProtocolError::StartTlsInjection`], fatal).
    pub async fn starttls(&mut self) -> Result<(), Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::NotAuthenticated])?;
            if c.tls {
                return Err(Error::Protocol(ProtocolError::OutOfSequence));
            }
            c.ensure_capabilities().await?;
            if !c.conn.session.capabilities().has(Cap::StartTls) {
                return Err(Error::StartTlsUnavailable);
            }
            let r = c
                .run(Stage::StartTls, &Command::StartTls, &mut Ignore)
                .await;
            if !c.conn.reader.buffered().is_empty() && matches!(r, Ok(_) | Err(Error::Rejected(_)))
            {
                // Bytes after the go-ahead, or answers pipelined behind a refusal to commands
                // not sent yet (curl test 981): injection.
                return Err(Error::Protocol(ProtocolError::StartTlsInjection));
            }
            r?;
            c.starttls_ready = true;
            Ok(())
        })
        .await
    }

    /// After a successful [`starttls`](Self::starttls): the plain transport for the TLS
    /// handshake, and the rest of the client to [`resume`](StartTls::resume) over the
    /// encrypted stream. Returns the client unchanged when STARTTLS did not succeed.
    #[allow(
        clippy::result_large_err,
        reason = "the client is handed back by value on purpose; it lives in a task"
    )]
    pub fn into_starttls(self) -> Result<(T, StartTls<'b, D>), Self> {
        if self.fatal.is_some()
            || !self.starttls_ready
            || self.tls
            || !self.conn.reader.buffered().is_empty()
            || self.conn.session.state() != State::NotAuthenticated
        {
            return Err(self);
        }
        let Client {
            conn,
            delay,
            config,
            ..
        } = self;
        let Conn {
            io,
            mut reader,
            tx,
            mut session,
            ..
        } = conn;
        reader.clear();
        session.forget_capabilities();
        Ok((
            io,
            StartTls {
                reader,
                tx,
                session,
                delay,
                config,
            },
        ))
    }

    /// LOGIN. Refused over plain text unless allowed, and when the server announces
    /// LOGINDISABLED. After login, [`ClientConfig::enable_extensions`] applies.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::NotAuthenticated])?;
            c.check_plaintext()?;
            c.ensure_capabilities().await?;
            if c.conn.session.capabilities().has(Cap::LoginDisabled) {
                return Err(Error::LoginDisabled);
            }
            c.run(
                Stage::Login,
                &Command::Login {
                    username: user,
                    password,
                },
                &mut Ignore,
            )
            .await?;
            c.after_login().await
        })
        .await
    }

    fn check_plaintext(&self) -> Result<(), Error<T::Error>> {
        if self.tls || self.config.allow_plaintext_auth {
            Ok(())
        } else {
            Err(Error::PlaintextAuthRefused)
        }
    }

    async fn after_login(&mut self) -> Result<(), Error<T::Error>> {
        self.conn.session.set_state(State::Authenticated);
        if !self.config.enable_extensions {
            return Ok(());
        }
        self.ensure_capabilities().await?;
        let caps = *self.conn.session.capabilities();
        if !caps.has(Cap::Enable) {
            return Ok(());
        }
        let mut want: [&str; 3] = [""; 3];
        let mut n = 0;
        for (cap, name) in [
            (Cap::CondStore, "CONDSTORE"),
            (Cap::QResync, "QRESYNC"),
            (Cap::Utf8Accept, "UTF8=ACCEPT"),
        ] {
            if caps.has(cap)
                && let Some(slot) = want.get_mut(n)
            {
                *slot = name;
                n += 1;
            }
        }
        if n == 0 {
            return Ok(());
        }
        match self
            .run(
                Stage::Enable,
                &Command::Enable(want.get(..n).unwrap_or_default()),
                &mut Ignore,
            )
            .await
        {
            // A server may refuse ENABLE; the session simply goes on without.
            Err(Error::Rejected(_)) | Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// AUTHENTICATE with a SASL mechanism (PLAIN, LOGIN, CRAM-MD5, XOAUTH2); `None` picks the
    /// strongest the server announces (over TLS: PLAIN, LOGIN, CRAM-MD5; without TLS, only if
    /// allowed: CRAM-MD5 first). The initial response goes on the command line when the
    /// server offers SASL-IR and announces the mechanism. A challenge the client cannot
    /// answer is cancelled with `*`
    /// ([`Error::AuthCancelled`]).
    pub async fn authenticate(
        &mut self,
        credentials: &Credentials<'_>,
        mechanism: Option<Mechanism>,
    ) -> Result<Mechanism, Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::NotAuthenticated])?;
            c.check_plaintext()?;
            c.ensure_capabilities().await?;
            let caps = *c.conn.session.capabilities();
            let mech = match mechanism {
                Some(m) => m,
                None => {
                    let order: &[Mechanism] = if c.tls {
                        &[Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]
                    } else {
                        &[Mechanism::CramMd5, Mechanism::Plain, Mechanism::Login]
                    };
                    *order
                        .iter()
                        .find(|m| caps.auth(**m))
                        .ok_or(Error::NoCommonMechanism)?
                }
            };
            // A mechanism the server does not announce goes without an initial response:
            // its refusal then arrives before any secret (a password, a bearer token) left.
            c.authenticate_inner(credentials, mech, caps.has(Cap::SaslIr) && caps.auth(mech))
                .await?;
            c.after_login().await?;
            Ok(mech)
        })
        .await
    }

    async fn authenticate_inner(
        &mut self,
        credentials: &Credentials<'_>,
        mech: Mechanism,
        sasl_ir: bool,
    ) -> Result<(), Error<T::Error>> {
        let mut sasl = SaslClient::new(mech, *credentials);
        // tx = [command | raw response]; the command encoder base64-encodes into its part.
        let len = self.conn.tx.len();
        let raw_cap = len / 4;
        let use_ir = sasl_ir && self.config.sasl_initial_response && mech.has_initial_response();
        let tag = {
            let ir_len = if use_ir {
                let (_, raw) = self.conn.tx.split_at_mut(len - raw_cap);
                sasl.initial_response(raw)?
            } else {
                None
            };
            // Encode the command into the front part (the raw response sits at the end).
            let mut tb = [0u8; 12];
            let t = self.conn.session.next_tag(&mut tb);
            let mut tag = Tag {
                buf: [0; 12],
                len: t.len() as u8,
            };
            if let Some(dst) = tag.buf.get_mut(..t.len()) {
                dst.copy_from_slice(t.as_bytes());
            }
            let opts = self.conn.encode_options();
            let (head, raw) = self.conn.tx.split_at_mut(len - raw_cap);
            let ir = ir_len.map(|n| raw.get(..n).unwrap_or_default());
            let enc = Command::Authenticate {
                mechanism: mech.name(),
                initial_response: ir,
            }
            .encode(t, &opts, head)
            .map_err(encode_err)?;
            let n = enc.len();
            self.write(0, n, Stage::Authenticate).await?;
            tag
        };
        let mut rounds = 0u8;
        loop {
            match self.step(Stage::Authenticate, &tag, &mut Ignore).await {
                Ok(Step::Done(_)) => return Ok(()),
                Ok(Step::Continue) => {}
                Err(e) => return Err(e),
            }
            rounds += 1;
            if rounds > mech.max_challenges() + 1 {
                return Err(Error::Protocol(ProtocolError::AuthLoop));
            }
            let len = self.conn.tx.len();
            let (head, raw) = self.conn.tx.split_at_mut(len - raw_cap);
            let text = self.conn.text.get();
            let truncated = self.conn.text.len >= TEXT_LEN;
            let decoded = if text.is_empty() || text == b"=" {
                Ok(0)
            } else if truncated {
                Err(())
            } else {
                base64::decode_into(text, raw).map_err(|_| ())
            };
            let tolerant = matches!(
                mech,
                Mechanism::XOAuth2 | Mechanism::Plain | Mechanism::Login
            );
            let challenge_len = match decoded {
                Ok(k) => Some(k),
                Err(()) if tolerant => Some(0),
                Err(()) => None,
            };
            // The decoded challenge sits in `raw`; the response is built in `head` (raw),
            // then base64-encoded into the rest of `head`.
            let answer = match challenge_len {
                Some(k) => {
                    let (resp, b64) = head.split_at_mut(head.len() / 2);
                    match sasl.respond(raw.get(..k).unwrap_or_default(), resp) {
                        Ok(r) => Some(
                            wire::encode_sasl_response(resp.get(..r).unwrap_or_default(), b64)
                                .map_err(|_| Error::Capacity)?,
                        ),
                        Err(SaslError::TooManySteps | SaslError::UnexpectedChallenge) => None,
                        Err(e) => return Err(e.into()),
                    }
                }
                None => None,
            };
            match answer {
                Some(n) => {
                    let start = head.len() / 2;
                    self.write(start, start + n, Stage::Authenticate).await?;
                }
                None => {
                    if let Some(d) = self.conn.tx.get_mut(..3) {
                        d.copy_from_slice(b"*\r\n");
                    }
                    self.write(0, 3, Stage::Authenticate).await?;
                    self.conn.text.len = 0;
                    return match self.step(Stage::Authenticate, &tag, &mut Ignore).await {
                        Err(Error::Rejected(_)) => Err(Error::AuthCancelled),
                        Err(e) => Err(e),
                        Ok(_) => Err(Error::Protocol(ProtocolError::AuthLoop)),
                    };
                }
            }
        }
    }

    /// ENABLE extensions (RFC 5161); the session notes which ones the server enabled.
    pub async fn enable(&mut self, extensions: &[&str]) -> Result<(), Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Authenticated])?;
            c.run(Stage::Enable, &Command::Enable(extensions), &mut Ignore)
                .await
                .map(|_| ())
        })
        .await
    }

    /// ID (RFC 2971): send the client's identification (`None`: NIL) and receive the
    /// server's as `(key, value)` pairs.
    pub async fn id(
        &mut self,
        params: Option<&[(&str, Option<&str>)]>,
        mut f: impl FnMut(IStr<'_>, Option<IStr<'_>>),
    ) -> Result<(), Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[
                State::NotAuthenticated,
                State::Authenticated,
                State::Selected,
            ])?;
            let mut h = Sync(|ev: &Event<'_>, _| {
                if let Event::Response(Response::Id(Some(p))) = ev {
                    for (k, v) in *p {
                        f(k, v);
                    }
                }
                Ok(())
            });
            c.run(Stage::Id, &Command::Id(params), &mut h)
                .await
                .map(|_| ())
        })
        .await
    }

    /// NOOP: lets the server report changes (they update [`mailbox`](Self::mailbox)).
    pub async fn noop(&mut self) -> Result<(), Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[
                State::NotAuthenticated,
                State::Authenticated,
                State::Selected,
            ])?;
            c.run(Stage::Noop, &Command::Noop, &mut Ignore)
                .await
                .map(|_| ())
        })
        .await
    }

    /// LOGOUT. The server's BYE is expected; the connection is closed afterwards.
    pub async fn logout(&mut self) -> Result<(), Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            let tag = c.send(Stage::Logout, &Command::Logout).await?;
            let r = c.finish(Stage::Logout, &tag, &mut Ignore).await;
            c.conn.session.set_state(State::Logout);
            match r {
                Ok(_) => Ok(()),
                // Some servers close right after BYE without the tagged OK.
                Err(Error::Bye(_) | Error::ConnectionClosed(_)) if c.conn.bye => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await?;
        // Further calls find the session logged out.
        self.fatal = Some(Fatal::Bye(Stage::Logout));
        Ok(())
    }

    // ------------------------------------------------------------------ mailboxes

    /// LIST (with `RETURN (SPECIAL-USE)` when the server offers SPECIAL-USE and
    /// LIST-EXTENDED). Names are decoded from modified UTF-7. Returns the number of entries.
    pub async fn list(
        &mut self,
        reference: &str,
        pattern: &str,
        mut f: impl FnMut(&ListEntry<'_, '_>),
    ) -> Result<u64, Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Authenticated, State::Selected])?;
            let caps = *c.conn.session.capabilities();
            let special = caps.has(Cap::SpecialUse) && caps.has(Cap::ListExtended);
            let utf8 = c.conn.session.utf8();
            let mut count = 0u64;
            let mut h = Sync(|ev: &Event<'_>, _| {
                if let Event::Response(Response::List(l)) = ev
                    && !l.lsub
                {
                    count += 1;
                    let mut buf = [0u8; 255];
                    let name = decode_name(l.mailbox, utf8, &mut buf);
                    let delimiter = l
                        .delimiter
                        .and_then(|d| d.as_bytes())
                        .and_then(|d| d.first().copied());
                    f(&ListEntry {
                        name,
                        wire_name: l.mailbox,
                        attributes: l.attributes,
                        delimiter,
                    });
                }
                Ok(())
            });
            c.run(
                Stage::List,
                &Command::List {
                    reference,
                    pattern,
                    return_special_use: special,
                },
                &mut h,
            )
            .await?;
            Ok(count)
        })
        .await
    }

    /// STATUS of a mailbox (not the selected one, RFC 3501 §6.3.10).
    pub async fn status(
        &mut self,
        mailbox: &str,
        items: &[StatusAttr],
    ) -> Result<MailboxStatus, Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Authenticated, State::Selected])?;
            let mut st = MailboxStatus::default();
            let mut seen = false;
            let mut h = Sync(|ev: &Event<'_>, _| {
                if let Event::Response(Response::MailboxStatus(s)) = ev {
                    seen = true;
                    for (name, v) in s.items {
                        let slot = match name.to_ascii_uppercase_array() {
                            Some(n) => match n.as_str() {
                                "MESSAGES" => &mut st.messages,
                                "RECENT" => &mut st.recent,
                                "UIDNEXT" => &mut st.uidnext,
                                "UIDVALIDITY" => &mut st.uidvalidity,
                                "UNSEEN" => &mut st.unseen,
                                "HIGHESTMODSEQ" => &mut st.highest_modseq,
                                "SIZE" => &mut st.size,
                                "DELETED" => &mut st.deleted,
                                _ => continue,
                            },
                            None => continue,
                        };
                        *slot = Some(v);
                    }
                }
                Ok(())
            });
            c.run(Stage::Status, &Command::Status { mailbox, items }, &mut h)
                .await?;
            if !seen {
                return Err(Error::Protocol(ProtocolError::MissingResponse));
            }
            Ok(st)
        })
        .await
    }

    /// SELECT a mailbox (read-write); returns its state (also in [`mailbox`](Self::mailbox)).
    /// With CONDSTORE enabled, the HIGHESTMODSEQ is reported.
    pub async fn select(&mut self, mailbox: &str) -> Result<Mailbox, Error<T::Error>> {
        self.open(mailbox, false).await
    }

    /// EXAMINE a mailbox (read-only).
    pub async fn examine(&mut self, mailbox: &str) -> Result<Mailbox, Error<T::Error>> {
        self.open(mailbox, true).await
    }

    async fn open(&mut self, mailbox: &str, read_only: bool) -> Result<Mailbox, Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Authenticated, State::Selected])?;
            c.conn.session.begin_select(read_only);
            let cmd = if read_only {
                Command::Examine {
                    mailbox,
                    condstore: false,
                }
            } else {
                Command::Select {
                    mailbox,
                    condstore: false,
                }
            };
            match c.run(Stage::Select, &cmd, &mut Ignore).await {
                Ok(_) => {
                    c.conn.session.set_state(State::Selected);
                    Ok(*c.conn.session.mailbox())
                }
                Err(e) => {
                    // A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1).
                    if !e.is_fatal() {
                        c.conn.session.set_state(State::Authenticated);
                    }
                    Err(e)
                }
            }
        })
        .await
    }

    async fn simple(&mut self, stage: Stage, cmd: Command<'_>) -> Result<(), Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Authenticated, State::Selected])?;
            c.run(stage, &cmd, &mut Ignore).await.map(|_| ())
        })
        .await
    }

    /// CREATE a mailbox (name in UTF-8).
    pub async fn create(&mut self, mailbox: &str) -> Result<(), Error<T::Error>> {
        self.simple(Stage::Create, Command::Create(mailbox)).await
    }

    /// DELETE a mailbox.
    pub async fn delete(&mut self, mailbox: &str) -> Result<(), Error<T::Error>> {
        self.simple(Stage::Delete, Command::Delete(mailbox)).await
    }

    /// RENAME a mailbox.
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<(), Error<T::Error>> {
        self.simple(Stage::Rename, Command::Rename { from, to })
            .await
    }

    /// SUBSCRIBE to a mailbox.
    pub async fn subscribe(&mut self, mailbox: &str) -> Result<(), Error<T::Error>> {
        self.simple(Stage::Subscribe, Command::Subscribe(mailbox))
            .await
    }

    /// UNSUBSCRIBE from a mailbox.
    pub async fn unsubscribe(&mut self, mailbox: &str) -> Result<(), Error<T::Error>> {
        self.simple(Stage::Subscribe, Command::Unsubscribe(mailbox))
            .await
    }

    /// CLOSE: expunge `\Deleted` messages silently and leave the mailbox.
    pub async fn close(&mut self) -> Result<(), Error<T::Error>> {
        self.leave_mailbox(Command::Close).await
    }

    /// UNSELECT (RFC 3691): leave the mailbox without expunging. [`Error::Unsupported`]
    /// when the server lacks UNSELECT.
    pub async fn unselect(&mut self) -> Result<(), Error<T::Error>> {
        self.leave_mailbox(Command::Unselect).await
    }

    async fn leave_mailbox(&mut self, cmd: Command<'_>) -> Result<(), Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Selected])?;
            if cmd == Command::Unselect {
                c.ensure_capabilities().await?;
                if !c.conn.session.capabilities().has(Cap::Unselect)
                    && !c.conn.session.capabilities().has(Cap::Imap4Rev2)
                {
                    return Err(Error::Unsupported(Cap::Unselect));
                }
            }
            c.run(Stage::Close, &cmd, &mut Ignore).await?;
            c.conn.session.set_state(State::Authenticated);
            Ok(())
        })
        .await
    }

    // ------------------------------------------------------------------ messages

    /// FETCH (or UID FETCH) any attributes; `f` receives every FETCH response of the command
    /// as [`FetchEvent`]s, bodies streamed in chunks. Unsolicited FETCH responses (flag
    /// changes of other messages) arrive here too. Returns the number of FETCH responses.
    ///
    /// If `f` returns an error, the rest of the command is read (and dropped) so the
    /// connection stays usable, then [`Error::Sink`] is returned.
    pub async fn fetch(
        &mut self,
        uid: bool,
        set: SequenceSet<'_>,
        attrs: &[FetchAttr<'_>],
        mut f: impl FnMut(FetchEvent<'_>) -> Result<(), ErrorKind>,
    ) -> Result<u64, Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Selected])?;
            let mut count = 0u64;
            let mut h = Sync(|ev: &Event<'_>, _| {
                let fe = match ev {
                    Event::Response(Response::Fetch(x)) => {
                        count += 1;
                        FetchEvent::Message {
                            seq: x.seq,
                            items: x.items,
                        }
                    }
                    Event::FetchHead {
                        seq,
                        items,
                        streamed,
                    } => {
                        count += 1;
                        FetchEvent::Start {
                            seq: *seq,
                            items: *items,
                            streamed: *streamed,
                        }
                    }
                    Event::LiteralData { data, remaining } => FetchEvent::Data {
                        data,
                        remaining: *remaining,
                    },
                    Event::FetchMore { items, streamed } => FetchEvent::More {
                        items: *items,
                        streamed: *streamed,
                    },
                    _ => return Ok(()),
                };
                f(fe)
            });
            c.run(
                Stage::Fetch,
                &Command::Fetch {
                    uid,
                    set,
                    attrs,
                    changed_since: None,
                },
                &mut h,
            )
            .await?;
            Ok(count)
        })
        .await
    }

    /// `UID FETCH uid BODY.PEEK[section]` into an async writer (the `\Seen` flag is not set).
    /// `section` is e.g. `""` (the whole message), `"TEXT"`, `"1"`, `"HEADER"`. Returns the
    /// number of bytes written; [`Error::NoSuchMessage`] when the server returned no body.
    pub async fn fetch_body<W: Write>(
        &mut self,
        uid: u64,
        section: &str,
        out: &mut W,
    ) -> Result<u64, Error<T::Error>> {
        let r = self.fetch_body_inner(uid, section, WriteSink(out)).await?;
        Ok(r)
    }

    /// Like [`fetch_body`](Self::fetch_body), the bytes handed to a callback in chunks.
    pub async fn fetch_body_with(
        &mut self,
        uid: u64,
        section: &str,
        f: impl FnMut(&[u8]) -> Result<(), ErrorKind>,
    ) -> Result<u64, Error<T::Error>> {
        self.fetch_body_inner(uid, section, FnSink(f)).await
    }

    async fn fetch_body_inner<S: BodySink>(
        &mut self,
        uid: u64,
        section: &str,
        sink: S,
    ) -> Result<u64, Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Selected])?;
            if uid == 0 {
                return Err(Error::InvalidArgument);
            }
            let mut h = BodyHandler {
                sink,
                uid,
                streaming: false,
                found: false,
                bytes: 0,
            };
            c.run(
                Stage::Fetch,
                &Command::Fetch {
                    uid: true,
                    set: &[SeqRange::one(uid)],
                    attrs: &[
                        FetchAttr::Uid,
                        FetchAttr::BodySection {
                            section,
                            peek: true,
                            partial: None,
                        },
                    ],
                    changed_since: None,
                },
                &mut h,
            )
            .await?;
            if !h.found {
                return Err(Error::NoSuchMessage);
            }
            Ok(h.bytes)
        })
        .await
    }

    /// SEARCH (or UID SEARCH); `f` receives each matching number. With ESEARCH the result
    /// comes as a compact set (`RETURN (ALL)`). Returns the number of matches.
    pub async fn search(
        &mut self,
        uid: bool,
        criteria: &[SearchKey<'_>],
        mut f: impl FnMut(u64),
    ) -> Result<u64, Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Selected])?;
            c.search_inner(uid, criteria, &mut f).await
        })
        .await
    }

    async fn search_inner(
        &mut self,
        uid: bool,
        criteria: &[SearchKey<'_>],
        f: &mut impl FnMut(u64),
    ) -> Result<u64, Error<T::Error>> {
        let caps = *self.conn.session.capabilities();
        let esearch = caps.has(Cap::ESearch) || caps.has(Cap::Imap4Rev2);
        let mut count = 0u64;
        let mut h = Sync(|ev: &Event<'_>, _| {
            match ev {
                Event::Response(Response::Search(s)) => {
                    for n in s.ids {
                        count += 1;
                        f(n);
                    }
                }
                Event::Response(Response::ESearch(e)) => {
                    for item in e.data {
                        if let wire::ESearchItem::All(set) = item {
                            for (a, b) in set {
                                for n in a.min(b)..=a.max(b) {
                                    count += 1;
                                    f(n);
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
            Ok(())
        });
        let cmd = if esearch {
            Command::ESearch {
                uid,
                charset: None,
                criteria,
            }
        } else {
            Command::Search {
                uid,
                charset: None,
                criteria,
            }
        };
        self.run(Stage::Search, &cmd, &mut h).await?;
        Ok(count)
    }

    /// STORE (or UID STORE) flags: add, remove or replace; `.SILENT` suppresses the FETCH
    /// responses with the new flags (otherwise they go to `f`, and update
    /// [`Mailbox::flag_updates`]).
    pub async fn store(
        &mut self,
        uid: bool,
        set: SequenceSet<'_>,
        mode: StoreMode,
        flags: &[&str],
        silent: bool,
        mut f: impl FnMut(&wire::Fetch<'_>),
    ) -> Result<(), Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Selected])?;
            let mut h = Sync(|ev: &Event<'_>, _| {
                if let Event::Response(Response::Fetch(x)) = ev {
                    f(x);
                }
                Ok(())
            });
            c.run(
                Stage::Store,
                &Command::Store {
                    uid,
                    set,
                    mode,
                    silent,
                    flags,
                    unchanged_since: None,
                },
                &mut h,
            )
            .await
            .map(|_| ())
        })
        .await
    }

    /// COPY (or UID COPY) messages to another mailbox; returns COPYUID data when the server
    /// has UIDPLUS.
    pub async fn copy(
        &mut self,
        uid: bool,
        set: SequenceSet<'_>,
        mailbox: &str,
    ) -> Result<Option<UidPlus>, Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Selected])?;
            let d = c
                .run(
                    Stage::Copy,
                    &Command::Copy { uid, set, mailbox },
                    &mut Ignore,
                )
                .await?;
            Ok(d.uidplus)
        })
        .await
    }

    /// MOVE (or UID MOVE) messages to another mailbox. Without the MOVE capability it falls
    /// back to UID COPY, UID STORE +FLAGS.SILENT (\Deleted) and UID EXPUNGE of exactly those
    /// messages; that needs UIDPLUS and UIDs (`uid = true`), else [`Error::Unsupported`]
    /// (a plain EXPUNGE could remove other messages marked `\Deleted`).
    pub async fn move_to(
        &mut self,
        uid: bool,
        set: SequenceSet<'_>,
        mailbox: &str,
    ) -> Result<Option<UidPlus>, Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Selected])?;
            c.ensure_capabilities().await?;
            let caps = *c.conn.session.capabilities();
            if caps.has(Cap::Move) || caps.has(Cap::Imap4Rev2) {
                let d = c
                    .run(
                        Stage::Move,
                        &Command::Move { uid, set, mailbox },
                        &mut Ignore,
                    )
                    .await?;
                return Ok(d.uidplus);
            }
            if !caps.has(Cap::UidPlus) {
                return Err(Error::Unsupported(Cap::UidPlus));
            }
            if !uid {
                return Err(Error::Unsupported(Cap::Move));
            }
            let d = c
                .run(
                    Stage::Move,
                    &Command::Copy { uid, set, mailbox },
                    &mut Ignore,
                )
                .await?;
            c.run(
                Stage::Move,
                &Command::Store {
                    uid: true,
                    set,
                    mode: StoreMode::Add,
                    silent: true,
                    flags: &["\\Deleted"],
                    unchanged_since: None,
                },
                &mut Ignore,
            )
            .await?;
            c.run(Stage::Move, &Command::UidExpunge(set), &mut Ignore)
                .await?;
            Ok(d.uidplus)
        })
        .await
    }

    /// EXPUNGE: remove every `\Deleted` message of the selected mailbox; `f` receives the
    /// sequence number of each removal (with QRESYNC: nothing, the count arrives as
    /// VANISHED). Returns the number of messages removed.
    pub async fn expunge(&mut self, mut f: impl FnMut(u64)) -> Result<u64, Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Selected])?;
            if c.conn.session.mailbox().read_only {
                return Err(Error::Protocol(ProtocolError::OutOfSequence));
            }
            let mut n = 0u64;
            let mut h = Sync(|_: &Event<'_>, a| {
                match a {
                    Applied::Expunge(seq) => {
                        n += 1;
                        f(seq);
                    }
                    Applied::Vanished(k) => n += k,
                    _ => {}
                }
                Ok(())
            });
            c.run(Stage::Expunge, &Command::Expunge, &mut h).await?;
            Ok(n)
        })
        .await
    }

    /// UID EXPUNGE (UIDPLUS): remove only the given `\Deleted` messages. Returns the number
    /// removed.
    pub async fn uid_expunge(&mut self, set: SequenceSet<'_>) -> Result<u64, Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Selected])?;
            c.ensure_capabilities().await?;
            let caps = *c.conn.session.capabilities();
            if !caps.has(Cap::UidPlus) && !caps.has(Cap::Imap4Rev2) {
                return Err(Error::Unsupported(Cap::UidPlus));
            }
            let mut n = 0u64;
            let mut h = Sync(|_: &Event<'_>, a| {
                match a {
                    Applied::Expunge(_) => n += 1,
                    Applied::Vanished(k) => n += k,
                    _ => {}
                }
                Ok(())
            });
            c.run(Stage::Expunge, &Command::UidExpunge(set), &mut h)
                .await?;
            Ok(n)
        })
        .await
    }

    /// APPEND a message of exactly `len` bytes read from `source` (streamed through the
    /// transmit buffer), with flags and an internal date (`"dd-Mon-yyyy hh:mm:ss +zzzz"`).
    /// Uses a non-synchronizing literal with LITERAL+ (or LITERAL- up to 4 KiB), otherwise
    /// waits for the server's `+`. Returns APPENDUID data with UIDPLUS.
    ///
    /// If `source` fails or ends before `len` bytes, the literal cannot be completed:
    /// [`Error::Source`] (fatal). A server refusal before the message was sent (no `+`) is
    /// [`Error::Rejected`] and nothing was read from `source`.
    pub async fn append<R: Read>(
        &mut self,
        mailbox: &str,
        flags: &[&str],
        date: Option<&str>,
        len: u64,
        source: &mut R,
    ) -> Result<Option<UidPlus>, Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Authenticated, State::Selected])?;
            c.ensure_capabilities().await?;
            let cmd = Command::Append {
                mailbox,
                flags,
                date,
                message_len: len,
            };
            let mut tb = [0u8; 12];
            let t = c.conn.session.next_tag(&mut tb);
            let mut tag = Tag {
                buf: [0; 12],
                len: t.len() as u8,
            };
            if let Some(dst) = tag.buf.get_mut(..t.len()) {
                dst.copy_from_slice(t.as_bytes());
            }
            let opts = c.conn.encode_options();
            let enc = cmd.encode(t, &opts, c.conn.tx).map_err(encode_err)?;
            let mut from = 0;
            let mut syncs = [0usize; wire::MAX_SYNC_LITERALS];
            let n_syncs = enc.sync_points().len();
            for (d, s) in syncs.iter_mut().zip(enc.sync_points()) {
                *d = *s;
            }
            for &sp in syncs.get(..n_syncs).unwrap_or_default() {
                c.write(from, sp, Stage::Append).await?;
                from = sp;
                match c.step(Stage::Append, &tag, &mut Ignore).await? {
                    Step::Continue => {}
                    Step::Done(_) => return Err(Error::Protocol(ProtocolError::MissingResponse)),
                }
            }
            c.write(from, enc.len(), Stage::Append).await?;
            // The message: exactly `len` bytes.
            let mut left = len;
            while left > 0 {
                let want = usize::try_from(left.min(c.conn.tx.len() as u64)).unwrap_or(0);
                let buf = c.conn.tx.get_mut(..want).unwrap_or_default();
                let n = source
                    .read(buf)
                    .await
                    .map_err(|e| Error::Source(embedded_io_async::Error::kind(&e)))?;
                if n == 0 {
                    return Err(Error::SourceEnded { missing: left });
                }
                c.write(0, n, Stage::Append).await?;
                left -= n as u64;
            }
            if let Some(d) = c.conn.tx.get_mut(..2) {
                d.copy_from_slice(b"\r\n");
            }
            c.write(0, 2, Stage::Append).await?;
            let d = c.finish(Stage::Append, &tag, &mut Ignore).await?;
            Ok(d.uidplus)
        })
        .await
    }

    /// The command-mailbox helper: the UIDs of the selected mailbox above
    /// `since.last_uid`, in ascending order, handed to `f`. When the mailbox's UIDVALIDITY
    /// differs from `since.uidvalidity` (a checkpoint from an earlier connection), every
    /// message counts as new. Costs no round trip when UIDNEXT shows nothing new.
    pub async fn new_since(
        &mut self,
        since: Checkpoint,
        mut f: impl FnMut(u64),
    ) -> Result<NewSince, Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Selected])?;
            let m = *c.conn.session.mailbox();
            let uidvalidity = m.uidvalidity.unwrap_or(0);
            let changed = since.uidvalidity != uidvalidity;
            let last = if changed { 0 } else { since.last_uid };
            let checkpoint = Checkpoint {
                uidvalidity,
                last_uid: last,
            };
            // UIDNEXT is only a hint once messages have arrived since SELECT: trust it only
            // when it says nothing new and EXISTS did not grow... EXISTS changes are not
            // tracked per UID, so only skip when the mailbox is empty.
            if m.exists == 0 {
                return Ok(NewSince {
                    uidvalidity_changed: changed,
                    count: 0,
                    checkpoint,
                });
            }
            let range = [SeqRange {
                start: wire::SeqNum::Value(last.saturating_add(1)),
                end: wire::SeqNum::Star,
            }];
            let mut count = 0;
            let mut g = |u: u64| {
                // `n:*` always includes the highest UID, even below n.
                if u > last {
                    count += 1;
                    f(u);
                }
            };
            c.search_inner(true, &[SearchKey::Uid(&range)], &mut g)
                .await?;
            Ok(NewSince {
                uidvalidity_changed: changed,
                count,
                checkpoint,
            })
        })
        .await
    }

    // ------------------------------------------------------------------ IDLE

    /// Wait for changes of the selected mailbox: IDLE (RFC 2177) when offered, otherwise
    /// NOOP every [`ClientConfig::poll_interval_ms`]. Every push goes to `f` as an
    /// [`IdleEvent`] (and updates [`mailbox`](Self::mailbox)); return
    /// [`IdleControl::Stop`] to leave. IDLE is left with DONE and re-issued after
    /// [`ClientConfig::idle_refresh_ms`] without a server keepalive. When `stop` completes
    /// (e.g. a timer, or a signal from another task) IDLE is left cleanly and
    /// [`IdleEnd::StopFuture`] returned.
    ///
    /// The refresh timer and `stop` interrupt a pending transport read; with embedded-tls
    /// that is safe only between TLS records (a record cut half-way breaks the session:
    /// the next read reports an error). Keepalives and pushes are small records, so this
    /// is rare; keep `idle_refresh_ms` long.
    pub async fn idle<S: Future>(
        &mut self,
        stop: S,
        mut f: impl FnMut(IdleEvent) -> IdleControl,
    ) -> Result<IdleEnd, Error<T::Error>> {
        self.guarded(async |c: &mut Self| {
            c.require(&[State::Selected])?;
            c.ensure_capabilities().await?;
            let mut stop = pin!(stop);
            if c.conn.session.capabilities().has(Cap::Idle)
                || c.conn.session.capabilities().has(Cap::Imap4Rev2)
            {
                c.idle_loop(stop.as_mut(), &mut f).await
            } else {
                c.poll_loop(stop.as_mut(), &mut f).await
            }
        })
        .await
    }

    async fn poll_loop<S: Future>(
        &mut self,
        mut stop: core::pin::Pin<&mut S>,
        f: &mut impl FnMut(IdleEvent) -> IdleControl,
    ) -> Result<IdleEnd, Error<T::Error>> {
        loop {
            let mut stopped = false;
            let mut h = Sync(|_: &Event<'_>, a| {
                if let Some(ev) = idle_event(a)
                    && f(ev) == IdleControl::Stop
                {
                    stopped = true;
                }
                Ok(())
            });
            self.run(Stage::Noop, &Command::Noop, &mut h).await?;
            if stopped {
                return Ok(IdleEnd::Stopped);
            }
            if f(IdleEvent::Refreshed) == IdleControl::Stop {
                return Ok(IdleEnd::Stopped);
            }
            match select(
                self.delay.delay_ms(self.config.poll_interval_ms),
                stop.as_mut(),
            )
            .await
            {
                Either::First(()) => {}
                Either::Second(_) => return Ok(IdleEnd::StopFuture),
            }
        }
    }

    async fn idle_loop<S: Future>(
        &mut self,
        mut stop: core::pin::Pin<&mut S>,
        f: &mut impl FnMut(IdleEvent) -> IdleControl,
    ) -> Result<IdleEnd, Error<T::Error>> {
        loop {
            let tag = self.send(Stage::Idle, &Command::Idle).await?;
            // Pushes that arrive before the go-ahead are delivered too.
            let mut early = Sync(|_: &Event<'_>, a| {
                if let Some(ev) = idle_event(a) {
                    let _ = f(ev);
                }
                Ok(())
            });
            match self.step(Stage::Idle, &tag, &mut early).await? {
                Step::Continue => {}
                Step::Done(_) => return Err(Error::Protocol(ProtocolError::MissingResponse)),
            }
            let action = loop {
                match self.idle_wait(&tag, stop.as_mut(), f).await? {
                    IdleAction::ResetTimer => continue,
                    other => break other,
                }
            };
            match action {
                IdleAction::End(end) => {
                    self.done(&tag, f).await?;
                    return Ok(end);
                }
                IdleAction::Refresh => {
                    self.done(&tag, f).await?;
                    if f(IdleEvent::Refreshed) == IdleControl::Stop {
                        return Ok(IdleEnd::Stopped);
                    }
                }
                IdleAction::ServerEnded | IdleAction::ResetTimer => {}
            }
        }
    }

    /// One refresh period of IDLE: returns when the timer fires, the caller or `stop` ends
    /// IDLE, a keepalive resets the timer, or the server ends IDLE itself.
    async fn idle_wait<S: Future>(
        &mut self,
        tag: &Tag,
        mut stop: core::pin::Pin<&mut S>,
        f: &mut impl FnMut(IdleEvent) -> IdleControl,
    ) -> Result<IdleAction, Error<T::Error>> {
        let conn = &mut self.conn;
        let mut timer = pin!(self.delay.delay_ms(self.config.idle_refresh_ms));
        loop {
            let mut end: Option<IdleEnd> = None;
            let mut reset = false;
            let mut wire_err = None;
            loop {
                let ev = match conn.reader.next_event() {
                    Ok(Some(ev)) => ev,
                    Ok(None) => break,
                    Err(e) => {
                        wire_err = Some(e);
                        break;
                    }
                };
                let Event::Response(r) = &ev else { continue };
                match r {
                    Response::Status(s) if s.tag.is_some() => {
                        // The server ended IDLE by itself.
                        if s.tag != Some(tag.as_bytes()) {
                            return Err(Error::Protocol(ProtocolError::UnknownTag));
                        }
                        let (kind, text) = (s.kind, s.text);
                        conn.text.keep(text);
                        if kind != StatusKind::Ok {
                            return Err(Error::Rejected(Rejection {
                                stage: Stage::Idle,
                                bad: kind == StatusKind::Bad,
                                code: None,
                            }));
                        }
                        return Ok(IdleAction::ServerEnded);
                    }
                    Response::Continuation(_) => {
                        return Err(Error::Protocol(ProtocolError::UnexpectedContinuation));
                    }
                    Response::Status(s) if s.kind == StatusKind::Bye => {
                        let text = s.text;
                        conn.text.keep(text);
                        conn.bye = true;
                    }
                    _ => {}
                }
                let a = conn.session.apply(r);
                if a == Applied::Keepalive {
                    reset = true;
                }
                if let Some(ev) = idle_event(a)
                    && f(ev) == IdleControl::Stop
                    && end.is_none()
                {
                    end = Some(IdleEnd::Stopped);
                }
            }
            if let Some(e) = wire_err
                && (conn.reader.is_failed() || matches!(e, wire::Error::LiteralOverLimit { .. }))
            {
                return Err(Error::Protocol(ProtocolError::Wire(e)));
            }
            if let Some(end) = end {
                return Ok(IdleAction::End(end));
            }
            if reset {
                return Ok(IdleAction::ResetTimer);
            }
            if wire_err.is_some() {
                continue;
            }
            let read = async {
                let spare = conn.reader.spare();
                if spare.is_empty() {
                    return Ok(0);
                }
                conn.io.read(spare).await
            };
            match select3(read, timer.as_mut(), stop.as_mut()).await {
                Either3::First(Ok(0)) => {
                    return Err(if conn.bye {
                        Error::Bye(Stage::Idle)
                    } else {
                        Error::ConnectionClosed(Stage::Idle)
                    });
                }
                Either3::First(Ok(n)) => conn.reader.commit(n),
                Either3::First(Err(e)) => return Err(Error::Io(e)),
                Either3::Second(()) => return Ok(IdleAction::Refresh),
                Either3::Third(_) => return Ok(IdleAction::End(IdleEnd::StopFuture)),
            }
        }
    }

    /// Leave IDLE: DONE, then the tagged OK (pushes before it still go to `f`).
    async fn done(
        &mut self,
        tag: &Tag,
        f: &mut impl FnMut(IdleEvent) -> IdleControl,
    ) -> Result<(), Error<T::Error>> {
        let n = wire::encode_done(self.conn.tx).map_err(encode_err)?;
        self.write(0, n, Stage::Idle).await?;
        let mut h = Sync(|_: &Event<'_>, a| {
            if let Some(ev) = idle_event(a) {
                let _ = f(ev);
            }
            Ok(())
        });
        self.finish(Stage::Idle, tag, &mut h).await.map(|_| ())
    }
}

/// COPYUID data: the destination UIDVALIDITY, the lowest destination UID and their count.
fn copy_uid(uidvalidity: u64, dest: wire::SeqSet<'_>) -> Option<UidPlus> {
    let mut first = u64::MAX;
    let mut count = 0u64;
    for (a, b) in dest {
        first = first.min(a.min(b));
        count = count.saturating_add(a.abs_diff(b) + 1);
    }
    (count > 0).then_some(UidPlus {
        uidvalidity,
        first_uid: first,
        count,
    })
}

fn idle_event(a: Applied) -> Option<IdleEvent> {
    Some(match a {
        Applied::Exists(n) => IdleEvent::Exists(n),
        Applied::Expunge(n) => IdleEvent::Expunge(n),
        Applied::Vanished(n) => IdleEvent::Vanished(n),
        Applied::Recent(n) => IdleEvent::Recent(n),
        Applied::Flags { seq, uid, flags } => IdleEvent::Flags { seq, uid, flags },
        Applied::Keepalive => IdleEvent::Keepalive,
        _ => return None,
    })
}

/// Decode a mailbox name for display: mUTF-7 (or UTF-8 when enabled) into `buf`.
fn decode_name<'o>(name: IStr<'_>, utf8: bool, buf: &'o mut [u8; 255]) -> Option<&'o str> {
    let n = name.copy_into(buf).ok()?;
    if utf8 {
        return core::str::from_utf8(buf.get(..n)?).ok();
    }
    let mut out = [0u8; 255];
    let k = mutf7::decode(buf.get(..n)?, &mut out).ok()?;
    let dst = buf.get_mut(..k)?;
    dst.copy_from_slice(out.get(..k)?);
    core::str::from_utf8(buf.get(..k)?).ok()
}

/// Upper-case copy of a short ASCII name, for matching STATUS item names.
trait UpperName {
    fn to_ascii_uppercase_array(&self) -> Option<UpperBuf>;
}

struct UpperBuf {
    buf: [u8; 16],
    len: usize,
}

impl UpperBuf {
    fn as_str(&self) -> &str {
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or("")
    }
}

impl UpperName for &[u8] {
    fn to_ascii_uppercase_array(&self) -> Option<UpperBuf> {
        let mut buf = [0u8; 16];
        let dst = buf.get_mut(..self.len())?;
        for (d, s) in dst.iter_mut().zip(self.iter()) {
            *d = s.to_ascii_uppercase();
        }
        Some(UpperBuf {
            buf,
            len: self.len(),
        })
    }
}

/// A client half-way through STARTTLS: the server said go ahead, and the caller now runs the
/// TLS handshake over the plain transport returned next to this value.
pub struct StartTls<'b, D> {
    reader: ResponseReader<'b>,
    tx: &'b mut [u8],
    session: Session,
    delay: D,
    config: ClientConfig,
}

impl<'b, D: DelayNs> StartTls<'b, D> {
    /// Continue over the encrypted transport. The capabilities learned before TLS are
    /// forgotten; the next command that needs them asks again (or call
    /// [`Client::capability`]).
    pub fn resume<U: Read + Write>(self, io: U) -> Client<'b, U, D> {
        let StartTls {
            reader,
            tx,
            session,
            delay,
            config,
        } = self;
        Client {
            conn: Conn {
                io,
                reader,
                tx,
                session,
                text: Text::EMPTY,
                bye: false,
            },
            delay,
            config,
            tls: true,
            starttls_ready: false,
            busy: false,
            fatal: None,
        }
    }
}

fn summarize<E: embedded_io_async::Error>(e: &Error<E>) -> Fatal {
    match e {
        Error::Io(e) => Fatal::Io(e.kind()),
        Error::Timeout(s) => Fatal::Timeout(*s),
        Error::ConnectionClosed(s) => Fatal::Closed(*s),
        Error::Bye(s) => Fatal::Bye(*s),
        Error::Protocol(p) => Fatal::Protocol(*p),
        Error::PreAuthWithoutTls => Fatal::Security,
        Error::Source(_) | Error::SourceEnded { .. } => Fatal::Source,
        Error::Rejected(_) => Fatal::Closed(Stage::Greeting),
        Error::Failed(f) => *f,
        _ => Fatal::Cancelled,
    }
}
