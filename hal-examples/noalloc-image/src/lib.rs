//! Shared parts of the "proof of no allocation" firmware images.
//!
//! The two binaries (`smtp-plain`, `smtp-tls`) link the postwire SMTP client, embassy-net and
//! (for `smtp-tls`) postwire-tls/embedded-tls into a `#![no_std]` Cortex-M image **without a
//! `#[global_allocator]`** and without the `alloc` crate anywhere in the dependency graph: if
//! any of it allocated, the link would fail.
//!
//! Everything a real board provides is stubbed here in the smallest *real* form:
//! - [`time_driver`]: an embassy-time driver on SysTick (1 kHz tick);
//! - [`rng::InsecureDemoRng`]: **NOT a secure random number generator**, a placeholder for the
//!   board's hardware RNG;
//! - [`net::init`]: embassy-net over `embassy-net-driver-channel`, whose other end a board's
//!   Ethernet/Wi-Fi driver would serve (here nobody does: the images are built, not run);
//! - [`config`]: addresses, credentials and the trust anchor, which a device would read from
//!   provisioned storage.
#![no_std]

// Links cortex-m's single-core critical-section implementation.
use cortex_m as _;
use cortex_m_rt as _;

pub mod config;
pub mod mail;
pub mod net;
pub mod rng;
pub mod time_driver;

/// Stops on panic. (A board would reset or log; `panic = "abort"` keeps unwinding out.)
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    cortex_m::interrupt::disable();
    loop {
        cortex_m::asm::wfi();
    }
}

/// Starts the embassy thread-mode executor with `init` and never returns. Call it from the
/// `#[cortex_m_rt::entry]` function after [`time_driver::init`].
pub fn run_executor(init: impl FnOnce(embassy_executor::Spawner)) -> ! {
    static EXECUTOR: static_cell::StaticCell<embassy_executor::Executor> =
        static_cell::StaticCell::new();
    EXECUTOR.init(embassy_executor::Executor::new()).run(init)
}
