//! The `apdu_sequence` harness: a card over the RAM test platform, started blank or from a cached
//! initialized state, fed a sequence of APDUs, with invariants checked after every response.
//!
//! Invariants (a violation panics, which libFuzzer reports as a crash):
//! * every response is 2..=out.len() bytes; response data only comes with 9000 or 61xx; never 6F00;
//! * response data is never longer than the command's Ne (256 for a bare 4-byte APDU, 0 without Le);
//! * a malformed APDU (CommandView::parse fails) is answered exactly 6700;
//! * access control, with an over-approximation of "the user PIN may be verified in this session"
//!   (any successful VERIFY, CHANGE REFERENCE DATA or INITIALIZE since the last reset):
//!   READ BINARY by FID never succeeds on internal or key files, nor on protected data (CDxx) unless
//!   the PIN may be verified; UPDATE BINARY and DELETE FILE never succeed unless the PIN may be
//!   verified, and never on internal files, keys (UPDATE) or the device key (DELETE);
//! * UPDATE BINARY and DELETE FILE never change an internal or key file (also through the current EF);
//! * no response contains 16 consecutive bytes of an internal or key file (PIN verifiers, sealed
//!   keys) unless those bytes were fed in by the input or sit in a public file.
//!
//! Secure messaging ([`seq::FLAG_SM`]): after the setup the runner opens a session with the host
//! client of `tests/src/sm_client.rs` and sends every plain item wrapped (items with CLA bits 0C go
//! as they are, so broken MACs and data objects reach the card too). A wrapped command answered
//! 9000 must unwrap (MAC checked by the client), and the inner answer must meet the invariants
//! above (except the Ne bound: the inner answer is wrapped whole). Any other answer, a plain item
//! or a protected item of the input ends the runner's session (the card's ends on those too).

use std::sync::OnceLock;

use hsm_apdu::CommandView;
use hsm_card::files::{Class, classify};
use hsm_card::testing::{COUNTERS_SIZE, RamPlatform};
use hsm_card::{Card, Platform, RESPONSE_BUFFER_SIZE};
use hsm_store::Store;
use hsm_store::flash::RamFlash;

use crate::apdus;
use crate::seq::{self, Item, Seq};
use crate::sm_client::{self, Handshake, Session};

/// Seed of the RAM platform: device secret, serial and entropy. Fixed, so that a cached store (sealed
/// under the device secret) fits every card built from it, and crashes replay exactly.
pub const SEED: u64 = 0x5EED_C0DE;

/// Size of the main store while fuzzing: 128 KiB instead of the RAM platform's 512 KiB
/// ([`hsm_card::testing::MAIN_SIZE`]). Every run copies and mounts the image, so a smaller one is
/// faster, and "store full" is within reach.
pub const FUZZ_MAIN_SIZE: usize = 128 * 1024;

/// A blank RAM platform with a [`FUZZ_MAIN_SIZE`] main store.
pub fn blank_platform() -> RamPlatform {
    let main = Store::format(RamFlash::new(FUZZ_MAIN_SIZE)).expect("formatting a RAM flash failed");
    let counters = Store::format(RamFlash::new(COUNTERS_SIZE)).expect("formatting a RAM flash failed");
    RamPlatform::from_stores(main, counters, SEED)
}

/// How a cached store is brought back for each run.
pub enum Saved {
    /// A flash image, mounted afresh for each run (used when a remount gives back the same files).
    Image(Vec<u8>),
    /// The files, written into a freshly formatted store (used while hsm-store keeps its files only
    /// in RAM, so that a flash image does not carry them).
    Files { size: usize, files: Vec<(u16, Vec<u8>)> },
}

fn files_of(store: &mut Store<RamFlash>) -> Vec<(u16, Vec<u8>)> {
    let fids: Vec<u16> = store.fids().collect();
    fids.into_iter()
        .map(|f| (f, store.read_all(f).expect("read_all of a listed file id failed")))
        .collect()
}

impl Saved {
    fn capture(mut store: Store<RamFlash>, size: usize) -> Saved {
        let files = files_of(&mut store);
        let image = store.into_flash().into_bytes();
        if let Ok(mut mounted) = Store::mount(RamFlash::from_bytes(image.clone()))
            && files_of(&mut mounted) == files
        {
            return Saved::Image(image);
        }
        Saved::Files { size, files }
    }

