//! Montgomery arithmetic on word slices for the RSA private operation and the prime search.
//!
//! Why not `crypto-bigint`'s `BoxedMontyForm`, which the rest of the RSA code uses: on the
//! RP2040's Cortex-M0+ (no 32×32→64-bit multiply instruction) its generic limb arithmetic costs
//! about 100 cycles per word product (every product a call to `__aeabi_lmul` plus 64-bit carry
//! handling), which made an RSA-2048 signature take ~5 s and a key generation minutes there. Here
//! the whole work of an exponentiation is one primitive, [`mul_add_row`] (`t += a·b`, one word of
//! `b`), which has a hand-scheduled ARMv6-M version (feature `armv6m-asm`, ~34 cycles per word
//! product: four 16×16 `MULS`) and a portable one (one widening multiply per word, which on 64-bit
//! hosts compiles to `mul`/`adc`). Squaring computes each cross product once (~1.5 s² word
//! products instead of 2 s² for s words), and the Montgomery parameters of a secret prime are ours
//! to zeroize (`crypto-bigint`'s reference-counted parameters cannot be wiped).
//!
//! # Constant time
//! Every loop count and memory access depends only on the word lengths of the operands (public):
//! multiplication and reduction (separated operand scanning), the final conditional subtraction
//! (a mask from the borrow), modular addition and subtraction (masks), the fixed-window
//! exponentiation (every window squares `w` times and multiplies once; the table entry is taken by
//! reading all entries and masking). The table lookup's masks go through `subtle`. The only
//! variable-time routine is [`Modulus::pow_public_u32`], for a public exponent.

use alloc::vec;
use alloc::vec::Vec;

use crypto_bigint::{WideWord, Word};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use zeroize::{Zeroize, Zeroizing};

/// Bits per word.
pub(super) const WORD_BITS: usize = Word::BITS as usize;

/// `t[j] += a[j]·b` over `a`'s length with the carry chained; returns the carry out of the last
/// word. `t` must be at least as long as `a`.
#[inline]
pub(crate) fn mul_add_row(t: &mut [Word], a: &[Word], b: Word) -> Word {
    #[cfg(all(feature = "armv6m-asm", target_arch = "arm"))]
    {
        if a.is_empty() || t.len() < a.len() {
            return 0;
        }
        // SAFETY: `a` is non-empty and `t` holds at least `a.len()` words; the routine reads
        // `a.len()` words of each and writes `a.len()` words of `t`.
        #[allow(clippy::cast_possible_truncation, reason = "lengths of RSA operands fit in u32")]
        #[allow(unsafe_code, reason = "the assembly routine's call; bounds checked above")]
        return unsafe { armv6m::hsm_mul_add_row(t.as_mut_ptr(), a.as_ptr(), a.len() as u32, b) };
    }
    #[allow(
        unreachable_code,
        reason = "the portable version when the assembly one is compiled in"
    )]
    mul_add_row_portable(t, a, b)
}

/// [`mul_add_row`] in Rust: one widening multiply per word.
#[inline]
pub(super) fn mul_add_row_portable(t: &mut [Word], a: &[Word], b: Word) -> Word {
    let mut carry: Word = 0;
    for (tj, &aj) in t.iter_mut().zip(a) {
        let v = WideWord::from(aj) * WideWord::from(b) + WideWord::from(*tj) + WideWord::from(carry);
        *tj = v as Word;
        carry = (v >> WORD_BITS) as Word;
    }
    carry
}

