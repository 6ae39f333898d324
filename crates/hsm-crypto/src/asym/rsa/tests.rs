use alloc::vec;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, Pkcs1v15Encrypt, Pkcs1v15Sign, Pss};
use sha2::Digest;

use super::*;

fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

#[test]
fn generate_checks_parameters() {
    let mut rng = rng(1);
    for bits in [0usize, 512, 1000, 1032, 4352, 8192] {
        assert_eq!(
            RsaPrivateKey::generate(bits, 65537, &mut rng).err(),
            Some(Error::InvalidInput),
            "{bits}"
        );
    }
    for e in [0u32, 1, 2, 65536] {
        assert_eq!(
            RsaPrivateKey::generate(1024, e, &mut rng).err(),
            Some(Error::InvalidInput),
            "{e}"
        );
    }
}

#[test]
fn keygen_storage_and_operations_1024() {
    let mut rng = rng(2);
    for e in [65537u32, 3, 17] {
        let key = RsaPrivateKey::generate(1024, e, &mut rng).unwrap();
        assert_eq!(key.bits(), 1024);
        assert_eq!(key.modulus().len(), 128);
        assert_eq!(
            key.public_exponent(),
            e.to_be_bytes()
                .iter()
                .copied()
                .skip_while(|b| *b == 0)
                .collect::<Vec<_>>()
        );
        let RsaPrimes { p, q, e: e2 } = key.to_pqe().unwrap();
        assert_eq!((p.len(), q.len(), e2), (64, 64, e));
        let again = RsaPrivateKey::from_pqe(&q, &p, e).unwrap();
        assert_eq!(again.modulus(), key.modulus());
        let public = key.public_key();

        for alg in HashAlg::ALL {
            let hash = vec![0x42u8; alg.output_len()];
            let sig = again.sign_pkcs1v15(alg, &hash, &mut rng).unwrap();
            let mut t = Vec::from(alg.digest_info_prefix());
            t.extend_from_slice(&hash);
            public.verify(Pkcs1v15Sign::new_unprefixed(), &t, &sig).unwrap();
            assert_eq!(HashAlg::parse_digest_info(&t), Some((alg, &hash[..])));
            // PKCS#1 v1.5 is deterministic: the raw operation on the encoded block gives the same.
            let mut em = vec![0x00, 0x01];
            em.resize(128 - t.len() - 1, 0xff);
            em.push(0x00);
            em.extend_from_slice(&t);
            assert_eq!(&key.raw_private(&em, &mut rng).unwrap()[..], &sig[..]);
            assert_eq!(
                key.sign_pkcs1v15(alg, &hash[1..], &mut rng).err(),
                Some(Error::InvalidInput)
            );
        }
        for alg in [HashAlg::Sha1, HashAlg::Sha224, HashAlg::Sha256, HashAlg::Sha384] {
            let hash = vec![0x17u8; alg.output_len()];
            let sig = key.sign_pss(alg, &hash, &mut rng).unwrap();
            with_digest!(alg, D => public.verify(Pss::<D>::new(), &hash, &sig)).unwrap();
        }
        // 1024-bit PSS with SHA-512: a 64-byte salt does not fit (emLen 128 < 64+64+2), so the salt
        // is the longest that does, 62 bytes, as mbedTLS signs it.
        let hash = vec![0x17u8; 64];
        let sig = key.sign_pss(HashAlg::Sha512, &hash, &mut rng).unwrap();
        public
            .verify(Pss::<sha2::Sha512>::new_with_salt(62), &hash, &sig)
            .unwrap();
        assert!(
            public
                .verify(Pss::<sha2::Sha512>::new_with_salt(64), &hash, &sig)
                .is_err()
        );

        let ct = public.encrypt(&mut rng, Pkcs1v15Encrypt, b"secret").unwrap();
        assert_eq!(&key.decrypt_pkcs1v15(&ct, &mut rng).unwrap()[..], b"secret");
        let ct = public
            .encrypt(&mut rng, Oaep::<sha2::Sha256>::new(), b"oaep secret")
            .unwrap();
        assert_eq!(&key.decrypt_oaep_sha256(&ct, &mut rng).unwrap()[..], b"oaep secret");
        assert!(key.decrypt_oaep_sha256(&ct[1..], &mut rng).is_err());
        let ct = public.encrypt(&mut rng, Oaep::<sha2::Sha256>::new(), b"").unwrap();
        assert_eq!(key.decrypt_oaep_sha256(&ct, &mut rng).unwrap().len(), 0);
    }
}

