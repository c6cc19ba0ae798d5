//! An in-process, memory-backed mail peer for tests and demos: SMTP submission, IMAP and
//! POP3 over TLS (implicit and STARTTLS) on loopback.
//!
//! **This is a test and demonstration peer, not a mail server.** It keeps everything in
//! memory, trusts every connection from loopback, compares passwords in plain text, does not
//! relay, queue, lock maildrops or parse MIME beyond the top-level header, and it never
//! persists anything. It exists so that `postwire demo` and the tests can run the real
//! postwire clients against a strict, RFC-shaped peer without installing Postfix or Dovecot.
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! use postwire_host_sim::peer::{Peer, PeerConfig, Protocol, Tls};
//! let peer = Peer::start(PeerConfig::default()).await?;
//! let port = peer.port(Protocol::Imap, Tls::Implicit);
//! let anchor = peer.ca_der(); // the trust anchor for the client (also `ca_pem`, `ca_set`)
//! # let _ = (port, anchor);
//! # Ok(()) }
//! ```
//!
//! What it speaks:
//! - **SMTP** submission (RFC 5321, 6409, 3207, 4954): EHLO/HELO, STARTTLS, AUTH PLAIN and
//!   LOGIN (after TLS only), MAIL (SIZE, BODY, SMTPUTF8), RCPT, DATA with dot-unstuffing,
//!   RSET, NOOP, VRFY (252), QUIT; PIPELINING, 8BITMIME, SMTPUTF8, SIZE and
//!   ENHANCEDSTATUSCODES are advertised. Recipients must be `user@domain` of a configured
//!   user (else 550 5.1.1); the message lands unchanged in that user's INBOX.
//! - **IMAP4rev1** (RFC 3501) with IDLE, MOVE, UIDPLUS, LITERAL+, SASL-IR, UNSELECT,
//!   NAMESPACE, AUTH=PLAIN: see [`imap`](self#imap) below.
//! - **POP3** (RFC 1939, 2449, 2595, 5034): CAPA, STLS, USER/PASS, AUTH PLAIN, STAT, LIST,
//!   UIDL, TOP, RETR, DELE, RSET, NOOP, QUIT; the maildrop is the INBOX as it was at login and
//!   deletions are committed at QUIT only.
//!
//! # IMAP
//! Commands: CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE PLAIN (with or without
//! an initial response), ID, LIST, LSUB, NAMESPACE, CREATE, DELETE, RENAME, SUBSCRIBE and
//! UNSUBSCRIBE (no-ops), STATUS, SELECT, EXAMINE, CHECK, CLOSE, UNSELECT, EXPUNGE,
//! UID EXPUNGE, (UID) FETCH, (UID) SEARCH, (UID) STORE, (UID) COPY, (UID) MOVE, APPEND (sync
//! and LITERAL+ literals, flags, date) and IDLE. FETCH items: UID, FLAGS, INTERNALDATE,
//! RFC822.SIZE, ENVELOPE (addresses parsed simply: `Name <a@b>`, `a@b`, groups flattened),
//! BODYSTRUCTURE and BODY (without extension data; multiparts split on their boundary and
//! message/rfc822 parts described, up to 8 levels), RFC822, RFC822.HEADER, RFC822.TEXT,
//! BODY[...] and BODY.PEEK[...] with sections `""`, `TEXT`, `HEADER`, `HEADER.FIELDS (..)`,
//! `HEADER.FIELDS.NOT (..)`, part numbers (`1`, `2.1`), `n.MIME`, and `<origin.count>`
//! partials; a non-PEEK body section sets `\Seen`.
//!
//! SEARCH keys: ALL, sequence sets, UID, the flag keys (SEEN, UNSEEN, ANSWERED, FLAGGED,
//! DELETED, DRAFT and their UN- forms, KEYWORD, UNKEYWORD, NEW/RECENT (never true)/OLD),
//! FROM, TO, CC, BCC, SUBJECT, HEADER, BODY, TEXT (case-insensitive substring), LARGER,
//! SMALLER, BEFORE/ON/SINCE (internal date), NOT, OR and parenthesised lists; CHARSET
//! UTF-8 or US-ASCII. Not supported: CONDSTORE/QRESYNC, ESEARCH, BINARY, SORT, THREAD,
//! QUOTA, ACL, SPECIAL-USE, SENT* search keys, `\Recent` (always 0); ENABLE is accepted
//! but enables nothing. One hierarchy delimiter, `/`; mailbox names are kept as sent
//! (modified UTF-7 is not decoded).
//!
//! Changes made by other connections, by SMTP delivery, POP3 and [`PeerHandle::deliver`]
//! are reported to a selected mailbox as `* n EXPUNGE`, `* n EXISTS` and
//! `* n FETCH (UID u FLAGS (..))` during IDLE and at the end of every command except FETCH,
//! STORE and SEARCH (RFC 3501 §7.4.1 forbids EXPUNGE there).
//!
//! # Fault injection
//! [`PeerHandle::cut`] arms a one-shot rule: the next client command of a protocol whose
//! transcript line (passwords masked, see below) satisfies a predicate makes the peer drop
//! that TCP connection without a TLS close_notify, at a chosen [`CutPoint`]: before the
//! command is carried out, after it was carried out but before any of its response is sent,
//! or right after its response. For SMTP `DATA` the "command" is the whole transaction up to
//! the final dot (the 354 go-ahead is always sent): `BeforeReply` delivers the message and
//! cuts instead of the 250. For POP3 `QUIT`, deletions are committed before the cut.
//!
//! # Transcript
//! [`PeerConfig::transcript`] receives every line in both directions (message bodies and
//! literals summarised as byte counts) and connection events. Passwords never appear: the
//! arguments of `LOGIN`'s password, `PASS`, `AUTH`/`AUTHENTICATE` initial responses and SASL
//! continuation lines are shown as `***`.

