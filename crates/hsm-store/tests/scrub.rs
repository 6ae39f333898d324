//! Overwrite on supersede: once an operation commits, the data it replaced or deleted is overwritten with
//! zeros in place, so no old version stays readable in the raw image, also after a power cut at any flash
//! operation (mount finishes the overwrite).

mod common;

use std::collections::HashSet;

use common::{Model, Rng, state};
use hsm_store::flash::{PowerCut, RamFlash};
use hsm_store::{Error, Store};

const E: usize = 4096;
const WINDOW: usize = 16;

/// Content no other file, version or store structure shares.
fn distinct(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next() as u8).collect()
}

/// Every `WINDOW`-byte window of the image.
fn windows(img: &[u8]) -> HashSet<&[u8]> {
    img.windows(WINDOW).collect()
}

/// How many `WINDOW`-byte windows of `data` (at every offset) occur in the image.
fn traces(index: &HashSet<&[u8]>, data: &[u8]) -> usize {
    data.windows(WINDOW).filter(|w| index.contains(*w)).count()
}

fn assert_gone(img: &[u8], data: &[u8], what: &str) {
    let n = traces(&windows(img), data);
    assert_eq!(n, 0, "{what}: {n} windows of the old data are still in the image");
}

/// The data is there (but for the windows across the record boundaries of a file stored in pieces).
fn assert_present(img: &[u8], data: &[u8], what: &str) {
    let n = traces(&windows(img), data);
    assert!(
        n * 10 >= (data.len() + 1 - WINDOW) * 9,
        "{what}: current data not found ({n} windows)"
    );
}

#[test]
fn replaced_deleted_and_wiped_data_leaves_no_trace() {
    let mut rng = Rng(1);
    let mut s = Store::mount(RamFlash::new(64 * E)).unwrap();
    // Small (one record) and large (chunks over several sectors) files.
    for len in [40, 3000, 20_000] {
        let old = distinct(&mut rng, len);
        let new = distinct(&mut rng, len);
        s.write(1, &old).unwrap();
        s.write(2, b"unrelated").unwrap();
        s.write(1, &new).unwrap();
        let img = s.flash_mut().as_bytes().to_vec();
        assert_gone(&img, &old, &format!("replaced {len}-byte file"));
        assert_present(&img, &new, "replacement");
        assert!(s.delete(1).unwrap());
        assert_gone(s.flash_mut().as_bytes(), &new, &format!("deleted {len}-byte file"));
    }
    // retain: by DelGroup records (few deleted) and by a wipe (most deleted).
    for keep_most in [true, false] {
        let files: Vec<(u16, Vec<u8>)> = (10..20u16).map(|f| (f, distinct(&mut rng, 1500))).collect();
        for (f, d) in &files {
            s.write(*f, d).unwrap();
        }
        let keep = |f: u16| {
            if keep_most {
                f != 11 && f != 12
            } else {
                f == 15 || f == 2
            }
        };
        s.retain(keep).unwrap();
        let img = s.flash_mut().as_bytes().to_vec();
        for (f, d) in &files {
            if keep(*f) {
                assert_present(&img, d, "kept file");
            } else {
                assert_gone(&img, d, &format!("file {f} removed by retain (keep most: {keep_most})"));
            }
        }
        s.retain(|f| f == 2).unwrap();
    }
    // Garbage collection copies live records only: after many passes over the flash no old version
    // survives anywhere.
    let mut versions = Vec::new();
    for i in 0..400 {
        let d = distinct(&mut rng, 2000 + i % 7 * 300);
        s.write(3 + (i % 5) as u16, &d).unwrap();
        versions.push(d);
    }
    let img = s.flash_mut().as_bytes().to_vec();
    let index = windows(&img);
    for (i, d) in versions.iter().enumerate().take(395) {
        assert_eq!(traces(&index, d), 0, "version {i}");
    }
    let mut s = Store::mount(s.into_flash()).unwrap();
    assert!(s.report().is_clean());
    assert_eq!(s.report().scrubbed_records, 0, "nothing left to overwrite at mount");
    assert_eq!(s.read_all(2).unwrap(), b"unrelated");
}

/// Overwriting needs a flash that can program a unit twice; without it the old data stays until
/// garbage collection, and a later `mount` (which overwrites) finishes the job.
#[test]
fn mount_overwrites_what_a_store_without_overwrite_left() {
    let mut rng = Rng(2);
    let mut s = Store::mount_without_overwrite(RamFlash::new(16 * E)).unwrap();
    let old = distinct(&mut rng, 2500);
    let gone = distinct(&mut rng, 2500);
    s.write(1, &old).unwrap();
    s.write(1, b"new").unwrap();
    s.write(2, &gone).unwrap();
    s.delete(2).unwrap();
    let img = s.into_flash().into_bytes();
    assert_present(&img, &old, "without overwrite");
    assert_present(&img, &gone, "without overwrite");
    let mut s = Store::mount(RamFlash::from_bytes(img)).unwrap();
    // The old version (one record) and the deleted file (one or two records).
    assert!(s.report().scrubbed_records >= 2, "{:?}", s.report());
    assert!(s.report().is_clean());
    let img = s.flash_mut().as_bytes().to_vec();
    assert_gone(&img, &old, "superseded version, after mount");
    assert_gone(&img, &gone, "deleted file, after mount");
    assert_eq!(s.read_all(1).unwrap(), b"new");
    assert_eq!(s.read_all(2), Err(Error::NotFound));
}

