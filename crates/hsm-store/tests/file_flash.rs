//! FileFlash: NOR semantics, persistence across reopen, two regions of one file.

use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};
use hsm_store::Store;
use hsm_store::flash::FileFlash;

#[test]
fn nor_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flash.bin");
    let mut f = FileFlash::open(&path, 0, 2 * 4096).unwrap();
    assert_eq!(f.capacity(), 8192);
    let mut b = [0u8; 4];
    f.read(100, &mut b).unwrap();
    assert_eq!(b, [0xFF; 4]);
    f.write(100, &[0xF0, 0x0F, 0xAA, 0x00]).unwrap();
    f.write(100, &[0x3C, 0xFF, 0x55, 0xFF]).unwrap(); // can only clear bits
    f.read(100, &mut b).unwrap();
    assert_eq!(b, [0x30, 0x0F, 0x00, 0x00]);
    f.erase(0, 4096).unwrap();
    f.read(100, &mut b).unwrap();
    assert_eq!(b, [0xFF; 4]);
    assert!(f.erase(0, 100).is_err(), "unaligned erase");
    assert!(f.write(8190, &[0; 4]).is_err(), "out of bounds");
    assert!(f.read(8192, &mut b).is_err(), "out of bounds");
}

#[test]
fn persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flash.bin");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    {
        let mut s = Store::mount(FileFlash::open(&path, 0, 1 << 20).unwrap()).unwrap();
        s.write(0x1234, &data).unwrap();
        s.write(7, b"pin").unwrap();
        s.flash_mut().sync().unwrap();
    }
    let mut s = Store::mount(FileFlash::open(&path, 0, 1 << 20).unwrap()).unwrap();
    assert_eq!(s.read_all(0x1234).unwrap(), data);
    assert_eq!(s.read_all(7).unwrap(), b"pin");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 20);
}

#[test]
fn two_regions_in_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flash.bin");
    // The counters region is opened first and lies after the main region: the gap is filled with FF.
    let mut counters = Store::mount(FileFlash::open(&path, 256 * 1024, 16 * 1024).unwrap()).unwrap();
    let mut main = Store::mount(FileFlash::open(&path, 0, 256 * 1024).unwrap()).unwrap();
    for i in 0..500u32 {
        main.write((i % 13) as u16, &vec![i as u8; (i as usize * 31) % 3000])
            .unwrap();
        counters.write(1, &i.to_le_bytes()).unwrap();
    }
    drop((main, counters));
    let mut main = Store::mount(FileFlash::open(&path, 0, 256 * 1024).unwrap()).unwrap();
    let mut counters = Store::mount(FileFlash::open(&path, 256 * 1024, 16 * 1024).unwrap()).unwrap();
    assert_eq!(counters.read_all(1).unwrap(), 499u32.to_le_bytes());
    assert_eq!(counters.fids().collect::<Vec<_>>(), vec![1]);
    for f in 0..13u16 {
        let i = u32::from(f) + 13 * ((499 - u32::from(f)) / 13);
        assert_eq!(
            main.read_all(f).unwrap(),
            vec![i as u8; (i as usize * 31) % 3000],
            "fid {f}"
        );
    }
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 272 * 1024);
}