mod imap;
mod mime;
mod pop3;
mod smtp;
pub mod store;
mod tls;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use store::{Store, now_unix};
pub use store::{StoreError, StoredMessage};

use crate::tls::CaSet;

/// A protocol of the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// SMTP submission.
    Smtp,
    /// IMAP4rev1.
    Imap,
    /// POP3.
    Pop3,
}

impl Protocol {
    /// `SMTP`, `IMAP` or `POP3`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Smtp => "SMTP",
            Self::Imap => "IMAP",
            Self::Pop3 => "POP3",
        }
    }

    /// The URL scheme the postwire CLI uses for this protocol and TLS mode
    /// (`smtps`/`smtp`, `imaps`/`imap`, `pop3s`/`pop3`).
    pub fn scheme(self, tls: Tls) -> &'static str {
        match (self, tls) {
            (Self::Smtp, Tls::Implicit) => "smtps",
            (Self::Smtp, Tls::StartTls) => "smtp",
            (Self::Imap, Tls::Implicit) => "imaps",
            (Self::Imap, Tls::StartTls) => "imap",
            (Self::Pop3, Tls::Implicit) => "pop3s",
            (Self::Pop3, Tls::StartTls) => "pop3",
        }
    }
}

/// How a listener starts TLS. There are no plaintext-only listeners: on a STARTTLS port
/// authentication is refused until TLS is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tls {
    /// TLS from the first byte (RFC 8314).
    Implicit,
    /// Plain greeting, then STARTTLS / STLS.
    StartTls,
}

/// A user of the peer. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerUser {
    /// Login name; the address is `name@domain`.
    pub name: String,
    /// Password.
    pub password: String,
}

impl PeerUser {
    /// A user.
    pub fn new(name: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for PeerUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerUser")
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Who sent a transcript line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The client sent it (`C:`).
    Client,
    /// The peer sent it (`S:`).
    Server,
    /// A connection event: connected, TLS up, closed, cut by a fault.
    Event,
}

/// One line of the transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranscriptLine {
    /// The protocol of the connection.
    pub protocol: Protocol,
    /// Connection number (unique over all protocols of one peer, from 1).
    pub conn: u64,
    /// Who sent it.
    pub direction: Direction,
    /// The line without CRLF (secrets masked, message bodies summarised).
    pub text: String,
}

