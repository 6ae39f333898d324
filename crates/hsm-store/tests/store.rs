//! Functional tests of the store: capacity, large files, deletes and wipes across garbage collection,
//! format, geometry.

mod common;

use common::{Model, Rng, state};
use hsm_store::flash::{PowerCut, RamFlash};
use hsm_store::{Error, Store};

fn remount<const W: usize, const E: usize>(s: Store<RamFlash<W, E>>) -> Store<RamFlash<W, E>> {
    Store::mount(s.into_flash()).expect("remount")
}

#[test]
fn blank_flash_mounts_empty_and_writes_nothing() {
    let s = Store::mount(RamFlash::new(64 * 1024)).unwrap();
    assert!(s.is_empty());
    assert_eq!(s.stats().bytes_written, 0);
    assert!(s.into_flash().as_bytes().iter().all(|&b| b == 0xFF));
}

#[test]
fn large_files_span_sectors() {
    let mut s = Store::mount(RamFlash::new(512 * 1024)).unwrap();
    let mut rng = Rng(9);
    let a = rng.bytes(120_000);
    let b = rng.bytes(64 * 1024);
    s.write(0x1000, &a).unwrap();
    s.write(0x1001, &b).unwrap();
    let mut s = remount(s);
    assert_eq!(s.read_all(0x1000).unwrap(), a);
    assert_eq!(s.read_all(0x1001).unwrap(), b);
    // Reads at arbitrary offsets and lengths, across record boundaries.
    for _ in 0..500 {
        let off = rng.below(a.len() as u64 + 10) as usize;
        let mut buf = vec![0u8; rng.below(9000) as usize];
        let n = s.read(0x1000, off, &mut buf).unwrap();
        let expect = a.get(off..).map_or(&[][..], |t| &t[..t.len().min(buf.len())]);
        assert_eq!(&buf[..n], expect);
    }
}

#[test]
fn max_file_size_is_close_to_capacity_minus_reserve() {
    for sectors in [4usize, 16, 64, 1024] {
        let s = Store::mount(RamFlash::new(sectors * 4096)).unwrap();
        let max = s.max_file_size();
        let reserve_free = (sectors - 1) * 4096;
        assert!(
            max * 100 >= reserve_free * 96,
            "{sectors} sectors: max {max} vs {reserve_free}"
        );
        assert_eq!(s.free_space(), max);
        let mut s = s;
        let data = Rng(sectors as u64).bytes(max);
        s.write(7, &data).unwrap();
        assert_eq!(s.write(8, &data[..max]), Err(Error::Full));
        assert_eq!(s.write(9, &vec![0; max + 1]), Err(Error::TooLarge));
        let mut s = remount(s);
        assert_eq!(s.read_all(7).unwrap(), data);
        // A full store can still delete.
        assert!(s.delete(7).unwrap());
        assert!(s.free_space() + 4096 >= max, "{} vs {max}", s.free_space());
    }
}

#[test]
fn free_space_is_honoured_under_churn() {
    // Writing up to free_space always succeeds, whatever the fragmentation.
    let mut rng = Rng(77);
    let mut s = Store::mount(RamFlash::<1, 1024>::blank(24 * 1024)).unwrap();
    let mut model = Model::new();
    for i in 0..3000u32 {
        let fid = rng.below(12) as u16;
        let free = s.free_space();
        if free == 0 {
            let victim = *model.keys().next().unwrap();
            s.delete(victim).unwrap();
            model.remove(&victim);
            continue;
        }
        let n = if rng.below(4) == 0 {
            free
        } else {
            rng.below(free.min(3000) as u64 + 1) as usize
        };
        let data = rng.bytes(n);
        match s.write(fid, &data) {
            Ok(()) => {
                model.insert(fid, data);
            }
            Err(e) => panic!("step {i}: write of {n} bytes with free_space {free}: {e:?}"),
        }
        if rng.below(3) == 0 {
            let victim = rng.below(12) as u16;
            s.delete(victim).unwrap();
            model.remove(&victim);
        }
        if i % 97 == 0 {
            s = remount(s);
            assert_eq!(state(&mut s).unwrap(), model);
        }
    }
}

