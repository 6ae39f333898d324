//! The APDU layer between a transport (CCID, vpcd) and a card application: command chaining
//! (ISO 7816-4:2005 §5.1.1.1, CLA bit 0x10), response chaining with `61xx` and GET RESPONSE (ISO 7816-4 §5.1.3,
//! INS C0), and status-word framing. Reference §2; upstream `pico-keys-sdk` `src/apdu.c`.
//!
//! The behaviour, and where it departs from upstream, is documented on [`ApduLayer`].

use crate::{CommandView, Reply, Status};

/// Assembled (de-chained) command data limit: more than the longest command upstream's suites
/// send (UPDATE BINARY of a 4097-byte file with its 8-byte `54 02 offset 53 82 length` wrapper,
/// 4105 bytes), with room for longer wrappers. Upstream's board firmware takes about 2 KB (4096 in its
/// emulation build). Every transport buffers it once (the CCID message, the chaining buffer).
pub const MAX_COMMAND_DATA: usize = 4096 + 256;
/// Longest response data an Application may produce.
pub const MAX_RESPONSE_DATA: usize = 4096;

/// ISO 7816-4 §5.1.1.1: "command chaining, more commands follow".
const CLA_CHAINING: u8 = 0x10;
/// ISO 7816-4 §7.6.1 GET RESPONSE.
const INS_GET_RESPONSE: u8 = 0xC0;
/// ISO 7816-4 §7.1.1 SELECT; P1 04 = select by DF name (AID).
const INS_SELECT: u8 = 0xA4;
const P1_SELECT_BY_AID: u8 = 0x04;

/// A card application behind the APDU layer.
pub trait Application {
    /// Processes one complete (de-chained) command. Response data goes into `reply` (capacity MAX_RESPONSE_DATA).
    /// Ok(()) answers 9000 (or the status set with [`Reply::set_final_status`]) after the reply data;
    /// Err(sw) answers sw with NO data (reply is discarded).
    fn process(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status>;
}

/// CLA (without the chaining bit), INS, P1, P2 of a command chain.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Header {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
}

impl Header {
    fn of(cmd: &CommandView<'_>) -> Self {
        Header {
            cla: cmd.cla & !CLA_CHAINING,
            ins: cmd.ins,
            p1: cmd.p1,
            p2: cmd.p2,
        }
    }
}

/// Chaining and GET RESPONSE state of one card. All storage is inline (about 8 KiB), so it can live
/// in a `static` on the firmware.
///
/// # Behaviour
///
/// Decisions, with the upstream behaviour they follow or deliberately change:
///
/// * **Malformed lengths** answer 6700 (upstream drops some of them silently, reference §2). A malformed
///   APDU also drops any chain in progress and any pending response.
/// * **Le absent.** Upstream `apdu_process` sets Ne = 256 for a bare 4-byte APDU (case 1) and Ne = 0 for
///   `Lc data` without Le (case 3). We do the same: the [`CommandView`] given to the application has
///   `ne == 256` for a 4-byte APDU, and a case-3 command that produces data answers `61xx` with no data
///   (upstream `apdu_next` with `ne == 0`), the data being fetched by GET RESPONSE.
/// * **Chaining.** A part with CLA bit 0x10 is stored and answered 9000. Every later part must have the
///   same CLA (without 0x10), INS, P1 and P2 (reference §2). Ne comes from the last part.
///   Upstream (`process_apdu`) never compares headers: whatever unchained command comes next gets the
///   stored data prepended, so an unrelated command would run on the wrong data. We follow the reference
///   instead: any part or unchained command with a different header drops the chain and answers **6883**
///   without running, except SELECT by AID (INS A4, P1 04), which drops the chain and runs normally
///   (reference §2: "A SELECT-by-AID aborts a chain"). GET RESPONSE mid-chain is such an other command.
/// * **Chain overflow** (more than [`MAX_COMMAND_DATA`] bytes) drops the chain and answers 6700 (reference
///   §2; upstream answers 6E00 and keeps chaining). An unchained command with more than
///   [`MAX_COMMAND_DATA`] bytes is also answered 6700, so applications can rely on the limit.
/// * **GET RESPONSE** is any APDU with INS C0 and CLA 00 or 80 outside a chain; the layer answers it and
///   never passes it to the application (upstream intercepts every INS C0 in `apdu_process`). It returns
///   the next min(Ne, remaining) bytes, then `61xx` (`6100` when 256 or more remain) or 9000. With nothing
///   pending it answers **6985** (conditions of use not satisfied); upstream re-sends whatever its
///   response buffer holds (the previous response) in that case. P1-P2 other than 0000 answers 6A86 and keeps the pending response.
///   Any other command discards the pending response.
/// * Status words other than 9000 and `61xx` carry no data. Buffers that held command or response data
///   are zeroed once they are no longer needed, since they may hold PINs or plaintext.
pub struct ApduLayer {
    /// Data of the chain parts received so far.
    chain: [u8; MAX_COMMAND_DATA],
    chain_len: usize,
    /// `Some` while a chain is in progress.
    chain_header: Option<Header>,
    /// Response data; bytes `pending_start..pending_end` still have to be sent.
    pending: [u8; MAX_RESPONSE_DATA],
    pending_start: usize,
    pending_end: usize,
    /// The status word after the last pending byte ([`Reply::set_final_status`]; 9000 by default).
    pending_status: Status,
}

