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
//! Every step on secret values runs on `crypto-bigint` with loop counts and allocation sizes that
//! depend only on the public storage precisions: Montgomery multiplication and squaring, the
//! fixed-window exponentiation with a constant-time table lookup (`BoxedMontyForm::pow`), the
//! reduction of `c·A` modulo each prime (Horner's rule on Montgomery digits, as `rsa` does), the
//! recombination (`concatenating_mul`, `wrapping_add`), the blinding inversion (safegcd,
//! `BoxedMontyForm::invert`). Variable time only on public or random-and-discarded values: the
//! public exponent `e` (`pow_bounded_exp` with its bit length) and the rejection sampling of `r`.
//!
//! # Zeroization
//! Exponents, the CRT coefficient and the blinding pair are zeroized when dropped. The Montgomery
//! parameters of `p` and `q` sit in `crypto-bigint`'s reference-counted `BoxedMontyParams`, which
//! offer no way to wipe them: they are freed without zeroization, as they are inside `rsa` (whose
//! private operation makes and frees two such copies per call; here they are made once per key).

use core::cell::Cell;

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, ConcatenatingMul, NonZero, RandomMod, Resize};
use rand_core::TryCryptoRng;
use rsa::PrivateKey;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use zeroize::{Zeroize, Zeroizing};

use super::Error;

/// Operations one blinding pair serves before a new `r` is drawn (OpenSSL: `BN_BLINDING_COUNTER`).
pub const BLINDING_USES: u32 = 32;

/// The values of a key's private operation, computed once from the `rsa` key.
pub(super) struct Crt {
    n: BoxedMontyParams,
    e: BoxedUint,
    e_bits: u32,
    p: BoxedMontyParams,
    q: BoxedMontyParams,
    /// `q` at its own precision, for the recombination `m2 + h·q`.
    q_int: BoxedUint,
    p_minus_1: BoxedUint,
    q_minus_1: BoxedUint,
    dp: BoxedUint,
    dq: BoxedUint,
    /// `q^-1 mod p`, Montgomery form modulo `p`.
    qinv: BoxedMontyForm,
    blinding: Cell<Option<Blinding>>,
}

/// The blinding pair in Montgomery form modulo `n`, and how often it has been used.
struct Blinding {
    a: BoxedMontyForm,
    ai: BoxedMontyForm,
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
        self.q_int.zeroize();
        self.p_minus_1.zeroize();
        self.q_minus_1.zeroize();
        drop(self.blinding.take());
    }
}

impl Clone for Crt {
    /// A copy gets no blinding pair: two keys must never walk the same sequence of `r`.
    fn clone(&self) -> Self {
        Crt {
            n: self.n.clone(),
            e: self.e.clone(),
            e_bits: self.e_bits,
            p: self.p.clone(),
            q: self.q.clone(),
            q_int: self.q_int.clone(),
            p_minus_1: self.p_minus_1.clone(),
            q_minus_1: self.q_minus_1.clone(),
            dp: self.dp.clone(),
            dq: self.dq.clone(),
            qinv: self.qinv.clone(),
            blinding: Cell::new(None),
        }
    }
}

