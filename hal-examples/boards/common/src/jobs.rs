//! The three device jobs of `postwire-app`, run forever on a board: each binary of a board
//! crate calls one of [`alert`], [`imap_commands`], [`pop3_commands`] after bringing the
//! network up. Memory is static (one [`ConnMemory`] for the alert, a [`Memory`] of two for the
//! mailbox jobs) and so are the TCP socket buffers.

use core::fmt::Write as _;

use embassy_net::Stack;
use embassy_net::tcp::client::TcpClientState;
use embassy_time::{Delay, Instant, Timer};
use postwire_app::{
    Alert, App, Command, ConnMemory, CsvLog, Device, Endpoint, ImapJournal, Memory, NoClock,
    NoEvents, Outcome, Pop3Journal, Security, Settings, TextBuf, Trust,
};
use rand_core::CryptoRngCore;

use crate::app_net::EmbassyNet;
use crate::settings as s;

/// TCP receive buffer per connection (TCP flow control paces the server; TLS records are
/// reassembled in the app's own record buffer).
pub const TCP_RX: usize = 2048;
/// TCP transmit buffer per connection.
pub const TCP_TX: usize = 2048;

/// Pause after a failed attempt before the next one.
const RETRY_SECS: u64 = 30;
/// How often the POP3 job polls.
const POP3_POLL_SECS: u64 = 60;

/// A static cell for a `const`-constructible value, taken once.
macro_rules! take_static {
    ($ty:ty = $init:expr) => {{
        static CELL: static_cell::ConstStaticCell<$ty> = static_cell::ConstStaticCell::new($init);
        CELL.take()
    }};
}

/// An implicit-TLS endpoint unless the port is a STARTTLS one (587 and 25, 143, 110).
const fn endpoint(host: &'static str, port: u16) -> Endpoint<'static> {
    let security = match port {
        587 | 25 | 143 | 110 => Security::StartTls,
        _ => Security::Implicit,
    };
    Endpoint::new(host, port, security)
}

static ALERT_TO: [&str; 1] = [s::TO];
static ALLOWED: [&str; 1] = [s::COMMANDS_FROM];

/// The app's settings from the build-time values in [`settings`](crate::settings).
pub fn app_settings() -> Settings<'static> {
    Settings {
        imap: Some(endpoint(s::IMAP_HOST, s::IMAP_PORT)),
        pop3: Some(endpoint(s::POP3_HOST, s::POP3_PORT)),
        alert_to: &ALERT_TO,
        allowed_senders: &ALLOWED,
        command_folder: s::COMMAND_MAILBOX,
        client_domain: s::DEVICE_NAME,
        ..Settings::new(
            endpoint(s::SMTP_HOST, s::SMTP_PORT),
            Trust::Anchors(s::CA_ANCHORS),
            s::USER,
            s::PASSWORD,
            s::FROM,
        )
    }
}

/// What the mailbox jobs need from the board.
#[derive(Clone, Copy)]
pub struct Board {
    /// Resets the board (called after a `REBOOT` command was answered and filed).
    pub reboot: fn() -> !,
    /// Appends board-specific facts to the `STATUS` reply (e.g. heap use), or nothing.
    pub status: fn(&mut dyn core::fmt::Write),
}

/// The board as the command mailbox sees it: `STATUS` reports the uptime (and what
/// [`Board::status`] adds), `SET name value` is acknowledged (a real device would apply it),
/// `REBOOT` resets the board after its reply has been sent.
pub struct BoardDevice {
    sets: u32,
    status: fn(&mut dyn core::fmt::Write),
}

impl Device for BoardDevice {
    fn execute(&mut self, command: &Command<'_>, out: &mut dyn core::fmt::Write) -> Outcome {
        match command {
            Command::Status => {
                let _ = write!(
                    out,
                    "{} up {} s, {} settings applied",
                    s::DEVICE_NAME,
                    Instant::now().as_secs(),
                    self.sets
                );
                (self.status)(out);
                Outcome::Ok
            }
            Command::Set { name, value } => {
                self.sets = self.sets.wrapping_add(1);
                let _ = write!(out, "{name} = {value}");
                Outcome::Ok
            }
            Command::Reboot => {
                let _ = out.write_str("rebooting");
                Outcome::Reboot
            }
        }
    }
}

