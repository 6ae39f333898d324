//! A RAM platform for tests, benchmarks and fuzzing: RAM flash, deterministic entropy.

use hsm_store::Store;
use hsm_store::flash::RamFlash;
use zeroize::Zeroizing;

use crate::Platform;

/// Size of the RAM main store.
pub const MAIN_SIZE: usize = 512 * 1024;
/// Size of the RAM counters store.
pub const COUNTERS_SIZE: usize = 32 * 1024;

/// A platform entirely in RAM. Entropy is a seeded xorshift stream: deterministic, never for production.
pub struct RamPlatform {
    store: Store<RamFlash>,
    counters: Store<RamFlash>,
    state: u64,
    secret: [u8; 32],
    serial: [u8; 8],
    entropy_fails: bool,
}

impl core::fmt::Debug for RamPlatform {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RamPlatform").finish_non_exhaustive()
    }
}

impl RamPlatform {
    /// A blank device whose secrets and entropy derive from `seed`.
    pub fn new(seed: u64) -> Self {
        let store = Store::format(RamFlash::new(MAIN_SIZE)).unwrap_or_else(|_| unreachable_store());
        let counters = Store::format(RamFlash::new(COUNTERS_SIZE)).unwrap_or_else(|_| unreachable_store());
        Self::from_stores(store, counters, seed)
    }

    /// A device over existing stores (for example remounted after a simulated power cut).
    pub fn from_stores(store: Store<RamFlash>, counters: Store<RamFlash>, seed: u64) -> Self {
        let mut p = RamPlatform {
            store,
            counters,
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            secret: [0; 32],
            serial: [0; 8],
            entropy_fails: false,
        };
        let mut secret = [0u8; 32];
        p.fill(&mut secret);
        let mut serial = [0u8; 8];
        p.fill(&mut serial);
        p.secret = secret;
        p.serial = serial;
        p
    }

    /// Gives the two stores back.
    pub fn into_stores(self) -> (Store<RamFlash>, Store<RamFlash>) {
        (self.store, self.counters)
    }

    /// Makes the entropy source fail its health tests (`true`) or work again.
    pub fn set_entropy_failure(&mut self, fails: bool) {
        self.entropy_fails = fails;
    }

    /// The deterministic "entropy": xorshift64.
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *b = (self.state >> 24) as u8;
        }
    }
}

#[allow(clippy::panic)]
fn unreachable_store() -> Store<RamFlash> {
    panic!("formatting a RAM flash cannot fail")
}

impl Platform for RamPlatform {
    type Flash = RamFlash;

    fn store(&mut self) -> &mut Store<RamFlash> {
        &mut self.store
    }

    fn counters(&mut self) -> &mut Store<RamFlash> {
        &mut self.counters
    }

    fn entropy(&mut self, buf: &mut [u8]) -> Result<(), crate::EntropyFailure> {
        if self.entropy_fails {
            return Err(crate::EntropyFailure);
        }
        self.fill(buf);
        Ok(())
    }

    fn device_secret(&mut self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret)
    }

    fn serial(&self) -> [u8; 8] {
        self.serial
    }
}
