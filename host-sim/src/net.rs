//! Host networking for the postwire clients: TCP over tokio as `embedded-io-async`, an RNG
//! and a delay.

use std::io;
use std::time::Duration;

use embedded_io_adapters::tokio_1::FromTokio;
use tokio::net::TcpStream;

/// A connected TCP stream as an `embedded_io_async::Read + Write` transport.
pub type TcpTransport = FromTokio<TcpStream>;

/// Connects to `host:port` (a host name, or an IPv4/IPv6 address, without brackets) within
/// `timeout`, tries every resolved address in turn, and sets TCP_NODELAY.
///
/// Errors name `host:port`; running out of time gives [`io::ErrorKind::TimedOut`].
pub async fn connect_tcp(host: &str, port: u16, timeout: Duration) -> io::Result<TcpTransport> {
    let name = display_addr(host, port);
    let attempt = async {
        let addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| annotate(e, &format!("cannot resolve {name}")))?;
        let mut last_err = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    stream
                        .set_nodelay(true)
                        .map_err(|e| annotate(e, &format!("TCP_NODELAY on {name}")))?;
                    return Ok(FromTokio::new(stream));
                }
                Err(e) => last_err = Some((addr, e)),
            }
        }
        Err(match last_err {
            Some((addr, e)) => annotate(e, &format!("cannot connect to {name} ({addr})")),
            None => io::Error::new(
                io::ErrorKind::NotFound,
                format!("{name}: the name has no addresses"),
            ),
        })
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connecting to {name} timed out after {timeout:?}"),
        )),
    }
}

/// `host:port`, with brackets around IPv6 addresses.
fn display_addr(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn annotate(e: io::Error, context: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{context}: {e}"))
}

/// The operating system's random number generator, for the TLS key share.
pub fn os_rng() -> rand_core::OsRng {
    rand_core::OsRng
}

/// `embedded_hal_async::delay::DelayNs` on tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioDelay;

impl embedded_hal_async::delay::DelayNs for TokioDelay {
    async fn delay_ns(&mut self, ns: u32) {
        tokio::time::sleep(Duration::from_nanos(ns.into())).await;
    }

    async fn delay_us(&mut self, us: u32) {
        tokio::time::sleep(Duration::from_micros(us.into())).await;
    }

    async fn delay_ms(&mut self, ms: u32) {
        tokio::time::sleep(Duration::from_millis(ms.into())).await;
    }
}
