//! Health tests and conditioning for the platform's raw noise source (NIST SP 800-90B).
//!
//! The firmware reads raw samples from the hardware — one bit per read of the RP2040 ring
//! oscillator's `RANDOMBIT` register ([`SampleKind::Bit`]), or one byte of the RP2350 TRNG's
//! output ([`SampleKind::Byte`]) — and hands them to a [`Conditioner`], or lets [`fill`] pull
//! them. Every sample goes through the continuous health tests below; samples that pass are
//! compressed with SHA-256 into 32-byte blocks, which is what the card's DRBG
//! ([`crate::drbg::Drbg::reseed`]) takes as entropy input. The DRBG's own check (it refuses a
//! constant 48-byte block or one equal to the previous block) is a last line behind these tests,
//! not a replacement for them.
//!
//! # Assumed min-entropy per sample (H)
//!
//! **Both values are assumptions. Nobody on this project has run an SP 800-90B entropy
//! assessment (e.g. NIST's `ea_non_iid`) on either source**; every cutoff and every claim below
//! is only as good as these numbers. They should be replaced by measured (and derated) values
//! when someone does the measurement.
//!
//! | kind | source | H (bits/sample) | why |
//! |---|---|---|---|
//! | [`SampleKind::Bit`] | RP2040 ROSC `RANDOMBIT` | 0.5 | see below |
//! | [`SampleKind::Byte`] | RP2350 TRNG output | 4 | see below |
//!
//! * **ROSC bit, H = 0.5.** The RP2040 datasheet itself warns that `RANDOMBIT` does not meet
//!   the randomness requirements of security systems. The bit is the state of a free-running
//!   ring oscillator sampled by the system clock: read too quickly, successive bits are strongly
//!   correlated (jitter has not accumulated), and the oscillator can be biased or pulled towards
//!   the system clock. Half a bit of min-entropy per bit, with the reads spaced (the pico-sdk's
//!   own ROSC sampling defaults to ≥ 10 µs between bits), is the working assumption; it means
//!   4 raw bits per output bit. Upstream pico-keys-sdk also samples `RANDOMBIT`, through a von
//!   Neumann corrector and an FNV-style mix with no health test at all (a stuck oscillator makes
//!   its von Neumann loop spin forever); it makes no entropy claim we could reuse. A lower H
//!   would make the tests below blunter (at H = 0.25 the adaptive proportion test only fires
//!   above ~89 % ones) and cost more samples.
//! * **TRNG byte, H = 4.** The RP2350 TRNG hands out raw ring-oscillator bits (optionally von
//!   Neumann balanced, with its own simple checks); it has no conditioning, and the RP2350
//!   datasheet (§12.12.2) says its recommended sample-count settings reduce, but do not
//!   eliminate, failures of the NIST statistical tests. H = 4 is the same "half a bit per raw
//!   bit" derating as the ROSC. H = 7 or 8 would claim near full-entropy raw output, which the
//!   datasheet does not support. The assumption presupposes the firmware configures the TRNG as
//!   the datasheet recommends (not with a zero sample period).
//!
//! # Health tests (SP 800-90B §4.4), α = 2⁻²⁰
//!
//! * **Repetition Count Test** (RCT, §4.4.1): fails when `C` consecutive samples are identical,
//!   `C = 1 + ⌈20 / H⌉`: **41** for bits (H = 0.5), **6** for bytes (H = 4).
//! * **Adaptive Proportion Test** (APT, §4.4.2): consecutive, non-overlapping windows of `W`
//!   samples (`W` = 1024 for binary samples, 512 otherwise); fails when the window's first sample
//!   value has occurred `C` times in the window, `C = 1 + CRITBINOM(W, 2^−H, 1 − α)` (the
//!   smallest `k` with `P[Binomial(W, 2^−H) ≤ k] ≥ 1 − α`, plus one):
//!   * bits: W = 1024, H = 0.5 → **C = 793** (77.4 % of the window). SP 800-90B Table 2 has no
//!     H = 0.5 row for W = 1024; 793 is the formula's value, computed with exact binomial tails
//!     (80-digit arithmetic), between the table's H = 0.4 → 840 and H = 0.6 → 748 rows.
//!   * bytes: W = 512, H = 4 → **C = 62** (Table 2's W = 512, H = 4 row).
//!
//!   The unit tests recompute both cutoffs from the formula and check the formula against the
//!   published Table 2 rows (W = 512: H = 0.5/1/2/4/8 → 410/311/177/62/13; W = 1024: H =
//!   0.2/0.4/0.6/0.8/1 → 941/840/748/664/589).
//! * **Pattern tests** (ours, beyond the two SP 800-90B tests; the standard allows additional
//!   developer-defined tests). The RCT and APT catch a stuck value and a gross bias, but not a
//!   source stuck in a short cycle: bits `0,1,0,1,…` are perfectly balanced and never repeat
//!   twice in a row, so both pass it. Two generalisations of the RCT close that gap:
//!   * *periodicity*: for every lag `d` in 2..=[`MAX_LAG`], fails when `C' − 1` consecutive
//!     samples each equal the sample `d` positions earlier (lag 1 is the RCT itself);
//!   * *progression*: fails when `C' − 1` consecutive samples each continue the arithmetic
//!     progression (mod 256) of the two samples before (a counter, `0,1,2,3,…` or any step).
//!
//!   For independent samples with min-entropy H, each such run has probability at most
//!   `2^(−H·(C'−1))` (the run is fixed by its first `d`, or 2, samples), so with
//!   `C' = 1 + ⌈25 / H⌉` — **51** for bits, **8** for bytes — each of the 32 tests has a
//!   false-positive rate ≤ 2⁻²⁵ and all of them together ≤ 2⁻²⁰.
//!
//! The tests run on every sample, including the start-up samples, and keep running across block
//! boundaries (the pattern tests' history is cleared at each block boundary, see below).
//!
//! ## Samples until a broken source is refused
//!
//! | source | refused by | at sample |
//! |---|---|---|
//! | bits stuck at 0 or at 1 | RCT | 41 |
//! | "bit" sample with other bits set (e.g. `0xFF`, an unimplemented register reading `0xFFFF_FFFF`) | [`HealthFailure::InvalidSample`] | 1 |
//! | constant byte (e.g. `0xFF`) | RCT | 6 |
//! | bits with period `d` ≤ 32 (`0,1,0,1,…`: d = 2) | periodicity | d + 50 (52) |
//! | bytes with period `d` ≤ 32 | periodicity | d + 7 |
//! | byte counter, any step | progression | 9 |
//! | bits ≥ ~80 % ones (or zeros), no long runs | APT | within ~2 windows (≤ 2048) |
//! | bytes with one value ≥ ~15 % of samples | APT | within ~2 windows (≤ 1024) |
//!
//! [`fill`] retries [`FILL_RETRIES`] times after a failure, so it gives up after three times
//! these counts (123 samples for stuck bits, 18 for a constant byte, 3 for `0xFF` as a bit).
//!
//! ## What the tests do not catch
//!
//! * A source that is deterministic but looks random: an LFSR, a PRNG, a replayed recording,
//!   a pattern with a period longer than [`MAX_LAG`] samples.
//! * Moderate degradation: bits with 70 % ones, or correlated bits, can have well under
//!   H = 0.5 bits of min-entropy and still pass. The APT fires only around 77 % (bits) or
//!   12 % for one byte value (bytes); the tests detect *failures*, they do not measure entropy.
//! * Whether H is right at all (see above), or an attacker who steers the oscillator
//!   (injection locking, supply or temperature manipulation) into a long-period or subtly
//!   biased regime.
//! * A failure that begins in an APT window whose earlier samples already went into an emitted
//!   block: the emitted block is not recalled (only the block in progress is dropped).
//!
//! # Start-up test (SP 800-90B §4.3)
//!
//! A new (or [restarted](Conditioner::restart)) conditioner runs the tests over the first
//! [`STARTUP_SAMPLES`] = 1024 samples (one full APT window for bits, two for bytes) and discards
//! them; no output depends on them.
//!
//! # Conditioning (SP 800-90B §3.1.5.1.2) and the entropy claim
//!
//! After the start-up test, samples are collected into blocks of [`BLOCK_INPUT_LEN`] = 128 bytes,
//! each block's output being `SHA-256(block)`, exactly these 128 bytes with nothing prepended
//! or appended:
//!
//! * bits: 1024 samples, packed **MSB first**: the block's first sample is bit 7 (`0x80`) of
//!   byte 0, the eighth is bit 0 of byte 0, the ninth is bit 7 of byte 1, and so on;
//! * bytes: 128 samples, in order.
//!
//! Either way a block holds 1024 × 0.5 = 128 × 4 = **512 bits of assessed min-entropy**, twice
//! the 256-bit output. SHA-256 is a vetted conditioning function, and an input with at least
//! `n_out + 64` = 320 bits of min-entropy lets its output be credited as full entropy (the
//! vetted-conditioning rule of SP 800-90B §3.1.5.1.2 / SP 800-90C; the §3.1.5.1.2
//! `Output_Entropy` formula with `n_in` = 1024, `n_out` = `nw` = 256, `h_in` = 512 gives 256 bits
//! less about 10⁻⁷⁷). **Claim: each 32-byte output block has full entropy (256 bits) provided
//! the source delivers at least H bits of min-entropy per sample, independently from sample to
//! sample.** The factor-2 margin over 256 bits (rather than the 64-bit minimum) absorbs some
//! error in H, nothing more. This is not a validated entropy source.
//!
//! A block in progress is dropped (and wiped) on any health-test failure; after a failure the
//! conditioner refuses all further samples until [`Conditioner::restart`], which starts a new
//! start-up test. The block buffer is wiped after each output and on drop, together with the
//! test state; between blocks the health tests keep only the last sample (RCT) and the current
//! APT window's first sample and count, at most 2 samples of the emitted block (≤ 16 raw bits of
//! its 1024), which leaves it far above 320 bits.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::hash::sha256;

