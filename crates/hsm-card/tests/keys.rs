//! In-process scenarios for asymmetric keys: GENERATE (46), COMPUTE SIGNATURE (68), DECIPHER (62),
//! DERIVE EC KEY (76), key metadata. Results are checked with the crypto crate's verifiers and
//! RustCrypto `rsa`; every refusal is checked to leave both stores unchanged.

mod common;

use common::{
    OID_ECDSA, OID_RSA, SELECT_AID, TestCard, VERIFY, apdu, ec_template, find, h, initialized, keygen_data,
    power_cycle, public_point, put, snapshot, tx, txb,
};
use hsm_apdu::tlv;
use hsm_card::Platform;
use hsm_crypto::asym::{Curve, CurveKind, EcPrivateKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::Digest;

/// Generates a key ([`common::gen_ec`]); returns the authenticated request after checking its inner
/// self-signature and references.
fn gen_ec(card: &mut TestCard, id: u8, curve: Curve, extra: &[u8]) -> Vec<u8> {
    let req = common::gen_ec(card, id, curve, extra);
    let point = public_point(&req, curve).to_vec();
    let inner = find(&req, &[0x67, 0x7F21]);
    let body = {
        let v = find(&req, &[0x67, 0x7F21, 0x7F4E]);
        let mut b = Vec::new();
        put(&mut b, 0x7F4E, v);
        b
    };
    let sig = tlv::find(inner, 0x5F37).unwrap().unwrap();
    match curve.kind() {
        CurveKind::Weierstrass => curve
            .verify_ecdsa_raw(&point, &sha2::Sha256::digest(&body), sig)
            .unwrap(),
        CurveKind::Edwards => curve.verify_eddsa(&point, &body, sig).unwrap(),
        CurveKind::Montgomery => assert!(sig.iter().all(|b| *b == 0)),
    }
    assert_eq!(find(&req, &[0x67, 0x7F21, 0x7F4E, 0x5F20]), b"UTTM00001");
    assert_eq!(find(&req, &[0x67, 0x7F21, 0x7F4E, 0x42]), b"UTCA00001");
    req
}

/// Asserts that `apdu` answers `want` and changes nothing in either store.
fn refused(card: &mut TestCard, apdu: &[u8], want: u16) {
    let before = snapshot(card);
    let (_, sw) = txb(card, apdu);
    assert_eq!(sw, want, "{}", hex::encode(apdu));
    assert_eq!(snapshot(card), before, "store changed by a refused command");
}

#[test]
fn ec_keys_on_every_weierstrass_curve_sign_and_agree() {
    let mut c = initialized(11);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for curve in Curve::all()
        .iter()
        .copied()
        .filter(|c| c.kind() == CurveKind::Weierstrass)
    {
        let req = gen_ec(&mut c, 1, curve, &[]);
        let point = public_point(&req, curve).to_vec();
        let (ce, _) = tx(&mut c, "00B1CE01 000004 54020000 0000");
        assert_eq!(ce, req, "CE01 holds the request");
        let (prkd, _) = tx(&mut c, "00B1C401 000004 54020000 0000");
        assert_eq!(prkd[0], 0xA0);
        // 70: an external hash; 71–75: on-card hashes.
        let hash = [0x42u8; 32];
        let (sig, sw) = txb(&mut c, &apdu(0x80, 0x68, 1, 0x70, &hash));
        assert_eq!(sw, 0x9000);
        curve.verify_ecdsa_prehash(&point, &hash, &sig).unwrap();
        let msg = b"message signed on the card";
        let digests: [Vec<u8>; 5] = [
            sha1::Sha1::digest(msg).to_vec(),
            sha2::Sha224::digest(msg).to_vec(),
            sha2::Sha256::digest(msg).to_vec(),
            sha2::Sha384::digest(msg).to_vec(),
            sha2::Sha512::digest(msg).to_vec(),
        ];
        for (i, d) in digests.iter().enumerate() {
            let (sig, sw) = txb(&mut c, &apdu(0x80, 0x68, 1, 0x71 + i as u8, msg));
            assert_eq!(sw, 0x9000);
            curve.verify_ecdsa_prehash(&point, d, &sig).unwrap();
        }
        // ECDH: 04 ‖ X of the shared point.
        let eph = EcPrivateKey::generate(curve, &mut rng).unwrap();
        let (out, sw) = txb(&mut c, &apdu(0x80, 0x62, 1, 0x80, &eph.public_key().unwrap()));
        assert_eq!(sw, 0x9000);
        let shared = eph.ecdh(&point).unwrap();
        assert_eq!(out, shared[..1 + curve.field_bytes()].to_vec(), "{curve:?}");
        // A point off the curve.
        let mut bad = eph.public_key().unwrap();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        refused(&mut c, &apdu(0x80, 0x62, 1, 0x80, &bad), 0x6700);
    }
}

#[test]
fn edwards_and_montgomery_keys() {
    let mut c = initialized(12);
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    for curve in [Curve::Ed25519, Curve::Ed448] {
        let req = gen_ec(&mut c, 2, curve, &[]);
        let point = public_point(&req, curve).to_vec();
        let msg = b"pure EdDSA over the data";
        let (sig, sw) = txb(&mut c, &apdu(0x80, 0x68, 2, 0x70, msg));
        assert_eq!(sw, 0x9000);
        curve.verify_eddsa(&point, msg, &sig).unwrap();
        refused(&mut c, &apdu(0x80, 0x62, 2, 0x80, &point), 0x6A81);
    }
    for curve in [Curve::X25519, Curve::X448] {
        let req = gen_ec(&mut c, 3, curve, &[]);
        let point = public_point(&req, curve).to_vec();
        let eph = EcPrivateKey::generate(curve, &mut rng).unwrap();
        let (out, sw) = txb(&mut c, &apdu(0x80, 0x62, 3, 0x80, &eph.public_key().unwrap()));
        assert_eq!(sw, 0x9000);
        let mut want = vec![0x04];
        want.extend_from_slice(&eph.ecdh(&point).unwrap());
        assert_eq!(out, want);
        refused(&mut c, &apdu(0x80, 0x68, 3, 0x70, &[1; 32]), 0x6A81);
        refused(&mut c, &apdu(0x80, 0x62, 3, 0x80, &[0; 32]), 0x6700);
    }
}

#[test]
fn derive_ec_key_is_additive() {
    let mut c = initialized(13);
    gen_ec(&mut c, 1, Curve::Secp256r1, &[]);
    let g = Curve::Secp256r1.params().g;
    let ecdh_g = |c: &mut TestCard, id: u8| {
        let (out, sw) = txb(c, &apdu(0x80, 0x62, id, 0x80, g));
        assert_eq!(sw, 0x9000);
        out
    };
    let t = [0x11u8; 32];
    let mut data = vec![0x98];
    data.extend_from_slice(&t);
    assert_eq!(txb(&mut c, &apdu(0x80, 0x76, 1, 2, &data)).1, 0x9000);
    assert_eq!(txb(&mut c, &apdu(0x80, 0x76, 1, 3, &data)).1, 0x9000);
    assert_eq!(ecdh_g(&mut c, 2), ecdh_g(&mut c, 3));
    assert_ne!(ecdh_g(&mut c, 1), ecdh_g(&mut c, 2));
    // (d + t) + t == d + 2t
    let mut two_t = vec![0x98];
    two_t.extend_from_slice(&[0x22u8; 32]);
    assert_eq!(txb(&mut c, &apdu(0x80, 0x76, 2, 4, &data)).1, 0x9000);
    assert_eq!(txb(&mut c, &apdu(0x80, 0x76, 1, 5, &two_t)).1, 0x9000);
    assert_eq!(ecdh_g(&mut c, 4), ecdh_g(&mut c, 5));
    refused(&mut c, &apdu(0x80, 0x76, 1, 6, &[0x97, 1]), 0x6700);
    refused(&mut c, &apdu(0x80, 0x76, 1, 6, &[0x98]), 0x6700);
    refused(&mut c, &apdu(0x80, 0x76, 1, 0, &data), 0x6982);
    refused(&mut c, &apdu(0x80, 0x76, 0, 6, &data), 0x6982);
    refused(&mut c, &apdu(0x80, 0x76, 9, 6, &data), 0x6A82);
}

#[test]
fn refusals_leave_the_store_unchanged() {
    let mut c = initialized(14);
    gen_ec(&mut c, 1, Curve::Secp256r1, &[]);
    let p256 = ec_template(Curve::Secp256r1);
    // Slot 0 (the device key) is never the user's.
    refused(&mut c, &apdu(0x00, 0x46, 0, 0, &keygen_data(&p256, &[])), 0x6982);
    refused(&mut c, &apdu(0x80, 0x68, 0, 0x70, &[1; 32]), 0x6982);
    refused(&mut c, &apdu(0x80, 0x62, 0, 0x80, Curve::Secp256r1.params().g), 0x6982);
    // Malformed templates.
    refused(&mut c, &apdu(0x00, 0x46, 2, 0, &[]), 0x6700);
    refused(&mut c, &apdu(0x00, 0x46, 2, 0, &h("5F290100 7F49")), 0x6700);
    refused(&mut c, &apdu(0x00, 0x46, 2, 0, &h("7F4905 0603040000")), 0x6A81);
    refused(
        &mut c,
        &apdu(0x00, 0x46, 2, 0, &keygen_data(&h("0603 040000"), &[])),
        0x6A81,
    );
    let mut no_prime = Vec::new();
    put(&mut no_prime, 0x06, &OID_ECDSA);
    refused(&mut c, &apdu(0x00, 0x46, 2, 0, &keygen_data(&no_prime, &[])), 0x6700);
    // Unknown curve (secp224k1's prime).
    let mut unknown = no_prime.clone();
    put(
        &mut unknown,
        0x81,
        &h("fffffffffffffffffffffffffffffffffffffffffffffffeffffe56d"),
    );
    refused(&mut c, &apdu(0x00, 0x46, 2, 0, &keygen_data(&unknown, &[])), 0x6A81);
    refused(
        &mut c,
        &apdu(0x00, 0x46, 2, 0, &keygen_data(&p256, &h("9003 000001"))),
        0x6700,
    );
    // XKEK keys need a domain with an XKEK, which this card does not offer.
    refused(
        &mut c,
        &apdu(0x00, 0x46, 2, 0, &keygen_data(&p256, &h("910184 920100"))),
        0x6700,
    );
    // Signature inputs.
    refused(&mut c, &apdu(0x80, 0x68, 1, 0x70, &[]), 0x6700);
    refused(&mut c, &apdu(0x80, 0x68, 1, 0x70, &[1; 67]), 0x6700);
    refused(&mut c, &apdu(0x80, 0x68, 1, 0x76, &[1; 32]), 0x6A86);
    refused(&mut c, &apdu(0x80, 0x68, 1, 0x31, &[1; 32]), 0x6A81);
    refused(&mut c, &apdu(0x80, 0x68, 2, 0x70, &[1; 32]), 0x6A82);
    refused(&mut c, &apdu(0x80, 0x62, 1, 0x22, &[1; 32]), 0x6A81);
    refused(&mut c, &apdu(0x80, 0x62, 1, 0x99, &[1; 32]), 0x6A86);
    // Not logged in.
    c.reset();
    assert_eq!(tx(&mut c, SELECT_AID).1, 0x9000);
    refused(&mut c, &apdu(0x80, 0x68, 1, 0x70, &[1; 32]), 0x6982);
    refused(&mut c, &apdu(0x00, 0x46, 2, 0, &keygen_data(&p256, &[])), 0x6982);
}

#[test]
fn use_counter_and_algorithm_list_are_enforced() {
    let mut c = initialized(15);
    // Two uses, ECDSA with on-card SHA-256 and ECDH only.
    gen_ec(&mut c, 1, Curve::Secp256r1, &h("9004 00000002 91027380 930201AB"));
    let (fci, _) = tx(&mut c, "00A40000 02 CC01 00");
    let a5 = find(&fci, &[0x62, 0xA5]);
    assert_eq!(a5, h("9004 00000002 91027380 930201AB"));
    refused(&mut c, &apdu(0x80, 0x68, 1, 0x70, &[1; 32]), 0x6985);
    let mut data = vec![0x98];
    data.extend_from_slice(&[1; 32]);
    refused(&mut c, &apdu(0x80, 0x76, 1, 2, &data), 0x6985);
    assert_eq!(txb(&mut c, &apdu(0x80, 0x68, 1, 0x73, b"one")).1, 0x9000);
    let (fci, _) = tx(&mut c, "00A40000 02 CC01 00");
    assert_eq!(&find(&fci, &[0x62, 0xA5])[..6], &h("9004 00000001")[..]);
    assert_eq!(
        txb(&mut c, &apdu(0x80, 0x62, 1, 0x80, Curve::Secp256r1.params().g)).1,
        0x9000
    );
    refused(&mut c, &apdu(0x80, 0x68, 1, 0x73, b"three"), 0x6A84);
    // Deleting the key removes its metadata; a new key has none.
    assert_eq!(tx(&mut c, "00E40000 02 CC01").1, 0x9000);
    gen_ec(&mut c, 1, Curve::Secp256r1, &[]);
    let (fci, _) = tx(&mut c, "00A40000 02 CC01 00");
    assert!(
        tlv::find(tlv::find(&fci, 0x62).unwrap().unwrap(), 0xA5)
            .unwrap()
            .is_none()
    );
    assert_eq!(txb(&mut c, &apdu(0x80, 0x68, 1, 0x70, &[1; 32])).1, 0x9000);
}

#[test]
fn keys_survive_a_restart() {
    let mut c = initialized(16);
    let req = gen_ec(&mut c, 7, Curve::Secp384r1, &[]);
    let point = public_point(&req, Curve::Secp384r1).to_vec();
    let mut c = power_cycle(c, 16);
    refused(&mut c, &apdu(0x80, 0x68, 7, 0x70, &[3; 48]), 0x6982);
    assert_eq!(tx(&mut c, VERIFY).1, 0x9000);
    let (sig, sw) = txb(&mut c, &apdu(0x80, 0x68, 7, 0x70, &[3; 48]));
    assert_eq!(sw, 0x9000);
    Curve::Secp384r1.verify_ecdsa_prehash(&point, &[3; 48], &sig).unwrap();
}

#[cfg(feature = "rsa")]
mod rsa_keys {
    use rsa::traits::PublicKeyParts;
    use rsa::{BoxedUint, Oaep, Pkcs1v15Encrypt, Pkcs1v15Sign, Pss};

    use super::*;

    use crate::common::PREFIX_SHA256;

    /// Generates an RSA key ([`common::gen_rsa`]); returns its public key after checking the
    /// request's inner self-signature and the key's PRKD.
    fn gen_rsa(c: &mut TestCard, id: u8, bits: u16, e: &[u8]) -> rsa::PublicKey {
        let (req, public) = common::gen_rsa(c, id, bits, e);
        // Inner self-signature: PKCS#1 v1.5 SHA-256 over the body.
        let mut body = Vec::new();
        put(&mut body, 0x7F4E, find(&req, &[0x67, 0x7F21, 0x7F4E]));
        let mut t = PREFIX_SHA256.to_vec();
        t.extend_from_slice(&sha2::Sha256::digest(&body));
        let sig = find(&req, &[0x67, 0x7F21, 0x5F37]);
        public.verify(Pkcs1v15Sign::new_unprefixed(), &t, sig).unwrap();
        let (prkd, _) = tx(c, &format!("00B1C4{id:02X}00000454020000 0000"));
        assert_eq!(prkd[0], 0x30);
        public
    }

    #[test]
    fn rsa_signatures_and_decryption() {
        let mut c = initialized(21);
        let public = gen_rsa(&mut c, 4, 1024, &[0x01, 0x00, 0x01]);
        let k = public.size();
        let msg = b"RSA on the card";
        let prefixes: [(&[u8], Vec<u8>); 5] = [
            (&h("3021300906052b0e03021a05000414"), sha1::Sha1::digest(msg).to_vec()),
            (
                &h("302d300d06096086480165030402040500041c"),
                sha2::Sha224::digest(msg).to_vec(),
            ),
            (&PREFIX_SHA256, sha2::Sha256::digest(msg).to_vec()),
            (
                &h("3041300d060960864801650304020205000430"),
                sha2::Sha384::digest(msg).to_vec(),
            ),
            (
                &h("3051300d060960864801650304020305000440"),
                sha2::Sha512::digest(msg).to_vec(),
            ),
        ];
        for (i, (prefix, digest)) in prefixes.iter().enumerate() {
            let mut t = prefix.to_vec();
            t.extend_from_slice(digest);
            let (sig, sw) = txb(&mut c, &apdu(0x80, 0x68, 4, 0x31 + i as u8, msg));
            assert_eq!((sw, sig.len()), (0x9000, k));
            public.verify(Pkcs1v15Sign::new_unprefixed(), &t, &sig).unwrap();
            let (sig30, sw) = txb(&mut c, &apdu(0x80, 0x68, 4, 0x30, &t));
            assert_eq!((sw, &sig30), (0x9000, &sig), "PKCS#1 v1.5 is deterministic");
        }
        // PSS with on-card and external hashes (SHA-256 verified; salt = hash length).
        let d = sha2::Sha256::digest(msg);
        let (sig, sw) = txb(&mut c, &apdu(0x80, 0x68, 4, 0x43, msg));
        assert_eq!(sw, 0x9000);
        public.verify(Pss::<sha2::Sha256>::new(), &d, &sig).unwrap();
        let (sig, sw) = txb(&mut c, &apdu(0x80, 0x68, 4, 0x40, &d));
        assert_eq!(sw, 0x9000);
        public.verify(Pss::<sha2::Sha256>::new(), &d, &sig).unwrap();
        let d1 = sha1::Sha1::digest(msg);
        let (sig, sw) = txb(&mut c, &apdu(0x80, 0x68, 4, 0x41, msg));
        assert_eq!(sw, 0x9000);
        public.verify(Pss::<sha1::Sha1>::new(), &d1, &sig).unwrap();
        // Raw: a short input is a big-endian integer (left-padded, DESIGN §5).
        let (raw, sw) = txb(&mut c, &apdu(0x80, 0x68, 4, 0x20, &[2]));
        assert_eq!((sw, raw.len()), (0x9000, k));
        let back = rsa::hazmat::rsa_encrypt(
            &public,
            &BoxedUint::from_be_slice(&raw, public.n_bits_precision()).unwrap(),
        )
        .unwrap();
        assert_eq!(back, BoxedUint::from_be_slice(&[2], public.n_bits_precision()).unwrap());
        // Decryption.
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let secret = b"a secret for the card";
        let ct = public.encrypt(&mut rng, Pkcs1v15Encrypt, secret).unwrap();
        let (pt, sw) = txb(&mut c, &apdu(0x80, 0x62, 4, 0x22, &ct));
        assert_eq!((sw, &pt[..]), (0x9000, &secret[..]));
        let ct = public.encrypt(&mut rng, Oaep::<sha2::Sha256>::new(), secret).unwrap();
        let (pt, sw) = txb(&mut c, &apdu(0x80, 0x62, 4, 0x23, &ct));
        assert_eq!((sw, &pt[..]), (0x9000, &secret[..]));
        let two_e = rsa::hazmat::rsa_encrypt(
            &public,
            &BoxedUint::from_be_slice(&[2], public.n_bits_precision()).unwrap(),
        )
        .unwrap()
        .to_be_bytes();
        let (pt, sw) = txb(&mut c, &apdu(0x80, 0x62, 4, 0x21, &two_e));
        assert_eq!(sw, 0x9000);
        assert_eq!(pt.len(), k);
        assert_eq!(pt[k - 1], 2);
        assert!(pt[..k - 1].iter().all(|b| *b == 0));
        // Bad input.
        let n = public.n().to_be_bytes();
        refused(&mut c, &apdu(0x80, 0x68, 4, 0x20, &n), 0x6700);
        refused(&mut c, &apdu(0x80, 0x62, 4, 0x21, &n), 0x6700);
        refused(&mut c, &apdu(0x80, 0x68, 4, 0x20, &vec![1; k + 1]), 0x6700);
        refused(&mut c, &apdu(0x80, 0x68, 4, 0x40, &[1; 33]), 0x6700);
        refused(&mut c, &apdu(0x80, 0x68, 4, 0x30, &[1; 32]), 0x6700);
        refused(&mut c, &apdu(0x80, 0x68, 4, 0x70, &[1; 32]), 0x6A81);
        refused(&mut c, &apdu(0x80, 0x62, 4, 0x80, &[4; 65]), 0x6A81);
        refused(&mut c, &apdu(0x80, 0x62, 4, 0x23, &[1; 3]), 0x6700);
        let mut data = vec![0x98];
        data.extend_from_slice(&[1; 32]);
        refused(&mut c, &apdu(0x80, 0x76, 4, 5, &data), 0x6A81);
    }

    #[test]
    fn rsa_exponent_is_kept_and_sizes_checked() {
        let mut c = initialized(22);
        let public = gen_rsa(&mut c, 1, 1024, &[0x03]);
        assert_eq!(
            public
                .e()
                .to_be_bytes()
                .iter()
                .copied()
                .filter(|b| *b != 0)
                .collect::<Vec<_>>(),
            [3]
        );
        let msg = b"e = 3";
        let (sig, sw) = txb(&mut c, &apdu(0x80, 0x68, 1, 0x33, msg));
        assert_eq!(sw, 0x9000);
        let mut t = PREFIX_SHA256.to_vec();
        t.extend_from_slice(&sha2::Sha256::digest(msg));
        public.verify(Pkcs1v15Sign::new_unprefixed(), &t, &sig).unwrap();
        let mut tpl = Vec::new();
        put(&mut tpl, 0x06, &OID_RSA);
        put(&mut tpl, 0x02, &[0x03, 0x00]);
        refused(&mut c, &apdu(0x00, 0x46, 2, 0, &keygen_data(&tpl, &[])), 0x6A81);
        let mut tpl = Vec::new();
        put(&mut tpl, 0x06, &OID_RSA);
        put(&mut tpl, 0x82, &[0x01, 0x00, 0x00]);
        refused(&mut c, &apdu(0x00, 0x46, 2, 0, &keygen_data(&tpl, &[])), 0x6700);
    }
}

/// ECDSA over a given hash with key `id`; the status word.
fn sign_sw(c: &mut TestCard, id: u8, alg: u8) -> u16 {
    let data: &[u8] = if alg == 0x70 { &[0x5A; 32] } else { b"message" };
    txb(c, &apdu(0x80, 0x68, id, alg, data)).1
}

/// The metadata is part of the key file, bound to the sealed key (issue 10 item 3): a policy
/// edited in the flash (here: another algorithm allowed) or a key file moved to another slot does
/// not open, and a use counter of another key file does not count for this one. Before, the
/// metadata lived apart in `D0xx`, where an edit widened the key's policy.
#[test]
fn metadata_is_bound_to_the_key_file() {
    let mut c = initialized(31);
    gen_ec(&mut c, 1, Curve::Secp256r1, &h("9004 00000005 910170"));
    gen_ec(&mut c, 2, Curve::Secp256r1, &h("9004 00000005 910170"));
    assert_eq!(sign_sw(&mut c, 2, 0x70), 0x9000);
    assert_eq!(sign_sw(&mut c, 1, 0x73), 0x6985, "algorithm outside the policy");
    let file = c.platform_mut().store().read_all(0xCC01).unwrap();
    assert!(
        !c.platform_mut().store().contains(0xD001),
        "metadata outside the key file"
    );
    let at = file.windows(3).position(|w| w == [0x91, 0x01, 0x70]).unwrap();

    // The policy edited to allow 0x73: SELECT shows it, the key does not open.
    let mut edited = file.clone();
    edited[at + 2] = 0x73;
    c.platform_mut().store().write(0xCC01, &edited).unwrap();
    assert_eq!(fci_meta(&mut c, 1), h("9004 00000005 910173"));
    assert_eq!(sign_sw(&mut c, 1, 0x73), 0x6400, "edited policy");
    assert_eq!(sign_sw(&mut c, 1, 0x70), 0x6985, "the edited policy, checked first");
    // The uses raised: likewise.
    let mut raised = file.clone();
    raised[at - 1] = 0x09;
    c.platform_mut().store().write(0xCC01, &raised).unwrap();
    assert_eq!(sign_sw(&mut c, 1, 0x70), 0x6400, "raised uses");

    // Key 1's file in slot 3: does not open there.
    c.platform_mut().store().write(0xCC01, &file).unwrap();
    c.platform_mut().store().write(0xCC03, &file).unwrap();
    assert_eq!(sign_sw(&mut c, 3, 0x70), 0x6400, "moved key file");

    // Key 2's counter (2 uses left) given to key 1 (never used): key 1 counts from its own
    // file's 5, a counter bound to another key file neither adds nor removes uses.
    assert_eq!(sign_sw(&mut c, 2, 0x70), 0x9000);
    assert_eq!(sign_sw(&mut c, 2, 0x70), 0x9000);
    let two = c.platform_mut().counters().read_all(0xCC02).unwrap();
    assert_eq!(two[..4], [0, 0, 0, 2]);
    c.platform_mut().counters().write(0xCC01, &two).unwrap();
    assert_eq!(
        fci_meta(&mut c, 1),
        h("9004 00000005 910170"),
        "a counter of another key"
    );
    assert_eq!(sign_sw(&mut c, 1, 0x70), 0x9000, "the original");
    assert_eq!(fci_meta(&mut c, 1), h("9004 00000004 910170"));
}

fn fci_meta(c: &mut TestCard, id: u8) -> Vec<u8> {
    common::fci_metadata(c, id).unwrap()
}

/// A key of the first format (metadata in `D0xx`, counter unbound) keeps its policy and uses, and
/// is rewritten at its first use into a key file that carries them.
#[test]
fn keys_of_the_first_format_are_rewritten_at_first_use() {
    let mut c = initialized(32);
    let req = gen_ec(&mut c, 1, Curve::Secp256r1, &h("9004 00000003 910170 930101"));
    let public = public_point(&req, Curve::Secp256r1).to_vec();
    assert_eq!(sign_sw(&mut c, 1, 0x70), 0x9000);
    hsm_card::testing::rewrite_key_in_first_format(&mut c, 1).unwrap();
    let old = c.platform_mut().store().read_all(0xCC01).unwrap();
    assert_eq!(old[0], 0x01, "first format");
    assert_eq!(c.platform_mut().store().read_all(0xD001).unwrap(), h("910170 930101"));
    assert_eq!(c.platform_mut().counters().read_all(0xCC01).unwrap(), [0, 0, 0, 2]);
    assert_eq!(fci_meta(&mut c, 1), h("9004 00000002 910170 930101"));
    assert_eq!(sign_sw(&mut c, 1, 0x73), 0x6985, "its policy");
    let mut c = power_cycle(c, 32);
    common::login(&mut c);

    let (sig, sw) = txb(&mut c, &apdu(0x80, 0x68, 1, 0x70, &[0x5A; 32]));
    assert_eq!(sw, 0x9000);
    Curve::Secp256r1
        .verify_ecdsa_prehash(&public, &[0x5A; 32], &sig)
        .expect("signature of the rewritten key");
    let new = c.platform_mut().store().read_all(0xCC01).unwrap();
    assert_eq!(new[0], 0x02, "rewritten");
    assert!(!c.platform_mut().store().contains(0xD001), "D001 dropped");
    assert_eq!(fci_meta(&mut c, 1), h("9004 00000001 910170 930101"));
    assert_eq!(sign_sw(&mut c, 1, 0x70), 0x9000);
    assert_eq!(sign_sw(&mut c, 1, 0x70), 0x6A84, "uses carried over");
}
