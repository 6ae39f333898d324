//! The RSA private operation: CRT with values precomputed once per key, base blinding with a
//! pair that is updated by squaring between operations (as OpenSSL's `BN_BLINDING` does), fresh
//! exponent blinding per operation, and the result checked by re-encryption before release.
//!
//! # Blinding
//! A pair `A = r^e mod n`, `Ai = r^-1 mod n` is made from a random `r` (one modular inversion) and
//! kept with the key. Each operation computes `(c·A)^d·Ai = c^d` and then replaces the pair by
//! `(A², Ai²)`, the pair of `r²`, which costs two modular squarings instead of an inversion.
//! After [`BLINDING_USES`] operations (or when the key is copied, or the pair was lost to an
//! error) a new `r` is drawn. The exponents `dp`, `dq` are blinded afresh at every operation
//! with a 128-bit random multiple of `p − 1`, `q − 1`, as `rsa` 0.10 does.
//!
//! What is left out compared to `rsa` 0.10's `rsa_decrypt`: its third countermeasure, computing
//! modulo a random multiple of each prime (CRT modulus blinding), which costs a new set of
//! Montgomery parameters (a long division) and ~40 % larger operands at every operation. It
//! protects the reduction of the input modulo `p` and `q`; here that input is `c·A`, uniformly
//! random and unknown to an observer because of the base blinding.
//!
//! # Constant time
//! Every step on secret values runs on [`monty`](super::monty) with loop counts and memory
//! accesses that depend only on the word lengths: Montgomery multiplication and squaring, the
//! fixed-window exponentiation with a constant-time table lookup, the reduction of `c·A` modulo
//! each prime (Horner's rule on Montgomery digits), the recombination (`mul_plain`, `add_plain`,
//! `sub_into`). `crypto-bigint` draws `r` and inverts it (safegcd, constant time). Variable time
//! only on public or random-and-discarded values: the public exponent `e` (square-and-multiply
//! over its bits) and the rejection sampling of `r`.
//!
//! # Zeroization
//! Exponents, the CRT coefficient, the Montgomery parameters of `p` and `q` (ours, wiped when
//! dropped) and the blinding pair are zeroized when dropped; so are the temporaries of each
//! operation (`Zeroizing`).

use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, ConcatenatingMul, NonZero, RandomMod, Resize, Word};
use rand_core::TryCryptoRng;
use rsa::PrivateKey;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use zeroize::{Zeroize, Zeroizing};

use super::Error;
use super::monty::{self, Modulus};

/// Operations one blinding pair serves before a new `r` is drawn (OpenSSL: `BN_BLINDING_COUNTER`).
pub const BLINDING_USES: u32 = 32;

/// The values of a key's private operation, computed once from the `rsa` key.
pub(super) struct Crt {
    /// `n` for drawing and inverting `r` (`crypto-bigint`), and as our [`Modulus`].
    n_params: BoxedMontyParams,
    n: Modulus,
    e: u32,
    p: Modulus,
    q: Modulus,
    p_minus_1: BoxedUint,
    q_minus_1: BoxedUint,
    dp: BoxedUint,
    dq: BoxedUint,
    /// `q^-1 mod p`, plain, at `p`'s word length.
    qinv: Vec<Word>,
    blinding: Cell<Option<Blinding>>,
}

/// The blinding pair in Montgomery form modulo `n`, and how often it has been used.
struct Blinding {
    a: Vec<Word>,
    ai: Vec<Word>,
    uses: u32,
}

impl Drop for Blinding {
    fn drop(&mut self) {
        self.a.zeroize();
        self.ai.zeroize();
    }
}

impl Drop for Crt {
    fn drop(&mut self) {
        self.dp.zeroize();
        self.dq.zeroize();
        self.qinv.zeroize();
        self.p_minus_1.zeroize();
        self.q_minus_1.zeroize();
        drop(self.blinding.take());
    }
}

impl Clone for Crt {
    /// A copy gets no blinding pair: two keys must never walk the same sequence of `r`.
    fn clone(&self) -> Self {
        Crt {
            n_params: self.n_params.clone(),
            n: self.n.clone(),
            e: self.e,
            p: self.p.clone(),
            q: self.q.clone(),
            p_minus_1: self.p_minus_1.clone(),
            q_minus_1: self.q_minus_1.clone(),
            dp: self.dp.clone(),
            dq: self.dq.clone(),
            qinv: self.qinv.clone(),
            blinding: Cell::new(None),
        }
    }
}

/// `exponent + b·totient` for a fresh random 128-bit `b` (CFRG RSA guidance §6.4, as `rsa` 0.10).
fn blind_exponent<R: TryCryptoRng + ?Sized>(
    rng: &mut R,
    exponent: &BoxedUint,
    totient: &BoxedUint,
) -> Result<Zeroizing<BoxedUint>, Error> {
    let mut bytes = Zeroizing::new([0u8; 16]);
    rng.try_fill_bytes(&mut bytes[..]).map_err(|_| Error::Rng)?;
    let b = Zeroizing::new(BoxedUint::from_le_slice(&bytes[..], 128).map_err(|_| Error::Internal)?);
    let bits = exponent.bits_precision().max(totient.bits_precision());
    let totient = Zeroizing::new(totient.resize_unchecked(bits));
    let mut blinded = Zeroizing::new(totient.concatenating_mul(&*b));
    blinded.wrapping_add_assign(exponent);
    Ok(blinded)
}

/// `x`'s words at exactly `len` words (zero-extended or cut; callers cut only zero words).
fn words_at(x: &[Word], len: usize) -> Zeroizing<Vec<Word>> {
    let mut out = Zeroizing::new(vec![0; len]);
    for (o, w) in out.iter_mut().zip(x) {
        *o = *w;
    }
    out
}

