//! The `store_image` harness: `Store::mount` over an arbitrary flash image, then store operations chosen
//! by the input, checked against a model, with an optional power cut.
//!
//! ```text
//! byte 0      bits 0-5: sector count 8 + (b % 57) (8..=64 sectors of 4096 bytes); bit 6: sparse image
//! byte 1      geometry: b % 3 → RamFlash<1, 4096>, RamFlash<4, 4096>, RamFlash<256, 4096>
//! bytes 2-3   power cut: u16 BE index of the write/erase (counted from the first mount) that is torn;
//!             FFFF = never
//! byte 4      N, the length of the operation bytes
//! N bytes     operations (see [`op`])
//! the rest    the flash image: dense = the first bytes of the flash, the rest erased (FF);
//!             sparse = patches `[sector] [offset u16 BE] [len] [len bytes]` over an erased flash
//! ```
//!
//! Checks: no panic and no hang (libFuzzer `-timeout`) whatever the image. Once the store was formatted
//! by the harness (the `format` operation) its history is known ("trusted"), and then every operation
//! agrees with a model: contents, lengths, ascending fids, NotFound, delete's return value, TooLarge only
//! above `max_file_size`, a new file of at most `free_space` (> 0) bytes never refused as Full, a delete
//! never refused, no Flash/Corrupt errors without a power cut, a remount always succeeds. If hsm-store
//! persists files to flash (detected once at start-up; the early RAM-only skeleton did not), a remount
//! must give back the model's files, and after a power cut the remounted store must hold the state before
//! or after the interrupted operation. A store mounted from a fuzzed image is checked the same way until
//! it reports an error (then it may be corrupt: only "no panic, no hang" remains).
//!
//! `HSM_FUZZ_TRACE=1` prints every operation and its result.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use hsm_store::flash::{PowerCut, RamFlash};
use hsm_store::{Error, Store};

pub const SECTOR: usize = 4096;
pub const FLAG_SPARSE: u8 = 0x40;
pub const NO_CUT: u16 = 0xFFFF;
const MAX_OPS: usize = 48;

/// File ids the operations pick from (erased-looking and zero ids included).
pub const FIDS: [u16; 16] = [
    0x0000, 0xFFFF, 0xFFFE, 0x0001, 0x1081, 0x1083, 0x2F02, 0x2F03, 0xCC00, 0xC400, 0xCE00, 0xCF01, 0xCD01, 0x8000,
    0x00FF, 0xFF00,
];

/// Operation codes (the low 3 bits of an operation byte).
pub mod op {
    /// `[fid_sel] [len_sel] [pattern]`
    pub const WRITE: u8 = 0;
    /// `[fid_sel] [offset u16 BE] [buf_len u16 BE]`
    pub const READ: u8 = 1;
    /// `[fid_sel]`
    pub const DELETE: u8 = 2;
    /// `[mask]`: keeps the files whose index in FIDS has bit (mask % 4) clear
    pub const RETAIN: u8 = 3;
    pub const REMOUNT: u8 = 4;
    pub const FORMAT: u8 = 5;
    /// Reads every file and checks the whole store against the model.
    pub const CHECK: u8 = 6;
    /// `[fid_sel]`: writes min(max_file_size, free_space) bytes.
    pub const FILL: u8 = 7;
}

/// Whether hsm-store keeps files across a remount (false for the RAM-only skeleton).
pub fn persistent() -> bool {
    static P: OnceLock<bool> = OnceLock::new();
    *P.get_or_init(|| {
        let probe = || -> Option<bool> {
            let mut s = Store::format(RamFlash::new(16 * SECTOR)).ok()?;
            s.write(0x1234, b"persist").ok()?;
            let mut m = Store::mount(s.into_flash()).ok()?;
            Some(m.read_all(0x1234).ok()? == b"persist")
        };
        let p = probe().unwrap_or(false);
        eprintln!(
            "hsm-fuzz: hsm-store persistence {}",
            if p {
                "detected: remount and power-cut checks on"
            } else {
                "not detected (RAM-only store): remount/power-cut contents not checked"
            }
        );
        p
    })
}

