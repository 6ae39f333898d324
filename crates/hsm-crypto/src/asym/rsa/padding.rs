//! The encodings around the private operation: EMSA-PKCS1-v1_5 and EMSA-PSS (RFC 8017 §9.2,
//! §9.1.1) for signatures, and EME-PKCS1-v1_5 decoding with implicit rejection
//! (draft-irtf-cfrg-rsa-guidance-10 §7.1–7.2, after `rsa` 0.10's implementation, whose
//! outputs ours match: `tests.rs`).

use alloc::vec::Vec;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq, ConstantTimeGreater};
use zeroize::Zeroizing;

use super::Error;

/// EMSA-PKCS1-v1_5: `00 01 FF…FF 00 T`, `k` bytes, at least 8 bytes of `FF` (RFC 8017 §9.2).
pub(super) fn emsa_pkcs1v15(t: &[u8], k: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    if k < t.len() + 11 {
        return Err(Error::InvalidInput);
    }
    let mut em = Zeroizing::new(Vec::with_capacity(k));
    em.extend_from_slice(&[0x00, 0x01]);
    em.resize(k - t.len() - 1, 0xFF);
    em.push(0x00);
    em.extend_from_slice(t);
    Ok(em)
}

/// MGF1 with `D` (RFC 8017 §B.2.1), XORed into `out`.
fn mgf1_xor<D: Digest>(seed: &[u8], out: &mut [u8]) {
    let len = <D as Digest>::output_size();
    for (counter, chunk) in out.chunks_mut(len.max(1)).enumerate() {
        let mut h = D::new();
        h.update(seed);
        h.update((counter as u32).to_be_bytes());
        let mask = h.finalize();
        chunk.iter_mut().zip(mask.iter()).for_each(|(b, m)| *b ^= m);
    }
}

/// EMSA-PSS-ENCODE (RFC 8017 §9.1.1) of the digest `m_hash` with `salt`, MGF1 with `D`, for a
/// modulus of `em_bits + 1` bits. Returns `⌈em_bits/8⌉` bytes.
pub(super) fn emsa_pss<D: Digest>(m_hash: &[u8], salt: &[u8], em_bits: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    let h_len = <D as Digest>::output_size();
    let em_len = em_bits.div_ceil(8);
    if m_hash.len() != h_len || em_len < h_len + salt.len() + 2 {
        return Err(Error::InvalidInput);
    }
    let mut h = D::new();
    h.update([0u8; 8]);
    h.update(m_hash);
    h.update(salt);
    let h = h.finalize();
    let db_len = em_len - h_len - 1;
    let mut em = Zeroizing::new(alloc::vec![0u8; em_len]);
    let (db, rest) = em.split_at_mut(db_len);
    let ps_len = db_len - salt.len() - 1;
    if let Some(one) = db.get_mut(ps_len) {
        *one = 0x01;
    }
    if let Some(tail) = db.get_mut(ps_len + 1..) {
        tail.copy_from_slice(salt);
    }
    mgf1_xor::<D>(&h, db);
    // Clear the leftmost 8·emLen − emBits bits.
    if let Some(first) = db.first_mut() {
        *first &= 0xFF >> (8 * em_len - em_bits);
    }
    let (hash, bc) = rest.split_at_mut(h_len);
    hash.copy_from_slice(&h);
    if let Some(last) = bc.first_mut() {
        *last = 0xBC;
    }
    Ok(em)
}

/// `HMAC-SHA256(key, i ‖ label ‖ bits(length))` blocks, `length` bytes (the IRPRF of §7.1).
fn irprf(kdk: &[u8], label: &[u8], length: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    let bit_length = length
        .checked_mul(8)
        .and_then(|bits| u16::try_from(bits).ok())
        .ok_or(Error::Decryption)?
        .to_be_bytes();
    let mut out = Zeroizing::new(alloc::vec![0u8; length]);
    for (i, chunk) in (0u16..).zip(out.chunks_mut(32)) {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(kdk).map_err(|_| Error::Internal)?;
        mac.update(&i.to_be_bytes());
        mac.update(label);
        mac.update(&bit_length);
        let mut block = Zeroizing::new([0u8; 32]);
        block.copy_from_slice(&mac.finalize().into_bytes());
        chunk.copy_from_slice(block.get(..chunk.len()).ok_or(Error::Internal)?);
    }
    Ok(out)
}

