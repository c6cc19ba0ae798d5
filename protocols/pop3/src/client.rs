//! The async POP3 client over any [`embedded_io_async`] transport.
//!
//! [`Client`] moves bytes between a transport `T` (an embassy-net `TcpSocket`, a TLS stream, a
//! host socket through `embedded-io-adapters`), two caller-owned buffers and the sans-I/O
//! [`Session`]. Every network wait is bounded by a timeout from [`Timeouts`], measured with a
//! caller-given [`DelayNs`].
//!
//! Messages are streamed: [`Client::retr`] and [`Client::top`] hand the unstuffed message to
//! any `embedded_io_async::Write` (a flash writer, a file, a parser), [`Client::retr_with`] and
//! [`Client::top_with`] to a chunk callback. The receive buffer only ever holds a few hundred
//! bytes of the message, so a message of any size passes through.
//!
//! # Deleting messages
//! [`Client::dele`] only marks a message. The server removes the marked messages when the
//! session ends with a successful [`Client::quit`] ([`QuitReport::committed`]); [`Client::rset`]
//! unmarks them, and a connection that ends any other way — dropped, timed out, failed —
//! removes nothing. So a device polling a command mailbox retrieves a message, acts on it, and
//! only then marks it and quits: if it crashes in between, the message is still there next time.
//!
//! # Security
//! Credentials (USER/PASS, APOP, AUTH) are refused on an unencrypted connection unless
//! [`ClientConfig::allow_plaintext_auth`] is set; there is no fallback to plain text when
//! STLS was asked for; bytes received after the STLS go-ahead abort the connection; the
//! capabilities are read again after TLS; and any response the client did not ask for is a
//! fatal protocol error (response injection). APOP is only used when the caller asks for it
//! and the greeting carries a timestamp.
//!
//! # Cancel safety
//! No method is cancel-safe: dropping a future half-way leaves a command unsent or a response
//! unread. The client notices — the next call returns [`Error::Cancelled`] — and the connection
//! must be dropped (which commits no deletion).
//!
//! # Example
//! ```no_run
//! # async fn demo<T, D>(io: T, delay: D) -> Result<(), postwire_pop3::client::Error<T::Error>>
//! # where T: embedded_io_async::Read + embedded_io_async::Write, D: embedded_hal_async::delay::DelayNs {
//! use postwire_core::sasl::Credentials;
//! use postwire_pop3::client::{Buffers, Client, ClientConfig};
//!
//! let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
//! let mut client = Client::new(io, delay, Buffers { rx: &mut rx, tx: &mut tx }, ClientConfig::default());
//! client.set_implicit_tls(); // `io` is a TLS stream (port 995)
//! client.greet().await?;
//! client.login(&Credentials::new("device-17", "secret"), None).await?;
//! let stat = client.stat().await?;
//! if stat.count > 0 {
//!     let mut command = [0u8; 256];
//!     let mut len = 0;
//!     client
//!         .retr_with(1, |chunk| {
//!             let take = chunk.len().min(command.len() - len);
//!             command[len..len + take].copy_from_slice(&chunk[..take]);
//!             len += take;
//!             Ok(())
//!         })
//!         .await?;
//!     // ... act on the command, then:
//!     client.dele(1).await?;
//! }
//! let report = client.quit().await?; // the deletion happens here
//! assert!(report.committed);
//! # Ok(()) }
//! ```

use core::fmt;

use embassy_futures::select::{Either, select};
use embedded_hal_async::delay::DelayNs;
use embedded_io_async::{ErrorKind, Read, Write};
use postwire_core::base64;
use postwire_core::io::{WriteAllError, write_all_flush};
use postwire_core::line::LineBuffer;
use postwire_core::sasl::{Credentials, Mechanism, SaslClient, SaslError, apop_digest};

use crate::proto::{
    Event, ProtocolError, REPLY_TEXT_LEN, Rejection, Session, SessionConfig, SessionError, Stage,
    State,
};
use crate::wire::{Capabilities, EncodeError, MAX_UID_LEN};

/// The two caller-owned buffers of a client.
///
/// `rx` holds received lines and passing message bytes: it must hold the longest status line
/// (RFC 2449: 512 bytes; 1 KiB is comfortable; at least [`MIN_RX`]). `tx` holds outgoing
/// commands and, while a message is retrieved, the unstuffed message chunk handed to the sink;
/// at least [`MIN_TX`], and 4× the longest SASL response (an XOAUTH2 token) when one is used.
/// Larger buffers mean fewer reads and writes, not more capability.
pub struct Buffers<'b> {
    /// Receive buffer.
    pub rx: &'b mut [u8],
    /// Transmit buffer.
    pub tx: &'b mut [u8],
}

/// Smallest receive buffer the client works with.
pub const MIN_RX: usize = 64;
/// Smallest transmit buffer the client works with.
pub const MIN_TX: usize = 256;

/// Timeouts in milliseconds, one per kind of network wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timeouts {
    /// Waiting for the greeting. Default 60 s.
    pub greeting_ms: u32,
    /// Waiting for a response line, or for the next bytes of a listing or message. RFC 1939
    /// servers may drop idle clients after 10 minutes. Default 60 s.
    pub command_ms: u32,
    /// Writing one buffer to the transport. Default 60 s.
    pub write_ms: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::uniform(60_000)
    }
}

impl Timeouts {
    /// The same timeout for every wait.
    pub const fn uniform(ms: u32) -> Self {
        Timeouts {
            greeting_ms: ms,
            command_ms: ms,
            write_ms: ms,
        }
    }
}

/// Client settings.
#[derive(Clone, Copy, Debug)]
pub struct ClientConfig {
    /// Timeouts of network waits.
    pub timeouts: Timeouts,
    /// Allow credentials (USER/PASS, APOP, AUTH) on an unencrypted connection. Off by default.
    pub allow_plaintext_auth: bool,
    /// Send the SASL initial response on the AUTH line (RFC 5034), saving a round trip, when
    /// the server announced SASL and the line stays within 255 octets. On by default.
    pub sasl_initial_response: bool,
    /// [`Client::greet`] also sends CAPA. On by default.
    pub read_capabilities: bool,
    /// Limits of the session (listing lines, message size).
    pub limits: SessionConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeouts: Timeouts::default(),
            allow_plaintext_auth: false,
            sasl_initial_response: true,
            read_capabilities: true,
            limits: SessionConfig::default(),
        }
    }
}