#[cfg(all(feature = "armv6m-asm", target_arch = "arm"))]
#[allow(unsafe_code, reason = "an assembly routine and its declaration")]
mod armv6m {
    //! `t[j] += a[j]·b + carry` for the Cortex-M0+ (ARMv6-M: `MULS` gives only the low 32 bits).
    //! Per word: `a = a1:a0`, `b = b1:b0` in 16-bit halves, four `MULS` (a0·b0, a1·b0, a0·b1,
    //! a1·b1), the two middle products added at bit 16 with their carries into the high word, then
    //! `t[j]` and the incoming carry. The sum `a·b + t + c` is below 2^64, so the high word never
    //! overflows. `MOVS rX, #0` leaves the carry flag alone (Thumb encoding T1), which the `ADCS`
    //! that follows consumes. Two words per loop pass with the carry alternating between two
    //! registers (one word first for an odd length). Branches only on the length, no
    //! data-dependent memory access: constant time. r8 (end of `a`) and r9 (b1) are saved and
    //! restored. ~27 cycles per word on the RP2040 by the instruction timings of the Cortex-M0+.
    core::arch::global_asm!(
        // One word: t[j] += a[j]*b + \c, the carry out in \h; \c is scratch once added.
        ".macro hsm_mac_word c, h",
        "ldm r1!, {{r4}}",  // r4 = a[j]
        "lsrs r6, r4, #16", // r6 = a1
        "uxth r4, r4",      // r4 = a0
        "mov r5, r9",       // r5 = b1
        "mov \\h, r5",
        "muls \\h, r6, \\h", // a1*b1: the high word
        "muls r5, r4, r5",   // a0*b1
        "muls r4, r3, r4",   // a0*b0: the low word
        "muls r6, r3, r6",   // a1*b0
        "adds r4, r4, \\c",  // + carry in
        "movs \\c, #0",
        "adcs \\h, \\h, \\c",
        "lsls \\c, r6, #16", // + a1*b0 << 16
        "lsrs r6, r6, #16",
        "adds r4, r4, \\c",
        "adcs \\h, \\h, r6",
        "lsls \\c, r5, #16", // + a0*b1 << 16
        "lsrs r5, r5, #16",
        "adds r4, r4, \\c",
        "adcs \\h, \\h, r5",
        "ldr r5, [r0]", // + t[j]
        "adds r4, r4, r5",
        "movs \\c, #0",
        "adcs \\h, \\h, \\c",
        "stm r0!, {{r4}}",
        ".endm",
        ".section .text.hsm_mul_add_row,\"ax\",%progbits",
        ".global hsm_mul_add_row",
        ".type hsm_mul_add_row,%function",
        ".thumb_func",
        "hsm_mul_add_row:",
        // r0 = t, r1 = a, r2 = len (≥ 1), r3 = b
        "push {{r4, r5, r6, r7, lr}}",
        "mov r4, r8",
        "mov r5, r9",
        "push {{r4, r5}}",
        "lsrs r4, r3, #16",
        "mov r9, r4",  // r9 = b1
        "uxth r3, r3", // r3 = b0
        "lsls r4, r2, #2",
        "adds r4, r1, r4",
        "mov r8, r4",      // r8 = end of a
        "lsrs r2, r2, #1", // C = len odd
        "movs r2, #0",     // carry in r2 (MOVS keeps C)
        "bcc 2f",
        // An odd length: one word first, carry r2 -> r7, then back to r2.
        "hsm_mac_word r2, r7",
        "mov r2, r7",
        "cmp r1, r8",
        "beq 3f",
        // Two words per pass, the carry alternating between r2 and r7 (no move).
        "2:",
        "hsm_mac_word r2, r7",
        "hsm_mac_word r7, r2",
        "cmp r1, r8",
        "bne 2b",
        "3:",
        "mov r0, r2",
        "pop {{r4, r5}}",
        "mov r8, r4",
        "mov r9, r5",
        "pop {{r4, r5, r6, r7, pc}}",
        ".size hsm_mul_add_row, . - hsm_mul_add_row",
        ".purgem hsm_mac_word",
    );

    unsafe extern "C" {
        pub(super) fn hsm_mul_add_row(t: *mut u32, a: *const u32, len: u32, b: u32) -> u32;
    }
}

/// `-n0^-1 mod 2^WORD_BITS` for odd `n0` (Newton's iteration; each step doubles the good bits).
fn neg_inverse(n0: Word) -> Word {
    let mut x: Word = 1;
    for _ in 0..7 {
        x = x.wrapping_mul((2 as Word).wrapping_sub(n0.wrapping_mul(x)));
    }
    x.wrapping_neg()
}

/// `a −= b` over equal lengths; returns the borrow (0 or 1).
fn sub_assign(a: &mut [Word], b: &[Word]) -> Word {
    let mut borrow: Word = 0;
    for (x, &y) in a.iter_mut().zip(b) {
        let (d, b1) = x.overflowing_sub(y);
        let (d, b2) = d.overflowing_sub(borrow);
        *x = d;
        borrow = Word::from(b1 | b2);
    }
    borrow
}

