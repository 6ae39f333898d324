//! Public key authentication and the certificate trust store, in process (issue 11 items 3, 4):
//! MSE SET (22), PSO VERIFY CERTIFICATE (2A), PUK AUTH (54), EXTERNAL AUTHENTICATE (82) and GET
//! CHALLENGE's binding.
//!
//! The PUK owners' keys are made here with the `p256` crate, their requests are assembled here
//! byte by byte and signed by that crate, and so are the logins' signatures over
//! SHA-256(device CHR ‖ challenge). CA certificates are signed by the `rsa` and `p256` crates.

mod common;
#[path = "../../../tests/src/sm_client.rs"]
mod sm_client;

use common::*;
use hsm_card::{Platform, SecurityState};
use hsm_crypto::asym::Curve;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer;
use rsa::traits::PublicKeyParts;
use sha2::Digest;

/// INITIALIZE tag 93: three PUKs, two of them needed.
const PKA_2_OF_3: &str = "9302 0302";
const OID_RSA_PSS_SHA256: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x01, 0x04];
/// A protected data object written while the INITIALIZE session was authenticated: readable only
/// by an authenticated user, so reading it probes "user authenticated" without changing anything.
const PROBE: u16 = 0xCD01;

// ---------------------------------------------------------------------------------------------
// Certificates assembled here.

fn tlv_of(tag: u16, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    put(&mut v, tag, value);
    v
}

/// `7F49` of a P-256 key: the full domain (as a device writes it) or, `bare`, OID and point only.
fn ec_key(sk: &SigningKey, bare: bool) -> Vec<u8> {
    let q = sk.verifying_key().to_sec1_point(false);
    let mut t = if bare {
        tlv_of(0x06, &OID_ECDSA)
    } else {
        ec_template(Curve::Secp256r1)
    };
    put(&mut t, 0x86, q.as_bytes());
    if !bare {
        put(&mut t, 0x87, &[1]);
    }
    tlv_of(0x7F49, &t)
}

fn rsa_key(k: &rsa::PrivateKey, oid: &[u8]) -> Vec<u8> {
    let n = k.n().as_ref().to_be_bytes();
    let e = k.e().to_be_bytes();
    let e = &e[e.iter().position(|b| *b != 0).unwrap()..];
    let mut t = tlv_of(0x06, oid);
    put(&mut t, 0x81, &n);
    put(&mut t, 0x82, e);
    tlv_of(0x7F49, &t)
}

/// `7F4E` with CPI, CAR, key, CHR (and, `full`, the role and dates of a certificate).
fn body(car: &[u8], key: &[u8], chr: &[u8], full: bool) -> Vec<u8> {
    let mut b = tlv_of(0x5F29, &[0]);
    put(&mut b, 0x42, car);
    b.extend_from_slice(key);
    put(&mut b, 0x5F20, chr);
    if full {
        let mut role = tlv_of(0x06, &[0x04, 0x00, 0x7F, 0x00, 0x07, 0x03, 0x01, 0x02, 0x02]);
        put(&mut role, 0x53, &[0]);
        put(&mut b, 0x7F4C, &role);
        put(&mut b, 0x5F25, &[2, 3, 0, 3, 2, 1]);
        put(&mut b, 0x5F24, &[7, 0, 1, 2, 3, 1]);
    }
    tlv_of(0x7F4E, &b)
}

fn cert(body: &[u8], sig: &[u8]) -> Vec<u8> {
    let mut c = body.to_vec();
    put(&mut c, 0x5F37, sig);
    tlv_of(0x7F21, &c)
}

fn ec_sign(sk: &SigningKey, msg: &[u8]) -> Vec<u8> {
    let s: p256::ecdsa::Signature = sk.sign(msg);
    s.to_bytes().to_vec()
}

fn rsa_v15(k: &rsa::PrivateKey, msg: &[u8]) -> Vec<u8> {
    let mut t = PREFIX_SHA256.to_vec();
    t.extend_from_slice(&sha2::Sha256::digest(msg));
    k.sign(rsa::Pkcs1v15Sign::new_unprefixed(), &t).unwrap()
}

fn rsa_pss(k: &rsa::PrivateKey, msg: &[u8], seed: u8) -> Vec<u8> {
    use rand_core::SeedableRng;
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([seed; 32]);
    let h = sha2::Sha256::digest(msg);
    k.sign_with_rng(&mut rng, rsa::Pss::<sha2::Sha256>::new(), &h).unwrap()
}

/// A PUK owner: the key and the CHR of its request.
struct Puk {
    sk: SigningKey,
    chr: Vec<u8>,
}

impl Puk {
    fn new(n: u8) -> Puk {
        Puk {
            sk: SigningKey::from_slice(&[0x40 + n; 32]).unwrap(),
            chr: format!("PUKOWNER{n:05}").into_bytes(),
        }
    }

    /// The inner, self-signed request.
    fn inner(&self) -> Vec<u8> {
        let b = body(b"UTCA00001", &ec_key(&self.sk, false), &self.chr, false);
        cert(&b, &ec_sign(&self.sk, &b))
    }

    /// The content of the `67` request, its outer signature by `device` under `device_chr`.
    fn content(&self, device: &SigningKey, device_chr: &[u8]) -> Vec<u8> {
        let mut tbs = self.inner();
        put(&mut tbs, 0x42, device_chr);
        let sig = ec_sign(device, &tbs);
        put(&mut tbs, 0x5F37, &sig);
        tbs
    }

