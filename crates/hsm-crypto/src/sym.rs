//! Symmetric cryptography of CIPHER SYMMETRIC (reference §3.19): AES in ECB, CBC, OFB, CFB128,
//! CTR, GCM, CCM and XTS; ChaCha20-Poly1305; AES-CMAC; HMAC; HKDF, PBKDF2, X9.63 KDF; and the
//! AES-CBC with PKCS#7 padding that PBES2 uses. Thin wrappers over RustCrypto crates.
//!
//! Every function checks its lengths first and returns an [`Error`] instead of panicking (several
//! of the crates assert on lengths). Outputs that may hold secrets (plaintexts, derived keys) come
//! back in [`Zeroizing`] buffers.

use alloc::vec::Vec;

use aead::{Aead, Payload};
use aes::{Aes128, Aes192, Aes256};
use cipher::array::Array;
use cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, BlockSizeUser, KeyInit, KeyIvInit,
    StreamCipher, consts::U16,
};
use hmac::{Hmac, Mac};
use zeroize::Zeroizing;

/// The AES block size in bytes.
pub const BLOCK: usize = 16;
/// Authentication tag length of GCM, CCM and ChaCha20-Poly1305 as the card uses them.
pub const TAG_LEN: usize = 16;

/// Why a symmetric operation was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Error {
    /// The key has the wrong length for the algorithm.
    KeyLength,
    /// The IV, nonce or tweak has the wrong length.
    IvLength,
    /// The data length is not allowed (not a multiple of the block size, too short, too long).
    DataLength,
    /// Authentication failed (tag, or PKCS#7 padding after decryption).
    Authentication,
    /// The requested output length is not allowed.
    OutputLength,
    /// An iteration count outside the accepted range.
    Iterations,
}

/// Encrypt or decrypt.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
    /// Encrypt (or compute).
    Encrypt,
    /// Decrypt.
    Decrypt,
}

/// An AES mode of operation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// ECB: any multiple of 16 bytes.
    Ecb,
    /// CBC without padding: any multiple of 16 bytes, 16-byte IV.
    Cbc,
    /// OFB: any length, 16-byte IV.
    Ofb,
    /// CFB with 128-bit feedback: any length, 16-byte IV.
    Cfb128,
    /// CTR with a 128-bit big-endian counter block (mbedTLS `aes_crypt_ctr`): any length, 16-byte IV.
    Ctr,
    /// GCM with a 16-byte tag appended: IV of 1 to [`MAX_GCM_IV`] bytes (12 recommended).
    Gcm,
    /// CCM with a 16-byte tag appended: 7- to 13-byte nonce.
    Ccm,
    /// XTS (IEEE 1619) with ciphertext stealing: at least 16 bytes, 16-byte tweak; the key is
    /// two AES keys (32 bytes for AES-128-XTS, 64 for AES-256-XTS).
    Xts,
}

/// A hash function, for HMAC and the KDFs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Md {
    /// SHA-1.
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Md {
    /// Output length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            Md::Sha1 => 20,
            Md::Sha224 => 28,
            Md::Sha256 => 32,
            Md::Sha384 => 48,
            Md::Sha512 => 64,
        }
    }
}

type Out = Result<Zeroizing<Vec<u8>>, Error>;

/// Runs `$body` with `$C` bound to the AES type of a 16-, 24- or 32-byte key.
macro_rules! with_aes {
    ($key:expr, $C:ident => $body:expr) => {
        match $key.len() {
            16 => {
                type $C = Aes128;
                $body
            }
            24 => {
                type $C = Aes192;
                $body
            }
            32 => {
                type $C = Aes256;
                $body
            }
            _ => Err(Error::KeyLength),
        }
    };
}

/// AES in `mode`. `iv` is the IV, nonce or tweak (see [`Mode`] for the lengths); `aad` is used
/// by GCM and CCM only. Decryption of GCM and CCM expects ciphertext ‖ tag.
pub fn aes(mode: Mode, dir: Direction, key: &[u8], iv: &[u8], aad: &[u8], data: &[u8]) -> Out {
    match mode {
        Mode::Xts => xts(dir, key, iv, data),
        Mode::Gcm => with_aes!(key, C => gcm::<C>(dir, key, iv, aad, data)),
        Mode::Ccm => with_aes!(key, C => ccm::<C>(dir, key, iv, aad, data)),
        _ => with_aes!(key, C => block_mode::<C>(mode, dir, key, iv, data)),
    }
}

