//! The async SMTP client over any [`embedded_io_async`] transport.
//!
//! [`Client`] moves bytes between a transport `T` (an embassy-net `TcpSocket`, a TLS stream, a
//! host socket through `embedded-io-adapters`), two caller-owned buffers and the sans-I/O
//! [`Session`]. Every network wait is bounded by a timeout from [`Timeouts`], measured with a
//! caller-given [`DelayNs`] (embassy-time's `Delay` on a device, a tokio sleep on the host).
//!
//! Round trips are what a device on a cellular link pays for, so the client spends as few as the
//! protocol allows: AUTH PLAIN carries its initial response on the AUTH line, MAIL/RCPT/DATA
//! travel together when the server offers PIPELINING, the data terminator goes out in the same
//! write as the last body bytes, and [`Client::send_and_quit`] appends QUIT to that write.
//!
//! # Cancel safety
//! No method is cancel-safe: dropping a future half-way leaves bytes unsent or a reply unread.
//! The client notices — the next call returns [`Error::Cancelled`] — and the connection must be
//! dropped. Wrap whole operations in a timeout rather than racing them.
//!
//! # Example
//! ```no_run
//! # async fn demo<T, D>(io: T, delay: D) -> Result<(), postwire_smtp::client::Error<T::Error>>
//! # where T: embedded_io_async::Read + embedded_io_async::Write, D: embedded_hal_async::delay::DelayNs {
//! use postwire_core::sasl::Credentials;
//! use postwire_smtp::client::{Buffers, Client, ClientConfig, Envelope, RecipientStatus};
//!
//! let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
//! let mut client = Client::new(io, delay, Buffers { rx: &mut rx, tx: &mut tx }, ClientConfig::default());
//! client.set_implicit_tls(); // `io` is a TLS stream (port 465)
//! client.greet().await?;
//! client.authenticate(&Credentials::new("alice", "secret"), None).await?;
//! let to = ["bob@example.test"];
//! let mut status = [RecipientStatus::NotSent; 1];
//! let body = b"Subject: alert\r\n\r\nTemperature high.\r\n";
//! let report = client
//!     .send_and_quit(&Envelope::new("alice@example.test", &to), &body[..], &mut status)
//!     .await?;
//! assert_eq!(report.accepted, 1);
//! # Ok(()) }
//! ```

use core::fmt;

use embassy_futures::select::{Either, select};
use embedded_hal_async::delay::DelayNs;
use embedded_io_async::{ErrorKind, Read, Write};
use postwire_core::WireError;
use postwire_core::base64;
use postwire_core::dot::DotStuffer;
use postwire_core::io::{WriteAllError, write_all_flush};
use postwire_core::line::LineBuffer;
use postwire_core::sasl::{Credentials, Mechanism, SaslClient, SaslError};

use crate::proto::{
    Event, ProtocolError, REPLY_TEXT_LEN, Rejection, Session, SessionConfig, SessionError, Stage,
};
use crate::wire::{Capabilities, Command, EncodeError, EnhancedCode, ReplyCode};

/// The two caller-owned buffers of a client.
///
/// `rx` holds received reply lines (and, during DATA, the body bytes read from the source
/// before dot-stuffing); 512 bytes is the RFC 5321 reply-line limit, 1 KiB is comfortable.
/// `tx` holds outgoing commands and the dot-stuffed body; it must be at least 256 bytes, and 4×
/// the longest SASL response (an XOAUTH2 token) when one is used. Larger buffers mean fewer
/// writes.
pub struct Buffers<'b> {
    /// Receive buffer.
    pub rx: &'b mut [u8],
    /// Transmit buffer.
    pub tx: &'b mut [u8],
}

/// Timeouts in milliseconds, one per kind of network wait. The defaults are RFC 5321 §4.5.3.2's
/// minimums; a device usually wants shorter ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timeouts {
    /// Waiting for the greeting (220). Default 5 minutes.
    pub greeting_ms: u32,
    /// Waiting for the reply to any command (EHLO, AUTH, MAIL, RCPT, DATA, ...). Default 5 minutes.
    pub command_ms: u32,
    /// Writing one buffer to the transport. Default 3 minutes.
    pub write_ms: u32,
    /// Waiting for the verdict after the end of the data. Default 10 minutes.
    pub data_end_ms: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            greeting_ms: 300_000,
            command_ms: 300_000,
            write_ms: 180_000,
            data_end_ms: 600_000,
        }
    }
}

impl Timeouts {
    /// The same timeout for every wait.
    pub const fn uniform(ms: u32) -> Self {
        Timeouts {
            greeting_ms: ms,
            command_ms: ms,
            write_ms: ms,
            data_end_ms: ms,
        }
    }
}

/// Client settings.
#[derive(Clone, Copy, Debug)]
pub struct ClientConfig<'a> {
    /// The name sent with EHLO/HELO. Default `localhost`.
    pub client_domain: &'a str,
    /// Timeouts of network waits.
    pub timeouts: Timeouts,
    /// Allow AUTH on a connection that is not encrypted. Off by default: credentials are only
    /// sent over TLS (implicit, or after STARTTLS).
    pub allow_plaintext_auth: bool,
    /// Send the SASL initial response on the AUTH line (RFC 4954), saving a round trip. On by
    /// default.
    pub sasl_initial_response: bool,
}