/// `a += b & mask` over equal lengths; returns the carry.
fn add_masked(a: &mut [Word], b: &[Word], mask: Word) -> Word {
    let mut carry: Word = 0;
    for (x, &y) in a.iter_mut().zip(b) {
        let v = WideWord::from(*x) + WideWord::from(y & mask) + WideWord::from(carry);
        *x = v as Word;
        carry = (v >> WORD_BITS) as Word;
    }
    carry
}

/// An odd modulus with its Montgomery parameters (`R = 2^(WORD_BITS·len)`); wiped when dropped.
pub(super) struct Modulus {
    n: Vec<Word>,
    n0inv: Word,
    /// `R² mod n`.
    r2: Vec<Word>,
    /// `R mod n` (one, in Montgomery form).
    one: Vec<Word>,
}

impl Drop for Modulus {
    fn drop(&mut self) {
        self.n.zeroize();
        self.n0inv.zeroize();
        self.r2.zeroize();
        self.one.zeroize();
    }
}

impl Clone for Modulus {
    fn clone(&self) -> Self {
        Modulus {
            n: self.n.clone(),
            n0inv: self.n0inv,
            r2: self.r2.clone(),
            one: self.one.clone(),
        }
    }
}

impl Modulus {
    /// `n` (little-endian words, leading zero words trimmed) when it is odd and greater than one.
    /// Constant time in `n`'s value for a given word length.
    pub(super) fn new(n: &[Word]) -> Option<Modulus> {
        let len = n.iter().rposition(|&w| w != 0)? + 1;
        let n = n.get(..len)?.to_vec();
        let n0 = *n.first()?;
        if n0 & 1 == 0 || (len == 1 && n0 == 1) {
            return None;
        }
        let top_bits = WORD_BITS - n.last()?.leading_zeros() as usize;
        let mut m = Modulus {
            n0inv: neg_inverse(n0),
            n,
            r2: vec![0; len],
            one: vec![0; len],
        };
        // 2^(bits − 1) < n, doubled up to R: R mod n.
        let mut x = vec![0; len];
        if let Some(top) = x.last_mut() {
            *top = 1 << (top_bits - 1);
        }
        for _ in top_bits - 1..WORD_BITS {
            m.double(&mut x);
        }
        m.one.copy_from_slice(&x);
        // R·2^k for the bits k of WORD_BITS·len from the top: squaring doubles k, doubling adds 1.
        let target = WORD_BITS * len;
        let mut scratch = m.scratch();
        let mut out = vec![0; len];
        for i in (0..usize::BITS - target.leading_zeros()).rev() {
            m.sqr_into(&mut out, &x, &mut scratch);
            x.copy_from_slice(&out);
            if (target >> i) & 1 == 1 {
                m.double(&mut x);
            }
        }
        // The first squaring above took R·2^0 to R·2^0; the loop built R·2^target = R².
        m.r2.copy_from_slice(&x);
        x.zeroize();
        out.zeroize();
        scratch.zeroize();
        Some(m)
    }

    /// Number of words of the modulus.
    pub(super) fn len(&self) -> usize {
        self.n.len()
    }

    /// The modulus's words.
    pub(super) fn words(&self) -> &[Word] {
        &self.n
    }

    /// One in Montgomery form.
    pub(super) fn one(&self) -> &[Word] {
        &self.one
    }

    /// A scratch buffer for the products (`2·len + 1` words).
    pub(super) fn scratch(&self) -> Vec<Word> {
        vec![0; 2 * self.n.len() + 1]
    }

    /// `x = 2x mod n` for `x < n`.
    pub(super) fn double(&self, x: &mut [Word]) {
        let mut top: Word = 0;
        for w in x.iter_mut() {
            let next = *w >> (WORD_BITS - 1);
            *w = (*w << 1) | top;
            top = next;
        }
        self.reduce_once(x, top);
    }

