//! Primes for RSA keys: a sieve over a window of candidates, then Miller–Rabin on [`Modulus`].
//!
//! A random odd start with its top two bits set (so that two such primes make a modulus of exactly
//! twice their length, FIPS 186-5 B.3.1); the odd numbers `start + 2i` of a window of [`WINDOW`]
//! are struck out by every odd prime below 2^18 (an odd candidate survives about one time in
//! eleven), and by `gcd(e, c − 1) ≠ 1`. Each survivor, in order, gets a Miller–Rabin test to
//! base 2, whose exponentiation needs only squarings and doublings ([`Modulus::pow2`]); a candidate
//! that passes gets [`random_rounds`] more rounds with random bases (FIPS 186-5 Table B.1's counts
//! for a 2^-100 error probability, conservatively rounded up) before it is returned.
//!
//! This replaces `rsa`'s generator (`crypto-primes`: sieve, then Miller–Rabin base 2 and a strong
//! Lucas test) because its arithmetic on `crypto-bigint` is several times slower on the RP2040 (see
//! [`monty`](super::monty)); the key is then assembled by `rsa` from the two primes.
//!
//! # Timing
//! The exponentiations run in constant time (`Modulus`). Not constant time, as in `crypto-primes`
//! and OpenSSL: how many candidates are rejected before the prime is found (the sieve and the early
//! exits on composites), and the number `k` of squarings in a Miller–Rabin test (the 2-adic
//! valuation of `p − 1`). Both concern candidates that are discarded, or at most the low bits of
//! `p − 1`, which do not help factoring.

use alloc::vec;
use alloc::vec::Vec;

use crypto_bigint::{BitOps, BoxedUint, NonZero, RandomBits, RandomMod, Word};
use rand_core::TryCryptoRng;
use zeroize::Zeroizing;

use super::Error;
use super::monty::{Modulus, WORD_BITS, ct_eq_words};

/// Odd candidates per window (`start + 2i`, `i < WINDOW`).
const WINDOW: usize = 4096;
/// The sieve uses the odd primes below this bound: 2^18 (23,000 primes) strikes out 11 % more
/// candidates than 2^16 for about 0.35 s more residue work per window on the RP2040, a net gain
/// of ~1.5 s per 1024-bit prime there (each Miller–Rabin test costs ~0.4 s).
const SIEVE_BOUND: usize = 1 << 18;
/// Bits per chunk of the candidate in the residue computation: `r·2^14 + chunk < 2^32` for every
/// `r < SIEVE_BOUND`.
const CHUNK_BITS: usize = 14;

/// The odd primes below [`SIEVE_BOUND`] as a bitmap over the odd numbers (bit `i` set: `2i + 1`
/// is composite), 16 KiB; made once per key and used for both primes.
pub(super) struct SmallPrimes {
    composite: Vec<u32>,
}

impl SmallPrimes {
    /// Eratosthenes over the odd numbers below [`SIEVE_BOUND`].
    pub(super) fn new() -> SmallPrimes {
        let half = SIEVE_BOUND / 2;
        let mut composite = vec![0u32; half / 32];
        let mut i = 1;
        while (2 * i + 1) * (2 * i + 1) < SIEVE_BOUND {
            if composite[i / 32] & (1 << (i % 32)) == 0 {
                let p = 2 * i + 1;
                let mut j = (p * p) / 2;
                while j < half {
                    composite[j / 32] |= 1 << (j % 32);
                    j += p;
                }
            }
            i += 1;
        }
        composite[0] |= 1; // 1 is not a prime
        SmallPrimes { composite }
    }

    /// The odd primes, ascending.
    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.composite.iter().enumerate().flat_map(|(w, bits)| {
            (0..32u32).filter(move |b| bits & (1 << b) == 0).map(move |b| {
                #[allow(clippy::cast_possible_truncation, reason = "below 2^18")]
                let i = (w * 32) as u32 + b;
                2 * i + 1
            })
        })
    }
}

/// `x`'s [`CHUNK_BITS`]-bit chunks (bits `14k .. 14k + 14`), most significant first.
fn chunks(x: &[Word]) -> Vec<u32> {
    let bits = x.len() * WORD_BITS;
    let count = bits.div_ceil(CHUNK_BITS);
    let mut out = Vec::with_capacity(count);
    for k in (0..count).rev() {
        let mut c: u32 = 0;
        for bit in (k * CHUNK_BITS..((k + 1) * CHUNK_BITS).min(bits)).rev() {
            #[allow(clippy::cast_possible_truncation, reason = "one bit")]
            let b = ((x.get(bit / WORD_BITS).copied().unwrap_or(0) >> (bit % WORD_BITS)) & 1) as u32;
            c = (c << 1) | b;
        }
        out.push(c);
    }
    out
}

