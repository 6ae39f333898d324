//! DKEK share files (`.pbe`) exactly as OpenSC's `sc-hsm-tool --create-dkek-share` writes them and
//! `--import-dkek-share` reads them (OpenSC 0.23 `src/tools/sc-hsm-tool.c`: `create_dkek_share`,
//! `import_dkek_share`; the iteration count is `opt_iter` in `main`).
//!
//! A share file is 64 bytes, OpenSSL's "salted" format:
//!
//! ```text
//! "Salted__" (8) | salt (8) | AES-256-CBC(key, iv; share (32) | PKCS#7 padding: 16 x 10h) (48)
//! ```
//!
//! with key and IV from `EVP_BytesToKey(aes-256-cbc, md5, salt, password, count = 10,000,000)`.
//! The password is used as raw bytes (what was typed, or the 8 random bytes of a password that was
//! split into shares, see [`crate::shamir`]).

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use md5::{Digest, Md5};
use zeroize::Zeroizing;

/// OpenSSL's salted-format magic.
pub const MAGIC: &[u8; 8] = b"Salted__";
/// Size of a share file.
pub const FILE_LEN: usize = 64;
/// Size of a DKEK share.
pub const SHARE_LEN: usize = 32;
/// `EVP_BytesToKey` iterations sc-hsm-tool uses (`opt_iter`).
pub const OPENSC_ITERATIONS: u32 = 10_000_000;

/// A plaintext DKEK share, zeroized on drop.
pub type Share = Zeroizing<[u8; SHARE_LEN]>;

/// Why a share file could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PbeError {
    /// Not 64 bytes, or no `Salted__` at the start.
    NotAShareFile(String),
    /// The padding did not check out: the password (or a password share) is wrong.
    WrongPassword,
}

impl std::fmt::Display for PbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PbeError::NotAShareFile(why) => write!(f, "not a DKEK share file: {why}"),
            PbeError::WrongPassword => f.write_str("cannot decrypt the DKEK share: wrong password or password shares"),
        }
    }
}

impl std::error::Error for PbeError {}

/// OpenSSL `EVP_BytesToKey` with MD5 for AES-256-CBC: `D_1 = MD5^count(password | salt)`,
/// `D_i = MD5^count(D_(i-1) | password | salt)`; key = D_1 | D_2, IV = D_3. `MD5^count` hashes once and
/// then rehashes the digest `count - 1` times (a count of 0 acts as 1, as in OpenSSL).
pub fn bytes_to_key(password: &[u8], salt: &[u8; 8], iterations: u32) -> Zeroizing<[u8; 48]> {
    let mut out = Zeroizing::new([0u8; 48]);
    let mut prev = Zeroizing::new([0u8; 16]);
    for (i, chunk) in out.chunks_exact_mut(16).enumerate() {
        let mut h = Md5::new();
        if i > 0 {
            h.update(&prev[..]);
        }
        h.update(password);
        h.update(salt);
        let mut d = Zeroizing::new([0u8; 16]);
        d.copy_from_slice(&h.finalize());
        rehash(&mut d, iterations.saturating_sub(1));
        chunk.copy_from_slice(&d[..]);
        *prev = *d;
    }
    out
}

/// `d = MD5(d)`, `n` times. This is nearly all the time a share file takes (30 million runs), so it
/// calls the MD5 compression function on the one padded block a 16-byte message makes, instead of
/// going through the streaming `Digest` interface each time (RFC 1321 §3.1–3.2: 80h, zeros, the bit
/// length 128 as a little-endian u64 in bytes 56..64).
fn rehash(d: &mut [u8; 16], n: u32) {
    const INIT: [u32; 4] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476];
    let mut block = Zeroizing::new([[0u8; 64]; 1]);
    block[0][16] = 0x80;
    block[0][56] = 128;
    block[0][..16].copy_from_slice(d);
    let mut state = Zeroizing::new(INIT);
    for _ in 0..n {
        *state = INIT;
        md5::block_api::compress(&mut state, &block[..]);
        for (i, w) in state.iter().enumerate() {
            block[0][4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
        }
    }
    d.copy_from_slice(&block[0][..16]);
}

/// AES-256 key and IV for a password and salt.
fn key_and_iv(password: &[u8], salt: &[u8; 8], iterations: u32) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 16]>) {
    let kiv = bytes_to_key(password, salt, iterations);
    let (mut key, mut iv) = (Zeroizing::new([0u8; 32]), Zeroizing::new([0u8; 16]));
    key.copy_from_slice(&kiv[..32]);
    iv.copy_from_slice(&kiv[32..]);
    (key, iv)
}