#[test]
fn raw_private_input_rules() {
    let mut rng = rng(3);
    let key = RsaPrivateKey::generate(1024, 65537, &mut rng).unwrap();
    let n = key.modulus();
    assert_eq!(key.raw_private(&n, &mut rng).err(), Some(Error::InvalidInput));
    assert_eq!(key.raw_private(&[0xff; 128], &mut rng).err(), Some(Error::InvalidInput));
    assert_eq!(key.raw_private(&[1; 129], &mut rng).err(), Some(Error::InvalidInput));
    // A short input is a big-endian integer: 2^d then ^e gives back 2.
    let m = key.raw_private(&[2], &mut rng).unwrap();
    assert_eq!(m.len(), 128);
    let public = key.public_key();
    let back = rsa::hazmat::rsa_encrypt(
        &public,
        &BoxedUint::from_be_slice(&m, public.n_bits_precision()).unwrap(),
    )
    .unwrap();
    assert_eq!(back, BoxedUint::from_be_slice(&[2], public.n_bits_precision()).unwrap());
    // Leading zeros longer than the modulus are still the same integer.
    let mut long = vec![0u8; 200];
    long[199] = 2;
    assert_eq!(key.raw_private(&long, &mut rng).unwrap(), m);
    assert!(RsaPrivateKey::from_pqe(&[7], &[11], 3).is_err());
}

#[test]
fn sizes_2048_and_3072() {
    let mut rng = rng(4);
    for bits in [2048usize, 3072] {
        let key = RsaPrivateKey::generate(bits, 65537, &mut rng).unwrap();
        assert_eq!(key.size() * 8, bits);
        let hash = [9u8; 64];
        let sig = key.sign_pss(HashAlg::Sha512, &hash, &mut rng).unwrap();
        key.public_key()
            .verify(Pss::<sha2::Sha512>::new(), &hash, &sig)
            .unwrap();
    }
}

#[test]
#[ignore = "RSA-4096 key generation takes tens of seconds in debug builds"]
fn keygen_4096() {
    let mut rng = rng(5);
    let key = RsaPrivateKey::generate(4096, 65537, &mut rng).unwrap();
    assert_eq!(key.modulus().len(), 512);
    let s = key.to_pqe().unwrap();
    assert_eq!(
        RsaPrivateKey::from_pqe(&s.p, &s.q, s.e).unwrap().modulus(),
        key.modulus()
    );
}

#[test]
fn oaep_empty_label_hash_constant() {
    assert_eq!(
        sha2::Sha256::digest(b"")[..],
        hex::decode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").unwrap()[..]
    );
}

/// Our private operation, paddings and blinding pair against `rsa` 0.10's own: the same PKCS#1
/// v1.5 signatures (deterministic) and decryptions, implicit rejection included, over more
/// operations than one blinding pair serves, on a key and on a copy of it.
#[test]
fn matches_rsa_crate_across_blinding_renewals() {
    let mut rng = rng(9);
    let key = RsaPrivateKey::generate(1024, 65537, &mut rng).unwrap();
    let copy = key.clone();
    let public = key.public_key();
    for i in 0..(2 * BLINDING_USES + 3) {
        let mut t = Vec::from(HashAlg::Sha256.digest_info_prefix());
        t.extend_from_slice(&[i as u8; 32]);
        let theirs = key.inner.sign(Pkcs1v15Sign::new_unprefixed(), &t).unwrap();
        let k = if i % 3 == 0 { &copy } else { &key };
        assert_eq!(
            k.sign_pkcs1v15_digest_info(&t, &mut rng).unwrap(),
            theirs,
            "signature {i}"
        );
        // A valid ciphertext, and a random one (almost surely a bad padding: implicit rejection).
        let ct = public.encrypt(&mut rng, Pkcs1v15Encrypt, &[i as u8; 20]).unwrap();
        let mut bad = vec![0u8; key.size()];
        rand_core::Rng::fill_bytes(&mut rng, &mut bad);
        bad[0] = 0;
        for c in [ct, bad] {
            let theirs = key.inner.decrypt(Pkcs1v15Encrypt, &c).unwrap();
            assert_eq!(
                &k.decrypt_pkcs1v15(&c, &mut rng).unwrap()[..],
                &theirs[..],
                "decryption {i}"
            );
        }
    }
}

