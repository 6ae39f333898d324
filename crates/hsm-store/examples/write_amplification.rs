//! Write amplification of repeatedly updating one 1 KiB file in a 4 MiB store that holds ~1 MiB of other
//! data: flash bytes programmed plus bytes erased, per byte of file data written.
//!
//! `cargo run --release -p hsm-store --example write_amplification`

use hsm_store::Store;
use hsm_store::flash::RamFlash;

fn main() {
    const MIB: usize = 1024 * 1024;
    const ERASE: u64 = 4096;
    let mut s = Store::mount(RamFlash::new(4 * MIB)).unwrap();
    for fid in 0..256u16 {
        s.write(0x1000 + fid, &vec![fid as u8; 4096]).unwrap();
    }
    // Warm up past the first pass over the flash (a blank flash needs no erases), then measure.
    let mut payload = vec![0u8; 1024];
    let mut update = |s: &mut Store<RamFlash>, i: u32| {
        payload[..4].copy_from_slice(&i.to_le_bytes());
        s.write(0x42, &payload).unwrap();
    };
    for i in 0..10_000 {
        update(&mut s, i);
    }
    let before = s.stats();
    let n = 50_000u32;
    for i in 0..n {
        update(&mut s, i);
    }
    let after = s.stats();
    let data = u64::from(n) * 1024;
    let programmed = after.bytes_written - before.bytes_written;
    let erased = (after.sectors_erased - before.sectors_erased) * ERASE;
    println!("{n} updates of a 1 KiB file, 4 MiB store with 1 MiB of other files:");
    println!(
        "  programmed {:.3} bytes per data byte",
        programmed as f64 / data as f64
    );
    println!("  erased     {:.3} bytes per data byte", erased as f64 / data as f64);
    println!(
        "  total      {:.3} (programmed + erased) per data byte",
        (programmed + erased) as f64 / data as f64
    );
    let counts = s.into_flash();
    let counts = counts.erase_counts();
    println!(
        "  sector erase counts: min {} max {}",
        counts.iter().min().unwrap(),
        counts.iter().max().unwrap()
    );
}
