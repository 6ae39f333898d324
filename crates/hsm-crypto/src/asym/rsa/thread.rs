//! A thread that searches RSA primes beside the card's key generation (feature `prime-thread`): on
//! the PC (the virtual card), what core 1 is on the Pico (`firmware/board/src/core1.rs`). Each job
//! gets its own thread, ended and joined when the generation has its two primes (within one
//! Miller–Rabin test, about a millisecond on a PC).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use super::{Prime, PrimeJob, PrimeSearch, search_primes};

/// The virtual card's [`PrimeSearch`].
#[derive(Default)]
pub struct ThreadSearch {
    running: Option<Running>,
}

struct Running {
    stop: Arc<AtomicBool>,
    primes: Receiver<Prime>,
    thread: JoinHandle<()>,
}

impl PrimeSearch for ThreadSearch {
    fn start(&mut self, job: PrimeJob) -> bool {
        self.stop();
        let stop = Arc::new(AtomicBool::new(false));
        // One prime in flight: the thread waits until the generation took it.
        let (tx, primes) = sync_channel(1);
        let flag = Arc::clone(&stop);
        let spawned = std::thread::Builder::new().name("prime-search".into()).spawn(move || {
            let stopped = || flag.load(Ordering::Relaxed);
            // A refused seed only means the generation finds both primes itself.
            let _ = search_primes(job, &mut || stopped(), &mut |p| !stopped() && tx.send(p).is_ok());
        });
        match spawned {
            Ok(thread) => {
                self.running = Some(Running { stop, primes, thread });
                true
            }
            // No thread (the OS refused one): the key generation searches alone.
            Err(_) => false,
        }
    }

    fn take(&mut self) -> Option<Prime> {
        self.running.as_ref()?.primes.try_recv().ok()
    }

    fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop.store(true, Ordering::Relaxed);
            drop(r.primes); // a send waiting for room fails; queued primes are dropped (zeroized)
            // A panicked search thread has nothing to hand over; the generation has its primes.
            let _ = r.thread.join();
        }
    }
}

impl Drop for ThreadSearch {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use rand_core::SeedableRng;

    use super::super::{HashAlg, RsaPrivateKey};

    use super::*;

    #[test]
    fn keys_generated_with_the_thread_sign() {
        let mut search = ThreadSearch::default();
        for seed in 0..3u64 {
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
            let key = RsaPrivateKey::generate_with(1024, 65537, &mut rng, Some(&mut search)).unwrap();
            assert!(search.running.is_none(), "the job ended and its thread was joined");
            assert_eq!(key.bits(), 1024);
            assert_eq!(
                key.sign_pkcs1v15(HashAlg::Sha256, &[7; 32], &mut rng).unwrap().len(),
                128
            );
        }
    }
}