/// The false-positive rate of the SP 800-90B tests is α = 2^−`ALPHA_LOG2`.
pub const ALPHA_LOG2: u32 = 20;
/// Samples tested and discarded before the first output (SP 800-90B §4.3).
pub const STARTUP_SAMPLES: usize = 1024;
/// Bytes of conditioned output per block.
pub const OUTPUT_LEN: usize = 32;
/// Bytes hashed per output block (1024 packed bits, or 128 bytes).
pub const BLOCK_INPUT_LEN: usize = 128;
/// The longest period the periodicity test looks for.
pub const MAX_LAG: usize = 32;
/// How many times [`fill`] starts over (with a new start-up test) after a health-test failure
/// before it gives up.
pub const FILL_RETRIES: u32 = 2;

/// What one raw sample is, which fixes the assumed min-entropy H and the test cutoffs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleKind {
    /// One bit in the low bit of the sample byte (the other bits must be 0), e.g. the RP2040
    /// ROSC `RANDOMBIT`. H = 0.5 bits per sample.
    Bit,
    /// One byte, e.g. RP2350 TRNG output. H = 4 bits per sample.
    Byte,
}

impl SampleKind {
    /// The assumed min-entropy per sample, in thousandths of a bit.
    pub const fn min_entropy_millibits(self) -> u32 {
        match self {
            SampleKind::Bit => 500,
            SampleKind::Byte => 4000,
        }
    }

