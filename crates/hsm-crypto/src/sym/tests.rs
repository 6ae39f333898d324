//! Length handling of the wrappers: every refusal is an error, never a panic of the crate below.
//! Known-answer tests run through the card's commands (hsm-card `tests/symmetric.rs`).

use super::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

#[test]
fn sp800_38a_f_1_1_ecb_aes128_first_block() {
    let key = h("2b7e151628aed2a6abf7158809cf4f3c");
    let out = aes(
        Mode::Ecb,
        Direction::Encrypt,
        &key,
        &[0; 16],
        &[],
        &h("6bc1bee22e409f96e93d7e117393172a"),
    )
    .unwrap();
    assert_eq!(hex::encode(&out[..]), "3ad77bb40d7a3660a89ecaf32466ef97");
}

#[test]
fn wrong_lengths_are_errors() {
    let k16 = [7u8; 16];
    let iv = [0u8; 16];
    for mode in [
        Mode::Ecb,
        Mode::Cbc,
        Mode::Ofb,
        Mode::Cfb128,
        Mode::Ctr,
        Mode::Gcm,
        Mode::Ccm,
    ] {
        assert_eq!(
            aes(mode, Direction::Encrypt, &[1; 17], &iv, &[], &[0; 16]),
            Err(Error::KeyLength),
            "{mode:?}"
        );
        assert_eq!(
            aes(mode, Direction::Encrypt, &[1; 64], &iv, &[], &[0; 16]),
            Err(Error::KeyLength),
            "{mode:?}"
        );
    }
    for mode in [Mode::Cbc, Mode::Ofb, Mode::Cfb128, Mode::Ctr] {
        assert_eq!(
            aes(mode, Direction::Encrypt, &k16, &iv[..15], &[], &[0; 16]),
            Err(Error::IvLength),
            "{mode:?}"
        );
    }
    for mode in [Mode::Ecb, Mode::Cbc] {
        for dir in [Direction::Encrypt, Direction::Decrypt] {
            assert_eq!(aes(mode, dir, &k16, &iv, &[], &[0; 17]), Err(Error::DataLength));
        }
        assert_eq!(aes(mode, Direction::Encrypt, &k16, &iv, &[], &[]).unwrap().len(), 0);
    }
    assert_eq!(
        aes(Mode::Gcm, Direction::Encrypt, &k16, &[], &[], &[1]),
        Err(Error::IvLength)
    );
    assert_eq!(
        aes(Mode::Gcm, Direction::Encrypt, &k16, &[0; MAX_GCM_IV + 1], &[], &[1]),
        Err(Error::IvLength)
    );
    assert_eq!(
        aes(Mode::Gcm, Direction::Decrypt, &k16, &iv[..8], &[], &[1; 15]),
        Err(Error::DataLength)
    );
    assert_eq!(
        aes(Mode::Gcm, Direction::Decrypt, &k16, &iv[..12], &[], &[1; 15]),
        Err(Error::DataLength)
    );
    for n in [6, 14] {
        assert_eq!(
            aes(Mode::Ccm, Direction::Encrypt, &k16, &[0; 14][..n], &[], &[1]),
            Err(Error::IvLength)
        );
    }
    assert_eq!(
        aes(Mode::Xts, Direction::Encrypt, &[1; 32], &iv, &[], &[0; 15]),
        Err(Error::DataLength)
    );
    assert_eq!(
        aes(Mode::Xts, Direction::Encrypt, &[1; 48], &iv, &[], &[0; 16]),
        Err(Error::KeyLength)
    );
    assert_eq!(
        aes(Mode::Xts, Direction::Encrypt, &[1; 32], &iv[..8], &[], &[0; 16]),
        Err(Error::IvLength)
    );
    assert_eq!(
        chacha20poly1305(Direction::Encrypt, &[1; 16], &[0; 12], &[], &[]),
        Err(Error::KeyLength)
    );
    assert_eq!(
        chacha20poly1305(Direction::Encrypt, &[1; 32], &[0; 8], &[], &[]),
        Err(Error::IvLength)
    );
    assert_eq!(cmac(&[1; 64], b"x"), Err(Error::KeyLength));
    let mut out = [0u8; 32];
    assert_eq!(pbkdf2(Md::Sha1, b"p", b"s", 0, &mut out), Err(Error::Iterations));
    assert_eq!(
        pbkdf2(Md::Sha1, b"p", b"s", PBKDF2_MAX_ITERATIONS + 1, &mut out),
        Err(Error::Iterations)
    );
    assert_eq!(pbkdf2(Md::Sha1, b"p", b"s", 1, &mut []), Err(Error::OutputLength));
    assert_eq!(
        hkdf(Md::Sha256, None, b"k", b"", &mut [0; 255 * 32 + 1]),
        Err(Error::OutputLength)
    );
    assert_eq!(x963_kdf(Md::Sha256, b"", b"", &mut out), Err(Error::KeyLength));
    assert_eq!(
        aes_cbc_pkcs7(Direction::Decrypt, &k16, &iv, &[0; 15]),
        Err(Error::DataLength)
    );
}

