//! The input format of `apdu_sequence` and its structure-aware mutator.
//!
//! ```text
//! byte 0      flags (FLAG_*)
//! byte 1      response buffer selector: with FLAG_SMALL_OUT the buffer is 2 + byte 1 bytes long,
//!             otherwise hsm_card::RESPONSE_BUFFER_SIZE
//! then items  u16 big-endian length L, then L bytes of command APDU;
//!             L = FFFF: Card::reset()
//!             L = FFFE: Card::reset(), then the setup again (SELECT, logins as the flags say)
//!             L = FFFD: power cycle (a new Card over the same platform), then the setup again
//!             a length running past the end takes what is left
//! ```
//!
//! A byte-level mutation (insertion, deletion) inside one APDU shifts every later length field, which
//! wrecks the rest of a multi-command input. The custom mutator therefore parses the input into items,
//! mutates one item (or the flags, or the list) and serializes it again, so lengths stay consistent; a
//! fraction of the mutations is still plain libFuzzer mutation of the raw bytes.

use crate::apdus;
use crate::rng::Rng;

/// Start from a device initialized with [`apdus::INITIALIZE`].
pub const FLAG_INIT: u8 = 0x01;
/// VERIFY the user PIN after the SELECT (needs an initialized device).
pub const FLAG_USER: u8 = 0x02;
/// VERIFY the SO-PIN after the SELECT (needs an initialized device).
pub const FLAG_SO: u8 = 0x04;
/// Use a small response buffer (2 + byte 1 bytes).
pub const FLAG_SMALL_OUT: u8 = 0x08;
/// Do not SELECT the application at the start.
pub const FLAG_NO_SELECT: u8 = 0x10;
/// With FLAG_INIT: initialize with [`apdus::initialize_alt`] instead (transport PIN, DKEK, PUKs, domains).
pub const FLAG_ALT_INIT: u8 = 0x20;
/// After the setup, open a secure-messaging session and send the plain items wrapped
/// (`card.rs`); needs an initialized device (the device key).
pub const FLAG_SM: u8 = 0x40;

pub const MARK_RESET: u16 = 0xFFFF;
pub const MARK_RESET_SETUP: u16 = 0xFFFE;
pub const MARK_POWER_CYCLE: u16 = 0xFFFD;

/// At most this many items are executed per input (keeps the exec rate up).
pub const MAX_ITEMS: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Apdu(Vec<u8>),
    Reset,
    ResetSetup,
    PowerCycle,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seq {
    pub flags: u8,
    pub out_sel: u8,
    pub items: Vec<Item>,
}

impl Seq {
    /// Parses any byte string (never fails).
    pub fn parse(data: &[u8]) -> Seq {
        let flags = data.first().copied().unwrap_or(0);
        let out_sel = data.get(1).copied().unwrap_or(0);
        let mut rest = data.get(2..).unwrap_or_default();
        let mut items = Vec::new();
        while rest.len() >= 2 {
            let len = u16::from_be_bytes([rest[0], rest[1]]);
            rest = &rest[2..];
            items.push(match len {
                MARK_RESET => Item::Reset,
                MARK_RESET_SETUP => Item::ResetSetup,
                MARK_POWER_CYCLE => Item::PowerCycle,
                n => {
                    let n = usize::from(n).min(rest.len());
                    let (apdu, tail) = rest.split_at(n);
                    rest = tail;
                    Item::Apdu(apdu.to_vec())
                }
            });
        }
        Seq { flags, out_sel, items }
    }

    pub fn serialize(&self) -> Vec<u8> {
        let mut v = vec![self.flags, self.out_sel];
        for item in &self.items {
            match item {
                Item::Apdu(a) => {
                    let a = &a[..a.len().min(0xFFFC)];
                    v.extend_from_slice(&(a.len() as u16).to_be_bytes());
                    v.extend_from_slice(a);
                }
                Item::Reset => v.extend_from_slice(&MARK_RESET.to_be_bytes()),
                Item::ResetSetup => v.extend_from_slice(&MARK_RESET_SETUP.to_be_bytes()),
                Item::PowerCycle => v.extend_from_slice(&MARK_POWER_CYCLE.to_be_bytes()),
            }
        }
        v
    }
}