    /// The Repetition Count Test cutoff `C = 1 + ⌈20 / H⌉`.
    pub const fn rct_cutoff(self) -> u32 {
        match self {
            SampleKind::Bit => 41,
            SampleKind::Byte => 6,
        }
    }

    /// The Adaptive Proportion Test window `W` (1024 for binary samples, 512 otherwise).
    pub const fn apt_window(self) -> u32 {
        match self {
            SampleKind::Bit => 1024,
            SampleKind::Byte => 512,
        }
    }

    /// The Adaptive Proportion Test cutoff `C = 1 + CRITBINOM(W, 2^−H, 1 − 2^−20)`.
    pub const fn apt_cutoff(self) -> u32 {
        match self {
            SampleKind::Bit => 793,
            SampleKind::Byte => 62,
        }
    }

    /// The pattern tests' cutoff `C' = 1 + ⌈25 / H⌉`: a failure is `C' − 1` consecutive matches.
    pub const fn pattern_cutoff(self) -> u32 {
        match self {
            SampleKind::Bit => 51,
            SampleKind::Byte => 8,
        }
    }

    /// Samples per output block: 512 bits of assessed min-entropy.
    pub const fn samples_per_block(self) -> usize {
        match self {
            SampleKind::Bit => 1024,
            SampleKind::Byte => 128,
        }
    }
}

