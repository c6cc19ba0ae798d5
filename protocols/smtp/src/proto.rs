//! The sans-I/O SMTP session.
//!
//! [`Session`] never touches a socket. The driver (the async [`client`](crate::client), or a test)
//! encodes commands through the session's `write_*` methods, which register what reply each command
//! expects, and feeds every received reply line to [`Session::handle_line`], which returns an
//! [`Event`] whenever a reply is complete. Commands may be written several at a time
//! (PIPELINING): replies are matched to commands in order.
//!
//! The session's state only changes when a complete reply line has been consumed, so a driver
//! that is cancelled between calls leaves it consistent.
//!
//! ```
//! use postwire_smtp::proto::{Event, Session, SessionConfig};
//!
//! let mut s = Session::new(SessionConfig::default());
//! assert_eq!(s.handle_line(b"220 mail.example.test ESMTP").unwrap(), Some(Event::Greeting));
//! let mut out = [0u8; 64];
//! let n = s.write_ehlo(&mut out).unwrap();
//! assert_eq!(&out[..n], b"EHLO localhost\r\n");
//! assert_eq!(s.handle_line(b"250-mail.example.test").unwrap(), None);
//! assert_eq!(s.handle_line(b"250-PIPELINING").unwrap(), None);
//! assert_eq!(s.handle_line(b"250 SIZE 1000").unwrap(), Some(Event::Ehlo));
//! assert!(s.capabilities().pipelining);
//! assert_eq!(s.capabilities().size, Some(1000));
//! ```

use core::fmt;

use crate::wire::{
    Capabilities, Command, EncodeError, EnhancedCode, ReplyCode, ReplyError, parse_reply_line,
};

/// The step of an SMTP session a reply (or an error) belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Stage {
    /// The server's greeting (220).
    Greeting,
    /// EHLO.
    Ehlo,
    /// HELO (after the server refused EHLO).
    Helo,
    /// STARTTLS.
    StartTls,
    /// TLS negotiation after STARTTLS (or for implicit TLS).
    TlsHandshake,
    /// AUTH and its challenge/response exchange.
    Auth,
    /// MAIL FROM.
    MailFrom,
    /// RCPT TO.
    RcptTo,
    /// DATA (the go-ahead, 354).
    Data,
    /// The message body and its terminator (the final reply to the data).
    DataEnd,
    /// RSET.
    Rset,
    /// NOOP.
    Noop,
    /// QUIT.
    Quit,
}

impl Stage {
    /// A short name for messages: the SMTP command, or "greeting" / "message data".
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Greeting => "greeting",
            Stage::Ehlo => "EHLO",
            Stage::Helo => "HELO",
            Stage::StartTls => "STARTTLS",
            Stage::TlsHandshake => "TLS handshake",
            Stage::Auth => "AUTH",
            Stage::MailFrom => "MAIL FROM",
            Stage::RcptTo => "RCPT TO",
            Stage::Data => "DATA",
            Stage::DataEnd => "end of message data",
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

/// A refusal by the server: a reply whose code was not the one the step needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rejection {
    /// The step the refused command belonged to.
    pub stage: Stage,
    /// The reply code.
    pub code: ReplyCode,
    /// The RFC 3463 enhanced status code, when the reply carried one.
    pub enhanced: Option<EnhancedCode>,
}

impl Rejection {
    /// A 4xx reply: the same command may succeed later.
    pub fn is_transient(&self) -> bool {
        self.code.is_transient()
    }

    /// A 5xx reply: retrying the same command will not help.
    pub fn is_permanent(&self) -> bool {
        self.code.is_permanent()
    }

    /// 421: the server is closing the connection; nothing more can be sent on it.
    pub fn closes_connection(&self) -> bool {
        self.code.value() == 421
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} refused with {}", self.stage, self.code.value())?;
        if let Some(e) = self.enhanced {
            write!(f, " {e}")?;
        }
        Ok(())
    }
}

