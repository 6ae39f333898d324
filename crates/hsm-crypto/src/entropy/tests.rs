//! Health tests, start-up, conditioning KATs and `fill` of the entropy module.

extern crate std;

use alloc::vec::Vec;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use super::*;

const KINDS: [SampleKind; 2] = [SampleKind::Bit, SampleKind::Byte];

/// Feeds `samples` one by one; returns the outputs and the failure with its 1-based sample
/// number, if any.
fn run(kind: SampleKind, samples: impl IntoIterator<Item = u8>) -> (Vec<[u8; 32]>, Option<(usize, HealthFailure)>) {
    let mut c = Conditioner::new(kind);
    let mut out = Vec::new();
    for (i, s) in samples.into_iter().enumerate() {
        match c.feed(s) {
            Ok(Some(block)) => out.push(*block),
            Ok(None) => {}
            Err(f) => return (out, Some((i + 1, f))),
        }
    }
    (out, None)
}

fn chacha(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

/// Good samples of `kind` from ChaCha20.
fn good(kind: SampleKind, seed: u8) -> impl Iterator<Item = u8> {
    let mut rng = chacha(seed);
    core::iter::repeat_with(move || {
        let x = rng.next_u32() as u8;
        match kind {
            SampleKind::Bit => x & 1,
            SampleKind::Byte => x,
        }
    })
}

/// Marsaglia's xorshift32; reproducible outside Rust for the KATs.
fn xorshift(seed: u32) -> impl Iterator<Item = u32> {
    let mut x = seed;
    core::iter::repeat_with(move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    })
}

fn pack_msb_first(bits: &[u8]) -> Vec<u8> {
    bits.chunks(8)
        .map(|c| c.iter().enumerate().fold(0u8, |acc, (j, b)| acc | (b << (7 - j))))
        .collect()
}

// ---- cutoffs ----------------------------------------------------------------------------------

/// `1 + CRITBINOM(w, 2^-h, 1 - 2^-20)`, summing the binomial upper tail in log space.
fn apt_cutoff_formula(w: u32, h: f64) -> u32 {
    let alpha = 2f64.powi(-(ALPHA_LOG2 as i32));
    let p = 2f64.powf(-h);
    let n = w as usize;
    let mut ln_choose = Vec::with_capacity(n + 1);
    let mut acc = 0f64;
    ln_choose.push(0f64);
    for k in 1..=n {
        acc += ((n - k + 1) as f64).ln() - (k as f64).ln();
        ln_choose.push(acc);
    }
    let pmf = |k: usize| (ln_choose[k] + k as f64 * p.ln() + (n - k) as f64 * (1.0 - p).ln()).exp();
    // Smallest k with P[X > k] <= alpha.
    let mut tail = 0f64; // P[X > k]
    let mut k = n;
    loop {
        let next_tail = tail + pmf(k); // P[X > k - 1]
        if k == 0 || next_tail > alpha {
            return k as u32 + 1;
        }
        tail = next_tail;
        k -= 1;
    }
}

#[test]
fn apt_formula_reproduces_sp800_90b_table_2() {
    let w512 = [
        (0.5, 410),
        (1.0, 311),
        (2.0, 177),
        (3.0, 103),
        (4.0, 62),
        (5.0, 39),
        (6.0, 25),
        (7.0, 18),
        (8.0, 13),
    ];
    for (h, c) in w512 {
        assert_eq!(apt_cutoff_formula(512, h), c, "W = 512, H = {h}");
    }
    for (h, c) in [(0.2, 941), (0.4, 840), (0.6, 748), (0.8, 664), (1.0, 589)] {
        assert_eq!(apt_cutoff_formula(1024, h), c, "W = 1024, H = {h}");
    }
}