#[test]
fn retain_with_gc_in_the_middle() {
    // Two sectors: the group records of a retain overflow the head sector, so the garbage collector
    // reclaims the very sector that holds the first of them (they must be copied, uncommitted as they are).
    let mut collected = 0;
    for filler in 0..60usize {
        for keep in [10u16, 5] {
            let mut s = Store::mount(RamFlash::<1, 1024>::blank(2 * 1024)).unwrap();
            s.write(999, &vec![1; filler * 7]).unwrap();
            s.delete(999).unwrap();
            for fid in 0..20u16 {
                s.write(fid, &[fid as u8]).unwrap();
            }
            let erased = s.stats().sectors_erased;
            // keep 10: 10 group deletes; keep 5: a wipe with 5 keep records.
            s.retain(|f| f < keep).unwrap();
            collected += usize::from(s.stats().sectors_erased > erased);
            let mut s = remount(s);
            assert_eq!(
                s.fids().collect::<Vec<_>>(),
                (0..keep).collect::<Vec<_>>(),
                "filler {filler}"
            );
            assert_eq!(s.read_all(keep - 1).unwrap(), vec![keep as u8 - 1]);
        }
    }
    assert!(collected > 10, "garbage collection ran during only {collected} retains");
}

#[test]
fn wipe_survives_garbage_collection_cycles() {
    // A retain that keeps few files is a wipe with keep records; the keep records must travel with the
    // garbage collector while the wipe is on flash (they span several sectors here), and deleted files
    // must never come back.
    let mut rng = Rng(5);
    let mut s = Store::mount(RamFlash::<1, 1024>::blank(64 * 1024)).unwrap();
    for fid in 0..400u16 {
        s.write(fid, &rng.bytes(10)).unwrap();
    }
    let mut kept = state(&mut s).unwrap();
    kept.retain(|f, _| f % 4 == 1);
    s.retain(|f| f % 4 == 1).unwrap();
    for i in 0..600u32 {
        let d = rng.bytes_below(600);
        s.write(1000 + (i % 3) as u16, &d).unwrap();
        if i % 3 == 0 {
            s = remount(s);
            let mut files = state(&mut s).unwrap();
            files.retain(|&f, _| f < 1000);
            assert_eq!(files, kept, "after {i} writes");
        }
    }
}

#[test]
fn deleted_files_stay_deleted_across_gc() {
    let mut rng = Rng(6);
    let mut s = Store::mount(RamFlash::<1, 1024>::blank(8 * 1024)).unwrap();
    let mut model = Model::new();
    for i in 0..2000u32 {
        let fid = rng.below(6) as u16;
        if rng.below(3) == 0 {
            s.delete(fid).unwrap();
            model.remove(&fid);
        } else {
            let d = rng.bytes_below(400);
            s.write(fid, &d).unwrap();
            model.insert(fid, d);
        }
        if i % 31 == 0 {
            s = remount(s);
            assert_eq!(state(&mut s).unwrap(), model, "step {i}");
        }
    }
}

#[test]
fn max_files() {
    let mut s = Store::mount(RamFlash::new(1024 * 1024)).unwrap();
    for fid in 0..4096u16 {
        s.write(fid, &fid.to_le_bytes()).unwrap();
    }
    assert_eq!(s.write(5000, b"x"), Err(Error::Full));
    s.write(17, b"replace is fine").unwrap();
    let mut s = remount(s);
    assert_eq!(s.fids().count(), 4096);
    assert_eq!(s.read_all(4095).unwrap(), 4095u16.to_le_bytes());
    s.retain(|f| f % 2 == 0).unwrap();
    let s = remount(s);
    assert_eq!(s.fids().count(), 2048);
}