impl Default for ClientConfig<'_> {
    fn default() -> Self {
        ClientConfig {
            client_domain: "localhost",
            timeouts: Timeouts::default(),
            allow_plaintext_auth: false,
            sasl_initial_response: true,
        }
    }
}

/// The envelope of one message: the reverse path and the recipients (To, Cc and Bcc alike: SMTP
/// does not know the difference).
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    /// The sender (`MAIL FROM`); empty for the null reverse-path `<>` (bounces).
    pub from: &'a str,
    /// The recipients (`RCPT TO`), at most 65535.
    pub to: &'a [&'a str],
    /// The size of the message in bytes, when known: checked against the server's SIZE limit
    /// before anything is sent, and announced with `SIZE=`.
    pub size: Option<u64>,
    /// The body contains 8-bit bytes: `BODY=8BITMIME` is requested, and sending fails with
    /// [`Error::EightBitUnsupported`] when the server does not offer 8BITMIME.
    pub eight_bit: bool,
}

impl<'a> Envelope<'a> {
    /// An envelope with unknown size and a 7-bit body.
    pub const fn new(from: &'a str, to: &'a [&'a str]) -> Self {
        Envelope {
            from,
            to,
            size: None,
            eight_bit: false,
        }
    }
}

/// What became of one recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RecipientStatus {
    /// Not sent (the transaction failed before this RCPT).
    NotSent,
    /// The server accepted the recipient, and the send returned `Ok`: the server took
    /// responsibility for delivering the message to it. (After a failed send, accepted
    /// recipients are reported as [`NotSent`](Self::NotSent).)
    Accepted,
    /// The server refused the recipient.
    Refused(Rejection),
}

/// The result of a successful send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SendReport {
    /// Recipients accepted (these get the message).
    pub accepted: u16,
    /// Recipients refused (see the status slice).
    pub refused: u16,
    /// The server's final reply code (2xx).
    pub code: ReplyCode,
    /// Its enhanced status code, if any.
    pub enhanced: Option<EnhancedCode>,
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
    /// The server closed the service (421) or refused the greeting.
    Rejected(Rejection),
    /// Reading the message body from its source failed after part of it was sent.
    BodyRead(ErrorKind),
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
            Fatal::BodyRead(k) => write!(f, "reading the message body failed: {k:?}"),
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
    /// The server broke the protocol. Fatal.
    Protocol(ProtocolError),
    /// The server refused a step. Fatal only for 421 ([`Rejection::closes_connection`]) and a
    /// refused greeting.
    Rejected(Rejection),
    /// No recipient was accepted, so no message was sent. The per-recipient refusals are in
    /// the status slice given to the send call.
    NoRecipientsAccepted,
    /// A command argument (address, domain, mechanism) contains CR, LF, NUL or characters not
    /// allowed there, or a non-ASCII address was given to a server without SMTPUTF8.
    InvalidArgument,
    /// A buffer is too small for a command or SASL response.
    Capacity,
    /// The message is larger than the server's SIZE limit; nothing was sent.
    MessageTooLarge {
        /// The declared size.
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// The body is 8-bit but the server does not offer 8BITMIME; nothing was sent.
    EightBitUnsupported,
    /// A non-ASCII address needs SMTPUTF8, which the server does not offer; nothing was sent.
    SmtpUtf8Unsupported,
    /// STARTTLS was asked for but the server does not offer it. The client does not go on
    /// without TLS.
    StartTlsUnavailable,
    /// Credentials would go over an unencrypted connection and
    /// [`ClientConfig::allow_plaintext_auth`] is off. Nothing was sent.
    PlaintextAuthRefused,
    /// The server offers none of the SASL mechanisms the client can use (or no AUTH at all).
    NoCommonMechanism,
    /// The SASL mechanism failed locally (e.g. NUL in a PLAIN user name).
    Sasl(SaslError),
    /// Reading the message body failed after part of it was sent. Fatal: the message was not
    /// terminated, so the server discards it when the connection closes.
    BodyRead(ErrorKind),
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
            | Error::Protocol(_)
            | Error::BodyRead(_)
            | Error::Cancelled
            | Error::Failed(_) => true,
            Error::Rejected(r) => r.closes_connection() || r.stage == Stage::Greeting,
            _ => false,
        }
    }

    /// The step of the session the error happened at, when known.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            Error::Timeout(s) | Error::ConnectionClosed(s) => Some(*s),
            Error::Rejected(r) => Some(r.stage),
            Error::Protocol(ProtocolError::UnexpectedCode { stage, .. }) => Some(*stage),
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
            Error::Timeout(s) => write!(f, "timed out waiting for the reply to {s}"),
            Error::ConnectionClosed(s) => write!(f, "connection closed by the server at {s}"),
            Error::Protocol(p) => write!(f, "protocol error: {p}"),
            Error::Rejected(r) => write!(f, "{r}"),
            Error::NoRecipientsAccepted => {
                f.write_str("no recipient was accepted; nothing was sent")
            }
            Error::InvalidArgument => {
                f.write_str("invalid argument (CR, LF, NUL or a character not allowed there)")
            }
            Error::Capacity => f.write_str("buffer too small"),
            Error::MessageTooLarge { size, limit } => {
                write!(
                    f,
                    "message of {size} bytes exceeds the server's limit of {limit} bytes"
                )
            }
            Error::EightBitUnsupported => {
                f.write_str("8-bit message but the server does not offer 8BITMIME")
            }
            Error::SmtpUtf8Unsupported => {
                f.write_str("non-ASCII address but the server does not offer SMTPUTF8")
            }
            Error::StartTlsUnavailable => f.write_str("the server does not offer STARTTLS"),
            Error::PlaintextAuthRefused => {
                f.write_str("refusing to send credentials over an unencrypted connection")
            }
            Error::NoCommonMechanism => f.write_str("the server offers no usable AUTH mechanism"),
            Error::Sasl(e) => write!(f, "SASL: {e}"),
            Error::BodyRead(k) => write!(f, "reading the message body failed: {k:?}"),
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

