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

    /// The microcontroller, as the rescue applet reports it. Default: [`Mcu::Emulation`].
    fn mcu(&self) -> Mcu {
        Mcu::Emulation
    }

    /// Asks the user to confirm an operation by pressing the button (upstream's press-to-confirm),
    /// waiting as long as the platform's confirmation window lasts. `true` only for a press.
    ///
    /// Default: never confirmed (the card then answers 6600 and changes nothing).
    fn confirm(&mut self) -> bool {
        false
    }

    /// A monotonic clock in milliseconds since some start (boot, process start), for the rescue
    /// applet's real-time clock. Default: no clock (setting the time answers 6A81).
    fn monotonic_ms(&mut self) -> Option<u64> {
        None
    }

    /// Reboots the device once the current response has gone out: the platform notes the request,
    /// and its transport carries it out after sending the response (9000) to the host.
    ///
    /// # Errors
    /// The platform cannot reboot that way (the card answers 6A81). Default: no reboot at all.
    fn request_reboot(&mut self, mode: Reboot) -> Result<(), RebootUnsupported> {
        let _ = mode;
        Err(RebootUnsupported)
    }

    /// Size of the whole flash chip (the virtual card: its flash image), in bytes. Default 0.
    fn flash_size(&self) -> u32 {
        0
    }

    /// Size of the firmware image in flash, if the platform has one (the boards). Default: none,
    /// and the rescue applet's flash information has 5 fields instead of 6, as upstream's emulation.
    fn firmware_size(&self) -> Option<u32> {
        None
    }

    /// A second processor that searches RSA primes in parallel with the key generation (the
    /// RP2040's core 1). Default: none, the generation searches alone.
    #[cfg(feature = "rsa")]
    fn prime_search(&mut self) -> Option<&mut dyn hsm_crypto::asym::rsa::PrimeSearch> {
        None
    }
}

/// Microcontroller numbers of upstream's rescue applet (`PICO_MCU`, pypicokey `Platform`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mcu {
    /// Raspberry Pi RP2040 (Pico).
    Rp2040 = 0,
    /// Raspberry Pi RP2350 (Pico 2).
    Rp2350 = 1,
    /// Espressif ESP32-S3 (upstream only).
    Esp32 = 2,
    /// A host emulation: the virtual card, tests.
    Emulation = 3,
}

/// What the rescue applet's INS 1F asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reboot {
    /// Restart the firmware (P1 00).
    Normal,
    /// Restart into the boot ROM's USB mass-storage mode, to flash a new image (P1 01).
    Bootsel,
}

/// The platform cannot reboot the way asked ([`Platform::request_reboot`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RebootUnsupported;