/// `x` in Montgomery form modulo `m`, for any precision of `x` (as `rsa`'s `to_monty`): loop
/// counts depend only on the precisions.
fn to_monty(x: &BoxedUint, m: &BoxedMontyParams) -> BoxedMontyForm {
    let bits = m.bits_precision();
    if x.bits_precision() <= bits {
        // x < R and R² mod m < m, so the Montgomery reduction's input stays below R·m.
        return BoxedMontyForm::new(x.resize_unchecked(bits), m);
    }
    // Horner's rule on base-R digits; R² mod m is the Montgomery form of R.
    let radix = BoxedMontyForm::from_montgomery(m.as_ref().r2().clone(), m);
    let width = m.modulus().as_limbs().len();
    let digit = |limbs: &[crypto_bigint::Limb]| {
        let mut value = BoxedUint::zero_with_precision(bits);
        for (dst, src) in value.as_mut_limbs().iter_mut().zip(limbs) {
            *dst = *src;
        }
        BoxedMontyForm::new(value, m)
    };
    let mut chunks = x.as_limbs().chunks(width.max(1)).rev();
    let mut acc = match chunks.next() {
        Some(top) => digit(top),
        None => BoxedMontyForm::zero(m),
    };
    for chunk in chunks {
        acc *= &radix;
        acc += &digit(chunk);
    }
    acc
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

impl Crt {
    /// The values of `key`'s private operation; `None` without the two primes and CRT values.
    pub(super) fn new(key: &PrivateKey) -> Option<Crt> {
        let [p_odd, q_odd] = key.primes() else {
            return None;
        };
        let p = BoxedMontyParams::from(key.p()?.clone());
        let q = BoxedMontyParams::from(key.q()?.clone());
        // `rsa` keeps p() and q() as primes[0] and primes[1]; check rather than assume.
        if p.modulus() != p_odd || q.modulus() != q_odd {
            return None;
        }
        let one = BoxedUint::one();
        Some(Crt {
            n: key.n_params().clone(),
            e: key.e().clone(),
            e_bits: key.e().bit_width_vartime(),
            q_int: q_odd.as_ref().clone(),
            p_minus_1: p_odd.as_ref().wrapping_sub(&one),
            q_minus_1: q_odd.as_ref().wrapping_sub(&one),
            dp: key.dp()?.clone(),
            dq: key.dq()?.clone(),
            qinv: key.qinv()?.clone(),
            p,
            q,
            blinding: Cell::new(None),
        })
    }

    /// A fresh blinding pair: `r` uniform in `[1, n)` and invertible, `A = r^e`, `Ai = r^-1`.
    fn new_blinding<R: TryCryptoRng + ?Sized>(&self, rng: &mut R) -> Result<Blinding, Error> {
        let n = NonZero::new(self.n.modulus().as_ref().clone())
            .into_option()
            .ok_or(Error::Internal)?;
        // A non-invertible r would be a factor of n: never in practice; bounded retries anyway.
        for _ in 0..8 {
            let r = Zeroizing::new(BoxedUint::try_random_mod_vartime(rng, &n).map_err(|_| Error::Rng)?);
            let r = BoxedMontyForm::new((*r).clone(), &self.n);
            if let Some(ai) = r.invert().into_option() {
                let a = r.pow_bounded_exp(&self.e, self.e_bits);
                return Ok(Blinding { a, ai, uses: 0 });
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
        let c_mont = to_monty(c, &self.n);
        // c·r^e mod n: uniformly random, whatever c is.
        let blinded = Zeroizing::new((&c_mont * &blinding.a).retrieve());
        let dp = blind_exponent(rng, &self.dp, &self.p_minus_1)?;
        let dq = blind_exponent(rng, &self.dq, &self.q_minus_1)?;
        let mut m1 = to_monty(&blinded, &self.p).pow(&dp);
        let m2 = Zeroizing::new(to_monty(&blinded, &self.q).pow(&dq).retrieve());
        // h = qinv·(m1 − m2) mod p; m = m2 + h·q < n.
        m1 -= &to_monty(&m2, &self.p);
        let h = Zeroizing::new((&self.qinv * &m1).retrieve());
        m1.zeroize();
        let bits = self.n.bits_precision();
        let hq = Zeroizing::new(
            h.concatenating_mul(&self.q_int)
                .try_resize(bits)
                .ok_or(Error::Internal)?,
        );
        let m_blinded = Zeroizing::new(
            (*m2)
                .clone()
                .try_resize(bits)
                .ok_or(Error::Internal)?
                .wrapping_add(&*hq),
        );
        let m = (&to_monty(&m_blinded, &self.n) * &blinding.ai).retrieve();
        // The next pair: (r²)^e = A², (r²)^-1 = Ai².
        self.blinding.set(Some(Blinding {
            a: blinding.a.square(),
            ai: blinding.ai.square(),
            uses: blinding.uses + 1,
        }));
        drop(blinding);
        // Fault check (CRT fault attacks, and any slip above): m^e must give c back.
        let check = to_monty(&m, &self.n).pow_bounded_exp(&self.e, self.e_bits).retrieve();
        if crate::ct_eq(&check.to_be_bytes(), &c.to_be_bytes()) {
            Ok(m)
        } else {
            Err(Error::Internal)
        }
    }
}

#[cfg(test)]
impl Crt {
    /// Breaks `dp`, as a fault during the operation would.
    pub(super) fn corrupt_for_test(&mut self) {
        self.dp = self.dp.wrapping_add(BoxedUint::one());
    }
}
