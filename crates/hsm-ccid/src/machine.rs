//! The CCID slot state machine: bulk-OUT assembly, message dispatch, bulk-IN packetising.

use crate::descriptor::{DATA_RATE_BPS, DEFAULT_CLOCK_KHZ, class_descriptor};
use crate::error::{
    BAD_LENGTH, BAD_LEVEL_PARAMETER, BAD_PARAM_7, BAD_SLOT, CMD_ABORTED, CMD_NOT_SUPPORTED, CMD_SLOT_BUSY,
    COMMAND_FAILED, COMMAND_OK, ICC_ACTIVE, ICC_INACTIVE, ICC_MUTE, ICC_NOT_PRESENT, TIME_EXTENSION, XFR_OVERRUN,
};
use crate::{DEFAULT_MAX_MESSAGE, HEADER_LEN, MIN_MAX_MESSAGE, PACKET_SIZE, descriptor::CLASS_DESCRIPTOR_LEN, msg};

/// The T=1 protocol data structure of Get/Set/ResetParameters (CCID Rev 1.1 §6.1.7, 7 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct T1Parameters {
    /// `bmFindexDindex`: Fi index (high nibble) and Di index (low nibble), as TA1.
    pub fi_di: u8,
    /// `bmTCCKST1`: 0x10 | (convention << 1) | checksum (0 = LRC, 1 = CRC).
    pub tcckst: u8,
    /// `bGuardTimeT1`: extra guard time, as TC1.
    pub guard_time: u8,
    /// `bWaitingIntegersT1`: BWI (high nibble) and CWI (low nibble), as TB3.
    pub waiting_integers: u8,
    /// `bClockStop`: 0 not allowed, 1 low, 2 high, 3 either.
    pub clock_stop: u8,
    /// `bIFSC`: information field size of the card, 1..=254.
    pub ifsc: u8,
    /// `bNadValue`.
    pub nad: u8,
}

impl T1Parameters {
    /// The CCID specification's defaults: Fi/Di 0x11, LRC, direct convention, BWI 4, CWI 13, IFSC 32.
    pub const DEFAULT: Self = Self {
        fi_di: 0x11,
        tcckst: 0x10,
        guard_time: 0x00,
        waiting_integers: 0x4D,
        clock_stop: 0x00,
        ifsc: 0x20,
        nad: 0,
    };

    /// The 7-byte `abProtocolDataStructure`.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 7] {
        [
            self.fi_di,
            self.tcckst,
            self.guard_time,
            self.waiting_integers,
            self.clock_stop,
            self.ifsc,
            self.nad,
        ]
    }

    /// Parses and checks a proposed structure. On failure returns the message offset of the first
    /// unacceptable byte (the `bError` of the answer).
    fn parse(data: &[u8]) -> Result<Self, u8> {
        let [fi_di, tcckst, guard_time, waiting_integers, clock_stop, ifsc, nad, ..] = *data else {
            return Err(BAD_LENGTH);
        };
        if tcckst & 0xFC != 0x10 {
            return Err(11);
        }
        if waiting_integers >> 4 > 9 {
            return Err(13);
        }
        if clock_stop > 3 {
            return Err(14);
        }
        if ifsc == 0 || ifsc == 0xFF {
            return Err(15);
        }
        Ok(Self {
            fi_di,
            tcckst,
            guard_time,
            waiting_integers,
            clock_stop,
            ifsc,
            nad,
        })
    }
}

impl Default for T1Parameters {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What the application has to do after [`Ccid::receive`]. Answers to the host are queued
/// independently: drain [`Ccid::next_in_packet`] after every call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Event<'a> {
    /// Nothing for the card (a message is incomplete, or it was answered by the CCID layer).
    None,
    /// IccPowerOn was answered with the ATR: cold-reset the card's volatile state.
    PowerOn,
    /// IccPowerOff: the card lost power; clear its volatile state.
    PowerOff,
    /// An XfrBlock carried `apdu` to the card. Give the response to [`Ccid::respond`] (the APDU
    /// stays readable through [`Ccid::pending_command`] until then); meanwhile call
    /// [`Ccid::time_extension`] at least every second.
    Command {
        /// The whole command APDU (short or extended).
        apdu: &'a [u8],
        /// The XfrBlock's `bSeq`.
        seq: u8,
    },
    /// The host aborted the command with this `bSeq`; the card's result will be discarded.
    Aborted {
        /// `bSeq` of the aborted XfrBlock.
        seq: u8,
    },
}