#[test]
fn chosen_cutoffs_follow_the_formulas() {
    for kind in KINDS {
        let mh = kind.min_entropy_millibits();
        let h = f64::from(mh) / 1000.0;
        // RCT: 1 + ceil(20 / H).
        assert_eq!(kind.rct_cutoff(), 1 + (ALPHA_LOG2 * 1000).div_ceil(mh), "{kind:?}");
        // Pattern tests: 1 + ceil(25 / H); 31 lags + 1 progression = 2^5 tests at 2^-25 each.
        assert_eq!(
            kind.pattern_cutoff(),
            1 + ((ALPHA_LOG2 + 5) * 1000).div_ceil(mh),
            "{kind:?}"
        );
        assert_eq!((MAX_LAG - 1) + 1, 1 << 5);
        let w = match kind {
            SampleKind::Bit => 1024,
            SampleKind::Byte => 512,
        };
        assert_eq!(kind.apt_window(), w);
        assert_eq!(kind.apt_cutoff(), apt_cutoff_formula(w, h), "{kind:?}");
        // A block is 128 bytes holding 512 bits of assessed min-entropy (256 + 64 <= 512).
        let bits_per_sample = match kind {
            SampleKind::Bit => 1,
            SampleKind::Byte => 8,
        };
        assert_eq!(kind.samples_per_block() * bits_per_sample, BLOCK_INPUT_LEN * 8);
        assert_eq!(kind.samples_per_block() as u32 * mh, 512_000);
        // The start-up test covers whole APT windows.
        assert_eq!(STARTUP_SAMPLES % w as usize, 0);
    }
    assert_eq!(SampleKind::Bit.rct_cutoff(), 41);
    assert_eq!(SampleKind::Bit.apt_cutoff(), 793);
    assert_eq!(SampleKind::Byte.rct_cutoff(), 6);
    assert_eq!(SampleKind::Byte.apt_cutoff(), 62);
}

// ---- broken sources are refused ----------------------------------------------------------------

#[test]
fn stuck_bits_are_refused_at_sample_41() {
    for bit in [0u8, 1] {
        let (out, failure) = run(SampleKind::Bit, core::iter::repeat_n(bit, 10_000));
        assert!(out.is_empty());
        assert_eq!(failure, Some((41, HealthFailure::RepetitionCount)), "stuck at {bit}");
    }
}

#[test]
fn unimplemented_register_as_a_bit_is_refused_at_once() {
    // rp2040js reads an unimplemented register as 0xFFFF_FFFF; truncated to a byte that is 0xFF.
    for s in [0xFFu8, 0x02, 0x80] {
        let (out, failure) = run(SampleKind::Bit, core::iter::repeat_n(s, 10));
        assert!(out.is_empty());
        assert_eq!(failure, Some((1, HealthFailure::InvalidSample)));
    }
    // Also mid-stream, after good bits.
    let samples = good(SampleKind::Bit, 1).take(2000).chain([0xFF]);
    assert_eq!(
        run(SampleKind::Bit, samples).1,
        Some((2001, HealthFailure::InvalidSample))
    );
}

#[test]
fn constant_bytes_are_refused_at_sample_6() {
    for b in [0xFFu8, 0x00, 0x5A] {
        let (out, failure) = run(SampleKind::Byte, core::iter::repeat_n(b, 10_000));
        assert!(out.is_empty());
        assert_eq!(failure, Some((6, HealthFailure::RepetitionCount)), "constant {b:#04x}");
    }
}

#[test]
fn a_source_that_sticks_later_is_refused_and_its_block_dropped() {
    for kind in KINDS {
        // Start-up, one good block, half a block, then stuck.
        let good_len = STARTUP_SAMPLES + kind.samples_per_block() * 3 / 2;
        let stuck = match kind {
            SampleKind::Bit => 1,
            SampleKind::Byte => 0xFF,
        };
        let mut c = Conditioner::new(kind);
        let mut blocks = 0;
        let mut failure = None;
        for s in good(kind, 2).take(good_len).chain(core::iter::repeat_n(stuck, 100)) {
            match c.feed(s) {
                Ok(Some(_)) => blocks += 1,
                Ok(None) => {}
                Err(f) => {
                    failure = Some(f);
                    break;
                }
            }
        }
        assert_eq!(blocks, 1, "{kind:?}");
        assert_eq!(failure, Some(HealthFailure::RepetitionCount), "{kind:?}");
        assert_eq!(c.failure(), failure);
        assert!(!c.started());
        assert_eq!(c.block, [0; BLOCK_INPUT_LEN], "the block in progress is wiped");
        assert_eq!(c.in_block, 0);
        // Sticky: good samples do not revive it.
        for s in good(kind, 3).take(3 * kind.samples_per_block()) {
            assert_eq!(c.feed(s), Err(HealthFailure::RepetitionCount));
        }
        // restart() runs a new start-up test before any output.
        c.restart();
        assert_eq!(c.failure(), None);
        let mut fed = 0;
        for s in good(kind, 4) {
            fed += 1;
            if c.feed(s).unwrap().is_some() {
                break;
            }
        }
        assert_eq!(fed, STARTUP_SAMPLES + kind.samples_per_block());
    }
}

