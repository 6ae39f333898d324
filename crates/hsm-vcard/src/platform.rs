//! The card's [`Platform`] on files: both stores in `flash.bin`, the root secret and serial from
//! `otp.bin`, entropy from the OS.

use hsm_card::{EntropyFailure, Platform};
use hsm_store::Store;
use hsm_store::flash::FileFlash;
use zeroize::Zeroizing;

use crate::state::{COUNTERS_OFFSET, COUNTERS_SIZE, Otp, STORE_OFFSET, STORE_SIZE, StateDir};

/// The virtual card's device.
pub struct FilePlatform {
    store: Store<FileFlash>,
    counters: Store<FileFlash>,
    otp: Otp,
}

impl FilePlatform {
    /// Opens (creating on first use) the flash image and the OTP file of a locked state directory.
    pub fn open(state: &StateDir) -> Result<Self, String> {
        let (otp, created) = state.load_or_create_otp()?;
        if created {
            log::info!("new device: created {}", state.otp_path().display());
        }
        let path = state.flash_path();
        let file = state.open_flash()?;
        let second = file
            .try_clone()
            .map_err(|e| format!("cannot open {} twice: {e}", path.display()))?;
        let store = mount(&path, file, STORE_OFFSET, STORE_SIZE, "main store")?;
        let counters = mount(&path, second, COUNTERS_OFFSET, COUNTERS_SIZE, "counters")?;
        Ok(Self { store, counters, otp })
    }

    /// Flushes both flash regions to disk.
    pub fn sync(&mut self) -> Result<(), String> {
        self.store
            .flash_mut()
            .sync()
            .map_err(|e| format!("cannot sync flash.bin: {e}"))?;
        self.counters
            .flash_mut()
            .sync()
            .map_err(|e| format!("cannot sync flash.bin: {e}"))
    }
}

fn mount(
    path: &std::path::Path,
    file: std::fs::File,
    offset: u64,
    size: usize,
    what: &str,
) -> Result<Store<FileFlash>, String> {
    let flash = FileFlash::from_file(file, offset, size)
        .map_err(|e| format!("cannot open {} ({what} region at offset {offset}): {e}", path.display()))?;
    Store::mount(flash).map_err(|e| format!("cannot mount the {what} in {}: {e}", path.display()))
}

impl Platform for FilePlatform {
    type Flash = FileFlash;

    fn store(&mut self) -> &mut Store<FileFlash> {
        &mut self.store
    }

    fn counters(&mut self) -> &mut Store<FileFlash> {
        &mut self.counters
    }

    fn entropy(&mut self, buf: &mut [u8]) -> Result<(), EntropyFailure> {
        getrandom::fill(buf).map_err(|e| {
            // The card answers 6400 to the command that needed randomness and changes nothing.
            log::error!("the OS random number generator failed: {e}");
            EntropyFailure
        })
    }

    fn device_secret(&mut self) -> Zeroizing<[u8; 32]> {
        self.otp.secret.clone()
    }

    fn serial(&self) -> [u8; 8] {
        self.otp.serial
    }
}