/// How to log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AuthMethod {
    /// `AUTH` with this SASL mechanism (RFC 5034).
    Sasl(Mechanism),
    /// `APOP` (RFC 1939 §7; MD5 of the greeting's timestamp and the secret).
    Apop,
    /// `USER` and `PASS`.
    UserPass,
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthMethod::Sasl(m) => write!(f, "AUTH {m}"),
            AuthMethod::Apop => f.write_str("APOP"),
            AuthMethod::UserPass => f.write_str("USER/PASS"),
        }
    }
}

/// The STAT drop listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stat {
    /// Messages in the maildrop (not counting those marked deleted).
    pub count: u64,
    /// Their total size in octets.
    pub size: u64,
}

/// A unique-id (UIDL): 1 to 70 bytes in 0x21..=0x7E, stable across sessions.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Uid {
    bytes: [u8; MAX_UID_LEN],
    len: u8,
}

impl Uid {
    /// A unique-id from its bytes; `None` when empty, longer than 70 bytes or holding bytes
    /// outside 0x21..=0x7E.
    pub fn new(uid: &[u8]) -> Option<Uid> {
        if uid.is_empty()
            || uid.len() > MAX_UID_LEN
            || !uid.iter().all(|&b| (0x21..=0x7e).contains(&b))
        {
            return None;
        }
        let mut bytes = [0u8; MAX_UID_LEN];
        bytes.get_mut(..uid.len())?.copy_from_slice(uid);
        Some(Uid {
            bytes,
            len: u8::try_from(uid.len()).ok()?,
        })
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// As text (always ASCII).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uid({:?})", self.as_str())
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`Client::quit`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QuitReport {
    /// The server answered `+OK` in the TRANSACTION state: it entered UPDATE and removed the
    /// messages marked with DELE.
    pub committed: bool,
    /// How many messages were marked (and so removed, when `committed`).
    pub deleted: u64,
}

/// A summary of the fatal error that ended a connection, kept by the client and returned for
/// every later call as [`Error::Failed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Fatal {
    /// The transport failed.
    Io(ErrorKind),
    /// A wait timed out.
    Timeout(Stage),
    /// The server closed the connection.
    Closed(Stage),
    /// The server broke the protocol.
    Protocol(ProtocolError),
    /// The server refused the greeting or QUIT.
    Rejected(Rejection),
    /// An earlier operation was cancelled half-way.
    Cancelled,
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fatal::Io(k) => write!(f, "I/O error: {k:?}"),
            Fatal::Timeout(s) => write!(f, "timed out waiting at {s}"),
            Fatal::Closed(s) => write!(f, "connection closed by the server at {s}"),
            Fatal::Protocol(p) => write!(f, "{p}"),
            Fatal::Rejected(r) => write!(f, "{r}"),
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
    /// The server broke the protocol (or, for [`ProtocolError::OutOfSequence`], a method was
    /// called in the wrong state, which is not fatal).
    Protocol(ProtocolError),
    /// The server answered `-ERR`; its text is in [`Client::last_response_text`]. Fatal only
    /// for the greeting.
    Rejected(Rejection),
    /// A command argument contains CR, LF, NUL (or a space in a user name), or a message
    /// number is 0. Nothing was sent.
    InvalidArgument,
    /// A buffer is too small for a command or SASL response. Nothing was sent.
    Capacity,
    /// STLS was asked for but the server does not announce it. The client does not go on
    /// without TLS.
    StlsUnavailable,
    /// Credentials would go over an unencrypted connection and
    /// [`ClientConfig::allow_plaintext_auth`] is off. Nothing was sent.
    PlaintextAuthRefused,
    /// APOP was asked for but the greeting carried no timestamp.
    ApopUnavailable,
    /// The server offers no login method the client can use.
    NoCommonMechanism,
    /// The SASL mechanism failed locally (e.g. NUL in a PLAIN user name). Nothing was sent.
    Sasl(SaslError),
    /// The client cancelled the SASL exchange (`*`) because it could not answer a challenge
    /// (not base64, or more challenges than the mechanism has steps), and the server ended it
    /// with `-ERR`. The connection is still usable (try another method).
    AuthCancelled,
    /// The message was read to its end (the connection is usable), but the sink failed with
    /// this error; what it received is incomplete.
    Sink(ErrorKind),
    /// An earlier operation was dropped half-way; the connection state is unknown. Fatal.
    Cancelled,
    /// The connection already failed with this error; nothing more can be done on it.
    Failed(Fatal),
}

impl<E> Error<E> {
    /// Whether the connection is unusable after this error (drop it and reconnect; nothing
    /// marked for deletion is removed).
    pub fn is_fatal(&self) -> bool {
        match self {
            Error::Io(_)
            | Error::Timeout(_)
            | Error::ConnectionClosed(_)
            | Error::Cancelled
            | Error::Failed(_) => true,
            Error::Protocol(p) => *p != ProtocolError::OutOfSequence,
            Error::Rejected(r) => matches!(r.stage, Stage::Greeting | Stage::Quit),
            _ => false,
        }
    }

