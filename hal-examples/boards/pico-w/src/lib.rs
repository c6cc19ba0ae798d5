//! Raspberry Pi Pico W bring-up for the postwire device jobs: RP2040 at its default 125 MHz,
//! the CYW43439 Wi-Fi chip on PIO SPI (firmware, CLM and NVRAM from crates.io), a join to the
//! network given at build time, and embassy-net with DHCP and DNS. The binaries (`alert`,
//! `imap-commands`, `pop3-commands`) each run one job of the shared device app over this.
#![no_std]

use cyw43::JoinOptions;
use cyw43_pio::{DEFAULT_CLOCK_DIVIDER, PioSpi};
use embassy_executor::Spawner;
use embassy_net::{Stack, StackResources};
use embassy_rp::bind_interrupts;
use embassy_rp::clocks::RoscRng;
use embassy_rp::dma;
use embassy_rp::gpio::{Level, Output};
use embassy_rp::peripherals::{DMA_CH0, PIO0};
use embassy_rp::pio::{self, Pio};
use embassy_time::Timer;
use postwire_boards_common::net::{self as common_net, SOCKETS};
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use static_cell::StaticCell;

pub use postwire_boards_common::settings;

bind_interrupts!(struct Irqs {
    PIO0_IRQ_0 => pio::InterruptHandler<PIO0>;
    DMA_IRQ_0 => dma::InterruptHandler<DMA_CH0>;
});

/// The network driver embassy-net runs on.
pub type Device = cyw43::NetDriver<'static>;

/// The random number generator for TLS key shares and TCP sequence numbers: ChaCha20 seeded
/// with SHA-256 over 4,096 bits sampled from the RP2040's ring oscillator (`RoscRng`). The
/// RP2040 has no certified TRNG; the ROSC random bit is the entropy source the platform
/// offers, and hashing many samples condenses its (per-bit low) entropy into the seed.
pub type BoardRng = rand_chacha::ChaCha20Rng;

type Cyw43Runner = cyw43::Runner<'static, cyw43::SpiBus<Output<'static>, PioSpi<'static, PIO0, 0>>>;

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
async fn wifi_task(runner: Cyw43Runner) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device>) -> ! {
    runner.run().await
}

fn seeded_rng() -> BoardRng {
    let mut hash = Sha256::new();
    let mut block = [0u8; 64];
    for _ in 0..8 {
        RoscRng.fill_bytes(&mut block);
        hash.update(block);
    }
    BoardRng::from_seed(hash.finalize().into())
}

/// Brings the board up: CYW43439 (firmware upload, CLM), joins `settings::WIFI_SSID`
/// (retrying every 5 s), starts embassy-net (DHCP) in its own task. Returns the stack (wait
/// for `stack.wait_config_up()` before connecting) and the RNG.
pub async fn init(spawner: &Spawner) -> (Stack<'static>, BoardRng) {
    let p = embassy_rp::init(Default::default());
    let mut rng = seeded_rng();

    // Pico W wiring (fixed on the board): WL_ON GPIO23, WL_CS GPIO25, WL_DATA GPIO24 (SPI
    // data in/out and IRQ), WL_CLK GPIO29.
    let pwr = Output::new(p.PIN_23, Level::Low);
    let cs = Output::new(p.PIN_25, Level::High);
    let mut pio = Pio::new(p.PIO0, Irqs);
    let dma = dma::Channel::new(p.DMA_CH0, Irqs);
    let spi = PioSpi::new(
        &mut pio.common,
        pio.sm0,
        DEFAULT_CLOCK_DIVIDER,
        pio.irq0,
        cs,
        p.PIN_24,
        p.PIN_29,
        dma,
    );

    static STATE: StaticCell<cyw43::State> = StaticCell::new();
    let (device, mut control, runner) = cyw43::new(
        STATE.init(cyw43::State::new()),
        pwr,
        spi,
        &cyw43_setup::FW,
        &cyw43_setup::NVRAM,
    )
    .await;
    match wifi_task(runner) {
        Ok(token) => spawner.spawn(token),
        Err(_) => panic!("wifi task spawned twice"),
    }
    control.init(cyw43_setup::CLM).await;
    control
        .set_power_management(cyw43::PowerManagementMode::PowerSave)
        .await;

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

    loop {
        let options = if settings::WIFI_PASSWORD.is_empty() {
            JoinOptions::new_open()
        } else {
            JoinOptions::new(settings::WIFI_PASSWORD.as_bytes())
        };
        if control.join(settings::WIFI_SSID, options).await.is_ok() {
            break;
        }
        Timer::after_secs(5).await;
    }
    (stack, rng)
}