fn block_mode<C>(mode: Mode, dir: Direction, key: &[u8], iv: &[u8], data: &[u8]) -> Out
where
    C: BlockCipherEncrypt + BlockCipherDecrypt + BlockSizeUser<BlockSize = U16> + KeyInit,
{
    if iv.len() != BLOCK {
        return Err(Error::IvLength);
    }
    let cipher = C::new_from_slice(key).map_err(|_| Error::KeyLength)?;
    let iv: &Array<u8, U16> = iv.try_into().map_err(|_| Error::IvLength)?;
    let mut buf = Zeroizing::new(data.to_vec());
    match mode {
        Mode::Ecb | Mode::Cbc => {
            let (blocks, rest) = Array::<u8, U16>::slice_as_chunks_mut(&mut buf);
            if !rest.is_empty() {
                return Err(Error::DataLength);
            }
            match (mode, dir) {
                (Mode::Ecb, Direction::Encrypt) => cipher.encrypt_blocks(blocks),
                (Mode::Ecb, Direction::Decrypt) => cipher.decrypt_blocks(blocks),
                (_, Direction::Encrypt) => cbc::Encryptor::<C>::inner_iv_init(cipher, iv).encrypt_blocks(blocks),
                (_, Direction::Decrypt) => cbc::Decryptor::<C>::inner_iv_init(cipher, iv).decrypt_blocks(blocks),
            }
        }
        Mode::Ofb => ofb::Ofb::<C>::new_from_slices(key, iv)
            .map_err(|_| Error::KeyLength)?
            .apply_keystream(&mut buf),
        Mode::Ctr => ctr::Ctr128BE::<C>::new_from_slices(key, iv)
            .map_err(|_| Error::KeyLength)?
            .apply_keystream(&mut buf),
        Mode::Cfb128 => match dir {
            Direction::Encrypt => cfb_mode::Encryptor::<C>::inner_iv_init(cipher, iv).encrypt(&mut buf),
            Direction::Decrypt => cfb_mode::Decryptor::<C>::inner_iv_init(cipher, iv).decrypt(&mut buf),
        },
        Mode::Gcm | Mode::Ccm | Mode::Xts => return Err(Error::KeyLength),
    }
    Ok(buf)
}

use cipher::InnerIvInit;

/// Runs an AEAD: encrypt appends the tag, decrypt verifies and strips it.
fn run_aead<A: Aead>(a: &A, dir: Direction, nonce: &[u8], aad: &[u8], data: &[u8]) -> Out {
    let nonce = aead::Nonce::<A>::try_from(nonce).map_err(|_| Error::IvLength)?;
    let payload = Payload { msg: data, aad };
    match dir {
        Direction::Encrypt => a
            .encrypt(&nonce, payload)
            .map(Zeroizing::new)
            .map_err(|_| Error::DataLength),
        Direction::Decrypt => {
            if data.len() < TAG_LEN {
                return Err(Error::DataLength);
            }
            a.decrypt(&nonce, payload)
                .map(Zeroizing::new)
                .map_err(|_| Error::Authentication)
        }
    }
}

fn gcm<C>(dir: Direction, key: &[u8], iv: &[u8], aad: &[u8], data: &[u8]) -> Out
where
    C: BlockCipherEncrypt + BlockSizeUser<BlockSize = U16> + KeyInit,
{
    use aes_gcm::AesGcm;
    use cipher::consts::U12;
    match iv.len() {
        12 => run_aead(
            &AesGcm::<C, U12>::new_from_slice(key).map_err(|_| Error::KeyLength)?,
            dir,
            iv,
            aad,
            data,
        ),
        // SP 800-38D allows any IV length of 1 bit or more, and upstream (mbedTLS) takes any
        // number of bytes; `aes-gcm` fixes the length in the type, so other lengths go through
        // the same parts (AES, GHASH, CTR32) composed here.
        1..=MAX_GCM_IV => gcm_any_iv::<C>(dir, key, iv, aad, data),
        _ => Err(Error::IvLength),
    }
}

/// Longest GCM IV accepted (Wycheproof goes up to 1024 bits; a command carries at most 4 KiB).
pub const MAX_GCM_IV: usize = 256;

