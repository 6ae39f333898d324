//! What the card needs from the device it runs on.

use embedded_storage::nor_flash::NorFlash;
use hsm_store::Store;
use zeroize::Zeroizing;

pub use hsm_crypto::drbg::EntropyFailure;

/// A file id of the counters store that the card never reads, writes or wipes (INITIALIZE keeps
/// it): platforms without secret storage on the chip (the RP2040 firmware) keep their device root
/// there. Its high byte is no prefix the card uses.
pub const PLATFORM_ROOT_FID: u16 = 0xFF00;

/// The device under the card: flash stores, entropy and device-bound secrets.
///
/// The firmware implements it on the chip; `pico-hsm-vcard` on files; tests on RAM.
pub trait Platform {
    /// The flash both stores live on.
    type Flash: NorFlash;

    /// The file store: every file, key and certificate.
    fn store(&mut self) -> &mut Store<Self::Flash>;

    /// A separate store for hot counters (PIN retry counters, key use counters), so that their frequent
    /// rewrites never make the main store move key pages.
    fn counters(&mut self) -> &mut Store<Self::Flash>;

    /// Fills `buf` from the hardware entropy source (TRNG, `getrandom`). The card seeds its DRBG from it.
    ///
    /// # Errors
    /// The source failed its health tests (or is otherwise unusable): `buf` must not be used, and the
    /// card answers 6400 to whatever needed randomness, changing nothing.
    fn entropy(&mut self, buf: &mut [u8]) -> Result<(), EntropyFailure>;

    /// The 32-byte device root secret (RP2350 OTP; the virtual card's "OTP" file). Never leaves the card.
    fn device_secret(&mut self) -> Zeroizing<[u8; 32]>;

    /// The 8-byte unique device serial (chip id; random per state directory on the virtual card).
    fn serial(&self) -> [u8; 8];
}
