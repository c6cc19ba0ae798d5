//! The device logic of the postwire firmware images, shared with the host: `no_std`, no
//! allocator, no `unsafe`, no panics.
//!
//! Three jobs, each one `async fn` on [`App`]:
//!
//! - [`App::send_alert`]: compose (postwire-mime) and send (postwire-smtp, AUTH) an alert
//!   e-mail with a subject such as `Temperature alert: 31.5 °C`, a short text and a CSV log
//!   attached, streamed from any `embedded_io_async::Read`. Returns once the server accepted
//!   the message.
//! - [`App::serve_imap`]: the command mailbox over IMAP: log in, select the command folder,
//!   and for each new message from an allowed sender parse its command ([`Command`]), run it
//!   on the caller's [`Device`], reply by e-mail, flag the message (`\Seen` and
//!   [`Settings::done_keyword`]) and move it to [`Settings::processed_folder`]; then IDLE
//!   until the server pushes the next message or the caller's `stop` future fires.
//! - [`App::poll_pop3`]: the same over POP3 (UIDL based): RETR, execute, reply, DELE, QUIT.
//!
//! # Exactly once
//!
//! Each mailbox job keeps its progress in a journal the caller owns and hands in again after
//! a reconnect ([`ImapJournal`], [`Pop3Journal`]); a firmware keeps it in RAM, or in flash
//! when commands must survive a reset (persist it from [`Event::ImapJournal`] /
//! [`Event::Pop3Journal`], which are emitted after every change and *before* the device
//! acts). The state machine is described in [`journal`]; in short, a command is executed at
//! most once — never again once its journal entry says it was claimed — and every step after
//! the execution (reply, flag, move / DELE) is repeated or skipped on resume until it is
//! known to be done. Connection cuts at any point cannot make a command run twice.
//!
//! # Who may command the device
//!
//! Only messages whose `From:` is in [`Settings::allowed_senders`] are executed (the check is
//! as strong as the server's sender checks). Automatic messages — `Auto-Submitted:` other than
//! `no` (RFC 3834), which every reply of this app carries — are never executed nor answered,
//! so two devices, or a device and its own replies in a shared mailbox, cannot answer each
//! other forever. Both kinds are filed (IMAP) or deleted (POP3) without a reply.
//!
//! # Transport, TLS, time, randomness
//!
//! The app talks TCP through the caller's [`Net`] (embassy-net on a device, tokio on the
//! host) and runs TLS itself with postwire-tls, so firmware and host run the same TLS code:
//! implicit TLS or STARTTLS per [`Endpoint`], the server name verified against the caller's
//! [`Trust`]. Every network wait is bounded ([`Timeouts`]) with the caller's
//! [`DelayNs`]. The clock `C` ([`TlsClock`]) checks
//! certificate validity and dates the e-mails ([`NoClock`] on a device that does not know
//! the time). The RNG makes TLS key shares, Message-IDs and MIME boundaries.
//!
//! # Memory
//!
//! Each connection needs a [`ConnBuffers`] (TLS records: 16,640 + 4,096 bytes, protocol:
//! 2,048 + 1,024 bytes); the mailbox jobs hold two connections at once (mailbox + SMTP for
//! the reply), see [`Buffers`]. [`ConnMemory`] and [`Memory`] are owned versions for a
//! `static`.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![allow(
    async_fn_in_trait,
    reason = "Net is implemented by single-threaded executors' sockets; no Send bound wanted"
)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

#[cfg(test)]
extern crate std;

mod alert;
pub mod command;
mod conn;
mod error;
mod event;
mod imap_job;
pub mod journal;
mod message;
mod pop3_job;
mod settings;
pub mod text;

pub use alert::{Alert, AlertReport, CsvLog};
pub use command::{Command, Device, Outcome, ParseError, parse_command};
pub use error::{Error, ErrorKind, Service, Step};
pub use event::{Event, Events, FnEvents, MsgRef, NoEvents};
pub use imap_job::ImapReport;
pub use journal::{ImapJournal, PendingReply, Pop3Journal, Stage};
pub use pop3_job::Pop3Report;
pub use settings::{Endpoint, Security, Settings, Timeouts};
pub use text::TextBuf;

