//! The card's [`Platform`] on the board: two stores in partitions of the on-board flash, entropy
//! from the chip through health tests and a SHA-256 conditioner, the device root and serial.

use core::cell::RefCell;

use embassy_embedded_hal::flash::partition::BlockingPartition;
use embassy_rp::flash::{Blocking, Flash};
use embassy_rp::peripherals::FLASH;
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use hsm_card::{EntropyFailure, Mcu, Platform, Reboot, RebootUnsupported};
use hsm_store::Store;
use zeroize::Zeroizing;

use crate::layout::FLASH_SIZE;

/// The whole on-board flash.
pub type RawFlash = Flash<'static, FLASH, Blocking, FLASH_SIZE>;
/// One store's partition of it.
///
/// `MultiwriteNorFlash` (embassy-rp's `Flash`, forwarded by the partition): the RP2040/RP2350 QSPI NOR
/// flash programs 1→0 bits only (a page program ANDs its data into the cells), so a unit programmed
/// once can be programmed again to clear more bits. `Store::mount` needs that: it overwrites superseded
/// and deleted records with zeros in place, so no old key or PIN record stays readable in a flash dump.
pub type Part = BlockingPartition<'static, NoopRawMutex, RawFlash>;
const _: fn() = multiwrite::<Part>;
fn multiwrite<F: embedded_storage::nor_flash::MultiwriteNorFlash>() {}
/// The flash shared by the two partitions.
pub type SharedFlash = Mutex<NoopRawMutex, RefCell<RawFlash>>;

/// The board under the card.
pub struct Board {
    store: Store<Part>,
    counters: Store<Part>,
    entropy: crate::entropy::Source,
    secret: Zeroizing<[u8; 32]>,
    serial: [u8; 8],
    /// The button for press-to-confirm (RP2040: BOOTSEL; the Pico 2 has no BOOTSEL reading yet).
    #[cfg(feature = "rp2040")]
    bootsel: embassy_rp::Peri<'static, embassy_rp::peripherals::BOOTSEL>,
    /// The reboot the rescue applet asked for, done by `main` once the answer is sent.
    reboot: Option<Reboot>,
    /// Core 1, searching RSA primes during key generation.
    #[cfg(feature = "rp2040")]
    core1: crate::core1::Core1,
}

/// How long a press-to-confirm waits for the button (upstream's default window).
#[cfg(feature = "rp2040")]
const CONFIRM_WINDOW_MS: u32 = 15_000;

impl Board {
    /// The board over mounted stores, with its root and serial.
    pub fn new(
        store: Store<Part>,
        counters: Store<Part>,
        entropy: crate::entropy::Source,
        secret: Zeroizing<[u8; 32]>,
        serial: [u8; 8],
        #[cfg(feature = "rp2040")] bootsel: embassy_rp::Peri<'static, embassy_rp::peripherals::BOOTSEL>,
    ) -> Self {
        Self {
            store,
            counters,
            entropy,
            secret,
            serial,
            #[cfg(feature = "rp2040")]
            bootsel,
            reboot: None,
            #[cfg(feature = "rp2040")]
            core1: crate::core1::Core1::default(),
        }
    }

    /// The reboot asked for since the last call, if any.
    pub fn take_reboot(&mut self) -> Option<Reboot> {
        self.reboot.take()
    }
}

impl Platform for Board {
    type Flash = Part;

    fn store(&mut self) -> &mut Store<Part> {
        &mut self.store
    }

    fn counters(&mut self) -> &mut Store<Part> {
        &mut self.counters
    }

    fn entropy(&mut self, buf: &mut [u8]) -> Result<(), EntropyFailure> {
        self.entropy.fill(buf).map_err(|_| EntropyFailure)
    }

    fn device_secret(&mut self) -> Zeroizing<[u8; 32]> {
        self.secret.clone()
    }

    fn serial(&self) -> [u8; 8] {
        self.serial
    }

    fn mcu(&self) -> Mcu {
        #[cfg(feature = "rp2040")]
        return Mcu::Rp2040;
        #[cfg(feature = "rp235x")]
        return Mcu::Rp2350;
    }

    /// RP2040: a press of BOOTSEL within 15 s, the LED showing "waiting for the button". The Pico 2
    /// cannot read BOOTSEL yet (embassy-rp): never confirmed.
    fn confirm(&mut self) -> bool {
        #[cfg(feature = "rp2040")]
        {
            crate::led::set_waiting_button(true);
            let mut waited = 0;
            let pressed = loop {
                if embassy_rp::bootsel::is_bootsel_pressed(self.bootsel.reborrow()) {
                    break true;
                }
                if waited >= CONFIRM_WINDOW_MS {
                    break false;
                }
                embassy_time::block_for(embassy_time::Duration::from_millis(50));
                waited += 50;
            };
            crate::led::set_waiting_button(false);
            pressed
        }
        #[cfg(feature = "rp235x")]
        false
    }

    fn monotonic_ms(&mut self) -> Option<u64> {
        Some(embassy_time::Instant::now().as_millis())
    }

    fn request_reboot(&mut self, mode: Reboot) -> Result<(), RebootUnsupported> {
        self.reboot = Some(mode);
        Ok(())
    }

    fn flash_size(&self) -> u32 {
        FLASH_SIZE as u32
    }

    fn firmware_size(&self) -> Option<u32> {
        Some(crate::layout::firmware_size())
    }

    #[cfg(feature = "rp2040")]
    fn prime_search(&mut self) -> Option<&mut dyn hsm_crypto::asym::rsa::PrimeSearch> {
        Some(&mut self.core1)
    }
}