/// PSS over every hash verifies with `rsa`, including the salt cut short for SHA-512 on RSA-1024
/// and a modulus whose bit length is 1 mod 8 (encoded message one byte shorter than the modulus).
#[test]
fn pss_encodings_verify() {
    let mut rng = rng(10);
    let key = RsaPrivateKey::generate(1024, 65537, &mut rng).unwrap();
    let odd = {
        // p, q of 513 and 512 bits: n has 1025 bits.
        let k = rsa::PrivateKey::new(&mut rng, 1025).unwrap();
        let [p, q] = k.primes() else { panic!() };
        RsaPrivateKey::from_pqe(&p.to_be_bytes(), &q.to_be_bytes(), 65537).unwrap()
    };
    assert_eq!(odd.bits(), 1025);
    for k in [&key, &odd] {
        let public = k.public_key();
        for alg in HashAlg::ALL {
            let hash = vec![0x24u8; alg.output_len()];
            let sig = k.sign_pss(alg, &hash, &mut rng).unwrap();
            assert_eq!(sig.len(), k.size());
            let ok = with_digest!(alg, D => public.verify(Pss::<D>::new_with_salt(
                alg.output_len().min(k.bits().saturating_sub(1).div_ceil(8) - alg.output_len() - 2)
            ), &hash, &sig));
            ok.unwrap_or_else(|e| panic!("{alg:?} on {} bits: {e}", k.bits()));
        }
    }
}

/// A fault in the private operation never releases its result: a key whose CRT exponent is
/// wrong fails the re-encryption check.
#[test]
fn faulty_crt_is_caught() {
    let mut rng = rng(11);
    let mut key = RsaPrivateKey::generate(1024, 65537, &mut rng).unwrap();
    key.crt.corrupt_for_test();
    assert_eq!(key.raw_private(&[0x42; 64], &mut rng).err(), Some(Error::Internal));
}

/// The public verifiers accept signatures made by the `rsa` crate (PKCS#1 v1.5 and PSS with
/// several salt lengths) and reject a changed hash, a changed signature and the wrong scheme.
#[test]
fn public_verifiers_match_rsa_crate() {
    let mut rng = rng(12);
    let k = rsa::PrivateKey::new(&mut rng, 2048).unwrap();
    let n = k.n().as_ref().to_be_bytes();
    let e = k.e().to_be_bytes();
    for alg in [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha512] {
        let hash = vec![0x5Au8; alg.output_len()];
        let mut t = Vec::from(alg.digest_info_prefix());
        t.extend_from_slice(&hash);
        let v15 = k.sign(Pkcs1v15Sign::new_unprefixed(), &t).unwrap();
        verify_pkcs1v15(&n, &e, alg, &hash, &v15).unwrap();
        assert_eq!(verify_pss(&n, &e, alg, &hash, &v15), Err(Error::InvalidSignature));
        for salt in [0usize, 20, alg.output_len()] {
            let pss = with_digest!(alg, D => k.sign_with_rng(&mut rng, Pss::<D>::new_with_salt(salt), &hash)).unwrap();
            verify_pss(&n, &e, alg, &hash, &pss).unwrap();
            assert_eq!(verify_pkcs1v15(&n, &e, alg, &hash, &pss), Err(Error::InvalidSignature));
        }
        let mut bad = v15.clone();
        bad[10] ^= 1;
        assert_eq!(verify_pkcs1v15(&n, &e, alg, &hash, &bad), Err(Error::InvalidSignature));
        let mut other = hash.clone();
        other[0] ^= 1;
        assert_eq!(verify_pkcs1v15(&n, &e, alg, &other, &v15), Err(Error::InvalidSignature));
        assert_eq!(verify_pkcs1v15(&n, &e, alg, &hash[1..], &v15), Err(Error::InvalidInput));
    }
    // Malformed keys: even modulus, empty exponent, too small.
    let hash = [1u8; 32];
    assert_eq!(
        verify_pkcs1v15(&[0xFE; 256], &e, HashAlg::Sha256, &hash, &[0; 256]),
        Err(Error::InvalidKey)
    );
    assert_eq!(
        verify_pkcs1v15(&n, &[], HashAlg::Sha256, &hash, &[0; 256]),
        Err(Error::InvalidKey)
    );
    assert_eq!(
        verify_pss(&[0xFF; 64], &e, HashAlg::Sha256, &hash, &[0; 64]),
        Err(Error::InvalidKey)
    );
}