    /// The login signature: ECDSA raw r‖s over SHA-256(device CHR ‖ challenge).
    fn login(&self, device_chr: &[u8], challenge: &[u8]) -> Vec<u8> {
        ec_sign(&self.sk, &[device_chr, challenge].concat())
    }
}

/// The other device, whose key generated the PUKs (outer signatures).
fn other_device() -> SigningKey {
    SigningKey::from_slice(&[0x77; 32]).unwrap()
}
const OTHER_CHR: &[u8] = b"ESOTHERDEV00001";

// ---------------------------------------------------------------------------------------------
// Card helpers.

/// A card with PKA `n`-of-`m` (hex TLV), the probe object and an EC key in slot 1 (made in the
/// INITIALIZE session), then reset and selected.
fn pka_card(seed: u64, tag93: &str) -> TestCard {
    let mut c = TestCard::new(hsm_card::testing::RamPlatform::new(seed));
    assert_eq!(tx(&mut c, SELECT_AID).1, 0x9000);
    assert_eq!(txb(&mut c, &init_apdu(&h(tag93))).1, 0x9000);
    assert_eq!(update_binary(&mut c, PROBE, b"secret"), 0x9000);
    gen_ec(&mut c, 1, Curve::Secp256r1, &[]);
    reselect(&mut c);
    c
}

fn device_chr(c: &mut TestCard) -> Vec<u8> {
    let (chain, sw) = read_binary(c, 0x2F02);
    assert_eq!(sw, 0x9000);
    find(&chain, &[0x7F21, 0x7F4E, 0x5F20]).to_vec()
}

fn status(c: &mut TestCard) -> Vec<u8> {
    let (d, sw) = txb(c, &h("8054000000"));
    assert_eq!(sw, 0x9000);
    d
}

fn register(c: &mut TestCard, data: &[u8]) -> (Vec<u8>, u16) {
    txb(c, &apdu(0x80, 0x54, 0x00, 0x00, data))
}

fn challenge(c: &mut TestCard) -> Vec<u8> {
    let (d, sw) = txb(c, &h("0084000008"));
    assert_eq!((sw, d.len()), (0x9000, 8));
    d
}

fn mse_at(chr: &[u8]) -> Vec<u8> {
    apdu(0x00, 0x22, 0x81, 0xA4, &tlv_of(0x83, chr))
}

fn mse_dst(chr: &[u8]) -> Vec<u8> {
    apdu(0x00, 0x22, 0x81, 0xB6, &tlv_of(0x83, chr))
}

fn ext_auth(sig: &[u8]) -> Vec<u8> {
    apdu(0x00, 0x82, 0x00, 0x00, sig)
}

fn pso(cert: &[u8]) -> Vec<u8> {
    apdu(0x00, 0x2A, 0x00, 0xBE, cert)
}

/// MSE SET AT and EXTERNAL AUTHENTICATE for `puk` over `chal`.
fn authenticate(c: &mut TestCard, puk: &Puk, dev: &[u8], chal: &[u8]) -> u16 {
    assert_eq!(txb(c, &mse_at(&puk.chr)).1, 0x9000, "MSE AT");
    txb(c, &ext_auth(&puk.login(dev, chal))).1
}

fn authenticated(c: &mut TestCard) -> bool {
    match read_binary(c, PROBE) {
        (d, 0x9000) => {
            assert_eq!(d, b"secret");
            true
        }
        (_, sw) => {
            assert_eq!(sw, 0x6982);
            false
        }
    }
}

/// ECDSA with key 1 on a SHA-256 hash: 9000, or the refusal.
fn sign_sw(c: &mut TestCard) -> u16 {
    txb(c, &apdu(0x80, 0x68, 0x01, 0x70, &[0x11; 32])).1
}

/// Sends `apdu`; asserts status `want`, no data, and that neither store nor session changed.
fn refused_all(c: &mut TestCard, apdu: &[u8], want: u16) {
    let before: SecurityState = c.security_state();
    refused(c, apdu, want);
    assert_eq!(c.security_state(), before, "session changed by {}", hex::encode(apdu));
}

/// A card with the three PUKs of [`Puk::new`] 1..=3 registered (content form, as pypicohsm
/// sends it), after a reset: nothing verified.
fn registered_card(seed: u64) -> (TestCard, [Puk; 3]) {
    let mut c = pka_card(seed, PKA_2_OF_3);
    login(&mut c);
    let puks = [Puk::new(1), Puk::new(2), Puk::new(3)];
    for (i, p) in puks.iter().enumerate() {
        let (d, sw) = register(&mut c, &p.content(&other_device(), OTHER_CHR));
        assert_eq!(sw, 0x9000, "register PUK {i}");
        assert_eq!(d, [3, 2 - i as u8, 2, 0], "status after PUK {i}");
    }
    reselect(&mut c);
    (c, puks)
}

// ---------------------------------------------------------------------------------------------
// PKA login.