#[test]
fn format_is_atomic() {
    let mut rng = Rng(8);
    let mut s = Store::mount(RamFlash::<1, 1024>::blank(16 * 1024)).unwrap();
    for fid in 0..10u16 {
        s.write(fid, &rng.bytes(500)).unwrap();
    }
    let mut s = remount(s);
    let before = state(&mut s).unwrap();
    let img = s.into_flash().into_bytes();
    let mut counting = PowerCut::counting(RamFlash::<1, 1024>::from_image(img.clone()));
    drop(Store::format(&mut counting).unwrap());
    for cut in 0..counting.ops() {
        let mut ram = RamFlash::<1, 1024>::from_image(img.clone());
        assert!(Store::format(PowerCut::new(&mut ram, cut, cut)).is_err());
        let mut s = Store::mount(&mut ram).unwrap();
        let got = state(&mut s).unwrap();
        assert!(got == before || got.is_empty(), "cut {cut}: {} files", got.len());
        s.write(1, b"usable").unwrap();
    }
}

#[test]
fn format_recovers_garbage() {
    let mut ram = RamFlash::<1, 1024>::blank(8 * 1024);
    for (i, b) in ram.as_bytes_mut().iter_mut().enumerate() {
        *b = (i * 31 % 251) as u8;
    }
    assert_eq!(Store::mount(&mut ram).err(), Some(Error::Corrupt));
    let mut s = Store::format(&mut ram).unwrap();
    s.write(1, b"x").unwrap();
    let mut s = Store::mount(&mut ram).unwrap();
    assert_eq!(s.read_all(1).unwrap(), b"x");
}

#[test]
fn geometry_is_checked() {
    assert_eq!(Store::mount(RamFlash::new(4096)).err(), Some(Error::Geometry)); // one sector
    assert_eq!(
        Store::mount(RamFlash::<1, 128>::blank(8192)).err(),
        Some(Error::Geometry)
    );
    assert_eq!(
        Store::mount(RamFlash::<3, 4096>::blank(8192)).err(),
        Some(Error::Geometry)
    );
    assert_eq!(
        Store::mount(RamFlash::<512, 4096>::blank(8192)).err(),
        Some(Error::Geometry)
    );
    assert!(Store::mount(RamFlash::<256, 4096>::blank(8192)).is_ok());
}

#[test]
fn flash_error_poisons_until_remount() {
    let mut ram = RamFlash::new(64 * 1024);
    let mut s = Store::mount(PowerCut::new(&mut ram, 3, 1)).unwrap();
    s.write(1, b"a").unwrap(); // open sector + header + data = ops 0..2
    assert_eq!(s.write(2, b"b"), Err(Error::Flash));
    assert_eq!(s.write(3, b"c"), Err(Error::Flash));
    assert_eq!(s.delete(1), Err(Error::Flash));
    drop(s);
    let mut s = Store::mount(&mut ram).unwrap();
    assert_eq!(s.read_all(1).unwrap(), b"a");
    s.write(3, b"c").unwrap();
}

#[test]
fn corrupted_data_is_reported_not_returned() {
    let mut s = Store::mount(RamFlash::new(64 * 1024)).unwrap();
    s.write(1, &[0x55; 10_000]).unwrap();
    s.write(2, b"fine").unwrap();
    let mut ram = s.into_flash();
    // Flip a bit in the first data record of file 1 (after the sector header slot, done slot and one
    // record header).
    ram.as_bytes_mut()[20 + 8 + 24 + 100] ^= 0x01;
    let mut s = Store::mount(ram).unwrap();
    assert_eq!(s.read_all(1), Err(Error::Corrupt));
    assert_eq!(s.read_all(2).unwrap(), b"fine");
    // The broken file can be replaced.
    s.write(1, b"new").unwrap();
    assert_eq!(s.read_all(1).unwrap(), b"new");
}

#[test]
fn wear_levels_out() {
    let mut rng = Rng(10);
    let mut s = Store::mount(RamFlash::new(64 * 4096)).unwrap();
    // Static data plus one hot file.
    for fid in 0..20u16 {
        s.write(fid, &rng.bytes(4000)).unwrap();
    }
    for i in 0..20_000u32 {
        s.write(0xFFFF, &i.to_le_bytes().repeat(64)).unwrap();
    }
    let ram = s.into_flash();
    let counts = ram.erase_counts();
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    println!("erase counts: min {min} max {max}");
    assert!(max - min <= 2, "min {min} max {max}");
}