struct Cursor<'a> {
    d: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn u8(&mut self) -> u8 {
        let b = self.d.get(self.i).copied().unwrap_or(0);
        self.i += 1;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn done(&self) -> bool {
        self.i >= self.d.len()
    }
}

/// The decoded input.
pub struct Input<'a> {
    pub sectors: usize,
    pub geometry: u8,
    pub cut: Option<u64>,
    pub ops: &'a [u8],
    pub image: Vec<u8>,
}

impl<'a> Input<'a> {
    pub fn parse(data: &'a [u8]) -> Input<'a> {
        let b = |i: usize| data.get(i).copied().unwrap_or(0);
        let sectors = 8 + usize::from(b(0) & 0x3F) % 57;
        let cut = u16::from_be_bytes([b(2), b(3)]);
        let n = usize::from(b(4));
        let ops = data.get(5..(5 + n).min(data.len())).unwrap_or_default();
        let rest = data.get(5 + n..).unwrap_or_default();
        let size = sectors * SECTOR;
        let mut image = vec![0xFF; size];
        if b(0) & FLAG_SPARSE == 0 {
            let k = rest.len().min(size);
            image[..k].copy_from_slice(&rest[..k]);
        } else {
            let mut c = Cursor { d: rest, i: 0 };
            while !c.done() {
                let sector = usize::from(c.u8()) % sectors;
                let offset = usize::from(c.u16()) % SECTOR;
                let len = usize::from(c.u8());
                let start = sector * SECTOR + offset;
                for k in 0..len {
                    let byte = c.u8();
                    if let Some(slot) = image.get_mut(start + k) {
                        *slot = byte;
                    }
                }
            }
        }
        Input {
            sectors,
            geometry: b(1) % 3,
            cut: (cut != NO_CUT).then_some(u64::from(cut)),
            ops,
            image,
        }
    }
}

/// Encodes an input (seed generation). `image` is used dense, or as sparse patches of its non-FF runs.
pub fn encode(sectors: usize, geometry: u8, cut: u16, ops: &[u8], image: &[u8], sparse: bool) -> Vec<u8> {
    let sel = (sectors.clamp(8, 64) - 8) as u8;
    let mut v = vec![sel | if sparse { FLAG_SPARSE } else { 0 }, geometry];
    v.extend_from_slice(&cut.to_be_bytes());
    v.push(ops.len() as u8);
    v.extend_from_slice(ops);
    if !sparse {
        let end = image.iter().rposition(|&b| b != 0xFF).map_or(0, |p| p + 1);
        v.extend_from_slice(&image[..end]);
    } else {
        for (s, sector) in image.chunks(SECTOR).enumerate() {
            let mut i = 0;
            while i < sector.len() {
                if sector[i] == 0xFF {
                    i += 1;
                    continue;
                }
                let j = (i..sector.len().min(i + 255))
                    .find(|&k| sector[k] == 0xFF)
                    .unwrap_or(sector.len().min(i + 255));
                v.push(s as u8);
                v.extend_from_slice(&(i as u16).to_be_bytes());
                v.push((j - i) as u8);
                v.extend_from_slice(&sector[i..j]);
                i = j;
            }
        }
    }
    v
}

/// `HSM_FUZZ_TRACE=1` prints every operation and its result (to triage a crash).
fn tracing() -> bool {
    static T: OnceLock<bool> = OnceLock::new();
    *T.get_or_init(|| std::env::var_os("HSM_FUZZ_TRACE").is_some())
}

macro_rules! trace {
    ($($arg:tt)*) => {
        if tracing() {
            eprintln!($($arg)*);
        }
    };
}

fn summary(m: Option<&Model>) -> String {
    m.map_or_else(
        || String::from("unknown"),
        |m| {
            m.iter()
                .map(|(f, d)| format!("{f:04X}:{}", d.len()))
                .collect::<Vec<_>>()
                .join(" ")
        },
    )
}

pub fn run(data: &[u8]) {
    let input = Input::parse(data);
    trace!(
        "{} sectors, geometry {}, cut {:?}, {} operation bytes",
        input.sectors,
        input.geometry,
        input.cut,
        input.ops.len()
    );
    match input.geometry {
        0 => Harness::<1, SECTOR>::run(&input),
        1 => Harness::<4, SECTOR>::run(&input),
        _ => Harness::<256, SECTOR>::run(&input),
    }
}

type Model = BTreeMap<u16, Vec<u8>>;
type Flash<const W: usize, const E: usize> = PowerCut<RamFlash<W, E>>;

struct Harness<const W: usize, const E: usize> {
    store: Option<Store<Flash<W, E>>>,
    /// The expected contents; `None` when unknown (after an error on a store mounted from a fuzzed image).
    model: Option<Model>,
    /// The store's history is known: formatted by the harness and only used through the API since.
    trusted: bool,
    /// A power cut is armed (cut at most once per run).
    armed: bool,
}

fn pattern(len: usize, p: u8, fid: u16) -> Vec<u8> {
    match p {
        0xFF => vec![0xFF; len],
        0x00 => vec![0x00; len],
        _ => (0..len)
            .map(|i| (i as u8).wrapping_mul(p) ^ (fid as u8) ^ ((i >> 8) as u8))
            .collect(),
    }
}

impl<const W: usize, const E: usize> Harness<W, E> {
    fn run(input: &Input<'_>) {
        let flash = RamFlash::<W, E>::from_image(input.image.clone());
        let flash = match input.cut {
            Some(k) => PowerCut::new(flash, k, k ^ 0xA5A5),
            None => PowerCut::counting(flash),
        };
        let mut h = Harness::<W, E> {
            store: None,
            model: None,
            trusted: false,
            armed: input.cut.is_some(),
        };
        match Store::mount(flash) {
            Ok(s) => {
                h.store = Some(s);
                if h.cut() {
                    h.after_cut(None, None);
                } else {
                    h.model = h.read_model();
                }
            }
            Err(_) => return,
        }
        let mut c = Cursor { d: input.ops, i: 0 };
        for _ in 0..MAX_OPS {
            if c.done() || h.store.is_none() {
                break;
            }
            h.op(&mut c);
        }
        if h.store.is_some() {
            h.check_all();
        }
    }