/// A store operation under test.
type Op<'a, const W: usize> = dyn Fn(&mut Store<PowerCut<RamFlash<W, E>>>) -> Result<(), Error> + 'a;

/// One operation run on `img` with a power cut at every flash operation: after remount the store holds
/// the old or the new state; once mount has run, no superseded data is in the image, nor any data of a
/// write that did not commit.
fn cut_everywhere<const W: usize>(img: &[u8], before: &Model, op: &Op<'_, W>, after: &Model, what: &str) {
    let mut counting = Store::mount(PowerCut::counting(RamFlash::<W, E>::from_image(img.to_vec()))).unwrap();
    op(&mut counting).unwrap();
    let n = counting.into_flash().ops();
    // Data that must not survive in either outcome, and data that must not survive in each.
    let old: Vec<&Vec<u8>> = before
        .iter()
        .filter(|(f, d)| after.get(f) != Some(d))
        .map(|(_, d)| d)
        .collect();
    let new: Vec<&Vec<u8>> = after
        .iter()
        .filter(|(f, d)| before.get(f) != Some(d))
        .map(|(_, d)| d)
        .collect();
    for cut in 0..n {
        let mut s = Store::mount(PowerCut::new(
            RamFlash::<W, E>::from_image(img.to_vec()),
            cut,
            cut * 7 + 1,
        ))
        .unwrap();
        assert_eq!(op(&mut s), Err(Error::Flash), "{what}: cut {cut}/{n}");
        let torn = s.into_flash().into_inner().into_bytes();
        let mut s = Store::mount(RamFlash::<W, E>::from_image(torn)).unwrap();
        assert!(s.report().is_clean(), "{what}: cut {cut}/{n}: {:?}", s.report());
        let got = state(&mut s).unwrap();
        let image = s.flash_mut().as_bytes().to_vec();
        if got == *after {
            for d in &old {
                assert_gone(&image, d, &format!("{what}: cut {cut}/{n}, committed, superseded data"));
            }
        } else {
            assert_eq!(&got, before, "{what}: cut {cut}/{n}: neither the old nor the new state");
            for d in &new {
                assert_gone(&image, d, &format!("{what}: cut {cut}/{n}, not committed, its data"));
            }
        }
        // And the store goes on: a write, a remount.
        s.write(0x7E, b"on").unwrap();
        let mut s = Store::mount(s.into_flash()).unwrap();
        assert!(s.report().is_clean(), "{what}: cut {cut}/{n}: {:?}", s.report());
        assert_eq!(s.read_all(0x7E).unwrap(), b"on");
    }
}

fn power_cuts<const W: usize>(seed: u64) {
    let mut rng = Rng(seed);
    let mut s = Store::mount(RamFlash::<W, E>::blank(12 * E)).unwrap();
    let mut model = Model::new();
    // A store that has wrapped round (garbage collection runs during the operations below).
    for i in 0..60u16 {
        let d = distinct(&mut rng, 900 + usize::from(i % 5) * 700);
        s.write(i % 9, &d).unwrap();
        model.insert(i % 9, d);
    }
    for round in 0..3 {
        let img = s.flash_mut().as_bytes().to_vec();
        let what = |op: &str| format!("W={W} round {round}: {op}");

        // Replace a file, small and large.
        for (fid, len) in [(1u16, 700usize), (2, 9000), (20, 300)] {
            let data = distinct(&mut rng, len);
            let mut after = model.clone();
            after.insert(fid, data.clone());
            cut_everywhere::<W>(
                &img,
                &model,
                &|s| s.write(fid, &data),
                &after,
                &what(&format!("write {fid} ({len})")),
            );
        }
        // Delete a file.
        let mut after = model.clone();
        after.remove(&3);
        cut_everywhere::<W>(&img, &model, &|s| s.delete(3).map(|_| ()), &after, &what("delete"));
        // Retain: a few deleted (DelGroup) and most deleted (wipe).
        for keep in [vec![0u16, 1, 2, 4, 5, 6], vec![7]] {
            let mut after = model.clone();
            after.retain(|f, _| keep.contains(f));
            cut_everywhere::<W>(
                &img,
                &model,
                &|s| s.retain(|f| keep.contains(&f)),
                &after,
                &what(&format!("retain {keep:?}")),
            );
        }
        // Move on: new content for every file.
        for fid in 0..9u16 {
            let d = distinct(&mut rng, 1200);
            s.write(fid, &d).unwrap();
            model.insert(fid, d);
        }
    }
}

#[test]
fn power_cut_at_every_flash_operation_leaves_old_or_new_and_no_remnant() {
    power_cuts::<1>(3);
}

#[test]
fn power_cut_at_every_flash_operation_write_size_256() {
    power_cuts::<256>(4);
}
