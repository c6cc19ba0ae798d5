//! The postwire device jobs (`postwire-app`) over a real embassy-net stack on the host.
//!
//! The device side is the firmware's own code: an embassy-net stack (smoltcp TCP/IP with ARP
//! on an Ethernet medium) and the boards' `postwire_app::Net` implementation
//! ([`postwire_boards_common::app_net::EmbassyNet`]: a pool of TCP sockets). Only the
//! network driver below the stack differs from a board:
//!
//! - [`link`]: two embassy-net stacks joined in-process by embassy-net-driver-channel
//!   (Ethernet frames copied between the two channels); no privileges needed. The second
//!   stack is a [`gateway`]: it accepts the device's TCP connections on chosen ports and
//!   forwards each one to a host socket (e.g. the in-process mail peer of
//!   `postwire-host-sim`, or any server on loopback).
//! - a TAP device through embassy-net-tuntap (root, inside a private network namespace:
//!   `tap-test.sh`), with the kernel's TCP/IP on the other side of the wire.
//!
//! [`cut`] wraps any `Net` so a test can cut the device's connections at a chosen moment,
//! and [`forward`] is the small TCP/Unix-socket forwarder behind the `pw-forward` binary
//! that `tap-test.sh` uses to reach the real mail servers from inside the namespace.
//!
//! # Executor
//!
//! Everything runs on tokio: the stacks' runners, the frame pump, the gateway and the device
//! jobs are plain futures joined into the one future the caller awaits (they are not `Send`
//! — an embassy-net `Stack` is a shared reference to a `RefCell` — so they are never
//! spawned), while the peers and helpers on host sockets are ordinary tokio tasks. Time is
//! embassy-time's `std` driver (a timer thread waking wakers, so it works under any
//! executor) with its generic timer queue. One runtime keeps the tests simple: the mail peer
//! needs tokio anyway, and the gateway's host side is tokio sockets.
#![forbid(unsafe_code)]

pub mod cut;
pub mod forward;
pub mod gateway;
pub mod link;

use core::future::Future;
use core::net::Ipv4Addr;

use embassy_futures::join::join3;
use embassy_futures::select::{Either, select};
use embassy_net::driver::Driver;
use embassy_net::tcp::client::TcpClientState;
use embassy_net::{Config, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use postwire_boards_common::app_net::EmbassyNet;

pub use postwire_boards_common::jobs::{TCP_RX, TCP_TX};

/// Ethernet frame size the stacks use (1500 bytes of IP plus the 14-byte header, as
/// embassy-net counts it on an Ethernet medium).
pub const MTU: usize = 1514;

/// TCP connections the device holds at once: the mailbox jobs need two (mailbox + SMTP
/// reply); one more covers a connection still closing after a cut.
pub const DEVICE_CONNS: usize = 3;

/// Sockets of the device stack: the TCP pool and the DNS socket.
pub const DEVICE_SOCKETS: usize = DEVICE_CONNS + 2;

/// The device's network: the boards' `Net` over the device stack with firmware-sized socket
/// buffers ([`TCP_TX`], [`TCP_RX`]).
pub type DeviceNet<'d> = EmbassyNet<'d, DEVICE_CONNS, TCP_TX, TCP_RX>;

/// The TCP socket pool behind [`DeviceNet`].
pub type DevicePool = TcpClientState<DEVICE_CONNS, TCP_TX, TCP_RX>;

/// The device's stack and socket pool: hands out [`DeviceNet`]s (one per `App`; they share
/// the pool).
#[derive(Clone, Copy)]
pub struct Device<'d> {
    /// The device's embassy-net stack.
    pub stack: Stack<'d>,
    /// The socket buffers.
    pub pool: &'d DevicePool,
}

impl<'d> Device<'d> {
    /// A `postwire_app::Net` over the device stack.
    pub fn net(&self) -> DeviceNet<'d> {
        EmbassyNet::new(self.stack, self.pool)
    }
}

/// A static IPv4 configuration: `address/prefix`, an optional default gateway, no DNS
/// server (the tests use IP literals; the TLS name is set separately per endpoint).
pub fn static_config(address: Ipv4Addr, prefix: u8, gateway: Option<Ipv4Addr>) -> Config {
    Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(address, prefix),
        gateway,
        dns_servers: Default::default(),
    })
}

/// A seed for the stacks' TCP sequence numbers and ports (not security relevant here: it
/// only has to differ between runs).
pub fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (nanos as u64) ^ (u64::from(std::process::id()) << 32)
}

