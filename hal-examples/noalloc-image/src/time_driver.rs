//! A minimal embassy-time driver on the Cortex-M SysTick timer: a 1 kHz tick counter and the
//! timer queue, both checked from the SysTick exception.
//!
//! A board support crate (embassy-stm32, embassy-nrf, embassy-rp, ...) brings a better one
//! (a low-power RTC/TIMER with compare alarms and no periodic interrupt); this one only needs the
//! core clock frequency.

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;

/// Core clock after reset of the part the image is laid out for.
#[cfg(part = "stm32g0b1")]
pub const CORE_CLOCK_HZ: u32 = 16_000_000; // HSI16
/// Core clock after reset of the part the image is laid out for.
#[cfg(not(part = "stm32g0b1"))]
pub const CORE_CLOCK_HZ: u32 = 64_000_000; // nRF52840 HCLK

const TICK_HZ: u32 = 1_000;
const _: () = assert!(embassy_time_driver::TICK_HZ == TICK_HZ as u64);

struct SysTickDriver {
    ticks: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut queue = self.queue.borrow(cs).borrow_mut();
            // The SysTick exception looks at the queue every tick, so no alarm needs setting;
            // an `at` already in the past is served on the next tick.
            queue.schedule_wake(at, waker);
        });
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

/// Starts SysTick at [`TICK_HZ`](embassy_time_driver::TICK_HZ) from the core clock.
pub fn init(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CORE_CLOCK_HZ / TICK_HZ - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let ticks = DRIVER.ticks.borrow(cs);
        let now = ticks.get() + 1;
        ticks.set(now);
        // Wakes every expired timer; the next expiry is found again on the next tick.
        let _next = DRIVER.queue.borrow(cs).borrow_mut().next_expiration(now);
    });
}