#[test]
fn heavily_biased_bits_are_refused() {
    // 95 % ones, independent: refused (RCT or APT or a pattern test) before any output.
    let mut rng = chacha(5);
    let samples = core::iter::repeat_with(move || u8::from(rng.next_u32() % 100 < 95));
    let (out, failure) = run(SampleKind::Bit, samples.take(100_000));
    assert!(out.is_empty());
    let (at, _) = failure.expect("refused");
    assert!(at <= 2048, "refused at {at}");
}

#[test]
fn biased_bits_without_long_runs_fail_the_adaptive_proportion_test() {
    // 80 % ones but never 31 ones in a row, so the RCT cannot fire; the first sample is a 1.
    let mut rng = chacha(6);
    let mut run_len = 1;
    let samples = core::iter::once(1u8).chain(core::iter::repeat_with(move || {
        let bit = if run_len >= 30 {
            0
        } else {
            u8::from(rng.next_u32() % 100 < 80)
        };
        run_len = if bit == 1 { run_len + 1 } else { 0 };
        bit
    }));
    let (out, failure) = run(SampleKind::Bit, samples.take(100_000));
    assert!(out.is_empty());
    let (at, f) = failure.expect("refused");
    assert_eq!(f, HealthFailure::AdaptiveProportion);
    assert!(at <= 1024, "first window, refused at {at}");
}

#[test]
fn a_too_frequent_byte_fails_the_adaptive_proportion_test() {
    // 0x00 first and then at every 8th sample (12.5 %), random non-zero bytes between: the
    // window's first value reaches 62 occurrences at sample 8 * 61 + 1.
    let mut rng = chacha(7);
    let samples = (0..100_000usize).map(move |i| {
        if i % 8 == 0 {
            0
        } else {
            loop {
                let b = rng.next_u32() as u8;
                if b != 0 {
                    break b;
                }
            }
        }
    });
    let (out, failure) = run(SampleKind::Byte, samples);
    assert!(out.is_empty());
    assert_eq!(failure, Some((8 * 61 + 1, HealthFailure::AdaptiveProportion)));
}

#[test]
fn alternating_bits_fail_the_periodicity_test() {
    // Balanced and never two equal bits in a row: the RCT and the APT both pass this.
    let (out, failure) = run(SampleKind::Bit, (0..10_000).map(|i| (i % 2) as u8));
    assert!(out.is_empty());
    assert_eq!(failure, Some((52, HealthFailure::Periodicity { lag: 2 })));
}

#[test]
fn short_periods_fail_the_periodicity_test() {
    for kind in KINDS {
        for period in [2usize, 3, 5, 8, 17, 32] {
            // One period of good samples, repeated; primitive for these seeds and periods.
            let pattern: Vec<u8> = good(kind, period as u8).take(period).collect();
            let (out, failure) = run(kind, pattern.iter().copied().cycle().take(10_000));
            assert!(out.is_empty());
            let (at, f) = failure.expect("refused");
            let limit = kind.pattern_cutoff() as usize - 1;
            match f {
                HealthFailure::Periodicity { lag } => {
                    assert_eq!(usize::from(lag), period, "{kind:?}");
                    assert_eq!(at, period + limit, "{kind:?} period {period}");
                }
                // A pattern with a long run is caught earlier by the RCT.
                HealthFailure::RepetitionCount => assert!(at < period + limit),
                other => panic!("{kind:?} period {period}: {other:?}"),
            }
        }
    }
}