/// Which health test refused the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthFailure {
    /// SP 800-90B §4.4.1: too many identical samples in a row.
    RepetitionCount,
    /// SP 800-90B §4.4.2: one value too frequent in an APT window.
    AdaptiveProportion,
    /// The samples repeated with period `lag` (2..=[`MAX_LAG`]) for too long.
    Periodicity {
        /// The period found.
        lag: u8,
    },
    /// The samples followed an arithmetic progression (a counter) for too long.
    Progression,
    /// A [`SampleKind::Bit`] sample was neither 0 nor 1: not the register we expected (an
    /// unimplemented register reading `0xFFFF_FFFF`, say).
    InvalidSample,
}

impl core::fmt::Display for HealthFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HealthFailure::RepetitionCount => f.write_str("entropy source failed the repetition count test"),
            HealthFailure::AdaptiveProportion => f.write_str("entropy source failed the adaptive proportion test"),
            HealthFailure::Periodicity { lag } => {
                write!(f, "entropy source failed the periodicity test (period {lag})")
            }
            HealthFailure::Progression => f.write_str("entropy source failed the progression (counter) test"),
            HealthFailure::InvalidSample => f.write_str("entropy source gave a bit sample other than 0 or 1"),
        }
    }
}

impl core::error::Error for HealthFailure {}

impl From<HealthFailure> for crate::drbg::EntropyFailure {
    fn from(_: HealthFailure) -> Self {
        crate::drbg::EntropyFailure
    }
}

/// The continuous health tests' state.
struct Health {
    kind: SampleKind,
    rct_last: u8,
    /// Length of the current run of `rct_last`; 0 before the first sample.
    rct_count: u32,
    apt_first: u8,
    apt_count: u32,
    /// Samples seen in the current APT window; 0 starts a new window.
    apt_seen: u32,
    /// The previous samples, most recent first; `history_len` of them are valid.
    history: [u8; MAX_LAG],
    history_len: usize,
    /// `lag_runs[d - 1]`: consecutive samples equal to the one `d` earlier (index 0 unused).
    lag_runs: [u32; MAX_LAG],
    progression_run: u32,
}

impl Health {
    const fn new(kind: SampleKind) -> Self {
        Health {
            kind,
            rct_last: 0,
            rct_count: 0,
            apt_first: 0,
            apt_count: 0,
            apt_seen: 0,
            history: [0; MAX_LAG],
            history_len: 0,
            lag_runs: [0; MAX_LAG],
            progression_run: 0,
        }
    }