    /// The step of the session the error happened at, when known.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            Error::Timeout(s) | Error::ConnectionClosed(s) => Some(*s),
            Error::Rejected(r) => Some(r.stage),
            Error::Failed(Fatal::Timeout(s) | Fatal::Closed(s)) => Some(*s),
            Error::Failed(Fatal::Rejected(r)) => Some(r.stage),
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
            Error::Protocol(p) => write!(f, "protocol error: {p}"),
            Error::Rejected(r) => write!(f, "{r}"),
            Error::InvalidArgument => f.write_str(
                "invalid argument (CR, LF, NUL, a space in a user name, or message number 0)",
            ),
            Error::Capacity => f.write_str("buffer too small"),
            Error::StlsUnavailable => f.write_str("the server does not offer STLS"),
            Error::PlaintextAuthRefused => {
                f.write_str("refusing to send credentials over an unencrypted connection")
            }
            Error::ApopUnavailable => f.write_str("the greeting carries no APOP timestamp"),
            Error::NoCommonMechanism => f.write_str("the server offers no usable login method"),
            Error::Sasl(e) => write!(f, "SASL: {e}"),
            Error::AuthCancelled => {
                f.write_str("SASL exchange cancelled: the server's challenge could not be answered")
            }
            Error::Sink(k) => write!(f, "writing the message failed: {k:?}"),
            Error::Cancelled => f.write_str("an earlier operation was cancelled half-way"),
            Error::Failed(fatal) => write!(f, "connection already failed: {fatal}"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

impl<E> From<SessionError> for Error<E> {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Protocol(p) => Error::Protocol(p),
            SessionError::Rejected(r) => Error::Rejected(r),
            SessionError::Encode(EncodeError::BufferTooSmall) => Error::Capacity,
            SessionError::Encode(_) => Error::InvalidArgument,
        }
    }
}

impl<E> From<SaslError> for Error<E> {
    fn from(e: SaslError) -> Self {
        match e {
            SaslError::BufferTooSmall => Error::Capacity,
            SaslError::TooManySteps => Error::Protocol(ProtocolError::AuthLoop),
            other => Error::Sasl(other),
        }
    }
}

/// An event of the session with the borrowed parts copied out.
#[derive(Clone, Copy, Debug)]
enum Ev {
    Greeting,
    Ok,
    LoggedIn,
    StlsGoAhead,
    Challenge,
    Line,
    Stat(Stat),
    Listing { msg: u64, size: u64 },
    Uid { msg: u64, uid: Option<Uid> },
    BodyStart,
    End,
    Quit { updated: bool },
}

impl From<Event<'_>> for Ev {
    fn from(e: Event<'_>) -> Self {
        match e {
            Event::Greeting => Ev::Greeting,
            Event::Ok => Ev::Ok,
            Event::LoggedIn => Ev::LoggedIn,
            Event::StlsGoAhead => Ev::StlsGoAhead,
            Event::Challenge(_) => Ev::Challenge,
            Event::Stat { count, size } => Ev::Stat(Stat { count, size }),
            Event::Listing { msg, size } => Ev::Listing { msg, size },
            Event::Uid { msg, uid } => Ev::Uid {
                msg,
                uid: Uid::new(uid),
            },
            Event::BodyStart { .. } => Ev::BodyStart,
            Event::End => Ev::End,
            Event::Quit { updated } => Ev::Quit { updated },
            _ => Ev::Line,
        }
    }
}

/// Where a message body goes.
trait Sink {
    async fn put(&mut self, bytes: &[u8]) -> Result<(), ErrorKind>;
    async fn finish(&mut self) -> Result<(), ErrorKind>;
}

struct WriteSink<'w, W>(&'w mut W);

impl<W: Write> Sink for WriteSink<'_, W> {
    async fn put(&mut self, bytes: &[u8]) -> Result<(), ErrorKind> {
        self.0
            .write_all(bytes)
            .await
            .map_err(|e| embedded_io_async::Error::kind(&e))
    }

    async fn finish(&mut self) -> Result<(), ErrorKind> {
        self.0
            .flush()
            .await
            .map_err(|e| embedded_io_async::Error::kind(&e))
    }
}

struct FnSink<F>(F);

impl<F: FnMut(&[u8]) -> Result<(), ErrorKind>> Sink for FnSink<F> {
    async fn put(&mut self, bytes: &[u8]) -> Result<(), ErrorKind> {
        (self.0)(bytes)
    }

    async fn finish(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

/// The transport, the buffers and the session: everything a wait borrows, kept apart from the
/// timer so a wait and its timeout can run together.
struct Conn<'b, T> {
    io: T,
    rx: LineBuffer<'b>,
    tx: &'b mut [u8],
    session: Session,
}

enum Wait<E> {
    Io(E),
    Closed,
    Session(SessionError),
    LineTooLong,
}

impl<T: Read + Write> Conn<'_, T> {
    /// Reads until the session reports an event.
    async fn next_event(&mut self) -> Result<Ev, Wait<T::Error>> {
        loop {
            match self.rx.next_line() {
                Ok(Some(line)) => match self.session.handle_line(line) {
                    Ok(Some(ev)) => return Ok(ev.into()),
                    Ok(None) => continue,
                    Err(e) => return Err(Wait::Session(e)),
                },
                Ok(None) => {}
                Err(_) => return Err(Wait::LineTooLong),
            }
            self.fill().await?;
        }
    }

    /// Reads more bytes into the receive buffer.
    async fn fill(&mut self) -> Result<(), Wait<T::Error>> {
        let spare = self.rx.spare();
        if spare.is_empty() {
            return Err(Wait::LineTooLong);
        }
        let n = self.io.read(spare).await.map_err(Wait::Io)?;
        if n == 0 {
            return Err(Wait::Closed);
        }
        self.rx.commit(n);
        Ok(())
    }

    async fn write(&mut self, n: usize) -> Result<(), Wait<T::Error>> {
        let bytes = self.tx.get(..n).unwrap_or(&[]);
        write_all_flush(&mut self.io, bytes)
            .await
            .map_err(|e| match e {
                WriteAllError::Io(e) => Wait::Io(e),
                WriteAllError::Zero => Wait::Closed,
            })
    }
}

/// A POP3 client connection.
///
/// Create it over a connected transport with [`Client::new`], then call
/// [`greet`](Self::greet). For STLS (port 110) call [`stls`](Self::stls), run the TLS handshake
/// over the transport from [`into_stls`](Self::into_stls) and continue with
/// [`Stls::resume`]. For implicit TLS (port 995, preferred) give it the TLS stream and call
/// [`set_implicit_tls`](Self::set_implicit_tls) first.
pub struct Client<'b, T, D> {
    conn: Conn<'b, T>,
    delay: D,
    config: ClientConfig,
    busy: bool,
    capa_refused: bool,
    fatal: Option<Fatal>,
}