#[test]
fn byte_counters_fail_the_progression_test() {
    for step in [1u8, 3, 0xFF] {
        let (out, failure) = run(SampleKind::Byte, (0..10_000u32).map(|i| (i as u8).wrapping_mul(step)));
        assert!(out.is_empty());
        assert_eq!(failure, Some((9, HealthFailure::Progression)), "step {step}");
    }
}

#[test]
fn documented_gap_a_period_longer_than_max_lag_passes() {
    // A fixed 40-bit pattern repeated forever has no entropy at all, yet passes every test:
    // this pins the limitation stated in the module documentation.
    let pattern: Vec<u8> = good(SampleKind::Bit, 9).take(40).collect();
    let (out, failure) = run(
        SampleKind::Bit,
        pattern.iter().copied().cycle().take(STARTUP_SAMPLES + 4096),
    );
    assert_eq!(failure, None);
    assert_eq!(out.len(), 4);
}

// ---- good sources pass ---------------------------------------------------------------------

#[test]
fn good_sources_pass_many_blocks() {
    for (kind, blocks) in [(SampleKind::Bit, 300), (SampleKind::Byte, 2000)] {
        let n = STARTUP_SAMPLES + blocks * kind.samples_per_block();
        let (out, failure) = run(kind, good(kind, 10).take(n));
        assert_eq!(failure, None, "{kind:?}");
        assert_eq!(out.len(), blocks);
        // Distinct blocks (a repeat would mean a broken pipeline, not bad luck).
        let mut sorted = out.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), blocks);
    }
}

#[test]
fn sources_at_the_assumed_entropy_pass() {
    // Bits with 60 % ones (H = 0.74 > 0.5) and bytes of 5 uniform bits (H = 5 > 4): the tests
    // are calibrated to let these through.
    let mut rng = chacha(11);
    let bits = core::iter::repeat_with(move || u8::from(rng.next_u32() % 100 < 60));
    let (out, failure) = run(SampleKind::Bit, bits.take(STARTUP_SAMPLES + 200 * 1024));
    assert_eq!((out.len(), failure), (200, None));
    let mut rng = chacha(12);
    let bytes = core::iter::repeat_with(move || rng.next_u32() as u8 & 0x1F);
    let (out, failure) = run(SampleKind::Byte, bytes.take(STARTUP_SAMPLES + 1000 * 128));
    assert_eq!((out.len(), failure), (1000, None));
}

// ---- start-up and conditioning -----------------------------------------------------------------

#[test]
fn startup_samples_are_tested_and_discarded() {
    for kind in KINDS {
        let per_block = kind.samples_per_block();
        let tail: Vec<u8> = good(kind, 13).take(per_block).collect();
        let a = good(kind, 14).take(STARTUP_SAMPLES).chain(tail.iter().copied());
        let b = good(kind, 15).take(STARTUP_SAMPLES).chain(tail.iter().copied());
        let mut c = Conditioner::new(kind);
        let mut first_output_at = None;
        let mut outputs = Vec::new();
        for (i, s) in a.enumerate() {
            if i == STARTUP_SAMPLES {
                assert!(c.started());
            } else if i < STARTUP_SAMPLES {
                assert!(!c.started());
            }
            if let Some(block) = c.feed(s).unwrap() {
                first_output_at.get_or_insert(i + 1);
                outputs.push(*block);
            }
        }
        assert_eq!(first_output_at, Some(STARTUP_SAMPLES + per_block), "{kind:?}");
        let (other, failure) = run(kind, b);
        assert_eq!(failure, None);
        assert_eq!(outputs, other, "{kind:?}: the start-up samples do not reach the output");
        // And the output is the hash of the post-start-up samples alone.
        let input = match kind {
            SampleKind::Bit => pack_msb_first(&tail),
            SampleKind::Byte => tail.clone(),
        };
        assert_eq!(outputs[0], <[u8; 32]>::from(Sha256::digest(&input)));
    }
}

