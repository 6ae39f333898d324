//! Store benchmarks: writes of 1 KiB and 64 KiB files (garbage collection amortized in), and mounting a
//! full 4 MiB store (the virtual card's main store).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hsm_store::Store;
use hsm_store::flash::{FileFlash, RamFlash};

const MIB: usize = 1024 * 1024;

fn content(seed: u32, len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) ^ seed) as u8)
        .collect()
}

/// A 4 MiB store holding about 1 MiB of other files.
fn store_with_1mib() -> Store<RamFlash> {
    let mut s = Store::mount(RamFlash::new(4 * MIB)).unwrap();
    for fid in 0..256u16 {
        s.write(0x1000 + fid, &content(u32::from(fid), 4096)).unwrap();
    }
    s
}

/// A 4 MiB store filled close to capacity with files of mixed sizes, after some churn.
fn full_image() -> Vec<u8> {
    let mut s = Store::mount(RamFlash::new(4 * MIB)).unwrap();
    let sizes = [32usize, 300, 1500, 4096, 20_000, 70_000];
    let mut fid = 0u16;
    loop {
        let len = sizes[usize::from(fid) % sizes.len()];
        if s.free_space() < len + 64 * 1024 {
            break;
        }
        s.write(fid, &content(u32::from(fid), len)).unwrap();
        fid += 1;
    }
    // Churn so that the log has wrapped and carries garbage.
    for i in 0..2000u32 {
        let f = (i % 200) as u16;
        let len = s.len(f).unwrap_or(100);
        s.write(f, &content(i, len)).unwrap();
    }
    s.into_flash().into_bytes()
}

fn benches(c: &mut Criterion) {
    let mut s = store_with_1mib();
    let kib = content(1, 1024);
    let mut i = 0u8;
    c.bench_function("write 1 KiB (4 MiB store, 1 MiB other data)", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let mut d = kib.clone();
            d[0] = i;
            s.write(0x42, black_box(&d)).unwrap();
        })
    });
    let big = content(2, 64 * 1024);
    c.bench_function("write 64 KiB (4 MiB store, 1 MiB other data)", |b| {
        b.iter(|| s.write(0x43, black_box(&big)).unwrap())
    });
    c.bench_function("read 64 KiB", |b| b.iter(|| black_box(s.read_all(0x43).unwrap())));

    let image = full_image();
    c.bench_function("mount full 4 MiB store (RAM)", |b| {
        b.iter_batched(
            || RamFlash::from_bytes(image.clone()),
            |f| black_box(Store::mount(f).unwrap()),
            BatchSize::LargeInput,
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flash.bin");
    std::fs::write(&path, &image).unwrap();
    c.bench_function("mount full 4 MiB store (file)", |b| {
        b.iter(|| black_box(Store::mount(FileFlash::open(&path, 0, 4 * MIB).unwrap()).unwrap()))
    });
}

criterion_group! {
    name = store;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(store);
