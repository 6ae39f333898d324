use alloc::vec::Vec;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;

fn hx(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::from_seed([3; 32])
}

#[test]
fn group_ids_roundtrip_and_match_reference() {
    let ids: Vec<u8> = Curve::all().iter().map(|c| c.mbedtls_group_id()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 15, 9, 13]);
    for c in Curve::all() {
        assert_eq!(Curve::from_group_id(c.mbedtls_group_id()), Some(*c));
    }
    assert_eq!(Curve::from_group_id(0), None);
    assert_eq!(Curve::from_group_id(11), None);
    assert_eq!(Curve::from_group_id(16), None);
}

/// The parameter tables agree with the RustCrypto crates (generator = public key of 1).
#[test]
fn params_match_crates() {
    let mut one = alloc::vec![0u8; 66];
    for c in Curve::all()
        .iter()
        .copied()
        .filter(|c| c.kind() == CurveKind::Weierstrass)
    {
        let len = c.order_bits().div_ceil(8);
        one.iter_mut().for_each(|b| *b = 0);
        one[len - 1] = 1;
        let k = EcPrivateKey::from_bytes(c, &one[..len]).unwrap();
        assert_eq!(k.public_key().unwrap(), c.params().g, "{c:?}");
        assert_eq!(c.params().g.len(), c.public_key_len());
        assert_eq!(c.params().a.len(), c.field_bytes());
        assert!(
            EcPrivateKey::from_bytes(c, c.params().n).is_err(),
            "{c:?} n is not a key"
        );
    }
    use elliptic_curve::Curve as _;
    let n384 = p384::NistP384::ORDER.to_be_bytes();
    assert_eq!(&n384[..], Curve::Secp384r1.params().n);
    let g = ed448_goldilocks::EdwardsPoint::GENERATOR.to_affine().compress();
    assert_eq!(g.as_bytes()[..], Curve::Ed448.params().g[..]);
    let g = curve25519_base();
    assert_eq!(g[..], Curve::Ed25519.params().g[..]);
    assert_eq!(x25519_dalek::X25519_BASEPOINT_BYTES[..], Curve::X25519.params().g[..]);
    assert_eq!(x448::X448_BASEPOINT_BYTES[..], Curve::X448.params().g[..]);
}

fn curve25519_base() -> [u8; 32] {
    // The public key of the seed whose clamped scalar is 8·1 is not simple; use the RFC 8032
    // encoding of the base point directly: y = 4/5, x even.
    let mut g = [0x66u8; 32];
    g[0] = 0x58;
    g
}

#[test]
fn identify_like_upstream() {
    for c in Curve::all() {
        assert_eq!(Curve::identify(c.params().p, c.params().g), Some(*c), "{c:?}");
    }
    // The generators pycvc sends (big-endian y for Ed25519, another 56-byte value for Ed448).
    let ed25519_pycvc = hx("6666666666666666666666666666666666666666666666666666666666666658");
    let ed448_pycvc = hx(
        "7fffffffffffffffffffffffffffffffffffffffffffffffffffffff80000000000000000000000000000000000000000000000000000001",
    );
    assert_eq!(
        Curve::identify(Curve::X25519.params().p, &ed25519_pycvc),
        Some(Curve::Ed25519)
    );
    assert_eq!(
        Curve::identify(Curve::X448.params().p, &ed448_pycvc),
        Some(Curve::Ed448)
    );
    assert_eq!(Curve::identify(Curve::X448.params().p, &[0x05; 57]), Some(Curve::Ed448));
    assert_eq!(Curve::identify(Curve::X25519.params().p, &[]), None);
    assert_eq!(Curve::identify(Curve::X448.params().p, &[]), None);
    // The prime alone decides for Weierstrass curves; no normalisation of leading zeros.
    assert_eq!(
        Curve::identify(Curve::Secp256r1.params().p, &[]),
        Some(Curve::Secp256r1)
    );
    let mut padded = alloc::vec![0u8];
    padded.extend_from_slice(Curve::Secp256r1.params().p);
    assert_eq!(Curve::identify(&padded, &[]), None);
    assert_eq!(Curve::identify(&[0xff; 32], &[]), None);
    assert_eq!(Curve::identify(&[], &[]), None);
}

