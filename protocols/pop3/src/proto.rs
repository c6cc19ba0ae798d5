//! The sans-I/O POP3 session.
//!
//! [`Session`] never touches a socket. The driver (the async [`client`](crate::client), or a
//! test) encodes commands through the session's `write_*` methods, which register the response
//! each command expects, and feeds what the server sends:
//!
//! * status lines and the lines of multi-line *listings* (CAPA, LIST, UIDL, AUTH) one line at a
//!   time to [`Session::handle_line`], which returns an [`Event`] per line that means something;
//! * after [`Event::BodyStart`] (the `+OK` of RETR or TOP), the raw bytes of the message to
//!   [`Session::handle_body`], which removes the byte-stuffing as a stream, finds the
//!   terminator and never treats message bytes as protocol. A message of any size passes
//!   through a buffer of a few bytes.
//!
//! One command is outstanding at a time. The session's state only changes when a complete
//! line (or body chunk) has been consumed, so a driver that is cancelled between calls leaves
//! it consistent.
//!
//! Deletions: `DELE` only *marks* a message. The server removes marked messages when the
//! session ends with a successful `QUIT` (RFC 1939 §6, the UPDATE state); `RSET` unmarks them,
//! and a connection that ends any other way (dropped, timed out) removes nothing.
//! [`Event::Quit`] says whether the server entered the UPDATE state.
//!
//! ```
//! use postwire_pop3::proto::{Event, Session, SessionConfig};
//!
//! let mut s = Session::new(SessionConfig::default());
//! assert_eq!(s.handle_line(b"+OK POP3 ready <1.2@host>").unwrap(), Some(Event::Greeting));
//! assert_eq!(s.apop_timestamp(), Some(&b"<1.2@host>"[..]));
//! let mut out = [0u8; 64];
//! let n = s.write_user("alice", &mut out).unwrap();
//! assert_eq!(&out[..n], b"USER alice\r\n");
//! assert_eq!(s.handle_line(b"+OK").unwrap(), Some(Event::Ok));
//! s.write_pass("secret", &mut out).unwrap();
//! assert_eq!(s.handle_line(b"+OK Logged in.").unwrap(), Some(Event::LoggedIn));
//! s.write_stat(&mut out).unwrap();
//! assert_eq!(s.handle_line(b"+OK 2 320").unwrap(), Some(Event::Stat { count: 2, size: 320 }));
//! ```

use core::fmt;

use postwire_core::dot::{DotUnstuffer, Unstuffed};

use crate::wire::{
    Capabilities, CodeKind, Command, EncodeError, Indicator, ResponseCode, ResponseError,
    apop_timestamp, is_terminator, parse_scan_listing, parse_stat, parse_status_line, parse_u64,
    parse_uid_listing, unstuff_line,
};

/// The command (or step) a response or an error belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Stage {
    /// The server greeting.
    Greeting,
    /// CAPA.
    Capa,
    /// STLS.
    Stls,
    /// The TLS handshake (implicit TLS or after STLS).
    TlsHandshake,
    /// USER.
    User,
    /// PASS.
    Pass,
    /// APOP.
    Apop,
    /// AUTH and its challenges.
    Auth,
    /// STAT.
    Stat,
    /// LIST.
    List,
    /// UIDL.
    Uidl,
    /// TOP.
    Top,
    /// RETR.
    Retr,
    /// DELE.
    Dele,
    /// RSET.
    Rset,
    /// NOOP.
    Noop,
    /// QUIT.
    Quit,
}

impl Stage {
    /// The command name, or `greeting` / `TLS handshake`.
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Greeting => "greeting",
            Stage::Capa => "CAPA",
            Stage::Stls => "STLS",
            Stage::TlsHandshake => "TLS handshake",
            Stage::User => "USER",
            Stage::Pass => "PASS",
            Stage::Apop => "APOP",
            Stage::Auth => "AUTH",
            Stage::Stat => "STAT",
            Stage::List => "LIST",
            Stage::Uidl => "UIDL",
            Stage::Top => "TOP",
            Stage::Retr => "RETR",
            Stage::Dele => "DELE",
            Stage::Rset => "RSET",
            Stage::Noop => "NOOP",
            Stage::Quit => "QUIT",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `-ERR` from the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rejection {
    /// The command refused.
    pub stage: Stage,
    /// The RFC 2449 extended response code, when the reply carried one.
    pub code: Option<CodeKind>,
}

impl Rejection {
    /// Whether the code says the same command may work later (`[IN-USE]`, `[LOGIN-DELAY]`,
    /// `[SYS/TEMP]`).
    pub fn is_transient(&self) -> bool {
        self.code.is_some_and(CodeKind::is_transient)
    }

    /// Whether the server said the credentials are wrong (`[AUTH]`).
    pub fn is_auth_failure(&self) -> bool {
        self.code == Some(CodeKind::Auth)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} refused with -ERR", self.stage)?;
        if let Some(c) = self.code {
            write!(f, " [{c}]")?;
        }
        Ok(())
    }
}