    /// `x − n` when `top·R + x ≥ n`, else `x` (for `top·R + x < 2n`).
    fn reduce_once(&self, x: &mut [Word], top: Word) {
        let borrow = sub_assign(x, &self.n);
        // Undo the subtraction when it borrowed and there was no top word.
        let undo = borrow & !top & 1;
        add_masked(x, &self.n, undo.wrapping_neg());
    }

    /// `a + b mod n` for `a, b < n`.
    pub(super) fn add_into(&self, a: &mut [Word], b: &[Word]) {
        let carry = add_masked(a, b, Word::MAX);
        self.reduce_once(a, carry);
    }

    /// `a − b mod n` for `a, b < n`.
    pub(super) fn sub_into(&self, a: &mut [Word], b: &[Word]) {
        let borrow = sub_assign(a, b);
        add_masked(a, &self.n, borrow.wrapping_neg());
    }

    /// Montgomery reduction of `t` (`2·len + 1` words, `t < n·R`) into `out`: `t·R⁻¹ mod n`.
    fn reduce(&self, out: &mut [Word], t: &mut [Word]) {
        let s = self.n.len();
        let mut carry: Word = 0;
        for i in 0..s {
            let m = t[i].wrapping_mul(self.n0inv);
            let c = mul_add_row(&mut t[i..i + s], &self.n, m);
            let (v, o1) = t[i + s].overflowing_add(c);
            let (v, o2) = v.overflowing_add(carry);
            t[i + s] = v;
            carry = Word::from(o1 | o2);
        }
        out.copy_from_slice(&t[s..2 * s]);
        self.reduce_once(out, carry);
    }

    /// `out = a·b·R⁻¹ mod n` for `a < R`, `b < n` (both `len` words); `t` from [`Self::scratch`].
    pub(super) fn mul_into(&self, out: &mut [Word], a: &[Word], b: &[Word], t: &mut [Word]) {
        let s = self.n.len();
        t.fill(0);
        for (i, &bi) in b.iter().enumerate().take(s) {
            t[i + s] = mul_add_row(&mut t[i..i + s], &a[..s], bi);
        }
        self.reduce(out, t);
    }

    /// `out = a²·R⁻¹ mod n` for `a < n`; each cross product once, then doubled.
    pub(super) fn sqr_into(&self, out: &mut [Word], a: &[Word], t: &mut [Word]) {
        let s = self.n.len();
        t.fill(0);
        for i in 0..s.saturating_sub(1) {
            t[i + s] = mul_add_row(&mut t[2 * i + 1..i + s], &a[i + 1..s], a[i]);
        }
        // Double the cross products and add the squares a[i]² in one pass.
        let mut top: Word = 0;
        let mut carry: WideWord = 0;
        for i in 0..s {
            let sq = WideWord::from(a[i]) * WideWord::from(a[i]);
            let (lo, hi) = (t[2 * i], t[2 * i + 1]);
            let lo2 = (lo << 1) | top;
            let hi2 = (hi << 1) | (lo >> (WORD_BITS - 1));
            top = hi >> (WORD_BITS - 1);
            let v = WideWord::from(lo2) + (sq & WideWord::from(Word::MAX)) + carry;
            t[2 * i] = v as Word;
            let v = WideWord::from(hi2) + (sq >> WORD_BITS) + (v >> WORD_BITS);
            t[2 * i + 1] = v as Word;
            carry = v >> WORD_BITS;
        }
        self.reduce(out, t);
    }

    /// `x` (any number of words) in Montgomery form: Horner's rule on base-R digits.
    pub(super) fn to_mont(&self, x: &[Word]) -> Zeroizing<Vec<Word>> {
        let s = self.n.len();
        let mut t = Zeroizing::new(self.scratch());
        let mut acc = Zeroizing::new(vec![0; s]);
        let mut digit = Zeroizing::new(vec![0; s]);
        let mut tmp = Zeroizing::new(vec![0; s]);
        let chunks = x.len().div_ceil(s);
        for k in (0..chunks).rev() {
            digit.fill(0);
            let end = x.len().min((k + 1) * s);
            digit[..end - k * s].copy_from_slice(&x[k * s..end]);
            // acc·R + digit, in Montgomery form: acc ⊗ R² + digit ⊗ R².
            self.mul_into(&mut tmp, &acc, &self.r2, &mut t);
            acc.copy_from_slice(&tmp);
            self.mul_into(&mut tmp, &digit, &self.r2, &mut t);
            self.add_into(&mut acc, &tmp);
        }
        acc
    }