#[test]
fn stuck_during_startup_is_refused_before_any_output() {
    for kind in KINDS {
        let samples = good(kind, 16).take(500).chain(core::iter::repeat_n(0, 100));
        let (out, failure) = run(kind, samples);
        assert!(out.is_empty());
        assert_eq!(failure.map(|f| f.1), Some(HealthFailure::RepetitionCount));
    }
}

#[test]
fn kat_bits_are_packed_msb_first_and_hashed() {
    let samples: Vec<u8> = xorshift(0x1234_5678).take(2048).map(|x| (x >> 31) as u8).collect();
    let (out, failure) = run(SampleKind::Bit, samples.iter().copied());
    assert_eq!(failure, None);
    assert_eq!(out.len(), 1);
    let packed = pack_msb_first(&samples[1024..]);
    assert_eq!(packed.len(), BLOCK_INPUT_LEN);
    assert_eq!(hex::encode(&packed[..4]), "d9fd495d");
    assert_eq!(out[0], <[u8; 32]>::from(Sha256::digest(&packed)));
    // Computed independently (Python hashlib over the same xorshift32 stream).
    assert_eq!(
        hex::encode(out[0]),
        "8884cc4298f44b279f491fea98e15fd819d4110316af0e8a68684214b831d6a1"
    );
}

#[test]
fn kat_bytes_are_hashed_in_order() {
    let samples: Vec<u8> = xorshift(0x9abc_def0)
        .take(1024 + 128)
        .map(|x| (x >> 24) as u8)
        .collect();
    let (out, failure) = run(SampleKind::Byte, samples.iter().copied());
    assert_eq!(failure, None);
    assert_eq!(out.len(), 1);
    assert_eq!(hex::encode(&samples[1024..1028]), "690bcebe");
    assert_eq!(out[0], <[u8; 32]>::from(Sha256::digest(&samples[1024..])));
    assert_eq!(
        hex::encode(out[0]),
        "fa488c52cd8de2cfb97d7df2a0ce13df3a142969796c26b18e601c107f5afc77"
    );
}

#[test]
fn same_input_same_output_different_input_different_output() {
    for kind in KINDS {
        let n = STARTUP_SAMPLES + 3 * kind.samples_per_block();
        let samples: Vec<u8> = good(kind, 17).take(n).collect();
        let (a, fa) = run(kind, samples.iter().copied());
        let (b, fb) = run(kind, samples.iter().copied());
        assert_eq!((fa, fb), (None, None));
        assert_eq!(a.len(), 3);
        assert_eq!(a, b);
        // Flip one sample of the second block.
        let mut changed = samples.clone();
        let i = STARTUP_SAMPLES + kind.samples_per_block() + 77;
        changed[i] ^= 1;
        let (c, fc) = run(kind, changed.iter().copied());
        assert_eq!(fc, None);
        assert_eq!(c[0], a[0]);
        assert_ne!(c[1], a[1]);
        assert_eq!(c[2], a[2]);
    }
}

#[test]
fn block_buffer_is_wiped_after_output() {
    for kind in KINDS {
        let mut c = Conditioner::new(kind);
        let mut saw_output = false;
        for s in good(kind, 18).take(STARTUP_SAMPLES + kind.samples_per_block() + 5) {
            if c.feed(s).unwrap().is_some() {
                saw_output = true;
                assert_eq!(c.block, [0; BLOCK_INPUT_LEN]);
                assert_eq!(c.health.history, [0; MAX_LAG]);
                assert_eq!(c.health.history_len, 0);
            }
        }
        assert!(saw_output);
        assert_ne!(c.block, [0; BLOCK_INPUT_LEN], "5 samples into the next block");
    }
}

// ---- fill ------------------------------------------------------------------------------------

#[test]
fn fill_any_length() {
    for kind in KINDS {
        for len in [0usize, 1, 31, 32, 33, 48, 100] {
            let mut source = good(kind, 19);
            let mut calls = 0;
            let mut out = alloc::vec![0u8; len];
            fill(
                kind,
                || {
                    calls += 1;
                    source.next().unwrap()
                },
                &mut out,
            )
            .unwrap();
            assert_eq!(calls, fill_samples(kind, len), "{kind:?} {len}");
            // Same bytes as a conditioner's blocks, truncated.
            let (blocks, failure) = run(kind, good(kind, 19).take(calls));
            assert_eq!(failure, None);
            assert_eq!(blocks.len(), len.div_ceil(32));
            assert_eq!(out, blocks.concat()[..len], "{kind:?} {len}");
        }
    }
    assert_eq!(fill_samples(SampleKind::Bit, 48), 1024 + 2 * 1024);
    assert_eq!(fill_samples(SampleKind::Byte, 48), 1024 + 2 * 128);
}

