//! Hostile images: random bytes and damaged valid images mount to `Ok` or `Err`, never panic or hang, and
//! whatever mounts stays usable without panicking.

mod common;

use std::time::{Duration, Instant};

use common::{Model, Rng, random_op};
use embedded_storage::nor_flash::NorFlash;
use hsm_store::Store;
use hsm_store::flash::RamFlash;
use proptest::prelude::*;

const E: usize = 1024;

/// Uses a mounted store in every way; errors are fine, panics are not.
fn exercise<F: NorFlash>(mut s: Store<F>, seed: u64) -> Option<F> {
    let mut rng = Rng(seed);
    let fids: Vec<u16> = s.fids().collect();
    for &fid in &fids {
        let _ = s.read_all(fid);
        let mut buf = [0u8; 300];
        let _ = s.read(fid, rng.below(5000) as usize, &mut buf);
        let _ = s.len(fid);
    }
    let _ = (s.free_space(), s.max_file_size(), s.stats(), s.is_empty());
    for _ in 0..6 {
        let op = random_op(&mut rng, &Model::new(), 8, 3000, &[E]);
        let _ = op.run(&mut s);
    }
    let _ = s.retain(|f| f % 2 == 0);
    let _ = s.delete(fids.first().copied().unwrap_or(0));
    Some(s.into_flash())
}

fn mount_and_exercise(image: Vec<u8>, seed: u64) {
    let start = Instant::now();
    if let Ok(s) = Store::mount(RamFlash::<1, E>::from_image(image))
        && let Some(flash) = exercise(s, seed)
        && let Ok(s) = Store::mount(flash)
    {
        let _ = exercise(s, seed ^ 1);
    }
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

/// A valid image after a random history of operations.
fn valid_image(seed: u64, sectors: usize, ops: usize) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut s = Store::mount(RamFlash::<1, E>::blank(sectors * E)).unwrap();
    let mut model = Model::new();
    for _ in 0..ops {
        let op = random_op(&mut rng, &model, 10, 4000, &[E, 996, 972]);
        if op.run(&mut s).is_ok() {
            op.apply(&mut model);
        }
    }
    s.into_flash().into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(image in proptest::collection::vec(any::<u8>(), 2 * E..=12 * E), seed in any::<u64>()) {
        mount_and_exercise(image, seed);
    }

    #[test]
    fn damaged_valid_image(
        seed in any::<u64>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..40),
        smash in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut image = valid_image(seed, 12, 60);
        let len = image.len();
        for (i, bit) in flips {
            image[i.index(len)] ^= 1 << bit;
        }
        for (i, b) in smash {
            image[i.index(len)] = b;
        }
        mount_and_exercise(image, seed);
    }

    #[test]
    fn shuffled_sectors(seed in any::<u64>(), swaps in proptest::collection::vec((0usize..12, 0usize..12), 1..6)) {
        // Sectors of a valid image moved around or duplicated: headers stay valid, order does not.
        let image = valid_image(seed, 12, 80);
        let mut out = image.clone();
        for (a, b) in swaps {
            out[a * E..(a + 1) * E].copy_from_slice(&image[b * E..(b + 1) * E]);
        }
        mount_and_exercise(out, seed);
    }
}

#[test]
fn all_zero_and_all_ff() {
    mount_and_exercise(vec![0; 8 * E], 1);
    mount_and_exercise(vec![0xFF; 8 * E], 2);
    assert!(Store::mount(RamFlash::<1, E>::from_image(vec![0; 8 * E])).is_err());
}
