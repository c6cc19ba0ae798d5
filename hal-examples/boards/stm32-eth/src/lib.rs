//! NUCLEO-F767ZI bring-up for the postwire device jobs: clocks (216 MHz from the ST-LINK's
//! 8 MHz MCO), the hardware RNG, the Ethernet MAC with the on-board LAN8742A PHY (RMII), and
//! embassy-net with DHCP and DNS. The binaries (`alert`, `imap-commands`, `pop3-commands`)
//! each run one job of the shared device app over this.
#![no_std]

use embassy_executor::Spawner;
use embassy_net::{Stack, StackResources};
use embassy_stm32::eth::{self, Ethernet, GenericPhy, PacketQueue, Sma};
use embassy_stm32::peripherals::{ETH, ETH_SMA, RNG};
use embassy_stm32::rng::{self, Rng};
use embassy_stm32::time::Hertz;
use embassy_stm32::{Config, bind_interrupts};
use postwire_boards_common::net::{self as common_net, SOCKETS};
use static_cell::StaticCell;

pub use postwire_boards_common::settings;

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    RNG => rng::InterruptHandler<RNG>;
});

/// The network driver embassy-net runs on.
pub type Device = Ethernet<'static, ETH, GenericPhy<Sma<'static, ETH_SMA>>>;

/// The hardware random number generator (TRNG): TLS key shares, TCP sequence numbers.
pub type BoardRng = Rng<'static, RNG>;

/// What the mailbox jobs need from this board.
pub const BOARD: postwire_boards_common::jobs::Board =
    postwire_boards_common::jobs::Board { reboot, status };

/// Nothing board-specific to add to `STATUS` replies.
fn status(_out: &mut dyn core::fmt::Write) {}

/// Resets the board (after a `REBOOT` command was answered).
pub fn reboot() -> ! {
    cortex_m::peripheral::SCB::sys_reset()
}

/// Resets the board on panic (a device in the field should come back on its own).
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    cortex_m::peripheral::SCB::sys_reset()
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device>) -> ! {
    runner.run().await
}

/// Clock tree: HSE 8 MHz (bypass, from the ST-LINK MCO) → PLL → SYSCLK 216 MHz, 48 MHz for the
/// RNG from PLL Q.
fn clocks() -> Config {
    use embassy_stm32::rcc::{
        AHBPrescaler, APBPrescaler, Hse, HseMode, Pll, PllMul, PllPDiv, PllPreDiv, PllQDiv,
        PllSource, Sysclk, mux,
    };
    let mut config = Config::default();
    config.rcc.hse = Some(Hse {
        freq: Hertz(8_000_000),
        mode: HseMode::Bypass,
    });
    config.rcc.pll_src = PllSource::HSE;
    config.rcc.pll = Some(Pll {
        prediv: PllPreDiv::DIV4,
        mul: PllMul::MUL216,
        divp: Some(PllPDiv::DIV2),
        divq: Some(PllQDiv::DIV9),
        divr: None,
    });
    config.rcc.ahb_pre = AHBPrescaler::DIV1;
    config.rcc.apb1_pre = APBPrescaler::DIV4;
    config.rcc.apb2_pre = APBPrescaler::DIV2;
    config.rcc.sys = Sysclk::PLL1_P;
    config.rcc.mux.clk48sel = mux::Clk48sel::PLL1_Q;
    config
}

/// A locally administered MAC address derived from the chip's 96-bit unique ID.
fn mac_address() -> [u8; 6] {
    let uid = embassy_stm32::uid::uid();
    let mut mac = [0x02, 0, 0, 0, 0, 0];
    for (i, b) in uid.iter().enumerate() {
        if let Some(m) = mac.get_mut(1 + i % 5) {
            *m ^= *b;
        }
    }
    mac
}

/// Brings the board up: clocks, RNG, Ethernet, embassy-net (DHCP) in its own task. Returns
/// the stack (wait for `stack.wait_config_up()` before connecting) and the RNG.
pub fn init(spawner: &Spawner) -> (Stack<'static>, BoardRng) {
    let p = embassy_stm32::init(clocks());
    let mut rng = Rng::new(p.RNG, Irqs);

    static PACKETS: StaticCell<PacketQueue<4, 4>> = StaticCell::new();
    // NUCLEO-F767ZI RMII wiring (UM1974): REF_CLK PA1, CRS_DV PA7, RXD0 PC4, RXD1 PC5,
    // TXD0 PG13, TXD1 PB13, TX_EN PG11; MDIO PA2, MDC PC1. PHY address found automatically.
    let device = Ethernet::new(
        PACKETS.init(PacketQueue::new()),
        p.ETH,
        Irqs,
        p.PA1,
        p.PA7,
        p.PC4,
        p.PC5,
        p.PG13,
        p.PB13,
        p.PG11,
        mac_address(),
        p.ETH_SMA,
        p.PA2,
        p.PC1,
    );

    static RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
    let (stack, runner) = common_net::init(
        device,
        RESOURCES.init(StackResources::new()),
        rng.next_u64(),
    );
    match net_task(runner) {
        Ok(token) => spawner.spawn(token),
        Err(_) => panic!("net task spawned twice"),
    }
    (stack, rng)
}
