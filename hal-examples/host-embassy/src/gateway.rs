//! The gateway: an embassy-net stack that accepts the device's TCP connections on chosen
//! ports and forwards each one, byte for byte, to a host socket (tokio).
//!
//! Each route has [`SLOTS`] listening sockets, so that many connections to its port can be
//! open at once (a mailbox job holds one while the previous one is still closing after a
//! cut). Closing is mirrored: when the host side ends its stream the device's connection is
//! closed (FIN) once the data is delivered; when the host side fails (reset), it is aborted
//! (RST); when the device closes, the host socket's write side is shut down and the host's
//! remaining data still reaches the device.

use core::net::SocketAddr;
use core::pin::{Pin, pin};
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::{Context, Poll};

use embassy_futures::select::{Either, select};
use embassy_net::Stack;
use embassy_net::tcp::{State, TcpSocket};
use embassy_time::{Duration, Instant, Timer, with_timeout};
use embedded_io_async::Write as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Listening sockets per route.
pub const SLOTS: usize = 3;

/// TCP buffer of each gateway socket, per direction.
const SOCKET_BUF: usize = 8192;

/// How long a closed connection may take to finish its TCP close before it is aborted.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// A gateway connection that moves no data for this long is dropped.
const INACTIVITY: Duration = Duration::from_secs(600);

/// One forwarded port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The port the gateway accepts on.
    pub port: u16,
    /// Where each connection goes.
    pub target: SocketAddr,
}

/// Counts of the gateway's connections.
#[derive(Debug, Default)]
pub struct GatewayStats {
    /// Connections accepted from the device.
    pub accepted: AtomicU32,
    /// Accepted connections whose host side could not be reached (aborted at once).
    pub unreachable: AtomicU32,
    /// Connections the host side closed.
    pub host_closed: AtomicU32,
    /// Connections the host side reset or that failed on the host side.
    pub host_failed: AtomicU32,
    /// Connections the device closed (or reset) first.
    pub device_closed: AtomicU32,
}

impl GatewayStats {
    /// Connections accepted so far.
    pub fn accepted(&self) -> u32 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl core::fmt::Display for GatewayStats {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} accepted, {} host unreachable, {} closed by the host, {} failed on the host side, {} closed by the device",
            self.accepted.load(Ordering::Relaxed),
            self.unreachable.load(Ordering::Relaxed),
            self.host_closed.load(Ordering::Relaxed),
            self.host_failed.load(Ordering::Relaxed),
            self.device_closed.load(Ordering::Relaxed),
        )
    }
}

/// Serves `routes` on `stack` forever ([`SLOTS`] sockets per route; the stack needs that
/// many sockets free).
pub async fn serve(stack: Stack<'_>, routes: &[Route], stats: &GatewayStats) -> ! {
    let mut slots: Vec<Pin<Box<dyn core::future::Future<Output = ()> + '_>>> = Vec::new();
    for route in routes {
        for _ in 0..SLOTS {
            slots.push(Box::pin(async move {
                slot(stack, *route, stats).await;
            }));
        }
    }
    // Poll every slot whenever any of them is woken (they never finish).
    core::future::poll_fn(|cx: &mut Context<'_>| {
        for s in &mut slots {
            let _ = s.as_mut().poll(cx);
        }
        Poll::<()>::Pending
    })
    .await;
    unreachable_pending().await
}

/// A future that never completes (the `!` after the slots' never-ending poll).
async fn unreachable_pending() -> ! {
    loop {
        core::future::pending::<()>().await;
    }
}

/// One listening socket of a route: accept, forward, close, again.
async fn slot(stack: Stack<'_>, route: Route, stats: &GatewayStats) -> ! {
    let mut rx = vec![0u8; SOCKET_BUF];
    let mut tx = vec![0u8; SOCKET_BUF];
    loop {
        let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
        socket.set_timeout(Some(INACTIVITY));
        if socket.accept(route.port).await.is_err() {
            // Only an invalid port or state; do not spin.
            Timer::after_millis(50).await;
            continue;
        }
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let ending = match TcpStream::connect(route.target).await {
            Ok(host) => {
                let _ = host.set_nodelay(true);
                splice(&mut socket, host).await
            }
            Err(_) => {
                stats.unreachable.fetch_add(1, Ordering::Relaxed);
                Ending::HostFailed
            }
        };
        match ending {
            Ending::HostClosed => {
                stats.host_closed.fetch_add(1, Ordering::Relaxed);
                socket.close();
            }
            Ending::HostFailed => {
                stats.host_failed.fetch_add(1, Ordering::Relaxed);
                socket.abort();
            }
            Ending::DeviceClosed => {
                stats.device_closed.fetch_add(1, Ordering::Relaxed);
                socket.close();
            }
        }
        finish(&mut socket).await;
    }
}

/// How a forwarded connection ended.
enum Ending {
    /// The host side closed its stream (all of its data was handed to the device socket).
    HostClosed,
    /// The host side failed (reset, unreachable) or its data could not be written.
    HostFailed,
    /// The device closed or reset its side.
    DeviceClosed,
}

/// Moves bytes both ways until the connection ends.
async fn splice(socket: &mut TcpSocket<'_>, host: TcpStream) -> Ending {
    let (mut device_rx, mut device_tx) = socket.split();
    let (mut host_rx, mut host_tx) = host.into_split();
    let mut up = pin!(async {
        let mut buf = [0u8; 4096];
        loop {
            match device_rx.read(&mut buf).await {
                Ok(0) => {
                    // The device is done sending: pass the FIN on, keep receiving.
                    let _ = host_tx.shutdown().await;
                    return true;
                }
                Ok(n) => {
                    if host_tx.write_all(&buf[..n]).await.is_err() {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
    });
    let mut down = pin!(async {
        let mut buf = [0u8; 4096];
        loop {
            match host_rx.read(&mut buf).await {
                Ok(0) => return Ending::HostClosed,
                Ok(n) => {
                    if device_tx.write_all(&buf[..n]).await.is_err() {
                        return Ending::DeviceClosed;
                    }
                }
                Err(_) => return Ending::HostFailed,
            }
        }
    });
    match select(up.as_mut(), down.as_mut()).await {
        // The device half-closed: let the host finish talking.
        Either::First(true) => match down.await {
            Ending::HostClosed => Ending::DeviceClosed,
            other => other,
        },
        // Device reset, or the host stopped accepting data.
        Either::First(false) => Ending::DeviceClosed,
        Either::Second(ending) => ending,
    }
}

/// Waits (briefly) for a closed socket to finish its TCP close, then gives it up.
async fn finish(socket: &mut TcpSocket<'_>) {
    let _ = with_timeout(CLOSE_GRACE, socket.flush()).await;
    let deadline = Instant::now() + CLOSE_GRACE;
    while !matches!(socket.state(), State::Closed | State::TimeWait) && Instant::now() < deadline {
        Timer::after_millis(20).await;
    }
    if !matches!(socket.state(), State::Closed | State::TimeWait) {
        socket.abort();
        let _ = with_timeout(Duration::from_millis(200), socket.flush()).await;
    }
}