pub use postwire_tls::{NoClock, TlsClock, Trust};

use embedded_hal_async::delay::DelayNs;
use rand_core::CryptoRngCore;

/// TCP for the app: open a connection to `host:port`.
///
/// The connection borrows the network (`&self`), so an implementation that holds a pool of
/// sockets (embassy-net's `TcpClient` pattern) can hand out two at once: the mailbox jobs
/// keep the mailbox connection open while they send a reply over SMTP. Name resolution is
/// the implementation's business (`host` may be a name or an IP address).
pub trait Net {
    /// The transport error (connect, read, write).
    type Error: embedded_io_async::Error;
    /// A connected TCP stream.
    type Conn<'a>: embedded_io_async::Read<Error = Self::Error>
        + embedded_io_async::Write<Error = Self::Error>
    where
        Self: 'a;

    /// Connects to `host:port`. The app bounds the wait with [`Timeouts::connect_ms`]
    /// (dropping this future on timeout must be safe).
    async fn connect<'a>(&'a self, host: &str, port: u16) -> Result<Self::Conn<'a>, Self::Error>;
}

/// Buffers of one connection (TLS records and protocol lines).
pub struct ConnBuffers<'b> {
    /// TLS record read buffer: [`TLS_RX`] bytes (every TLS record fits).
    pub tls_rx: &'b mut [u8],
    /// TLS record write buffer: [`TLS_TX`] bytes is a good size.
    pub tls_tx: &'b mut [u8],
    /// Protocol receive buffer (longest response line; bodies stream through it):
    /// [`PROTO_RX`].
    pub rx: &'b mut [u8],
    /// Protocol transmit buffer (longest command, body chunks): [`PROTO_TX`].
    pub tx: &'b mut [u8],
}

impl ConnBuffers<'_> {
    /// The same buffers, borrowed for a shorter time (one connection after another).
    pub fn reborrow(&mut self) -> ConnBuffers<'_> {
        ConnBuffers {
            tls_rx: self.tls_rx,
            tls_tx: self.tls_tx,
            rx: self.rx,
            tx: self.tx,
        }
    }
}

/// Buffers of the mailbox jobs: the mailbox connection and the SMTP connection for replies.
pub struct Buffers<'b> {
    /// IMAP or POP3.
    pub mailbox: ConnBuffers<'b>,
    /// SMTP (replies; also what [`App::send_alert`] uses).
    pub smtp: ConnBuffers<'b>,
}

/// TLS record read buffer size ([`postwire_tls::RECORD_READ_BUF_SIZE`]).
pub const TLS_RX: usize = postwire_tls::RECORD_READ_BUF_SIZE;
/// TLS record write buffer size ([`postwire_tls::RECORD_WRITE_BUF_SIZE`]).
pub const TLS_TX: usize = postwire_tls::RECORD_WRITE_BUF_SIZE;
/// Protocol receive buffer size.
pub const PROTO_RX: usize = 2048;
/// Protocol transmit buffer size.
pub const PROTO_TX: usize = 1024;

/// Owned memory of one connection (for a `static`, e.g. with `static_cell`):
/// [`TLS_RX`] + [`TLS_TX`] + [`PROTO_RX`] + [`PROTO_TX`] bytes.
pub struct ConnMemory {
    tls_rx: [u8; TLS_RX],
    tls_tx: [u8; TLS_TX],
    rx: [u8; PROTO_RX],
    tx: [u8; PROTO_TX],
}

impl ConnMemory {
    /// Zeroed memory.
    pub const fn new() -> Self {
        ConnMemory {
            tls_rx: [0; TLS_RX],
            tls_tx: [0; TLS_TX],
            rx: [0; PROTO_RX],
            tx: [0; PROTO_TX],
        }
    }

    /// The buffers.
    pub fn buffers(&mut self) -> ConnBuffers<'_> {
        ConnBuffers {
            tls_rx: &mut self.tls_rx,
            tls_tx: &mut self.tls_tx,
            rx: &mut self.rx,
            tx: &mut self.tx,
        }
    }
}

impl Default for ConnMemory {
    fn default() -> Self {
        Self::new()
    }
}