    /// Montgomery form back to the plain residue.
    pub(super) fn retrieve(&self, x: &[Word]) -> Zeroizing<Vec<Word>> {
        let mut one = vec![0; self.n.len()];
        one[0] = 1;
        let mut out = Zeroizing::new(vec![0; self.n.len()]);
        let mut t = Zeroizing::new(self.scratch());
        self.mul_into(&mut out, &one, x, &mut t);
        out
    }

    /// `base^exp` in Montgomery form (`base` in Montgomery form), `exp` little-endian words read
    /// in full (its length, not its value, sets the work): fixed windows, constant-time lookup.
    pub(super) fn pow(&self, base: &[Word], exp: &[Word]) -> Zeroizing<Vec<Word>> {
        let s = self.n.len();
        let bits = exp.len() * WORD_BITS;
        let w = if bits > 512 { 5 } else { 4 };
        let entries = 1usize << w;
        let mut t = Zeroizing::new(self.scratch());
        // table[k] = base^k.
        let mut table = Zeroizing::new(vec![0; entries * s]);
        table[..s].copy_from_slice(&self.one);
        table[s..2 * s].copy_from_slice(&base[..s]);
        for k in 2..entries {
            let (done, rest) = table.split_at_mut(k * s);
            let prev = &done[(k - 1) * s..];
            self.mul_into(&mut rest[..s], prev, &base[..s], &mut t);
        }
        let mut acc = Zeroizing::new(self.one.clone());
        let mut tmp = Zeroizing::new(vec![0; s]);
        let mut entry = Zeroizing::new(vec![0; s]);
        let windows = bits.div_ceil(w);
        for i in (0..windows).rev() {
            for _ in 0..w {
                self.sqr_into(&mut tmp, &acc, &mut t);
                acc.copy_from_slice(&tmp);
            }
            let digit = window(exp, i * w, w);
            entry.fill(0);
            for (k, e) in table.chunks_exact(s).enumerate() {
                #[allow(clippy::cast_possible_truncation, reason = "k < 32")]
                let hit = (k as u32).ct_eq(&digit);
                for (dst, &src) in entry.iter_mut().zip(e) {
                    dst.conditional_assign(&src, hit);
                }
            }
            self.mul_into(&mut tmp, &acc, &entry, &mut t);
            acc.copy_from_slice(&tmp);
        }
        acc
    }

    /// `2^exp` in Montgomery form, `exp` read in full: per bit a squaring and a doubling whose
    /// result is kept or not by a mask (no multiplication: the Miller–Rabin test to base 2).
    pub(super) fn pow2(&self, exp: &[Word]) -> Zeroizing<Vec<Word>> {
        let s = self.n.len();
        let mut t = Zeroizing::new(self.scratch());
        let mut acc = Zeroizing::new(self.one.clone());
        let mut tmp = Zeroizing::new(vec![0; s]);
        for i in (0..exp.len() * WORD_BITS).rev() {
            self.sqr_into(&mut tmp, &acc, &mut t);
            // acc = tmp·2^bit: a shift by 0 or 1 bit (a shift count is no branch on the M0+),
            // then the conditional subtraction.
            let bit = (exp.get(i / WORD_BITS).copied().unwrap_or(0) >> (i % WORD_BITS)) & 1;
            let mut top: Word = 0;
            for (a, &x) in acc.iter_mut().zip(tmp.iter()) {
                *a = (x << bit) | ((top >> 1) >> (WORD_BITS - 1 - bit as usize));
                top = x;
            }
            let out = (top >> 1) >> (WORD_BITS - 1 - bit as usize);
            self.reduce_once(&mut acc, out);
        }
        acc
    }