/// Violations of the protocol by the server, and local misuse of the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProtocolError {
    /// A response line (or listing line) could not be parsed.
    Response(ResponseError),
    /// A line was longer than the receive buffer.
    LineTooLong,
    /// The server sent something when no response was due, or more than one response.
    UnsolicitedResponse,
    /// A `+ ` continuation to a command other than AUTH.
    UnexpectedContinuation,
    /// Bytes arrived after the STLS go-ahead and before the TLS handshake: a response-injection
    /// attempt. The connection must be dropped.
    DataAfterStls,
    /// The server kept sending SASL challenges beyond what the mechanism needs.
    AuthLoop,
    /// A SASL challenge was not valid base64, or too long for the buffers.
    BadChallenge,
    /// A multi-line listing went on for more lines than [`SessionConfig::max_listing_lines`].
    TooManyLines,
    /// A message body went on for more bytes than [`SessionConfig::max_body_bytes`].
    MessageTooLarge,
    /// A method was called in a state where it is not allowed (a bug in the driver).
    OutOfSequence,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Response(e) => write!(f, "malformed response: {e}"),
            ProtocolError::LineTooLong => {
                f.write_str("response line longer than the receive buffer")
            }
            ProtocolError::UnsolicitedResponse => {
                f.write_str("response received that nobody asked for")
            }
            ProtocolError::UnexpectedContinuation => {
                f.write_str("'+ ' continuation to a command other than AUTH")
            }
            ProtocolError::DataAfterStls => {
                f.write_str("server sent data after the STLS go-ahead (possible injection)")
            }
            ProtocolError::AuthLoop => f.write_str("server kept sending SASL challenges"),
            ProtocolError::BadChallenge => f.write_str("invalid SASL challenge from server"),
            ProtocolError::TooManyLines => f.write_str("multi-line listing too long"),
            ProtocolError::MessageTooLarge => {
                f.write_str("message larger than the configured limit")
            }
            ProtocolError::OutOfSequence => f.write_str("command issued out of sequence"),
        }
    }
}

/// Errors of the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SessionError {
    /// The server broke the protocol. Fatal.
    Protocol(ProtocolError),
    /// `-ERR`. Fatal only for the greeting (and QUIT, after which the server closes).
    Rejected(Rejection),
    /// A command could not be encoded (bad argument or buffer too small). Nothing was
    /// registered; the session is unchanged.
    Encode(EncodeError),
}

impl SessionError {
    /// Whether the connection can no longer be used after this error.
    pub fn is_fatal(&self) -> bool {
        match self {
            SessionError::Protocol(ProtocolError::OutOfSequence) => false,
            SessionError::Protocol(_) => true,
            SessionError::Rejected(r) => matches!(r.stage, Stage::Greeting | Stage::Quit),
            SessionError::Encode(_) => false,
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Protocol(p) => write!(f, "protocol error: {p}"),
            SessionError::Rejected(r) => write!(f, "{r}"),
            SessionError::Encode(e) => write!(f, "cannot encode command: {e}"),
        }
    }
}

impl core::error::Error for SessionError {}

impl From<EncodeError> for SessionError {
    fn from(e: EncodeError) -> Self {
        SessionError::Encode(e)
    }
}

/// Limits of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SessionConfig {
    /// Most lines accepted in a LIST or UIDL listing (a server that never ends one gets
    /// [`ProtocolError::TooManyLines`]). CAPA and AUTH listings are limited to
    /// [`MAX_CAPA_LINES`]. Default 1,000,000.
    pub max_listing_lines: u32,
    /// Most bytes accepted in one RETR or TOP body, after unstuffing (a server that never
    /// ends one gets [`ProtocolError::MessageTooLarge`]). Default 1 GiB; messages need not
    /// fit in memory, they are streamed.
    pub max_body_bytes: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_listing_lines: 1_000_000,
            max_body_bytes: 1 << 30,
        }
    }
}

/// Most lines accepted in a CAPA or AUTH listing.
pub const MAX_CAPA_LINES: u32 = 256;

/// Size of the bounded copy of the last response's text kept for error messages.
pub const REPLY_TEXT_LEN: usize = 192;

/// Longest APOP timestamp kept from the greeting (longer ones make APOP unavailable).
pub const MAX_TIMESTAMP_LEN: usize = 128;

/// What the next status line answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Greeting,
    Capa,
    Stls,
    User,
    Pass,
    Apop,
    Auth,
    AuthList,
    Stat,
    ListAll,
    ListOne,
    UidlAll,
    UidlOne,
    Top,
    Retr,
    Dele,
    Rset,
    Noop,
    Quit,
}

impl Expect {
    fn stage(self) -> Stage {
        match self {
            Expect::Greeting => Stage::Greeting,
            Expect::Capa => Stage::Capa,
            Expect::Stls => Stage::Stls,
            Expect::User => Stage::User,
            Expect::Pass => Stage::Pass,
            Expect::Apop => Stage::Apop,
            Expect::Auth | Expect::AuthList => Stage::Auth,
            Expect::Stat => Stage::Stat,
            Expect::ListAll | Expect::ListOne => Stage::List,
            Expect::UidlAll | Expect::UidlOne => Stage::Uidl,
            Expect::Top => Stage::Top,
            Expect::Retr => Stage::Retr,
            Expect::Dele => Stage::Dele,
            Expect::Rset => Stage::Rset,
            Expect::Noop => Stage::Noop,
            Expect::Quit => Stage::Quit,
        }
    }
}