impl<'b, T: Read + Write, D: DelayNs> Client<'b, T, D> {
    /// A client over a connected transport. Nothing is sent or read until the first call.
    pub fn new(io: T, delay: D, buffers: Buffers<'b>, config: ClientConfig) -> Self {
        Client {
            conn: Conn {
                io,
                rx: LineBuffer::new(buffers.rx),
                tx: buffers.tx,
                session: Session::new(config.limits),
            },
            delay,
            config,
            busy: false,
            capa_refused: false,
            fatal: None,
        }
    }

    /// Declares the transport encrypted from the start (implicit TLS, RFC 8314).
    pub fn set_implicit_tls(&mut self) {
        self.conn.session.set_implicit_tls();
    }

    /// What the server announced in its last CAPA response.
    pub fn capabilities(&self) -> &Capabilities {
        self.conn.session.capabilities()
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.conn.session.is_tls()
    }

    /// The APOP timestamp of the greeting, if any.
    pub fn apop_timestamp(&self) -> Option<&[u8]> {
        self.conn.session.apop_timestamp()
    }

    /// The text of the server's last status line after `+OK` / `-ERR` (extended response
    /// code included, at most [`REPLY_TEXT_LEN`] bytes), e.g. `[AUTH] Authentication failed.`
    /// It is the server's text: escape it before showing it.
    pub fn last_response_text(&self) -> &[u8] {
        self.conn.session.last_response_text()
    }

    /// The sans-I/O session (read-only).
    pub fn session(&self) -> &Session {
        &self.conn.session
    }

    /// The transport, e.g. to close it. Dropping the connection without QUIT removes no
    /// message.
    pub fn into_inner(self) -> T {
        self.conn.io
    }

    fn enter(&mut self) -> Result<(), Error<T::Error>> {
        if let Some(f) = self.fatal {
            return Err(Error::Failed(f));
        }
        if self.busy {
            self.fatal = Some(Fatal::Cancelled);
            return Err(Error::Cancelled);
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
            if self.conn.session.failure().is_none() {
                let reason = match e {
                    Error::Protocol(p) => *p,
                    _ => ProtocolError::OutOfSequence,
                };
                self.conn.session.abort(reason);
            }
        }
        r
    }

    async fn event(&mut self, stage: Stage, ms: u32) -> Result<Ev, Error<T::Error>> {
        match select(self.conn.next_event(), self.delay.delay_ms(ms)).await {
            Either::First(Ok(ev)) => Ok(ev),
            Either::First(Err(w)) => Err(wait_err(w, stage)),
            Either::Second(()) => Err(Error::Timeout(stage)),
        }
    }

    /// Waits for the one event completing a single-line command and checks that the server
    /// sent nothing after it (nothing may be pending: a response nobody asked for is an
    /// injection attempt).
    async fn reply(&mut self, stage: Stage) -> Result<Ev, Error<T::Error>> {
        let ev = self.event(stage, self.config.timeouts.command_ms).await?;
        self.quiet()?;
        Ok(ev)
    }

    fn quiet(&mut self) -> Result<(), Error<T::Error>> {
        if self.conn.rx.buffered().is_empty() {
            Ok(())
        } else {
            Err(self
                .conn
                .session
                .abort(ProtocolError::UnsolicitedResponse)
                .into())
        }
    }

    async fn fill(&mut self, stage: Stage) -> Result<(), Error<T::Error>> {
        match select(
            self.conn.fill(),
            self.delay.delay_ms(self.config.timeouts.command_ms),
        )
        .await
        {
            Either::First(Ok(())) => Ok(()),
            Either::First(Err(w)) => Err(wait_err(w, stage)),
            Either::Second(()) => Err(Error::Timeout(stage)),
        }
    }

    async fn flush_tx(&mut self, n: usize, stage: Stage) -> Result<(), Error<T::Error>> {
        if n == 0 {
            return Ok(());
        }
        match select(
            self.conn.write(n),
            self.delay.delay_ms(self.config.timeouts.write_ms),
        )
        .await
        {
            Either::First(Ok(())) => Ok(()),
            Either::First(Err(Wait::Io(e))) => Err(Error::Io(e)),
            Either::First(Err(_)) => Err(Error::ConnectionClosed(stage)),
            Either::Second(()) => Err(Error::Timeout(stage)),
        }
    }

    /// Encodes a command with `write` and sends it.
    async fn send(
        &mut self,
        stage: Stage,
        write: impl FnOnce(&mut Session, &mut [u8]) -> Result<usize, SessionError>,
    ) -> Result<(), Error<T::Error>> {
        let n = write(&mut self.conn.session, self.conn.tx)?;
        self.flush_tx(n, stage).await
    }

    /// Reads the greeting and, unless [`ClientConfig::read_capabilities`] is off, the
    /// capabilities (CAPA; a server without CAPA is fine).
    pub async fn greet(&mut self) -> Result<(), Error<T::Error>> {
        self.enter()?;
        let r = async {
            if self.conn.session.state() != State::Greeting {
                return Err(Error::Protocol(ProtocolError::OutOfSequence));
            }
            let ev = self
                .event(Stage::Greeting, self.config.timeouts.greeting_ms)
                .await?;
            self.quiet()?;
            if !matches!(ev, Ev::Greeting) {
                return Err(Error::Protocol(ProtocolError::OutOfSequence));
            }
            if self.config.read_capabilities {
                self.capa_inner().await?;
            }
            Ok(())
        }
        .await;
        self.leave(r)
    }

    /// Sends CAPA and records the capabilities. Returns `false` when the server refused CAPA
    /// (an RFC 1939-only server: nothing is known then).
    pub async fn capa(&mut self) -> Result<bool, Error<T::Error>> {
        self.enter()?;
        let r = self.capa_inner().await;
        self.leave(r)
    }

