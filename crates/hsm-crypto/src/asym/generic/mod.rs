//! A small constant-time short-Weierstrass implementation for the two upstream curves that have
//! no maintained RustCrypto crate: brainpoolP512r1 (RFC 5639) and secp192k1 (SEC 2).
//!
//! Why hand-written: the RustCrypto `bp256`/`bp384` crates stop at 384 bits and there is no
//! secp192k1 crate; the crates that exist outside RustCrypto are unmaintained or pull in C. Both
//! curves have prime order (cofactor 1), so this code relies on that.
//!
//! How: field and scalar elements are `crypto-bigint` Montgomery-form integers
//! ([`FixedMontyForm`]); points are homogeneous projective `(X : Y : Z)` and every addition,
//! doubling included, uses the complete formula of Renes–Costello–Batina 2015 (Algorithm 1,
//! arbitrary `a`; it also serves the `a = 0` secp192k1), so no input-dependent branch exists.
//! Scalar multiplication is a Montgomery ladder over the order's full bit length with
//! constant-time conditional swaps; inversions use `crypto-bigint`'s constant-time safegcd.
//! Only public values (points received, signatures verified, hash-derived integers) are compared
//! in variable time.
//!
//! Tests: RFC 7027 brainpoolP512r1 ECDH vectors, the SEC 2 secp192k1 generator and order, the
//! Wycheproof brainpoolP512r1 ECDH/ECDSA files, and the same code instantiated with the P-256
//! parameters compared with `p256` on random scalars.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Choice, CtAssign, CtEq, CtLt, Encoding, Odd, U192, U512, Uint, Unsigned};
use sha2::digest::{Digest, block_api::BlockSizeUser};
use zeroize::Zeroizing;

use super::weierstrass::left_pad;
use super::{Curve, DomainParams, Error};

type Fe<const L: usize> = FixedMontyForm<L>;

/// The hand-written arithmetic of one of the two curves, ready to use.
pub enum Generic {
    /// brainpoolP512r1.
    BrainpoolP512r1(Box<Arith<{ U512::LIMBS }>>),
    /// secp192k1.
    Secp192k1(Box<Arith<{ U192::LIMBS }>>),
}

/// The arithmetic for `curve`, if it is one of the hand-written curves.
pub fn for_curve(curve: Curve) -> Result<Generic, Error> {
    match curve {
        Curve::BrainpoolP512r1 => Ok(Generic::BrainpoolP512r1(Box::new(Arith::new(curve.params())?))),
        Curve::Secp192k1 => Ok(Generic::Secp192k1(Box::new(Arith::new(curve.params())?))),
        _ => Err(Error::UnsupportedCurve),
    }
}

macro_rules! each {
    ($self:ident, $a:ident => $e:expr) => {
        match $self {
            Generic::BrainpoolP512r1($a) => $e,
            Generic::Secp192k1($a) => $e,
        }
    };
}

impl Generic {
    /// Checks `1 ≤ d < n` for an order-length big-endian scalar.
    pub fn check_scalar(&self, d: &[u8]) -> Result<(), Error> {
        each!(self, a => a.scalar(d).map(|_| ()))
    }
    /// `04 ‖ X ‖ Y` of `d·G`.
    pub fn public(&self, d: &[u8]) -> Result<Vec<u8>, Error> {
        each!(self, a => a.public(d))
    }
    /// Decodes and validates a SEC1 point; returns its uncompressed encoding.
    pub fn decode_point(&self, bytes: &[u8]) -> Result<Vec<u8>, Error> {
        each!(self, a => a.decode(bytes).map(|p| a.encode(&p)))
    }
    /// ECDSA, raw `r ‖ s`.
    pub fn sign(&self, d: &[u8], hash: &[u8], extra: &[u8]) -> Result<Vec<u8>, Error> {
        each!(self, a => a.sign(d, hash, extra))
    }
    /// ECDSA verification of raw `r ‖ s`.
    pub fn verify(&self, public: &[u8], hash: &[u8], rs: &[u8]) -> Result<(), Error> {
        each!(self, a => a.verify(public, hash, rs))
    }
    /// ECDH: the shared point `04 ‖ X ‖ Y`.
    pub fn ecdh(&self, d: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        each!(self, a => a.ecdh(d, peer))
    }
    /// `(d + tweak) mod n`.
    pub fn add_scalar(&self, d: &[u8], tweak: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        each!(self, a => a.add_scalar(d, tweak))
    }
}

/// A projective point `(X : Y : Z)`; the identity is `(0 : 1 : 0)`.
#[derive(Clone)]
struct Point<const L: usize> {
    x: Fe<L>,
    y: Fe<L>,
    z: Fe<L>,
}