impl ApduLayer {
    /// A layer with no chain in progress and no pending response.
    pub const fn new() -> Self {
        ApduLayer {
            chain: [0; MAX_COMMAND_DATA],
            chain_len: 0,
            chain_header: None,
            pending: [0; MAX_RESPONSE_DATA],
            pending_start: 0,
            pending_end: 0,
            pending_status: Status::Success,
        }
    }

    /// Card power-off / reset: drops any chain and pending response.
    pub fn reset(&mut self) {
        self.drop_chain();
        self.drop_pending();
    }

    /// Handles one raw command APDU from the transport. Writes response data + SW1 SW2 into `out` and returns
    /// the number of bytes written. `out` should be MAX_RESPONSE_DATA + 2 long; if shorter, Ne is capped to fit.
    /// If `out` is shorter than 2 bytes, returns 0 (and the command is not processed).
    pub fn process<A: Application>(&mut self, app: &mut A, apdu: &[u8], out: &mut [u8]) -> usize {
        if out.len() < 2 {
            return 0;
        }
        let cmd = match CommandView::parse(apdu) {
            Ok(cmd) => cmd,
            Err(sw) => {
                self.reset();
                return write_status(out, 0, sw);
            }
        };
        // Upstream `apdu_process`: a bare 4-byte APDU has Ne = 256.
        let ne = if apdu.len() == 4 { 256 } else { cmd.ne };

        let continues_chain = match self.chain_header {
            Some(header) if header == Header::of(&cmd) => true,
            Some(_) => {
                self.reset();
                if cmd.ins != INS_SELECT || cmd.p1 != P1_SELECT_BY_AID {
                    return write_status(out, 0, Status::LastCommandOfChainExpected);
                }
                false
            }
            None => false,
        };

        if !continues_chain && cmd.ins == INS_GET_RESPONSE && (cmd.cla == 0x00 || cmd.cla == 0x80) {
            return self.get_response(&cmd, ne, out);
        }
        self.drop_pending();

        if cmd.is_chained() {
            if !self.append_to_chain(cmd.data) {
                self.drop_chain();
                return write_status(out, 0, Status::WrongLength);
            }
            self.chain_header = Some(Header::of(&cmd));
            return write_status(out, 0, Status::Success);
        }

        let result = if continues_chain {
            if !self.append_to_chain(cmd.data) {
                self.drop_chain();
                return write_status(out, 0, Status::WrongLength);
            }
            let data = self.chain.get(..self.chain_len).unwrap_or_default();
            let full = CommandView { data, ne, ..cmd };
            let result = run(app, &full, &mut self.pending);
            self.drop_chain();
            result
        } else {
            if cmd.data.len() > MAX_COMMAND_DATA {
                return write_status(out, 0, Status::WrongLength);
            }
            run(app, &CommandView { ne, ..cmd }, &mut self.pending)
        };

        match result {
            Ok((len, sw)) => {
                self.pending_start = 0;
                self.pending_end = len;
                self.pending_status = sw;
                self.send_pending(ne, out)
            }
            Err(sw) => write_status(out, 0, sw),
        }
    }