    fn store(&mut self) -> &mut Store<Flash<W, E>> {
        self.store.as_mut().expect("store mounted")
    }

    /// Reads every file; checks fids ascending, `contains` and `len` against `read_all`.
    fn read_model(&mut self) -> Option<Model> {
        let store = self.store();
        let fids: Vec<u16> = store.fids().collect();
        assert!(
            fids.windows(2).all(|w| w[0] < w[1]),
            "fids() not strictly ascending: {fids:04X?}"
        );
        let mut m = Model::new();
        for f in fids {
            assert!(store.contains(f), "fids() lists {f:04X} but contains() is false");
            match store.read_all(f) {
                Ok(d) => {
                    assert_eq!(store.len(f), Some(d.len()), "len({f:04X}) differs from read_all");
                    m.insert(f, d);
                }
                Err(e) => {
                    assert!(!self.trusted, "read_all({f:04X}) of a listed file failed: {e:?}");
                    return None;
                }
            }
        }
        Some(m)
    }

    fn check_all(&mut self) {
        let got = self.read_model();
        if let (Some(model), Some(got)) = (&self.model, &got) {
            assert!(
                model == got,
                "store contents differ from the model: {}",
                diff(Some(model), got)
            );
        }
    }

    /// An operation failed with `e` without a power cut.
    fn unexpected(&mut self, what: &str, e: Error) {
        assert!(
            !self.trusted,
            "{what} failed with {e:?} on a store formatted by the harness"
        );
        self.model = None;
    }