/// Structure-aware mutation of `data[..size]` in place; returns the new size (at most `max_size`).
/// `raw` is libFuzzer's own mutator (`libfuzzer_sys::fuzzer_mutate`).
pub fn mutate(
    data: &mut [u8],
    size: usize,
    max_size: usize,
    seed: u32,
    raw: &mut dyn FnMut(&mut [u8], usize, usize) -> usize,
) -> usize {
    let mut rng = Rng::new(u64::from(seed));
    if rng.below(8) == 0 || size < 2 {
        return raw(data, size, max_size);
    }
    let mut seq = Seq::parse(&data[..size]);
    mutate_seq(&mut seq, &mut rng, raw);
    let out = seq.serialize();
    if out.len() > max_size || out.len() > data.len() {
        return raw(data, size, max_size);
    }
    data[..out.len()].copy_from_slice(&out);
    out.len()
}

fn mutate_seq(seq: &mut Seq, rng: &mut Rng, raw: &mut dyn FnMut(&mut [u8], usize, usize) -> usize) {
    let n = seq.items.len();
    match rng.below(16) {
        // Insert a known-good APDU.
        0 | 1 => {
            let t = apdus::templates_cached();
            let pick = t[rng.below(t.len())].clone();
            seq.items.insert(rng.below(n + 1), Item::Apdu(pick));
        }
        // Delete an item.
        2 if n > 0 => {
            seq.items.remove(rng.below(n));
        }
        // Duplicate an item.
        3 if n > 0 => {
            let i = rng.below(n);
            let it = seq.items[i].clone();
            seq.items.insert(rng.below(n + 1), it);
        }
        // Swap two items.
        4 if n > 1 => {
            let (a, b) = (rng.below(n), rng.below(n));
            seq.items.swap(a, b);
        }
        // Insert a reset / power cycle marker.
        5 => {
            let m = match rng.below(3) {
                0 => Item::Reset,
                1 => Item::ResetSetup,
                _ => Item::PowerCycle,
            };
            seq.items.insert(rng.below(n + 1), m);
        }
        // Flags and buffer size.
        6 => {
            if rng.below(2) == 0 {
                seq.flags ^= 1 << rng.below(7);
            } else {
                seq.out_sel = rng.byte();
            }
        }
        _ => {
            let apdu_idx: Vec<usize> = (0..n).filter(|&i| matches!(seq.items[i], Item::Apdu(_))).collect();
            if apdu_idx.is_empty() {
                seq.items.push(Item::Apdu(apdus::SELECT_AID.to_vec()));
                return;
            }
            let i = apdu_idx[rng.below(apdu_idx.len())];
            if let Item::Apdu(a) = &mut seq.items[i] {
                mutate_apdu(a, rng, raw);
            }
        }
    }
}