/// GCM (NIST SP 800-38D §7) for an IV that is not 96 bits long: `J0 = GHASH(IV ‖ 0* ‖ [len(IV)]64)`,
/// then exactly what `aes-gcm` does from `J0` on (its `init_ctr` and `compute_tag`).
fn gcm_any_iv<C>(dir: Direction, key: &[u8], iv: &[u8], aad: &[u8], data: &[u8]) -> Out
where
    C: BlockCipherEncrypt + BlockSizeUser<BlockSize = U16> + KeyInit,
{
    use ghash::GHash;
    use ghash::universal_hash::UniversalHash;
    let cipher = C::new_from_slice(key).map_err(|_| Error::KeyLength)?;
    let mut h = Zeroizing::new(Array::<u8, U16>::default());
    cipher.encrypt_block(&mut h);
    let ghash = GHash::new(&h);
    let lengths = |a: usize, b: usize| {
        let mut block = ghash::Block::default();
        block[..8].copy_from_slice(&((a as u64) * 8).to_be_bytes());
        block[8..].copy_from_slice(&((b as u64) * 8).to_be_bytes());
        block
    };
    let mut j = ghash.clone();
    j.update_padded(iv);
    j.update(&[lengths(0, iv.len())]);
    let j0 = j.finalize();
    let core = ctr::CtrCore::<C, ctr::flavors::Ctr32BE>::inner_iv_init(cipher, &j0);
    let mut ctr = cipher::StreamCipherCoreWrapper::from_core(core);
    let mut mask = Zeroizing::new([0u8; BLOCK]);
    ctr.apply_keystream(&mut mask[..]);
    let tag = |ct: &[u8]| {
        let mut t = ghash.clone();
        t.update_padded(aad);
        t.update_padded(ct);
        t.update(&[lengths(aad.len(), ct.len())]);
        let mut tag: [u8; BLOCK] = t.finalize().into();
        tag.iter_mut().zip(mask.iter()).for_each(|(t, m)| *t ^= m);
        tag
    };
    match dir {
        Direction::Encrypt => {
            let mut out = Zeroizing::new(Vec::with_capacity(data.len() + TAG_LEN));
            out.extend_from_slice(data);
            ctr.apply_keystream(&mut out);
            let t = tag(&out);
            out.extend_from_slice(&t);
            Ok(out)
        }
        Direction::Decrypt => {
            let split = data.len().checked_sub(TAG_LEN).ok_or(Error::DataLength)?;
            let (ct, received) = data.split_at(split);
            if !crate::ct_eq(&tag(ct), received) {
                return Err(Error::Authentication);
            }
            let mut out = Zeroizing::new(ct.to_vec());
            ctr.apply_keystream(&mut out);
            Ok(out)
        }
    }
}

fn ccm<C>(dir: Direction, key: &[u8], nonce: &[u8], aad: &[u8], data: &[u8]) -> Out
where
    C: BlockCipherEncrypt + BlockSizeUser<BlockSize = U16> + KeyInit,
{
    use ccm::Ccm;
    use cipher::consts::{U7, U8, U9, U10, U11, U12, U13};
    macro_rules! run {
        ($N:ty) => {
            run_aead(
                &Ccm::<C, U16, $N>::new_from_slice(key).map_err(|_| Error::KeyLength)?,
                dir,
                nonce,
                aad,
                data,
            )
        };
    }
    match nonce.len() {
        7 => run!(U7),
        8 => run!(U8),
        9 => run!(U9),
        10 => run!(U10),
        11 => run!(U11),
        12 => run!(U12),
        13 => run!(U13),
        _ => Err(Error::IvLength),
    }
}

fn xts(dir: Direction, key: &[u8], tweak: &[u8], data: &[u8]) -> Out {
    let tweak: Array<u8, U16> = tweak.try_into().map_err(|_| Error::IvLength)?;
    // The crate asserts at least one whole block; IEEE 1619 steals ciphertext for the rest.
    if data.len() < BLOCK {
        return Err(Error::DataLength);
    }
    let mut buf = Zeroizing::new(data.to_vec());
    let half = key.len() / 2;
    macro_rules! run {
        ($C:ty) => {{
            let (k1, k2) = key.split_at(half);
            let xts = xts_mode::Xts128::<$C>::new(
                <$C>::new_from_slice(k1).map_err(|_| Error::KeyLength)?,
                <$C>::new_from_slice(k2).map_err(|_| Error::KeyLength)?,
            );
            match dir {
                Direction::Encrypt => xts.encrypt_sector(&mut buf, tweak),
                Direction::Decrypt => xts.decrypt_sector(&mut buf, tweak),
            }
        }};
    }
    match key.len() {
        32 => run!(Aes128),
        64 => run!(Aes256),
        _ => return Err(Error::KeyLength),
    }
    Ok(buf)
}

/// ChaCha20-Poly1305 (RFC 8439) with a 32-byte key and a 12-byte nonce; encrypt appends the
/// 16-byte tag, decrypt verifies and strips it.
pub fn chacha20poly1305(dir: Direction, key: &[u8], nonce: &[u8], aad: &[u8], data: &[u8]) -> Out {
    let c = chacha20poly1305::ChaCha20Poly1305::new_from_slice(key).map_err(|_| Error::KeyLength)?;
    run_aead(&c, dir, nonce, aad, data)
}