impl fmt::Display for TranscriptLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = match self.direction {
            Direction::Client => "C:",
            Direction::Server => "S:",
            Direction::Event => "--",
        };
        write!(
            f,
            "{}#{} {d} {}",
            self.protocol.name(),
            self.conn,
            self.text
        )
    }
}

/// Receives the transcript (called on the peer's tasks; keep it quick).
pub type TranscriptSink = Arc<dyn Fn(&TranscriptLine) + Send + Sync>;

/// Configuration of [`Peer::start`].
#[derive(Clone)]
pub struct PeerConfig {
    /// Mail domain of the users (`name@domain`); `localhost` is accepted too.
    pub domain: String,
    /// Users (each gets an INBOX).
    pub users: Vec<PeerUser>,
    /// Extra mailboxes every user gets at start (e.g. `Commands`, `Done`).
    pub mailboxes: Vec<String>,
    /// Largest message accepted by SMTP (advertised as SIZE) and APPEND, in bytes.
    pub max_message_size: usize,
    /// Whether SMTP requires AUTH before MAIL (530 5.7.0 otherwise). Default: true.
    pub smtp_require_auth: bool,
    /// A connection that sends nothing for this long is closed (IMAP IDLE included).
    pub idle_timeout: Duration,
    /// Where transcript lines go (none by default).
    pub transcript: Option<TranscriptSink>,
}

/// The default users' names and passwords: `device` / `device-secret` and
/// `operator` / `operator-secret`, in domain `postwire.test`.
pub const DEMO_USERS: [(&str, &str); 2] =
    [("device", "device-secret"), ("operator", "operator-secret")];

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            domain: "postwire.test".to_string(),
            users: DEMO_USERS
                .iter()
                .map(|(n, p)| PeerUser::new(*n, *p))
                .collect(),
            mailboxes: Vec::new(),
            max_message_size: 10 * 1024 * 1024,
            smtp_require_auth: true,
            // RFC 3501 §5.4: an autologout timer of at least 30 minutes (IDLE included).
            idle_timeout: Duration::from_secs(30 * 60),
            transcript: None,
        }
    }
}

impl fmt::Debug for PeerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerConfig")
            .field("domain", &self.domain)
            .field("users", &self.users)
            .field("mailboxes", &self.mailboxes)
            .field("max_message_size", &self.max_message_size)
            .field("smtp_require_auth", &self.smtp_require_auth)
            .field("idle_timeout", &self.idle_timeout)
            .field("transcript", &self.transcript.is_some())
            .finish()
    }
}

impl PeerConfig {
    /// This configuration with `sink` receiving the transcript.
    pub fn with_transcript(
        mut self,
        sink: impl Fn(&TranscriptLine) + Send + Sync + 'static,
    ) -> Self {
        self.transcript = Some(Arc::new(sink));
        self
    }

    /// This configuration with only the given users.
    pub fn with_users(mut self, users: Vec<PeerUser>) -> Self {
        self.users = users;
        self
    }

    /// This configuration with `name` created for every user at start.
    pub fn with_mailbox(mut self, name: impl Into<String>) -> Self {
        self.mailboxes.push(name.into());
        self
    }
}

/// Where [`PeerHandle::cut`] drops the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutPoint {
    /// As soon as the command was read: it has no effect.
    BeforeProcessing,
    /// After the command took effect, before any of its response is sent.
    BeforeReply,
    /// After the complete response was sent.
    AfterReply,
}

struct FaultRule {
    protocol: Protocol,
    point: CutPoint,
    matches: Box<dyn Fn(&str) -> bool + Send + Sync>,
    state: Arc<FaultState>,
}

#[derive(Default)]
struct FaultState {
    fired: AtomicBool,
    disarmed: AtomicBool,
}

/// An armed fault (see [`PeerHandle::cut`]).
#[derive(Clone)]
pub struct Fault {
    state: Arc<FaultState>,
}