/// Why [`Ccid::respond`] did not deliver the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RespondError {
    /// No command is with the card (it was aborted, or the bus was reset): nothing was queued.
    NotBusy,
    /// The response does not fit `N - 10` bytes: the host was answered with `XFR_OVERRUN`.
    TooLong,
}

/// Bulk-OUT assembly state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rx {
    /// Waiting for the first packet of a message.
    Idle,
    /// `have` of `total` message bytes are in the receive buffer.
    Receiving { total: usize, have: usize },
    /// The message was answered from its header; `remaining` bytes of it are dropped.
    Skipping { remaining: usize },
}

/// A parsed 10-byte CCID header.
#[derive(Clone, Copy, Debug)]
struct Header {
    ty: u8,
    len: u32,
    slot: u8,
    seq: u8,
    param: [u8; 3],
}

impl Header {
    fn parse(b: &[u8]) -> Option<Self> {
        let [ty, l0, l1, l2, l3, slot, seq, p0, p1, p2, ..] = *b else {
            return None;
        };
        Some(Self {
            ty,
            len: u32::from_le_bytes([l0, l1, l2, l3]),
            slot,
            seq,
            param: [p0, p1, p2],
        })
    }

    /// Total message length, if it fits `cap`.
    fn total(&self, cap: usize) -> Option<usize> {
        usize::try_from(self.len)
            .ok()
            .and_then(|l| l.checked_add(HEADER_LEN))
            .filter(|&t| t <= cap)
    }
}

/// Copies `src` into `buf[at..]`; false (and nothing written) if it does not fit.
fn put(buf: &mut [u8], at: usize, src: &[u8]) -> bool {
    match at.checked_add(src.len()).and_then(|end| buf.get_mut(at..end)) {
        Some(dst) => {
            dst.copy_from_slice(src);
            true
        }
        None => false,
    }
}

/// The CCID message core for one always-present card in slot 0.
///
/// `N` is the message buffer size and the advertised `dwMaxCCIDMessageLength` (header included;
/// the largest APDU in one XfrBlock is `N - 10`). Two buffers of `N` bytes are held inline.
///
/// Transport contract:
/// * feed every bulk-OUT packet (≤ 64 bytes, zero-length packets included) to [`Ccid::receive`];
/// * after every call that can queue an answer ([`receive`](Ccid::receive),
///   [`respond`](Ccid::respond), [`time_extension`](Ccid::time_extension),
///   [`control_abort`](Ccid::control_abort)) send [`next_in_packet`](Ccid::next_in_packet) until it
///   returns `None` before calling any of them again: one answer is queued at a time and a newer
///   one replaces what is left of an older one;
/// * call [`reset`](Ccid::reset) on USB bus reset and SET_CONFIGURATION.
pub struct Ccid<'a, const N: usize = DEFAULT_MAX_MESSAGE> {
    atr: &'a [u8],
    t1_default: T1Parameters,
    t1: T1Parameters,
    icc_active: bool,
    rx: [u8; N],
    rx_state: Rx,
    /// `(bSeq, APDU length)` of the XfrBlock with the card; the APDU is `rx[10..10 + len]`.
    busy: Option<(u8, usize)>,
    tx: [u8; N],
    tx_len: usize,
    tx_pos: usize,
    /// A zero-length packet is owed after the last (full) packet of the queued message.
    tx_zlp: bool,
}

impl<'a, const N: usize> Ccid<'a, N> {
    /// Compile-time check that `N` can hold the CCID minimum message and the ATR message.
    const N_OK: () = assert!(N >= MIN_MAX_MESSAGE && N <= u32::MAX as usize, "N out of range");

    /// The class descriptor advertising `dwMaxCCIDMessageLength = N`.
    pub const CLASS_DESCRIPTOR: [u8; CLASS_DESCRIPTOR_LEN] = class_descriptor(N as u32);