/// Violations of the SMTP protocol by the server, and local misuse of the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProtocolError {
    /// A reply line could not be parsed.
    Reply(ReplyError),
    /// A reply line was longer than the receive buffer.
    LineTooLong,
    /// A reply code outside 2xx–5xx, or a code that makes no sense for the command
    /// (e.g. 354 to MAIL FROM).
    UnexpectedCode {
        /// The step the reply answered.
        stage: Stage,
        /// The code received.
        code: ReplyCode,
    },
    /// The server sent a reply when no command was outstanding.
    UnsolicitedReply,
    /// Bytes arrived after the STARTTLS go-ahead and before the TLS handshake: a
    /// response-injection attempt (CVE-2011-0411 class). The connection must be dropped.
    DataAfterStartTls,
    /// The server kept sending SASL challenges beyond what the mechanism needs.
    AuthLoop,
    /// A SASL challenge was not valid base64 or was too long for the buffers.
    BadChallenge,
    /// A command was issued in a state where it is not allowed (a bug in the driver).
    OutOfSequence,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Reply(e) => write!(f, "malformed reply: {e}"),
            ProtocolError::LineTooLong => f.write_str("reply line longer than the receive buffer"),
            ProtocolError::UnexpectedCode { stage, code } => {
                write!(f, "unexpected reply code {} to {}", code.value(), stage)
            }
            ProtocolError::UnsolicitedReply => {
                f.write_str("reply received with no command outstanding")
            }
            ProtocolError::DataAfterStartTls => {
                f.write_str("server sent data after the STARTTLS go-ahead (possible injection)")
            }
            ProtocolError::AuthLoop => f.write_str("server kept sending SASL challenges"),
            ProtocolError::BadChallenge => f.write_str("invalid SASL challenge from server"),
            ProtocolError::OutOfSequence => f.write_str("command issued out of sequence"),
        }
    }
}

/// A completed reply, as interpreted for the command it answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Event {
    /// 220 greeting: the driver may send EHLO.
    Greeting,
    /// EHLO accepted; [`Session::capabilities`] holds what the server offers.
    Ehlo,
    /// EHLO refused with a code that invites HELO (500, 501, 502, 504, 550): send HELO.
    EhloRefused(ReplyCode),
    /// HELO accepted (no extensions available).
    Helo,
    /// 220 after STARTTLS: start the TLS handshake now, then call [`Session::tls_established`].
    StartTlsGoAhead,
    /// 334: the server sent a SASL challenge (base64 text of the reply line).
    AuthChallenge,
    /// 235: authenticated.
    Authenticated,
    /// MAIL FROM answered. `Err` holds the refusal.
    Mail(Result<(), Rejection>),
    /// RCPT TO number `index` (0-based, in sending order) answered.
    Recipient {
        /// Index of the recipient in the envelope.
        index: u16,
        /// Accepted, or the refusal.
        result: Result<(), Rejection>,
    },
    /// DATA answered: `Ok` = 354, the body may be sent.
    Data(Result<(), Rejection>),
    /// The reply to the end of the data: `Ok` = the server took responsibility for the message.
    MessageDone(Result<ReplyCode, Rejection>),
    /// RSET answered.
    Reset(Result<(), Rejection>),
    /// NOOP answered.
    Noop(Result<(), Rejection>),
    /// QUIT answered (any reply; the connection is over).
    Quit,
}

/// Errors of the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SessionError {
    /// The server broke the protocol. Fatal.
    Protocol(ProtocolError),
    /// The server refused a step that cannot be continued from (greeting, EHLO/HELO, STARTTLS,
    /// AUTH), or sent 421 (closing). 421 is fatal; the others leave the session usable for RSET
    /// or QUIT.
    Rejected(Rejection),
    /// A command could not be encoded: an argument contains CR, LF, NUL or characters not
    /// allowed there, or the output buffer is too small.
    Encode(EncodeError),
}

impl SessionError {
    /// Whether the connection can no longer be used after this error.
    pub fn is_fatal(&self) -> bool {
        match self {
            SessionError::Protocol(_) => true,
            SessionError::Rejected(r) => r.closes_connection(),
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

impl From<ProtocolError> for SessionError {
    fn from(e: ProtocolError) -> Self {
        SessionError::Protocol(e)
    }
}

impl From<EncodeError> for SessionError {
    fn from(e: EncodeError) -> Self {
        SessionError::Encode(e)
    }
}

/// Settings of a session.
#[derive(Clone, Copy, Debug)]
pub struct SessionConfig<'a> {
    /// The name sent with EHLO/HELO: a fully qualified domain name or an address literal such as
    /// `[192.0.2.1]`. Default `localhost`.
    pub client_domain: &'a str,
}

impl Default for SessionConfig<'_> {
    fn default() -> Self {
        SessionConfig {
            client_domain: "localhost",
        }
    }
}

/// Longest reply the session accepts, in lines. Longer multi-line replies are a protocol error
/// (a server that never ends a reply must not keep the client reading forever).
pub const MAX_REPLY_LINES: u16 = 128;

/// Size of the bounded copy of the last reply's text kept for error messages.
pub const REPLY_TEXT_LEN: usize = 192;

/// Which command a reply answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth,
    Mail,
    /// `count` RCPT replies starting at recipient `next`.
    Rcpt {
        next: u16,
        count: u16,
    },
    Data,
    DataEnd,
    Rset,
    Noop,
    Quit,
}