impl Fault {
    /// Whether the fault has cut a connection.
    pub fn fired(&self) -> bool {
        self.state.fired.load(Ordering::SeqCst)
    }

    /// Disarms the fault if it has not fired yet.
    pub fn disarm(&self) {
        self.state.disarmed.store(true, Ordering::SeqCst);
    }
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fault")
            .field("fired", &self.fired())
            .finish()
    }
}

/// State shared by the listeners, the sessions and the handle.
pub(crate) struct Shared {
    store: Mutex<Store>,
    changed: watch::Sender<u64>,
    pub(crate) domain: String,
    pub(crate) max_message_size: usize,
    pub(crate) smtp_require_auth: bool,
    pub(crate) idle_timeout: Duration,
    transcript: Option<TranscriptSink>,
    faults: Mutex<Vec<FaultRule>>,
    next_conn: AtomicU64,
    acceptor: TlsAcceptor,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Reads the store.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        f(&lock(&self.store))
    }

    /// Changes the store and tells the watching sessions.
    pub(crate) fn modify<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let r = f(&mut lock(&self.store));
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        r
    }

    /// A receiver that sees every change.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The account name of a local address (`user@domain` or `user@localhost`), if any.
    pub(crate) fn local_user(&self, addr: &str) -> Option<String> {
        let (local, domain) = addr.rsplit_once('@')?;
        if !(domain.eq_ignore_ascii_case(&self.domain) || domain.eq_ignore_ascii_case("localhost"))
        {
            return None;
        }
        self.read(|s| s.account(local).ok().map(|a| a.name.clone()))
    }

    /// Checks credentials; the login name may be `name` or `name@domain`.
    pub(crate) fn check_login(&self, user: &str, password: &str) -> Option<String> {
        let name = match user.rsplit_once('@') {
            Some((l, d))
                if d.eq_ignore_ascii_case(&self.domain) || d.eq_ignore_ascii_case("localhost") =>
            {
                l
            }
            _ => user,
        };
        self.read(|s| s.check_password(name, password))
    }

    fn note(&self, protocol: Protocol, conn: u64, direction: Direction, text: String) {
        if let Some(sink) = &self.transcript {
            sink(&TranscriptLine {
                protocol,
                conn,
                direction,
                text,
            });
        }
    }

    fn take_fault(&self, protocol: Protocol, line: &str) -> Option<CutPoint> {
        let mut faults = lock(&self.faults);
        faults.retain(|r| !r.state.disarmed.load(Ordering::SeqCst));
        let i = faults
            .iter()
            .position(|r| r.protocol == protocol && (r.matches)(line))?;
        let rule = faults.remove(i);
        rule.state.fired.store(true, Ordering::SeqCst);
        Some(rule.point)
    }
}

// ---------------------------------------------------------------------------- connections

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    Closed,
}

/// A line read by [`Conn::read_line`].
pub(crate) enum Line {
    /// A line without its CRLF.
    Ok(Vec<u8>),
    /// A line longer than allowed (skipped up to its CRLF).
    TooLong,
    /// The client closed the connection.
    Eof,
}

/// A response being built, with its transcript lines.
#[derive(Default)]
pub(crate) struct Reply {
    pub(crate) bytes: Vec<u8>,
    notes: Vec<String>,
    cur: String,
}

impl Reply {
    /// A reply of one line.
    pub(crate) fn line(s: &str) -> Self {
        let mut r = Self::default();
        r.push_line(s);
        r
    }

    /// Appends text to the current line.
    pub(crate) fn push(&mut self, s: &str) {
        self.bytes.extend_from_slice(s.as_bytes());
        self.cur.push_str(s);
    }

    /// Appends an IMAP literal `{N}` CRLF bytes (summarised in the transcript).
    pub(crate) fn literal(&mut self, data: &[u8]) {
        let head = format!("{{{}}}\r\n", data.len());
        self.bytes.extend_from_slice(head.as_bytes());
        self.bytes.extend_from_slice(data);
        self.cur
            .push_str(&format!("{{{}}} <{} bytes>", data.len(), data.len()));
    }

