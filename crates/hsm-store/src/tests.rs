//! Crafted hostile images: well-formed sector and record headers (valid CRCs) with arbitrary contents,
//! to reach the deep paths of mount, read and garbage collection.

use alloc::vec::Vec;

use proptest::prelude::*;

use crate::Store;
use crate::flash::RamFlash;
use crate::format::{DONE_LEN, Geometry, RecHeader, RecKind, SectorHeader, SectorKind, crc32, done_mark};

const E: usize = 1024;
const S: usize = 8;

#[derive(Clone, Debug)]
struct Rec {
    kind: u8,
    fid: u16,
    txn: u32,
    off: u32,
    len: u32,
    good_crc: bool,
}

fn rec_strategy() -> impl Strategy<Value = Rec> {
    (
        0u8..6,
        0u16..6,
        0u32..12,
        prop_oneof![Just(0u32), 0u32..2000, any::<u32>()],
        0u32..400,
        any::<bool>(),
    )
        .prop_map(|(kind, fid, txn, off, len, good_crc)| Rec {
            kind,
            fid,
            txn,
            off,
            len,
            good_crc,
        })
}

#[derive(Clone, Debug)]
struct Sector {
    kind: u8,
    seq: u32,
    src: u32,
    done: bool,
    recs: Vec<Rec>,
}

fn sector_strategy() -> impl Strategy<Value = Option<Sector>> {
    proptest::option::weighted(
        0.8,
        (
            0u8..3,
            0u32..12,
            0u32..12,
            any::<bool>(),
            proptest::collection::vec(rec_strategy(), 0..12),
        )
            .prop_map(|(kind, seq, src, done, recs)| Sector {
                kind,
                seq,
                src,
                done,
                recs,
            }),
    )
}

fn build(sectors: &[Option<Sector>]) -> Vec<u8> {
    let geo = Geometry::new(S * E, E, 1, 1).unwrap();
    let mut img = alloc::vec![0xFFu8; S * E];
    for (i, sec) in sectors.iter().enumerate() {
        let Some(sec) = sec else { continue };
        let base = i * E;
        let kind = [SectorKind::Normal, SectorKind::Gc, SectorKind::Format][sec.kind as usize % 3];
        let h = SectorHeader {
            kind,
            seq: sec.seq,
            src: sec.src,
        }
        .encode(&geo);
        img[base..base + h.len()].copy_from_slice(&h);
        if sec.done {
            let d = done_mark(sec.seq);
            img[base + geo.sh as usize..base + geo.sh as usize + DONE_LEN].copy_from_slice(&d);
        }
        let mut pos = geo.area_start() as usize;
        for r in &sec.recs {
            let kind = [
                RecKind::Chunk,
                RecKind::Final,
                RecKind::Del,
                RecKind::DelGroup,
                RecKind::Keep,
                RecKind::Commit,
            ][r.kind as usize % 6];
            let len = if matches!(kind, RecKind::Chunk | RecKind::Final) {
                r.len
            } else {
                0
            };
            let data: Vec<u8> = (0..len).map(|k| (k as u8).wrapping_mul(r.fid as u8 | 1)).collect();
            let dcrc = if r.good_crc { crc32(&data) } else { 0 };
            let off = if kind == RecKind::Commit {
                r.off % 2
            } else {
                r.off.min(u32::MAX - len)
            };
            let hdr = RecHeader {
                kind,
                fid: r.fid,
                txn: r.txn,
                off,
                len,
                dcrc,
            }
            .encode();
            let end = pos + geo.fp(len) as usize;
            if end > E {
                break;
            }
            img[base + pos..base + pos + hdr.len()].copy_from_slice(&hdr);
            img[base + pos + geo.hs as usize..base + pos + geo.hs as usize + data.len()].copy_from_slice(&data);
            pos = end;
        }
    }
    img
}

fn exercise(img: Vec<u8>) {
    let Ok(mut s) = Store::mount(RamFlash::<1, E>::from_image(img)) else {
        return;
    };
    let fids: Vec<u16> = s.fids().collect();
    for &f in &fids {
        let _ = s.read_all(f);
        let mut b = [0u8; 100];
        let _ = s.read(f, 50, &mut b);
    }
    let _ = s.free_space();
    for i in 0..40u16 {
        let _ = s.write(i % 7, &alloc::vec![i as u8; (i as usize * 53) % 900]);
        if i % 9 == 0 {
            let _ = s.retain(|f| f != i % 7);
        }
        if i % 5 == 0 {
            let _ = s.delete(i % 3);
        }
    }
    if let Ok(mut s) = Store::mount(s.into_flash()) {
        let fids: Vec<u16> = s.fids().collect();
        for f in fids {
            let _ = s.read_all(f);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn crafted_images(sectors in proptest::collection::vec(sector_strategy(), S..=S)) {
        exercise(build(&sectors));
    }
}