    fn check(&mut self, x: u8) -> Result<(), HealthFailure> {
        let kind = self.kind;

        // Repetition Count Test, SP 800-90B §4.4.1.
        if self.rct_count > 0 && x == self.rct_last {
            self.rct_count = self.rct_count.saturating_add(1);
        } else {
            self.rct_last = x;
            self.rct_count = 1;
        }
        if self.rct_count >= kind.rct_cutoff() {
            return Err(HealthFailure::RepetitionCount);
        }

        // Adaptive Proportion Test, SP 800-90B §4.4.2.
        if self.apt_seen == 0 {
            self.apt_first = x;
            self.apt_count = 1;
        } else if x == self.apt_first {
            self.apt_count = self.apt_count.saturating_add(1);
        }
        self.apt_seen = self.apt_seen.saturating_add(1);
        if self.apt_seen >= kind.apt_window() {
            self.apt_seen = 0;
        }
        if self.apt_count >= kind.apt_cutoff() {
            return Err(HealthFailure::AdaptiveProportion);
        }

        // Pattern tests: periodicity at lags 2..=MAX_LAG, and arithmetic progressions.
        let limit = kind.pattern_cutoff().saturating_sub(1);
        let valid = self.history.iter().zip(self.lag_runs.iter_mut()).take(self.history_len);
        for (lag, (previous, run)) in (1u8..).zip(valid).skip(1) {
            if x == *previous {
                *run = run.saturating_add(1);
                if *run >= limit {
                    return Err(HealthFailure::Periodicity { lag });
                }
            } else {
                *run = 0;
            }
        }
        if self.history_len >= 2 {
            let [x1, x2, ..] = self.history;
            if x.wrapping_sub(x1) == x1.wrapping_sub(x2) {
                self.progression_run = self.progression_run.saturating_add(1);
                if self.progression_run >= limit {
                    return Err(HealthFailure::Progression);
                }
            } else {
                self.progression_run = 0;
            }
        }
        self.history.copy_within(..MAX_LAG - 1, 1);
        if let Some(newest) = self.history.first_mut() {
            *newest = x;
        }
        self.history_len = self.history_len.saturating_add(1).min(MAX_LAG);
        Ok(())
    }

    /// Forgets the pattern tests' history (raw samples of the block just emitted).
    fn clear_history(&mut self) {
        self.history.zeroize();
        self.history_len = 0;
        self.lag_runs.zeroize();
        self.progression_run = 0;
    }

    fn wipe(&mut self) {
        self.clear_history();
        self.rct_last.zeroize();
        self.rct_count = 0;
        self.apt_first.zeroize();
        self.apt_count = 0;
        self.apt_seen = 0;
    }
}

/// Health-tests raw samples and conditions them into 32-byte full-entropy blocks (under the
/// module's assumptions; see the [module documentation](self)).
pub struct Conditioner {
    health: Health,
    /// Start-up samples still to test and discard.
    startup_left: usize,
    /// The block in progress (bits packed MSB first, or bytes).
    block: [u8; BLOCK_INPUT_LEN],
    /// Samples in the block in progress.
    in_block: usize,
    failure: Option<HealthFailure>,
}

impl core::fmt::Debug for Conditioner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Conditioner")
            .field("kind", &self.health.kind)
            .field("started", &self.started())
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

impl Conditioner {
    /// A conditioner that will start with the start-up test.
    pub const fn new(kind: SampleKind) -> Self {
        Conditioner {
            health: Health::new(kind),
            startup_left: STARTUP_SAMPLES,
            block: [0; BLOCK_INPUT_LEN],
            in_block: 0,
            failure: None,
        }
    }

    /// The kind of samples this conditioner takes.
    pub fn kind(&self) -> SampleKind {
        self.health.kind
    }

    /// Whether the start-up test has passed (and no failure happened since).
    pub fn started(&self) -> bool {
        self.startup_left == 0 && self.failure.is_none()
    }

    /// The failure that stopped this conditioner, if any.
    pub fn failure(&self) -> Option<HealthFailure> {
        self.failure
    }

    /// Forgets everything, including a failure, and starts over with a new start-up test.
    pub fn restart(&mut self) {
        *self = Conditioner::new(self.health.kind);
    }