/// AES-CMAC (NIST SP 800-38B) with a 16-, 24- or 32-byte key.
pub fn cmac(key: &[u8], data: &[u8]) -> Result<[u8; BLOCK], Error> {
    with_aes!(key, C => {
        let mut mac = <cmac::Cmac<C> as KeyInit>::new_from_slice(key).map_err(|_| Error::KeyLength)?;
        mac.update(data);
        Ok(mac.finalize().into_bytes().into())
    })
}

/// Runs `$body` with `$D` bound to the digest type of `$md`.
macro_rules! with_md {
    ($md:expr, $D:ident => $body:expr) => {
        match $md {
            Md::Sha1 => {
                type $D = sha1::Sha1;
                $body
            }
            Md::Sha224 => {
                type $D = sha2::Sha224;
                $body
            }
            Md::Sha256 => {
                type $D = sha2::Sha256;
                $body
            }
            Md::Sha384 => {
                type $D = sha2::Sha384;
                $body
            }
            Md::Sha512 => {
                type $D = sha2::Sha512;
                $body
            }
        }
    };
}

impl Md {
    /// The hash of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        with_md!(self, D => D::digest(data).to_vec())
    }
}

/// HMAC (RFC 2104) with `md`, any key length.
pub fn hmac(md: Md, key: &[u8], data: &[u8]) -> Vec<u8> {
    with_md!(md, D => {
        // HMAC takes keys of any length: `new_from_slice` cannot fail.
        match <Hmac<D> as KeyInit>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    })
}

/// HKDF (RFC 5869) with `md`: extract with `salt` (none = zeros), expand with `info` into `out`
/// (at most 255 hash lengths).
pub fn hkdf(md: Md, salt: Option<&[u8]>, ikm: &[u8], info: &[u8], out: &mut [u8]) -> Result<(), Error> {
    if out.is_empty() || out.len() > 255 * md.output_len() {
        return Err(Error::OutputLength);
    }
    with_md!(md, D => hkdf::Hkdf::<D>::new(salt, ikm).expand(info, out).map_err(|_| Error::OutputLength))
}

/// Largest PBKDF2 iteration count accepted (reference §3.19). On the RP2040 one million
/// HMAC-SHA-512 iterations take minutes; the card keeps USB alive with time extensions meanwhile.
#[cfg(not(fuzzing))]
pub const PBKDF2_MAX_ITERATIONS: u32 = 1_000_000;
/// Under the fuzzer a lower cap, so a few large iteration counts in one input are not a timeout.
#[cfg(fuzzing)]
pub const PBKDF2_MAX_ITERATIONS: u32 = 10_000;

/// PBKDF2 (RFC 8018) with HMAC-`md` as the PRF, filling `out`.
pub fn pbkdf2(md: Md, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) -> Result<(), Error> {
    if !(1..=PBKDF2_MAX_ITERATIONS).contains(&iterations) {
        return Err(Error::Iterations);
    }
    if out.is_empty() {
        return Err(Error::OutputLength);
    }
    with_md!(md, D => pbkdf2::pbkdf2_hmac::<D>(password, salt, iterations, out));
    Ok(())
}

/// The ANSI X9.63 KDF (SEC 1 §3.6.1) with `md`: `Hash(Z ‖ counter ‖ SharedInfo)` blocks into `out`.
pub fn x963_kdf(md: Md, z: &[u8], shared_info: &[u8], out: &mut [u8]) -> Result<(), Error> {
    if out.is_empty() {
        return Err(Error::OutputLength);
    }
    with_md!(md, D => ansi_x963_kdf::derive_key_into::<D>(z, shared_info, out).map_err(|e| match e {
        ansi_x963_kdf::Error::NoSecret => Error::KeyLength,
        _ => Error::OutputLength,
    }))
}

/// AES-CBC with PKCS#7 padding (the PBES2 encryption schemes of RFC 8018 §B.2.5).
/// Every decryption failure, bad padding included, is the same [`Error::Authentication`].
pub fn aes_cbc_pkcs7(dir: Direction, key: &[u8], iv: &[u8], data: &[u8]) -> Out {
    use cipher::block_padding::Pkcs7;
    with_aes!(key, C => {
        match dir {
            Direction::Encrypt => cbc::Encryptor::<C>::new_from_slices(key, iv)
                .map_err(|_| Error::IvLength)
                .map(|c| Zeroizing::new(c.encrypt_padded_vec::<Pkcs7>(data))),
            Direction::Decrypt => {
                if data.is_empty() || !data.len().is_multiple_of(BLOCK) {
                    return Err(Error::DataLength);
                }
                let c = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| Error::IvLength)?;
                c.decrypt_padded_vec::<Pkcs7>(data)
                    .map(Zeroizing::new)
                    .map_err(|_| Error::Authentication)
            }
        }
    })
}

#[cfg(test)]
mod tests;
