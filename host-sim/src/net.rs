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

/// How a mail connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (RFC 8314): `smtps://`, `pop3s://`, `imaps://`.
    Implicit,
    /// STARTTLS / STLS, required (RFC 3207, 2595): `smtp://`, `pop3://`, `imap://`.
    StartTls,
    /// No TLS at all: the plain scheme with `--allow-plaintext`.
    Plain,
}

/// Parses `SCHEME://HOST[:PORT][/]` for one protocol: `tls_scheme` (implicit TLS, default port
/// `tls_port`) or `plain_scheme` (STARTTLS, default port `plain_port`). IPv6 addresses go in
/// brackets (`[::1]:993`) and come back without them. Errors are one line naming the URL.
pub fn parse_server_url(
    s: &str,
    (tls_scheme, tls_port): (&str, u16),
    (plain_scheme, plain_port): (&str, u16),
) -> Result<(Security, String, u16), String> {
    let usage = || {
        format!("{s:?}: the server must be {tls_scheme}://HOST:PORT or {plain_scheme}://HOST:PORT")
    };
    let (security, rest, default_port) = match s.split_once("://") {
        Some((scheme, rest)) if scheme == tls_scheme => (Security::Implicit, rest, tls_port),
        Some((scheme, rest)) if scheme == plain_scheme => (Security::StartTls, rest, plain_port),
        _ => return Err(usage()),
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, p) = r
            .split_once(']')
            .ok_or_else(|| format!("{s:?}: unclosed '[' in the host"))?;
        (h, p.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() || host.contains('/') || host.contains('@') {
        return Err(format!("{s:?}: missing or invalid host"));
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse()
            .map_err(|_| format!("{s:?}: invalid port {p:?}"))?,
    };
    Ok((security, host.to_string(), port))
}