/// The kind of multi-line listing being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listing {
    Capa,
    AuthList,
    List,
    Uidl,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    /// Status lines.
    Status,
    /// The lines of a listing.
    Listing { kind: Listing, lines: u32 },
    /// A RETR/TOP body (raw bytes through [`Session::handle_body`]).
    Body {
        stage: Stage,
        dec: DotUnstuffer,
        bytes: u64,
    },
}

/// A bounded byte copy (server text, the APOP timestamp).
#[derive(Clone, Copy)]
struct Text<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    const fn new() -> Self {
        Text {
            bytes: [0; N],
            len: 0,
        }
    }

    fn set(&mut self, text: &[u8]) {
        let take = text.len().min(N);
        if let (Some(dst), Some(src)) = (self.bytes.get_mut(..take), text.get(..take)) {
            dst.copy_from_slice(src);
        }
        self.len = take;
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl<const N: usize> fmt::Debug for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", core::str::from_utf8(self.as_bytes()))
    }
}

/// Coarse connection state (RFC 1939 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// Waiting for the greeting.
    Greeting,
    /// AUTHORIZATION: greeted, not logged in.
    Authorization,
    /// STLS accepted: the driver must run the TLS handshake now.
    TlsPending,
    /// TRANSACTION: logged in; the maildrop commands may be used.
    Transaction,
    /// QUIT sent or answered (in TRANSACTION state this is the UPDATE state).
    Closed,
    /// A fatal error happened; the session refuses everything.
    Failed,
}

/// Something the server said that completes or advances the outstanding command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'l> {
    /// `+OK` greeting: [`Session::apop_timestamp`] holds its APOP timestamp, if any.
    Greeting,
    /// `+OK` to USER, DELE, RSET or NOOP.
    Ok,
    /// `+OK` to PASS, APOP or AUTH: the TRANSACTION state begins.
    LoggedIn,
    /// `+OK` to STLS: start the TLS handshake now, then call [`Session::tls_established`].
    StlsGoAhead,
    /// A `+ ` continuation to AUTH: the (base64) challenge text, possibly empty.
    Challenge(&'l [u8]),
    /// One line of a CAPA response (already applied to [`Session::capabilities`]).
    Capability(&'l [u8]),
    /// One mechanism line of a bare `AUTH` listing.
    Mechanism(&'l [u8]),
    /// The STAT drop listing.
    Stat {
        /// Messages in the maildrop (not counting those marked deleted).
        count: u64,
        /// Their total size in octets.
        size: u64,
    },
    /// A scan listing: the answer to `LIST n`, or one line of `LIST`.
    Listing {
        /// Message number.
        msg: u64,
        /// Size in octets.
        size: u64,
    },
    /// A unique-id listing: the answer to `UIDL n`, or one line of `UIDL`.
    Uid {
        /// Message number.
        msg: u64,
        /// The unique-id (1 to 70 bytes in 0x21..=0x7E).
        uid: &'l [u8],
    },
    /// `+OK` to RETR or TOP: feed the following raw bytes to [`Session::handle_body`].
    /// `octets` is the size the server announced (`+OK 1462 octets`, not standardised).
    BodyStart {
        /// Announced size, if the text starts with `N octets`.
        octets: Option<u64>,
    },
    /// The terminator of a CAPA, LIST, UIDL or AUTH listing.
    End,
    /// `+OK` to QUIT. `updated` is true when the session was in the TRANSACTION state: the
    /// server entered UPDATE and removed the messages marked with DELE.
    Quit {
        /// Whether marked deletions were committed.
        updated: bool,
    },
}

/// Progress of [`Session::handle_body`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BodyProgress {
    /// Input bytes consumed.
    pub consumed: usize,
    /// Message bytes written to the output.
    pub written: usize,
    /// The terminator was consumed; the body is complete ([`Session::body_bytes`] has its
    /// size) and status lines follow again.
    pub done: bool,
}

/// The POP3 client session state machine (RFC 1939, 2449, 2595, 5034), without I/O.
#[derive(Clone, Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    pending: Option<Expect>,
    reading: Reading,
    caps: Capabilities,
    caps_known: bool,
    tls: bool,
    user_sent: bool,
    in_auth: bool,
    marked: u64,
    last_body: u64,
    timestamp: Text<MAX_TIMESTAMP_LEN>,
    timestamp_ok: bool,
    text: Text<REPLY_TEXT_LEN>,
    failure: Option<SessionError>,
}

impl Session {
    /// A new session that waits for the server greeting.
    pub fn new(config: SessionConfig) -> Self {
        Session {
            config,
            state: State::Greeting,
            pending: Some(Expect::Greeting),
            reading: Reading::Status,
            caps: Capabilities::default(),
            caps_known: false,
            tls: false,
            user_sent: false,
            in_auth: false,
            marked: 0,
            last_body: 0,
            timestamp: Text::new(),
            timestamp_ok: false,
            text: Text::new(),
            failure: None,
        }
    }

