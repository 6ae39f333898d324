//! The card's [`Platform`] on files: both stores in `flash.bin`, the root secret and serial from
//! `otp.bin`, entropy from the OS.

use std::time::Instant;

use hsm_card::{EntropyFailure, Platform, Reboot, RebootUnsupported};
use hsm_store::flash::FileFlash;
use hsm_store::{MountReport, Store};
use zeroize::Zeroizing;

use crate::state::{COUNTERS_OFFSET, COUNTERS_SIZE, Otp, STORE_OFFSET, STORE_SIZE, StateDir};

/// The virtual card's device.
pub struct FilePlatform {
    store: Store<FileFlash>,
    counters: Store<FileFlash>,
    otp: Otp,
    /// Whether the "button" confirms every request (`--auto-confirm`).
    auto_confirm: bool,
    /// The rescue applet asked for a reboot, done once its answer is sent.
    restart: bool,
    started: Instant,
    /// A thread searching RSA primes beside a key generation (the board's core 1).
    primes: hsm_crypto::asym::rsa::ThreadSearch,
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
        Ok(Self {
            store,
            counters,
            otp,
            auto_confirm: false,
            restart: false,
            started: Instant::now(),
            primes: hsm_crypto::asym::rsa::ThreadSearch::default(),
        })
    }

    /// Whether requests for the button (press-to-confirm) are confirmed (`true`) or refused.
    pub fn set_auto_confirm(&mut self, on: bool) {
        self.auto_confirm = on;
    }

    /// Whether a reboot was asked for since the last call.
    pub fn take_restart(&mut self) -> bool {
        std::mem::take(&mut self.restart)
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
    let store = Store::mount(flash).map_err(|e| format!("cannot mount the {what} in {}: {e}", path.display()))?;
    let report = store.report();
    if let Some(text) = damage_report(report, &format!("the {what} in {} (offset {offset})", path.display())) {
        eprintln!("{text}");
    }
    if report.scrubbed_records > 0 || !report.erased_sectors.is_empty() {
        log::info!(
            "{what}: recovered from an interrupted operation ({} records overwritten, sectors {:?} erased)",
            report.scrubbed_records,
            report.erased_sectors
        );
    }
    Ok(store)
}

/// What the user must know about a store whose mount found damage (`None` if it found none): what was
/// repaired, what is at risk, what to do.
fn damage_report(r: &MountReport, where_: &str) -> Option<String> {
    if r.is_clean() {
        return None;
    }
    let mut t = format!("pico-hsm-vcard: warning: {where_} is damaged (bits changed outside the card).");
    let sectors = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
    let files = |v: &[u16]| v.iter().map(|f| format!("{f:04X}")).collect::<Vec<_>>().join(", ");
    if !r.repaired_sectors.is_empty() || r.repaired_records > 0 {
        t += &format!(
            "\n  repaired: {} sector header(s) [{}] and {} record header(s) had one flipped bit, corrected",
            r.repaired_sectors.len(),
            sectors(&r.repaired_sectors),
            r.repaired_records
        );
    }
    if !r.placed_sectors.is_empty() {
        t += &format!(
            "\n  repaired: sector(s) [{}] lost their header; their place in the store is certain, their records are read",
            sectors(&r.placed_sectors)
        );
    }
    if !r.unplaced_sectors.is_empty() {
        t += &format!(
            "\n  at risk: sector(s) [{}] may hold data the store cannot place; kept untouched, never reused",
            sectors(&r.unplaced_sectors)
        );
    }
    if !r.unparsed_sectors.is_empty() {
        t += &format!(
            "\n  at risk: sector(s) [{}] hold a record that cannot be read; any file the card does not find reads as a memory failure (6581)",
            sectors(&r.unparsed_sectors)
        );
    }
    if !r.uncertain_files.is_empty() || !r.damaged_files.is_empty() {
        let lost: Vec<u16> = r.uncertain_files.iter().chain(&r.damaged_files).copied().collect();
        t += &format!(
            "\n  at risk: file(s) {} read as a memory failure (6581) until written again",
            files(&lost)
        );
    }
    if r.data_at_risk() {
        t += "\n  the store no longer reclaims space: writes fail (6A84) once its free space is used up\
              \n  what to do: back up what still reads (pico-hsm-tool backup DIR), stop the card, move \
              flash.bin aside (keep it for analysis), start the card again, re-initialize it and restore \
              (pico-hsm-tool restore DIR)";
    } else {
        t += "\n  nothing was lost; damage like this comes from a failing disk or another program writing \
              flash.bin: make a backup while everything reads (pico-hsm-tool backup DIR)";
    }
    Some(t)
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

    /// The virtual card has no button: `--auto-confirm` presses it for every request, else every
    /// request is refused (6600).
    fn confirm(&mut self) -> bool {
        if self.auto_confirm {
            log::info!("button press requested: confirmed (--auto-confirm)");
        } else {
            log::warn!("button press requested: refused (start pico-hsm-vcard with --auto-confirm to confirm)");
        }
        self.auto_confirm
    }

    fn monotonic_ms(&mut self) -> Option<u64> {
        Some(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// A normal reboot restarts the card in place once the answer is sent; there is no BOOTSEL.
    fn request_reboot(&mut self, mode: Reboot) -> Result<(), RebootUnsupported> {
        match mode {
            Reboot::Normal => {
                self.restart = true;
                Ok(())
            }
            Reboot::Bootsel => Err(RebootUnsupported),
        }
    }

    fn flash_size(&self) -> u32 {
        u32::try_from(STORE_SIZE + COUNTERS_SIZE).unwrap_or(u32::MAX)
    }

    fn prime_search(&mut self) -> Option<&mut dyn hsm_crypto::asym::rsa::PrimeSearch> {
        Some(&mut self.primes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_is_reported_with_what_to_do() {
        assert_eq!(damage_report(&MountReport::default(), "x"), None);
        let repaired = MountReport {
            repaired_sectors: vec![3],
            ..MountReport::default()
        };
        let t = damage_report(&repaired, "the main store").unwrap();
        assert!(t.contains("[3]") && t.contains("nothing was lost"), "{t}");
        let lost = MountReport {
            unparsed_sectors: vec![7],
            uncertain_files: vec![0xCD01],
            ..MountReport::default()
        };
        let t = damage_report(&lost, "the main store").unwrap();
        assert!(
            t.contains("[7]") && t.contains("CD01") && t.contains("back up") && t.contains("re-initialize"),
            "{t}"
        );
    }
}