/// Bytes kept free at the end of the transmit buffer while the body is encoded, so the data
/// terminator (`CRLF.CRLF`, 5 bytes) and `QUIT\r\n` (6 bytes) always fit into the last write.
const TAIL_RESERVE: usize = 11;

/// Smallest transmit buffer the client works with.
pub const MIN_TX: usize = 256;

/// The transport, the buffers and the session: everything a wait borrows, kept apart from the
/// timer so a wait and its timeout can run together.
struct Conn<'b, T> {
    io: T,
    rx: LineBuffer<'b>,
    tx: &'b mut [u8],
    session: Session<'b>,
}

enum Wait<E> {
    Io(E),
    Closed,
    Session(SessionError),
    LineTooLong,
}

impl<T: Read + Write> Conn<'_, T> {
    /// Reads until the session reports a complete reply.
    async fn next_event(&mut self) -> Result<Event, Wait<T::Error>> {
        loop {
            match self.rx.next_line() {
                Ok(Some(line)) => match self.session.handle_line(line) {
                    Ok(Some(ev)) => return Ok(ev),
                    Ok(None) => continue,
                    Err(e) => return Err(Wait::Session(e)),
                },
                Ok(None) => {}
                Err(_) => return Err(Wait::LineTooLong),
            }
            let spare = self.rx.spare();
            if spare.is_empty() {
                return Err(Wait::LineTooLong);
            }
            let n = self.io.read(spare).await.map_err(Wait::Io)?;
            if n == 0 {
                return Err(Wait::Closed);
            }
            self.rx.commit(n);
        }
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

/// An SMTP client connection.
///
/// Create it over a connected transport with [`Client::new`], then call [`greet`](Self::greet).
/// For STARTTLS (port 587) call [`starttls`](Self::starttls), run the TLS handshake over the
/// returned transport and continue with [`StartTls::resume`]. For implicit TLS (port 465) give
/// it the TLS stream and call [`set_implicit_tls`](Self::set_implicit_tls) first.
pub struct Client<'b, T, D> {
    conn: Conn<'b, T>,
    delay: D,
    config: ClientConfig<'b>,
    busy: bool,
    fatal: Option<Fatal>,
}

impl<'b, T: Read + Write, D: DelayNs> Client<'b, T, D> {
    /// A client over a connected transport. Nothing is sent or read until the first call.
    pub fn new(io: T, delay: D, buffers: Buffers<'b>, config: ClientConfig<'b>) -> Self {
        let session = Session::new(SessionConfig {
            client_domain: config.client_domain,
        });
        Client {
            conn: Conn {
                io,
                rx: LineBuffer::new(buffers.rx),
                tx: buffers.tx,
                session,
            },
            delay,
            config,
            busy: false,
            fatal: None,
        }
    }

    /// Declares the transport encrypted from the start (implicit TLS, RFC 8314).
    pub fn set_implicit_tls(&mut self) {
        self.conn.session.set_implicit_tls();
    }

    /// What the server offered in its EHLO reply.
    pub fn capabilities(&self) -> &Capabilities {
        self.conn.session.capabilities()
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.conn.session.is_tls()
    }

    /// The text of the server's last complete reply (lines joined by spaces, at most
    /// [`REPLY_TEXT_LEN`] bytes) — e.g. the queue id after a send, or the reason for a refusal.
    /// It is the server's text: escape it before showing it.
    pub fn last_reply_text(&self) -> &[u8] {
        self.conn.session.last_reply_text()
    }

    /// The text of the server's verdict on the last message sent (e.g. `2.0.0 Ok: queued as
    /// 4Fx1`), also after [`send_and_quit`](Self::send_and_quit) read the reply to QUIT.
    pub fn message_reply_text(&self) -> &[u8] {
        self.conn.session.message_reply_text()
    }