#[test]
fn every_curve_generates_signs_and_agrees() {
    let mut rng = rng();
    for c in Curve::all().iter().copied() {
        let k = EcPrivateKey::generate(c, &mut rng).unwrap();
        let public = k.public_key().unwrap();
        assert_eq!(public.len(), c.public_key_len(), "{c:?}");
        assert_eq!(k.to_bytes().len(), c.private_key_len(), "{c:?}");
        let again = EcPrivateKey::from_bytes(c, &k.to_bytes()).unwrap();
        assert_eq!(again.public_key().unwrap(), public);
        c.validate_public_key(&public).unwrap();
        match c.kind() {
            CurveKind::Weierstrass => {
                let hash = [0x11u8; 48];
                let der = k.ecdsa_sign_prehash(&hash, &mut rng).unwrap();
                c.verify_ecdsa_prehash(&public, &hash, &der).unwrap();
                let raw = k.ecdsa_sign_raw(&hash, &mut rng).unwrap();
                assert_eq!(raw.len(), 2 * c.order_bits().div_ceil(8));
                c.verify_ecdsa_raw(&public, &hash, &raw).unwrap();
                assert!(c.verify_ecdsa_raw(&public, &[0x12; 48], &raw).is_err());
                let other = EcPrivateKey::generate(c, &mut rng).unwrap();
                let s1 = k.ecdh(&other.public_key().unwrap()).unwrap();
                let s2 = other.ecdh(&public).unwrap();
                assert_eq!(s1, s2);
                assert_eq!(s1.len(), c.public_key_len());
                assert_eq!(k.eddsa_sign(b"x").err(), Some(Error::UnsupportedOperation));
            }
            CurveKind::Montgomery => {
                let other = EcPrivateKey::generate(c, &mut rng).unwrap();
                assert_eq!(
                    k.ecdh(&other.public_key().unwrap()).unwrap(),
                    other.ecdh(&public).unwrap()
                );
                assert_eq!(
                    k.ecdsa_sign_raw(&[1; 32], &mut rng).err(),
                    Some(Error::UnsupportedOperation)
                );
                assert_eq!(k.derive_additive(&[1]).err(), Some(Error::UnsupportedOperation));
            }
            CurveKind::Edwards => {
                let sig = k.eddsa_sign(b"message").unwrap();
                c.verify_eddsa(&public, b"message", &sig).unwrap();
                assert!(c.verify_eddsa(&public, b"messagf", &sig).is_err());
                assert_eq!(k.ecdh(&public).err(), Some(Error::UnsupportedOperation));
            }
        }
    }
}

#[test]
fn ecdsa_hash_lengths_follow_bits2int() {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let mut rng = rng();
    let k = EcPrivateKey::generate(Curve::Secp256r1, &mut rng).unwrap();
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&k.public_key().unwrap()).unwrap();
    for len in [1usize, 20, 28, 32, 48, 64] {
        let hash: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37).wrapping_add(5)).collect();
        let raw = k.ecdsa_sign_raw(&hash, &mut rng).unwrap();
        let sig = p256::ecdsa::Signature::from_slice(&raw).unwrap();
        vk.verify_prehash(&hash, &sig).unwrap();
    }
    let k = EcPrivateKey::generate(Curve::Secp521r1, &mut rng).unwrap();
    let vk = p521::ecdsa::VerifyingKey::from_sec1_bytes(&k.public_key().unwrap()).unwrap();
    for len in [32usize, 64, 66, 80] {
        let hash = alloc::vec![0xc3u8; len];
        let raw = k.ecdsa_sign_raw(&hash, &mut rng).unwrap();
        let sig = p521::ecdsa::Signature::from_slice(&raw).unwrap();
        vk.verify_prehash(&hash, &sig).unwrap();
    }
}

#[test]
fn derive_additive_is_mod_n() {
    let mut rng = rng();
    let k = EcPrivateKey::generate(Curve::Secp256r1, &mut rng).unwrap();
    let d = p256::NonZeroScalar::try_from(&k.to_bytes()[..]).unwrap();
    let tweak = hx("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632552"); // n + 1
    let derived = k.derive_additive(&tweak).unwrap();
    let expected = *d + p256::Scalar::ONE;
    assert_eq!(&derived.to_bytes()[..], &expected.to_bytes()[..]);
    // d + (n − d) = 0 is refused.
    let neg = (-*d).to_bytes();
    assert_eq!(k.derive_additive(&neg).err(), Some(Error::InvalidKey));
    assert_eq!(k.derive_additive(&[1u8; 33]).err(), Some(Error::InvalidInput));
    assert_eq!(k.derive_additive(&[0u8; 40]).unwrap().to_bytes(), k.to_bytes());
}