    /// The coarse state.
    pub fn state(&self) -> State {
        self.state
    }

    /// What the server announced in its last CAPA response (empty before CAPA, after a
    /// refused CAPA, and after STLS until CAPA is sent again).
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Whether a CAPA response was read on the current (TLS) layer.
    pub fn capabilities_known(&self) -> bool {
        self.caps_known
    }

    /// Whether the driver reported the connection as encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether a response is outstanding.
    pub fn awaiting_response(&self) -> bool {
        self.pending.is_some() || !matches!(self.reading, Reading::Status)
    }

    /// Whether a RETR/TOP body is being read ([`handle_body`](Self::handle_body) is due).
    pub fn in_body(&self) -> bool {
        matches!(self.reading, Reading::Body { .. })
    }

    /// The APOP timestamp of the greeting (angle brackets included), if it had one.
    pub fn apop_timestamp(&self) -> Option<&[u8]> {
        self.timestamp_ok.then(|| self.timestamp.as_bytes())
    }

    /// The text of the last status line after `+OK` / `-ERR` (extended code included),
    /// bounded to [`REPLY_TEXT_LEN`] bytes. Server text: escape it before showing it.
    pub fn last_response_text(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// Messages marked with DELE since login or the last RSET: they are removed only when
    /// QUIT succeeds.
    pub fn marked_for_deletion(&self) -> u64 {
        self.marked
    }

    /// Size of the last (or current) RETR/TOP body so far, after unstuffing.
    pub fn body_bytes(&self) -> u64 {
        match self.reading {
            Reading::Body { bytes, .. } => bytes,
            _ => self.last_body,
        }
    }

    /// The error that failed the session, if any. A failed session returns it again for
    /// every call.
    pub fn failure(&self) -> Option<SessionError> {
        self.failure
    }

    /// Marks the connection as encrypted from the start (implicit TLS, RFC 8314).
    pub fn set_implicit_tls(&mut self) {
        self.tls = true;
    }

    /// Tells the session the TLS handshake after STLS succeeded. The capabilities learned
    /// before TLS are forgotten (RFC 2595 §4); the driver should send CAPA again.
    pub fn tls_established(&mut self) -> Result<(), SessionError> {
        self.check_ok()?;
        if self.state != State::TlsPending {
            return Err(self.fail(SessionError::Protocol(ProtocolError::OutOfSequence)));
        }
        self.tls = true;
        self.caps = Capabilities::default();
        self.caps_known = false;
        self.state = State::Authorization;
        Ok(())
    }

    /// Records a fatal condition found by the driver (I/O error, timeout, closed connection,
    /// injected bytes), so the session refuses further use.
    pub fn abort(&mut self, reason: ProtocolError) -> SessionError {
        let e = SessionError::Protocol(reason);
        self.failure = Some(e);
        self.state = State::Failed;
        self.pending = None;
        self.reading = Reading::Status;
        e
    }

    fn check_ok(&self) -> Result<(), SessionError> {
        match self.failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn fail(&mut self, e: SessionError) -> SessionError {
        if e.is_fatal() {
            self.failure = Some(e);
            self.state = State::Failed;
            self.pending = None;
            self.reading = Reading::Status;
        }
        e
    }

    fn protocol(&mut self, p: ProtocolError) -> SessionError {
        self.fail(SessionError::Protocol(p))
    }

    fn idle(&self) -> bool {
        self.pending.is_none() && matches!(self.reading, Reading::Status)
    }

    fn require(&mut self, ok: bool) -> Result<(), SessionError> {
        self.check_ok()?;
        if ok && self.idle() {
            Ok(())
        } else {
            Err(SessionError::Protocol(ProtocolError::OutOfSequence))
        }
    }

    fn encode(
        &mut self,
        cmd: &Command<'_>,
        out: &mut [u8],
        expect: Expect,
    ) -> Result<usize, SessionError> {
        let n = cmd.encode(out)?;
        self.pending = Some(expect);
        Ok(n)
    }

    fn authorization(&self) -> bool {
        self.state == State::Authorization
    }

    fn transaction(&self) -> bool {
        self.state == State::Transaction
    }

    /// Writes `CAPA` (AUTHORIZATION or TRANSACTION state).
    pub fn write_capa(&mut self, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(self.authorization() || self.transaction())?;
        self.encode(&Command::Capa, out, Expect::Capa)
    }

    /// Writes `STLS` (AUTHORIZATION state, not yet TLS).
    pub fn write_stls(&mut self, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(self.authorization() && !self.tls)?;
        self.encode(&Command::Stls, out, Expect::Stls)
    }

    /// Writes `USER name`.
    pub fn write_user(&mut self, name: &str, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(self.authorization())?;
        let n = self.encode(&Command::User(name), out, Expect::User)?;
        self.user_sent = false;
        Ok(n)
    }

    /// Writes `PASS secret` (after USER was accepted).
    pub fn write_pass(&mut self, secret: &str, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(self.authorization() && self.user_sent)?;
        self.encode(&Command::Pass(secret), out, Expect::Pass)
    }

    /// Writes `APOP name digest`.
    pub fn write_apop(
        &mut self,
        name: &str,
        digest: &[u8; 32],
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        self.require(self.authorization())?;
        self.encode(&Command::Apop { user: name, digest }, out, Expect::Apop)
    }

    /// Writes `AUTH mechanism [initial-response]` (the response already base64, `=` when
    /// empty).
    pub fn write_auth(
        &mut self,
        mechanism: &str,
        initial_response: Option<&[u8]>,
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        self.require(self.authorization())?;
        let n = self.encode(
            &Command::Auth {
                mechanism,
                initial_response,
            },
            out,
            Expect::Auth,
        )?;
        self.in_auth = true;
        Ok(n)
    }

    /// Writes one SASL response line (base64, or `*` to cancel) after
    /// [`Event::Challenge`].
    pub fn write_auth_response(
        &mut self,
        response: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        self.require(self.authorization() && self.in_auth)?;
        self.encode(&Command::AuthResponse(response), out, Expect::Auth)
    }

    /// Writes `AUTH` without arguments (lists the mechanisms on many servers).
    pub fn write_auth_list(&mut self, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(self.authorization())?;
        self.encode(&Command::AuthList, out, Expect::AuthList)
    }

    /// Writes `STAT`.
    pub fn write_stat(&mut self, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(self.transaction())?;
        self.encode(&Command::Stat, out, Expect::Stat)
    }

    /// Writes `LIST` (all) or `LIST msg`.
    pub fn write_list(&mut self, msg: Option<u64>, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(self.transaction())?;
        let expect = if msg.is_some() {
            Expect::ListOne
        } else {
            Expect::ListAll
        };
        self.encode(&Command::List(msg), out, expect)
    }

    /// Writes `UIDL` (all) or `UIDL msg`.
    pub fn write_uidl(&mut self, msg: Option<u64>, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(self.transaction())?;
        let expect = if msg.is_some() {
            Expect::UidlOne
        } else {
            Expect::UidlAll
        };
        self.encode(&Command::Uidl(msg), out, expect)
    }

    /// Writes `RETR msg`.
    pub fn write_retr(&mut self, msg: u64, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(self.transaction())?;
        self.encode(&Command::Retr(msg), out, Expect::Retr)
    }

    /// Writes `TOP msg lines`.
    pub fn write_top(
        &mut self,
        msg: u64,
        lines: u64,
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        self.require(self.transaction())?;
        self.encode(&Command::Top { msg, lines }, out, Expect::Top)
    }

    /// Writes `DELE msg`: marks the message; it is removed only by a successful QUIT.
    pub fn write_dele(&mut self, msg: u64, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(self.transaction())?;
        self.encode(&Command::Dele(msg), out, Expect::Dele)
    }

    /// Writes `RSET`: unmarks every message marked with DELE.
    pub fn write_rset(&mut self, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(self.transaction())?;
        self.encode(&Command::Rset, out, Expect::Rset)
    }

    /// Writes `NOOP`.
    pub fn write_noop(&mut self, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(self.transaction())?;
        self.encode(&Command::Noop, out, Expect::Noop)
    }

    /// Writes `QUIT`. In the TRANSACTION state a `+OK` answer means the marked messages were
    /// removed.
    pub fn write_quit(&mut self, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(matches!(
            self.state,
            State::Authorization | State::Transaction
        ))?;
        self.encode(&Command::Quit, out, Expect::Quit)
    }

    /// Feeds one received line (without its line end): a status line, or a line of a
    /// multi-line listing.
    ///
    /// Returns `Ok(None)` when the line only advanced the state (the `+OK` starting a listing),
    /// `Ok(Some(event))`, or an error. `-ERR` is `Err(SessionError::Rejected(..))`; a fatal
    /// error fails the session for good.
    pub fn handle_line<'l>(&mut self, line: &'l [u8]) -> Result<Option<Event<'l>>, SessionError> {
        self.check_ok()?;
        match self.reading {
            Reading::Body { .. } => Err(SessionError::Protocol(ProtocolError::OutOfSequence)),
            Reading::Listing { kind, lines } => self.listing_line(kind, lines, line),
            Reading::Status => self.status_line(line),
        }
    }