/// A share file for `share` under `password`, with the given salt.
pub fn encrypt(share: &[u8; SHARE_LEN], password: &[u8], salt: &[u8; 8], iterations: u32) -> [u8; FILE_LEN] {
    let (key, iv) = key_and_iv(password, salt, iterations);
    let mut file = [0u8; FILE_LEN];
    let (head, body) = file.split_at_mut(16);
    head[..8].copy_from_slice(MAGIC);
    head[8..].copy_from_slice(salt);
    let enc = cbc::Encryptor::<Aes256>::new((&*key).into(), (&*iv).into());
    // 32 bytes of share plus a whole block of padding fill the 48 bytes exactly.
    let written = enc.encrypt_padded_b2b::<Pkcs7>(share, body).map(<[u8]>::len);
    debug_assert!(matches!(written, Ok(48)));
    file
}

/// The share in a share file. The decrypted padding must be the whole last block (16 bytes of 10h), so
/// a wrong password is recognised with certainty rather than with OpenSSL's padding check alone
/// (which would accept about one wrong password in 256 and import garbage).
pub fn decrypt(file: &[u8], password: &[u8], iterations: u32) -> Result<Share, PbeError> {
    let salt: &[u8; 8] = check_format(file)?;
    let (key, iv) = key_and_iv(password, salt, iterations);
    let mut plain = Zeroizing::new([0u8; FILE_LEN - 16]);
    let dec = cbc::Decryptor::<Aes256>::new((&*key).into(), (&*iv).into());
    let share = dec
        .decrypt_padded_b2b::<Pkcs7>(&file[16..], &mut plain[..])
        .map_err(|_| PbeError::WrongPassword)?;
    let share: &[u8; SHARE_LEN] = share.try_into().map_err(|_| PbeError::WrongPassword)?;
    Ok(Zeroizing::new(*share))
}

/// Checks size and magic; returns the salt.
pub fn check_format(file: &[u8]) -> Result<&[u8; 8], PbeError> {
    if file.len() != FILE_LEN {
        return Err(PbeError::NotAShareFile(format!(
            "{} bytes, a share file has {FILE_LEN}",
            file.len()
        )));
    }
    if &file[..8] != MAGIC {
        return Err(PbeError::NotAShareFile("it does not start with \"Salted__\"".into()));
    }
    file[8..16]
        .try_into()
        .map_err(|_| PbeError::NotAShareFile("no salt".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl enc -aes-256-cbc -md md5 -S 0102030405060708 -pass pass:secret` (OpenSSL 3.0), which
    /// uses `EVP_BytesToKey` with a count of 1: `-P` printed the key and IV, and encrypting 32 bytes of
    /// 11h gave the ciphertext (OpenSSL 3 writes no `Salted__` header when the salt is given).
    #[test]
    fn one_iteration_matches_openssl_enc() {
        let salt = [1, 2, 3, 4, 5, 6, 7, 8];
        let kiv = bytes_to_key(b"secret", &salt, 1);
        assert_eq!(
            hex::encode_upper(&kiv[..32]),
            "C9E5A1BD216DBE1317E230CEF48F38EE7F0E17AD64022144BCCEC4A1AA2879AB"
        );
        assert_eq!(hex::encode_upper(&kiv[32..]), "E24B32BBBC4EF02ECBCB6576523AD893");
        let file = encrypt(&[0x11; 32], b"secret", &salt, 1);
        assert_eq!(
            hex::encode(&file[16..]),
            "f4b85dc7ab14b91799f9c46d1ee6dbc3fd594f00381f8b3b0057d461c464bef3\
             e48227fc2b6ef4c6996960dcb0f74c76"
        );
    }

    #[test]
    fn fast_rehash_equals_md5_digest() {
        for start in [[0u8; 16], [0xFF; 16], *b"0123456789abcdef"] {
            let mut expected = start;
            for _ in 0..1000 {
                let next = Md5::digest(expected);
                expected.copy_from_slice(&next);
            }
            let mut d = start;
            rehash(&mut d, 1000);
            assert_eq!(d, expected);
            rehash(&mut d, 0);
            assert_eq!(d, expected);
        }
    }

    #[test]
    fn round_trip_and_wrong_password() {
        let share = [0x5A; 32];
        let file = encrypt(&share, b"password", &[9; 8], 3);
        assert_eq!(&file[..8], MAGIC);
        assert_eq!(file[8..16], [9; 8]);
        assert_eq!(*decrypt(&file, b"password", 3).unwrap(), share);
        assert_eq!(decrypt(&file, b"passwort", 3), Err(PbeError::WrongPassword));
        assert_eq!(decrypt(&file, b"password", 4), Err(PbeError::WrongPassword));
    }

    #[test]
    fn format_errors() {
        let file = encrypt(&[1; 32], b"pw", &[0; 8], 1);
        assert!(matches!(
            decrypt(&file[..63], b"pw", 1),
            Err(PbeError::NotAShareFile(_))
        ));
        let mut bad = file;
        bad[0] = b's';
        assert!(matches!(decrypt(&bad, b"pw", 1), Err(PbeError::NotAShareFile(_))));
    }
}