#[test]
fn two_of_three_login() {
    let (mut c, puks) = registered_card(1);
    let dev = device_chr(&mut c);
    assert_eq!(status(&mut c), [3, 0, 2, 0]);
    // PKA enabled: the PIN opens the MKEK session but does not authenticate the user.
    login(&mut c);
    assert!(c.security_state().user_verified);
    assert!(!authenticated(&mut c));
    assert_eq!(sign_sw(&mut c), 0x6982);

    let chal = challenge(&mut c);
    assert_eq!(authenticate(&mut c, &puks[0], &dev, &chal), 0x9000);
    assert_eq!(status(&mut c), [3, 0, 2, 1]);
    // One signature is not enough.
    assert!(!authenticated(&mut c));
    assert_eq!(sign_sw(&mut c), 0x6982);
    // The same PUK again: MSE answers 6985 and selects nothing new.
    refused_all(&mut c, &mse_at(&puks[0].chr), 0x6985);

    assert_eq!(authenticate(&mut c, &puks[2], &dev, &chal), 0x9000);
    assert_eq!(status(&mut c), [3, 0, 2, 2]);
    assert!(authenticated(&mut c));
    // PIN and PKA: the key signs.
    assert_eq!(sign_sw(&mut c), 0x9000);
    // The challenge is used up.
    assert_eq!(c.security_state().challenge, None);
    assert_eq!(txb(&mut c, &mse_at(&puks[1].chr)).1, 0x9000);
    refused_all(&mut c, &ext_auth(&puks[1].login(&dev, &chal)), 0x6985);

    // P1=02: the CHR, 9001 for an authenticated PUK.
    assert_eq!(txb(&mut c, &h("8054020000")), (puks[0].chr.clone(), 0x9001));
    assert_eq!(txb(&mut c, &h("8054020100")), (puks[1].chr.clone(), 0x9000));
    assert_eq!(txb(&mut c, &h("8054020200")), (puks[2].chr.clone(), 0x9001));
    // Under secure messaging the 9001 travels in the protected answer's 99 object.
    let (chain, _) = read_binary(&mut c, 0x2F02);
    let point = sm_client::cvc_public_point(&chain).unwrap();
    assert_eq!(txb(&mut c, &sm_client::mse_set_at()), (vec![], 0x9000));
    let hs = sm_client::Handshake::new(&[0x3C; 32]);
    let (answer, sw) = txb(&mut c, &hs.general_authenticate());
    assert_eq!(sw, 0x9000);
    let mut sm = hs.finish(&point, &answer).unwrap();
    let cmd = sm.wrap(0x80, 0x54, 0x02, 0x00, &[], Some(256));
    let (resp, sw) = txb(&mut c, &cmd);
    assert_eq!(sm.unwrap(&resp, sw).unwrap(), (puks[0].chr.clone(), 0x9001));

    // A reset forgets the login.
    reselect(&mut c);
    assert_eq!(status(&mut c), [3, 0, 2, 0]);
    assert!(!authenticated(&mut c));
    // PKA without the PIN: user authenticated, but no MKEK for the key.
    let chal = challenge(&mut c);
    assert_eq!(authenticate(&mut c, &puks[1], &dev, &chal), 0x9000);
    assert_eq!(authenticate(&mut c, &puks[2], &dev, &chal), 0x9000);
    assert!(authenticated(&mut c));
    assert_ne!(sign_sw(&mut c), 0x9000);
    login(&mut c);
    assert_eq!(sign_sw(&mut c), 0x9000);
    // A wrong PIN does not end the PKA login (upstream check_pin), but ends the PIN session.
    assert_eq!(tx(&mut c, "0020008106303030303030").1, 0x63C2);
    assert!(authenticated(&mut c));
    assert_ne!(sign_sw(&mut c), 0x9000);
}

#[test]
fn a_new_challenge_resets_every_status() {
    let (mut c, puks) = registered_card(2);
    let dev = device_chr(&mut c);
    let first = challenge(&mut c);
    assert_eq!(authenticate(&mut c, &puks[0], &dev, &first), 0x9000);
    assert_eq!(status(&mut c), [3, 0, 2, 1]);
    let second = challenge(&mut c);
    assert_ne!(first, second);
    assert_eq!(status(&mut c), [3, 0, 2, 0]);
    // A signature over the old challenge no longer counts.
    assert_eq!(txb(&mut c, &mse_at(&puks[1].chr)).1, 0x9000);
    refused_all(&mut c, &ext_auth(&puks[1].login(&dev, &first)), 0x6985);
    assert_eq!(txb(&mut c, &ext_auth(&puks[1].login(&dev, &second))).1, 0x9000);
    assert_eq!(status(&mut c), [3, 0, 2, 1]);
    assert!(!authenticated(&mut c));
    assert_eq!(authenticate(&mut c, &puks[0], &dev, &second), 0x9000);
    assert!(authenticated(&mut c));
}

#[test]
fn one_of_one_and_the_status_of_a_card_without_pka() {
    let mut c = pka_card(3, "9302 0101");
    login(&mut c);
    let p = Puk::new(9);
    assert_eq!(
        register(&mut c, &p.content(&other_device(), OTHER_CHR)),
        (vec![1, 0, 1, 0], 0x9000)
    );
    // Full: 6A84, nothing stored.
    refused_all(
        &mut c,
        &apdu(0x80, 0x54, 0, 0, &Puk::new(8).content(&other_device(), OTHER_CHR)),
        0x6A84,
    );
    reselect(&mut c);
    let dev = device_chr(&mut c);
    let chal = challenge(&mut c);
    // A signature over the wrong device name, or by another key, is refused.
    assert_eq!(txb(&mut c, &mse_at(&p.chr)).1, 0x9000);
    refused_all(&mut c, &ext_auth(&p.login(b"ESWRONGNAME00001", &chal)), 0x6985);
    refused_all(&mut c, &ext_auth(&Puk::new(8).login(&dev, &chal)), 0x6985);
    assert_eq!(txb(&mut c, &ext_auth(&p.login(&dev, &chal))).1, 0x9000);
    assert!(authenticated(&mut c));

    // Without tag 93: no PKA. PUK AUTH answers 6A86 without data, 6A82 with; the PIN authenticates.
    let mut c = pka_card(4, "");
    refused_all(&mut c, &h("8054000000"), 0x6A86);
    refused_all(&mut c, &apdu(0x80, 0x54, 0, 0, &[1, 2, 3]), 0x6A82);
    refused_all(&mut c, &mse_at(b"PUKOWNER00001"), 0x6A88);
    login(&mut c);
    assert!(authenticated(&mut c));
}

