//! Regression tests: files deleted by `retain` in a full store must stay deleted after a remount.
//!
//! Found by the `store_image` fuzz target (`fuzz/regressions/store_image/deleted_files_resurrect_after_remount`
//! and `group_delete_lost_w256`): in a full store, garbage collection ran in the middle of the retain
//! and copied the data of the files being deleted past their `DelGroup` records; when the sector holding
//! those records was reclaimed later, the records were dropped and the files came back at mount.

use std::collections::BTreeMap;

use hsm_store::Store;
use hsm_store::flash::RamFlash;

#[test]
fn retain_in_full_store_then_delete_survives_remount() {
    let mut s = Store::format(RamFlash::<1, 4096>::new(8 * 4096)).unwrap();
    s.write(0xCF01, &[0x33; 2048]).unwrap();
    s.write(0x00FF, &[0xFF; 3]).unwrap();
    s.write(0x0000, &[0x00; 2]).unwrap();
    s.write(0x2F03, &[0x77; 3520]).unwrap();
    let n = s.free_space();
    s.write(0x0000, &vec![0x5A; n]).unwrap(); // store full
    s.write(0xCD01, &[]).unwrap();
    s.retain(|f| !matches!(f, 0xCF01 | 0xCD01 | 0x00FF)).unwrap();
    s.delete(0x2F03).unwrap();
    let before: Vec<u16> = s.fids().collect();
    assert_eq!(before, [0x0000]);
    let mut s = Store::mount(s.into_flash()).unwrap();
    let after: Vec<u16> = s.fids().collect();
    assert_eq!(after, before, "files deleted by retain came back");
    assert_eq!(s.read_all(0x0000).unwrap(), vec![0x5A; n]);
}

#[test]
fn retain_in_full_store_then_write_survives_remount_w256() {
    let mut s = Store::format(RamFlash::<256, 4096>::blank(55 * 4096)).unwrap();
    s.write(0xCF01, &[]).unwrap();
    s.write(0x2F03, &[1; 9]).unwrap();
    s.write(0x2F03, &[2; 9]).unwrap();
    let n = s.free_space();
    s.write(0xCD01, &vec![0x5A; n]).unwrap(); // store full
    s.retain(|f| f == 0xCD01).unwrap(); // deletes 2F03 and CF01 as one group
    assert_eq!(s.fids().collect::<Vec<_>>(), [0xCD01]);
    // The group spans two sectors and garbage collection ran inside it (the store was full), copying
    // the data of CF01 and 2F03 past the first DelGroup records: those records stay on flash (and take
    // room) until the sector holding the commit is reclaimed. A write that fits goes through, and one
    // that does not is refused before it writes anything.
    let free = s.free_space();
    match s.write(0x2F03, &[3; 9]) {
        Ok(()) => assert!(s.contains(0x2F03)),
        Err(e) => {
            assert!(free < 9, "{e:?} with free_space {free}");
            assert!(!s.contains(0x2F03));
        }
    }
    let mut model: Vec<(u16, Vec<u8>)> = s.fids().map(|f| (f, Vec::new())).collect();
    for (f, d) in &mut model {
        *d = s.read_all(*f).unwrap();
    }
    let mut s = Store::mount(s.into_flash()).unwrap();
    let after: Vec<u16> = s.fids().collect();
    assert_eq!(
        after,
        model.iter().map(|m| m.0).collect::<Vec<_>>(),
        "file deleted by retain came back"
    );
    for (f, d) in &model {
        assert_eq!(&s.read_all(*f).unwrap(), d);
    }
    // Free the store, then push garbage collection through the whole log (past the sectors holding the
    // group's records) with a few large writes, remounting after each.
    s.delete(0xCD01).unwrap();
    let mut expect: BTreeMap<u16, Vec<u8>> = model.into_iter().filter(|m| m.0 != 0xCD01).collect();
    for (k, fid) in [0x1000u16, 0x1001, 0x1000, 0x1001].into_iter().enumerate() {
        let data = vec![k as u8; s.free_space().min(s.max_file_size() / 3)];
        s.write(fid, &data).unwrap();
        expect.insert(fid, data);
        s = Store::mount(s.into_flash()).unwrap();
        let got: BTreeMap<u16, Vec<u8>> = s
            .fids()
            .collect::<Vec<_>>()
            .into_iter()
            .map(|f| (f, s.read_all(f).unwrap()))
            .collect();
        assert_eq!(got, expect, "after write {k}");
    }
}

#[test]
fn retain_in_full_store_then_write_survives_remount_w256_as_reported() {
    // Program B of the report, with the write it made: the deleted file must not come back whether the
    // write fits or not.
    let mut s = Store::format(RamFlash::<256, 4096>::blank(55 * 4096)).unwrap();
    s.write(0xCF01, &[]).unwrap();
    s.write(0x2F03, &[1; 9]).unwrap();
    s.write(0x2F03, &[2; 9]).unwrap();
    let n = s.free_space();
    s.write(0xCD01, &vec![0x5A; n]).unwrap();
    s.retain(|f| f == 0xCD01).unwrap();
    let _ = s.write(0x2F03, &[3; 9]);
    let before: Vec<u16> = s.fids().collect();
    let s = Store::mount(s.into_flash()).unwrap();
    assert_eq!(s.fids().collect::<Vec<_>>(), before);
    assert!(!s.contains(0xCF01));
}