    /// A reader whose card answers IccPowerOn with `atr` (at most 33 bytes per ISO 7816-3) and
    /// whose T=1 parameters start at (and ResetParameters returns to) [`T1Parameters::DEFAULT`].
    #[must_use]
    pub const fn new(atr: &'a [u8]) -> Self {
        Self::with_parameters(atr, T1Parameters::DEFAULT)
    }

    /// Like [`Ccid::new`] with other default T=1 parameters (e.g. the ones the ATR announces).
    #[must_use]
    pub const fn with_parameters(atr: &'a [u8], t1: T1Parameters) -> Self {
        let () = Self::N_OK;
        Self {
            atr,
            t1_default: t1,
            t1,
            icc_active: false,
            rx: [0; N],
            rx_state: Rx::Idle,
            busy: None,
            tx: [0; N],
            tx_len: 0,
            tx_pos: 0,
            tx_zlp: false,
        }
    }

    /// Whether the card is powered (IccPowerOn seen since the last IccPowerOff or reset).
    #[must_use]
    pub fn icc_active(&self) -> bool {
        self.icc_active
    }

    /// Whether an XfrBlock is with the card.
    #[must_use]
    pub fn is_busy(&self) -> bool {
        self.busy.is_some()
    }

    /// The current T=1 parameters.
    #[must_use]
    pub fn parameters(&self) -> T1Parameters {
        self.t1
    }

    /// The command APDU and `bSeq` of the XfrBlock with the card, if any.
    #[must_use]
    pub fn pending_command(&self) -> Option<(&[u8], u8)> {
        let (seq, len) = self.busy?;
        Some((self.rx.get(HEADER_LEN..HEADER_LEN + len)?, seq))
    }

    /// USB bus reset or SET_CONFIGURATION: drops partial messages, queued answers and the command
    /// with the card, and powers the card off (the host powers it on again). The application should
    /// clear the card's volatile state as for [`Event::PowerOff`].
    pub fn reset(&mut self) {
        self.rx_state = Rx::Idle;
        self.busy = None;
        self.icc_active = false;
        self.t1 = self.t1_default;
        self.clear_tx();
    }

    // ---------------------------------------------------------------- bulk-IN

    /// The next bulk-IN packet of the queued answer: up to 64 bytes, then a zero-length packet if
    /// the message is a non-zero multiple of 64 bytes long, then `None`.
    ///
    /// The ZLP: CCID frames messages with `dwLength`, but hosts (libccid through libusb, Windows'
    /// usbccid) post bulk-IN reads of their whole buffer, which a USB transfer only completes on a
    /// short packet. Without the ZLP a 64·k-byte answer would hang until the read times out.
    pub fn next_in_packet(&mut self) -> Option<&[u8]> {
        if self.tx_pos < self.tx_len {
            let start = self.tx_pos;
            let end = self.tx_len.min(start + PACKET_SIZE);
            self.tx_pos = end;
            self.tx_zlp = end == self.tx_len && end - start == PACKET_SIZE;
            return self.tx.get(start..end);
        }
        if self.tx_zlp {
            self.tx_zlp = false;
            return Some(&[]);
        }
        None
    }

    /// The not yet sent rest of the queued answer (for transports that send whole transfers).
    #[must_use]
    pub fn pending_in(&self) -> &[u8] {
        self.tx.get(self.tx_pos..self.tx_len).unwrap_or(&[])
    }

    fn clear_tx(&mut self) {
        self.tx_len = 0;
        self.tx_pos = 0;
        self.tx_zlp = false;
    }

    /// Queues one message: header fields then `data` (clamped to the buffer).
    #[allow(clippy::too_many_arguments)]
    fn queue(&mut self, ty: u8, slot: u8, seq: u8, status: u8, error: u8, b9: u8, data: &[u8]) {
        let data = data.get(..data.len().min(N - HEADER_LEN)).unwrap_or(&[]);
        self.queue_header(ty, data.len(), slot, seq, status, error, b9);
        if put(&mut self.tx, HEADER_LEN, data) {
            self.tx_len = HEADER_LEN + data.len();
        }
    }

    /// Writes a header announcing `len` data bytes and queues the message `10 + len` long.
    #[allow(clippy::too_many_arguments)]
    fn queue_header(&mut self, ty: u8, len: usize, slot: u8, seq: u8, status: u8, error: u8, b9: u8) {
        let len = len.min(N - HEADER_LEN);
        let l = (len as u32).to_le_bytes();
        let h = [ty, l[0], l[1], l[2], l[3], slot, seq, status, error, b9];
        self.clear_tx();
        if put(&mut self.tx, 0, &h) {
            self.tx_len = HEADER_LEN + len;
        }
    }

