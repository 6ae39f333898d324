//! Damaged images (flipped bits, destroyed headers, bytes overwritten): mount repairs what it can be sure
//! of, reports the rest, and never loses data silently. A file reads its last committed content or
//! `Corrupt`, never an older version and never `NotFound`; nothing that held data is erased.

mod common;

use std::collections::BTreeSet;

use common::{Model, Rng, random_op, state};
use hsm_store::flash::RamFlash;
use hsm_store::{Error, MountReport, Store};

/// The on-flash layout, read independently of the store (see the crate documentation).
mod layout {
    use crc::{CRC_32_ISCSI, Crc};

    const CRC: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

    fn word(b: &[u8], i: usize) -> u32 {
        u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
    }

    /// A record of a sector: offset in the image, type, fid, data range in the image, data checks.
    #[derive(Clone, Debug)]
    pub struct Rec {
        pub at: usize,
        pub kind: u8,
        pub fid: u16,
        pub data: std::ops::Range<usize>,
        pub data_ok: bool,
    }

    pub fn round(v: usize, a: usize) -> usize {
        v.div_ceil(a) * a
    }

    /// Sequence number of sector `i` if its header checks.
    pub fn seq(img: &[u8], e: usize, i: usize) -> Option<u32> {
        let h = &img[i * e..i * e + 20];
        (h[..4] == *b"PHSF" && CRC.checksum(&h[..16]) == word(h, 16)).then(|| word(h, 8))
    }

    /// The records of sector `i` (write size `w`), parsed slot by slot like the store does.
    pub fn records(img: &[u8], e: usize, w: usize, i: usize) -> Vec<Rec> {
        let (sh, ds, hs) = (round(20, w), round(8, w), round(24, w));
        let base = i * e;
        let s = &img[base..base + e];
        let mut out = Vec::new();
        let mut p = sh + ds;
        while p + hs <= e {
            let r = &s[p..p + 24];
            if s[p..p + hs].iter().all(|&b| b == 0xFF) {
                break;
            }
            if CRC.checksum(&r[..20]) == word(r, 20) {
                let len = word(r, 12) as usize;
                let data = base + p + hs..base + p + hs + len;
                out.push(Rec {
                    at: base + p,
                    kind: r[0],
                    fid: u16::from_le_bytes([r[2], r[3]]),
                    data_ok: CRC.checksum(&img[data.clone()]) == word(r, 16),
                    data,
                });
                p += hs + round(len, w);
            } else {
                p += hs;
            }
        }
        out
    }

    /// The newest sector (largest sequence number) and the byte range of its last record.
    pub fn last_record(img: &[u8], e: usize, w: usize) -> Option<std::ops::Range<usize>> {
        let head = (0..img.len() / e)
            .filter_map(|i| seq(img, e, i).map(|s| (s, i)))
            .max()?
            .1;
        let r = records(img, e, w, head).pop()?;
        Some(r.at..r.data.end.max(r.at + 24))
    }
}

const E: usize = 4096;

/// 20 files of about 3000 bytes, each distinct, written to a fresh 32-sector store.
fn twenty_files(churn: bool) -> (Vec<u8>, Model) {
    let mut rng = Rng(20);
    let mut s = Store::mount(RamFlash::new(32 * E)).unwrap();
    let mut model = Model::new();
    for fid in 0..20u16 {
        let data = distinct(&mut rng, 2900 + usize::from(fid) * 10);
        s.write(0x100 + fid, &data).unwrap();
        model.insert(0x100 + fid, data);
    }
    if churn {
        // Replace files until the log has wrapped round the flash more than once.
        for i in 0..200u16 {
            let fid = 0x100 + i % 7;
            let data = distinct(&mut rng, 3000);
            s.write(fid, &data).unwrap();
            model.insert(fid, data);
        }
    }
    (s.into_flash().into_bytes(), model)
}

/// Content no other file or version shares.
fn distinct(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next() as u8).collect()
}

/// Sectors holding a live (data checks) record of a file.
fn live_sectors(img: &[u8], fid: u16) -> BTreeSet<usize> {
    (0..img.len() / E)
        .filter(|&i| {
            layout::records(img, E, 1, i)
                .iter()
                .any(|r| r.fid == fid && matches!(r.kind, 0x11 | 0x12) && r.data_ok && !r.data.is_empty())
        })
        .collect()
}