#[test]
fn ecdh_rejects_bad_points() {
    let mut rng = rng();
    for c in Curve::all()
        .iter()
        .copied()
        .filter(|c| c.kind() == CurveKind::Weierstrass)
    {
        let k = EcPrivateKey::generate(c, &mut rng).unwrap();
        let mut p = k.public_key().unwrap();
        let last = p.len() - 1;
        p[last] ^= 1;
        assert_eq!(k.ecdh(&p).err(), Some(Error::InvalidPoint), "{c:?} off-curve");
        assert!(k.ecdh(&[0x00]).is_err(), "{c:?} identity");
        assert!(k.ecdh(&[]).is_err());
        assert!(k.ecdh(&p[..last]).is_err());
        let mut x_too_big = k.public_key().unwrap();
        x_too_big[1..1 + c.field_bytes()].copy_from_slice(c.params().p);
        assert!(k.ecdh(&x_too_big).is_err());
    }
    let x = EcPrivateKey::generate(Curve::X25519, &mut rng).unwrap();
    assert_eq!(x.ecdh(&[0u8; 32]).err(), Some(Error::InvalidPoint));
    let mut one = [0u8; 32];
    one[0] = 1;
    assert_eq!(x.ecdh(&one).err(), Some(Error::InvalidPoint));
    assert!(x.ecdh(&[9u8; 31]).is_err());
    let x = EcPrivateKey::generate(Curve::X448, &mut rng).unwrap();
    assert_eq!(x.ecdh(&[0u8; 56]).err(), Some(Error::InvalidPoint));
}