    fn listing_line<'l>(
        &mut self,
        kind: Listing,
        lines: u32,
        line: &'l [u8],
    ) -> Result<Option<Event<'l>>, SessionError> {
        if is_terminator(line) {
            self.reading = Reading::Status;
            self.pending = None;
            if kind == Listing::Capa {
                self.caps_known = true;
            }
            return Ok(Some(Event::End));
        }
        let limit = match kind {
            Listing::Capa | Listing::AuthList => MAX_CAPA_LINES,
            Listing::List | Listing::Uidl => self.config.max_listing_lines,
        };
        let lines = lines.saturating_add(1);
        if lines > limit {
            return Err(self.protocol(ProtocolError::TooManyLines));
        }
        self.reading = Reading::Listing { kind, lines };
        let line = unstuff_line(line);
        let bad = |s: &mut Self, e| s.protocol(ProtocolError::Response(e));
        Ok(Some(match kind {
            Listing::Capa => {
                self.caps.apply_capa_line(line);
                Event::Capability(line)
            }
            Listing::AuthList => {
                if let Some(name) = line.split(|&b| b == b' ').next() {
                    self.caps.sasl.insert_name(name);
                }
                Event::Mechanism(line)
            }
            Listing::List => match parse_scan_listing(line) {
                Ok((msg, size)) => Event::Listing { msg, size },
                Err(e) => return Err(bad(self, e)),
            },
            Listing::Uidl => match parse_uid_listing(line) {
                Ok((msg, uid)) => Event::Uid { msg, uid },
                Err(e) => return Err(bad(self, e)),
            },
        }))
    }

    fn status_line<'l>(&mut self, line: &'l [u8]) -> Result<Option<Event<'l>>, SessionError> {
        let Some(expect) = self.pending else {
            return Err(self.protocol(ProtocolError::UnsolicitedResponse));
        };
        let status = match parse_status_line(line) {
            Ok(s) => s,
            Err(e) => return Err(self.protocol(ProtocolError::Response(e))),
        };
        let text = status.text_or_empty();
        match status.indicator {
            Indicator::Continue => {
                if expect != Expect::Auth {
                    return Err(self.protocol(ProtocolError::UnexpectedContinuation));
                }
                self.text.set(text);
                self.pending = None;
                Ok(Some(Event::Challenge(text)))
            }
            Indicator::Err => {
                self.text.set(text);
                self.pending = None;
                let code = ResponseCode::parse_prefix(text).map(|(c, _)| c.kind());
                let stage = expect.stage();
                match expect {
                    Expect::Auth => self.in_auth = false,
                    Expect::User => self.user_sent = false,
                    Expect::Capa => {
                        // An old server without CAPA: nothing is known, which is not an error
                        // for the session (the client decides).
                        self.caps = Capabilities::default();
                        self.caps_known = false;
                    }
                    Expect::Quit => self.state = State::Closed,
                    _ => {}
                }
                Err(self.fail(SessionError::Rejected(Rejection { stage, code })))
            }
            Indicator::Ok => {
                self.text.set(text);
                self.pending = None;
                self.ok(expect, text).map(Some).or_else(|e| match e {
                    None => Ok(None),
                    Some(e) => Err(e),
                })
            }
        }
    }

    /// `+OK` to `expect`. `Err(None)` means "no event" (a listing started).
    fn ok<'l>(
        &mut self,
        expect: Expect,
        text: &'l [u8],
    ) -> Result<Event<'l>, Option<SessionError>> {
        let bad = |s: &mut Self, e| Some(s.protocol(ProtocolError::Response(e)));
        match expect {
            Expect::Greeting => {
                self.state = State::Authorization;
                match apop_timestamp(text) {
                    Some(ts) if ts.len() <= MAX_TIMESTAMP_LEN => {
                        self.timestamp.set(ts);
                        self.timestamp_ok = true;
                    }
                    _ => self.timestamp_ok = false,
                }
                Ok(Event::Greeting)
            }
            Expect::Capa => {
                self.caps = Capabilities::default();
                self.reading = Reading::Listing {
                    kind: Listing::Capa,
                    lines: 0,
                };
                self.pending = Some(Expect::Capa);
                Err(None)
            }
            Expect::AuthList => {
                self.reading = Reading::Listing {
                    kind: Listing::AuthList,
                    lines: 0,
                };
                self.pending = Some(Expect::AuthList);
                Err(None)
            }
            Expect::Stls => {
                self.state = State::TlsPending;
                Ok(Event::StlsGoAhead)
            }
            Expect::User => {
                self.user_sent = true;
                Ok(Event::Ok)
            }
            Expect::Pass | Expect::Apop | Expect::Auth => {
                self.in_auth = false;
                self.user_sent = false;
                self.state = State::Transaction;
                self.marked = 0;
                // Capabilities may change after login (RFC 2449 §5); what was read before
                // stays valid enough for TOP/UIDL, and is kept.
                Ok(Event::LoggedIn)
            }
            Expect::Stat => match parse_stat(text) {
                Ok((count, size)) => Ok(Event::Stat { count, size }),
                Err(e) => Err(bad(self, e)),
            },
            Expect::ListOne => match parse_scan_listing(text) {
                Ok((msg, size)) => Ok(Event::Listing { msg, size }),
                Err(e) => Err(bad(self, e)),
            },
            Expect::UidlOne => match parse_uid_listing(text) {
                Ok((msg, uid)) => Ok(Event::Uid { msg, uid }),
                Err(e) => Err(bad(self, e)),
            },
            Expect::ListAll | Expect::UidlAll => {
                let kind = if expect == Expect::ListAll {
                    Listing::List
                } else {
                    Listing::Uidl
                };
                self.reading = Reading::Listing { kind, lines: 0 };
                self.pending = Some(expect);
                Err(None)
            }
            Expect::Top | Expect::Retr => {
                self.reading = Reading::Body {
                    stage: expect.stage(),
                    dec: DotUnstuffer::new(),
                    bytes: 0,
                };
                self.pending = Some(expect);
                Ok(Event::BodyStart {
                    octets: announced_octets(text),
                })
            }
            Expect::Dele => {
                self.marked = self.marked.saturating_add(1);
                Ok(Event::Ok)
            }
            Expect::Rset => {
                self.marked = 0;
                Ok(Event::Ok)
            }
            Expect::Noop => Ok(Event::Ok),
            Expect::Quit => {
                let updated = self.state == State::Transaction;
                self.state = State::Closed;
                Ok(Event::Quit { updated })
            }
        }
    }

    /// Decodes raw body bytes of a RETR/TOP response (after [`Event::BodyStart`]) into
    /// `out`: removes the byte-stuffing dots, stops right after the terminator line.
    ///
    /// Output never exceeds input. Progress is guaranteed when `input` holds at least 3 bytes
    /// (or a whole terminator) and `out` at least 1; a `.` or `.` CR at the very end of
    /// `input` is left unconsumed until more bytes arrive. Line ends inside the message are
    /// passed through unchanged, so the output is byte-identical to the stored message.
    pub fn handle_body(
        &mut self,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<BodyProgress, SessionError> {
        self.check_ok()?;
        let Reading::Body {
            stage,
            mut dec,
            bytes,
        } = self.reading
        else {
            return Err(SessionError::Protocol(ProtocolError::OutOfSequence));
        };
        let (consumed, written, st) = dec.decode(input, out);
        let bytes = bytes.saturating_add(written as u64);
        if bytes > self.config.max_body_bytes {
            return Err(self.protocol(ProtocolError::MessageTooLarge));
        }
        let done = st == Unstuffed::Done;
        if done {
            self.reading = Reading::Status;
            self.pending = None;
            self.last_body = bytes;
        } else {
            self.reading = Reading::Body { stage, dec, bytes };
        }
        Ok(BodyProgress {
            consumed,
            written,
            done,
        })
    }
}

