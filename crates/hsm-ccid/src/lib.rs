//! USB CCID (Chip/Smart Card Interface Devices, Rev 1.1) message core of Pico HSM.
//!
//! This crate is the pure, host-tested part of the CCID transport: no USB stack, no executor,
//! no allocation. A USB class (embassy-usb on the firmware) owns one [`Ccid`], feeds it every
//! bulk-OUT packet with [`Ccid::receive`], sends what [`Ccid::next_in_packet`] yields on bulk-IN,
//! hands [`Event::Command`] APDUs to the card and gives the card's answer back with
//! [`Ccid::respond`]. While the card works it calls [`Ccid::time_extension`] at least once a second.
//!
//! * [`Ccid`]: the slot state machine (one slot, the card is always present).
//! * [`class_descriptor`] / [`CLASS_DESCRIPTOR`]: the 54-byte CCID class descriptor (reference §10.2).
//! * [`notify_slot_change`]: the Interrupt-IN `RDR_to_PC_NotifySlotChange` message.
//! * [`msg`], [`error`]: message-type and `bError` constants of the CCID specification.
//! * `usb` (feature `embassy-usb`): the interface for `embassy-usb` and the loop that serves it.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

mod descriptor;
mod machine;
#[cfg(test)]
mod tests;
#[cfg(feature = "embassy-usb")]
pub mod usb;

pub use descriptor::{
    CLASS_DESCRIPTOR, CLASS_DESCRIPTOR_LEN, DATA_RATE_BPS, DEFAULT_CLOCK_KHZ, FEATURES, MAX_IFSD,
    NOTIFY_SLOT_CHANGE_PRESENT, class_descriptor, notify_slot_change,
};
pub use machine::{Ccid, Event, RespondError, T1Parameters};

/// Size of a full-speed bulk packet on the CCID endpoints; a shorter packet ends a transfer.
pub const PACKET_SIZE: usize = 64;

/// Length of the CCID message header (`bMessageType`, `dwLength`, `bSlot`, `bSeq`, 3 bytes).
pub const HEADER_LEN: usize = 10;

/// Largest APDU carried in one `XfrBlock` by default (reference §10.2: 2048-byte APDU buffer).
pub const DEFAULT_MAX_APDU: usize = 2048;

/// Default `dwMaxCCIDMessageLength` and buffer size: [`DEFAULT_MAX_APDU`] + [`HEADER_LEN`].
pub const DEFAULT_MAX_MESSAGE: usize = DEFAULT_MAX_APDU + HEADER_LEN;

/// Smallest message buffer accepted: the CCID specification's minimum `dwMaxCCIDMessageLength`
/// (a short APDU of 261 bytes plus the header).
pub const MIN_MAX_MESSAGE: usize = 261 + HEADER_LEN;

/// CCID message types (`bMessageType`), CCID Rev 1.1 §6.1–6.3.
pub mod msg {
    /// PC_to_RDR_SetParameters.
    pub const SET_PARAMETERS: u8 = 0x61;
    /// PC_to_RDR_IccPowerOn.
    pub const ICC_POWER_ON: u8 = 0x62;
    /// PC_to_RDR_IccPowerOff.
    pub const ICC_POWER_OFF: u8 = 0x63;
    /// PC_to_RDR_GetSlotStatus.
    pub const GET_SLOT_STATUS: u8 = 0x65;
    /// PC_to_RDR_Secure (PIN verification / modification).
    pub const SECURE: u8 = 0x69;
    /// PC_to_RDR_T0APDU.
    pub const T0_APDU: u8 = 0x6A;
    /// PC_to_RDR_Escape.
    pub const ESCAPE: u8 = 0x6B;
    /// PC_to_RDR_GetParameters.
    pub const GET_PARAMETERS: u8 = 0x6C;
    /// PC_to_RDR_ResetParameters.
    pub const RESET_PARAMETERS: u8 = 0x6D;
    /// PC_to_RDR_IccClock.
    pub const ICC_CLOCK: u8 = 0x6E;
    /// PC_to_RDR_XfrBlock.
    pub const XFR_BLOCK: u8 = 0x6F;
    /// PC_to_RDR_Mechanical.
    pub const MECHANICAL: u8 = 0x71;
    /// PC_to_RDR_Abort.
    pub const ABORT: u8 = 0x72;
    /// PC_to_RDR_SetDataRateAndClockFrequency.
    pub const SET_DATA_RATE_AND_CLOCK: u8 = 0x73;