    /// `base^e` in Montgomery form for a public `e` (variable time in `e` only).
    pub(super) fn pow_public_u32(&self, base: &[Word], e: u32) -> Zeroizing<Vec<Word>> {
        let s = self.n.len();
        let mut t = Zeroizing::new(self.scratch());
        let mut acc = Zeroizing::new(self.one.clone());
        let mut tmp = Zeroizing::new(vec![0; s]);
        for i in (0..32 - e.leading_zeros()).rev() {
            self.sqr_into(&mut tmp, &acc, &mut t);
            acc.copy_from_slice(&tmp);
            if (e >> i) & 1 == 1 {
                self.mul_into(&mut tmp, &acc, &base[..s], &mut t);
                acc.copy_from_slice(&tmp);
            }
        }
        acc
    }
}

/// The `w` bits of `exp` from bit `at` (bits past the end read as zero). Public positions only.
fn window(exp: &[Word], at: usize, w: usize) -> u32 {
    let word = at / WORD_BITS;
    let shift = at % WORD_BITS;
    let lo = exp.get(word).copied().unwrap_or(0) >> shift;
    let hi = if shift + w > WORD_BITS && shift != 0 {
        exp.get(word + 1).copied().unwrap_or(0) << (WORD_BITS - shift)
    } else {
        0
    };
    #[allow(clippy::cast_possible_truncation, reason = "masked to w ≤ 5 bits")]
    let digit = ((lo | hi) & ((1 << w) - 1)) as u32;
    digit
}

/// `a·b` as a plain product (`a.len() + b.len()` words).
pub(super) fn mul_plain(a: &[Word], b: &[Word]) -> Zeroizing<Vec<Word>> {
    let mut t = Zeroizing::new(vec![0; a.len() + b.len()]);
    for (i, &bi) in b.iter().enumerate() {
        t[i + a.len()] = mul_add_row(&mut t[i..i + a.len()], a, bi);
    }
    t
}

/// `a + b` (any lengths) into a buffer of `len` words; the carry out of `len` words is dropped.
pub(super) fn add_plain(a: &[Word], b: &[Word], len: usize) -> Zeroizing<Vec<Word>> {
    let mut out = Zeroizing::new(vec![0; len]);
    let mut carry: WideWord = 0;
    for (i, o) in out.iter_mut().enumerate() {
        let v = WideWord::from(a.get(i).copied().unwrap_or(0)) + WideWord::from(b.get(i).copied().unwrap_or(0)) + carry;
        *o = v as Word;
        carry = v >> WORD_BITS;
    }
    out
}