impl Expect {
    fn stage(self) -> Stage {
        match self {
            Expect::Greeting => Stage::Greeting,
            Expect::Ehlo => Stage::Ehlo,
            Expect::Helo => Stage::Helo,
            Expect::StartTls => Stage::StartTls,
            Expect::Auth => Stage::Auth,
            Expect::Mail => Stage::MailFrom,
            Expect::Rcpt { .. } => Stage::RcptTo,
            Expect::Data => Stage::Data,
            Expect::DataEnd => Stage::DataEnd,
            Expect::Rset => Stage::Rset,
            Expect::Noop => Stage::Noop,
            Expect::Quit => Stage::Quit,
        }
    }
}

const QUEUE: usize = 6;

/// Replies still outstanding, oldest first. RCPT replies are run-length encoded so any number of
/// pipelined recipients fits.
#[derive(Clone, Copy, Debug)]
struct Pending {
    items: [Expect; QUEUE],
    len: usize,
}

impl Pending {
    const fn new() -> Self {
        Pending {
            items: [Expect::Greeting; QUEUE],
            len: 0,
        }
    }

    fn push(&mut self, e: Expect) -> Result<(), SessionError> {
        // Merge consecutive RCPTs into one run.
        if let (Expect::Rcpt { count: 1, next: n2 }, Some(Expect::Rcpt { next, count })) = (
            e,
            self.len.checked_sub(1).and_then(|i| self.items.get_mut(i)),
        ) && next.checked_add(*count) == Some(n2)
            && let Some(c) = count.checked_add(1)
        {
            *count = c;
            return Ok(());
        }
        let slot = self
            .items
            .get_mut(self.len)
            .ok_or(SessionError::Protocol(ProtocolError::OutOfSequence))?;
        *slot = e;
        self.len += 1;
        Ok(())
    }

    fn front(&self) -> Option<Expect> {
        if self.len == 0 {
            None
        } else {
            self.items.first().copied()
        }
    }

    /// Removes one expected reply from the front.
    fn pop(&mut self) {
        if let Some(Expect::Rcpt { next, count }) = self.items.first_mut()
            && *count > 1
        {
            *next = next.saturating_add(1);
            *count -= 1;
            return;
        }
        if self.len > 0 {
            self.items.copy_within(1.., 0);
            self.len -= 1;
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn clear(&mut self) {
        self.len = 0;
    }
}

/// A reply being assembled line by line.
#[derive(Clone, Copy, Debug)]
struct Accum {
    code: Option<ReplyCode>,
    lines: u16,
    enhanced: Option<EnhancedCode>,
}

/// The bounded text of the last complete reply, kept for error messages.
#[derive(Clone, Copy)]
struct ReplyText {
    bytes: [u8; REPLY_TEXT_LEN],
    len: usize,
}

impl ReplyText {
    const fn new() -> Self {
        ReplyText {
            bytes: [0; REPLY_TEXT_LEN],
            len: 0,
        }
    }

    fn push(&mut self, text: &[u8]) {
        if self.len > 0 && self.len < REPLY_TEXT_LEN {
            self.bytes[self.len] = b' ';
            self.len += 1;
        }
        let room = REPLY_TEXT_LEN - self.len;
        let take = text.len().min(room);
        if let (Some(dst), Some(src)) = (
            self.bytes.get_mut(self.len..self.len + take),
            text.get(..take),
        ) {
            dst.copy_from_slice(src);
            self.len += take;
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

impl fmt::Debug for ReplyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", core::str::from_utf8(self.as_bytes()))
    }
}

/// Coarse connection state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// Waiting for the greeting or an EHLO/HELO reply.
    Opening,
    /// Greeted: EHLO/HELO done, no transaction open. Commands may be sent.
    Ready,
    /// STARTTLS accepted: the driver must run the TLS handshake now.
    TlsPending,
    /// A mail transaction is open (MAIL sent).
    Transaction,
    /// 354 received: the driver is sending the message data.
    Body,
    /// QUIT sent or the connection is otherwise finished.
    Closed,
    /// A fatal error happened; the session refuses everything.
    Failed,
}

/// The SMTP client session state machine (RFC 5321), without I/O.
#[derive(Clone, Debug)]
pub struct Session<'a> {
    config: SessionConfig<'a>,
    state: State,
    caps: Capabilities,
    server_name_len: usize,
    extended: bool,
    tls: bool,
    authenticated: bool,
    pending: Pending,
    accum: Accum,
    text: ReplyText,
    refusal: ReplyText,
    verdict: ReplyText,
    failure: Option<SessionError>,
}

impl<'a> Session<'a> {
    /// A new session that waits for the server greeting.
    pub fn new(config: SessionConfig<'a>) -> Self {
        let mut pending = Pending::new();
        // Cannot fail on an empty queue.
        let _ = pending.push(Expect::Greeting);
        Session {
            config,
            state: State::Opening,
            caps: Capabilities::default(),
            server_name_len: 0,
            extended: false,
            tls: false,
            authenticated: false,
            pending,
            accum: Accum {
                code: None,
                lines: 0,
                enhanced: None,
            },
            text: ReplyText::new(),
            refusal: ReplyText::new(),
            verdict: ReplyText::new(),
            failure: None,
        }
    }