#[test]
fn tampering_fails_authentication() {
    let k = [9u8; 32];
    for (mode, nonce) in [
        (Mode::Gcm, &[1u8; 12][..]),
        (Mode::Gcm, &[1u8; 16][..]),
        (Mode::Gcm, &[1u8; 1][..]),
        (Mode::Ccm, &[1u8; 7][..]),
    ] {
        let mut ct = aes(mode, Direction::Encrypt, &k, nonce, b"aad", b"message").unwrap();
        assert_eq!(ct.len(), 7 + TAG_LEN);
        assert_eq!(
            &aes(mode, Direction::Decrypt, &k, nonce, b"aad", &ct).unwrap()[..],
            b"message"
        );
        assert_eq!(
            aes(mode, Direction::Decrypt, &k, nonce, b"aaD", &ct),
            Err(Error::Authentication)
        );
        ct[0] ^= 1;
        assert_eq!(
            aes(mode, Direction::Decrypt, &k, nonce, b"aad", &ct),
            Err(Error::Authentication)
        );
    }
    let ct = aes_cbc_pkcs7(Direction::Encrypt, &k, &[0; 16], b"sixteen bytes!!!").unwrap();
    assert_eq!(ct.len(), 32);
    let mut bad = ct.to_vec();
    bad[31] ^= 0x55;
    assert_eq!(
        aes_cbc_pkcs7(Direction::Decrypt, &k, &[0; 16], &bad),
        Err(Error::Authentication)
    );
}

/// The composed GCM for other IV lengths against `aes-gcm` instantiated for them.
#[test]
fn gcm_any_iv_length_equals_aes_gcm() {
    use aes_gcm::AesGcm;
    use cipher::consts::{U8, U16, U60};
    fn reference<N: cipher::array::ArraySize>(key: &[u8], iv: &[u8], aad: &[u8], data: &[u8]) -> Vec<u8> {
        let c = AesGcm::<Aes256, N>::new_from_slice(key).unwrap();
        c.encrypt(iv.try_into().unwrap(), Payload { msg: data, aad }).unwrap()
    }
    let key = [3u8; 32];
    for len in [0usize, 1, 15, 16, 17, 100] {
        let data: Vec<u8> = (0..len as u8).collect();
        for (iv, expected) in [
            (&[9u8; 8][..], reference::<U8>(&key, &[9; 8], b"a", &data)),
            (&[9u8; 16][..], reference::<U16>(&key, &[9; 16], b"a", &data)),
            (&[9u8; 60][..], reference::<U60>(&key, &[9; 60], b"a", &data)),
        ] {
            let ct = aes(Mode::Gcm, Direction::Encrypt, &key, iv, b"a", &data).unwrap();
            assert_eq!(&ct[..], &expected[..], "IV {} bytes, data {len}", iv.len());
            assert_eq!(
                &aes(Mode::Gcm, Direction::Decrypt, &key, iv, b"a", &ct).unwrap()[..],
                &data[..]
            );
        }
    }
}
