//! Where things live in the board's flash and RAM.
//!
//! | board | flash | image | main store | counters store |
//! |---|---|---|---|---|
//! | Pico (RP2040) | 2 MiB | [0, 1 MiB) | [1 MiB, 2 MiB − 64 KiB) | last 64 KiB |
//! | Pico 2 (RP2350) | 4 MiB | [0, 2 MiB) | [2 MiB, 4 MiB − 128 KiB) | last 128 KiB |
//!
//! The image bound is enforced by the linker (`memory-*.x`): an image that would grow into the store
//! does not link.

/// Total flash of the board.
#[cfg(feature = "rp2040")]
pub const FLASH_SIZE: usize = 2 * 1024 * 1024;
/// Total flash of the board.
#[cfg(feature = "rp235x")]
pub const FLASH_SIZE: usize = 4 * 1024 * 1024;

/// First byte of the key store (end of the image region).
#[cfg(feature = "rp2040")]
pub const STORE_START: u32 = 1024 * 1024;
/// First byte of the key store (end of the image region).
#[cfg(feature = "rp235x")]
pub const STORE_START: u32 = 2 * 1024 * 1024;

/// Size of the counters store (PIN retry and key use counters, the RP2040's device root).
#[cfg(feature = "rp2040")]
pub const COUNTERS_SIZE: u32 = 64 * 1024;
/// Size of the counters store (PIN retry and key use counters).
#[cfg(feature = "rp235x")]
pub const COUNTERS_SIZE: u32 = 128 * 1024;

/// The main store: every file, key and certificate.
pub const MAIN_START: u32 = STORE_START;
/// Size of the main store.
pub const MAIN_SIZE: u32 = FLASH_SIZE as u32 - STORE_START - COUNTERS_SIZE;
/// The counters store, at the end of flash.
pub const COUNTERS_START: u32 = FLASH_SIZE as u32 - COUNTERS_SIZE;

/// The largest command APDU a CCID XfrBlock carries: header, extended Lc, the card's largest
/// command data, extended Le.
pub const MAX_APDU: usize = 4 + 3 + hsm_apdu::MAX_COMMAND_DATA + 2;
/// The CCID message buffer: the largest APDU plus the 10-byte CCID header.
pub const CCID_MESSAGE: usize = MAX_APDU + hsm_ccid::HEADER_LEN;

/// Bytes of flash the firmware image takes: from the start of flash to the end of the load image
/// of `.data` (cortex-m-rt's `__sidata`, `__sdata`, `__edata`), the last section the linker
/// places in flash. Reported by the rescue applet's flash information.
pub fn firmware_size() -> u32 {
    unsafe extern "C" {
        static __sidata: u8;
        static __sdata: u8;
        static __edata: u8;
    }
    const XIP_BASE: u32 = 0x1000_0000;
    let load = &raw const __sidata as u32;
    let data = (&raw const __edata as u32).wrapping_sub(&raw const __sdata as u32);
    load.wrapping_add(data).wrapping_sub(XIP_BASE)
}
