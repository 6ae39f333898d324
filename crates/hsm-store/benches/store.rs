//! Store benchmarks: replacing and deleting files (garbage collection amortized in), reads, and mounting
//! a full 4 MiB store (the virtual card's main store), on a RAM flash and on a file flash.
//!
//! `cargo bench -p hsm-store --bench store`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use embedded_storage::nor_flash::NorFlash;
use hsm_store::Store;
use hsm_store::flash::{FileFlash, RamFlash};

const MIB: usize = 1024 * 1024;

fn content(seed: u32, len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) ^ seed) as u8)
        .collect()
}

/// Fills a 4 MiB store with about 1 MiB of other files.
fn fill_1mib<F: NorFlash>(s: &mut Store<F>) {
    for fid in 0..256u16 {
        s.write(0x1000 + fid, &content(u32::from(fid), 4096)).unwrap();
    }
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

/// The per-operation benchmarks on one store (RAM or file), named with `what`.
fn operations<F: NorFlash>(c: &mut Criterion, what: &str, s: &mut Store<F>) {
    fill_1mib(s);
    let kib = content(1, 1024);
    let mut i = 0u8;
    c.bench_function(
        &format!("{what}: replace 1 KiB file (4 MiB store, 1 MiB other data)"),
        |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let mut d = kib.clone();
                d[0] = i;
                s.write(0x42, black_box(&d)).unwrap();
            })
        },
    );
    let small = content(3, 100);
    c.bench_function(&format!("{what}: replace 100-byte file"), |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let mut d = small.clone();
            d[0] = i;
            s.write(0x44, black_box(&d)).unwrap();
        })
    });
    c.bench_function(&format!("{what}: create + delete 1 KiB file"), |b| {
        b.iter(|| {
            s.write(0x45, black_box(&kib)).unwrap();
            s.delete(0x45).unwrap();
        })
    });
    let big = content(2, 64 * 1024);
    c.bench_function(&format!("{what}: replace 64 KiB file"), |b| {
        b.iter(|| s.write(0x43, black_box(&big)).unwrap())
    });
    c.bench_function(&format!("{what}: read 64 KiB"), |b| {
        b.iter(|| black_box(s.read_all(0x43).unwrap()))
    });
}

fn benches(c: &mut Criterion) {
    // With the overwrite of superseded data (`Store::mount`, what the card uses) and without it
    // (`Store::mount_without_overwrite`), to see what it costs.
    let mut ram = Store::mount(RamFlash::new(4 * MIB)).unwrap();
    operations(c, "RAM", &mut ram);
    drop(ram);
    let mut ram = Store::mount_without_overwrite(RamFlash::new(4 * MIB)).unwrap();
    operations(c, "RAM, no overwrite", &mut ram);
    drop(ram);

    let dir = tempfile::tempdir().unwrap();
    let ops_path = dir.path().join("ops.bin");
    let mut file = Store::mount(FileFlash::open(&ops_path, 0, 4 * MIB).unwrap()).unwrap();
    operations(c, "file", &mut file);
    drop(file);
    let ops_path = dir.path().join("ops-no-overwrite.bin");
    let mut file = Store::mount_without_overwrite(FileFlash::open(&ops_path, 0, 4 * MIB).unwrap()).unwrap();
    operations(c, "file, no overwrite", &mut file);
    drop(file);

    let image = full_image();
    c.bench_function("mount full 4 MiB store (RAM)", |b| {
        b.iter_batched(
            || RamFlash::from_bytes(image.clone()),
            |f| black_box(Store::mount(f).unwrap()),
            BatchSize::LargeInput,
        )
    });
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