    /// GET RESPONSE (ISO 7816-4 §7.6.1): the next part of the pending response.
    fn get_response(&mut self, cmd: &CommandView<'_>, ne: usize, out: &mut [u8]) -> usize {
        if self.pending_start >= self.pending_end {
            return write_status(out, 0, Status::ConditionsNotSatisfied);
        }
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return write_status(out, 0, Status::IncorrectP1P2);
        }
        self.send_pending(ne, out)
    }

    /// Sends up to `ne` pending bytes (capped to fit `out`) followed by `61xx` or 9000.
    fn send_pending(&mut self, ne: usize, out: &mut [u8]) -> usize {
        let capacity = out.len().saturating_sub(2);
        let remaining = self.pending_end.saturating_sub(self.pending_start);
        let n = remaining.min(ne).min(capacity);
        let end = self.pending_start.saturating_add(n);
        let (Some(src), Some(dst)) = (self.pending.get(self.pending_start..end), out.get_mut(..n)) else {
            self.drop_pending();
            return write_status(out, 0, Status::UnknownError);
        };
        dst.copy_from_slice(src);
        self.pending_start = end;
        let left = remaining.saturating_sub(n);
        let sw = if left == 0 {
            let sw = self.pending_status;
            self.drop_pending();
            sw
        } else {
            // ISO 7816-4 §5.1.3: SW2 = number of bytes still available, 00 for 256 or more.
            Status::MoreAvailable(u8::try_from(left).unwrap_or(0))
        };
        write_status(out, n, sw)
    }

    /// Appends a chain part; false when the chain would exceed [`MAX_COMMAND_DATA`].
    fn append_to_chain(&mut self, data: &[u8]) -> bool {
        let Some(end) = self.chain_len.checked_add(data.len()) else {
            return false;
        };
        let Some(dst) = self.chain.get_mut(self.chain_len..end) else {
            return false;
        };
        dst.copy_from_slice(data);
        self.chain_len = end;
        true
    }

    fn drop_chain(&mut self) {
        if let Some(used) = self.chain.get_mut(..self.chain_len) {
            used.fill(0);
        }
        self.chain_len = 0;
        self.chain_header = None;
    }

    fn drop_pending(&mut self) {
        if let Some(used) = self.pending.get_mut(..self.pending_end) {
            used.fill(0);
        }
        self.pending_start = 0;
        self.pending_end = 0;
        self.pending_status = Status::Success;
    }
}

impl Default for ApduLayer {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs the application with `buf` as reply buffer; the response length and its final status word
/// on success. On error the partial reply is zeroed, since it is discarded.
fn run<A: Application>(app: &mut A, cmd: &CommandView<'_>, buf: &mut [u8]) -> Result<(usize, Status), Status> {
    let mut reply = Reply::new(buf);
    let result = app.process(cmd, &mut reply);
    match result {
        Ok(()) => Ok((reply.len(), reply.final_status())),
        Err(sw) => {
            reply.as_mut_slice().fill(0);
            Err(sw)
        }
    }
}

/// Writes SW1 SW2 at `out[at..]`; the total response length, or 0 when it does not fit.
fn write_status(out: &mut [u8], at: usize, sw: Status) -> usize {
    let Some(end) = at.checked_add(2) else {
        return 0;
    };
    match out.get_mut(at..end) {
        Some(dst) => {
            dst.copy_from_slice(&sw.to_bytes());
            end
        }
        None => 0,
    }
}