    /// Ends the current line (CRLF).
    pub(crate) fn end(&mut self) {
        self.bytes.extend_from_slice(b"\r\n");
        self.notes.push(std::mem::take(&mut self.cur));
    }

    /// Appends a complete line.
    pub(crate) fn push_line(&mut self, s: &str) {
        self.push(s);
        self.end();
    }

    /// Appends raw bytes summarised as one transcript line (a POP3 message body).
    pub(crate) fn push_blob(&mut self, data: &[u8], note: String) {
        self.bytes.extend_from_slice(data);
        self.notes.push(note);
    }
}

/// What a session does after a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Read the next command.
    Continue,
    /// Close the connection.
    Close,
    /// Run the TLS handshake, then read the next command.
    StartTls,
}

/// One client connection.
pub(crate) struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    discarding: bool,
    pub(crate) id: u64,
    pub(crate) protocol: Protocol,
    pub(crate) shared: Arc<Shared>,
}

const READ_CHUNK: usize = 16 * 1024;

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

impl Conn {
    /// Whether TLS is up.
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    async fn fill_raw(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; READ_CHUNK];
        let n = match &mut self.stream {
            Stream::Plain(s) => s.read(&mut tmp).await?,
            Stream::Tls(s) => s.read(&mut tmp).await?,
            Stream::Closed => 0,
        };
        self.buf.extend_from_slice(tmp.get(..n).unwrap_or_default());
        Ok(n)
    }

    /// Reads more bytes within the idle timeout; false at end of stream. Cancel-safe.
    async fn fill(&mut self) -> io::Result<bool> {
        match tokio::time::timeout(self.shared.idle_timeout, self.fill_raw()).await {
            Ok(r) => r.map(|n| n > 0),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout")),
        }
    }

    /// Reads one CRLF-terminated line of at most `max` bytes. Cancel-safe (all state lives
    /// in `self`).
    pub(crate) async fn read_line(&mut self, max: usize) -> io::Result<Line> {
        loop {
            if let Some(i) = find_crlf(&self.buf) {
                let mut line: Vec<u8> = self.buf.drain(..i + 2).collect();
                line.truncate(i);
                if self.discarding || i > max {
                    self.discarding = false;
                    return Ok(Line::TooLong);
                }
                return Ok(Line::Ok(line));
            }
            if self.buf.len() > max {
                self.discarding = true;
                let keep_cr = self.buf.last() == Some(&b'\r');
                self.buf.clear();
                if keep_cr {
                    self.buf.push(b'\r');
                }
            }
            if !self.fill().await? {
                return Ok(Line::Eof);
            }
        }
    }

    /// Reads exactly `n` bytes (a literal).
    pub(crate) async fn read_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.stream {
            Stream::Plain(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Stream::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Stream::Closed => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Sends a reply and records it in the transcript.
    pub(crate) async fn send(&mut self, reply: Reply) -> io::Result<()> {
        for n in reply.notes {
            self.note(Direction::Server, n);
        }
        if !reply.cur.is_empty() {
            self.note(Direction::Server, reply.cur);
        }
        match tokio::time::timeout(self.shared.idle_timeout, self.write_raw(&reply.bytes)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timeout")),
        }
    }

    /// Sends one line.
    pub(crate) async fn send_line(&mut self, s: &str) -> io::Result<()> {
        self.send(Reply::line(s)).await
    }

    /// A transcript line.
    pub(crate) fn note(&self, direction: Direction, text: impl Into<String>) {
        self.shared
            .note(self.protocol, self.id, direction, text.into());
    }

    /// Consumes a matching fault rule for this command line.
    pub(crate) fn take_fault(&self, line: &str) -> Option<CutPoint> {
        let cut = self.shared.take_fault(self.protocol, line);
        if let Some(p) = cut {
            self.note(
                Direction::Event,
                format!("fault injection armed: cut {p:?}"),
            );
        }
        cut
    }

    /// Runs the server side of the TLS handshake on the plain connection. Bytes the client
    /// sent after the STARTTLS command (before the handshake) are discarded, never executed.
    pub(crate) async fn start_tls(&mut self) -> io::Result<()> {
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Closed) else {
            return Err(io::Error::other("TLS is already active"));
        };
        if !self.buf.is_empty() {
            self.note(
                Direction::Event,
                format!(
                    "discarded {} bytes sent before the TLS handshake",
                    self.buf.len()
                ),
            );
            self.buf.clear();
        }
        let accept = self.shared.acceptor.accept(tcp);
        let tls = match tokio::time::timeout(self.shared.idle_timeout, accept).await {
            Ok(r) => r?,
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake")),
        };
        let (_, session) = tls.get_ref();
        let what = format!(
            "TLS established ({:?}, {:?})",
            session.protocol_version(),
            session.negotiated_cipher_suite().map(|c| c.suite())
        );
        self.stream = Stream::Tls(Box::new(tls));
        self.note(Direction::Event, what);
        Ok(())
    }

    /// Sends `reply` honouring a fault `cut`, and carries out `flow`. Returns whether the
    /// session goes on.
    pub(crate) async fn finish(
        &mut self,
        cut: Option<CutPoint>,
        reply: Reply,
        flow: Flow,
    ) -> io::Result<bool> {
        if cut == Some(CutPoint::BeforeReply) {
            self.note(
                Direction::Event,
                "connection cut before the reply (fault injection)",
            );
            return Ok(false);
        }
        self.send(reply).await?;
        if cut == Some(CutPoint::AfterReply) {
            self.note(
                Direction::Event,
                "connection cut after the reply (fault injection)",
            );
            return Ok(false);
        }
        match flow {
            Flow::Continue => Ok(true),
            Flow::Close => Ok(false),
            Flow::StartTls => {
                self.start_tls().await?;
                Ok(true)
            }
        }
    }

    /// Whether a fault cut the connection before processing (and notes it).
    pub(crate) fn cut_now(&self, cut: Option<CutPoint>) -> bool {
        if cut == Some(CutPoint::BeforeProcessing) {
            self.note(
                Direction::Event,
                "connection cut before processing (fault injection)",
            );
            true
        } else {
            false
        }
    }
}