    fn op(&mut self, c: &mut Cursor<'_>) {
        let code = c.u8();
        if tracing() {
            let free = self.store().free_space();
            eprintln!(
                "op {} trusted={} armed={} free={free} files: {}",
                [
                    "write", "read", "delete", "retain", "remount", "format", "check", "fill"
                ][usize::from(code & 7)],
                self.trusted,
                self.armed,
                summary(self.model.as_ref())
            );
        }
        let before = self.model.clone();
        let after: Option<Model>;
        match code & 7 {
            op::WRITE | op::FILL => {
                let fid = FIDS[usize::from(c.u8()) % FIDS.len()];
                let max = self.store().max_file_size();
                let (len, p) = if code & 7 == op::FILL {
                    (max.min(self.store().free_space()), 0x5A)
                } else {
                    let l = c.u8();
                    let n = usize::from(l & 0x3F);
                    let len = match l >> 6 {
                        0 => n,
                        1 => n * 64,
                        2 => n * 1024,
                        _ => (max + n).saturating_sub(32),
                    };
                    (len, c.u8())
                };
                let data = pattern(len, p, fid);
                // free_space() is "the largest new file that fits"; 0 does not tell whether an empty file
                // still fits, so only a positive free space is a promise.
                let free = self.store().free_space();
                let fits = len <= max && len <= free && free > 0;
                let is_new = self.model.as_ref().is_some_and(|m| !m.contains_key(&fid));
                after = self.model.clone().map(|mut m| {
                    m.insert(fid, data.clone());
                    m
                });
                let result = self.store().write(fid, &data);
                trace!("  write({fid:04X}, {len} bytes) -> {result:?}");
                match result {
                    Ok(()) => {
                        if !self.cut() {
                            let back = self.store().read_all(fid);
                            assert_eq!(back.as_deref(), Ok(&data[..]), "read after write of {fid:04X}");
                            self.model = after.clone();
                        }
                    }
                    Err(Error::TooLarge) => assert!(len > max, "TooLarge for {len} <= max_file_size {max}"),
                    Err(Error::Full) if !self.cut() => {
                        assert!(
                            !(self.trusted && fits && is_new),
                            "Full for a new file of {len} bytes with free_space {} (max {max})",
                            self.store().free_space()
                        );
                    }
                    Err(e) if !self.cut() => self.unexpected("write", e),
                    Err(_) => {}
                }
            }
            op::READ => {
                let fid = FIDS[usize::from(c.u8()) % FIDS.len()];
                let offset = usize::from(c.u16());
                let mut buf = vec![0u8; usize::from(c.u16()) % 8192];
                after = before.clone();
                let r = self.store().read(fid, offset, &mut buf);
                trace!("  read({fid:04X}, {offset}, {} bytes) -> {r:?}", buf.len());
                if let Some(m) = &self.model {
                    match (m.get(&fid), r) {
                        (None, Err(Error::NotFound)) => {}
                        (Some(d), Ok(n)) => {
                            let want = d.get(offset..).unwrap_or_default();
                            let want = &want[..want.len().min(buf.len())];
                            assert_eq!(&buf[..n], want, "read({fid:04X}, {offset}, {})", buf.len());
                        }
                        (expected, r) => {
                            let e = match r {
                                Err(e) => e,
                                Ok(_) => panic!("read({fid:04X}) found a file the model does not have"),
                            };
                            assert!(expected.is_some() || e != Error::NotFound);
                            self.unexpected("read", e);
                        }
                    }
                }
            }
            op::DELETE => {
                let fid = FIDS[usize::from(c.u8()) % FIDS.len()];
                after = self.model.clone().map(|mut m| {
                    m.remove(&fid);
                    m
                });
                let result = self.store().delete(fid);
                trace!("  delete({fid:04X}) -> {result:?}");
                match result {
                    Ok(existed) => {
                        if let Some(m) = &before {
                            assert_eq!(existed, m.contains_key(&fid), "delete({fid:04X}) return value");
                        }
                        if !self.cut() {
                            assert!(!self.store().contains(fid), "{fid:04X} still there after delete");
                            self.model = after.clone();
                        }
                    }
                    // Writes keep room for deletes: Full is an error like any other here.
                    Err(e) if !self.cut() => self.unexpected("delete", e),
                    Err(_) => {}
                }
            }
            op::RETAIN => {
                let bit = c.u8() % 4;
                let keep = move |f: u16| FIDS.iter().position(|&x| x == f).is_none_or(|i| (i >> bit) & 1 == 0);
                after = self.model.clone().map(|mut m| {
                    m.retain(|f, _| keep(*f));
                    m
                });
                let gone: Vec<u16> = self.store().fids().filter(|f| !keep(*f)).collect();
                let result = self.store().retain(keep);
                trace!("  retain(deleting {gone:04X?}) -> {result:?}");
                match result {
                    Ok(()) => {
                        if !self.cut() {
                            self.model = after.clone();
                        }
                    }
                    // A group needs one record per listed file plus a commit; only 4 records are
                    // reserved (for single deletes), so a retain may be refused on a full store.
                    Err(Error::Full) if !self.cut() => {}
                    Err(e) if !self.cut() => self.unexpected("retain", e),
                    Err(_) => {}
                }
            }
            op::REMOUNT => {
                after = before.clone();
                let flash = self.store.take().expect("store mounted").into_flash();
                self.remount(flash, before.clone(), after.clone(), "remount");
                return;
            }
            op::FORMAT => {
                let flash = self.store.take().expect("store mounted").into_flash();
                match Store::format(flash) {
                    Ok(s) => {
                        self.store = Some(s);
                        if self.cut() {
                            // A torn format leaves something; only "mounts or errors, no panic" is required.
                            self.trusted = false;
                            self.after_cut(None, None);
                        } else {
                            self.trusted = true;
                            self.model = Some(Model::new());
                            assert_eq!(self.store().fids().count(), 0, "files left after format");
                        }
                    }
                    Err(e) => {
                        // The geometry was accepted by the first mount, so only a power cut may make a
                        // format fail. The store is gone either way (format consumed the flash).
                        assert!(self.armed, "format failed with {e:?} without a power cut");
                    }
                }
                return;
            }
            op::CHECK => {
                self.check_all();
                return;
            }
            _ => unreachable!(),
        }
        if self.store.is_some() && self.cut() {
            self.after_cut(before, after);
        }
    }