/// EME-PKCS1-v1_5 decoding with implicit rejection (draft-irtf-cfrg-rsa-guidance-10 §7.2 steps
/// 3–5). `em` is the `k`-byte result of the private operation, `d` the private exponent as `k`
/// bytes, `ciphertext` the `k`-byte input. A bad padding yields the alternative message derived
/// from `d` and the ciphertext; which of the two was chosen is never branched on.
pub(super) fn eme_pkcs1v15_decode_implicit(
    mut em: Zeroizing<Vec<u8>>,
    d: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let k = em.len();
    if !(11..=8191).contains(&k) || ciphertext.len() != k || d.len() != k {
        return Err(Error::Decryption);
    }
    // Step 3.1: KDK = HMAC-SHA256(SHA256(I2OSP(d, k)), C).
    let mut dh = Zeroizing::new([0u8; 32]);
    dh.copy_from_slice(&Sha256::digest(d));
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&dh[..]).map_err(|_| Error::Internal)?;
    mac.update(ciphertext);
    let mut kdk = Zeroizing::new([0u8; 32]);
    kdk.copy_from_slice(&mac.finalize().into_bytes());
    // Steps 3.2–3.3: the candidate lengths and the alternative message.
    let max_len = u16::try_from(k - 11).map_err(|_| Error::Decryption)?;
    let cl = irprf(&kdk[..], b"length", 256)?;
    let am = irprf(&kdk[..], b"message", k)?;
    let al = select_al(&cl, max_len);
    // Step 4: decode EM = 00 02 PS 00 M, constant time.
    let (check, l) = decode(&em);
    // Step 5: take AM when the padding is bad, EM otherwise, reading both in full.
    let length = u32::conditional_select(&l, &u32::from(al), check) as usize;
    for (e, a) in em.iter_mut().zip(am.iter()) {
        e.conditional_assign(a, check);
    }
    Ok(Zeroizing::new(em.get(k - length..).ok_or(Error::Internal)?.to_vec()))
}

/// Step 3.3: the last of the 128 big-endian candidates (masked to the bit length of `max_len`)
/// that is at most `max_len`, or 0.
fn select_al(cl: &[u8], max_len: u16) -> u16 {
    let mut mask = max_len;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    cl.chunks_exact(2).fold(0u16, |al, pair| {
        let candidate = match pair {
            [hi, lo] => u16::from_be_bytes([*hi, *lo]) & mask,
            _ => 0,
        };
        u16::conditional_select(&al, &candidate, !candidate.ct_gt(&max_len))
    })
}

/// Step 4: `(bad, L)`: `bad` when the header, the separator or the 8 bytes of PS are wrong; `L`
/// the length after the first zero byte past the header (0 without one). Both stay secret.
fn decode(em: &[u8]) -> (Choice, u32) {
    let k = em.len() as u32;
    let first = em.first().copied().unwrap_or(0xFF);
    let second = em.get(1).copied().unwrap_or(0);
    let mut bad = !first.ct_eq(&0) | !second.ct_eq(&2);
    let mut looking = Choice::from(1);
    let mut separator = 0u32;
    for (i, b) in em.iter().enumerate().skip(2) {
        let zero = b.ct_eq(&0);
        separator.conditional_assign(&(i as u32), looking & zero);
        looking &= !zero;
    }
    bad |= looking | !separator.ct_gt(&9);
    let l = u32::conditional_select(&k.wrapping_sub(separator).wrapping_sub(1), &0, looking);
    (bad, l)
}