// ---------------------------------------------------------------------------------------------
// Registration.

#[test]
fn forged_requests_store_nothing() {
    let mut c = pka_card(5, PKA_2_OF_3);
    login(&mut c);
    let p = Puk::new(1);
    let dev = other_device();
    // Wrong inner signature (proof of possession): signed by another key.
    let b = body(b"UTCA00001", &ec_key(&p.sk, false), &p.chr, false);
    let mut forged = cert(&b, &ec_sign(&Puk::new(2).sk, &b));
    put(&mut forged, 0x42, OTHER_CHR);
    let sig = ec_sign(&dev, &forged);
    put(&mut forged, 0x5F37, &sig);
    refused_all(&mut c, &apdu(0x80, 0x54, 0, 0, &forged), 0x6985);
    // An inner key without domain parameters of its own cannot be checked: 6984.
    let b = body(b"UTCA00001", &ec_key(&p.sk, true), &p.chr, false);
    let mut bare = cert(&b, &ec_sign(&p.sk, &b));
    put(&mut bare, 0x42, OTHER_CHR);
    let sig = ec_sign(&dev, &bare);
    put(&mut bare, 0x5F37, &sig);
    refused_all(&mut c, &apdu(0x80, 0x54, 0, 0, &bare), 0x6984);

    // Wrong outer signature, with the signing device's certificate carried (export file form).
    let dev_cert = {
        let b = body(OTHER_CHR, &ec_key(&dev, false), OTHER_CHR, true);
        cert(&b, &ec_sign(&dev, &b))
    };
    let good = tlv_of(0x67, &p.content(&dev, OTHER_CHR));
    let mut wrong_outer = tlv_of(
        0x67,
        &p.content(&SigningKey::from_slice(&[0x66; 32]).unwrap(), OTHER_CHR),
    );
    wrong_outer.extend_from_slice(&dev_cert);
    refused_all(&mut c, &apdu(0x80, 0x54, 0, 0, &tlv_of(0x30, &wrong_outer)), 0x6985);
    // The same with a correct outer signature is taken.
    let mut ok = good.clone();
    ok.extend_from_slice(&dev_cert);
    assert_eq!(register(&mut c, &tlv_of(0x30, &ok)), (vec![3, 2, 2, 0], 0x9000));

    // Wrong outer signature, the device known to the trust store (pypicohsm's flow: PSO of the
    // device certificate first). Here the device is this card itself, whose certificate is in 2F02.
    let me = device_chr(&mut c);
    let p2 = Puk::new(2);
    refused_all(&mut c, &apdu(0x80, 0x54, 0, 0, &p2.content(&dev, &me)), 0x6985);

    // Malformed data: 6984, nothing stored.
    for bad in [
        vec![0x67, 0x03, 0x01, 0x02],
        good[..good.len() - 1].to_vec(),
        [good.clone(), vec![0x00]].concat(),
        tlv_of(0x30, &[good.clone(), vec![0x01, 0x01]].concat()),
        vec![0x7F, 0x21, 0x00],
        vec![0x30],
    ] {
        refused_all(&mut c, &apdu(0x80, 0x54, 0, 0, &bad), 0x6984);
    }
}

#[test]
fn registration_rules_and_status_words() {
    let mut c = pka_card(6, PKA_2_OF_3);
    let p = Puk::new(1);
    let content = p.content(&other_device(), OTHER_CHR);
    // No PIN or SO-PIN session: 6982.
    refused_all(&mut c, &apdu(0x80, 0x54, 0, 0, &content), 0x6982);
    login(&mut c);
    refused_all(&mut c, &apdu(0x80, 0x54, 0, 1, &content), 0x6A86);
    refused_all(&mut c, &apdu(0x80, 0x54, 3, 0, &content), 0x6A86);
    refused_all(&mut c, &apdu(0x80, 0x54, 2, 0, &content), 0x6A86);
    // Replacing needs option 0008.
    refused_all(&mut c, &apdu(0x80, 0x54, 1, 0, &content), 0x6985);
    // P1=02: slot beyond n, empty slot.
    refused_all(&mut c, &h("8054020300"), 0x6A86);
    refused_all(&mut c, &h("8054020000"), 0x6A88);
    assert_eq!(register(&mut c, &content), (vec![3, 2, 2, 0], 0x9000));
    // The SO-PIN session alone may register too.
    reselect(&mut c);
    assert_eq!(tx(&mut c, "0020008808 3537363231383830").1, 0x9000);
    assert_eq!(
        register(&mut c, &Puk::new(2).content(&other_device(), OTHER_CHR)).1,
        0x9000
    );
    assert_eq!(status(&mut c), [3, 1, 2, 0]);

    // With option 0008 (and n = 2) a PUK is replaced in place.
    let mut c = TestCard::new(hsm_card::testing::RamPlatform::new(7));
    assert_eq!(tx(&mut c, SELECT_AID).1, 0x9000);
    let mut init = h("80020009 8106363438323139 82083537363231383830 910103 93020201");
    init = [vec![0x80, 0x50, 0, 0, init.len() as u8], init].concat();
    assert_eq!(txb(&mut c, &init).1, 0x9000);
    reselect(&mut c);
    login(&mut c);
    assert_eq!(register(&mut c, &content).1, 0x9000);
    refused_all(&mut c, &apdu(0x80, 0x54, 1, 2, &content), 0x6A86);
    let q = Puk::new(5);
    assert_eq!(
        txb(&mut c, &apdu(0x80, 0x54, 1, 0, &q.content(&other_device(), OTHER_CHR))),
        (vec![2, 1, 1, 0], 0x9000)
    );
    assert_eq!(txb(&mut c, &h("8054020000")), (q.chr.clone(), 0x9000));
    refused_all(&mut c, &mse_at(&p.chr), 0x6A88);
    assert_eq!(txb(&mut c, &mse_at(&q.chr)).1, 0x9000);
}