/// `N octets` at the start of a RETR/TOP `+OK` text.
fn announced_octets(text: &[u8]) -> Option<u64> {
    let mut words = text.split(|&b| b == b' ');
    let n = parse_u64(words.next()?).ok()?;
    let unit = words.next()?;
    unit.eq_ignore_ascii_case(b"octets").then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged_in() -> Session {
        let mut s = Session::new(SessionConfig::default());
        assert_eq!(s.handle_line(b"+OK ready").unwrap(), Some(Event::Greeting));
        assert_eq!(s.apop_timestamp(), None);
        let mut out = [0u8; 64];
        s.write_user("u", &mut out).unwrap();
        s.handle_line(b"+OK").unwrap();
        s.write_pass("p", &mut out).unwrap();
        assert_eq!(s.handle_line(b"+OK").unwrap(), Some(Event::LoggedIn));
        assert_eq!(s.state(), State::Transaction);
        s
    }

    #[test]
    fn listings_and_bodies() {
        let mut s = logged_in();
        let mut out = [0u8; 64];
        s.write_list(None, &mut out).unwrap();
        assert_eq!(s.handle_line(b"+OK 2 messages").unwrap(), None);
        assert_eq!(
            s.handle_line(b"1 120").unwrap(),
            Some(Event::Listing { msg: 1, size: 120 })
        );
        assert_eq!(
            s.handle_line(b"2 4294967400").unwrap(),
            Some(Event::Listing {
                msg: 2,
                size: 4_294_967_400
            })
        );
        assert_eq!(s.handle_line(b".").unwrap(), Some(Event::End));
        s.write_uidl(Some(2), &mut out).unwrap();
        assert_eq!(
            s.handle_line(b"+OK 2 abc").unwrap(),
            Some(Event::Uid {
                msg: 2,
                uid: b"abc"
            })
        );
        let n = s.write_retr(1, &mut out).unwrap();
        assert_eq!(&out[..n], b"RETR 1\r\n");
        assert_eq!(
            s.handle_line(b"+OK 12 octets").unwrap(),
            Some(Event::BodyStart { octets: Some(12) })
        );
        assert!(s.in_body());
        assert!(s.handle_line(b"x").is_err());
        let mut body = [0u8; 64];
        let p = s.handle_body(b"..a\r\nb\r\n.", &mut body).unwrap();
        assert_eq!((p.consumed, p.written, p.done), (8, 7, false));
        assert_eq!(&body[..7], b".a\r\nb\r\n");
        let p = s.handle_body(b".\r\n+OK", &mut body).unwrap();
        assert_eq!((p.consumed, p.written, p.done), (3, 0, true));
        assert_eq!(s.body_bytes(), 7);
        s.write_dele(1, &mut out).unwrap();
        assert_eq!(s.handle_line(b"+OK marked").unwrap(), Some(Event::Ok));
        assert_eq!(s.marked_for_deletion(), 1);
        s.write_rset(&mut out).unwrap();
        s.handle_line(b"+OK").unwrap();
        assert_eq!(s.marked_for_deletion(), 0);
        s.write_dele(1, &mut out).unwrap();
        s.handle_line(b"+OK").unwrap();
        s.write_quit(&mut out).unwrap();
        assert_eq!(
            s.handle_line(b"+OK bye").unwrap(),
            Some(Event::Quit { updated: true })
        );
        assert_eq!(s.state(), State::Closed);
        assert!(s.write_noop(&mut out).is_err());
    }

    #[test]
    fn rejections() {
        let mut s = logged_in();
        let mut out = [0u8; 64];
        s.write_retr(9, &mut out).unwrap();
        let e = s
            .handle_line(b"-ERR [SYS/TEMP] no such message")
            .unwrap_err();
        assert_eq!(
            e,
            SessionError::Rejected(Rejection {
                stage: Stage::Retr,
                code: Some(CodeKind::SysTemp)
            })
        );
        assert!(!e.is_fatal());
        assert_eq!(s.last_response_text(), b"[SYS/TEMP] no such message");
        // Still usable.
        s.write_noop(&mut out).unwrap();
        assert_eq!(s.handle_line(b"+OK").unwrap(), Some(Event::Ok));
        // Unsolicited line: fatal.
        assert!(s.handle_line(b"+OK extra").unwrap_err().is_fatal());
        assert_eq!(s.state(), State::Failed);
        assert!(s.write_noop(&mut out).is_err());
    }

    #[test]
    fn greeting_refused_and_garbage() {
        let mut s = Session::new(SessionConfig::default());
        let e = s.handle_line(b"-ERR [IN-USE] busy").unwrap_err();
        assert!(e.is_fatal());
        let mut s = Session::new(SessionConfig::default());
        assert!(s.handle_line(b"+ Hola mundo").unwrap_err().is_fatal());
        let mut s = Session::new(SessionConfig::default());
        assert!(s.handle_line(b"* OK imap").unwrap_err().is_fatal());
    }

    #[test]
    fn bounded_listing() {
        let mut s = logged_in();
        s.config.max_listing_lines = 3;
        let mut out = [0u8; 64];
        s.write_uidl(None, &mut out).unwrap();
        s.handle_line(b"+OK").unwrap();
        for _ in 0..3 {
            s.handle_line(b"1 a").unwrap();
        }
        assert_eq!(
            s.handle_line(b"1 a"),
            Err(SessionError::Protocol(ProtocolError::TooManyLines))
        );
    }

    #[test]
    fn bounded_body() {
        let mut s = logged_in();
        s.config.max_body_bytes = 10;
        let mut out = [0u8; 64];
        s.write_top(1, 0, &mut out).unwrap();
        s.handle_line(b"+OK").unwrap();
        let mut body = [0u8; 64];
        s.handle_body(b"0123456789", &mut body).unwrap();
        assert_eq!(
            s.handle_body(b"x", &mut body),
            Err(SessionError::Protocol(ProtocolError::MessageTooLarge))
        );
    }

    #[test]
    fn stls_and_capa() {
        let mut s = Session::new(SessionConfig::default());
        s.handle_line(b"+OK hi <a@b>").unwrap();
        assert_eq!(s.apop_timestamp(), Some(&b"<a@b>"[..]));
        let mut out = [0u8; 64];
        s.write_capa(&mut out).unwrap();
        assert_eq!(s.handle_line(b"+OK").unwrap(), None);
        assert_eq!(
            s.handle_line(b"STLS").unwrap(),
            Some(Event::Capability(b"STLS"))
        );
        s.handle_line(b"SASL PLAIN").unwrap();
        assert_eq!(s.handle_line(b".").unwrap(), Some(Event::End));
        assert!(s.capabilities().stls && s.capabilities_known());
        s.write_stls(&mut out).unwrap();
        assert_eq!(s.handle_line(b"+OK go").unwrap(), Some(Event::StlsGoAhead));
        assert_eq!(s.state(), State::TlsPending);
        assert!(s.write_capa(&mut out).is_err());
        s.tls_established().unwrap();
        assert!(s.is_tls() && !s.capabilities_known() && !s.capabilities().stls);
        assert!(s.write_stls(&mut out).is_err());
        // PASS before USER is out of sequence.
        assert_eq!(
            s.write_pass("x", &mut out),
            Err(SessionError::Protocol(ProtocolError::OutOfSequence))
        );
        // AUTH with challenges.
        s.write_auth("LOGIN", None, &mut out).unwrap();
        assert_eq!(
            s.handle_line(b"+ VXNlcm5hbWU6").unwrap(),
            Some(Event::Challenge(b"VXNlcm5hbWU6"))
        );
        s.write_auth_response(b"dQ==", &mut out).unwrap();
        assert!(matches!(
            s.handle_line(b"-ERR [AUTH] bad"),
            Err(SessionError::Rejected(Rejection {
                stage: Stage::Auth,
                code: Some(CodeKind::Auth)
            }))
        ));
        assert!(s.write_auth_response(b"x", &mut out).is_err());
        // A continuation to another command is a protocol error.
        s.write_capa(&mut out).unwrap();
        assert_eq!(
            s.handle_line(b"+ x"),
            Err(SessionError::Protocol(
                ProtocolError::UnexpectedContinuation
            ))
        );
    }

    #[test]
    fn octets_hint() {
        assert_eq!(announced_octets(b"1462 octets"), Some(1462));
        assert_eq!(announced_octets(b"message follows"), None);
        assert_eq!(announced_octets(b""), None);
    }
}