/// Owned memory of the mailbox jobs: two [`ConnMemory`].
pub struct Memory {
    /// The mailbox connection.
    pub mailbox: ConnMemory,
    /// The SMTP connection.
    pub smtp: ConnMemory,
}

impl Memory {
    /// Zeroed memory.
    pub const fn new() -> Self {
        Memory {
            mailbox: ConnMemory::new(),
            smtp: ConnMemory::new(),
        }
    }

    /// The buffers.
    pub fn buffers(&mut self) -> Buffers<'_> {
        Buffers {
            mailbox: self.mailbox.buffers(),
            smtp: self.smtp.buffers(),
        }
    }
}

impl Default for Memory {
    fn default() -> Self {
        Self::new()
    }
}

/// The device's mail logic: the platform (network, delay, RNG, clock), the settings and the
/// event hook. Construct it with a struct literal; all fields are public.
///
/// - `N`: [`Net`]; `D`: [`DelayNs`] + `Clone` (each client gets a copy); `R`: a
///   cryptographically secure RNG; `C`: a [`TlsClock`] ([`NoClock`] without a clock);
///   `V`: the [`Events`] hook ([`NoEvents`], or a closure `FnMut(&Event<'_>)` wrapped in
///   [`FnEvents`]).
pub struct App<'s, N, D, R, C, V> {
    /// TCP.
    pub net: N,
    /// Timer for timeouts.
    pub delay: D,
    /// Randomness (TLS, Message-IDs, MIME boundaries).
    pub rng: R,
    /// Wall clock (certificate validity, `Date:` of the e-mails).
    pub clock: C,
    /// Receives a readable transcript of what the device does.
    pub events: V,
    /// Servers, account, addresses, folders, timeouts.
    pub settings: Settings<'s>,
}

impl<N, D, R, C, V> App<'_, N, D, R, C, V>
where
    N: Net,
    D: DelayNs + Clone,
    R: CryptoRngCore,
    C: TlsClock,
    V: Events,
{
    /// Job 1: sends `alert` to [`Settings::alert_to`] from [`Settings::from`] through
    /// [`Settings::smtp`] (authenticated). Returns once the server accepted the message for at
    /// least one recipient (a refused recipient is counted in the report).
    ///
    /// The CSV log is streamed from `alert.csv` while it is sent, base64-encoded: it is never
    /// held in memory. Not retried: on error nothing was delivered, unless the connection was
    /// cut after the server accepted the data (then a retry sends it twice; SMTP cannot
    /// tell).
    pub async fn send_alert<L: embedded_io_async::Read>(
        &mut self,
        buffers: ConnBuffers<'_>,
        alert: Alert<'_, L>,
    ) -> Result<AlertReport, Error> {
        alert::send_alert(self, buffers, alert).await
    }

    /// Job 2: serves the command mailbox over IMAP ([`Settings::imap`]) on one connection:
    /// finishes what `journal` says is in progress, processes every new message of
    /// [`Settings::command_folder`], then IDLEs (re-checking every
    /// [`Timeouts::idle_ms`]) until new mail arrives, and so on, until `stop` completes
    /// (checked while idling) or a command asks for a reboot ([`Outcome::Reboot`]: returned
    /// after its reply was sent and the message filed).
    ///
    /// On error, reconnect (after a pause) and call again with the same `journal`: nothing is
    /// executed twice. See [`journal`] for the guarantees.
    pub async fn serve_imap<X: Device, S: core::future::Future>(
        &mut self,
        buffers: Buffers<'_>,
        journal: &mut ImapJournal,
        device: &mut X,
        stop: S,
    ) -> Result<ImapReport, Error> {
        imap_job::serve(self, buffers, journal, device, stop).await
    }

    /// Job 3: polls the command mailbox over POP3 ([`Settings::pop3`]) once: finishes what
    /// `journal` holds, processes the new messages (RETR, execute, reply, DELE) while the
    /// journal has room, and QUITs, which commits the deletions.
    ///
    /// On error, call again later with the same `journal`: nothing is executed twice.
    pub async fn poll_pop3<X: Device>(
        &mut self,
        buffers: Buffers<'_>,
        journal: &mut Pop3Journal,
        device: &mut X,
    ) -> Result<Pop3Report, Error> {
        pop3_job::poll(self, buffers, journal, device).await
    }
}