impl<const L: usize> Point<L> {
    fn cswap(a: &mut Self, b: &mut Self, c: Choice) {
        let t = a.clone();
        a.x.ct_assign(&b.x, c);
        a.y.ct_assign(&b.y, c);
        a.z.ct_assign(&b.z, c);
        b.x.ct_assign(&t.x, c);
        b.y.ct_assign(&t.y, c);
        b.z.ct_assign(&t.z, c);
    }
}

/// Curve arithmetic over `L`-limb integers for one set of domain parameters.
pub struct Arith<const L: usize> {
    fp: FixedMontyParams<L>,
    fq: FixedMontyParams<L>,
    p: Uint<L>,
    n: Uint<L>,
    a: Fe<L>,
    b: Fe<L>,
    b3: Fe<L>,
    g: Point<L>,
    /// Bytes of a field element.
    len: usize,
    /// Bytes and bits of the order.
    nlen: usize,
    nbits: u32,
}

impl<const L: usize> Arith<L>
where
    Uint<L>: Encoding + Unsigned,
{
    /// Arithmetic for Weierstrass domain parameters (odd prime `p`, odd prime order `n`).
    pub fn new(params: &DomainParams) -> Result<Self, Error> {
        let p = uint::<L>(params.p).ok_or(Error::UnsupportedCurve)?;
        let n = uint::<L>(params.n).ok_or(Error::UnsupportedCurve)?;
        let fp = FixedMontyParams::new_vartime(Odd::new(p).into_option().ok_or(Error::UnsupportedCurve)?);
        let fq = FixedMontyParams::new_vartime(Odd::new(n).into_option().ok_or(Error::UnsupportedCurve)?);
        let fe = |b: &[u8]| uint::<L>(b).map(|u| Fe::new(&u, &fp)).ok_or(Error::UnsupportedCurve);
        let a = fe(params.a)?;
        let b = fe(params.b)?;
        let b3 = b.add(&b).add(&b);
        let len = params.p.len();
        let (gx, gy) = match params.g.split_first() {
            Some((0x04, xy)) if xy.len() == 2 * len => xy.split_at(len),
            _ => return Err(Error::UnsupportedCurve),
        };
        let g = Point {
            x: fe(gx)?,
            y: fe(gy)?,
            z: Fe::one(&fp),
        };
        let nbits = n.bit_width_vartime();
        Ok(Arith {
            fp,
            fq,
            p,
            n,
            a,
            b,
            b3,
            g,
            len,
            nlen: nbits.div_ceil(8) as usize,
            nbits,
        })
    }

    fn identity(&self) -> Point<L> {
        Point {
            x: Fe::zero(&self.fp),
            y: Fe::one(&self.fp),
            z: Fe::zero(&self.fp),
        }
    }

    /// Complete addition, Renes–Costello–Batina 2015, Algorithm 1 (numbers are its steps).
    fn add(&self, p: &Point<L>, q: &Point<L>) -> Point<L> {
        let (a, b3) = (&self.a, &self.b3);
        let t0 = p.x.mul(&q.x); // 1
        let t1 = p.y.mul(&q.y); // 2
        let t2 = p.z.mul(&q.z); // 3
        let t3 = p.x.add(&p.y).mul(&q.x.add(&q.y)); // 4-6
        let t4 = t0.add(&t1); // 7
        let t3 = t3.sub(&t4); // 8
        let t4 = p.x.add(&p.z).mul(&q.x.add(&q.z)); // 9-11
        let t5 = t0.add(&t2); // 12
        let t4 = t4.sub(&t5); // 13
        let t5 = p.y.add(&p.z).mul(&q.y.add(&q.z)); // 14-16
        let x3 = t1.add(&t2); // 17
        let t5 = t5.sub(&x3); // 18
        let z3 = a.mul(&t4); // 19
        let x3 = b3.mul(&t2); // 20
        let z3 = x3.add(&z3); // 21
        let x3 = t1.sub(&z3); // 22
        let z3 = t1.add(&z3); // 23
        let y3 = x3.mul(&z3); // 24
        let t1 = t0.add(&t0).add(&t0); // 25-26
        let t2 = a.mul(&t2); // 27
        let t4 = b3.mul(&t4); // 28
        let t1 = t1.add(&t2); // 29
        let t2 = a.mul(&t0.sub(&t2)); // 30-31
        let t4 = t4.add(&t2); // 32
        let t0 = t1.mul(&t4); // 33
        let y3 = y3.add(&t0); // 34
        let t0 = t5.mul(&t4); // 35
        let x3 = t3.mul(&x3).sub(&t0); // 36-37
        let t0 = t3.mul(&t1); // 38
        let z3 = t5.mul(&z3).add(&t0); // 39-40
        Point { x: x3, y: y3, z: z3 }
    }

    /// `k·P` by a Montgomery ladder over the order's bit length (constant time in `k`).
    fn mul(&self, k: &Uint<L>, p: &Point<L>) -> Point<L> {
        let mut r0 = self.identity();
        let mut r1 = p.clone();
        for i in (0..self.nbits).rev() {
            let bit = k.bit(i);
            Point::cswap(&mut r0, &mut r1, bit);
            r1 = self.add(&r0, &r1);
            r0 = self.add(&r0, &r0);
            Point::cswap(&mut r0, &mut r1, bit);
        }
        r0
    }

    /// Affine `(x, y)` as integers; the identity is an error.
    fn to_affine(&self, p: &Point<L>) -> Result<(Uint<L>, Uint<L>), Error> {
        let zinv = p.z.invert().into_option().ok_or(Error::InvalidPoint)?;
        Ok((p.x.mul(&zinv).retrieve(), p.y.mul(&zinv).retrieve()))
    }

    fn encode(&self, p: &Point<L>) -> Vec<u8> {
        match self.to_affine(p) {
            Ok((x, y)) => {
                let mut out = Vec::with_capacity(1 + 2 * self.len);
                out.push(0x04);
                out.extend_from_slice(&be(&x, self.len));
                out.extend_from_slice(&be(&y, self.len));
                out
            }
            Err(_) => alloc::vec![0x00],
        }
    }

    fn rhs(&self, x: &Fe<L>) -> Fe<L> {
        x.square().mul(x).add(&self.a.mul(x)).add(&self.b)
    }

    /// SEC1 point decoding with full validation (coordinates below `p`, on the curve, not the
    /// identity). With cofactor 1 every such point is in the prime-order group.
    fn decode(&self, bytes: &[u8]) -> Result<Point<L>, Error> {
        let (&tag, rest) = bytes.split_first().ok_or(Error::InvalidPoint)?;
        let coord = |b: &[u8]| {
            let u = uint::<L>(b).ok_or(Error::InvalidPoint)?;
            if u.cmp_vartime(&self.p).is_lt() {
                Ok(u)
            } else {
                Err(Error::InvalidPoint)
            }
        };
        let (x, y) = match tag {
            0x04 if rest.len() == 2 * self.len => {
                let (xb, yb) = rest.split_at(self.len);
                let x = Fe::new(&coord(xb)?, &self.fp);
                let y = Fe::new(&coord(yb)?, &self.fp);
                if !y.square().ct_eq(&self.rhs(&x)).to_bool() {
                    return Err(Error::InvalidPoint);
                }
                (x, y)
            }
            0x02 | 0x03 if rest.len() == self.len => {
                let x = Fe::new(&coord(rest)?, &self.fp);
                let y = self.sqrt(&self.rhs(&x)).ok_or(Error::InvalidPoint)?;
                let odd = y.retrieve().bit_vartime(0);
                let y = if odd == (tag == 0x03) { y } else { y.neg() };
                (x, y)
            }
            _ => return Err(Error::InvalidPoint),
        };
        Ok(Point {
            x,
            y,
            z: Fe::one(&self.fp),
        })
    }

    /// Square root for `p ≡ 3 (mod 4)` (both curves): `v^((p+1)/4)`, checked.
    fn sqrt(&self, v: &Fe<L>) -> Option<Fe<L>> {
        if !self.p.bit_vartime(0) || !self.p.bit_vartime(1) {
            return None;
        }
        let e = self.p.wrapping_add(&Uint::ONE).shr_vartime(2);
        let r = v.pow_vartime(&e);
        r.square().ct_eq(v).to_bool().then_some(r)
    }

    /// An order-length big-endian scalar in `1..n`.
    fn scalar(&self, d: &[u8]) -> Result<Uint<L>, Error> {
        if d.len() != self.nlen {
            return Err(Error::InvalidKey);
        }
        let u = uint::<L>(d).ok_or(Error::InvalidKey)?;
        let ok = (!u.is_zero()).and(u.ct_lt(&self.n));
        if ok.to_bool() { Ok(u) } else { Err(Error::InvalidKey) }
    }

    fn public(&self, d: &[u8]) -> Result<Vec<u8>, Error> {
        let d = Zeroizing::new(self.scalar(d)?);
        let q = self.mul(&d, &self.g);
        self.to_affine(&q)?;
        Ok(self.encode(&q))
    }

    /// bits2int (FIPS 186-4 §6.4, SEC 1 §4.1.3 step 5) then reduction mod n.
    fn hash_scalar(&self, hash: &[u8]) -> Fe<L> {
        let take = hash.len().min(self.nlen);
        let mut z = uint::<L>(hash.get(..take).unwrap_or(&[])).unwrap_or(Uint::ZERO);
        let bits = 8 * take as u32;
        if bits > self.nbits {
            z = z.shr_vartime(bits - self.nbits);
        }
        Fe::new(&z, &self.fq)
    }

    fn sign(&self, d: &[u8], hash: &[u8], extra: &[u8]) -> Result<Vec<u8>, Error> {
        let du = Zeroizing::new(self.scalar(d)?);
        let dq = Fe::new(&du, &self.fq);
        let z = self.hash_scalar(hash);
        // By the integer type's size, a constant: one HMAC-DRBG per curve in the image.
        super::with_nonce_hash!(Uint::<L>::BYTES, D => self.sign_with::<D>(&dq, &z, d, hash, extra))
    }

    /// [`Self::sign`] with `D` the RFC 6979 hash ([`super::with_nonce_hash`]).
    fn sign_with<D: Digest + BlockSizeUser>(
        &self,
        dq: &Fe<L>,
        z: &Fe<L>,
        d: &[u8],
        hash: &[u8],
        extra: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let mut kgen = rfc6979::KGenerator::<D, Uint<L>>::new(d, hash, extra, &self.n);
        for _ in 0..64 {
            let mut kb = Zeroizing::new(alloc::vec![0u8; self.nlen]);
            kgen.fill_next_k(&mut kb);
            let k = Zeroizing::new(self.scalar(&kb)?);
            let (x, _) = self.to_affine(&self.mul(&k, &self.g))?;
            let r = Fe::new(&x, &self.fq);
            let kinv = Fe::new(&k, &self.fq).invert().into_option().ok_or(Error::Internal)?;
            let s = kinv.mul(&z.add(&r.mul(dq)));
            let (r, s) = (r.retrieve(), s.retrieve());
            if r.is_zero().to_bool() || s.is_zero().to_bool() {
                continue;
            }
            let mut out = be(&r, self.nlen);
            out.extend_from_slice(&be(&s, self.nlen));
            return Ok(out);
        }
        Err(Error::Internal)
    }

    fn verify(&self, public: &[u8], hash: &[u8], rs: &[u8]) -> Result<(), Error> {
        let q = self.decode(public)?;
        if rs.len() != 2 * self.nlen {
            return Err(Error::InvalidSignature);
        }
        let (rb, sb) = rs.split_at(self.nlen);
        let r = self.scalar(rb).map_err(|_| Error::InvalidSignature)?;
        let s = self.scalar(sb).map_err(|_| Error::InvalidSignature)?;
        let w = Fe::new(&s, &self.fq)
            .invert()
            .into_option()
            .ok_or(Error::InvalidSignature)?;
        let u1 = self.hash_scalar(hash).mul(&w).retrieve();
        let u2 = Fe::new(&r, &self.fq).mul(&w).retrieve();
        let sum = self.add(&self.mul(&u1, &self.g), &self.mul(&u2, &q));
        let (x, _) = self.to_affine(&sum).map_err(|_| Error::InvalidSignature)?;
        let v = Fe::new(&x, &self.fq).retrieve();
        if v.cmp_vartime(&r).is_eq() {
            Ok(())
        } else {
            Err(Error::InvalidSignature)
        }
    }

    fn ecdh(&self, d: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let d = Zeroizing::new(self.scalar(d)?);
        let q = self.decode(peer)?;
        let s = self.mul(&d, &q);
        self.to_affine(&s).map_err(|_| Error::Internal)?;
        Ok(Zeroizing::new(self.encode(&s)))
    }

    fn add_scalar(&self, d: &[u8], tweak: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let d = Zeroizing::new(self.scalar(d)?);
        let t = left_pad(tweak, self.nlen).ok_or(Error::InvalidInput)?;
        let t = uint::<L>(&t).ok_or(Error::InvalidInput)?;
        let sum = Fe::new(&d, &self.fq).add(&Fe::new(&t, &self.fq)).retrieve();
        let out = Zeroizing::new(be(&sum, self.nlen));
        self.scalar(&out).map_err(|_| Error::InvalidKey)?;
        Ok(out)
    }
}

/// A big-endian byte string (any length up to the integer's size) as an integer.
fn uint<const L: usize>(bytes: &[u8]) -> Option<Uint<L>> {
    let padded = left_pad(bytes, Uint::<L>::BYTES)?;
    Some(Uint::from_be_slice(&padded))
}

/// The low `len` big-endian bytes of `u`.
fn be<const L: usize>(u: &Uint<L>, len: usize) -> Vec<u8>
where
    Uint<L>: Encoding,
{
    let bytes = u.to_be_bytes();
    let bytes = bytes.as_ref();
    bytes.get(bytes.len().saturating_sub(len)..).unwrap_or(&[]).to_vec()
}

#[cfg(test)]
mod tests;
