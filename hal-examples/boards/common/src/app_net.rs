//! [`postwire_app::Net`] over embassy-net: DNS, then a TCP connection from a fixed pool of
//! socket buffers (embassy-net's `TcpClient`), so the mailbox jobs can hold their mailbox
//! connection and an SMTP connection at once.

use core::net::{IpAddr, SocketAddr};

use embassy_net::tcp::client::{TcpClient, TcpClientState, TcpConnection};
use embassy_net::{IpAddress, Stack};
use embedded_io_async::{ErrorKind, ErrorType, Read, Write};
use embedded_nal_async::TcpConnect;

use crate::net::{INACTIVITY_TIMEOUT, resolve};

/// What can go wrong below the mail protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetError {
    /// The host name did not resolve.
    Dns,
    /// The DNS query timed out.
    DnsTimeout,
    /// No free socket in the pool, the connection was refused or reset.
    Tcp,
}

impl core::fmt::Display for NetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            NetError::Dns => "name did not resolve",
            NetError::DnsTimeout => "DNS timeout",
            NetError::Tcp => "TCP connection refused or reset",
        })
    }
}

impl core::error::Error for NetError {}

impl embedded_io_async::Error for NetError {
    fn kind(&self) -> ErrorKind {
        match self {
            NetError::Dns => ErrorKind::AddrNotAvailable,
            NetError::DnsTimeout => ErrorKind::TimedOut,
            NetError::Tcp => ErrorKind::ConnectionReset,
        }
    }
}

/// A connection handed to the app: a pooled embassy-net TCP socket with the error type of
/// [`NetError`]. Dropping it closes the connection and returns the buffers to the pool.
pub struct Conn<'a, const N: usize, const TX: usize, const RX: usize>(TcpConnection<'a, N, TX, RX>);

impl<const N: usize, const TX: usize, const RX: usize> ErrorType for Conn<'_, N, TX, RX> {
    type Error = NetError;
}

impl<const N: usize, const TX: usize, const RX: usize> Read for Conn<'_, N, TX, RX> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, NetError> {
        self.0.read(buf).await.map_err(|_| NetError::Tcp)
    }
}

impl<const N: usize, const TX: usize, const RX: usize> Write for Conn<'_, N, TX, RX> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, NetError> {
        self.0.write(buf).await.map_err(|_| NetError::Tcp)
    }

    async fn flush(&mut self) -> Result<(), NetError> {
        self.0.flush().await.map_err(|_| NetError::Tcp)
    }
}

/// The app's network: up to `N` simultaneous TCP connections with `TX`/`RX`-byte socket
/// buffers each, in a caller-owned [`TcpClientState`].
pub struct EmbassyNet<'d, const N: usize, const TX: usize, const RX: usize> {
    stack: Stack<'d>,
    client: TcpClient<'d, N, TX, RX>,
}

impl<'d, const N: usize, const TX: usize, const RX: usize> EmbassyNet<'d, N, TX, RX> {
    /// The network over `stack` with the socket buffers in `state`.
    pub fn new(stack: Stack<'d>, state: &'d TcpClientState<N, TX, RX>) -> Self {
        let mut client = TcpClient::new(stack, state);
        client.set_timeout(Some(INACTIVITY_TIMEOUT));
        EmbassyNet { stack, client }
    }
}

impl<const N: usize, const TX: usize, const RX: usize> postwire_app::Net
    for EmbassyNet<'_, N, TX, RX>
{
    type Error = NetError;
    type Conn<'a>
        = Conn<'a, N, TX, RX>
    where
        Self: 'a;

    async fn connect<'a>(&'a self, host: &str, port: u16) -> Result<Self::Conn<'a>, NetError> {
        let addr = match resolve(self.stack, host).await {
            Ok(IpAddress::Ipv4(a)) => a,
            Err(crate::net::ConnectError::Timeout) => return Err(NetError::DnsTimeout),
            Err(_) => return Err(NetError::Dns),
        };
        let remote = SocketAddr::new(IpAddr::V4(addr), port);
        match self.client.connect(remote).await {
            Ok(c) => Ok(Conn(c)),
            Err(_) => Err(NetError::Tcp),
        }
    }
}