fn log_sectors(img: &[u8]) -> Vec<usize> {
    (0..img.len() / E)
        .filter(|&i| layout::seq(img, E, i).is_some())
        .collect()
}

fn newest_sector(img: &[u8]) -> usize {
    (0..img.len() / E)
        .filter_map(|i| layout::seq(img, E, i).map(|s| (s, i)))
        .max()
        .unwrap()
        .1
}

/// The report: one bit flipped in the header of one log sector made mount erase the older
/// sectors, and every file in them was gone. Now the header is corrected and reported.
#[test]
fn one_flipped_bit_in_a_sector_header_is_repaired() {
    for churn in [false, true] {
        let (img, model) = twenty_files(churn);
        let head = newest_sector(&img);
        for sector in log_sectors(&img) {
            for bit in (0..160).step_by(7) {
                let mut damaged = img.clone();
                damaged[sector * E + bit / 8] ^= 1 << (bit % 8);
                let mut s = Store::mount(RamFlash::from_bytes(damaged.clone())).unwrap();
                assert_eq!(
                    state(&mut s).unwrap(),
                    model,
                    "sector {sector} bit {bit} (churn {churn})"
                );
                let r = s.report().clone();
                // The newest sector's header one bit short is also what a sector open cut by power
                // leaves: corrected without a report.
                let expect: Vec<u32> = if sector == head { vec![] } else { vec![sector as u32] };
                assert_eq!(r.repaired_sectors, expect, "sector {sector} bit {bit}");
                assert!(!r.data_at_risk() && r.erased_sectors.is_empty(), "{r:?}");
                if sector != head {
                    // Nothing was written or erased.
                    assert_eq!(s.into_flash().as_bytes(), &damaged[..], "sector {sector} bit {bit}");
                }
            }
        }
    }
}

/// A sector header destroyed beyond repair: the sector is placed (its neighbours give its place in the
/// log) or left unplaced; files with data in an unplaced sector read `Corrupt`, every other file reads
/// its content, and nothing is erased or written.
#[test]
fn destroyed_sector_header_is_placed_or_unplaced() {
    for churn in [false, true] {
        let (img, model) = twenty_files(churn);
        for sector in log_sectors(&img) {
            for pattern in [0x00u8, 0x5A] {
                let mut damaged = img.clone();
                damaged[sector * E..sector * E + 12].fill(pattern);
                let mut s = Store::mount(RamFlash::from_bytes(damaged.clone())).unwrap();
                let r = s.report().clone();
                let placed = r.placed_sectors.contains(&(sector as u32));
                let unplaced = r.unplaced_sectors.contains(&(sector as u32));
                assert!(placed ^ unplaced, "sector {sector} (churn {churn}): {r:?}");
                assert!(r.erased_sectors.is_empty(), "{r:?}");
                for (&fid, content) in &model {
                    let got = s.read_all(fid);
                    if unplaced && live_sectors(&img, fid).contains(&sector) {
                        assert_eq!(got, Err(Error::Corrupt), "fid {fid:#x} in unplaced sector {sector}");
                    } else {
                        assert_eq!(got.as_ref(), Ok(content), "fid {fid:#x}, sector {sector} {r:?}");
                    }
                }
                // The store keeps working: a new file fits, unless an unplaced sector follows a full head
                // (the log cannot grow past it).
                match s.write(0x42, b"after the damage") {
                    Err(Error::Full) if unplaced => continue,
                    r => r.unwrap(),
                }
                let img2 = s.into_flash().into_bytes();
                for i in (0..img.len() / E).filter(|&i| r.unplaced_sectors.contains(&(i as u32))) {
                    assert_eq!(
                        img2[i * E..(i + 1) * E],
                        damaged[i * E..(i + 1) * E],
                        "unplaced {i} touched"
                    );
                }
                let mut s = Store::mount(RamFlash::from_bytes(img2)).unwrap();
                assert_eq!(s.read_all(0x42).unwrap(), b"after the damage");
            }
        }
    }
}