impl Crt {
    /// The values of `key`'s private operation; `None` without the two primes and CRT values,
    /// or with a public exponent wider than 32 bits (the constructors refuse those).
    pub(super) fn new(key: &PrivateKey) -> Option<Crt> {
        let [p_odd, q_odd] = key.primes() else {
            return None;
        };
        let e_words = key.e().as_words();
        if e_words.iter().skip(1).any(|w| *w != 0) || key.e().bit_width_vartime() > 32 {
            return None;
        }
        let e = u32::try_from(*e_words.first()?).ok()?;
        let p = Modulus::new(p_odd.as_ref().as_words())?;
        let q = Modulus::new(q_odd.as_ref().as_words())?;
        let n = Modulus::new(key.n().as_ref().as_words())?;
        let qinv = words_at(key.qinv()?.retrieve().as_words(), p.len());
        let one = BoxedUint::one();
        Some(Crt {
            n_params: key.n_params().clone(),
            n,
            e,
            p_minus_1: p_odd.as_ref().wrapping_sub(&one),
            q_minus_1: q_odd.as_ref().wrapping_sub(&one),
            dp: key.dp()?.clone(),
            dq: key.dq()?.clone(),
            qinv: qinv.to_vec(),
            p,
            q,
            blinding: Cell::new(None),
        })
    }

    /// A fresh blinding pair: `r` uniform in `[1, n)` and invertible, `A = r^e`, `Ai = r^-1`.
    fn new_blinding<R: TryCryptoRng + ?Sized>(&self, rng: &mut R) -> Result<Blinding, Error> {
        let n = NonZero::new(self.n_params.modulus().as_ref().clone())
            .into_option()
            .ok_or(Error::Internal)?;
        // A non-invertible r would be a factor of n: never in practice; bounded retries anyway.
        for _ in 0..8 {
            let r = Zeroizing::new(BoxedUint::try_random_mod_vartime(rng, &n).map_err(|_| Error::Rng)?);
            let r_mont = BoxedMontyForm::new((*r).clone(), &self.n_params);
            if let Some(ai) = r_mont.invert().into_option() {
                let ai = Zeroizing::new(ai.retrieve());
                let r_m = self.n.to_mont(r.as_words());
                let a = self.n.pow_public_u32(&r_m, self.e);
                let ai = self.n.to_mont(ai.as_words());
                return Ok(Blinding {
                    a: a.to_vec(),
                    ai: ai.to_vec(),
                    uses: 0,
                });
            }
        }
        Err(Error::Internal)
    }

    /// `c^d mod n` for `c < n` (at the modulus precision), blinded, checked by `m^e = c`.
    pub(super) fn private_op<R: TryCryptoRng + ?Sized>(&self, c: &BoxedUint, rng: &mut R) -> Result<BoxedUint, Error> {
        let blinding = match self.blinding.take() {
            Some(b) if b.uses < BLINDING_USES => b,
            _ => self.new_blinding(rng)?,
        };
        let n_len = self.n.len();
        let c_words = words_at(c.as_words(), n_len);
        let mut t = Zeroizing::new(self.n.scratch());
        // c·r^e mod n (plain: c ⊗ A with A in Montgomery form): uniformly random, whatever c is.
        let mut blinded = Zeroizing::new(vec![0; n_len]);
        self.n.mul_into(&mut blinded, &c_words, &blinding.a, &mut t);
        let dp = blind_exponent(rng, &self.dp, &self.p_minus_1)?;
        let dq = blind_exponent(rng, &self.dq, &self.q_minus_1)?;
        let mut m1 = self.p.pow(&self.p.to_mont(&blinded), dp.as_words());
        let m2 = self.q.retrieve(&self.q.pow(&self.q.to_mont(&blinded), dq.as_words()));
        // h = qinv·(m1 − m2) mod p; m = m2 + h·q < n.
        self.p.sub_into(&mut m1, &self.p.to_mont(&m2));
        let mut h = Zeroizing::new(vec![0; self.p.len()]);
        let mut tp = Zeroizing::new(self.p.scratch());
        self.p.mul_into(&mut h, &self.qinv, &m1, &mut tp);
        m1.zeroize();
        let hq = monty::mul_plain(&h, self.q.words());
        let m_blinded = monty::add_plain(&hq, &m2, n_len);
        // m·r^-1: plain m_blinded ⊗ Ai (Montgomery form) is plain.
        let mut m = Zeroizing::new(vec![0; n_len]);
        self.n.mul_into(&mut m, &m_blinded, &blinding.ai, &mut t);
        // The next pair: (r²)^e = A², (r²)^-1 = Ai².
        let mut a = vec![0; n_len];
        let mut ai = vec![0; n_len];
        self.n.sqr_into(&mut a, &blinding.a, &mut t);
        self.n.sqr_into(&mut ai, &blinding.ai, &mut t);
        self.blinding.set(Some(Blinding {
            a,
            ai,
            uses: blinding.uses + 1,
        }));
        drop(blinding);
        // Fault check (CRT fault attacks, and any slip above): m^e must give c back.
        let check = self.n.retrieve(&self.n.pow_public_u32(&self.n.to_mont(&m), self.e));
        if !monty::ct_eq_words(&check, &c_words) {
            return Err(Error::Internal);
        }
        Ok(BoxedUint::from_words_with_precision(
            m.iter().copied(),
            c.bits_precision(),
        ))
    }
}

#[cfg(test)]
impl Crt {
    /// Breaks `dp`, as a fault during the operation would.
    pub(super) fn corrupt_for_test(&mut self) {
        self.dp = self.dp.wrapping_add(BoxedUint::one());
    }
}