    /// The sans-I/O session (read-only).
    pub fn session(&self) -> &Session<'b> {
        &self.conn.session
    }

    /// The transport, e.g. to close it.
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
        }
        r
    }

    async fn event(&mut self, stage: Stage, ms: u32) -> Result<Event, Error<T::Error>> {
        match select(self.conn.next_event(), self.delay.delay_ms(ms)).await {
            Either::First(Ok(ev)) => Ok(ev),
            Either::First(Err(Wait::Io(e))) => Err(Error::Io(e)),
            Either::First(Err(Wait::Closed)) => Err(Error::ConnectionClosed(stage)),
            Either::First(Err(Wait::Session(e))) => Err(e.into()),
            Either::First(Err(Wait::LineTooLong)) => {
                Err(Error::Protocol(ProtocolError::LineTooLong))
            }
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

    /// Reads the greeting and introduces the client with EHLO (HELO when the server refuses
    /// EHLO). On success, [`capabilities`](Self::capabilities) tells what the server offers.
    pub async fn greet(&mut self) -> Result<(), Error<T::Error>> {
        self.enter()?;
        let r = self.greet_inner().await;
        self.leave(r)
    }

    /// Sends EHLO (HELO when the server refuses EHLO) and reads the capabilities. Needed once
    /// after [`StartTls::resume`]; [`greet`](Self::greet) does it for a new connection.
    pub async fn ehlo(&mut self) -> Result<(), Error<T::Error>> {
        self.enter()?;
        let r = self.ehlo_inner().await;
        self.leave(r)
    }

    async fn greet_inner(&mut self) -> Result<(), Error<T::Error>> {
        // Only once, on a new connection: afterwards no greeting is outstanding and waiting for
        // one would only run into the timeout.
        if self.conn.session.state() != crate::proto::State::Opening
            || !self.conn.session.awaiting_reply()
        {
            return Err(Error::Protocol(ProtocolError::OutOfSequence));
        }
        match self
            .event(Stage::Greeting, self.config.timeouts.greeting_ms)
            .await?
        {
            Event::Greeting => {}
            _ => return Err(Error::Protocol(ProtocolError::OutOfSequence)),
        }
        self.ehlo_inner().await
    }

    async fn ehlo_inner(&mut self) -> Result<(), Error<T::Error>> {
        match self.exchange(Stage::Ehlo, Session::write_ehlo).await? {
            Event::Ehlo => Ok(()),
            Event::EhloRefused(_) => match self.exchange(Stage::Helo, Session::write_helo).await? {
                Event::Helo => Ok(()),
                _ => Err(Error::Protocol(ProtocolError::OutOfSequence)),
            },
            _ => Err(Error::Protocol(ProtocolError::OutOfSequence)),
        }
    }

    /// Sends STARTTLS and waits for the go-ahead. Then call [`into_starttls`](Self::into_starttls)
    /// to get the plain transport for the TLS handshake.
    ///
    /// Fails with [`Error::StartTlsUnavailable`] when the server does not offer STARTTLS (the
    /// client never falls back to plain text), and with [`ProtocolError::DataAfterStartTls`]
    /// when the server sent anything after its go-ahead (response injection).
    pub async fn starttls(&mut self) -> Result<(), Error<T::Error>> {
        self.enter()?;
        let r = self.starttls_inner().await;
        self.leave(r)
    }

    /// After a successful [`starttls`](Self::starttls): splits the client into the plain
    /// transport, over which the caller runs the TLS handshake, and the rest, which
    /// [`StartTls::resume`] joins with the encrypted transport. Gives the client back unchanged
    /// when STARTTLS has not been accepted.
    #[allow(
        clippy::result_large_err,
        reason = "the client itself is given back; no Box without alloc"
    )]
    pub fn into_starttls(self) -> Result<(T, StartTls<'b, D>), Self> {
        if self.fatal.is_some() || self.conn.session.state() != crate::proto::State::TlsPending {
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
            StartTls {
                rx,
                tx,
                session,
                delay,
                config,
            },
        ))
    }

    async fn starttls_inner(&mut self) -> Result<(), Error<T::Error>> {
        if !self.conn.session.capabilities().starttls {
            return Err(Error::StartTlsUnavailable);
        }
        match self
            .exchange(Stage::StartTls, Session::write_starttls)
            .await?
        {
            Event::StartTlsGoAhead => {}
            _ => return Err(Error::Protocol(ProtocolError::OutOfSequence)),
        }
        if !self.conn.rx.buffered().is_empty() {
            let e = self.conn.session.abort(ProtocolError::DataAfterStartTls);
            return Err(e.into());
        }
        Ok(())
    }

    /// Authenticates with `credentials`, using `mechanism` or, when `None`, the best one the
    /// server offers: over TLS PLAIN, then LOGIN, then CRAM-MD5 (PLAIN needs one round trip
    /// with its initial response, and TLS already protects the secret); without TLS (only when
    /// [`ClientConfig::allow_plaintext_auth`] is set) CRAM-MD5 first, because it does not reveal
    /// the password. XOAUTH2 is used only when named. A named mechanism is tried even when the
    /// server does not announce it.
    ///
    /// Returns the mechanism used. A refusal (535 wrong credentials, 530 TLS required, 534
    /// mechanism too weak, ...) is [`Error::Rejected`] with [`Stage::Auth`].
    pub async fn authenticate(
        &mut self,
        credentials: &Credentials<'_>,
        mechanism: Option<Mechanism>,
    ) -> Result<Mechanism, Error<T::Error>> {
        self.enter()?;
        let r = self.authenticate_inner(credentials, mechanism).await;
        self.leave(r)
    }

    fn choose_mechanism(&self, mechanism: Option<Mechanism>) -> Result<Mechanism, Error<T::Error>> {
        if let Some(m) = mechanism {
            return Ok(m);
        }
        let offered = self.conn.session.capabilities().auth;
        let order: [Mechanism; 3] = if self.is_tls() {
            [Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]
        } else {
            [Mechanism::CramMd5, Mechanism::Plain, Mechanism::Login]
        };
        if offered.is_empty() {
            // Nothing announced (e.g. before STARTTLS on a submission port): let the server
            // answer. PLAIN is then sent without an initial response, so no secret leaves
            // before the server said 334.
            return Ok(Mechanism::Plain);
        }
        order
            .into_iter()
            .find(|m| offered.contains_name(m.name().as_bytes()))
            .ok_or(Error::NoCommonMechanism)
    }

    async fn authenticate_inner(
        &mut self,
        credentials: &Credentials<'_>,
        mechanism: Option<Mechanism>,
    ) -> Result<Mechanism, Error<T::Error>> {
        if !self.is_tls() && !self.config.allow_plaintext_auth {
            return Err(Error::PlaintextAuthRefused);
        }
        let mech = self.choose_mechanism(mechanism)?;
        let mut sasl = SaslClient::new(mech, *credentials);
        // tx = [command | base64 | raw response]
        let len = self.conn.tx.len();
        if len < MIN_TX {
            return Err(Error::Capacity);
        }
        let raw_cap = len / 4;
        let b64_cap = base64::encoded_len(raw_cap);
        let (head, raw) = self.conn.tx.split_at_mut(len - raw_cap);
        let (cmd, b64) = head.split_at_mut(head.len() - b64_cap);
        let announced = !self.conn.session.capabilities().auth.is_empty();
        let n = if mech.has_initial_response() && self.config.sasl_initial_response && announced {
            match sasl.initial_response(raw)? {
                Some(0) => self.conn.session.write_auth(mech.name(), Some(b"="), cmd)?,
                Some(r) => {
                    let k =
                        base64::encode_into(raw.get(..r).unwrap_or(&[]), b64).map_err(wire_err)?;
                    self.conn.session.write_auth(
                        mech.name(),
                        Some(b64.get(..k).unwrap_or(&[])),
                        cmd,
                    )?
                }
                None => self.conn.session.write_auth(mech.name(), None, cmd)?,
            }
        } else {
            self.conn.session.write_auth(mech.name(), None, cmd)?
        };
        self.flush_tx(n, Stage::Auth).await?;
        loop {
            match self
                .event(Stage::Auth, self.config.timeouts.command_ms)
                .await?
            {
                Event::Authenticated => return Ok(mech),
                Event::AuthChallenge => {
                    let text = self.conn.session.last_reply_text();
                    if text.len() >= REPLY_TEXT_LEN {
                        return Err(Error::Protocol(ProtocolError::BadChallenge));
                    }
                    let len = self.conn.tx.len();
                    let (head, raw) = self.conn.tx.split_at_mut(len - raw_cap);
                    let (cmd, b64) = head.split_at_mut(head.len() - b64_cap);
                    // "334 " with no text, or "=": an empty challenge.
                    let challenge_len = if text.is_empty() || text == b"=" {
                        0
                    } else {
                        match base64::decode_into(text, b64) {
                            Ok(k) => k,
                            // XOAUTH2 sends its error as JSON; it is answered with an empty
                            // response whatever it says. PLAIN and LOGIN do not use the
                            // challenge, and some servers put free text there ("334 PLAIN
                            // supported", curl's test server): ignore it rather than fail.
                            Err(_)
                                if matches!(
                                    mech,
                                    Mechanism::XOAuth2 | Mechanism::Plain | Mechanism::Login
                                ) =>
                            {
                                0
                            }
                            Err(_) => return Err(Error::Protocol(ProtocolError::BadChallenge)),
                        }
                    };
                    let r = sasl.respond(b64.get(..challenge_len).unwrap_or(&[]), raw)?;
                    let k =
                        base64::encode_into(raw.get(..r).unwrap_or(&[]), b64).map_err(wire_err)?;
                    let n = self
                        .conn
                        .session
                        .write_auth_response(b64.get(..k).unwrap_or(&[]), cmd)?;
                    self.flush_tx(n, Stage::Auth).await?;
                }
                _ => return Err(Error::Protocol(ProtocolError::OutOfSequence)),
            }
        }
    }

    /// Sends one message and keeps the connection open for more.
    ///
    /// `body` is the message (headers, blank line, body) with any line ends; it is read in
    /// chunks and dot-stuffed on the fly (bare CR and LF become CRLF), so a body larger than any
    /// buffer goes out in constant memory. `status` must have one slot per recipient and
    /// receives each recipient's outcome.
    ///
    /// `Ok` means the server accepted the message for every [`RecipientStatus::Accepted`]
    /// recipient: at least one RCPT was accepted and the reply after the data was 2xx.
    pub async fn send<R: Read>(
        &mut self,
        envelope: &Envelope<'_>,
        body: R,
        status: &mut [RecipientStatus],
    ) -> Result<SendReport, Error<T::Error>> {
        self.enter()?;
        let r = self.send_inner(envelope, body, status, false).await;
        self.leave(not_delivered_on_error(r, status))
    }

    /// Sends one message and QUIT in the same write as the end of the data, saving a round trip.
    /// The result is that of the message; a missing reply to QUIT is not an error.
    pub async fn send_and_quit<R: Read>(
        &mut self,
        envelope: &Envelope<'_>,
        body: R,
        status: &mut [RecipientStatus],
    ) -> Result<SendReport, Error<T::Error>> {
        self.enter()?;
        let r = self.send_inner(envelope, body, status, true).await;
        self.leave(not_delivered_on_error(r, status))
    }

    fn check_envelope(
        &self,
        envelope: &Envelope<'_>,
        status: &[RecipientStatus],
    ) -> Result<bool, Error<T::Error>> {
        if envelope.to.is_empty()
            || envelope.to.len() > usize::from(u16::MAX)
            || status.len() != envelope.to.len()
        {
            return Err(Error::InvalidArgument);
        }
        let caps = self.conn.session.capabilities();
        if let (Some(size), Some(limit)) = (envelope.size, caps.size)
            && limit > 0
            && size > limit
        {
            return Err(Error::MessageTooLarge { size, limit });
        }
        if envelope.eight_bit && !caps.eight_bit_mime {
            return Err(Error::EightBitUnsupported);
        }
        let utf8 = !envelope.from.is_ascii() || envelope.to.iter().any(|a| !a.is_ascii());
        if utf8 && !caps.smtputf8 {
            return Err(Error::SmtpUtf8Unsupported);
        }
        // Validate every address before anything is encoded: a bad recipient found half-way
        // would leave MAIL (and earlier RCPTs) registered with the session but never sent (or,
        // without pipelining, sent), putting replies and commands out of step.
        let mail = Command::MailFrom {
            address: envelope.from,
            size: None,
            body_8bitmime: false,
            smtputf8: utf8,
        };
        mail.validate().map_err(|_| Error::InvalidArgument)?;
        for to in envelope.to {
            let rcpt = Command::RcptTo {
                address: to,
                smtputf8: utf8,
            };
            rcpt.validate().map_err(|_| Error::InvalidArgument)?;
        }
        Ok(utf8)
    }

    async fn send_inner<R: Read>(
        &mut self,
        envelope: &Envelope<'_>,
        body: R,
        status: &mut [RecipientStatus],
        quit: bool,
    ) -> Result<SendReport, Error<T::Error>> {
        let utf8 = self.check_envelope(envelope, status)?;
        status
            .iter_mut()
            .for_each(|s| *s = RecipientStatus::NotSent);
        let command_ms = self.config.timeouts.command_ms;
        let mut mail: Result<(), Rejection> = Ok(());
        let mut accepted: u16 = 0;
        let mut refused: u16 = 0;
        let data: Result<(), Rejection>;

        if self.conn.session.capabilities().pipelining {
            // MAIL, every RCPT and DATA in as few writes as the buffer allows, then the replies.
            let mut filled = 0;
            let n = self.conn.session.write_mail_from(
                envelope.from,
                envelope.size,
                envelope.eight_bit,
                utf8,
                self.conn.tx,
            )?;
            filled += n;
            for (i, to) in envelope.to.iter().enumerate() {
                let idx = u16::try_from(i).map_err(|_| Error::InvalidArgument)?;
                filled = self
                    .pipeline(
                        filled,
                        |s, out| s.write_rcpt_to(to, idx, utf8, out),
                        Stage::RcptTo,
                    )
                    .await?;
            }
            filled = self
                .pipeline(filled, |s, out| s.write_data(out), Stage::Data)
                .await?;
            self.flush_tx(filled, Stage::MailFrom).await?;
            let total = envelope.to.len() + 2;
            let mut replies = total;
            let mut data_reply = None;
            while replies > 0 {
                // The reply waited for: MAIL's first, then the RCPTs', DATA's last.
                let stage = if replies == total {
                    Stage::MailFrom
                } else if data_reply.is_none() && replies == 1 {
                    Stage::Data
                } else {
                    Stage::RcptTo
                };
                match self.event(stage, command_ms).await? {
                    Event::Mail(r) => mail = r,
                    Event::Recipient { index, result } => {
                        record(status, index, result, &mut accepted, &mut refused);
                    }
                    Event::Data(r) => data_reply = Some(r),
                    _ => return Err(Error::Protocol(ProtocolError::OutOfSequence)),
                }
                replies -= 1;
            }
            data = data_reply.ok_or(Error::Protocol(ProtocolError::OutOfSequence))?;
        } else {
            let n = self.conn.session.write_mail_from(
                envelope.from,
                envelope.size,
                envelope.eight_bit,
                utf8,
                self.conn.tx,
            )?;
            self.flush_tx(n, Stage::MailFrom).await?;
            match self.event(Stage::MailFrom, command_ms).await? {
                Event::Mail(Ok(())) => {}
                Event::Mail(Err(r)) => {
                    self.reset_quietly().await?;
                    return Err(Error::Rejected(r));
                }
                _ => return Err(Error::Protocol(ProtocolError::OutOfSequence)),
            }
            for (i, to) in envelope.to.iter().enumerate() {
                let idx = u16::try_from(i).map_err(|_| Error::InvalidArgument)?;
                let n = self
                    .conn
                    .session
                    .write_rcpt_to(to, idx, utf8, self.conn.tx)?;
                self.flush_tx(n, Stage::RcptTo).await?;
                match self.event(Stage::RcptTo, command_ms).await? {
                    Event::Recipient { index, result } => {
                        record(status, index, result, &mut accepted, &mut refused)
                    }
                    _ => return Err(Error::Protocol(ProtocolError::OutOfSequence)),
                }
            }
            if accepted == 0 {
                self.reset_quietly().await?;
                return Err(Error::NoRecipientsAccepted);
            }
            let n = self.conn.session.write_data(self.conn.tx)?;
            self.flush_tx(n, Stage::Data).await?;
            data = match self.event(Stage::Data, command_ms).await? {
                Event::Data(r) => r,
                _ => return Err(Error::Protocol(ProtocolError::OutOfSequence)),
            };
        }

        // The transaction failed before the data: no message may go out.
        if mail.is_err() || accepted == 0 || data.is_err() {
            if data.is_ok() {
                // 354 although nothing can be delivered: end the data at once, empty.
                self.conn.session.data_sent()?;
                let n = copy_into(self.conn.tx, b".\r\n")?;
                self.flush_tx(n, Stage::DataEnd).await?;
                let _ = self
                    .event(Stage::DataEnd, self.config.timeouts.data_end_ms)
                    .await?;
            } else {
                self.reset_quietly().await?;
            }
            return Err(match (mail, data) {
                (Err(r), _) => Error::Rejected(r),
                _ if accepted == 0 => Error::NoRecipientsAccepted,
                (_, Err(r)) => Error::Rejected(r),
                _ => Error::NoRecipientsAccepted,
            });
        }

        self.send_body(body, quit).await?;
        let verdict = match self
            .event(Stage::DataEnd, self.config.timeouts.data_end_ms)
            .await?
        {
            Event::MessageDone(v) => v,
            _ => return Err(Error::Protocol(ProtocolError::OutOfSequence)),
        };
        if quit {
            // The message's fate is decided; a server that closes without 221 is fine.
            let _ = self.event(Stage::Quit, command_ms).await;
        }
        match verdict {
            Ok(code) => {
                let enhanced = self.last_enhanced();
                Ok(SendReport {
                    accepted,
                    refused,
                    code,
                    enhanced,
                })
            }
            Err(r) => Err(Error::Rejected(r)),
        }
    }

    fn last_enhanced(&self) -> Option<EnhancedCode> {
        EnhancedCode::parse_prefix(self.conn.session.message_reply_text()).map(|(e, _)| e)
    }

    /// Encodes one more pipelined command after `filled` bytes, writing the buffer out first when
    /// it is full. Returns the new fill level.
    async fn pipeline(
        &mut self,
        filled: usize,
        encode: impl Fn(&mut Session<'b>, &mut [u8]) -> Result<usize, SessionError>,
        stage: Stage,
    ) -> Result<usize, Error<T::Error>> {
        let out = self.conn.tx.get_mut(filled..).unwrap_or(&mut []);
        match encode(&mut self.conn.session, out) {
            Ok(n) => Ok(filled + n),
            Err(SessionError::Encode(EncodeError::BufferTooSmall)) if filled > 0 => {
                self.flush_tx(filled, stage).await?;
                Ok(encode(&mut self.conn.session, self.conn.tx)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Streams the body through the dot-stuffer. The source is read into the (idle) receive
    /// buffer; the terminator, and QUIT when asked, go out in the same write as the last body
    /// bytes.
    async fn send_body<R: Read>(&mut self, mut body: R, quit: bool) -> Result<(), Error<T::Error>> {
        // Nothing may be pending from the server while the data goes out; the idle receive
        // buffer doubles as the body's read buffer. (An empty read slice would also look like
        // the end of the body and truncate the message.)
        if !self.conn.rx.buffered().is_empty() || self.conn.rx.spare().is_empty() {
            let e = self.conn.session.abort(ProtocolError::UnsolicitedReply);
            return Err(e.into());
        }
        let mut stuffer = DotStuffer::new();
        let limit = self.conn.tx.len().saturating_sub(TAIL_RESERVE);
        let mut filled = 0;
        loop {
            let chunk = self.conn.rx.spare();
            let n = match body.read(chunk).await {
                Ok(n) => n,
                Err(e) => {
                    let k = embedded_io_async::Error::kind(&e);
                    self.conn.session.abort(ProtocolError::OutOfSequence);
                    return Err(Error::BodyRead(k));
                }
            };
            if n == 0 {
                break;
            }
            let mut off = 0;
            while off < n {
                let input = self.conn.rx.spare().get(off..n).unwrap_or(&[]);
                let out = self.conn.tx.get_mut(filled..limit).unwrap_or(&mut []);
                let (c, w) = stuffer.encode(input, out);
                off += c;
                filled += w;
                if off < n {
                    // The transmit buffer is full and more input waits: send what we have.
                    self.flush_tx(filled, Stage::DataEnd).await?;
                    filled = 0;
                }
            }
        }
        let out = self.conn.tx.get_mut(filled..).unwrap_or(&mut []);
        filled += stuffer.finish(out).map_err(wire_err)?;
        self.conn.session.data_sent()?;
        if quit {
            let out = self.conn.tx.get_mut(filled..).unwrap_or(&mut []);
            filled += self.conn.session.write_quit(out)?;
        }
        self.flush_tx(filled, Stage::DataEnd).await
    }

    /// Writes one command, sends it and waits for its reply.
    async fn exchange(
        &mut self,
        stage: Stage,
        write: impl FnOnce(&mut Session<'b>, &mut [u8]) -> Result<usize, SessionError>,
    ) -> Result<Event, Error<T::Error>> {
        let n = write(&mut self.conn.session, self.conn.tx)?;
        self.flush_tx(n, stage).await?;
        self.event(stage, self.config.timeouts.command_ms).await
    }

    /// RSET after a failed transaction, so the connection is clean for the next message.
    async fn reset_quietly(&mut self) -> Result<(), Error<T::Error>> {
        match self.exchange(Stage::Rset, Session::write_rset).await? {
            Event::Reset(_) => Ok(()),
            _ => Err(Error::Protocol(ProtocolError::OutOfSequence)),
        }
    }

    /// Sends RSET: aborts any open transaction.
    pub async fn reset(&mut self) -> Result<(), Error<T::Error>> {
        self.enter()?;
        let r = match self.exchange(Stage::Rset, Session::write_rset).await {
            Ok(Event::Reset(r)) => r.map_err(Error::Rejected),
            Ok(_) => Err(Error::Protocol(ProtocolError::OutOfSequence)),
            Err(e) => Err(e),
        };
        self.leave(r)
    }

    /// Sends NOOP (keeps the connection alive, checks it works).
    pub async fn noop(&mut self) -> Result<(), Error<T::Error>> {
        self.enter()?;
        let r = match self.exchange(Stage::Noop, Session::write_noop).await {
            Ok(Event::Noop(r)) => r.map_err(Error::Rejected),
            Ok(_) => Err(Error::Protocol(ProtocolError::OutOfSequence)),
            Err(e) => Err(e),
        };
        self.leave(r)
    }

    /// Sends QUIT and waits for the reply (a connection closed instead counts as done).
    pub async fn quit(&mut self) -> Result<(), Error<T::Error>> {
        self.enter()?;
        let r = match self.exchange(Stage::Quit, Session::write_quit).await {
            Ok(_) | Err(Error::ConnectionClosed(_)) => Ok(()),
            Err(e) => Err(e),
        };
        self.leave(r)
    }
}

/// A client half-way through STARTTLS: the server said go ahead, and the caller now runs the
/// TLS handshake over the plain transport returned next to this value.
pub struct StartTls<'b, D> {
    rx: LineBuffer<'b>,
    tx: &'b mut [u8],
    session: Session<'b>,
    delay: D,
    config: ClientConfig<'b>,
}

impl<'b, D: DelayNs> StartTls<'b, D> {
    /// Continues over the encrypted transport. Everything the server said before TLS is
    /// forgotten; call [`Client::ehlo`] next to read the capabilities anew (RFC 3207 §4.2) —
    /// until then the client refuses to send mail.
    pub fn resume<U: Read + Write>(self, io: U) -> Client<'b, U, D> {
        let StartTls {
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
            fatal: failed.map(|e| match e {
                SessionError::Rejected(r) => Fatal::Rejected(r),
                SessionError::Protocol(p) => Fatal::Protocol(p),
                SessionError::Encode(_) => Fatal::Protocol(ProtocolError::OutOfSequence),
            }),
        }
    }
}

/// After a failed send nobody received the message: an accepted RCPT only means delivery when
/// the send returned `Ok`, so the status slice says [`RecipientStatus::NotSent`] for them.
fn not_delivered_on_error<T, E>(
    r: Result<T, Error<E>>,
    status: &mut [RecipientStatus],
) -> Result<T, Error<E>> {
    if r.is_err() {
        for s in status.iter_mut() {
            if *s == RecipientStatus::Accepted {
                *s = RecipientStatus::NotSent;
            }
        }
    }
    r
}

fn record(
    status: &mut [RecipientStatus],
    index: u16,
    result: Result<(), Rejection>,
    accepted: &mut u16,
    refused: &mut u16,
) {
    let slot = status.get_mut(usize::from(index));
    match result {
        Ok(()) => {
            *accepted = accepted.saturating_add(1);
            if let Some(s) = slot {
                *s = RecipientStatus::Accepted;
            }
        }
        Err(r) => {
            *refused = refused.saturating_add(1);
            if let Some(s) = slot {
                *s = RecipientStatus::Refused(r);
            }
        }
    }
}

fn copy_into<E>(out: &mut [u8], bytes: &[u8]) -> Result<usize, Error<E>> {
    let dst = out.get_mut(..bytes.len()).ok_or(Error::Capacity)?;
    dst.copy_from_slice(bytes);
    Ok(bytes.len())
}

fn wire_err<E>(e: WireError) -> Error<E> {
    match e {
        WireError::BufferTooSmall => Error::Capacity,
        _ => Error::Protocol(ProtocolError::BadChallenge),
    }
}

fn summarize<E: embedded_io_async::Error>(e: &Error<E>) -> Fatal {
    match e {
        Error::Io(e) => Fatal::Io(e.kind()),
        Error::Timeout(s) => Fatal::Timeout(*s),
        Error::ConnectionClosed(s) => Fatal::Closed(*s),
        Error::Protocol(p) => Fatal::Protocol(*p),
        Error::Rejected(r) => Fatal::Rejected(*r),
        Error::BodyRead(k) => Fatal::BodyRead(*k),
        Error::Failed(f) => *f,
        _ => Fatal::Cancelled,
    }
}