    /// Feeds one raw sample: a bit in the low bit (the other bits 0) for [`SampleKind::Bit`],
    /// a byte for [`SampleKind::Byte`].
    ///
    /// Returns a conditioned block when this sample completes one, `Ok(None)` otherwise. A
    /// health-test failure drops the block in progress and is returned for this sample and
    /// every later one until [`Conditioner::restart`].
    pub fn feed(&mut self, sample: u8) -> Result<Option<Zeroizing<[u8; OUTPUT_LEN]>>, HealthFailure> {
        if let Some(failure) = self.failure {
            return Err(failure);
        }
        let kind = self.health.kind;
        if kind == SampleKind::Bit && sample > 1 {
            return Err(self.fail(HealthFailure::InvalidSample));
        }
        if let Err(failure) = self.health.check(sample) {
            return Err(self.fail(failure));
        }
        if self.startup_left > 0 {
            self.startup_left = self.startup_left.saturating_sub(1);
            if self.startup_left == 0 {
                // Start-up samples are discarded: none of them reaches the first block.
                self.health.clear_history();
            }
            return Ok(None);
        }

        let n = self.in_block;
        match kind {
            SampleKind::Bit => {
                if let Some(byte) = self.block.get_mut(n / 8) {
                    // n % 8 < 8, so the shift is in range; sample is 0 or 1.
                    *byte |= sample.wrapping_shl(7u32.saturating_sub((n % 8) as u32));
                }
            }
            SampleKind::Byte => {
                if let Some(byte) = self.block.get_mut(n) {
                    *byte = sample;
                }
            }
        }
        self.in_block = n.saturating_add(1);
        if self.in_block < kind.samples_per_block() {
            return Ok(None);
        }

        let out = Zeroizing::new(sha256(&[&self.block]));
        self.block.zeroize();
        self.in_block = 0;
        self.health.clear_history();
        Ok(Some(out))
    }

    fn fail(&mut self, failure: HealthFailure) -> HealthFailure {
        self.block.zeroize();
        self.in_block = 0;
        self.health.wipe();
        self.failure = Some(failure);
        failure
    }
}

impl Drop for Conditioner {
    fn drop(&mut self) {
        self.block.zeroize();
        self.in_block = 0;
        self.health.wipe();
    }
}

impl ZeroizeOnDrop for Conditioner {}

/// How many samples a successful [`fill`] of `len` bytes takes: the start-up test plus one block
/// per started 32 bytes (0 for `len == 0`).
pub const fn fill_samples(kind: SampleKind, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    len.div_ceil(OUTPUT_LEN)
        .saturating_mul(kind.samples_per_block())
        .saturating_add(STARTUP_SAMPLES)
}

/// Fills `out` with conditioned entropy from a fresh [`Conditioner`] (start-up test included),
/// pulling raw samples from `next_sample`.
///
/// Every 32 bytes of `out` come from their own block; a final partial chunk takes the start of
/// a block and the rest is wiped. On a health-test failure, `out` is wiped and everything starts
/// over with a new conditioner, at most [`FILL_RETRIES`] times; the last failure is returned,
/// with `out` all zero. So `next_sample` is called at most
/// `(1 + FILL_RETRIES) × fill_samples(kind, out.len())` times, and a broken source is refused
/// after three times the counts in the module documentation. An empty `out` takes no sample.
pub fn fill<F: FnMut() -> u8>(kind: SampleKind, mut next_sample: F, out: &mut [u8]) -> Result<(), HealthFailure> {
    let mut result = Ok(());
    for _ in 0..=FILL_RETRIES {
        result = fill_once(kind, &mut next_sample, out);
        match result {
            Ok(()) => break,
            Err(_) => out.zeroize(),
        }
    }
    result
}

fn fill_once<F: FnMut() -> u8>(kind: SampleKind, next_sample: &mut F, out: &mut [u8]) -> Result<(), HealthFailure> {
    let mut conditioner = Conditioner::new(kind);
    for dst in out.chunks_mut(OUTPUT_LEN) {
        // Terminates: without a failure, `feed` returns a block after exactly
        // `samples_per_block` samples (plus the start-up samples for the first block).
        let block = loop {
            match conditioner.feed(next_sample()) {
                Ok(None) => {}
                Ok(Some(block)) => break block,
                Err(failure) => return Err(failure),
            }
        };
        for (d, s) in dst.iter_mut().zip(block.iter()) {
            *d = *s;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
