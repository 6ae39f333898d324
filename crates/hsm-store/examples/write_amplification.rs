//! Write amplification of repeatedly replacing (or deleting and re-creating) one file in a 4 MiB store
//! that holds ~1 MiB of other data: flash bytes programmed and erased per byte of file data written, and
//! sector erases per 1000 operations. The store does the same flash operations on every flash, so the
//! figures hold for the RAM flash, the file flash and the boards alike (only the time differs).
//!
//! `cargo run --release -p hsm-store --example write_amplification`

use hsm_store::Store;
use hsm_store::flash::RamFlash;

const MIB: usize = 1024 * 1024;
const ERASE: u64 = 4096;

#[derive(Clone, Copy)]
enum Workload {
    /// Replace one file of `n` bytes.
    Replace(usize),
    /// Create a file of `n` bytes, then delete it (two operations).
    CreateDelete(usize),
}

fn run(w: Workload, overwrite: bool) {
    let flash = RamFlash::new(4 * MIB);
    let mut s = if overwrite {
        Store::mount(flash)
    } else {
        Store::mount_without_overwrite(flash)
    }
    .unwrap();
    for fid in 0..256u16 {
        s.write(0x1000 + fid, &vec![fid as u8; 4096]).unwrap();
    }
    let len = match w {
        Workload::Replace(n) | Workload::CreateDelete(n) => n,
    };
    let mut payload = vec![0u8; len];
    let mut step = |s: &mut Store<RamFlash>, i: u32| {
        let k = payload.len().min(4);
        payload[..k].copy_from_slice(&i.to_le_bytes()[..k]);
        s.write(0x42, &payload).unwrap();
        if let Workload::CreateDelete(_) = w {
            s.delete(0x42).unwrap();
        }
    };
    // Warm up past the first pass over the flash (a blank flash needs no erases), then measure.
    let warm = (40 * MIB / len.max(64)).min(200_000) as u32;
    for i in 0..warm {
        step(&mut s, i);
    }
    let before = s.stats();
    let n = (200 * MIB / len.max(64)).clamp(20_000, 1_000_000) as u32;
    for i in 0..n {
        step(&mut s, i);
    }
    let after = s.stats();
    let data = u64::from(n) * len as u64;
    let ops = match w {
        Workload::Replace(_) => u64::from(n),
        Workload::CreateDelete(_) => 2 * u64::from(n),
    };
    let programmed = after.bytes_written - before.bytes_written;
    let erases = after.sectors_erased - before.sectors_erased;
    let what = match w {
        Workload::Replace(n) => format!("replace a {n}-byte file"),
        Workload::CreateDelete(n) => format!("create + delete a {n}-byte file"),
    };
    println!(
        "{what:32} x{n:>7}: programmed {:6.3} B/B, erased {:6.3} B/B, {:7.3} erases per 1000 operations",
        programmed as f64 / data as f64,
        (erases * ERASE) as f64 / data as f64,
        erases as f64 * 1000.0 / ops as f64
    );
}

fn main() {
    println!("4 MiB store (4 KiB sectors, WRITE_SIZE 1) holding 1 MiB of other files; per byte of file data:");
    for overwrite in [true, false] {
        println!(
            "overwrite of superseded data {}:",
            if overwrite {
                "on (Store::mount)"
            } else {
                "off (Store::mount_without_overwrite)"
            }
        );
        for w in [
            Workload::Replace(32),
            Workload::Replace(100),
            Workload::Replace(1024),
            Workload::Replace(64 * 1024),
            Workload::CreateDelete(100),
            Workload::CreateDelete(1024),
        ] {
            run(w, overwrite);
        }
    }
}