/// `x mod d` for an odd `d` below [`SIEVE_BOUND`], from `x`'s [`chunks`] by Barrett reduction: one
/// division to get `⌊(2^32 − 1)/d⌋`, then a widening multiply per chunk (a division per chunk
/// costs several times more on the Cortex-M0+, which divides in software). Branch-free.
fn rem_small(chunks: &[u32], d: u32) -> u32 {
    let Some(m) = u32::MAX.checked_div(d) else {
        return 0;
    };
    let mut r: u32 = 0;
    for &chunk in chunks {
        // y < d·2^14 ≤ 2^32; q is ⌊y/d⌋ or one less, so y − q·d < 2d.
        let y = (r << CHUNK_BITS) | chunk;
        #[allow(clippy::cast_possible_truncation, reason = "the high word of a 64-bit product")]
        let q = ((u64::from(y) * u64::from(m)) >> 32) as u32;
        let t = y.wrapping_sub(q.wrapping_mul(d));
        r = t.wrapping_sub(d & u32::from(t >= d).wrapping_neg());
    }
    r
}

/// `x mod d` for any `d` of 32 bits.
fn rem_u32(x: &[Word], d: u32) -> u32 {
    let d = u64::from(d);
    let mut r: u64 = 0;
    for &w in x.iter().rev() {
        for k in (0..WORD_BITS / 16).rev() {
            #[allow(clippy::cast_possible_truncation, reason = "a 16-bit chunk")]
            let chunk = ((w >> (16 * k)) & 0xffff) as u32;
            r = ((r << 16) | u64::from(chunk)) % d;
        }
    }
    #[allow(clippy::cast_possible_truncation, reason = "below d < 2^32")]
    let r = r as u32;
    r
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Miller–Rabin rounds with random bases after the base-2 round, for a prime of `bits`.
pub(super) fn random_rounds(bits: usize) -> usize {
    match bits {
        0..=767 => 7,
        768..=1279 => 5,
        _ => 4,
    }
}

/// `x + small` into `out` (same length); returns the carry out.
fn add_small(out: &mut [Word], x: &[Word], small: Word) -> Word {
    let mut carry = small;
    for (o, &w) in out.iter_mut().zip(x) {
        let (v, c) = w.overflowing_add(carry);
        *o = v;
        carry = Word::from(c);
    }
    carry
}

/// A random `bits`-bit number with its top two bits and bit 0 set (as `rsa`'s generator draws its
/// starts), at `bits.div_ceil(WORD_BITS)` words.
fn random_start<R: TryCryptoRng + ?Sized>(rng: &mut R, bits: usize) -> Result<Zeroizing<Vec<Word>>, Error> {
    let bits = u32::try_from(bits).map_err(|_| Error::InvalidInput)?;
    let mut x = Zeroizing::new(BoxedUint::try_random_bits(rng, bits).map_err(|_| Error::Rng)?);
    x.set_bit_vartime(0, true);
    x.set_bit_vartime(bits - 1, true);
    x.set_bit_vartime(bits - 2, true);
    Ok(Zeroizing::new(x.as_words().to_vec()))
}

/// A uniformly random base in `[2, n − 2]` for the odd `n ≥ 5`: `2 + (uniform below n − 3)`
/// (the draws are used only as a Miller–Rabin base, so variable time is harmless).
fn random_base<R: TryCryptoRng + ?Sized>(rng: &mut R, n: &[Word]) -> Result<Zeroizing<Vec<Word>>, Error> {
    let n = BoxedUint::from_words(n.iter().copied());
    let range = NonZero::new(n.wrapping_sub(BoxedUint::from(3u64)))
        .into_option()
        .ok_or(Error::InvalidInput)?;
    let mut a = Zeroizing::new(BoxedUint::try_random_mod_vartime(rng, &range).map_err(|_| Error::Rng)?);
    a.wrapping_add_assign(BoxedUint::from(2u64));
    Ok(Zeroizing::new(a.as_words().to_vec()))
}

/// One Miller–Rabin round on the odd `n > 3` (`m` its [`Modulus`], `minus_one` its −1 in
/// Montgomery form) with `x = a^d` already computed (Montgomery form), `n − 1 = d·2^k`: probably
/// prime?
fn mr_finish(m: &Modulus, minus_one: &[Word], mut x: Zeroizing<Vec<Word>>, k: usize) -> bool {
    let one = m.one();
    if ct_eq_words(&x, one) || ct_eq_words(&x, minus_one) {
        return true;
    }
    let mut t = Zeroizing::new(m.scratch());
    let mut y = Zeroizing::new(vec![0; m.len()]);
    for _ in 1..k {
        m.sqr_into(&mut y, &x, &mut t);
        x.copy_from_slice(&y);
        if ct_eq_words(&x, minus_one) {
            return true;
        }
        if ct_eq_words(&x, one) {
            return false;
        }
    }
    false
}

/// `n − 1 = d·2^k` for odd `n > 1`: `(d, k)`.
fn split_n_minus_1(n: &[Word]) -> (Zeroizing<Vec<Word>>, usize) {
    let mut d = Zeroizing::new(n.to_vec());
    if let Some(w) = d.first_mut() {
        *w &= !1;
    }
    let mut k = 0;
    for w in d.iter() {
        if *w == 0 {
            k += WORD_BITS;
        } else {
            k += w.trailing_zeros() as usize;
            break;
        }
    }
    let (words, bits) = (k / WORD_BITS, k % WORD_BITS);
    let len = d.len();
    for i in 0..len {
        let lo = d.get(i + words).copied().unwrap_or(0);
        let hi = d.get(i + words + 1).copied().unwrap_or(0);
        d[i] = if bits == 0 {
            lo
        } else {
            (lo >> bits) | (hi << (WORD_BITS - bits))
        };
    }
    (d, k)
}

/// Whether the odd `n` (at least 5; trimmed words) is a probable prime: Miller–Rabin to base 2,
/// then `rounds` rounds with random bases.
pub(super) fn is_probable_prime<R: TryCryptoRng + ?Sized>(
    n: &[Word],
    rounds: usize,
    rng: &mut R,
) -> Result<bool, Error> {
    let Some(m) = Modulus::new(n) else {
        return Ok(false);
    };
    let (d, k) = split_n_minus_1(m.words());
    // n − (R mod n): −1 in Montgomery form.
    let mut minus_one = Zeroizing::new(m.words().to_vec());
    m.sub_into(&mut minus_one, m.one());
    if !mr_finish(&m, &minus_one, m.pow2(&d), k) {
        return Ok(false);
    }
    for _ in 0..rounds {
        let a = random_base(rng, m.words())?;
        let x = m.pow(&m.to_mont(&a), &d);
        if !mr_finish(&m, &minus_one, x, k) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A random prime of exactly `bits` bits (top two bits set) with `gcd(e, p − 1) = 1`, or `None`
/// as soon as `stop` (asked before every Miller–Rabin test and every new window) says so.
pub(super) fn generate_prime<R: TryCryptoRng + ?Sized>(
    rng: &mut R,
    primes: &SmallPrimes,
    bits: usize,
    e: u32,
    stop: &mut dyn FnMut() -> bool,
) -> Result<Option<Zeroizing<Vec<Word>>>, Error> {
    if bits < 64 || e < 3 {
        return Err(Error::InvalidInput);
    }
    let rounds = random_rounds(bits);
    let mut struck = vec![false; WINDOW];
    // Bounded so that a broken random generator cannot hang the card (each window holds about
    // 11 primes on average for 1024 bits; 64 empty windows in a row do not happen).
    for _ in 0..64 {
        if stop() {
            return Ok(None);
        }
        let start = random_start(rng, bits)?;
        struck.fill(false);
        let start_chunks = Zeroizing::new(chunks(&start));
        for p in primes.iter() {
            let r = rem_small(&start_chunks, p) as usize;
            let p = p as usize;
            // start + 2i ≡ 0 (mod p) ⇔ i ≡ −start·2⁻¹ (mod p), 2⁻¹ = (p + 1)/2.
            // In u64: (p − r)·(p + 1)/2 reaches 2^35 for p near 2^18.
            #[allow(clippy::cast_possible_truncation, reason = "reduced mod p < 2^18")]
            let mut i = ((((p - r) % p) as u64 * p.div_ceil(2) as u64) % p as u64) as usize;
            while i < WINDOW {
                struck[i] = true;
                i += p;
            }
        }
        let start_mod_e = u64::from(rem_u32(&start, e));
        let mut candidate = Zeroizing::new(vec![0 as Word; start.len()]);
        for (i, _) in struck.iter().enumerate().filter(|(_, s)| !**s) {
            // gcd(e, c − 1) = 1 with c − 1 ≡ start + 2i − 1 (mod e).
            #[allow(clippy::cast_possible_truncation, reason = "below e < 2^32")]
            let c_minus_1 = ((start_mod_e + 2 * i as u64 + u64::from(e) - 1) % u64::from(e)) as u32;
            if gcd(e, c_minus_1) != 1 {
                continue;
            }
            #[allow(clippy::cast_possible_truncation, reason = "2i < 2·WINDOW")]
            let carry = add_small(&mut candidate, &start, (2 * i) as Word);
            let top_bits = candidate.len() * WORD_BITS - candidate.last().map_or(0, |w| w.leading_zeros() as usize);
            if carry != 0 || top_bits != bits {
                break; // ran past 2^bits: draw a new start
            }
            if stop() {
                return Ok(None);
            }
            if is_probable_prime(&candidate, rounds, rng)? {
                return Ok(Some(candidate));
            }
        }
    }
    Err(Error::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use crypto_primes::{Flavor, is_prime};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    /// `x` (up to 128 bits) as trimmed words.
    fn words(x: u128) -> Vec<Word> {
        let bytes = x.to_le_bytes();
        let mut w: Vec<Word> = bytes
            .chunks_exact(WORD_BITS / 8)
            .map(|c| {
                let mut le = [0u8; WORD_BITS / 8];
                le.copy_from_slice(c);
                Word::from_le_bytes(le)
            })
            .collect();
        while w.len() > 1 && w.last() == Some(&0) {
            w.pop();
        }
        w
    }

    #[test]
    fn residues_match_division() {
        let mut x: Vec<Word> = (0..40)
            .map(|i| (i as Word).wrapping_mul(0x9e37_79b9_7f4a_7c15u64 as Word) ^ 0xdead_beef)
            .collect();
        x[39] = Word::MAX;
        let big = BoxedUint::from_words(x.iter().copied());
        let c = chunks(&x);
        for d in [3u32, 5, 7, 65521, 65519, 251, 4099, 262139, 131071] {
            let want = big.rem(&crypto_bigint::NonZero::new(BoxedUint::from(u64::from(d))).unwrap());
            assert_eq!(want.as_words()[0], Word::from(rem_small(&c, d)), "mod {d}");
        }
        for d in [65537u32, 3, 0xffff_fffb] {
            let want = big.rem(&crypto_bigint::NonZero::new(BoxedUint::from(u64::from(d))).unwrap());
            assert_eq!(want.as_words()[0], Word::from(rem_u32(&x, d)), "mod {d}");
        }
    }

    #[test]
    fn small_primes_are_the_odd_primes_below_2_18() {
        let primes: Vec<u32> = SmallPrimes::new().iter().collect();
        assert_eq!(primes.len(), 22_999); // π(2^18) = 23,000, less the prime 2
        assert_eq!(&primes[..5], &[3, 5, 7, 11, 13]);
        assert_eq!(primes.last(), Some(&262_139));
        assert!(primes.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn miller_rabin_tells_primes_from_composites() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let primes: [u128; 8] = [
            5,
            7,
            13,
            65537,
            (1 << 61) - 1,
            (1 << 89) - 1,
            (1 << 107) - 1,
            (1 << 127) - 1,
        ];
        for p in primes {
            assert!(is_probable_prime(&words(p), 7, &mut rng).unwrap(), "{p} is prime");
        }
        // Carmichael numbers, strong pseudoprimes to base 2 (2047, 3277, 4033, 4681, 8321), to
        // bases 2, 3, 5, 7 (3215031751), to the first nine prime bases (3825123056546413051),
        // Mersenne composites and a square of a prime.
        let composites: [u128; 12] = [
            9,
            561,
            41041,
            2047,
            3277,
            4033,
            4681,
            8321,
            3215031751,
            3825123056546413051,
            (1 << 67) - 1,
            ((1 << 61) - 1) * ((1 << 61) - 1),
        ];
        for c in composites {
            assert!(!is_probable_prime(&words(c), 7, &mut rng).unwrap(), "{c} is composite");
        }
    }

    #[test]
    fn generated_primes_pass_rsa_s_test_and_meet_the_constraints() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let primes = SmallPrimes::new();
        for (bits, e) in [(512, 65537u32), (512, 3), (520, 17), (1024, 65537)] {
            let p = generate_prime(&mut rng, &primes, bits, e, &mut || false)
                .unwrap()
                .unwrap();
            let big = BoxedUint::from_words(p.iter().copied());
            assert_eq!(big.bit_width_vartime() as usize, bits);
            assert!(big.bit_vartime(bits as u32 - 2), "second bit from the top set");
            assert!(is_prime(Flavor::Any, &big), "crypto-primes agrees");
            assert_eq!(gcd(e, rem_u32(&p, e).wrapping_sub(1) % e), 1);
            // And a product of two such primes is composite.
            let q = generate_prime(&mut rng, &primes, bits, e, &mut || false)
                .unwrap()
                .unwrap();
            let n = super::super::monty::mul_plain(&p, &q);
            assert!(!is_probable_prime(&n, 5, &mut rng).unwrap());
        }
        assert_eq!(
            generate_prime(&mut rng, &primes, 32, 65537, &mut || false).err(),
            Some(Error::InvalidInput)
        );
    }
}