    fn restore(&self) -> Store<RamFlash> {
        match self {
            Saved::Image(image) => {
                Store::mount(RamFlash::from_bytes(image.clone())).expect("mounting the cached image failed")
            }
            Saved::Files { size, files } => {
                let mut store = Store::format(RamFlash::new(*size)).expect("formatting a RAM flash failed");
                for (f, data) in files {
                    store.write(*f, data).expect("restoring a cached file failed");
                }
                store
            }
        }
    }

    pub fn mode(&self) -> &'static str {
        match self {
            Saved::Image(_) => "flash image",
            Saved::Files { .. } => "file list",
        }
    }
}

/// The main and counters stores of an initialized device.
pub struct Snapshot {
    pub main: Saved,
    pub counters: Saved,
}

impl Snapshot {
    fn take(init: &[u8]) -> Snapshot {
        let mut card = Card::new(blank_platform());
        let mut out = vec![0u8; RESPONSE_BUFFER_SIZE];
        for apdu in [apdus::SELECT_AID, init] {
            let n = card.transmit(apdu, &mut out);
            assert_eq!(
                &out[n.saturating_sub(2)..n],
                &[0x90, 0x00],
                "setup APDU {apdu:02X?} failed"
            );
        }
        let (main, counters) = card.into_platform().into_stores();
        Snapshot {
            main: Saved::capture(main, FUZZ_MAIN_SIZE),
            counters: Saved::capture(counters, COUNTERS_SIZE),
        }
    }

    pub fn platform(&self) -> RamPlatform {
        RamPlatform::from_stores(self.main.restore(), self.counters.restore(), SEED)
    }
}

/// The starting states, computed on first use: blank (formatting 512 KiB of RAM flash costs more than
/// mounting a blank image), initialized with INITIALIZE, initialized with INITIALIZE_ALT.
pub fn snapshots() -> &'static [Snapshot; 3] {
    static S: OnceLock<[Snapshot; 3]> = OnceLock::new();
    S.get_or_init(|| {
        let (main, counters) = blank_platform().into_stores();
        let blank = Snapshot {
            main: Saved::capture(main, FUZZ_MAIN_SIZE),
            counters: Saved::capture(counters, COUNTERS_SIZE),
        };
        let s = [
            blank,
            Snapshot::take(apdus::INITIALIZE),
            Snapshot::take(&apdus::initialize_alt()),
        ];
        eprintln!(
            "hsm-fuzz: initialized states cached; restored per run from a {}",
            s[0].main.mode()
        );
        s
    })
}

struct Runner<'a> {
    card: Option<Card<RamPlatform>>,
    flags: u8,
    out: Vec<u8>,
    input: &'a [u8],
    maybe_user_auth: bool,
    /// The host side of the secure-messaging session, while one runs.
    sm: Option<Session>,
}

/// Runs one `apdu_sequence` input.
pub fn run(data: &[u8]) {
    let s = Seq::parse(data);
    let state = match (s.flags & seq::FLAG_INIT != 0, s.flags & seq::FLAG_ALT_INIT != 0) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => 2,
    };
    let platform = snapshots()[state].platform();
    let out_len = if s.flags & seq::FLAG_SMALL_OUT != 0 {
        2 + usize::from(s.out_sel)
    } else {
        RESPONSE_BUFFER_SIZE
    };
    let mut r = Runner {
        card: Some(Card::new(platform)),
        flags: s.flags,
        out: vec![0u8; out_len],
        input: data,
        maybe_user_auth: false,
        sm: None,
    };
    r.setup();
    for item in s.items.iter().take(seq::MAX_ITEMS) {
        match item {
            Item::Apdu(apdu) => r.transmit(apdu),
            Item::Reset => r.reset(),
            Item::ResetSetup => {
                r.reset();
                r.setup();
            }
            Item::PowerCycle => {
                let platform = r.card.take().expect("card present").into_platform();
                r.card = Some(Card::new(platform));
                r.maybe_user_auth = false;
                r.setup();
            }
        }
    }
}