/// A record header destroyed in the middle of a sector: the rest of the sector cannot be parsed. The
/// files it may hide read `Corrupt`; so does any file the store does not know (it cannot tell that it
/// does not exist). The sector is never reclaimed: writes fill the store, then `Full`.
#[test]
fn destroyed_record_header_hides_nothing_silently() {
    let (img, model) = twenty_files(false);
    let victim = layout::records(&img, E, 1, 5)[0].clone();
    let mut damaged = img.clone();
    damaged[victim.at + 4..victim.at + 12].fill(0x00);
    let mut s = Store::mount(RamFlash::from_bytes(damaged.clone())).unwrap();
    let r = s.report().clone();
    assert_eq!(r.unparsed_sectors, vec![5], "{r:?}");
    assert!(r.data_at_risk() && !r.is_clean());
    let hidden: BTreeSet<u16> = layout::records(&img, E, 1, 5).iter().map(|r| r.fid).collect();
    for (&fid, content) in &model {
        let got = s.read_all(fid);
        if hidden.contains(&fid) {
            assert_eq!(got, Err(Error::Corrupt), "fid {fid:#x}");
        } else {
            assert_eq!(got.as_ref(), Ok(content), "fid {fid:#x}");
        }
    }
    assert_eq!(s.read_all(0x7777), Err(Error::Corrupt), "an unknown file is in doubt");
    assert_eq!(s.read(0x7777, 0, &mut [0; 4]), Err(Error::Corrupt));
    // A file in doubt is certain again once written. (Deleted, it stays in doubt: a lost record may be
    // newer than the delete.)
    let mut doubt = hidden.iter().copied();
    let (a, b) = (doubt.next().unwrap(), doubt.next().unwrap());
    s.write(a, b"rewritten").unwrap();
    assert!(s.delete(b).unwrap());
    assert_eq!(s.read_all(a).unwrap(), b"rewritten");
    assert_eq!(s.read_all(b), Err(Error::Corrupt));
    // Garbage collection is off: the log grows into the free sectors, then the store is full, and the
    // damaged sector is never erased.
    let mut rng = Rng(5);
    let mut n = 0;
    loop {
        match s.write(0x200 + n % 50, &distinct(&mut rng, 3000)) {
            Ok(()) => n += 1,
            Err(Error::Full) => break,
            Err(e) => panic!("{e:?}"),
        }
        assert!(n < 1000);
    }
    assert!(s.stats().sectors_erased == 0);
    let img2 = s.into_flash().into_bytes();
    assert_eq!(img2[5 * E..6 * E], damaged[5 * E..6 * E]);
    let mut s = Store::mount(RamFlash::from_bytes(img2)).unwrap();
    assert_eq!(s.read_all(a).unwrap(), b"rewritten");
    assert_eq!(s.report().unparsed_sectors, vec![5]);
}

/// One flipped bit in the data of a file's current version (its last record): the file reads `Corrupt`,
/// not its previous version (overwritten) and not `NotFound`.
#[test]
fn damaged_current_version_reads_corrupt() {
    let (img, model) = twenty_files(true);
    let head = newest_sector(&img);
    let end = layout::last_record(&img, E, 1).unwrap();
    for (&fid, _) in model.iter().take(8) {
        let finals: Vec<_> = (0..img.len() / E)
            .flat_map(|i| layout::records(&img, E, 1, i))
            .filter(|r| r.fid == fid && r.kind == 0x12 && r.data_ok && !end.contains(&r.at))
            .collect();
        let Some(f) = finals.last() else { continue };
        let mut damaged = img.clone();
        damaged[f.data.start + f.data.len() / 2] ^= 0x10;
        let mut s = Store::mount(RamFlash::from_bytes(damaged)).unwrap();
        assert_eq!(s.read_all(fid), Err(Error::Corrupt), "fid {fid:#x} (head {head})");
        assert_eq!(s.report().damaged_files, vec![fid]);
        for (&other, content) in model.iter().filter(|(f, _)| **f != fid) {
            assert_eq!(s.read_all(other).as_ref(), Ok(content));
        }
        // Rewriting it heals it.
        s.write(fid, b"fresh").unwrap();
        let mut s = Store::mount(s.into_flash()).unwrap();
        assert_eq!(s.read_all(fid).unwrap(), b"fresh");
        assert!(s.report().is_clean(), "{:?}", s.report());
    }
}