    fn cut(&mut self) -> bool {
        self.armed && self.store.as_mut().is_some_and(|s| s.flash_mut().is_cut())
    }

    /// The power was cut during an operation: reboot and check the state is the old or the new one.
    fn after_cut(&mut self, before: Option<Model>, after: Option<Model>) {
        self.armed = false;
        let flash = self.store.take().expect("store mounted").into_flash();
        self.remount(flash, before, after, "remount after a power cut");
    }

    fn remount(&mut self, flash: Flash<W, E>, before: Option<Model>, after: Option<Model>, what: &str) {
        let was_cut = flash.is_cut();
        let flash = if was_cut {
            PowerCut::counting(flash.into_inner())
        } else {
            flash
        };
        if was_cut {
            self.armed = false;
        }
        // With a cut still armed the mount itself may be torn (and mount consumes the flash).
        let may_be_cut = self.armed;
        match Store::mount(flash) {
            Ok(s) => self.store = Some(s),
            Err(e) => {
                assert!(!self.trusted || may_be_cut, "{what} failed with {e:?}");
                return;
            }
        }
        if self.cut() {
            self.after_cut(None, None);
            return;
        }
        let got = self.read_model();
        trace!("  {what} -> files: {}", summary(got.as_ref()));
        if persistent()
            && self.trusted
            && let Some(got) = &got
        {
            let ok = before.as_ref().is_some_and(|b| b == got) || after.as_ref().is_some_and(|a| a == got);
            let known = before.is_some() || after.is_some();
            assert!(
                !known || ok,
                "{what}: contents are neither the state before nor after the operation: {}",
                diff(before.as_ref().or(after.as_ref()), got)
            );
        }
        // The RAM-only skeleton forgets its files on remount: continue from what the store holds.
        self.model = got;
    }
}

/// What `got` has that `want` does not, and the other way round (for panic messages).
fn diff(want: Option<&Model>, got: &Model) -> String {
    let Some(want) = want else {
        return String::from("expected state unknown");
    };
    let mut parts = Vec::new();
    for (f, d) in got {
        match want.get(f) {
            None => parts.push(format!("{f:04X} ({} bytes) reappeared", d.len())),
            Some(w) if w != d => parts.push(format!("{f:04X} has {} bytes, expected {}", d.len(), w.len())),
            _ => {}
        }
    }
    for (f, w) in want {
        if !got.contains_key(f) {
            parts.push(format!("{f:04X} ({} bytes) lost", w.len()));
        }
    }
    parts.join(", ")
}