/// `sc-hsm-tool --export-for-pub-key-auth` writes `30 { CExx request, C_DevAut device
/// certificate, device issuer certificate }`; here the request and both certificates come from
/// the card's own builders (`hsm_card::cvc`) with keys of the `p256` crate.
#[test]
fn registration_from_an_export_file() {
    use hsm_card::cvc;
    let issuer = SigningKey::from_slice(&[0x31; 32]).unwrap();
    let device = SigningKey::from_slice(&[0x32; 32]).unwrap();
    let owner = SigningKey::from_slice(&[0x33; 32]).unwrap();
    let point = |k: &SigningKey| {
        let p: [u8; 65] = k.verifying_key().to_sec1_point(false).as_bytes().try_into().unwrap();
        cvc::p256_public_key(&p)
    };
    let sign = |k: &SigningKey, m: &[u8]| ec_sign(k, m);
    let issuer_body = cvc::body(b"DEVICECA00001", &point(&issuer), b"DEVICECA00001", true);
    let issuer_cert = cvc::certificate(&issuer_body, &sign(&issuer, &issuer_body));
    let device_body = cvc::body(b"DEVICECA00001", &point(&device), b"ESDEVICEB0000", true);
    let device_cert = cvc::certificate(
        &device_body,
        &sign(&device, &device_body).iter().map(|b| !b).collect::<Vec<_>>(),
    );
    let device_cert_ok = cvc::certificate(&device_body, &sign(&issuer, &device_body));
    let req_body = cvc::body(b"ESDEVICEB0000", &point(&owner), b"KEYOWNER00001", false);
    let inner = cvc::certificate(&req_body, &sign(&owner, &req_body));
    let tbs = cvc::authenticated_tbs(&inner, b"ESDEVICEB0000");
    let request = cvc::authenticated_request(&tbs, &sign(&device, &tbs));
    let export = |dev: &[u8]| tlv_of(0x30, &[request.clone(), dev.to_vec(), issuer_cert.clone()].concat());

    let mut c = pka_card(8, PKA_2_OF_3);
    login(&mut c);
    // A device certificate its (carried) issuer did not sign: 6985, nothing stored.
    refused_all(&mut c, &apdu(0x80, 0x54, 0, 0, &export(&device_cert)), 0x6985);
    assert_eq!(register(&mut c, &export(&device_cert_ok)), (vec![3, 2, 2, 0], 0x9000));
    assert_eq!(txb(&mut c, &h("8054020000")), (b"KEYOWNER00001".to_vec(), 0x9000));
    // What was stored is the request's content, and the key logs in.
    reselect(&mut c);
    let dev = device_chr(&mut c);
    let chal = challenge(&mut c);
    assert_eq!(txb(&mut c, &mse_at(b"KEYOWNER00001")).1, 0x9000);
    assert_eq!(
        txb(&mut c, &ext_auth(&sign(&owner, &[&dev[..], &chal].concat()))).1,
        0x9000
    );
    assert_eq!(status(&mut c), [3, 2, 2, 1]);
}

// ---------------------------------------------------------------------------------------------
// Out-of-order and malformed commands.

