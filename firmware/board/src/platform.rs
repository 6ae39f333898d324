//! The card's [`Platform`] on the board: two stores in partitions of the on-board flash, entropy
//! from the chip through health tests and a SHA-256 conditioner, the device root and serial.

use core::cell::RefCell;

use embassy_embedded_hal::flash::partition::BlockingPartition;
use embassy_rp::flash::{Blocking, Flash};
use embassy_rp::peripherals::FLASH;
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use hsm_card::{EntropyFailure, Platform};
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
}

impl Board {
    /// The board over mounted stores, with its root and serial.
    pub fn new(
        store: Store<Part>,
        counters: Store<Part>,
        entropy: crate::entropy::Source,
        secret: Zeroizing<[u8; 32]>,
        serial: [u8; 8],
    ) -> Self {
        Self {
            store,
            counters,
            entropy,
            secret,
            serial,
        }
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
}
