//! First-use cost and RAM of the precomputed base-point tables (`precomputed-tables` feature).
//!
//! ```text
//! cargo run --release -p hsm-crypto --example tables
//! ```
//!
//! Per curve: the first fixed-base multiplication in the process (it builds the table), the median
//! of the next ones, the median of the same product without the table (`G · k`, the variable-base
//! multiplication that `mul_by_generator` is without the feature), and the table's size in RAM, from
//! `primeorder`'s layout (`1 + ⌈bits/8⌉` lookup tables of 8 projective points each, RAM because the
//! tables are built at run time). Ed25519/X25519 tables are `static` data in flash, not RAM.

use std::time::{Duration, Instant};

use elliptic_curve::Field;
use elliptic_curve::group::Group;
use rand_core::SeedableRng;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn measure<G: Group>(name: &str, bits: usize, rng: &mut rand_chacha::ChaCha20Rng) {
    let scalars: Vec<G::Scalar> = (0..101).map(|_| G::Scalar::random(&mut *rng)).collect();
    let started = Instant::now();
    let first = G::mul_by_generator(&scalars[0]);
    let first_time = started.elapsed();
    std::hint::black_box(first);
    let rest = scalars[1..]
        .iter()
        .map(|k| {
            let t = Instant::now();
            std::hint::black_box(G::mul_by_generator(k));
            t.elapsed()
        })
        .collect();
    let generic = scalars[1..]
        .iter()
        .map(|k| {
            let t = Instant::now();
            std::hint::black_box(G::generator() * k);
            t.elapsed()
        })
        .collect();
    let windows = 1 + bits.div_ceil(8);
    let table = windows * 8 * core::mem::size_of::<G>();
    println!(
        "{name:<10} first k·G {:>9.1} µs, then {:>7.1} µs, without table {:>7.1} µs (medians of 100); \
         table {windows} × 8 points × {} B = {:.1} KiB{}",
        first_time.as_secs_f64() * 1e6,
        median(rest).as_secs_f64() * 1e6,
        median(generic).as_secs_f64() * 1e6,
        core::mem::size_of::<G>(),
        table as f64 / 1024.0,
        if cfg!(feature = "curve-tables") {
            ""
        } else {
            " (not built: feature off)"
        }
    );
}

fn main() {
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
    measure::<p256::ProjectivePoint>("P-256", 256, &mut rng);
    measure::<p384::ProjectivePoint>("P-384", 384, &mut rng);
    measure::<p521::ProjectivePoint>("P-521", 521, &mut rng);
    measure::<k256::ProjectivePoint>("secp256k1", 256, &mut rng);
}