    /// The coarse state.
    pub fn state(&self) -> State {
        self.state
    }

    /// What the server offered in its last EHLO reply (empty after HELO, and reset by STARTTLS).
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Whether the server answered EHLO (ESMTP) rather than only HELO.
    pub fn is_extended(&self) -> bool {
        self.extended
    }

    /// Whether the driver reported the connection as encrypted (implicit TLS or after STARTTLS).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether AUTH succeeded.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether replies are still outstanding.
    pub fn awaiting_reply(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The text of the last complete reply (lines joined with a space, bounded to
    /// [`REPLY_TEXT_LEN`] bytes). Server text: show it escaped, it is not trusted.
    pub fn last_reply_text(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// The text of the first refused MAIL, RCPT or DATA reply of the current transaction (empty
    /// when nothing was refused), bounded like [`last_reply_text`](Self::last_reply_text). With
    /// pipelining, later replies overwrite the last reply text; this keeps the first reason.
    pub fn first_refusal_text(&self) -> &[u8] {
        self.refusal.as_bytes()
    }

    /// The text of the server's verdict on the last message (the reply after the data, e.g.
    /// `2.0.0 Ok: queued as 4Fx1`), kept when later replies (QUIT) arrive.
    pub fn message_reply_text(&self) -> &[u8] {
        self.verdict.as_bytes()
    }

    /// The error that failed the session, if any. A failed session returns it again for every call.
    pub fn failure(&self) -> Option<SessionError> {
        self.failure
    }

    /// Marks the connection as encrypted from the start (implicit TLS, RFC 8314).
    pub fn set_implicit_tls(&mut self) {
        self.tls = true;
    }

    /// Tells the session the TLS handshake after STARTTLS succeeded. Everything learned before
    /// TLS is forgotten (RFC 3207 §4.2); the driver must send EHLO again.
    pub fn tls_established(&mut self) -> Result<(), SessionError> {
        self.check_ok()?;
        if self.state != State::TlsPending {
            return Err(self.fail(SessionError::Protocol(ProtocolError::OutOfSequence)));
        }
        self.tls = true;
        self.caps = Capabilities::default();
        self.extended = false;
        self.state = State::Opening;
        Ok(())
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
            self.pending.clear();
        }
        e
    }

    /// Records a fatal condition found by the driver (I/O error, timeout, closed connection), so
    /// the session refuses further use.
    pub fn abort(&mut self, reason: ProtocolError) -> SessionError {
        let e = SessionError::Protocol(reason);
        self.failure = Some(e);
        self.state = State::Failed;
        self.pending.clear();
        e
    }

    fn encode(
        &mut self,
        cmd: &Command<'_>,
        out: &mut [u8],
        expect: Expect,
    ) -> Result<usize, SessionError> {
        self.check_ok()?;
        let n = cmd.encode(out)?;
        self.pending.push(expect)?;
        Ok(n)
    }

    fn require(&mut self, ok: bool) -> Result<(), SessionError> {
        self.check_ok()?;
        if ok {
            Ok(())
        } else {
            Err(SessionError::Protocol(ProtocolError::OutOfSequence))
        }
    }

    /// Writes `EHLO <client_domain>` (after the greeting, or again after STARTTLS).
    pub fn write_ehlo(&mut self, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(self.state == State::Opening && self.pending.is_empty())?;
        let domain = self.config.client_domain;
        self.encode(&Command::Ehlo(domain), out, Expect::Ehlo)
    }

    /// Writes `HELO <client_domain>` (after [`Event::EhloRefused`]).
    pub fn write_helo(&mut self, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(self.state == State::Opening && self.pending.is_empty())?;
        let domain = self.config.client_domain;
        self.encode(&Command::Helo(domain), out, Expect::Helo)
    }

    /// Writes `STARTTLS`. Fails with [`ProtocolError::OutOfSequence`] when TLS is already active.
    pub fn write_starttls(&mut self, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(self.state == State::Ready && self.pending.is_empty() && !self.tls)?;
        self.encode(&Command::StartTls, out, Expect::StartTls)
    }

    /// Writes `AUTH <mechanism> [<initial response>]`; `initial_response` is already base64
    /// (`=` for an empty one, RFC 4954 §4).
    pub fn write_auth(
        &mut self,
        mechanism: &str,
        initial_response: Option<&[u8]>,
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        self.require(self.state == State::Ready && self.pending.is_empty() && !self.authenticated)?;
        self.encode(
            &Command::Auth {
                mechanism,
                initial_response,
            },
            out,
            Expect::Auth,
        )
    }

    /// Writes one SASL response line (base64, or `*` to cancel) after [`Event::AuthChallenge`].
    pub fn write_auth_response(
        &mut self,
        response: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        self.require(self.state == State::Ready && self.pending.is_empty())?;
        self.encode(&Command::AuthResponse(response), out, Expect::Auth)
    }

    /// Writes `MAIL FROM:<from>` with the parameters that the server offers and the message needs.
    ///
    /// `size` is announced when the server offers SIZE. `eight_bit` asks for `BODY=8BITMIME`
    /// and `smtputf8` for `SMTPUTF8`; both must have been checked against
    /// [`capabilities`](Self::capabilities) by the caller (the client does).
    pub fn write_mail_from(
        &mut self,
        from: &str,
        size: Option<u64>,
        eight_bit: bool,
        smtputf8: bool,
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        self.require(
            self.state == State::Ready && (self.pending.is_empty() || self.caps.pipelining),
        )?;
        let size = if self.caps.size.is_some() { size } else { None };
        let cmd = Command::MailFrom {
            address: from,
            size,
            body_8bitmime: eight_bit,
            smtputf8,
        };
        let n = self.encode(&cmd, out, Expect::Mail)?;
        self.state = State::Transaction;
        self.refusal = ReplyText::new();
        Ok(n)
    }

    /// Writes `RCPT TO:<to>` for recipient number `index` (0-based, consecutive).
    pub fn write_rcpt_to(
        &mut self,
        to: &str,
        index: u16,
        smtputf8: bool,
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        self.require(
            self.state == State::Transaction && (self.pending.is_empty() || self.caps.pipelining),
        )?;
        self.encode(
            &Command::RcptTo {
                address: to,
                smtputf8,
            },
            out,
            Expect::Rcpt {
                next: index,
                count: 1,
            },
        )
    }

    /// Writes `DATA`.
    pub fn write_data(&mut self, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(
            self.state == State::Transaction && (self.pending.is_empty() || self.caps.pipelining),
        )?;
        self.encode(&Command::Data, out, Expect::Data)
    }

    /// Registers that the data terminator (`CRLF.CRLF`, written by the driver with the body) was
    /// sent, so the next reply is the verdict on the message.
    pub fn data_sent(&mut self) -> Result<(), SessionError> {
        self.require(self.state == State::Body && self.pending.is_empty())?;
        self.pending.push(Expect::DataEnd)?;
        self.state = State::Ready;
        Ok(())
    }

    /// Writes `RSET` (ends an open transaction).
    pub fn write_rset(&mut self, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(
            matches!(self.state, State::Ready | State::Transaction) && self.pending.is_empty(),
        )?;
        let n = self.encode(&Command::Rset, out, Expect::Rset)?;
        self.state = State::Ready;
        Ok(n)
    }

    /// Writes `NOOP`.
    pub fn write_noop(&mut self, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(
            matches!(self.state, State::Ready | State::Transaction) && self.pending.is_empty(),
        )?;
        self.encode(&Command::Noop, out, Expect::Noop)
    }

    /// Writes `QUIT`. May follow the data terminator in the same write (pipelined).
    pub fn write_quit(&mut self, out: &mut [u8]) -> Result<usize, SessionError> {
        self.require(!matches!(
            self.state,
            State::Closed | State::TlsPending | State::Body
        ))?;
        let n = self.encode(&Command::Quit, out, Expect::Quit)?;
        self.state = State::Closed;
        Ok(n)
    }

    /// Feeds one received reply line (without its line terminator).
    ///
    /// Returns `Ok(None)` while a multi-line reply continues, `Ok(Some(event))` when a reply is
    /// complete, or an error. A fatal error fails the session for good.
    pub fn handle_line(&mut self, line: &[u8]) -> Result<Option<Event>, SessionError> {
        self.check_ok()?;
        let Some(expect) = self.pending.front() else {
            return Err(self.fail(SessionError::Protocol(ProtocolError::UnsolicitedReply)));
        };
        let parsed = match parse_reply_line(line) {
            Ok(p) => p,
            Err(e) => return Err(self.fail(SessionError::Protocol(ProtocolError::Reply(e)))),
        };
        match self.accum.code {
            None => {
                self.accum.code = Some(parsed.code);
                self.accum.lines = 0;
                self.accum.enhanced = EnhancedCode::parse_prefix(parsed.text)
                    .map(|(e, _)| e)
                    .filter(|e| e.class == parsed.code.class());
                self.text = ReplyText::new();
            }
            Some(code) if code != parsed.code => {
                return Err(self.fail(SessionError::Protocol(ProtocolError::Reply(
                    ReplyError::InconsistentCode,
                ))));
            }
            Some(_) => {}
        }
        self.accum.lines = self.accum.lines.saturating_add(1);
        if self.accum.lines > MAX_REPLY_LINES {
            return Err(self.fail(SessionError::Protocol(ProtocolError::Reply(
                ReplyError::TooManyLines,
            ))));
        }
        if expect == Expect::Ehlo && parsed.code.value() == 250 {
            if self.accum.lines == 1 {
                // First line: the server's name, then free text.
                self.server_name_len = parsed
                    .text
                    .iter()
                    .position(|&b| b == b' ')
                    .unwrap_or(parsed.text.len());
                self.caps = Capabilities::default();
            } else {
                self.caps.apply_ehlo_line(parsed.text);
            }
        }
        self.text.push(parsed.text);
        if !parsed.last {
            return Ok(None);
        }
        let code = parsed.code;
        let enhanced = self.accum.enhanced;
        self.accum.code = None;
        self.pending.pop();
        self.complete(expect, code, enhanced).map(Some)
    }

    fn complete(
        &mut self,
        expect: Expect,
        code: ReplyCode,
        enhanced: Option<EnhancedCode>,
    ) -> Result<Event, SessionError> {
        let stage = expect.stage();
        let rejection = Rejection {
            stage,
            code,
            enhanced,
        };
        if !code.is_valid_class() {
            return Err(
                self.fail(SessionError::Protocol(ProtocolError::UnexpectedCode {
                    stage,
                    code,
                })),
            );
        }
        // 421 at any point: the server is going away.
        if code.value() == 421 && expect != Expect::Quit {
            return Err(self.fail(SessionError::Rejected(rejection)));
        }
        let v = code.value();
        let ok = code.is_positive_completion();
        let in_transaction = matches!(
            expect,
            Expect::Mail | Expect::Rcpt { .. } | Expect::Data | Expect::DataEnd
        );
        if in_transaction && !ok && v != 354 && self.refusal.len == 0 {
            self.refusal = self.text;
        }
        let unexpected = SessionError::Protocol(ProtocolError::UnexpectedCode { stage, code });
        match expect {
            Expect::Greeting => {
                if v == 220 {
                    Ok(Event::Greeting)
                } else if code.is_transient() || code.is_permanent() {
                    // 554: no SMTP service here. Nothing else can be done on this connection.
                    self.failure = Some(SessionError::Rejected(rejection));
                    self.state = State::Failed;
                    Err(SessionError::Rejected(rejection))
                } else {
                    Err(self.fail(unexpected))
                }
            }
            Expect::Ehlo => {
                if v == 250 {
                    self.extended = true;
                    self.state = State::Ready;
                    Ok(Event::Ehlo)
                } else if matches!(v, 500 | 501 | 502 | 504 | 550) {
                    self.caps = Capabilities::default();
                    Ok(Event::EhloRefused(code))
                } else if code.is_transient() || code.is_permanent() {
                    Err(SessionError::Rejected(rejection))
                } else {
                    Err(self.fail(unexpected))
                }
            }
            Expect::Helo => {
                if v == 250 {
                    self.extended = false;
                    self.caps = Capabilities::default();
                    self.state = State::Ready;
                    Ok(Event::Helo)
                } else if code.is_transient() || code.is_permanent() {
                    Err(SessionError::Rejected(rejection))
                } else {
                    Err(self.fail(unexpected))
                }
            }
            Expect::StartTls => {
                if v == 220 {
                    self.state = State::TlsPending;
                    Ok(Event::StartTlsGoAhead)
                } else if code.is_transient() || code.is_permanent() {
                    Err(SessionError::Rejected(rejection))
                } else {
                    Err(self.fail(unexpected))
                }
            }
            Expect::Auth => {
                if v == 235 {
                    self.authenticated = true;
                    Ok(Event::Authenticated)
                } else if v == 334 {
                    Ok(Event::AuthChallenge)
                } else if code.is_transient() || code.is_permanent() {
                    Err(SessionError::Rejected(rejection))
                } else {
                    Err(self.fail(unexpected))
                }
            }
            Expect::Mail => {
                if ok {
                    Ok(Event::Mail(Ok(())))
                } else if code.is_transient() || code.is_permanent() {
                    // The transaction never opened; pipelined RCPT/DATA replies still follow.
                    Ok(Event::Mail(Err(rejection)))
                } else {
                    Err(self.fail(unexpected))
                }
            }
            Expect::Rcpt { next, .. } => {
                if ok {
                    Ok(Event::Recipient {
                        index: next,
                        result: Ok(()),
                    })
                } else if code.is_transient() || code.is_permanent() {
                    Ok(Event::Recipient {
                        index: next,
                        result: Err(rejection),
                    })
                } else {
                    Err(self.fail(unexpected))
                }
            }
            Expect::Data => {
                if v == 354 {
                    self.state = State::Body;
                    Ok(Event::Data(Ok(())))
                } else if code.is_transient() || code.is_permanent() {
                    self.state = State::Transaction;
                    Ok(Event::Data(Err(rejection)))
                } else {
                    Err(self.fail(unexpected))
                }
            }
            Expect::DataEnd => {
                self.verdict = self.text;
                if ok {
                    Ok(Event::MessageDone(Ok(code)))
                } else if code.is_transient() || code.is_permanent() {
                    Ok(Event::MessageDone(Err(rejection)))
                } else {
                    Err(self.fail(unexpected))
                }
            }
            Expect::Rset => {
                if ok {
                    Ok(Event::Reset(Ok(())))
                } else if code.is_transient() || code.is_permanent() {
                    Ok(Event::Reset(Err(rejection)))
                } else {
                    Err(self.fail(unexpected))
                }
            }
            Expect::Noop => {
                if ok {
                    Ok(Event::Noop(Ok(())))
                } else if code.is_transient() || code.is_permanent() {
                    Ok(Event::Noop(Err(rejection)))
                } else {
                    Err(self.fail(unexpected))
                }
            }
            Expect::Quit => {
                self.state = State::Closed;
                Ok(Event::Quit)
            }
        }
    }

    /// The server's name from the first line of its EHLO reply, when it fits the reply-text
    /// buffer.
    pub fn server_name_len(&self) -> usize {
        self.server_name_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greeted() -> Session<'static> {
        let mut s = Session::new(SessionConfig {
            client_domain: "client.example",
        });
        assert_eq!(
            s.handle_line(b"220 mx ESMTP").unwrap(),
            Some(Event::Greeting)
        );
        let mut out = [0u8; 128];
        let n = s.write_ehlo(&mut out).unwrap();
        assert_eq!(&out[..n], b"EHLO client.example\r\n");
        for l in [
            &b"250-mx"[..],
            b"250-PIPELINING",
            b"250-SIZE 100",
            b"250-AUTH PLAIN LOGIN",
            b"250 8BITMIME",
        ] {
            let _ = s.handle_line(l).unwrap();
        }
        assert_eq!(s.state(), State::Ready);
        s
    }

    #[test]
    fn pipelined_transaction() {
        let mut s = greeted();
        let mut out = [0u8; 512];
        let mut n = s
            .write_mail_from("a@x", Some(10), false, false, &mut out)
            .unwrap();
        n += s.write_rcpt_to("b@x", 0, false, &mut out[n..]).unwrap();
        n += s.write_rcpt_to("c@x", 1, false, &mut out[n..]).unwrap();
        n += s.write_rcpt_to("d@x", 2, false, &mut out[n..]).unwrap();
        n += s.write_data(&mut out[n..]).unwrap();
        assert_eq!(
            &out[..n],
            &b"MAIL FROM:<a@x> SIZE=10\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nRCPT TO:<d@x>\r\nDATA\r\n"[..]
        );
        assert_eq!(
            s.handle_line(b"250 2.1.0 Ok").unwrap(),
            Some(Event::Mail(Ok(())))
        );
        assert_eq!(
            s.handle_line(b"250 2.1.5 Ok").unwrap(),
            Some(Event::Recipient {
                index: 0,
                result: Ok(())
            })
        );
        let refused = s.handle_line(b"550 5.1.1 <c@x>: unknown").unwrap();
        match refused {
            Some(Event::Recipient {
                index: 1,
                result: Err(r),
            }) => {
                assert_eq!(r.code.value(), 550);
                assert_eq!(
                    r.enhanced.map(|e| (e.class, e.subject, e.detail)),
                    Some((5, 1, 1))
                );
                assert!(r.is_permanent());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            s.handle_line(b"450 4.2.0 busy").unwrap(),
            Some(Event::Recipient { index: 2, result: Err(r) }) if r.is_transient()
        ));
        assert_eq!(s.handle_line(b"354 go").unwrap(), Some(Event::Data(Ok(()))));
        assert_eq!(s.state(), State::Body);
        s.data_sent().unwrap();
        let n = s.write_quit(&mut out).unwrap();
        assert_eq!(&out[..n], b"QUIT\r\n");
        assert_eq!(
            s.handle_line(b"250 2.0.0 queued as X").unwrap(),
            Some(Event::MessageDone(Ok(ReplyCode::new(250).unwrap())))
        );
        assert_eq!(s.last_reply_text(), b"2.0.0 queued as X");
        assert_eq!(s.handle_line(b"221 bye").unwrap(), Some(Event::Quit));
        assert_eq!(s.state(), State::Closed);
    }

    #[test]
    fn ehlo_refused_then_helo() {
        let mut s = Session::new(SessionConfig::default());
        s.handle_line(b"220 old").unwrap();
        let mut out = [0u8; 64];
        s.write_ehlo(&mut out).unwrap();
        let ev = s.handle_line(b"502 what").unwrap();
        assert!(matches!(ev, Some(Event::EhloRefused(c)) if c.value() == 502));
        s.write_helo(&mut out).unwrap();
        assert_eq!(s.handle_line(b"250 hi").unwrap(), Some(Event::Helo));
        assert!(!s.is_extended());
        assert!(!s.capabilities().pipelining);
    }

    #[test]
    fn no_pipelining_without_capability() {
        let mut s = Session::new(SessionConfig::default());
        s.handle_line(b"220 x").unwrap();
        let mut out = [0u8; 128];
        s.write_ehlo(&mut out).unwrap();
        s.handle_line(b"250 x").unwrap();
        s.write_mail_from("a@x", None, false, false, &mut out)
            .unwrap();
        assert_eq!(
            s.write_rcpt_to("b@x", 0, false, &mut out),
            Err(SessionError::Protocol(ProtocolError::OutOfSequence))
        );
    }

    #[test]
    fn service_closing_is_fatal() {
        let mut s = greeted();
        let mut out = [0u8; 64];
        s.write_noop(&mut out).unwrap();
        let e = s.handle_line(b"421 4.3.2 shutting down").unwrap_err();
        assert!(e.is_fatal());
        assert_eq!(s.state(), State::Failed);
        assert_eq!(s.write_noop(&mut out), Err(e));
    }

    #[test]
    fn bad_codes_are_protocol_errors() {
        let mut s = Session::new(SessionConfig::default());
        assert!(matches!(
            s.handle_line(b"199 hello"),
            Err(SessionError::Protocol(ProtocolError::UnexpectedCode { .. }))
        ));
        let mut s = Session::new(SessionConfig::default());
        assert!(matches!(
            s.handle_line(b"22 x"),
            Err(SessionError::Protocol(ProtocolError::Reply(_)))
        ));
        let mut s = Session::new(SessionConfig::default());
        s.handle_line(b"220-a").unwrap();
        assert!(matches!(
            s.handle_line(b"250 b"),
            Err(SessionError::Protocol(ProtocolError::Reply(
                ReplyError::InconsistentCode
            )))
        ));
        let mut s = Session::new(SessionConfig::default());
        s.handle_line(b"220 a").unwrap();
        assert_eq!(
            s.handle_line(b"250 b"),
            Err(SessionError::Protocol(ProtocolError::UnsolicitedReply))
        );
    }

    #[test]
    fn endless_multiline_reply_is_bounded() {
        let mut s = Session::new(SessionConfig::default());
        let mut r = Ok(None);
        for _ in 0..1000 {
            r = s.handle_line(b"220-more");
            if r.is_err() {
                break;
            }
        }
        assert_eq!(
            r,
            Err(SessionError::Protocol(ProtocolError::Reply(
                ReplyError::TooManyLines
            )))
        );
    }

    #[test]
    fn starttls_forgets_capabilities() {
        let mut s = Session::new(SessionConfig::default());
        s.handle_line(b"220 x").unwrap();
        let mut out = [0u8; 64];
        s.write_ehlo(&mut out).unwrap();
        s.handle_line(b"250-x").unwrap();
        s.handle_line(b"250-STARTTLS").unwrap();
        s.handle_line(b"250 AUTH PLAIN").unwrap();
        assert!(s.capabilities().starttls);
        s.write_starttls(&mut out).unwrap();
        assert_eq!(
            s.handle_line(b"220 go ahead").unwrap(),
            Some(Event::StartTlsGoAhead)
        );
        assert_eq!(s.state(), State::TlsPending);
        assert!(s.write_noop(&mut out).is_err());
        s.tls_established().unwrap();
        assert!(s.is_tls());
        assert!(!s.capabilities().starttls);
        assert!(!s.capabilities().auth.has_plain());
        // STARTTLS cannot be repeated.
        s.write_ehlo(&mut out).unwrap();
        s.handle_line(b"250 x").unwrap();
        assert!(s.write_starttls(&mut out).is_err());
    }

    #[test]
    fn auth_challenges() {
        let mut s = greeted();
        let mut out = [0u8; 64];
        let n = s.write_auth("LOGIN", None, &mut out).unwrap();
        assert_eq!(&out[..n], b"AUTH LOGIN\r\n");
        assert_eq!(
            s.handle_line(b"334 VXNlcm5hbWU6").unwrap(),
            Some(Event::AuthChallenge)
        );
        s.write_auth_response(b"YQ==", &mut out).unwrap();
        assert_eq!(
            s.handle_line(b"334 UGFzc3dvcmQ6").unwrap(),
            Some(Event::AuthChallenge)
        );
        s.write_auth_response(b"Yg==", &mut out).unwrap();
        assert!(matches!(
            s.handle_line(b"535 5.7.8 bad"),
            Err(SessionError::Rejected(Rejection {
                stage: Stage::Auth,
                ..
            }))
        ));
        assert!(!s.is_authenticated());
    }
}
