//! Peak heap of RSA key generation (the prime search, the key assembly, the pair-wise check), per
//! size, by a counting allocator: the figure the boards' heap must hold (README, "Boards"). Alone,
//! as on the Pico 2, and with a second searcher (this crate's thread, as core 1 on the Pico: both
//! searches hold their numbers at once; [`ThreadSearch`]).
//!
//! ```text
//! cargo run --release -p hsm-crypto --example keygen_heap [-- SEEDS]
//! ```
//!
//! The host's words are 64-bit where the boards' are 32-bit; the big numbers take the same bytes
//! either way, so the peak is within a few hundred bytes of a board's.

// A global allocator is an unsafe trait; this example is its only user in the crate.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use hsm_crypto::asym::rsa::{RsaPrivateKey, ThreadSearch};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: same layout as asked.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    let seeds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let mut search = ThreadSearch::default();
    for bits in [1024usize, 2048, 3072, 4096] {
        for helper in [false, true] {
            let mut peaks = Vec::new();
            for seed in 0..seeds {
                let mut rng = ChaCha20Rng::seed_from_u64(seed);
                let before = LIVE.load(Ordering::Relaxed);
                PEAK.store(before, Ordering::Relaxed);
                let key = RsaPrivateKey::generate_with(bits, 65537, &mut rng, helper.then_some(&mut search as _))
                    .expect("key generation");
                drop(key);
                peaks.push(PEAK.load(Ordering::Relaxed) - before);
            }
            let max = peaks.iter().max().copied().unwrap_or(0);
            let how = if helper { "with a second searcher" } else { "alone" };
            println!("RSA-{bits} key generation, {how}: peak heap {max} B over {seeds} seeds ({peaks:?})");
        }
    }
}