/// Mutates one command APDU: raw bytes, header fields, or the data field with the length fields fixed up.
pub fn mutate_apdu(a: &mut Vec<u8>, rng: &mut Rng, raw: &mut dyn FnMut(&mut [u8], usize, usize) -> usize) {
    let parsed = hsm_apdu::CommandView::parse(a)
        .ok()
        .map(|c| (c.cla, c.ins, c.p1, c.p2, c.data.to_vec(), c.ne, c.extended));
    match (rng.below(6), parsed) {
        // Header: CLA, INS, P1-P2 from the known values, or P1/P2 from libFuzzer.
        (0, Some((_, ins, p1, p2, data, ne, ext))) => {
            let cla = apdus::KNOWN_CLA[rng.below(apdus::KNOWN_CLA.len())];
            *a = apdus::build_with(cla, ins, p1, p2, &data, ne, ext);
        }
        (1, Some((cla, _, p1, p2, data, ne, ext))) => {
            let ins = apdus::KNOWN_INS[rng.below(apdus::KNOWN_INS.len())];
            *a = apdus::build_with(cla, ins, p1, p2, &data, ne, ext);
        }
        (2, Some((cla, ins, _, _, data, ne, ext))) => {
            let [p1, p2] = apdus::KNOWN_FIDS[rng.below(apdus::KNOWN_FIDS.len())].to_be_bytes();
            *a = apdus::build_with(cla, ins, p1, p2, &data, ne, ext);
        }
        // Data field mutated by libFuzzer, Lc re-encoded; sometimes Le changed too.
        (3, Some((cla, ins, p1, p2, mut data, mut ne, ext))) => {
            raw_mutate_vec(&mut data, 64, raw);
            if rng.below(4) == 0 {
                ne = [0, 1, 8, 255, 256, 257, 4096, 65536][rng.below(8)];
            }
            let ext = ext || data.len() > 255 || ne > 256;
            *a = apdus::build_with(cla, ins, p1, p2, &data, ne, ext);
        }
        // TLV-aware: mutate one data object's value and re-encode its length.
        (4, Some((cla, ins, p1, p2, data, ne, ext))) => {
            let mut objs: Vec<(u16, Vec<u8>)> = Vec::new();
            for o in hsm_apdu::tlv::Reader::new(&data) {
                match o {
                    Ok(t) => objs.push((t.tag, t.value.to_vec())),
                    Err(_) => break,
                }
            }
            if objs.is_empty() || rng.below(4) == 0 {
                let tag = apdus::KNOWN_TAGS[rng.below(apdus::KNOWN_TAGS.len())];
                objs.insert(
                    rng.below(objs.len() + 1),
                    (u16::from(tag), vec![rng.byte(); rng.below(4)]),
                );
            } else {
                let k = rng.below(objs.len());
                if rng.below(3) == 0 {
                    objs[k].0 = u16::from(apdus::KNOWN_TAGS[rng.below(apdus::KNOWN_TAGS.len())]);
                } else {
                    raw_mutate_vec(&mut objs[k].1, 32, raw);
                }
            }
            let mut body = Vec::new();
            for (tag, value) in &objs {
                let mut hdr = [0u8; 7];
                body.extend_from_slice(hsm_apdu::tlv::header(*tag, value.len(), &mut hdr));
                body.extend_from_slice(value);
            }
            let ext = ext || body.len() > 255;
            *a = apdus::build_with(cla, ins, p1, p2, &body, ne, ext);
        }
        // Raw bytes of this APDU (lengths may break: that is tested too).
        _ => raw_mutate_vec(a, 64, raw),
    }
}

fn raw_mutate_vec(v: &mut Vec<u8>, grow: usize, raw: &mut dyn FnMut(&mut [u8], usize, usize) -> usize) {
    let len = v.len();
    let max = (len + grow).min(0xFFFC);
    v.resize(max.max(1), 0);
    let n = raw(v, len, max.max(1));
    v.truncate(n);
}

/// Structure-aware crossover: the head of one sequence followed by the tail of the other.
pub fn crossover(a: &[u8], b: &[u8], out: &mut [u8], seed: u32) -> usize {
    let mut rng = Rng::new(u64::from(seed) ^ 0xC0FFEE);
    let (sa, sb) = (Seq::parse(a), Seq::parse(b));
    let i = rng.below(sa.items.len() + 1);
    let j = rng.below(sb.items.len() + 1);
    let mut items: Vec<Item> = sa.items[..i].to_vec();
    items.extend_from_slice(&sb.items[j..]);
    let seq = Seq {
        flags: if rng.below(2) == 0 { sa.flags } else { sb.flags },
        out_sel: sa.out_sel,
        items,
    };
    let mut v = seq.serialize();
    v.truncate(out.len());
    out[..v.len()].copy_from_slice(&v);
    v.len()
}
