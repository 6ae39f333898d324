//! The device root secret (DESIGN §4) and the serial.
//!
//! * **RP2350 (Pico 2)**: 32 random bytes in OTP, written at first boot with ECC into one of three
//!   slots of page 56 (rows 0xE00–0xE32; upstream's own keys live in page 58, so a board that ran
//!   upstream before keeps them untouched). A slot is 16 data rows and a commit row written last
//!   ([`COMMIT`]): a power cut during the first boot leaves an uncommitted slot, never used again, and
//!   the next boot takes the next blank slot. After committing, the page is locked for good against
//!   non-secure code and the boot ROM's USB interface (PAGE56_LOCK1 = 0x3C: secure read/write,
//!   non-secure and bootloader inaccessible), so `picotool otp` in BOOTSEL mode cannot read it. What
//!   it does not stop: someone who can flash their own firmware (BOOTSEL is open unless secure boot
//!   is enabled, which this firmware does not do) runs it in secure mode and reads the page.
//! * **RP2040 (Pico)**: no secret storage on the chip. The root is 32 random bytes in the counters
//!   store ([`hsm_card::PLATFORM_ROOT_FID`]), in the clear in external flash: anyone with a flash dump
//!   has it. This is the documented weaker root of the RP2040 (README, docs/security.md).

use zeroize::Zeroizing;

/// Why the root could not be set up (the board stops: a card without its root would lose keys).
#[derive(Debug, Clone, Copy)]
pub enum RootError {
    /// The entropy source failed its health tests.
    Entropy,
    /// Reading or writing the root's storage failed.
    Storage,
    /// Every OTP slot is used up (three interrupted first boots).
    #[cfg_attr(feature = "rp2040", allow(dead_code))]
    NoSlot,
}

#[cfg(feature = "rp235x")]
mod otp_root {
    use embassy_rp::otp;
    use zeroize::Zeroizing;

    use super::RootError;

    /// First row of the first slot (page 56).
    const BASE: usize = 0xE00;
    /// Rows per slot: 16 data rows (2 bytes each with ECC) and the commit row.
    const SLOT_ROWS: usize = 17;
    const SLOTS: usize = 3;
    /// What the commit row holds once the slot's data is written and verified.
    pub const COMMIT: u16 = 0xC0DE;
    /// PAGE0_LOCK0 row; page `p`'s LOCK1 row is `PAGE_LOCK_BASE + 2p + 1`.
    const PAGE_LOCK_BASE: usize = 0xF80;
    const PAGE: usize = BASE / otp::NUM_ROWS_PER_PAGE;
    /// LOCK1 value, three times (raw rows hold 24 bits): LOCK_S 0 (read/write), LOCK_NS 3 and
    /// LOCK_BL 3 (inaccessible).
    const LOCK1: u32 = 0x003C_3C3C;

    fn blank(row: usize) -> Result<bool, RootError> {
        otp::read_raw_word(row).map(|w| w == 0).map_err(|_| RootError::Storage)
    }

    fn read_slot(base: usize) -> Result<Zeroizing<[u8; 32]>, RootError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        for (i, pair) in secret.chunks_exact_mut(2).enumerate() {
            let w = otp::read_ecc_word(base + i).map_err(|_| RootError::Storage)?;
            pair.copy_from_slice(&w.to_le_bytes());
        }
        Ok(secret)
    }

    /// Reads the committed root, creating it (with `fill`) on the first boot.
    pub fn load(fill: &mut dyn FnMut(&mut [u8]) -> Result<(), RootError>) -> Result<Zeroizing<[u8; 32]>, RootError> {
        for slot in 0..SLOTS {
            let base = BASE + slot * SLOT_ROWS;
            if otp::read_ecc_word(base + 16).map_err(|_| RootError::Storage)? == COMMIT {
                lock_page()?;
                return read_slot(base);
            }
        }
        for slot in 0..SLOTS {
            let base = BASE + slot * SLOT_ROWS;
            let mut all_blank = true;
            for row in base..base + SLOT_ROWS {
                all_blank &= blank(row)?;
            }
            if !all_blank {
                continue; // an interrupted first boot: never reuse it
            }
            let mut secret = Zeroizing::new([0u8; 32]);
            fill(&mut secret[..])?;
            for (i, pair) in secret.chunks_exact(2).enumerate() {
                let w = u16::from_le_bytes([pair[0], pair[1]]);
                otp::write_ecc_word(base + i, w).map_err(|_| RootError::Storage)?;
            }
            if *read_slot(base)? != *secret {
                return Err(RootError::Storage);
            }
            otp::write_ecc_word(base + 16, COMMIT).map_err(|_| RootError::Storage)?;
            lock_page()?;
            return Ok(secret);
        }
        Err(RootError::NoSlot)
    }

    fn lock_page() -> Result<(), RootError> {
        let row = PAGE_LOCK_BASE + 2 * PAGE + 1;
        let now = otp::read_raw_word(row).map_err(|_| RootError::Storage)?;
        if now & LOCK1 == LOCK1 {
            return Ok(());
        }
        // OTP bits only go from 0 to 1: OR in the lock bits.
        otp::write_raw_word(row, now | LOCK1).map_err(|_| RootError::Storage)
    }
}

/// Loads (creating on first boot) the RP2350's root from OTP.
#[cfg(feature = "rp235x")]
pub fn load_otp(fill: &mut dyn FnMut(&mut [u8]) -> Result<(), RootError>) -> Result<Zeroizing<[u8; 32]>, RootError> {
    otp_root::load(fill)
}

/// Loads (creating on first boot) the RP2040's root from the counters store.
#[cfg(feature = "rp2040")]
pub fn load_from_store<F: embedded_storage::nor_flash::NorFlash>(
    counters: &mut hsm_store::Store<F>,
    fill: &mut dyn FnMut(&mut [u8]) -> Result<(), RootError>,
) -> Result<Zeroizing<[u8; 32]>, RootError> {
    let fid = hsm_card::PLATFORM_ROOT_FID;
    let mut secret = Zeroizing::new([0u8; 32]);
    match counters.read(fid, 0, &mut secret[..]) {
        Ok(32) => return Ok(secret),
        Ok(_) => return Err(RootError::Storage),
        Err(hsm_store::Error::NotFound) => {}
        Err(_) => return Err(RootError::Storage),
    }
    fill(&mut secret[..])?;
    // One atomic write: after a power cut the file is either absent (and made again) or whole.
    counters.write(fid, &secret[..]).map_err(|_| RootError::Storage)?;
    Ok(secret)
}