    fn icc_status(&self) -> u8 {
        if self.icc_active { ICC_ACTIVE } else { ICC_INACTIVE }
    }

    /// A data-less answer of the type paired with `h`'s message type.
    fn answer(&mut self, h: &Header, status: u8, error: u8) {
        let ty = msg::response_type(h.ty);
        // bChainParameter / bClockStatus / bProtocolNum / RFU: 0 except Parameters (T=1).
        let b9 = u8::from(ty == msg::PARAMETERS);
        if ty == msg::PARAMETERS {
            let p = self.t1.to_bytes();
            self.queue(ty, h.slot, h.seq, status, error, b9, &p);
        } else {
            self.queue(ty, h.slot, h.seq, status, error, b9, &[]);
        }
    }

    fn fail(&mut self, h: &Header, error: u8) {
        let status = COMMAND_FAILED | self.icc_status();
        self.answer(h, status, error);
    }

    // ---------------------------------------------------------------- card side

    /// The card's response APDU (data + SW) to the pending XfrBlock: queues RDR_to_PC_DataBlock.
    ///
    /// # Errors
    /// [`RespondError::NotBusy`] if no command is pending (nothing queued);
    /// [`RespondError::TooLong`] if `rapdu` exceeds `N - 10` bytes (the host gets `XFR_OVERRUN`).
    pub fn respond(&mut self, rapdu: &[u8]) -> Result<(), RespondError> {
        // Written where `finish_response` expects it; a response that does not fit is left out and
        // `finish_response` answers the overrun.
        if let Some(dst) = self.response_buffer().and_then(|b| b.get_mut(..rapdu.len())) {
            dst.copy_from_slice(rapdu);
        }
        self.finish_response(rapdu.len())
    }

    /// Zero-copy alternative to [`Ccid::respond`] for a card running on the same thread: the
    /// `N - 10` bytes the response is written into, then [`Ccid::finish_response`]. `None` if no
    /// command is pending. Does not disturb a queued time extension (it only uses the header).
    pub fn response_buffer(&mut self) -> Option<&mut [u8]> {
        self.busy?;
        self.tx.get_mut(HEADER_LEN..)
    }

    /// Completes a response of `len` bytes written through [`Ccid::response_buffer`].
    ///
    /// # Errors
    /// As [`Ccid::respond`].
    pub fn finish_response(&mut self, len: usize) -> Result<(), RespondError> {
        let (seq, _) = self.busy.ok_or(RespondError::NotBusy)?;
        self.busy = None;
        if len > N - HEADER_LEN {
            self.queue(
                msg::DATA_BLOCK,
                0,
                seq,
                COMMAND_FAILED | self.icc_status(),
                XFR_OVERRUN,
                0,
                &[],
            );
            return Err(RespondError::TooLong);
        }
        self.queue_header(msg::DATA_BLOCK, len, 0, seq, COMMAND_OK | self.icc_status(), 0, 0);
        Ok(())
    }

    /// While the card works: queues RDR_to_PC_DataBlock with bStatus 0x80 (time extension),
    /// bError 1 (BWT multiplier) and the pending `bSeq`. Returns false (nothing queued) when idle.
    pub fn time_extension(&mut self) -> bool {
        let Some((seq, _)) = self.busy else { return false };
        let status = TIME_EXTENSION | self.icc_status();
        // Header only: the response buffer behind it may be in use by `response_buffer`.
        self.queue_header(msg::DATA_BLOCK, 0, 0, seq, status, 1, 0);
        true
    }

    /// The class-specific ABORT control request (`wValue` = bSeq << 8 | bSlot). Cancels the
    /// command with the card and answers it with bError CMD_ABORTED; returns its `bSeq`. The
    /// PC_to_RDR_Abort that follows on bulk-OUT is answered with a SlotStatus. Commands received
    /// between the two are served normally (a host that never sends the Abort cannot wedge us).
    pub fn control_abort(&mut self, slot: u8, seq: u8) -> Option<u8> {
        let _ = seq;
        if slot != 0 {
            return None;
        }
        let (pending, _) = self.busy.take()?;
        self.queue(
            msg::DATA_BLOCK,
            0,
            pending,
            COMMAND_FAILED | self.icc_status(),
            CMD_ABORTED,
            0,
            &[],
        );
        Some(pending)
    }

