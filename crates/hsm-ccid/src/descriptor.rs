//! The CCID class descriptor (CCID Rev 1.1 §5.1, table 5.1-1) and the Interrupt-IN message.

use crate::{DEFAULT_MAX_MESSAGE, msg};

/// Length of the CCID class descriptor (`bLength`).
pub const CLASS_DESCRIPTOR_LEN: usize = 0x36;

/// `dwFeatures` (reference §10.2): 0x40 automatic parameter negotiation made by the CCID,
/// 0x800 the USB-ICC bit upstream sets, 0x40000 short and extended APDU level exchange.
pub const FEATURES: u32 = 0x0004_0840;

/// Default and maximum ICC clock in kHz (3.58 MHz), `dwDefaultClock` / `dwMaximumClock`.
pub const DEFAULT_CLOCK_KHZ: u32 = 3580;

/// Default and maximum data rate in bit/s (9600), `dwDataRate` / `dwMaxDataRate`.
pub const DATA_RATE_BPS: u32 = 9600;

/// `dwMaxIFSD`.
pub const MAX_IFSD: u32 = 254;

/// The class descriptor advertising `dwMaxCCIDMessageLength = max_message_len`.
///
/// Byte layout (little endian multi-byte fields): bLength 0x36, bDescriptorType 0x21,
/// bcdCCID 1.10, bMaxSlotIndex 0 (one slot), bVoltageSupport 0x01 (5 V), dwProtocols T=0|T=1,
/// dwDefaultClock = dwMaximumClock = 3580 kHz, bNumClockSupported 0, dwDataRate = dwMaxDataRate
/// = 9600, bNumDataRatesSupported 0, dwMaxIFSD 254, dwSynchProtocols 0, dwMechanical 0,
/// dwFeatures [`FEATURES`], dwMaxCCIDMessageLength, bClassGetResponse = bClassEnvelope = 0xFF
/// (echo the APDU class), wLcdLayout 0, bPINSupport 0, bMaxCCIDBusySlots 1.
#[must_use]
pub const fn class_descriptor(max_message_len: u32) -> [u8; CLASS_DESCRIPTOR_LEN] {
    let mut d = [0u8; CLASS_DESCRIPTOR_LEN];
    d[0] = CLASS_DESCRIPTOR_LEN as u8; // bLength
    d[1] = 0x21; // bDescriptorType: CCID functional descriptor
    d[2] = 0x10; // bcdCCID 1.10
    d[3] = 0x01;
    d[4] = 0; // bMaxSlotIndex: one slot
    d[5] = 0x01; // bVoltageSupport: 5.0 V
    put_u32(&mut d, 6, 0x0000_0003); // dwProtocols: T=0 | T=1
    put_u32(&mut d, 10, DEFAULT_CLOCK_KHZ); // dwDefaultClock
    put_u32(&mut d, 14, DEFAULT_CLOCK_KHZ); // dwMaximumClock
    d[18] = 0; // bNumClockSupported: default only
    put_u32(&mut d, 19, DATA_RATE_BPS); // dwDataRate
    put_u32(&mut d, 23, DATA_RATE_BPS); // dwMaxDataRate
    d[27] = 0; // bNumDataRatesSupported: default only
    put_u32(&mut d, 28, MAX_IFSD); // dwMaxIFSD
    put_u32(&mut d, 32, 0); // dwSynchProtocols
    put_u32(&mut d, 36, 0); // dwMechanical
    put_u32(&mut d, 40, FEATURES); // dwFeatures
    put_u32(&mut d, 44, max_message_len); // dwMaxCCIDMessageLength
    d[48] = 0xFF; // bClassGetResponse
    d[49] = 0xFF; // bClassEnvelope
    d[50] = 0; // wLcdLayout: no LCD
    d[51] = 0;
    d[52] = 0; // bPINSupport: no PIN pad
    d[53] = 1; // bMaxCCIDBusySlots
    d
}

// Only called from the const fn above with constant in-range offsets (checked at compile time).
#[allow(clippy::indexing_slicing)]
const fn put_u32(d: &mut [u8; CLASS_DESCRIPTOR_LEN], at: usize, v: u32) {
    let b = v.to_le_bytes();
    d[at] = b[0];
    d[at + 1] = b[1];
    d[at + 2] = b[2];
    d[at + 3] = b[3];
}

/// The class descriptor for the default buffer ([`DEFAULT_MAX_MESSAGE`] = 2048 + 10).
pub const CLASS_DESCRIPTOR: [u8; CLASS_DESCRIPTOR_LEN] = class_descriptor(DEFAULT_MAX_MESSAGE as u32);

/// `RDR_to_PC_NotifySlotChange` for slot 0: bit 0 = card present, bit 1 = state changed.
#[must_use]
pub const fn notify_slot_change(present: bool, changed: bool) -> [u8; 2] {
    [msg::NOTIFY_SLOT_CHANGE, (present as u8) | ((changed as u8) << 1)]
}

/// The message sent on Interrupt-IN after enumeration: slot 0 present and changed (`50 03`).
pub const NOTIFY_SLOT_CHANGE_PRESENT: [u8; 2] = notify_slot_change(true, true);