#[test]
fn out_of_order_and_malformed_commands_change_nothing() {
    let (mut c, puks) = registered_card(9);
    let dev = device_chr(&mut c);
    login(&mut c);
    let sig = puks[0].login(&dev, &[0; 8]);
    // EXTERNAL AUTHENTICATE without MSE: 6A88; wrong P1/P2: 6A86.
    refused_all(&mut c, &ext_auth(&sig), 0x6A88);
    refused_all(&mut c, &apdu(0x00, 0x82, 0x01, 0x00, &sig), 0x6A86);
    // MSE, then no challenge: 6985; no data: 6700.
    assert_eq!(txb(&mut c, &mse_at(&puks[0].chr)).1, 0x9000);
    refused_all(&mut c, &ext_auth(&sig), 0x6985);
    refused_all(&mut c, &h("0082000000"), 0x6700);
    // A challenge longer than 256 bytes is not kept.
    let (d, sw) = txb(&mut c, &h("00840000000101"));
    assert_eq!((sw, d.len()), (0x9000, 257));
    assert_eq!(c.security_state().challenge, None);
    refused_all(&mut c, &ext_auth(&sig), 0x6985);
    let chal = challenge(&mut c);
    assert_eq!(c.security_state().challenge.as_deref(), Some(&chal[..]));
    // Signatures of the wrong length or garbage: 6985.
    for bad in [
        vec![0u8; 64],
        vec![1u8; 63],
        vec![0xFF; 130],
        vec![0x30, 0x02, 0x01, 0x00],
    ] {
        refused_all(&mut c, &ext_auth(&bad), 0x6985);
    }
    // MSE: wrong P2, SET bit missing, malformed TLVs, unknown CHR, 83 with another P2.
    refused_all(
        &mut c,
        &apdu(0x00, 0x22, 0x81, 0xA5, &tlv_of(0x83, &puks[1].chr)),
        0x6A86,
    );
    refused_all(
        &mut c,
        &apdu(0x00, 0x22, 0x80, 0xA4, &tlv_of(0x83, &puks[1].chr)),
        0x6A86,
    );
    refused_all(&mut c, &apdu(0x00, 0x22, 0x81, 0xA4, &[0x83, 0x05, 1, 2]), 0x6700);
    refused_all(&mut c, &apdu(0x00, 0x22, 0x81, 0xA4, &[0x83, 0x81]), 0x6700);
    refused_all(&mut c, &mse_at(b"UNKNOWN00001"), 0x6A88);
    refused_all(&mut c, &mse_at(&puks[1].chr[..5]), 0x6A88);
    refused_all(
        &mut c,
        &apdu(0x00, 0x22, 0x81, 0xB8, &tlv_of(0x83, &puks[1].chr)),
        0x6A88,
    );
    refused_all(&mut c, &mse_dst(b"UNKNOWN00001"), 0x6A88);
    // Everything else is accepted and changes nothing (a one-byte 83, other tags, no data).
    for ok in [
        apdu(0x00, 0x22, 0x41, 0xA4, &[0x83, 0x01, 0x81]),
        apdu(0x00, 0x22, 0xC1, 0xB4, &[0x84, 0x01, 0x01, 0x80, 0x01, 0x02]),
        h("002241A600"),
        apdu(
            0x00,
            0x22,
            0x81,
            0xA4,
            &tlv_of(0x80, &[0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x03, 0x02, 0x01]),
        ),
    ] {
        let before = c.security_state();
        assert_eq!(unchanged(&mut c, &ok).1, 0x9000, "{}", hex::encode(&ok));
        assert_eq!(c.security_state(), before);
    }
    // PSO without DST: 6A88; wrong P1/P2: 6A86; no data: 6700.
    let some_cert = {
        let k = SigningKey::from_slice(&[0x21; 32]).unwrap();
        let b = body(&dev, &ec_key(&k, false), b"SOMECA00001", true);
        cert(&b, &ec_sign(&k, &b))
    };
    refused_all(&mut c, &pso(&some_cert), 0x6A88);
    refused_all(&mut c, &apdu(0x00, 0x2A, 0x00, 0x93, &some_cert), 0x6A86);
    refused_all(&mut c, &apdu(0x00, 0x2A, 0x01, 0xBE, &some_cert), 0x6A86);
    assert_eq!(txb(&mut c, &mse_dst(&dev)).1, 0x9000);
    refused_all(&mut c, &h("002A00BE00"), 0x6700);
    // Bad certificates: 6984; a certificate the device did not sign: 6985.
    for bad in [
        vec![0x7F, 0x21, 0x02, 0x01, 0x00],
        some_cert[..some_cert.len() - 3].to_vec(),
        vec![0x42, 0x01],
        tlv_of(0x7F21, &tlv_of(0x7F4E, &tlv_of(0x5F20, b"X"))),
    ] {
        refused_all(&mut c, &pso(&bad), 0x6984);
    }
    refused_all(&mut c, &pso(&some_cert), 0x6985);
    // The sm flag: set by the SM OID only, cleared by a reset.
    assert!(!c.security_state().sm_ca_selected);
    let sm = apdu(0x00, 0x22, 0x41, 0xA4, &tlv_of(0x80, &hsm_card_sm_oid()));
    assert_eq!(unchanged(&mut c, &sm).1, 0x9000);
    assert!(c.security_state().sm_ca_selected);
    reselect(&mut c);
    assert!(!c.security_state().sm_ca_selected);
}

fn hsm_card_sm_oid() -> [u8; 10] {
    [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x03, 0x02, 0x02]
}

// ---------------------------------------------------------------------------------------------
// PSO VERIFY CERTIFICATE and the trust store.

/// Writes C_DevAut = the device's own certificate ‖ `extra` straight into the store (as a vendor
/// provisioning would), so the test holds the private key of a root the card trusts.
/// Replaces C_DevAut by the device's own certificate followed by `extra`: the device issuer
/// certificate of the out-of-the-box chain is dropped, so the four trust-store entries leave room
/// for three.
fn add_roots(c: &mut TestCard, extra: &[&[u8]]) {
    let (own, _) = read_binary(c, 0x2F02);
    let (device, _) = hsm_card::cvc::Certificate::parse_prefix(&own).unwrap();
    let mut chain = device.encoded.to_vec();
    for e in extra {
        chain.extend_from_slice(e);
    }
    c.platform_mut().store().write(0x2F02, &chain).unwrap();
    reselect(c);
}

fn rsa_root() -> rsa::PrivateKey {
    use rand_core::SeedableRng;
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([0x52; 32]);
    rsa::PrivateKey::new(&mut rng, 2048).unwrap()
}