/// A small CSV log, attached to the alert to show streaming attachments.
static ALERT_CSV: &[u8] = b"uptime_s,reading\r\n0,21.5\r\n60,31.5\r\n";

/// Job (a): sends one alert e-mail once the network is up (retrying every 30 s until the
/// server accepts it), then idles.
pub async fn alert<R: CryptoRngCore>(stack: Stack<'static>, rng: R) -> ! {
    let tcp = take_static!(TcpClientState<1, TCP_TX, TCP_RX> = TcpClientState::new());
    let memory = take_static!(ConnMemory = ConnMemory::new());
    let mut app = App {
        net: EmbassyNet::new(stack, tcp),
        delay: Delay,
        rng,
        clock: NoClock,
        events: NoEvents,
        settings: app_settings(),
    };
    loop {
        stack.wait_config_up().await;
        let mut subject = TextBuf::<96>::new();
        let _ = write!(
            subject,
            "Alert from {}: reading above threshold",
            s::DEVICE_NAME
        );
        let alert = Alert {
            subject: subject.as_str(),
            text: "The reading went above its threshold; the log is attached.",
            csv: Some(CsvLog {
                filename: "readings.csv",
                source: ALERT_CSV,
            }),
        };
        if app.send_alert(memory.buffers(), alert).await.is_ok() {
            break;
        }
        Timer::after_secs(RETRY_SECS).await;
    }
    loop {
        Timer::after_secs(3600).await;
    }
}

/// Job (b): serves the command mailbox over IMAP with IDLE, reconnecting after errors with
/// the same journal (no command runs twice). Calls [`Board::reboot`] after a `REBOOT` command was
/// answered and filed.
pub async fn imap_commands<R: CryptoRngCore>(stack: Stack<'static>, rng: R, board: Board) -> ! {
    let tcp = take_static!(TcpClientState<2, TCP_TX, TCP_RX> = TcpClientState::new());
    let memory = take_static!(Memory = Memory::new());
    let journal = take_static!(ImapJournal = ImapJournal::new());
    let mut device = BoardDevice {
        sets: 0,
        status: board.status,
    };
    let mut app = App {
        net: EmbassyNet::new(stack, tcp),
        delay: Delay,
        rng,
        clock: NoClock,
        events: NoEvents,
        settings: app_settings(),
    };
    loop {
        stack.wait_config_up().await;
        match app
            .serve_imap(
                memory.buffers(),
                journal,
                &mut device,
                core::future::pending::<()>(),
            )
            .await
        {
            Ok(report) if report.reboot => (board.reboot)(),
            Ok(_) => {}
            Err(_) => Timer::after_secs(RETRY_SECS).await,
        }
    }
}

/// Job (c): polls the command mailbox over POP3 every minute, with the same journal across
/// polls and errors (no command runs twice). Calls [`Board::reboot`] after a `REBOOT` command was
/// answered and its deletion committed.
pub async fn pop3_commands<R: CryptoRngCore>(stack: Stack<'static>, rng: R, board: Board) -> ! {
    let tcp = take_static!(TcpClientState<2, TCP_TX, TCP_RX> = TcpClientState::new());
    let memory = take_static!(Memory = Memory::new());
    let journal = take_static!(Pop3Journal = Pop3Journal::new());
    let mut device = BoardDevice {
        sets: 0,
        status: board.status,
    };
    let mut app = App {
        net: EmbassyNet::new(stack, tcp),
        delay: Delay,
        rng,
        clock: NoClock,
        events: NoEvents,
        settings: app_settings(),
    };
    loop {
        stack.wait_config_up().await;
        match app.poll_pop3(memory.buffers(), journal, &mut device).await {
            Ok(report) if report.reboot => (board.reboot)(),
            Ok(_) => Timer::after_secs(POP3_POLL_SECS).await,
            Err(_) => Timer::after_secs(RETRY_SECS).await,
        }
    }
}
