//! The on-board LED (GPIO 25 on Pico and Pico 2) shows the device state with upstream's timings
//! (reference §10.4; one colour, so only the rhythm tells the state):
//!
//! | state | on / off |
//! |---|---|
//! | not mounted (no USB configuration) | 500 / 500 ms |
//! | mounted, idle | 900 / 100 ms (upstream: green 500 / 500; with one colour it must differ from "not mounted") |
//! | suspended | 1000 / 2000 ms |
//! | processing a command | 50 / 50 ms |
//! | waiting for the BOOTSEL button | 1000 / 100 ms |
//! | fault (the board stopped; see the panic handler) | 100 / 100 ms, forever |

use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use embassy_rp::gpio::Output;
use embassy_time::{Duration, Timer};

const NOT_MOUNTED: u8 = 0;
const IDLE: u8 = 1;
const SUSPENDED: u8 = 2;

static USB_STATE: AtomicU8 = AtomicU8::new(NOT_MOUNTED);
static PROCESSING: AtomicBool = AtomicBool::new(false);
static WAITING_BUTTON: AtomicBool = AtomicBool::new(false);

/// USB configured (`true`) or not.
pub fn set_mounted(mounted: bool) {
    USB_STATE.store(if mounted { IDLE } else { NOT_MOUNTED }, Ordering::Relaxed);
}

/// USB suspended (`true`) or resumed.
pub fn set_suspended(suspended: bool) {
    if suspended {
        USB_STATE.store(SUSPENDED, Ordering::Relaxed);
    } else if USB_STATE.load(Ordering::Relaxed) == SUSPENDED {
        USB_STATE.store(IDLE, Ordering::Relaxed);
    }
}

/// The card is working on a command.
pub fn set_processing(busy: bool) {
    PROCESSING.store(busy, Ordering::Relaxed);
}

/// The card waits for the user to press BOOTSEL.
#[cfg_attr(feature = "rp235x", allow(dead_code))]
pub fn set_waiting_button(waiting: bool) {
    WAITING_BUTTON.store(waiting, Ordering::Relaxed);
}

/// On and off times of the current state, in milliseconds.
pub fn pattern() -> (u64, u64) {
    if WAITING_BUTTON.load(Ordering::Relaxed) {
        return (1000, 100);
    }
    if PROCESSING.load(Ordering::Relaxed) {
        return (50, 50);
    }
    match USB_STATE.load(Ordering::Relaxed) {
        NOT_MOUNTED => (500, 500),
        SUSPENDED => (1000, 2000),
        // Upstream shows idle in green and "not mounted" in red at the same 500/500 rhythm; with one
        // colour we keep idle mostly on, so the two differ.
        _ => (900, 100),
    }
}

/// Blinks the LED forever.
#[embassy_executor::task]
pub async fn run(mut led: Output<'static>) -> ! {
    loop {
        let (on, off) = pattern();
        led.set_high();
        Timer::after(Duration::from_millis(on)).await;
        led.set_low();
        Timer::after(Duration::from_millis(off)).await;
    }
}