/// The PKCS#15 certificate description upstream writes: label, flags 06 40, SHA-1 of the key
/// (the EC point's X), path.
fn cd(label: &[u8], x: &[u8], path: u16) -> Vec<u8> {
    let mut common = tlv_of(0x0C, label);
    put(&mut common, 0x03, &[0x06, 0x40]);
    let mut want = tlv_of(0x30, &common);
    want.extend_from_slice(&tlv_of(0x30, &tlv_of(0x04, &sha1(x))));
    want.extend_from_slice(&tlv_of(
        0xA1,
        &tlv_of(0x30, &tlv_of(0x30, &tlv_of(0x04, &path.to_be_bytes()))),
    ));
    tlv_of(0x30, &want)
}

/// SHA-1 (20 bytes) by the `sha1` crate.
fn sha1(data: &[u8]) -> Vec<u8> {
    sha1::Sha1::digest(data).to_vec()
}

#[test]
fn pso_verifies_a_chain_and_persists_it() {
    let root = rsa_root();
    let root_key = rsa_key(&root, &OID_RSA);
    let root_body = body(b"ROOTCARSA0001", &root_key, b"ROOTCARSA0001", true);
    let root_cert = cert(&root_body, &rsa_v15(&root, &root_body));
    // DV: P-256 with its domain, signed by the RSA root (PKCS#1 v1.5).
    let dv = SigningKey::from_slice(&[0x61; 32]).unwrap();
    let dv_body = body(b"ROOTCARSA0001", &ec_key(&dv, false), b"DVCAEC0000001", true);
    let dv_cert = cert(&dv_body, &rsa_v15(&root, &dv_body));
    // Terminal: a P-256 key without domain parameters (inherited from the DV), signed by the DV.
    let term = SigningKey::from_slice(&[0x62; 32]).unwrap();
    let term_body = body(b"DVCAEC0000001", &ec_key(&term, true), b"TERMINAL00001", true);
    let term_cert = cert(&term_body, &ec_sign(&dv, &term_body));
    // Signed by the terminal, whose curve is inherited.
    let leaf_body = body(b"TERMINAL00001", &ec_key(&dv, false), b"LEAF000000001", true);
    let leaf_cert = cert(&leaf_body, &ec_sign(&term, &leaf_body));
    let leaf_forged = cert(&leaf_body, &ec_sign(&dv, &leaf_body));

    let mut c = initialized(10);
    add_roots(&mut c, &[&root_cert]);
    login(&mut c);
    assert_eq!(txb(&mut c, &mse_dst(b"ROOTCARSA0001")).1, 0x9000);
    // A changed signature: 6985; nothing stored.
    let mut bad = dv_cert.clone();
    let n = bad.len();
    bad[n - 5] ^= 1;
    refused_all(&mut c, &pso(&bad), 0x6985);
    // A certificate whose CAR is not the selected issuer: 6984.
    let other_car = cert(&term_body, &rsa_v15(&root, &term_body));
    refused_all(&mut c, &pso(&other_car), 0x6984);
    // The DV, sent without its 7F21 header as pypicohsm does.
    let content = find(&dv_cert, &[0x7F21]).to_vec();
    assert_eq!(txb(&mut c, &apdu(0x00, 0x2A, 0x00, 0xBE, &content)), (vec![], 0x9000));
    assert_eq!(read_binary(&mut c, 0xCA00), (dv_cert.clone(), 0x9000));
    let x = dv.verifying_key().to_sec1_point(false).as_bytes()[1..33].to_vec();
    assert_eq!(read_binary(&mut c, 0xC800), (cd(b"DVCAEC0000001", &x, 0xCA00), 0x9000));
    // Again: already trusted, nothing written.
    assert_eq!(unchanged(&mut c, &pso(&dv_cert)).1, 0x9000);
    // Its description deleted (or lost to a power cut between CA00 and C800): sent again, the
    // certificate gets it back.
    assert_eq!(tx(&mut c, "00E4000002C800").1, 0x9000);
    assert_eq!(txb(&mut c, &pso(&dv_cert)).1, 0x9000);
    assert_eq!(read_binary(&mut c, 0xC800), (cd(b"DVCAEC0000001", &x, 0xCA00), 0x9000));

    assert_eq!(txb(&mut c, &mse_dst(b"DVCAEC0000001")).1, 0x9000);
    assert_eq!(txb(&mut c, &pso(&term_cert)).1, 0x9000);
    let term_x = term.verifying_key().to_sec1_point(false).as_bytes()[1..33].to_vec();
    assert_eq!(
        read_binary(&mut c, 0xC801),
        (cd(b"TERMINAL00001", &term_x, 0xCA01), 0x9000)
    );

    // Four entries: device, root, DV, terminal. The next one verifies (with the inherited curve:
    // a forged one is 6985) and then finds the store full (6A84). Nothing is written either way.
    assert_eq!(txb(&mut c, &mse_dst(b"TERMINAL00001")).1, 0x9000);
    refused_all(&mut c, &pso(&leaf_forged), 0x6985);
    refused_all(&mut c, &pso(&leaf_cert), 0x6A84);

    // The store survives a power cycle: the DV and the terminal are still issuers, from CAxx.
    let mut c = power_cycle(c, 10);
    for chr in [&b"DVCAEC0000001"[..], b"TERMINAL00001", b"ROOTCARSA0001"] {
        assert_eq!(txb(&mut c, &mse_dst(chr)).1, 0x9000);
    }
    // A CAxx written by UPDATE BINARY (OpenSC stores CA certificates so) is not trusted: not even
    // a copy of a trusted certificate under another index, nor a certificate written over a trusted one.
    login(&mut c);
    let other = cert(
        &body(b"DVCAEC0000001", &ec_key(&term, false), b"FORGEDCA00001", true),
        &[0x11; 64],
    );
    assert_eq!(txb(&mut c, &update_binary_apdu(0xCA05, &other)).1, 0x9000);
    assert_eq!(txb(&mut c, &update_binary_apdu(0xCA06, &dv_cert)).1, 0x9000);
    reselect(&mut c);
    refused_all(&mut c, &mse_dst(b"FORGEDCA00001"), 0x6A88);
    login(&mut c);
    assert_eq!(txb(&mut c, &update_binary_apdu(0xCA00, &other)).1, 0x9000);
    reselect(&mut c);
    refused_all(&mut c, &mse_dst(b"FORGEDCA00001"), 0x6A88);
    refused_all(&mut c, &mse_dst(b"DVCAEC0000001"), 0x6A88);
    login(&mut c);
    // Deleting a CA file takes it out of the store.
    assert_eq!(tx(&mut c, "00E4000002CA01").1, 0x9000);
    reselect(&mut c);
    refused_all(&mut c, &mse_dst(b"TERMINAL00001"), 0x6A88);
}