#[test]
fn fill_gives_up_on_a_stuck_source_after_its_retries() {
    let cases = [
        (SampleKind::Bit, 1u8, 41, HealthFailure::RepetitionCount),
        (SampleKind::Bit, 0, 41, HealthFailure::RepetitionCount),
        (SampleKind::Bit, 0xFF, 1, HealthFailure::InvalidSample),
        (SampleKind::Byte, 0xFF, 6, HealthFailure::RepetitionCount),
    ];
    for (kind, value, per_attempt, expected) in cases {
        let mut calls = 0usize;
        let mut out = [0xAAu8; 48];
        let r = fill(
            kind,
            || {
                calls += 1;
                value
            },
            &mut out,
        );
        assert_eq!(r, Err(expected));
        assert_eq!(calls, (1 + FILL_RETRIES as usize) * per_attempt);
        assert_eq!(out, [0; 48], "nothing from a failed fill");
    }
}

#[test]
fn fill_wipes_blocks_already_written_when_a_later_block_fails() {
    let kind = SampleKind::Bit;
    // One block's worth is fine, then the source sticks for good.
    let mut source = good(kind, 20)
        .take(STARTUP_SAMPLES + 1024 + 10)
        .chain(core::iter::repeat(1));
    let mut out = [0u8; 64];
    assert_eq!(
        fill(kind, || source.next().unwrap(), &mut out),
        Err(HealthFailure::RepetitionCount)
    );
    assert_eq!(out, [0; 64]);
}

#[test]
fn fill_recovers_from_a_transient_failure() {
    let kind = SampleKind::Bit;
    let mut source = core::iter::repeat_n(1u8, 41).chain(good(kind, 21));
    let mut out = [0u8; 48];
    fill(kind, || source.next().unwrap(), &mut out).unwrap();
    let mut expected = [0u8; 48];
    let mut clean = good(kind, 21);
    fill(kind, || clean.next().unwrap(), &mut expected).unwrap();
    assert_eq!(out, expected);
}

#[test]
fn fill_feeds_the_drbg() {
    let mut entropy = [0u8; crate::drbg::ENTROPY_LEN];
    let mut source = good(SampleKind::Byte, 22);
    fill(SampleKind::Byte, || source.next().unwrap(), &mut entropy).unwrap();
    let mut drbg = crate::drbg::Drbg::new();
    drbg.reseed(&entropy).unwrap();
    let stuck = fill(SampleKind::Byte, || 0xFF, &mut entropy).map_err(crate::drbg::EntropyFailure::from);
    assert_eq!(stuck, Err(crate::drbg::EntropyFailure));
}

// ---- reporting -------------------------------------------------------------------------------

#[test]
fn failures_say_which_test_failed() {
    use alloc::string::ToString;
    let all = [
        HealthFailure::RepetitionCount,
        HealthFailure::AdaptiveProportion,
        HealthFailure::Periodicity { lag: 7 },
        HealthFailure::Progression,
        HealthFailure::InvalidSample,
    ];
    let shown: Vec<_> = all.iter().map(ToString::to_string).collect();
    assert!(shown[0].contains("repetition count"));
    assert!(shown[1].contains("adaptive proportion"));
    assert!(shown[2].contains("periodicity") && shown[2].contains('7'));
    assert!(shown[3].contains("progression"));
    assert!(shown[4].contains("0 or 1"));
    assert_eq!(alloc::format!("{:?}", all[2]), "Periodicity { lag: 7 }");
    let c = Conditioner::new(SampleKind::Bit);
    let dbg = alloc::format!("{c:?}");
    assert!(dbg.contains("Bit") && dbg.contains("started: false"), "{dbg}");
}