/// RFC 7748 §6.1 and §6.2, RFC 8032 §7.1 test 1 and §7.4 "-----Blank".
#[test]
fn rfc_vectors_edwards_montgomery() {
    let a = EcPrivateKey::from_bytes(
        Curve::X25519,
        &hx("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
    )
    .unwrap();
    assert_eq!(
        a.public_key().unwrap(),
        hx("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    let shared = a
        .ecdh(&hx("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"))
        .unwrap();
    assert_eq!(
        &shared[..],
        &hx("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")[..]
    );

    let a = EcPrivateKey::from_bytes(Curve::X448, &hx("9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28dd9c9baf574a9419744897391006382a6f127ab1d9ac2d8c0a598726b")).unwrap();
    assert_eq!(
        a.public_key().unwrap(),
        hx(
            "9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0"
        )
    );
    let shared = a.ecdh(&hx("3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b43027d8b972fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609")).unwrap();
    assert_eq!(
        &shared[..],
        &hx(
            "07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282bb60c0b56fd2464c335543936521c24403085d59a449a5037514a879d"
        )[..]
    );

    let e = EcPrivateKey::from_bytes(
        Curve::Ed25519,
        &hx("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
    )
    .unwrap();
    assert_eq!(
        e.public_key().unwrap(),
        hx("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    );
    assert_eq!(
        e.eddsa_sign(b"").unwrap(),
        hx(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        )
    );

    let e = EcPrivateKey::from_bytes(Curve::Ed448, &hx("6c82a562cb808d10d632be89c8513ebf6c929f34ddfa8c9f63c9960ef6e348a3528c8a3fcc2f044e39a3fc5b94492f8f032e7549a20098f95b")).unwrap();
    assert_eq!(
        e.public_key().unwrap(),
        hx(
            "5fd7449b59b461fd2ce787ec616ad46a1da1342485a70e1f8a0ea75d80e96778edf124769b46c7061bd6783df1e50f6cd1fa1abeafe8256180"
        )
    );
    assert_eq!(
        e.eddsa_sign(b"").unwrap(),
        hx(
            "533a37f6bbe457251f023c0d88f976ae2dfb504a843e34d2074fd823d41a591f2b233f034f628281f2fd7a22ddd47d7828c59bd0a21bfd3980ff0d2028d4b18a9df63e006c5d1c2d345b925d8dc00b4104852db99ac5c7cdda8530a113a0f4dbb61149f05a7363268c71d95808ff2e652600"
        )
    );
}

#[test]
fn der_roundtrip_and_strictness() {
    let mut raw = alloc::vec![0u8; 64];
    raw[1] = 0x80;
    raw[2] = 0xaa;
    raw[31] = 1;
    let der = raw_to_der(&raw);
    assert_eq!(der_to_raw(&der, 32).unwrap(), raw);
    // Non-minimal integer, negative integer, trailing bytes, long-form short length.
    assert!(der_to_raw(&hx("3008020200010202000101"), 32).is_none());
    assert!(der_to_raw(&hx("30060201ff020101"), 32).is_none());
    assert!(der_to_raw(&hx("3006020101020101 00".replace(' ', "").as_str()), 32).is_none());
    assert!(der_to_raw(&hx("308106020101020101"), 32).is_none());
    assert_eq!(der_to_raw(&hx("3006020101020102"), 32).unwrap()[31], 1);
    assert!(der_to_raw(&[], 32).is_none());
    assert!(der_to_raw(&[0x30], 32).is_none());
}

#[test]
fn malformed_private_keys() {
    for c in Curve::all().iter().copied() {
        assert!(EcPrivateKey::from_bytes(c, &[0u8; 70]).is_err(), "{c:?}");
        if c.kind() != CurveKind::Weierstrass {
            assert!(EcPrivateKey::from_bytes(c, &[1u8; 3]).is_err(), "{c:?}");
        } else {
            assert!(EcPrivateKey::from_bytes(c, &[]).is_err(), "{c:?}");
            assert_eq!(
                EcPrivateKey::from_bytes(c, &[5]).unwrap().to_bytes().len(),
                c.private_key_len()
            );
        }
    }
}

/// With no additional input the nonces are plain RFC 6979 with the hash `with_nonce_hash` pairs
/// with the curve: RFC 6979 A.2.5 (P-256, SHA-256, "sample"), on the crates' path and on the
/// boards' P-256 comb; P-384/SHA-384, P-521/SHA-512 and secp256k1/SHA-256 as each crate signs by
/// default (its own RFC 6979 with its curve's digest). The card always adds 32 random bytes.
#[test]
fn nonces_are_rfc6979_with_the_curves_hash() {
    use ecdsa::signature::hazmat::PrehashSigner;
    let x = hx("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721");
    let hash = crate::hash::sha256(&[b"sample"]);
    let expected = hx("efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716\
         f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8");
    assert_eq!(weierstrass::sign(Curve::Secp256r1, &x, &hash, b"").unwrap(), expected);
    let d = p256::NonZeroScalar::try_from(&x[..]).unwrap();
    assert_eq!(p256_comb::sign(&d, &hash, b"").unwrap(), expected);
    // Hedged: 00 01 … 1F as additional input (RFC 6979 §3.6), as firmware/m33-kat checks on the
    // Cortex-M33; the value from a separate pure-Python RFC 6979 and P-256.
    let extra: Vec<u8> = (0..32).collect();
    let hedged = hx("25404cfdb1228f680881e195dae0665f43f988c40cbc4e23927810d7c4635d74\
         8f076e7b9ea4bde92fb16b5cf25d0d3656db01a6e19c885b53cb8754f1b819c3");
    assert_eq!(weierstrass::sign(Curve::Secp256r1, &x, &hash, &extra).unwrap(), hedged);
    assert_eq!(p256_comb::sign(&d, &hash, &extra).unwrap(), hedged);

    let mut rng = rng();
    for (curve, hash_len) in [(Curve::Secp384r1, 48), (Curve::Secp521r1, 64), (Curve::Secp256k1, 32)] {
        let k = EcPrivateKey::generate(curve, &mut rng).unwrap();
        let hash: Vec<u8> = (0..hash_len).map(|i| (i as u8).wrapping_mul(29)).collect();
        let ours = weierstrass::sign(curve, &k.secret, &hash, b"").unwrap();
        let theirs: Vec<u8> = match curve {
            Curve::Secp384r1 => {
                let sk = p384::ecdsa::SigningKey::from_slice(&k.secret).unwrap();
                let sig: p384::ecdsa::Signature = sk.sign_prehash(&hash).unwrap();
                sig.to_bytes().to_vec()
            }
            Curve::Secp521r1 => {
                let sk = p521::ecdsa::SigningKey::from_slice(&k.secret).unwrap();
                let sig: p521::ecdsa::Signature = sk.sign_prehash(&hash).unwrap();
                sig.to_bytes().to_vec()
            }
            _ => {
                let sk = k256::ecdsa::SigningKey::from_slice(&k.secret).unwrap();
                let sig: k256::ecdsa::Signature = sk.sign_prehash(&hash).unwrap();
                sig.to_bytes().to_vec()
            }
        };
        assert_eq!(ours, theirs, "{curve:?}");
    }
}
