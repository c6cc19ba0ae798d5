//! The device's mail logic, shared by both images: one alert message per connection.

use core::sync::atomic::{AtomicU8, Ordering};

use embassy_net::tcp::TcpSocket;
use embassy_net::{IpEndpoint, Ipv4Address, Stack};
use embassy_time::{Delay, Duration};
use embedded_io_async::{Read, Write};
use postwire_core::sasl::Credentials;
use postwire_smtp::client::{
    Client, ClientConfig, Envelope, Error, RecipientStatus, SendReport, Timeouts,
};

use crate::config::provisioning;

/// At most this many alert recipients.
pub const MAX_RECIPIENTS: usize = 4;
/// Size of the SMTP client's receive buffer (longest reply line fragment, and the body's read
/// chunk).
pub const SMTP_RX: usize = 512;
/// Size of the SMTP client's transmit buffer (commands, pipelined batches, body chunks).
pub const SMTP_TX: usize = 512;
/// TCP socket buffers.
pub const TCP_RX: usize = 2048;
/// TCP socket buffers.
pub const TCP_TX: usize = 2048;

/// What became of the last attempt; a board would show it on an LED or a status register.
pub static LAST_OUTCOME: AtomicU8 = AtomicU8::new(Outcome::NotTried as u8);

/// See [`LAST_OUTCOME`].
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing tried yet.
    NotTried = 0,
    /// The alert was accepted for at least one recipient.
    Sent = 1,
    /// No TCP connection.
    ConnectFailed = 2,
    /// The TLS handshake failed.
    TlsFailed = 3,
    /// The SMTP session failed (I/O, refusal, timeout, protocol error).
    SmtpFailed = 4,
}

/// Records `outcome` in [`LAST_OUTCOME`].
pub fn record(outcome: Outcome) {
    LAST_OUTCOME.store(outcome as u8, Ordering::Relaxed);
}

/// The client settings: EHLO name from provisioning, 30 s per command, 10 min for the
/// server's verdict on the message.
pub fn client_config(allow_plaintext_auth: bool) -> ClientConfig<'static> {
    ClientConfig {
        client_domain: provisioning().client_domain,
        timeouts: Timeouts {
            greeting_ms: 30_000,
            command_ms: 30_000,
            write_ms: 30_000,
            data_end_ms: 600_000,
        },
        allow_plaintext_auth,
        ..ClientConfig::default()
    }
}

/// The mail server's address at `port`.
pub fn server(port: u16) -> IpEndpoint {
    let [a, b, c, d] = provisioning().server_ip;
    IpEndpoint::new(Ipv4Address::new(a, b, c, d).into(), port)
}

/// A TCP socket over `stack` with a 60 s inactivity timeout, connected to `port` of the mail
/// server.
pub async fn connect<'a>(
    stack: Stack<'a>,
    port: u16,
    rx: &'a mut [u8],
    tx: &'a mut [u8],
) -> Option<TcpSocket<'a>> {
    let mut socket = TcpSocket::new(stack, rx, tx);
    socket.set_timeout(Some(Duration::from_secs(60)));
    match socket.connect(server(port)).await {
        Ok(()) => Some(socket),
        Err(_) => {
            record(Outcome::ConnectFailed);
            None
        }
    }
}

/// Authenticates (best mechanism offered) and sends the provisioned alert to every
/// provisioned recipient, then QUIT. The client must be greeted (and over TLS, or allowed to
/// authenticate in clear text).
pub async fn authenticate_and_send<T: Read + Write>(
    client: &mut Client<'_, T, Delay>,
) -> Result<SendReport, Error<T::Error>> {
    let p = provisioning();
    client
        .authenticate(&Credentials::new(p.username, p.password), None)
        .await?;
    let to = p.to.get(..p.to.len().min(MAX_RECIPIENTS)).unwrap_or(&[]);
    let mut status = [RecipientStatus::NotSent; MAX_RECIPIENTS];
    let status = status.get_mut(..to.len()).unwrap_or(&mut []);
    // The body is any embedded_io_async::Read; a byte slice here, a sensor log in flash on a
    // real device.
    client
        .send_and_quit(&Envelope::new(p.from, to), p.alert, status)
        .await
}

/// Records the result of a session.
pub fn record_result<T, E>(r: Result<T, E>) {
    record(if r.is_ok() {
        Outcome::Sent
    } else {
        Outcome::SmtpFailed
    });
}