/// A helper that searches on the calling thread, once, when first asked for a prime: makes the
/// parallel path of the key generation deterministic.
#[derive(Default)]
struct InlineHelper {
    job: Option<PrimeJob>,
    given: alloc::vec::Vec<alloc::vec::Vec<crypto_bigint::Word>>,
    stopped: bool,
}

impl PrimeSearch for InlineHelper {
    fn start(&mut self, job: PrimeJob) -> bool {
        self.job = Some(job);
        true
    }
    fn take(&mut self) -> Option<Prime> {
        let job = self.job.take()?;
        let mut found = None;
        search_primes(job, &mut || false, &mut |p| {
            found = Some(p);
            false
        })
        .unwrap();
        let p = found.unwrap();
        self.given.push(p.0.to_vec());
        Some(p)
    }
    fn stop(&mut self) {
        self.stopped = true;
    }
}

#[test]
fn generate_with_takes_the_helpers_prime() {
    let mut helper = InlineHelper::default();
    let key = RsaPrivateKey::generate_with(1024, 65537, &mut rng(7), Some(&mut helper)).unwrap();
    assert!(helper.stopped, "the job is ended");
    assert_eq!(helper.given.len(), 1);
    let given = BoxedUint::from_words(helper.given[0].iter().copied());
    let primes = key.inner.primes();
    assert!(
        primes.iter().any(|p| *p.as_ref() == given),
        "the helper's prime is one of the key's"
    );
    assert_eq!(key.bits(), 1024);
    // The same seed without a helper gives another key: the helper's prime came from its own DRBG.
    let alone = RsaPrivateKey::generate(1024, 65537, &mut rng(7)).unwrap();
    assert_ne!(alone.modulus(), key.modulus());
}

#[test]
fn search_primes_stops_when_told() {
    let job = |seed: u8| PrimeJob {
        bits: 512,
        e: 65537,
        seed: Zeroizing::new(core::array::from_fn(|i| seed.wrapping_add(i as u8))),
    };
    // Stopped before the first window: nothing posted.
    let mut posted = 0;
    search_primes(job(1), &mut || true, &mut |_| {
        posted += 1;
        true
    })
    .unwrap();
    assert_eq!(posted, 0);
    // Three primes, then `post` ends it; all distinct 512-bit primes.
    let mut got: alloc::vec::Vec<BoxedUint> = alloc::vec::Vec::new();
    search_primes(job(2), &mut || false, &mut |p| {
        got.push(BoxedUint::from_words(p.0.iter().copied()));
        got.len() < 3
    })
    .unwrap();
    assert_eq!(got.len(), 3);
    for p in &got {
        assert_eq!(p.bit_width_vartime(), 512);
        assert!(crypto_primes::is_prime(crypto_primes::Flavor::Any, p));
    }
    assert!(got[0] != got[1] && got[1] != got[2]);
    // A constant seed block is refused by the DRBG's health test.
    let mut bad = job(0);
    bad.seed = Zeroizing::new([0; crate::drbg::ENTROPY_LEN]);
    assert_eq!(search_primes(bad, &mut || false, &mut |_| true), Err(Error::Rng));
}