    // ---------------------------------------------------------------- bulk-OUT

    /// One bulk-OUT packet. A packet shorter than 64 bytes (a ZLP included) ends a transfer; a
    /// message also ends when its `dwLength` is reached, so 64·k-byte messages need no ZLP (one that
    /// follows anyway is ignored). Never panics, whatever the bytes.
    pub fn receive(&mut self, packet: &[u8]) -> Event<'_> {
        let short = packet.len() < PACKET_SIZE;
        match self.rx_state {
            Rx::Idle => self.start(packet),
            Rx::Skipping { remaining } => {
                if packet.len() >= remaining || short {
                    self.rx_state = Rx::Idle;
                    // A short packet that is a message of its own: the old transfer was abandoned.
                    if packet.len() < remaining && self.is_whole_message(packet) {
                        return self.start(packet);
                    }
                } else {
                    self.rx_state = Rx::Skipping {
                        remaining: remaining - packet.len(),
                    };
                }
                Event::None
            }
            Rx::Receiving { total, have } => {
                let take = packet.len().min(total - have);
                let chunk = packet.get(..take).unwrap_or(&[]);
                if put(&mut self.rx, have, chunk) && have + take == total {
                    self.rx_state = Rx::Idle;
                    return self.dispatch(total);
                }
                let have = have + take;
                if short || have >= total {
                    self.rx_state = Rx::Idle;
                    if self.is_whole_message(packet) {
                        return self.start(packet);
                    }
                    // Truncated: answer the message we had with a bad dwLength.
                    if let Some(h) = Header::parse(&self.rx) {
                        self.fail(&h, BAD_LENGTH);
                    }
                    return Event::None;
                }
                self.rx_state = Rx::Receiving { total, have };
                Event::None
            }
        }
    }

    /// Whether `packet` holds exactly one well-formed PC_to_RDR message.
    fn is_whole_message(&self, packet: &[u8]) -> bool {
        Header::parse(packet).is_some_and(|h| msg::is_pc_to_rdr(h.ty) && h.total(N) == Some(packet.len()))
    }

    /// First packet of a message.
    fn start(&mut self, packet: &[u8]) -> Event<'_> {
        let short = packet.len() < PACKET_SIZE;
        // Fewer than 10 bytes (a ZLP included) cannot be answered meaningfully: dropped.
        let Some(h) = Header::parse(packet) else {
            return Event::None;
        };
        let total = h.total(N);
        // Answered from the header alone (busy, wrong slot, too long): drop the rest of the transfer.
        let skip_rest = |this: &mut Self| {
            let declared = usize::try_from(h.len).unwrap_or(usize::MAX).saturating_add(HEADER_LEN);
            if !short && declared > packet.len() {
                this.rx_state = Rx::Skipping {
                    remaining: declared - packet.len(),
                };
            }
        };
        if h.slot != 0 {
            self.answer(&h, COMMAND_FAILED | ICC_NOT_PRESENT, BAD_SLOT);
            skip_rest(self);
            return Event::None;
        }
        if let Some((pending, _)) = self.busy {
            let event = match h.ty {
                msg::GET_SLOT_STATUS => {
                    self.queue(msg::SLOT_STATUS, 0, h.seq, COMMAND_OK | self.icc_status(), 0, 0, &[]);
                    Event::None
                }
                msg::ABORT => {
                    self.busy = None;
                    self.queue(msg::SLOT_STATUS, 0, h.seq, COMMAND_OK | self.icc_status(), 0, 0, &[]);
                    Event::Aborted { seq: pending }
                }
                _ => {
                    self.fail(&h, CMD_SLOT_BUSY);
                    Event::None
                }
            };
            skip_rest(self);
            return event;
        }
        let Some(total) = total else {
            self.fail(&h, BAD_LENGTH);
            skip_rest(self);
            return Event::None;
        };
        let take = packet.len().min(total);
        if !put(&mut self.rx, 0, packet.get(..take).unwrap_or(&[])) {
            return Event::None;
        }
        if take == total {
            return self.dispatch(total);
        }
        if short {
            self.fail(&h, BAD_LENGTH);
            return Event::None;
        }
        self.rx_state = Rx::Receiving { total, have: take };
        Event::None
    }

    /// A complete message of `total` bytes is in `rx`.
    fn dispatch(&mut self, total: usize) -> Event<'_> {
        let Some(h) = Header::parse(&self.rx) else {
            return Event::None;
        };
        let len = total - HEADER_LEN;
        match h.ty {
            msg::ICC_POWER_ON => {
                // bPowerSelect: 0 automatic, 1 5 V, 2 3 V, 3 1.8 V; the card takes any.
                if h.param[0] > 3 {
                    self.fail(&h, BAD_PARAM_7);
                    return Event::None;
                }
                self.icc_active = true;
                self.t1 = self.t1_default;
                let atr = self.atr;
                self.queue(msg::DATA_BLOCK, 0, h.seq, COMMAND_OK | ICC_ACTIVE, 0, 0, atr);
                Event::PowerOn
            }
            msg::ICC_POWER_OFF => {
                self.icc_active = false;
                self.queue(msg::SLOT_STATUS, 0, h.seq, COMMAND_OK | ICC_INACTIVE, 0, 0, &[]);
                Event::PowerOff
            }
            msg::GET_SLOT_STATUS | msg::ABORT => {
                // Abort with nothing pending: nothing to cancel, the slot is fine.
                self.queue(msg::SLOT_STATUS, 0, h.seq, COMMAND_OK | self.icc_status(), 0, 0, &[]);
                Event::None
            }
            msg::XFR_BLOCK => {
                if !self.icc_active {
                    self.fail(&h, ICC_MUTE);
                    return Event::None;
                }
                // wLevelParameter: only 0000h (the APDU begins and ends here) is supported.
                if h.param[1] != 0 || h.param[2] != 0 {
                    self.fail(&h, BAD_LEVEL_PARAMETER);
                    return Event::None;
                }
                self.busy = Some((h.seq, len));
                match self.rx.get(HEADER_LEN..total) {
                    Some(apdu) => Event::Command { apdu, seq: h.seq },
                    None => Event::None,
                }
            }
            msg::GET_PARAMETERS => {
                self.answer(&h, COMMAND_OK | self.icc_status(), 0);
                Event::None
            }
            msg::RESET_PARAMETERS => {
                self.t1 = self.t1_default;
                self.answer(&h, COMMAND_OK | self.icc_status(), 0);
                Event::None
            }
            msg::SET_PARAMETERS => {
                // bProtocolNum: only T=1 (the ATR offers T=1 only; the card is APDU level anyway).
                let result = if h.param[0] != 1 {
                    Err(BAD_PARAM_7)
                } else {
                    T1Parameters::parse(self.rx.get(HEADER_LEN..total).unwrap_or(&[]))
                };
                match result {
                    Ok(p) => {
                        self.t1 = p;
                        self.answer(&h, COMMAND_OK | self.icc_status(), 0);
                    }
                    Err(offset) => self.fail(&h, offset),
                }
                Event::None
            }
            msg::SET_DATA_RATE_AND_CLOCK => {
                // Any request: the answer states the (fixed) clock and rate actually used.
                let mut d = [0u8; 8];
                let _ = put(&mut d, 0, &DEFAULT_CLOCK_KHZ.to_le_bytes());
                let _ = put(&mut d, 4, &DATA_RATE_BPS.to_le_bytes());
                if len == 8 {
                    self.queue(
                        msg::DATA_RATE_AND_CLOCK,
                        0,
                        h.seq,
                        COMMAND_OK | self.icc_status(),
                        0,
                        0,
                        &d,
                    );
                } else {
                    let status = COMMAND_FAILED | self.icc_status();
                    self.queue(msg::DATA_RATE_AND_CLOCK, 0, h.seq, status, BAD_LENGTH, 0, &d);
                }
                Event::None
            }
            // Escape, Secure, T0APDU, Mechanical, IccClock and unknown types.
            _ => {
                self.fail(&h, CMD_NOT_SUPPORTED);
                Event::None
            }
        }
    }
}
