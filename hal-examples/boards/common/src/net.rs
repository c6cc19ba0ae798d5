//! embassy-net with DHCP and DNS on any board's network driver.

use embassy_net::dns::DnsQueryType;
use embassy_net::tcp::TcpSocket;
use embassy_net::{Config, DhcpConfig, IpAddress, IpEndpoint, Runner, Stack, StackResources};
use embassy_time::{Duration, with_timeout};

/// Sockets the stack holds at once: two TCP connections (mailbox + SMTP reply), the DHCP client
/// and the DNS client.
pub const SOCKETS: usize = 4;

/// How long a DNS query may take.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TCP connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// A connection that moves no data for this long is dropped by the stack.
pub const INACTIVITY_TIMEOUT: Duration = Duration::from_secs(120);

/// Why [`connect`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// The name did not resolve (no answer, NXDOMAIN, no DNS server from DHCP).
    Dns,
    /// The DNS query or the TCP handshake did not finish in time.
    Timeout,
    /// The server refused or the connection failed.
    Refused,
}

/// Creates the stack on `driver` with a DHCPv4 client (host name `hostname`, at most 32
/// bytes). `seed` randomises TCP ports and sequence numbers: it must come from the board's
/// hardware random number generator. Run the returned runner in its own task.
pub fn init<D: embassy_net::driver::Driver>(
    driver: D,
    resources: &'static mut StackResources<SOCKETS>,
    seed: u64,
) -> (Stack<'static>, Runner<'static, D>) {
    let config = Config::dhcpv4(DhcpConfig::default());
    embassy_net::new(driver, config, resources, seed)
}

/// Resolves `host` (a DNS name or an IPv4 literal) and opens a TCP connection to `port` on
/// the first address, over the caller's socket buffers. Both steps are bounded
/// ([`DNS_TIMEOUT`], [`CONNECT_TIMEOUT`]); the socket drops the connection after
/// [`INACTIVITY_TIMEOUT`] without traffic.
pub async fn connect<'a>(
    stack: Stack<'a>,
    host: &str,
    port: u16,
    rx: &'a mut [u8],
    tx: &'a mut [u8],
) -> Result<TcpSocket<'a>, ConnectError> {
    let addr = resolve(stack, host).await?;
    let mut socket = TcpSocket::new(stack, rx, tx);
    socket.set_timeout(Some(INACTIVITY_TIMEOUT));
    match with_timeout(CONNECT_TIMEOUT, socket.connect(IpEndpoint::new(addr, port))).await {
        Ok(Ok(())) => Ok(socket),
        Ok(Err(_)) => Err(ConnectError::Refused),
        Err(_) => {
            socket.abort();
            Err(ConnectError::Timeout)
        }
    }
}

/// The first IPv4 address of `host` (an IPv4 literal is returned as is, without a query).
pub async fn resolve(stack: Stack<'_>, host: &str) -> Result<IpAddress, ConnectError> {
    match with_timeout(DNS_TIMEOUT, stack.dns_query(host, DnsQueryType::A)).await {
        Ok(Ok(addrs)) => addrs.first().copied().ok_or(ConnectError::Dns),
        Ok(Err(_)) => Err(ConnectError::Dns),
        Err(_) => Err(ConnectError::Timeout),
    }
}
