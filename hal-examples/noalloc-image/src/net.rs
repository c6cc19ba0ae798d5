//! embassy-net on a channel driver.
//!
//! `embassy-net-driver-channel` splits a network interface into a [`Device`] (a real
//! `embassy_net_driver::Driver`, given to embassy-net) and a runner, which a board's MAC or
//! Wi-Fi driver serves by moving frames between the channel and the hardware. This image has
//! no hardware: the runner is kept but never polled, which is enough to link everything the
//! stack needs. On a board, replace [`init`]'s channel with the board's driver (e.g.
//! `embassy_stm32::eth::Ethernet`, `cyw43`, `embassy-net-wiznet`).

use embassy_executor::Spawner;
use embassy_net::{Config, Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_driver_channel as ch;
use static_cell::StaticCell;

use crate::config::provisioning;

/// Ethernet MTU including the header.
pub const MTU: usize = 1514;
const N_RX: usize = 2;
const N_TX: usize = 2;

/// The network device type embassy-net runs on.
pub type Device = ch::Device<'static, MTU>;

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device>) -> ! {
    runner.run().await
}

/// Creates the interface and the stack with a static IPv4 configuration, spawns the stack's
/// task and returns the stack. `seed` randomises TCP ports and sequence numbers: it must come
/// from the board's hardware RNG.
pub fn init(spawner: &Spawner, seed: u64) -> Stack<'static> {
    static CH_STATE: StaticCell<ch::State<MTU, N_RX, N_TX>> = StaticCell::new();
    static RESOURCES: StaticCell<StackResources<2>> = StaticCell::new();

    let mac = ch::driver::HardwareAddress::Ethernet([0x02, 0x00, 0x00, 0x00, 0x00, 0x17]);
    let (nic_runner, device) = ch::new(CH_STATE.init(ch::State::new()), mac);
    // The board's MAC driver would serve `nic_runner`. Nobody does here; `black_box` keeps the
    // optimiser from reasoning that no frame can ever arrive.
    core::hint::black_box(nic_runner);

    let p = provisioning();
    let [a, b, c, d] = p.ip;
    let [g0, g1, g2, g3] = p.gateway;
    let config = Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(Ipv4Address::new(a, b, c, d), p.prefix_len),
        gateway: Some(Ipv4Address::new(g0, g1, g2, g3)),
        dns_servers: Default::default(),
    });
    let (stack, runner) =
        embassy_net::new(device, config, RESOURCES.init(StackResources::new()), seed);
    match net_task(runner) {
        Ok(token) => spawner.spawn(token),
        Err(_) => panic!("net task already spawned"),
    }
    stack
}