/// A valid image after a random history, its model, and its geometry.
fn history<const W: usize, const EE: usize>(seed: u64, sectors: usize, ops: usize) -> (Vec<u8>, Model) {
    let mut rng = Rng(seed);
    let mut s = Store::mount(RamFlash::<W, EE>::blank(sectors * EE)).unwrap();
    let mut model = Model::new();
    for _ in 0..ops {
        let op = random_op(&mut rng, &model, 10, 3 * EE, &[EE, EE - 52, 1000]);
        if op.run(&mut s).is_ok() {
            op.apply(&mut model);
        }
    }
    (s.into_flash().into_bytes(), model)
}

/// Checks one damaged image against the undamaged one. Returns whether the damage changed a read
/// (only allowed for damage inside the last record of the log, which a write cut by power also leaves
/// looking damaged: see the crate documentation).
fn check_damage<const W: usize, const EE: usize>(img: &[u8], model: &Model, damaged: Vec<u8>, what: &str) -> bool {
    let Ok(mut s) = Store::mount(RamFlash::<W, EE>::from_image(damaged.clone())) else {
        return false;
    };
    let after = s.flash_mut().as_bytes().to_vec();
    let r: MountReport = s.report().clone();
    // Nothing that held data was erased: blanking each erased sector in the undamaged image changes
    // nothing a mount of it reads.
    for i in 0..img.len() / EE {
        let sector = i * EE..(i + 1) * EE;
        if after[sector.clone()].iter().all(|&b| b == 0xFF) && !damaged[sector.clone()].iter().all(|&b| b == 0xFF) {
            let mut blanked = img.to_vec();
            blanked[sector].fill(0xFF);
            let mut m = Store::mount(RamFlash::<W, EE>::from_image(blanked)).unwrap();
            assert_eq!(
                state(&mut m).as_ref(),
                Ok(model),
                "{what}: erased sector {i}, which held data ({r:?})"
            );
        }
    }
    let mut changed = false;
    let fids: BTreeSet<u16> = model.keys().copied().chain(s.fids()).chain(0..12).collect();
    for fid in fids {
        let got = s.read_all(fid);
        let fine = match (model.get(&fid), &got) {
            (_, Err(Error::Corrupt)) => true,
            (Some(c), Ok(v)) => c == v,
            (None, Err(Error::NotFound)) => true,
            _ => false,
        };
        changed |= !fine;
    }
    // Whatever mounted stays usable.
    let _ = s.write(0x4242, b"x");
    if let Ok(mut s) = Store::mount(s.into_flash()) {
        let _ = state(&mut s);
    }
    changed
}

fn random_damage<const W: usize, const EE: usize>(seeds: std::ops::Range<u64>, sectors: usize) -> (u32, u32) {
    let (mut tried, mut tail) = (0, 0);
    for seed in seeds {
        let (img, model) = history::<W, EE>(seed, sectors, 80);
        let end = layout::last_record(&img, EE, W).unwrap_or(0..0);
        let mut rng = Rng(seed ^ 0xDA);
        for k in 0..24 {
            let mut damaged = img.clone();
            let pos = rng.below(img.len() as u64) as usize;
            let what = if k % 2 == 0 {
                let bit = rng.below(8);
                damaged[pos] ^= 1 << bit;
                format!("seed {seed}: bit {bit} of byte {pos:#x} flipped")
            } else {
                let v = rng.next() as u8;
                damaged[pos] = v;
                format!("seed {seed}: byte {pos:#x} set to {v:#04x}")
            };
            tried += 1;
            if check_damage::<W, EE>(&img, &model, damaged, &what) {
                // A write cut by power leaves the last record of the log looking exactly like this.
                assert!(
                    end.contains(&pos),
                    "{what}: a file read neither its content nor Corrupt"
                );
                tail += 1;
            }
        }
    }
    (tried, tail)
}

/// Random single-bit and single-byte damage anywhere in images of every geometry: mount never panics,
/// never erases a sector that held data, and every file reads its last committed content or `Corrupt`
/// (damage inside the log's last record excepted, and counted).
#[test]
fn random_damage_never_loses_data_silently() {
    let runs = [
        ("W=1 E=1024", random_damage::<1, 1024>(0..120, 12)),
        ("W=4 E=1024", random_damage::<4, 1024>(200..260, 12)),
        ("W=256 E=4096", random_damage::<256, 4096>(300..340, 8)),
        ("W=1 E=4096", random_damage::<1, 4096>(400..440, 10)),
    ];
    for (name, (tried, tail)) in runs {
        println!("{name}: {tried} damaged images, {tail} changed a read through the log's last record");
    }
}
