use hsm_store::flash::RamFlash;
use hsm_store::{Error, Store};

#[test]
fn basic_roundtrip() {
    let mut s = Store::mount(RamFlash::new(64 * 1024)).unwrap();
    assert!(s.is_empty());
    s.write(1, b"hello").unwrap();
    s.write(2, &[]).unwrap();
    let big: Vec<u8> = (0..20000u32).map(|i| (i * 7 + i / 256) as u8).collect();
    s.write(3, &big).unwrap();
    assert_eq!(s.read_all(1).unwrap(), b"hello");
    assert_eq!(s.read_all(2).unwrap(), b"");
    assert_eq!(s.read_all(3).unwrap(), big);
    let mut b = [0u8; 100];
    assert_eq!(s.read(3, 4050, &mut b).unwrap(), 100);
    assert_eq!(&b[..], &big[4050..4150]);
    assert_eq!(s.read(3, 19990, &mut b).unwrap(), 10);
    assert_eq!(s.read(3, 20000, &mut b).unwrap(), 0);
    assert_eq!(s.read_all(9), Err(Error::NotFound));
    let flash = s.into_flash();
    let mut s = Store::mount(flash).unwrap();
    assert_eq!(s.fids().collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(s.read_all(3).unwrap(), big);
    assert!(s.delete(1).unwrap());
    assert!(!s.delete(1).unwrap());
    s.retain(|f| f == 3).unwrap();
    let mut s = Store::mount(s.into_flash()).unwrap();
    assert_eq!(s.fids().collect::<Vec<_>>(), vec![3]);
    assert_eq!(s.read_all(3).unwrap(), big);
    // churn to force GC
    for i in 0..200u32 {
        let data = vec![i as u8; (i as usize * 37) % 5000];
        s.write((i % 5) as u16 + 10, &data).unwrap();
    }
    let mut s = Store::mount(s.into_flash()).unwrap();
    assert_eq!(s.read_all(3).unwrap(), big);
    for f in 10..15u16 {
        let i = 195 + (f - 10) as u32;
        assert_eq!(
            s.read_all(f).unwrap(),
            vec![i as u8; (i as usize * 37) % 5000],
            "fid {f}"
        );
    }
    println!(
        "free {} max {} stats {:?}",
        s.free_space(),
        s.max_file_size(),
        s.stats()
    );
}