/// The device's address on the in-process link.
pub const DEVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 2);
/// The gateway's address on the in-process link: the device connects to it.
pub const GATEWAY_IP: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 1);
/// [`GATEWAY_IP`] as the host of an `Endpoint`.
pub const GATEWAY_HOST: &str = "10.42.0.1";
/// The device's MAC address (locally administered).
pub const DEVICE_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x42, 0x00, 0x02];
/// The gateway's MAC address.
pub const GATEWAY_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x42, 0x00, 0x01];

/// Sockets of the gateway stack: room for [`gateway::SLOTS`] listening sockets on up to
/// eight routes, plus its DNS socket.
pub const GATEWAY_SOCKETS: usize = 8 * gateway::SLOTS + 1;

/// What the in-process network carried, for the tests' assertions.
#[derive(Debug, Default)]
pub struct Counters {
    /// Frames and bytes over the link.
    pub link: link::LinkStats,
    /// Connections through the gateway.
    pub gateway: gateway::GatewayStats,
}

/// Builds the in-process network — a device stack ([`DEVICE_IP`]) and a gateway stack
/// ([`GATEWAY_IP`]) joined by embassy-net-driver-channel, the gateway forwarding `routes` —
/// and runs `body` with the device while the stacks, the link and the gateway run beside
/// it. Returns what `body` returns; the network is gone afterwards.
///
/// Must be awaited within a tokio runtime (the gateway connects host sockets).
pub async fn with_channel_network<R>(
    routes: &[gateway::Route],
    counters: &Counters,
    body: impl AsyncFnOnce(Device<'_>) -> R,
) -> R {
    assert!(
        routes.len() * gateway::SLOTS < GATEWAY_SOCKETS,
        "at most {} gateway routes",
        (GATEWAY_SOCKETS - 1) / gateway::SLOTS
    );
    let mut device_channel = link::ChannelState::new();
    let mut gateway_channel = link::ChannelState::new();
    let (device_driver, gateway_driver, wire) = link::link(
        &mut device_channel,
        &mut gateway_channel,
        DEVICE_MAC,
        GATEWAY_MAC,
    );
    let mut device_resources = StackResources::<DEVICE_SOCKETS>::new();
    let mut gateway_resources = StackResources::<GATEWAY_SOCKETS>::new();
    let (device_stack, mut device_runner) = embassy_net::new(
        device_driver,
        static_config(DEVICE_IP, 24, Some(GATEWAY_IP)),
        &mut device_resources,
        seed(),
    );
    let (gateway_stack, mut gateway_runner) = embassy_net::new(
        gateway_driver,
        static_config(GATEWAY_IP, 24, None),
        &mut gateway_resources,
        seed().rotate_left(17),
    );
    let pool = DevicePool::new();
    let device = Device {
        stack: device_stack,
        pool: &pool,
    };
    // Boxed: the futures of the stacks and of the jobs are large (TLS state, buffers in
    // debug builds) and would overflow a test thread's stack.
    let background = Box::pin(async {
        join3(
            wire.run(&counters.link),
            gateway::serve(gateway_stack, routes, &counters.gateway),
            embassy_futures::join::join(device_runner.run(), gateway_runner.run()),
        )
        .await
    });
    let main = Box::pin(async {
        device_stack.wait_config_up().await;
        gateway_stack.wait_config_up().await;
        body(device).await
    });
    match select(background, main).await {
        Either::First((never, ..)) => never,
        Either::Second(r) => r,
    }
}

/// Runs `body` with a device whose stack sits on `driver` (e.g. a TAP device) with a
/// static configuration, while the stack's runner runs beside it.
pub async fn with_driver<D: Driver, R>(
    driver: D,
    config: Config,
    body: impl AsyncFnOnce(Device<'_>) -> R,
) -> R {
    let mut resources = StackResources::<DEVICE_SOCKETS>::new();
    let (stack, mut runner) = embassy_net::new(driver, config, &mut resources, seed());
    let pool = DevicePool::new();
    let device = Device { stack, pool: &pool };
    let main = Box::pin(async {
        stack.wait_config_up().await;
        body(device).await
    });
    match select(Box::pin(runner.run()), main).await {
        Either::First(never) => never,
        Either::Second(r) => r,
    }
}

/// Runs `f` for at most `timeout` of embassy time; `None` when it took longer.
pub async fn within<F: Future>(timeout: embassy_time::Duration, f: F) -> Option<F::Output> {
    embassy_time::with_timeout(timeout, Box::pin(f)).await.ok()
}
