//! ESP32-C3 bring-up for the postwire device jobs: esp-hal at 160 MHz, the esp-rtos scheduler
//! (which the Wi-Fi driver needs) with its embassy executor, the true random number generator,
//! esp-radio Wi-Fi in station mode joined to the network given at build time, and embassy-net
//! with DHCP and DNS. The binaries (`alert`, `imap-commands`, `pop3-commands`) each run one
//! job of the shared device app over this.
//!
//! # The heap
//!
//! postwire, embassy-net and embedded-tls allocate nothing. esp-radio does: its Wi-Fi driver
//! keeps its packet queues in `alloc` collections and the vendor Wi-Fi blobs call `malloc`
//! (see `esp_radio::compat::malloc`), and there is no configuration of esp-radio
//! 1.0.0-beta.1 without an allocator. So this firmware — unlike the other boards — has a
//! `#[global_allocator]` (esp-alloc) with a heap of [`HEAP_RECLAIMED`] + [`HEAP_DRAM`] bytes
//! that only the Wi-Fi stack uses.
#![no_std]

use embassy_executor::Spawner;
use embassy_net::{Stack, StackResources};
use embassy_time::Timer;
use esp_hal::clock::CpuClock;
use esp_hal::rng::{Trng, TrngSource};
use esp_hal::timer::timg::TimerGroup;
use esp_radio::wifi::sta::StationConfig;
use esp_radio::wifi::{AuthenticationMethodConfig, Config, Interface, WifiController};
use postwire_boards_common::net::{self as common_net, SOCKETS};
use rand_core::RngCore;
use static_cell::StaticCell;

pub use postwire_boards_common::settings;

/// Heap in the RAM the second-stage boot loader used (free once the app runs), for the Wi-Fi
/// driver.
pub const HEAP_RECLAIMED: usize = 64 * 1024;
/// Heap in ordinary DRAM (.bss), for the Wi-Fi driver.
pub const HEAP_DRAM: usize = 36 * 1024;

/// The network driver embassy-net runs on.
pub type Device = Interface;

/// The true random number generator (RNG peripheral fed by the ADC/RF noise source, kept
/// enabled for the firmware's lifetime).
pub type BoardRng = Trng;

/// What the mailbox jobs need from this board.
pub const BOARD: postwire_boards_common::jobs::Board =
    postwire_boards_common::jobs::Board { reboot, status };

/// Adds the Wi-Fi heap's use to `STATUS` replies: current and peak bytes of the heap size.
fn status(out: &mut dyn core::fmt::Write) {
    let stats = esp_alloc::HEAP.stats();
    let _ = write!(
        out,
        ", Wi-Fi heap {} B used, {} B peak, of {} B",
        stats.current_usage, stats.max_usage, stats.size
    );
}

/// Resets the chip (after a `REBOOT` command was answered).
pub fn reboot() -> ! {
    esp_hal::system::software_reset()
}

/// Resets the chip on panic (a device in the field should come back on its own).
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    esp_hal::system::software_reset()
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device>) -> ! {
    runner.run().await
}

/// Keeps the station joined: (re)connects whenever the link drops, every 5 s until it works.
#[embassy_executor::task]
async fn wifi_task(mut controller: WifiController<'static>) -> ! {
    loop {
        if controller.is_connected() {
            let _ = controller.wait_for_disconnect_async().await;
            Timer::after_secs(1).await;
        }
        if controller.connect_async().await.is_err() {
            Timer::after_secs(5).await;
        }
    }
}

fn station_config() -> Config {
    let Ok(ssid) = settings::WIFI_SSID.try_into() else {
        panic!("POSTWIRE_WIFI_SSID too long")
    };
    let auth = if settings::WIFI_PASSWORD.is_empty() {
        AuthenticationMethodConfig::Open
    } else {
        let Ok(password) = settings::WIFI_PASSWORD.try_into() else {
            panic!("POSTWIRE_WIFI_PASSWORD too long")
        };
        AuthenticationMethodConfig::Wpa2Personal(password)
    };
    Config::Station(
        StationConfig::default()
            .with_ssid(ssid)
            .with_authentication(auth),
    )
}

/// Brings the board up: clocks, heap, scheduler, TRNG, Wi-Fi (station, reconnecting in its
/// own task), embassy-net (DHCP) in its own task. Returns the stack (wait for
/// `stack.wait_config_up()` before connecting) and the RNG. Call once, from the
/// `#[esp_rtos::main]` function.
pub fn init(spawner: &Spawner) -> (Stack<'static>, BoardRng) {
    let p = esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::max()));
    esp_alloc::heap_allocator!(#[esp_hal::ram(reclaimed)] size: HEAP_RECLAIMED);
    esp_alloc::heap_allocator!(size: HEAP_DRAM);

    let timg0 = TimerGroup::new(p.TIMG0);
    esp_rtos::start(timg0.timer0, p.FROM_CPU_INTR0);

    static TRNG_SOURCE: StaticCell<TrngSource<'static>> = StaticCell::new();
    TRNG_SOURCE.init(TrngSource::new(p.RNG, p.ADC1));
    let Ok(mut rng) = Trng::try_new() else {
        panic!("TRNG source not enabled")
    };

    let Ok(mut controller) = WifiController::new(p.WIFI, Default::default()) else {
        panic!("Wi-Fi init failed")
    };
    if controller.set_config(&station_config()).is_err() {
        panic!("Wi-Fi station configuration refused");
    }
    let device = Interface::station();

    static RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
    let (stack, runner) = common_net::init(
        device,
        RESOURCES.init(StackResources::new()),
        rng.next_u64(),
    );
    match wifi_task(controller) {
        Ok(token) => spawner.spawn(token),
        Err(_) => panic!("wifi task spawned twice"),
    }
    match net_task(runner) {
        Ok(token) => spawner.spawn(token),
        Err(_) => panic!("net task spawned twice"),
    }
    (stack, rng)
}