/// Whether `a == b` over `a`'s length (`b` read up to that length, missing words as zero), in
/// constant time.
pub(super) fn ct_eq_words(a: &[Word], b: &[Word]) -> bool {
    let mut diff: Word = 0;
    for (i, &x) in a.iter().enumerate() {
        diff |= x ^ b.get(i).copied().unwrap_or(0);
    }
    diff.ct_eq(&0).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
    use crypto_bigint::{BoxedUint, ConcatenatingMul, Odd, Resize};
    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    fn random_words(rng: &mut ChaCha20Rng, len: usize) -> Vec<Word> {
        (0..len).map(|_| rng.next_u64() as Word).collect()
    }

    fn big(words: &[Word]) -> BoxedUint {
        BoxedUint::from_words(words.iter().copied())
    }

    /// Odd moduli of every length from 1 to 17 words and of 4096 bits, some with a small top word.
    fn moduli(rng: &mut ChaCha20Rng) -> Vec<Vec<Word>> {
        let mut out = Vec::new();
        for len in (1..=17).chain([4096 / WORD_BITS]) {
            for top in [Word::MAX, 1, 0x8000, 3] {
                let mut n = random_words(rng, len);
                let last = len - 1;
                n[last] = if top == Word::MAX {
                    n[last] | (1 << (WORD_BITS - 1))
                } else {
                    (n[last] % (top + 1)).max(1)
                };
                n[0] |= 1;
                if len == 1 && n[0] < 3 {
                    n[0] = 3;
                }
                out.push(n);
            }
        }
        out
    }

    /// `x mod n` as `len` words, by crypto-bigint.
    fn reduce(x: &[Word], n: &[Word]) -> Vec<Word> {
        let n = crypto_bigint::NonZero::new(big(n)).unwrap();
        let r = big(x).rem(&n);
        let mut w = r.as_words().to_vec();
        w.resize(n.as_words().len(), 0);
        w
    }

    #[test]
    fn arithmetic_matches_crypto_bigint() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for n in moduli(&mut rng) {
            let m = Modulus::new(&n).unwrap();
            let s = n.len();
            let params = BoxedMontyParams::new(Odd::new(big(&n)).unwrap());
            let a = reduce(&random_words(&mut rng, s), &n);
            let b = reduce(&random_words(&mut rng, s), &n);
            let am = m.to_mont(&a);
            let bm = m.to_mont(&b);
            // Montgomery form round trip and the reduction of a wide input.
            assert_eq!(&m.retrieve(&am)[..], &a[..], "round trip, {s} words");
            let wide = random_words(&mut rng, 2 * s + 1);
            assert_eq!(&m.retrieve(&m.to_mont(&wide))[..], &reduce(&wide, &n)[..]);
            // Product, square, sum, difference.
            let mut t = m.scratch();
            let mut out = vec![0; s];
            m.mul_into(&mut out, &am, &bm, &mut t);
            let want = (BoxedMontyForm::new(big(&a), &params) * BoxedMontyForm::new(big(&b), &params)).retrieve();
            assert_eq!(big(&m.retrieve(&out)), want.resize_unchecked(big(&n).bits_precision()));
            m.sqr_into(&mut out, &am, &mut t);
            let want = BoxedMontyForm::new(big(&a), &params).square().retrieve();
            assert_eq!(big(&m.retrieve(&out)), want.resize_unchecked(big(&n).bits_precision()));
            let mut sum = a.clone();
            m.add_into(&mut sum, &b);
            let wide_sum = add_plain(&a, &b, s + 1);
            assert_eq!(&sum[..], &reduce(&wide_sum, &n)[..]);
            let mut diff = sum.clone();
            m.sub_into(&mut diff, &b);
            assert_eq!(diff, a);
            // Exponentiation with a secret-size exponent, base 2, and a public exponent.
            for exp_len in [1, s, s + 2] {
                let exp = random_words(&mut rng, exp_len);
                let want = BoxedMontyForm::new(big(&a), &params).pow(&big(&exp)).retrieve();
                assert_eq!(
                    big(&m.retrieve(&m.pow(&am, &exp))),
                    want.resize_unchecked(big(&n).bits_precision())
                );
                let two = reduce(&[2], &n);
                let want = BoxedMontyForm::new(big(&two), &params).pow(&big(&exp)).retrieve();
                assert_eq!(
                    big(&m.retrieve(&m.pow2(&exp))),
                    want.resize_unchecked(big(&n).bits_precision())
                );
            }
            for e in [3u32, 65537, 0xffff_ffff] {
                let want = BoxedMontyForm::new(big(&a), &params)
                    .pow(&BoxedUint::from(u64::from(e)))
                    .retrieve();
                assert_eq!(
                    big(&m.retrieve(&m.pow_public_u32(&am, e))),
                    want.resize_unchecked(big(&n).bits_precision())
                );
            }
            // Zero and one.
            let zero = vec![0; s];
            assert_eq!(&m.retrieve(&m.pow(&m.to_mont(&zero), &[5]))[..], &zero[..]);
            assert_eq!(&m.retrieve(&m.pow(&am, &[0]))[..], &reduce(&[1], &n)[..]);
        }
    }

    #[test]
    fn plain_product_and_refusals() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        for (la, lb) in [(1, 1), (3, 7), (16, 16), (17, 16)] {
            let a = random_words(&mut rng, la);
            let b = random_words(&mut rng, lb);
            let want = big(&a).concatenating_mul(&big(&b));
            assert_eq!(big(&mul_plain(&a, &b)), want);
        }
        assert!(Modulus::new(&[]).is_none());
        assert!(Modulus::new(&[0, 0]).is_none());
        assert!(Modulus::new(&[1]).is_none());
        assert!(Modulus::new(&[4, 1]).is_none(), "even");
        // Leading zero words are trimmed.
        assert_eq!(Modulus::new(&[7, 0, 0]).unwrap().len(), 1);
        assert!(ct_eq_words(&[1, 2], &[1, 2, 3]));
        assert!(!ct_eq_words(&[1, 2], &[1, 3]));
        assert!(ct_eq_words(&[1, 0], &[1]));
    }
}