// ---------------------------------------------------------------------------- helpers

/// Decodes strict base64 (`=` alone is the empty response of SASL-IR).
pub(crate) fn b64_decode(data: &[u8]) -> Option<Vec<u8>> {
    if data == b"=" {
        return Some(Vec::new());
    }
    let mut out = vec![0u8; postwire_core::base64::decoded_len_max(data.len())];
    let n = postwire_core::base64::decode_into(data, &mut out).ok()?;
    out.truncate(n);
    Some(out)
}

/// Parses a SASL PLAIN message (`authzid NUL authcid NUL password`); an authorization
/// identity other than the user's own is refused.
pub(crate) fn sasl_plain(msg: &[u8]) -> Option<(String, String)> {
    let mut parts = msg.split(|&b| b == 0);
    let authz = parts.next()?;
    let user = std::str::from_utf8(parts.next()?).ok()?;
    let pass = std::str::from_utf8(parts.next()?).ok()?;
    if parts.next().is_some() || (!authz.is_empty() && authz != user.as_bytes()) {
        return None;
    }
    Some((user.to_string(), pass.to_string()))
}

/// A line for the transcript (lossy UTF-8, control characters escaped).
pub(crate) fn show(line: &[u8]) -> String {
    crate::send::printable(line)
}

// ---------------------------------------------------------------------------- peer

/// Starts peers (see [`Peer::start`]).
#[derive(Debug)]
pub struct Peer;