    /// RDR_to_PC_DataBlock.
    pub const DATA_BLOCK: u8 = 0x80;
    /// RDR_to_PC_SlotStatus.
    pub const SLOT_STATUS: u8 = 0x81;
    /// RDR_to_PC_Parameters.
    pub const PARAMETERS: u8 = 0x82;
    /// RDR_to_PC_Escape.
    pub const ESCAPE_RESPONSE: u8 = 0x83;
    /// RDR_to_PC_DataRateAndClockFrequency.
    pub const DATA_RATE_AND_CLOCK: u8 = 0x84;

    /// RDR_to_PC_NotifySlotChange (Interrupt-IN).
    pub const NOTIFY_SLOT_CHANGE: u8 = 0x50;
    /// RDR_to_PC_HardwareError (Interrupt-IN).
    pub const HARDWARE_ERROR: u8 = 0x51;

    /// Class-specific control request ABORT (`bRequest`), CCID Rev 1.1 §5.3.1.
    pub const REQUEST_ABORT: u8 = 0x01;
    /// Class-specific control request GET_CLOCK_FREQUENCIES (`bRequest`); not supported.
    pub const REQUEST_GET_CLOCK_FREQUENCIES: u8 = 0x02;
    /// Class-specific control request GET_DATA_RATES (`bRequest`); not supported.
    pub const REQUEST_GET_DATA_RATES: u8 = 0x03;

    /// The response message type the CCID specification pairs with a PC_to_RDR message type;
    /// unknown types are answered with RDR_to_PC_SlotStatus.
    #[must_use]
    pub const fn response_type(message_type: u8) -> u8 {
        match message_type {
            ICC_POWER_ON | XFR_BLOCK | SECURE => DATA_BLOCK,
            SET_PARAMETERS | GET_PARAMETERS | RESET_PARAMETERS => PARAMETERS,
            ESCAPE => ESCAPE_RESPONSE,
            SET_DATA_RATE_AND_CLOCK => DATA_RATE_AND_CLOCK,
            _ => SLOT_STATUS,
        }
    }

    /// Whether `message_type` is a PC_to_RDR message defined by CCID Rev 1.1.
    #[must_use]
    pub const fn is_pc_to_rdr(message_type: u8) -> bool {
        matches!(
            message_type,
            SET_PARAMETERS
                | ICC_POWER_ON
                | ICC_POWER_OFF
                | GET_SLOT_STATUS
                | SECURE
                | T0_APDU
                | ESCAPE
                | GET_PARAMETERS
                | RESET_PARAMETERS
                | ICC_CLOCK
                | XFR_BLOCK
                | MECHANICAL
                | ABORT
                | SET_DATA_RATE_AND_CLOCK
        )
    }
}

/// `bStatus` and `bError` values, CCID Rev 1.1 §6.2.6 (tables 6.2-1 and 6.2-2).
pub mod error {
    /// bmICCStatus: ICC present and active.
    pub const ICC_ACTIVE: u8 = 0;
    /// bmICCStatus: ICC present and inactive.
    pub const ICC_INACTIVE: u8 = 1;
    /// bmICCStatus: no ICC present (only used for a slot that does not exist).
    pub const ICC_NOT_PRESENT: u8 = 2;
    /// bmCommandStatus (bits 7..6 of bStatus): processed without error.
    pub const COMMAND_OK: u8 = 0x00;
    /// bmCommandStatus: failed, `bError` says why.
    pub const COMMAND_FAILED: u8 = 0x40;
    /// bmCommandStatus: time extension requested, `bError` is the BWT multiplier.
    pub const TIME_EXTENSION: u8 = 0x80;

    /// bError: command not supported (also the offset of `bMessageType`).
    pub const CMD_NOT_SUPPORTED: u8 = 0x00;
    /// bError: offset of `dwLength`, used for a bad or too large length.
    pub const BAD_LENGTH: u8 = 0x01;
    /// bError: offset of `bSlot`, used for a slot that does not exist.
    pub const BAD_SLOT: u8 = 0x05;
    /// bError: offset of `bProtocolNum` / `bPowerSelect` (header byte 7).
    pub const BAD_PARAM_7: u8 = 0x07;
    /// bError: offset of `wLevelParameter` (header byte 8).
    pub const BAD_LEVEL_PARAMETER: u8 = 0x08;
    /// bError: command aborted by the host.
    pub const CMD_ABORTED: u8 = 0xFF;
    /// bError: the ICC is mute (e.g. it is not powered).
    pub const ICC_MUTE: u8 = 0xFE;
    /// bError: parity error on transfer.
    pub const XFR_PARITY_ERROR: u8 = 0xFD;
    /// bError: the response overran the buffer.
    pub const XFR_OVERRUN: u8 = 0xFC;
    /// bError: hardware error.
    pub const HW_ERROR: u8 = 0xFB;
    /// bError: the slot is busy with another command.
    pub const CMD_SLOT_BUSY: u8 = 0xE0;
}