#[test]
fn pso_with_an_rsa_pss_issuer() {
    let root = rsa_root();
    let root_body = body(
        b"ROOTCAPSS0001",
        &rsa_key(&root, &OID_RSA_PSS_SHA256),
        b"ROOTCAPSS0001",
        true,
    );
    let root_cert = cert(&root_body, &rsa_pss(&root, &root_body, 1));
    let dv = SigningKey::from_slice(&[0x63; 32]).unwrap();
    let dv_body = body(b"ROOTCAPSS0001", &ec_key(&dv, false), b"DVPSS00000001", true);
    let mut c = initialized(11);
    add_roots(&mut c, &[&root_cert]);
    assert_eq!(txb(&mut c, &mse_dst(b"ROOTCAPSS0001")).1, 0x9000);
    // PKCS#1 v1.5 under a PSS OID does not verify.
    refused_all(&mut c, &pso(&cert(&dv_body, &rsa_v15(&root, &dv_body))), 0x6985);
    assert_eq!(
        txb(&mut c, &pso(&cert(&dv_body, &rsa_pss(&root, &dv_body, 2)))).1,
        0x9000
    );
    assert_eq!(txb(&mut c, &mse_dst(b"DVPSS00000001")).1, 0x9000);
}

fn update_binary_apdu(f: u16, content: &[u8]) -> Vec<u8> {
    let mut body = vec![0x54, 0x02, 0x00, 0x00];
    put(&mut body, 0x53, content);
    apdu(0x00, 0xD7, (f >> 8) as u8, f as u8, &body)
}

/// What `sc-hsm-tool --register-public-key` sends (traced from OpenSC 0.23 against this card):
/// MSE SET DST + PSO VERIFY for the device issuer and the device certificate of the export file,
/// MSE SET DST with the request's outer CAR, then `80 54 00 00` with the `67` content, and no
/// VERIFY. Taken without a PIN session because the trust store vouches for the generating device.
#[test]
fn registration_without_a_pin_needs_an_attested_device() {
    let root = SigningKey::from_slice(&[0x71; 32]).unwrap();
    let root_body = body(b"ROOTCAEC00001", &ec_key(&root, false), b"ROOTCAEC00001", true);
    let root_cert = cert(&root_body, &ec_sign(&root, &root_body));
    let dica = SigningKey::from_slice(&[0x72; 32]).unwrap();
    let dica_body = body(b"ROOTCAEC00001", &ec_key(&dica, false), b"DICA000000001", true);
    let dica_cert = cert(&dica_body, &ec_sign(&root, &dica_body));
    let devb = SigningKey::from_slice(&[0x73; 32]).unwrap();
    let devb_body = body(b"DICA000000001", &ec_key(&devb, false), b"ESDEVICEB0001", true);
    let devb_cert = cert(&devb_body, &ec_sign(&dica, &devb_body));

    let mut c = pka_card(12, PKA_2_OF_3);
    add_roots(&mut c, &[&root_cert]);
    let p = Puk::new(1);
    // The generating device is unknown: without a session, 6982.
    refused_all(
        &mut c,
        &apdu(0x80, 0x54, 0, 0, &p.content(&devb, b"ESDEVICEB0001")),
        0x6982,
    );
    for (car, cert) in [(&b"ROOTCAEC00001"[..], &dica_cert), (b"DICA000000001", &devb_cert)] {
        assert_eq!(txb(&mut c, &mse_dst(car)).1, 0x9000);
        assert_eq!(txb(&mut c, &pso(cert)).1, 0x9000);
    }
    assert_eq!(txb(&mut c, &mse_dst(b"ESDEVICEB0001")).1, 0x9000);
    // Signed by another device under devb's name: 6985.
    let forged = p.content(&dica, b"ESDEVICEB0001");
    refused_all(&mut c, &apdu(0x80, 0x54, 0, 0, &forged), 0x6985);
    assert_eq!(
        register(&mut c, &p.content(&devb, b"ESDEVICEB0001")),
        (vec![3, 2, 2, 0], 0x9000)
    );
    assert!(!c.security_state().user_verified);
    // Replacing always needs a session.
    refused_all(
        &mut c,
        &apdu(0x80, 0x54, 1, 0, &Puk::new(2).content(&devb, b"ESDEVICEB0001")),
        0x6982,
    );
}