impl Peer {
    /// Creates the certificates and the users' mailboxes and starts listening on
    /// 127.0.0.1 (ephemeral ports, one per protocol and TLS mode). Must be called within a
    /// tokio runtime; the peer runs on it until the handle is dropped.
    pub async fn start(config: PeerConfig) -> io::Result<PeerHandle> {
        let certs = tls::make_certs()?;
        let mut store = Store::new();
        for u in &config.users {
            store.add_account(&u.name, &u.password);
            for m in &config.mailboxes {
                store
                    .create(&u.name, m)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            }
        }
        let (changed, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            changed,
            domain: config.domain.clone(),
            max_message_size: config.max_message_size,
            smtp_require_auth: config.smtp_require_auth,
            idle_timeout: config.idle_timeout,
            transcript: config.transcript.clone(),
            faults: Mutex::new(Vec::new()),
            next_conn: AtomicU64::new(1),
            acceptor: TlsAcceptor::from(certs.config.clone()),
        });
        let mut ports = HashMap::new();
        let mut tasks = Vec::new();
        for protocol in [Protocol::Smtp, Protocol::Imap, Protocol::Pop3] {
            for tls in [Tls::Implicit, Tls::StartTls] {
                let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
                let addr = listener.local_addr()?;
                ports.insert((protocol, tls), addr);
                tasks.push(tokio::spawn(accept_loop(
                    listener,
                    shared.clone(),
                    protocol,
                    tls,
                )));
            }
        }
        Ok(PeerHandle {
            shared,
            ports,
            tasks,
            ca_der: certs.ca_der,
            ca_pem: certs.ca_pem,
            users: config.users,
        })
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, protocol: Protocol, tls: Tls) {
    // Connection tasks live in the set: aborting this task (the handle is dropped) aborts
    // them all.
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, addr)) = accepted else { continue };
                conns.spawn(run_conn(shared.clone(), protocol, tls, tcp, addr));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn run_conn(
    shared: Arc<Shared>,
    protocol: Protocol,
    tls: Tls,
    tcp: TcpStream,
    addr: SocketAddr,
) {
    let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
    let _ = tcp.set_nodelay(true);
    let mut conn = Conn {
        stream: Stream::Plain(tcp),
        buf: Vec::new(),
        discarding: false,
        id,
        protocol,
        shared,
    };
    conn.note(
        Direction::Event,
        format!(
            "connection from {addr} ({})",
            match tls {
                Tls::Implicit => "implicit TLS",
                Tls::StartTls => "STARTTLS port",
            }
        ),
    );
    let result = async {
        if tls == Tls::Implicit {
            conn.start_tls().await?;
        }
        match protocol {
            Protocol::Smtp => smtp::serve(&mut conn).await,
            Protocol::Imap => imap::serve(&mut conn).await,
            Protocol::Pop3 => pop3::serve(&mut conn).await,
        }
    }
    .await;
    match result {
        Ok(()) => conn.note(Direction::Event, "closed"),
        Err(e) => conn.note(Direction::Event, format!("closed: {e}")),
    }
}

/// A running peer. Dropping it stops the listeners and closes every connection.
pub struct PeerHandle {
    shared: Arc<Shared>,
    ports: HashMap<(Protocol, Tls), SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
    ca_der: Vec<u8>,
    ca_pem: String,
    users: Vec<PeerUser>,
}

impl fmt::Debug for PeerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerHandle")
            .field("ports", &self.ports)
            .field("users", &self.users)
            .finish_non_exhaustive()
    }
}