impl Runner<'_> {
    fn card(&mut self) -> &mut Card<RamPlatform> {
        self.card.as_mut().expect("card present")
    }

    fn reset(&mut self) {
        self.card().reset();
        self.maybe_user_auth = false;
        self.sm = None;
    }

    /// MSE SET AT and GENERAL AUTHENTICATE with a fixed host key; the token checked against the
    /// device key of C_DevAut. A card that refuses (not initialized, not selected) gets no session.
    fn open_sm(&mut self) {
        self.sm = None;
        let mut out = vec![0u8; RESPONSE_BUFFER_SIZE];
        let mut send = |card: &mut Card<RamPlatform>, apdu: &[u8]| -> Option<Vec<u8>> {
            let n = card.transmit(apdu, &mut out);
            (n >= 2 && out[n - 2..n] == [0x90, 0x00]).then(|| out[..n - 2].to_vec())
        };
        let card = self.card();
        let Some(cvc) = send(card, &apdus::read_binary(0x2F02, 0, 65536, true)) else {
            return;
        };
        let Some(point) = sm_client::cvc_public_point(&cvc) else {
            return;
        };
        if send(card, &sm_client::mse_set_at()).is_none() {
            return;
        }
        let hs = Handshake::new(&[0x5E; 32]);
        let Some(answer) = send(card, &hs.general_authenticate()) else {
            return;
        };
        let session = hs
            .finish(&point, &answer)
            .expect("GENERAL AUTHENTICATE answered 9000 with a token that does not check out");
        self.sm = Some(session);
    }

    fn setup(&mut self) {
        if self.flags & seq::FLAG_NO_SELECT == 0 {
            self.transmit(apdus::SELECT_AID);
        }
        if self.flags & seq::FLAG_INIT != 0 {
            if self.flags & seq::FLAG_USER != 0 {
                self.transmit(apdus::VERIFY_USER);
            }
            if self.flags & seq::FLAG_SO != 0 {
                self.transmit(apdus::VERIFY_SO);
            }
        }
        if self.flags & seq::FLAG_SM != 0 {
            self.open_sm();
        }
    }

    /// The internal and key files of the main store.
    fn protected_files(&mut self) -> Vec<(u16, Option<Vec<u8>>)> {
        let store = self.card().platform_mut().store();
        let fids: Vec<u16> = store
            .fids()
            .filter(|f| matches!(classify(*f), Class::Internal | Class::Key))
            .collect();
        fids.into_iter().map(|f| (f, store.read_all(f).ok())).collect()
    }

    fn transmit(&mut self, apdu: &[u8]) {
        let Some(mut session) = self.sm.take() else {
            return self.transmit_plain(apdu);
        };
        let inner = match CommandView::parse(apdu) {
            Ok(c) if c.cla & 0x1C == 0 && c.ins != 0xC0 => c,
            // Chain parts, GET RESPONSE, protected items of the input, malformed APDUs: as they
            // are. GET RESPONSE keeps the session; the others end it (or would, reaching the card).
            Ok(c) if c.ins == 0xC0 && c.cla & 0x1C == 0 => {
                self.sm = Some(session);
                return self.transmit_plain(apdu);
            }
            _ => return self.transmit_plain(apdu),
        };
        let le = (inner.ne > 0).then_some(inner.ne);
        let wrapped = session.wrap(inner.cla, inner.ins, inner.p1, inner.p2, inner.data, le);
        let file_command = inner.ins == 0xD7 || inner.ins == 0xE4;
        let before = file_command.then(|| self.protected_files());
        let mut out = std::mem::take(&mut self.out);
        let n = self.card().transmit(&wrapped, &mut out);
        assert!(
            n >= 2 && n <= out.len(),
            "answer of {n} bytes to a protected {apdu:02X?}"
        );
        let (outer, sw) = out[..n].split_at(n - 2);
        let outer_sw = u16::from_be_bytes([sw[0], sw[1]]);
        if outer_sw != 0x9000 {
            // Too long once wrapped (6700), a small response buffer (61xx): the session is gone
            // or out of step.
            assert!(
                outer.is_empty() || outer_sw >> 8 == 0x61,
                "{outer_sw:04X} with data for {apdu:02X?}"
            );
            self.out = out;
            return;
        }
        let (data, sw) = session
            .unwrap(outer, outer_sw)
            .unwrap_or_else(|e| panic!("protected {apdu:02X?}: answer does not unwrap: {e}"));
        self.out = out;
        assert!(
            data.is_empty() || sw == 0x9000,
            "{} data bytes with inner status {sw:04X} for protected {apdu:02X?}",
            data.len()
        );
        assert_ne!(sw, 0x6F00, "6F00 (no precise diagnosis) for protected {apdu:02X?}");
        if let Some(before) = before {
            self.check_protected_files(apdu, sw, &before);
        }
        if sw == 0x9000 {
            self.check_access(&inner, sw);
            if matches!(inner.ins, 0x20 | 0x24 | 0x50) {
                self.maybe_user_auth = true;
            }
        }
        if data.len() >= 16 {
            self.check_no_secret(&data, apdu);
        }
        // A SELECT of an application ends the session after its answer.
        if !(inner.ins == 0xA4 && inner.p1 == 0x04 && sw == 0x9000) {
            self.sm = Some(session);
        }
    }

    fn transmit_plain(&mut self, apdu: &[u8]) {
        // UPDATE BINARY and DELETE FILE (whatever the CLA, chained or not, by FID or current EF) must
        // leave the internal and key files alone.
        let file_command = apdu.get(1).is_some_and(|&ins| ins == 0xD7 || ins == 0xE4);
        let before = file_command.then(|| self.protected_files());
        let mut out = std::mem::take(&mut self.out);
        let n = self.card().transmit(apdu, &mut out);
        let resp = &out[..n.min(out.len())];
        assert!(n >= 2, "response shorter than a status word: {n} bytes for {apdu:02X?}");
        assert!(n <= out.len(), "response length {n} exceeds the buffer ({})", out.len());
        let (data, sw) = resp.split_at(n - 2);
        let sw = u16::from_be_bytes([sw[0], sw[1]]);
        let ok = sw == 0x9000 || sw >> 8 == 0x61;
        assert!(
            data.is_empty() || ok,
            "{} data bytes with status {sw:04X} for {apdu:02X?}",
            data.len()
        );
        if let Some(before) = before {
            self.check_protected_files(apdu, sw, &before);
        }
        assert_ne!(sw, 0x6F00, "6F00 (no precise diagnosis) for {apdu:02X?}");
        match CommandView::parse(apdu) {
            Err(_) => assert!(
                n == 2 && sw == 0x6700,
                "malformed APDU {apdu:02X?} answered {resp:02X?} instead of 6700"
            ),
            Ok(cmd) => {
                let ne = if apdu.len() == 4 { 256 } else { cmd.ne };
                assert!(
                    data.len() <= ne,
                    "{} data bytes for Ne = {ne} ({apdu:02X?}, status {sw:04X})",
                    data.len()
                );
                if ok && cmd.cla & 0x10 == 0 {
                    self.check_access(&cmd, sw);
                }
                if ok && matches!(cmd.ins, 0x20 | 0x24 | 0x50) {
                    self.maybe_user_auth = true;
                }
            }
        }
        if data.len() >= 16 {
            self.check_no_secret(data, apdu);
        }
        self.out = out;
    }

    /// Called for a command that executed (not a chain part) and answered 9000 / 61xx.
    fn check_access(&mut self, cmd: &CommandView<'_>, sw: u16) {
        let p1p2 = u16::from_be_bytes([cmd.p1, cmd.p2]);
        let what = format!(
            "{:02X} {:02X} {:02X} {:02X} data {:02X?} answered {sw:04X}",
            cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data
        );
        match cmd.ins {
            0xB1 if p1p2 != 0 => match classify(p1p2) {
                Class::Internal | Class::Key => panic!("READ BINARY of an internal/key file: {what}"),
                Class::ProtectedData if !self.maybe_user_auth => {
                    panic!("READ BINARY of protected data without PIN: {what}")
                }
                _ => {}
            },
            0xD7 => {
                assert!(self.maybe_user_auth, "UPDATE BINARY without PIN: {what}");
                if p1p2 != 0 {
                    let class = classify(p1p2);
                    assert!(
                        matches!(class, Class::TokenInfo | Class::ProtectedData | Class::Public),
                        "UPDATE BINARY of a {class:?} file: {what}"
                    );
                }
            }
            0xE4 => {
                assert!(self.maybe_user_auth, "DELETE FILE without PIN: {what}");
                if let &[hi, lo] = cmd.data {
                    let f = u16::from_be_bytes([hi, lo]);
                    assert!(
                        f != hsm_card::files::fid::DEVICE_KEY && classify(f) != Class::Internal,
                        "DELETE FILE of {f:04X}: {what}"
                    );
                }
            }
            _ => {}
        }
    }

    /// UPDATE BINARY and DELETE FILE leave the internal and key files as `before` had them, except
    /// a DELETE FILE that succeeded on a user key (by FID or as the current EF), which removes that
    /// key file and nothing else of them.
    fn check_protected_files(&mut self, apdu: &[u8], sw: u16, before: &[(u16, Option<Vec<u8>>)]) {
        let after = self.protected_files();
        if after == before {
            return;
        }
        let gone: Vec<u16> = before
            .iter()
            .filter(|(f, _)| !after.iter().any(|(g, _)| g == f))
            .map(|(f, _)| *f)
            .collect();
        let kept_intact = after.iter().all(|e| before.contains(e));
        let key_delete = apdu.get(1) == Some(&0xE4)
            && sw == 0x9000
            && kept_intact
            && matches!(gone[..], [f] if classify(f) == Class::Key && f != hsm_card::files::fid::DEVICE_KEY);
        assert!(
            key_delete,
            "{apdu:02X?} ({sw:04X}) changed an internal or key file: gone {gone:04X?}, intact otherwise: {kept_intact}"
        );
    }

    /// No 16-byte chunk of an internal or key file may show up in a response.
    fn check_no_secret(&mut self, data: &[u8], apdu: &[u8]) {
        let input = self.input;
        let store = self.card().platform_mut().store();
        let fids: Vec<u16> = store.fids().collect();
        let (secret, public): (Vec<u16>, Vec<u16>) = fids
            .into_iter()
            .partition(|f| matches!(classify(*f), Class::Internal | Class::Key));
        let mut chunks: Vec<(u64, u16, Vec<u8>)> = Vec::new();
        for f in secret {
            let Ok(content) = store.read_all(f) else { continue };
            for chunk in content.chunks_exact(16) {
                if distinct(chunk) >= 8 {
                    chunks.push((prefix(chunk), f, chunk.to_vec()));
                }
            }
        }
        if chunks.is_empty() {
            return;
        }
        chunks.sort_unstable();
        // One pass over the response, looking its 8-byte windows up among the chunks' prefixes, instead
        // of a memcmp per position and chunk (memcmp is intercepted by libFuzzer and slow).
        let hits: Vec<usize> = data
            .windows(8)
            .filter_map(|w| chunks.binary_search_by_key(&prefix(w), |c| c.0).ok())
            .collect();
        for i in hits {
            let (_, f, chunk) = &chunks[i];
            let (f, chunk) = (*f, &chunk[..]);
            {
                if !contains(data, chunk) || contains(input, chunk) {
                    continue;
                }
                let in_public = public
                    .iter()
                    .any(|p| store.read_all(*p).is_ok_and(|c| contains(&c, chunk)));
                assert!(
                    in_public,
                    "response to {apdu:02X?} contains bytes of internal file {f:04X}: {chunk:02X?}"
                );
            }
        }
    }
}

fn prefix(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

fn distinct(b: &[u8]) -> usize {
    let mut seen = [false; 256];
    b.iter()
        .filter(|&&x| !std::mem::replace(&mut seen[usize::from(x)], true))
        .count()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With FLAG_SM the runner really opens a session and its wrapped VERIFY logs in.
    #[test]
    fn sm_flag_opens_a_session_and_wraps() {
        let platform = snapshots()[1].platform();
        let data = [seq::FLAG_INIT | seq::FLAG_SM, 0];
        let mut r = Runner {
            card: Some(Card::new(platform)),
            flags: data[0],
            out: vec![0u8; RESPONSE_BUFFER_SIZE],
            input: &data,
            maybe_user_auth: false,
            sm: None,
        };
        r.setup();
        assert!(r.sm.is_some(), "no session");
        r.transmit(apdus::VERIFY_USER);
        assert!(r.maybe_user_auth, "the wrapped VERIFY did not answer 9000");
        assert_eq!(r.sm.as_ref().map(|s| s.ssc), Some(2));
        r.transmit(apdus::SELECT_AID);
        assert!(r.sm.is_none(), "SELECT ends the session");
    }
}