    async fn capa_inner(&mut self) -> Result<bool, Error<T::Error>> {
        self.send(Stage::Capa, |s, out| s.write_capa(out)).await?;
        loop {
            match self
                .event(Stage::Capa, self.config.timeouts.command_ms)
                .await
            {
                Ok(Ev::End) => {
                    self.quiet()?;
                    self.capa_refused = false;
                    return Ok(true);
                }
                Ok(_) => {}
                Err(Error::Rejected(_)) => {
                    self.quiet()?;
                    self.capa_refused = true;
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends STLS and waits for the go-ahead; then call [`into_stls`](Self::into_stls).
    ///
    /// Fails with [`Error::StlsUnavailable`] when the server does not announce STLS (or did
    /// not answer CAPA), and with [`ProtocolError::DataAfterStls`] when the server sent
    /// anything after its go-ahead.
    pub async fn stls(&mut self) -> Result<(), Error<T::Error>> {
        self.enter()?;
        let r = async {
            if !self.conn.session.capabilities().stls {
                return Err(Error::StlsUnavailable);
            }
            self.send(Stage::Stls, |s, out| s.write_stls(out)).await?;
            let ev = self
                .event(Stage::Stls, self.config.timeouts.command_ms)
                .await;
            // Anything after the answer (a go-ahead or a refusal) is injected: the server
            // cannot know what the client sends next.
            if !self.conn.rx.buffered().is_empty() {
                return Err(self.conn.session.abort(ProtocolError::DataAfterStls).into());
            }
            match ev? {
                Ev::StlsGoAhead => Ok(()),
                _ => Err(Error::Protocol(ProtocolError::OutOfSequence)),
            }
        }
        .await;
        self.leave(r)
    }

    /// After a successful [`stls`](Self::stls): splits the client into the plain transport,
    /// over which the caller runs the TLS handshake, and the rest, which [`Stls::resume`] joins
    /// with the encrypted transport. Gives the client back unchanged when STLS has not been
    /// accepted.
    #[allow(
        clippy::result_large_err,
        reason = "the client itself is given back; no Box without alloc"
    )]
    pub fn into_stls(self) -> Result<(T, Stls<'b, D>), Self> {
        if self.fatal.is_some() || self.conn.session.state() != State::TlsPending {
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
            mut rx,
            tx,
            session,
        } = conn;
        rx.clear();
        Ok((
            io,
            Stls {
                rx,
                tx,
                session,
                delay,
                config,
            },
        ))
    }

    fn check_plaintext(&self) -> Result<(), Error<T::Error>> {
        if self.is_tls() || self.config.allow_plaintext_auth {
            Ok(())
        } else {
            Err(Error::PlaintextAuthRefused)
        }
    }

    async fn ensure_capabilities(&mut self) -> Result<(), Error<T::Error>> {
        if !self.conn.session.capabilities_known() && !self.capa_refused {
            self.capa_inner().await?;
        }
        Ok(())
    }

    /// Logs in with `method`, or when `None` with the best method the server offers: a SASL
    /// mechanism it announces (over TLS PLAIN, LOGIN, CRAM-MD5; without TLS CRAM-MD5 first),
    /// else USER/PASS. APOP and XOAUTH2 are only used when named. Reads the capabilities
    /// first when they are not known (after STLS). Returns the method used.
    ///
    /// A refusal is [`Error::Rejected`] with the stage of the refused command
    /// (e.g. `PASS` with [`CodeKind::Auth`](crate::wire::CodeKind::Auth)).
    pub async fn login(
        &mut self,
        credentials: &Credentials<'_>,
        method: Option<AuthMethod>,
    ) -> Result<AuthMethod, Error<T::Error>> {
        self.enter()?;
        let r = async {
            self.check_plaintext()?;
            let method = match method {
                Some(m) => m,
                None => {
                    self.ensure_capabilities().await?;
                    match self.choose_mechanism() {
                        Ok(m) => AuthMethod::Sasl(m),
                        Err(_)
                            if self.capabilities().user
                                || !self.conn.session.capabilities_known() =>
                        {
                            AuthMethod::UserPass
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            match method {
                AuthMethod::Sasl(m) => {
                    self.authenticate_inner(credentials, Some(m)).await?;
                }
                AuthMethod::Apop => {
                    self.apop_inner(credentials.username, credentials.secret)
                        .await?
                }
                AuthMethod::UserPass => {
                    self.user_pass_inner(credentials.username, credentials.secret)
                        .await?
                }
            }
            Ok(method)
        }
        .await;
        self.leave(r)
    }

    /// Logs in with USER and PASS.
    pub async fn login_user_pass(
        &mut self,
        user: &str,
        password: &str,
    ) -> Result<(), Error<T::Error>> {
        self.enter()?;
        let r = async {
            self.check_plaintext()?;
            self.user_pass_inner(user, password).await
        }
        .await;
        self.leave(r)
    }

    async fn user_pass_inner(&mut self, user: &str, password: &str) -> Result<(), Error<T::Error>> {
        // Validate both before anything is sent.
        crate::wire::Command::Pass(password)
            .validate()
            .map_err(|_| Error::InvalidArgument)?;
        self.send(Stage::User, |s, out| s.write_user(user, out))
            .await?;
        self.reply(Stage::User).await?;
        self.send(Stage::Pass, |s, out| s.write_pass(password, out))
            .await?;
        match self.reply(Stage::Pass).await? {
            Ev::LoggedIn => Ok(()),
            _ => Err(Error::Protocol(ProtocolError::OutOfSequence)),
        }
    }

    /// Logs in with APOP (only when the greeting carried a timestamp; the secret itself is
    /// not sent, but MD5 offers little protection: prefer TLS).
    pub async fn login_apop(&mut self, user: &str, secret: &str) -> Result<(), Error<T::Error>> {
        self.enter()?;
        let r = async {
            self.check_plaintext()?;
            self.apop_inner(user, secret).await
        }
        .await;
        self.leave(r)
    }

    async fn apop_inner(&mut self, user: &str, secret: &str) -> Result<(), Error<T::Error>> {
        let digest = match self.conn.session.apop_timestamp() {
            Some(ts) => apop_digest(ts, secret.as_bytes()),
            None => return Err(Error::ApopUnavailable),
        };
        self.send(Stage::Apop, |s, out| s.write_apop(user, &digest, out))
            .await?;
        match self.reply(Stage::Apop).await? {
            Ev::LoggedIn => Ok(()),
            _ => Err(Error::Protocol(ProtocolError::OutOfSequence)),
        }
    }

    fn choose_mechanism(&self) -> Result<Mechanism, Error<T::Error>> {
        let offered = self.conn.session.capabilities().sasl;
        let order: [Mechanism; 3] = if self.is_tls() {
            [Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]
        } else {
            [Mechanism::CramMd5, Mechanism::Plain, Mechanism::Login]
        };
        order
            .into_iter()
            .find(|m| offered.contains(*m))
            .ok_or(Error::NoCommonMechanism)
    }

    /// Authenticates with SASL (RFC 5034): `mechanism`, or when `None` the best one the
    /// server announces (see [`login`](Self::login)). PLAIN and XOAUTH2 send their initial
    /// response on the AUTH line when allowed (saving a round trip). A challenge the client
    /// cannot answer is cancelled with `*` ([`Error::AuthCancelled`]); a server that keeps
    /// challenging gets [`ProtocolError::AuthLoop`].
    pub async fn authenticate(
        &mut self,
        credentials: &Credentials<'_>,
        mechanism: Option<Mechanism>,
    ) -> Result<Mechanism, Error<T::Error>> {
        self.enter()?;
        let r = async {
            self.check_plaintext()?;
            self.authenticate_inner(credentials, mechanism).await
        }
        .await;
        self.leave(r)
    }

    async fn authenticate_inner(
        &mut self,
        credentials: &Credentials<'_>,
        mechanism: Option<Mechanism>,
    ) -> Result<Mechanism, Error<T::Error>> {
        let mech = match mechanism {
            Some(m) => m,
            None => {
                self.ensure_capabilities().await?;
                self.choose_mechanism()?
            }
        };
        let mut sasl = SaslClient::new(mech, *credentials);
        // tx = [command | base64 | raw response]
        let len = self.conn.tx.len();
        if len < MIN_TX {
            return Err(Error::Capacity);
        }
        let raw_cap = len / 4;
        let b64_cap = base64::encoded_len(raw_cap);
        let announced = !self.conn.session.capabilities().sasl.is_empty();
        let use_ir = mech.has_initial_response() && self.config.sasl_initial_response && announced;
        let n = {
            let (head, raw) = self.conn.tx.split_at_mut(len - raw_cap);
            let (cmd, b64) = head.split_at_mut(head.len() - b64_cap);
            let ir: Option<usize> = if use_ir {
                match sasl.initial_response(raw)? {
                    Some(r) => {
                        let k = base64::encode_into(raw.get(..r).unwrap_or(&[]), b64)
                            .map_err(|_| Error::Capacity)?;
                        // RFC 5034 §4: the AUTH line with its initial response must fit in
                        // 255 octets; otherwise the response waits for the first challenge.
                        if 5 + mech.name().len() + 1 + k.max(1) + 2 <= 255 {
                            Some(k)
                        } else {
                            sasl = SaslClient::new(mech, *credentials);
                            None
                        }
                    }
                    None => None,
                }
            } else {
                None
            };
            match ir {
                Some(0) => self.conn.session.write_auth(mech.name(), Some(b"="), cmd)?,
                Some(k) => self.conn.session.write_auth(
                    mech.name(),
                    Some(b64.get(..k).unwrap_or(&[])),
                    cmd,
                )?,
                None => self.conn.session.write_auth(mech.name(), None, cmd)?,
            }
        };
        self.flush_tx(n, Stage::Auth).await?;
        loop {
            match self
                .event(Stage::Auth, self.config.timeouts.command_ms)
                .await?
            {
                Ev::LoggedIn => {
                    self.quiet()?;
                    return Ok(mech);
                }
                Ev::Challenge => {
                    self.quiet()?;
                    let text = self.conn.session.last_response_text();
                    let truncated = text.len() >= REPLY_TEXT_LEN;
                    let len = self.conn.tx.len();
                    let (head, raw) = self.conn.tx.split_at_mut(len - raw_cap);
                    let (cmd, b64) = head.split_at_mut(head.len() - b64_cap);
                    // "+ " with no text, or "=": an empty challenge. XOAUTH2 sends its error as
                    // (possibly long) JSON and is answered with an empty response whatever it
                    // says; PLAIN and LOGIN do not use the challenge, and some servers put
                    // free text there: ignore it rather than fail.
                    let decoded = if text.is_empty() || text == b"=" {
                        Ok(0)
                    } else if truncated {
                        Err(())
                    } else {
                        base64::decode_into(text, b64).map_err(|_| ())
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
                    let answer = match challenge_len {
                        Some(k) => match sasl.respond(b64.get(..k).unwrap_or(&[]), raw) {
                            Ok(r) => {
                                let k = base64::encode_into(raw.get(..r).unwrap_or(&[]), b64)
                                    .map_err(|_| Error::Capacity)?;
                                Some(k)
                            }
                            Err(SaslError::TooManySteps | SaslError::UnexpectedChallenge) => None,
                            Err(e) => return Err(e.into()),
                        },
                        None => None,
                    };
                    match answer {
                        Some(k) => {
                            let n = self
                                .conn
                                .session
                                .write_auth_response(b64.get(..k).unwrap_or(&[]), cmd)?;
                            self.flush_tx(n, Stage::Auth).await?;
                        }
                        None => return self.cancel_auth().await,
                    }
                }
                _ => return Err(Error::Protocol(ProtocolError::OutOfSequence)),
            }
        }
    }

    /// Sends `*` and expects the server to end the exchange with `-ERR`.
    async fn cancel_auth<R>(&mut self) -> Result<R, Error<T::Error>> {
        self.send(Stage::Auth, |s, out| s.write_auth_response(b"*", out))
            .await?;
        match self
            .event(Stage::Auth, self.config.timeouts.command_ms)
            .await
        {
            Err(Error::Rejected(_)) => {
                self.quiet()?;
                Err(Error::AuthCancelled)
            }
            Err(e) => Err(e),
            Ok(_) => Err(self.conn.session.abort(ProtocolError::AuthLoop).into()),
        }
    }

    /// STAT: the number of messages and their total size.
    pub async fn stat(&mut self) -> Result<Stat, Error<T::Error>> {
        self.enter()?;
        let r = async {
            self.send(Stage::Stat, |s, out| s.write_stat(out)).await?;
            match self.reply(Stage::Stat).await? {
                Ev::Stat(st) => Ok(st),
                _ => Err(Error::Protocol(ProtocolError::OutOfSequence)),
            }
        }
        .await;
        self.leave(r)
    }

    /// `LIST msg`: the size of one message. A message that does not exist (or is marked
    /// deleted) is [`Error::Rejected`].
    pub async fn list_one(&mut self, msg: u64) -> Result<u64, Error<T::Error>> {
        self.enter()?;
        let r = async {
            self.send(Stage::List, |s, out| s.write_list(Some(msg), out))
                .await?;
            match self.reply(Stage::List).await? {
                Ev::Listing { size, .. } => Ok(size),
                _ => Err(Error::Protocol(ProtocolError::OutOfSequence)),
            }
        }
        .await;
        self.leave(r)
    }

    /// `LIST`: calls `f(msg, size)` for every message; returns how many there were.
    pub async fn list(&mut self, mut f: impl FnMut(u64, u64)) -> Result<u64, Error<T::Error>> {
        self.enter()?;
        let r = async {
            self.send(Stage::List, |s, out| s.write_list(None, out))
                .await?;
            let mut n: u64 = 0;
            loop {
                match self
                    .event(Stage::List, self.config.timeouts.command_ms)
                    .await?
                {
                    Ev::Listing { msg, size } => {
                        n = n.saturating_add(1);
                        f(msg, size);
                    }
                    Ev::End => {
                        self.quiet()?;
                        return Ok(n);
                    }
                    _ => return Err(Error::Protocol(ProtocolError::OutOfSequence)),
                }
            }
        }
        .await;
        self.leave(r)
    }

    /// `UIDL msg`: the unique-id of one message.
    pub async fn uidl_one(&mut self, msg: u64) -> Result<Uid, Error<T::Error>> {
        self.enter()?;
        let r = async {
            self.send(Stage::Uidl, |s, out| s.write_uidl(Some(msg), out))
                .await?;
            match self.reply(Stage::Uidl).await? {
                Ev::Uid { uid: Some(uid), .. } => Ok(uid),
                _ => Err(Error::Protocol(ProtocolError::OutOfSequence)),
            }
        }
        .await;
        self.leave(r)
    }

    /// `UIDL`: calls `f(msg, uid)` for every message; returns how many there were.
    pub async fn uidl(&mut self, mut f: impl FnMut(u64, &Uid)) -> Result<u64, Error<T::Error>> {
        self.enter()?;
        let r = async {
            self.send(Stage::Uidl, |s, out| s.write_uidl(None, out))
                .await?;
            let mut n: u64 = 0;
            loop {
                match self
                    .event(Stage::Uidl, self.config.timeouts.command_ms)
                    .await?
                {
                    Ev::Uid {
                        msg,
                        uid: Some(uid),
                    } => {
                        n = n.saturating_add(1);
                        f(msg, &uid);
                    }
                    Ev::End => {
                        self.quiet()?;
                        return Ok(n);
                    }
                    _ => return Err(Error::Protocol(ProtocolError::OutOfSequence)),
                }
            }
        }
        .await;
        self.leave(r)
    }

    /// `RETR msg`: streams the message (unstuffed, byte-identical to the stored message) into
    /// `sink` and flushes it; returns its size. A sink error does not break the connection:
    /// the rest of the message is read and dropped, then [`Error::Sink`] is returned.
    pub async fn retr<W: Write>(&mut self, msg: u64, sink: &mut W) -> Result<u64, Error<T::Error>> {
        self.enter()?;
        let r = self
            .body(Stage::Retr, &mut WriteSink(sink), |s, out| {
                s.write_retr(msg, out)
            })
            .await;
        self.leave(r)
    }

    /// `RETR msg` with a chunk callback instead of a writer (see [`retr`](Self::retr)). The
    /// chunks are at most `tx.len()` bytes; an `Err` from the callback stops further calls.
    pub async fn retr_with(
        &mut self,
        msg: u64,
        f: impl FnMut(&[u8]) -> Result<(), ErrorKind>,
    ) -> Result<u64, Error<T::Error>> {
        self.enter()?;
        let r = self
            .body(Stage::Retr, &mut FnSink(f), |s, out| s.write_retr(msg, out))
            .await;
        self.leave(r)
    }

    /// `TOP msg lines`: the header and the first `lines` body lines, streamed into `sink`
    /// (see [`retr`](Self::retr)).
    pub async fn top<W: Write>(
        &mut self,
        msg: u64,
        lines: u64,
        sink: &mut W,
    ) -> Result<u64, Error<T::Error>> {
        self.enter()?;
        let r = self
            .body(Stage::Top, &mut WriteSink(sink), |s, out| {
                s.write_top(msg, lines, out)
            })
            .await;
        self.leave(r)
    }

    /// `TOP msg lines` with a chunk callback (see [`retr_with`](Self::retr_with)).
    pub async fn top_with(
        &mut self,
        msg: u64,
        lines: u64,
        f: impl FnMut(&[u8]) -> Result<(), ErrorKind>,
    ) -> Result<u64, Error<T::Error>> {
        self.enter()?;
        let r = self
            .body(Stage::Top, &mut FnSink(f), |s, out| {
                s.write_top(msg, lines, out)
            })
            .await;
        self.leave(r)
    }

    async fn body<S: Sink>(
        &mut self,
        stage: Stage,
        sink: &mut S,
        write: impl FnOnce(&mut Session, &mut [u8]) -> Result<usize, SessionError>,
    ) -> Result<u64, Error<T::Error>> {
        if self.conn.rx.capacity() < MIN_RX {
            return Err(Error::Capacity);
        }
        self.send(stage, write).await?;
        match self.event(stage, self.config.timeouts.command_ms).await? {
            Ev::BodyStart => {}
            _ => return Err(Error::Protocol(ProtocolError::OutOfSequence)),
        }
        let mut sink_error: Option<ErrorKind> = None;
        loop {
            let p = self
                .conn
                .session
                .handle_body(self.conn.rx.buffered(), self.conn.tx)?;
            self.conn.rx.consume(p.consumed);
            if p.written > 0 && sink_error.is_none() {
                let chunk = self.conn.tx.get(..p.written).unwrap_or(&[]);
                if let Err(k) = sink.put(chunk).await {
                    sink_error = Some(k);
                }
            }
            if p.done {
                break;
            }
            if p.consumed == 0 && p.written == 0 {
                self.fill(stage).await?;
            }
        }
        self.quiet()?;
        if sink_error.is_none()
            && let Err(k) = sink.finish().await
        {
            sink_error = Some(k);
        }
        match sink_error {
            Some(k) => Err(Error::Sink(k)),
            None => Ok(self.conn.session.body_bytes()),
        }
    }

    /// `DELE msg`: marks the message for deletion. It is removed only when the session ends
    /// with a successful [`quit`](Self::quit); [`rset`](Self::rset) or a dropped connection
    /// keeps it.
    pub async fn dele(&mut self, msg: u64) -> Result<(), Error<T::Error>> {
        self.simple(Stage::Dele, |s, out| s.write_dele(msg, out))
            .await
    }

    /// `RSET`: unmarks every message marked with DELE in this session.
    pub async fn rset(&mut self) -> Result<(), Error<T::Error>> {
        self.simple(Stage::Rset, |s, out| s.write_rset(out)).await
    }

    /// `NOOP`: checks that the connection works (and keeps it alive).
    pub async fn noop(&mut self) -> Result<(), Error<T::Error>> {
        self.simple(Stage::Noop, |s, out| s.write_noop(out)).await
    }

    async fn simple(
        &mut self,
        stage: Stage,
        write: impl FnOnce(&mut Session, &mut [u8]) -> Result<usize, SessionError>,
    ) -> Result<(), Error<T::Error>> {
        self.enter()?;
        let r = async {
            self.send(stage, write).await?;
            match self.reply(stage).await? {
                Ev::Ok => Ok(()),
                _ => Err(Error::Protocol(ProtocolError::OutOfSequence)),
            }
        }
        .await;
        self.leave(r)
    }

    /// `QUIT`: ends the session. After login, a `+OK` means the server removed every message
    /// marked with DELE ([`QuitReport::committed`]); a `-ERR` ("some deleted messages not
    /// removed") is [`Error::Rejected`], and a connection that closes without an answer is
    /// [`Error::ConnectionClosed`]: then it is unknown whether the deletions happened.
    pub async fn quit(&mut self) -> Result<QuitReport, Error<T::Error>> {
        self.enter()?;
        let r = async {
            let deleted = self.conn.session.marked_for_deletion();
            self.send(Stage::Quit, |s, out| s.write_quit(out)).await?;
            match self
                .event(Stage::Quit, self.config.timeouts.command_ms)
                .await?
            {
                Ev::Quit { updated } => Ok(QuitReport {
                    committed: updated,
                    deleted: if updated { deleted } else { 0 },
                }),
                _ => Err(Error::Protocol(ProtocolError::OutOfSequence)),
            }
        }
        .await;
        self.leave(r)
    }
}

/// A client half-way through STLS: the server said go ahead, and the caller now runs the TLS
/// handshake over the plain transport returned next to this value.
pub struct Stls<'b, D> {
    rx: LineBuffer<'b>,
    tx: &'b mut [u8],
    session: Session,
    delay: D,
    config: ClientConfig,
}

impl<'b, D: DelayNs> Stls<'b, D> {
    /// Continues over the encrypted transport. The capabilities learned before TLS are
    /// forgotten; call [`Client::capa`] next ([`Client::login`] does it when needed).
    pub fn resume<U: Read + Write>(self, io: U) -> Client<'b, U, D> {
        let Stls {
            rx,
            tx,
            mut session,
            delay,
            config,
        } = self;
        let failed = session.tls_established().err();
        Client {
            conn: Conn {
                io,
                rx,
                tx,
                session,
            },
            delay,
            config,
            busy: false,
            capa_refused: false,
            fatal: failed.map(|e| match e {
                SessionError::Rejected(r) => Fatal::Rejected(r),
                SessionError::Protocol(p) => Fatal::Protocol(p),
                SessionError::Encode(_) => Fatal::Protocol(ProtocolError::OutOfSequence),
            }),
        }
    }
}

fn wait_err<E>(w: Wait<E>, stage: Stage) -> Error<E> {
    match w {
        Wait::Io(e) => Error::Io(e),
        Wait::Closed => Error::ConnectionClosed(stage),
        Wait::Session(e) => e.into(),
        Wait::LineTooLong => Error::Protocol(ProtocolError::LineTooLong),
    }
}

fn summarize<E: embedded_io_async::Error>(e: &Error<E>) -> Fatal {
    match e {
        Error::Io(e) => Fatal::Io(e.kind()),
        Error::Timeout(s) => Fatal::Timeout(*s),
        Error::ConnectionClosed(s) => Fatal::Closed(*s),
        Error::Protocol(p) => Fatal::Protocol(*p),
        Error::Rejected(r) => Fatal::Rejected(*r),
        Error::Failed(f) => *f,
        _ => Fatal::Cancelled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid() {
        let u = Uid::new(b"000000016b023317").unwrap();
        assert_eq!(u.as_str(), "000000016b023317");
        assert_eq!(std::format!("{u}"), "000000016b023317");
        assert!(Uid::new(b"").is_none());
        assert!(Uid::new(b"a b").is_none());
        assert!(Uid::new(&[b'x'; 71]).is_none());
        assert!(Uid::new(&[b'x'; 70]).is_some());
    }
}