impl Drop for PeerHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl PeerHandle {
    /// The address the peer listens on: `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// A name the certificate is valid for (`localhost`; `127.0.0.1` works too).
    pub fn tls_name(&self) -> &'static str {
        "localhost"
    }

    /// The port of a protocol and TLS mode.
    pub fn port(&self, protocol: Protocol, tls: Tls) -> u16 {
        self.ports.get(&(protocol, tls)).map_or(0, SocketAddr::port)
    }

    /// The URL for the postwire CLI, e.g. `imaps://127.0.0.1:40123`.
    pub fn url(&self, protocol: Protocol, tls: Tls) -> String {
        format!(
            "{}://{}:{}",
            protocol.scheme(tls),
            self.host(),
            self.port(protocol, tls)
        )
    }

    /// The CA certificate (DER): the trust anchor for the clients.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The CA certificate (PEM), e.g. to write a `--ca` file.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate as a [`CaSet`].
    pub fn ca_set(&self) -> CaSet {
        CaSet::from_der(vec![self.ca_der.clone()])
    }

    /// The mail domain.
    pub fn domain(&self) -> &str {
        &self.shared.domain
    }

    /// The configured users.
    pub fn users(&self) -> &[PeerUser] {
        &self.users
    }

    /// The configured user called `name`.
    pub fn user(&self, name: &str) -> Option<&PeerUser> {
        self.users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(name))
    }

    /// The address of user `name`: `name@domain`.
    pub fn address(&self, name: &str) -> String {
        format!("{name}@{}", self.shared.domain)
    }

    /// Delivers `message` into the INBOX of `user` as SMTP would; returns its UID.
    pub fn deliver(&self, user: &str, message: &[u8]) -> Result<u32, StoreError> {
        self.append(user, "INBOX", &[], message)
    }

    /// Appends `message` with `flags` to a mailbox of `user`; returns its UID.
    pub fn append(
        &self,
        user: &str,
        mailbox: &str,
        flags: &[&str],
        message: &[u8],
    ) -> Result<u32, StoreError> {
        if message.len() > self.shared.max_message_size {
            return Err(StoreError::TooLarge);
        }
        let flags = flags.iter().map(|f| (*f).to_string()).collect();
        self.shared
            .modify(|s| s.append(user, mailbox, flags, message.to_vec(), now_unix()))
            .map(|(_, uid)| uid)
    }

    /// Creates a mailbox for `user`.
    pub fn create_mailbox(&self, user: &str, mailbox: &str) -> Result<(), StoreError> {
        self.shared.modify(|s| s.create(user, mailbox))
    }

    /// The mailbox names of `user`, sorted.
    pub fn mailboxes(&self, user: &str) -> Result<Vec<String>, StoreError> {
        self.shared.read(|s| s.mailbox_names(user))
    }

    /// The messages of a mailbox of `user`, ascending by UID.
    pub fn messages(&self, user: &str, mailbox: &str) -> Result<Vec<StoredMessage>, StoreError> {
        self.shared
            .read(|s| s.mailbox(user, mailbox).map(|m| m.messages.clone()))
    }

    /// A receiver whose value changes with every change of the store (a delivery, a flag,
    /// an expunge), e.g. to wait for a message without polling:
    /// `rx.changed().await`.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.watch()
    }

    /// Waits until `mailbox` of `user` holds at least `count` messages, at most `timeout`.
    /// Returns the messages, or `None` on timeout (or an unknown user or mailbox).
    pub async fn wait_for_messages(
        &self,
        user: &str,
        mailbox: &str,
        count: usize,
        timeout: Duration,
    ) -> Option<Vec<StoredMessage>> {
        let mut rx = self.changes();
        let wait = async {
            loop {
                match self.messages(user, mailbox) {
                    Ok(m) if m.len() >= count => return Some(m),
                    Ok(_) => {}
                    Err(_) => return None,
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok().flatten()
    }

    /// Arms a one-shot fault: the next command on a `protocol` connection whose transcript
    /// line (e.g. `a7 UID MOVE 3 Done`, `RETR 1`, `DATA`; passwords masked) satisfies
    /// `matches` makes the peer drop that connection at `point` (see [`CutPoint`] and the
    /// [module documentation](self#fault-injection)). Several faults may be armed; the
    /// first matching one fires. The returned [`Fault`] tells whether it fired.
    ///
    /// ```no_run
    /// # fn f(peer: &postwire_host_sim::peer::PeerHandle) {
    /// use postwire_host_sim::peer::{CutPoint, Protocol};
    /// // The flags are stored, but the client never sees the tagged OK.
    /// let fault = peer.cut(Protocol::Imap, CutPoint::BeforeReply, |l| l.contains(" UID STORE "));
    /// # let _ = fault; }
    /// ```
    pub fn cut(
        &self,
        protocol: Protocol,
        point: CutPoint,
        matches: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Fault {
        let state = Arc::new(FaultState::default());
        lock(&self.shared.faults).push(FaultRule {
            protocol,
            point,
            matches: Box::new(matches),
            state: state.clone(),
        });
        Fault { state }
    }
}
