//! Helpers shared by the in-process card tests (`tests/*.rs`): driving a [`Card`] over a
//! [`RamPlatform`], building APDUs and TLVs, and checking that refused commands change nothing.
//!
//! Each test binary compiles its own copy of this module and uses only part of it.
#![allow(dead_code)]

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use hsm_apdu::tlv;
use hsm_card::testing::RamPlatform;
use hsm_card::{Card, Platform, RESPONSE_BUFFER_SIZE};
use hsm_crypto::asym::{Curve, CurveKind};
use sha2::{Digest, Sha256};

pub type TestCard = Card<RamPlatform>;

/// SELECT of the SmartCard-HSM application, no FCI wanted.
pub const SELECT_AID: &str = "00A4040C0BE82B0601040181C31F0201";
/// INITIALIZE TLVs every card here gets: options 0001, PIN 648219, SO-PIN 57621880, 3 retries.
pub const INIT_TLVS: &str = "80020001 8106363438323139 82083537363231383830 910103";
/// INITIALIZE with [`INIT_TLVS`], as `sc-hsm-tool --initialize --so-pin 3537363231383830 --pin 648219`.
pub const INIT: &str = "8050000019 800200018106363438323139820835373632313838309101 03";
/// VERIFY of the user PIN 648219.
pub const VERIFY: &str = "0020008106363438323139";
pub const OID_ECDSA: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03];
pub const OID_RSA: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x01, 0x02];

// ---------------------------------------------------------------------------------------------
// Driving the card.

/// Hex (spaces allowed) to bytes.
pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// Sends `apdu`; returns the response data and the status word.
pub fn txb<P: Platform>(card: &mut Card<P>, apdu: &[u8]) -> (Vec<u8>, u16) {
    let mut out = vec![0u8; RESPONSE_BUFFER_SIZE];
    let n = card.transmit(apdu, &mut out);
    assert!(
        (2..=out.len()).contains(&n),
        "answer of {n} bytes to {}",
        hex::encode(apdu)
    );
    (out[..n - 2].to_vec(), u16::from_be_bytes([out[n - 2], out[n - 1]]))
}

/// [`txb`] with the APDU in hex.
pub fn tx<P: Platform>(card: &mut Card<P>, apdu: &str) -> (Vec<u8>, u16) {
    txb(card, &h(apdu))
}

/// An extended-length case 4 APDU (Le `00 00`).
pub fn apdu(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![cla, ins, p1, p2, 0, (data.len() >> 8) as u8, data.len() as u8];
    v.extend_from_slice(data);
    v.extend_from_slice(&[0, 0]);
    v
}

/// INITIALIZE with the default credentials ([`INIT_TLVS`]) and `extra` TLVs.
pub fn init_apdu(extra: &[u8]) -> Vec<u8> {
    let mut data = h(INIT_TLVS);
    data.extend_from_slice(extra);
    let mut v = vec![0x80, 0x50, 0x00, 0x00, data.len() as u8];
    v.extend_from_slice(&data);
    v
}

/// A blank card initialized with `extra` INITIALIZE TLVs (hex), then reset and selected: no PIN
/// verified. `fresh(seed, "")` sends exactly [`INIT`].
pub fn fresh(seed: u64, extra: &str) -> TestCard {
    fresh_on(RamPlatform::new(seed), extra)
}

/// [`fresh`] over `platform`.
pub fn fresh_on<P: Platform>(platform: P, extra: &str) -> Card<P> {
    let mut c = Card::new(platform);
    assert_eq!(tx(&mut c, SELECT_AID).1, 0x9000, "SELECT before INITIALIZE");
    assert_eq!(txb(&mut c, &init_apdu(&h(extra))).1, 0x9000, "INITIALIZE {extra}");
    reselect(&mut c);
    c
}

/// A card initialized with the default credentials, reset, selected and with the user PIN verified.
pub fn initialized(seed: u64) -> TestCard {
    let mut c = fresh(seed, "");
    login(&mut c);
    c
}

/// Reset (the PIN state is lost) and SELECT of the application.
pub fn reselect<P: Platform>(c: &mut Card<P>) {
    c.reset();
    assert_eq!(tx(c, SELECT_AID).1, 0x9000, "SELECT after reset");
}

/// VERIFY of the user PIN.
pub fn login<P: Platform>(c: &mut Card<P>) {
    assert_eq!(tx(c, VERIFY).1, 0x9000, "VERIFY of the user PIN");
}

/// Power off and on: the same flash and device secret (same seed), a new card, selected.
pub fn power_cycle(c: TestCard, seed: u64) -> TestCard {
    let (store, counters) = c.into_platform().into_stores();
    let mut c = Card::new(RamPlatform::from_stores(store, counters, seed));
    assert_eq!(tx(&mut c, SELECT_AID).1, 0x9000, "SELECT after power cycle");
    c
}

// ---------------------------------------------------------------------------------------------
// TLVs and key generation.

/// Appends the BER-TLV `tag`, `value` to `out`.
pub fn put(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    let mut hdr = [0u8; 7];
    out.extend_from_slice(tlv::header(tag, value.len(), &mut hdr));
    out.extend_from_slice(value);
}

/// The value at the end of a path of nested tags; panics naming the first missing tag.
pub fn find<'a>(data: &'a [u8], path: &[u16]) -> &'a [u8] {
    path.iter().fold(data, |d, tag| {
        tlv::find(d, *tag).unwrap().unwrap_or_else(|| panic!("no tag {tag:X}"))
    })
}

/// A `7F49` EC key template: on Weierstrass curves the full domain parameters (as upstream's host
/// library sends them), on Edwards and Montgomery curves (no `a`) p, G in `83` and the order.
pub fn ec_template(curve: Curve) -> Vec<u8> {
    let d = curve.params();
    let mut t = Vec::new();
    put(&mut t, 0x06, &OID_ECDSA);
    put(&mut t, 0x81, d.p);
    if !d.a.is_empty() {
        put(&mut t, 0x82, d.a);
        put(&mut t, 0x83, d.b);
        put(&mut t, 0x84, d.g);
    } else {
        put(&mut t, 0x83, d.g);
    }
    put(&mut t, 0x85, d.n);
    t
}

/// GENERATE ASYMMETRIC KEY PAIR data: CPI, CAR UTCA00001, the key template, CHR UTTM00001, `extra`.
pub fn keygen_data(template: &[u8], extra: &[u8]) -> Vec<u8> {
    keygen_data_with_chr(template, b"UTTM00001", extra)
}

/// [`keygen_data`] with the holder reference `chr`.
pub fn keygen_data_with_chr(template: &[u8], chr: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    put(&mut d, 0x5F29, &[0]);
    put(&mut d, 0x42, b"UTCA00001");
    put(&mut d, 0x7F49, template);
    put(&mut d, 0x5F20, chr);
    d.extend_from_slice(extra);
    d
}

/// Generates an EC key (GENERATE ASYMMETRIC KEY PAIR with [`ec_template`] and [`keygen_data`]);
/// returns its authenticated CV request (`67`).
pub fn gen_ec<P: Platform>(card: &mut Card<P>, id: u8, curve: Curve, extra: &[u8]) -> Vec<u8> {
    let (req, sw) = txb(
        card,
        &apdu(0x00, 0x46, id, 0x00, &keygen_data(&ec_template(curve), extra)),
    );
    assert_eq!(sw, 0x9000, "{curve:?}");
    assert_eq!(req[0], 0x67);
    req
}

/// The DER DigestInfo prefix of SHA-256, for PKCS#1 v1.5 signatures over a hash.
pub const PREFIX_SHA256: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
];

/// Generates an RSA key of `bits` bits with public exponent `e` (big-endian); returns its CV request
/// and the public key it holds.
#[cfg(feature = "rsa")]
pub fn gen_rsa(c: &mut TestCard, id: u8, bits: u16, e: &[u8]) -> (Vec<u8>, rsa::PublicKey) {
    use rsa::BoxedUint;

    let mut t = Vec::new();
    put(&mut t, 0x06, &OID_RSA);
    put(&mut t, 0x02, &bits.to_be_bytes());
    put(&mut t, 0x82, e);
    let (req, sw) = txb(c, &apdu(0x00, 0x46, id, 0, &keygen_data(&t, &[])));
    assert_eq!(sw, 0x9000, "RSA-{bits} key generation");
    let pk = find(&req, &[0x67, 0x7F21, 0x7F4E, 0x7F49]);
    let n = tlv::find(pk, 0x81).unwrap().unwrap();
    let e = tlv::find(pk, 0x82).unwrap().unwrap();
    let public = rsa::PublicKey::new(BoxedUint::from_be_slice_vartime(n), BoxedUint::from_be_slice_vartime(e)).unwrap();
    (req, public)
}

/// The public key of an EC key's CV request: the point `86` (Weierstrass) or `84` (others).
pub fn public_point(req: &[u8], curve: Curve) -> &[u8] {
    let pk = find(req, &[0x67, 0x7F21, 0x7F4E, 0x7F49]);
    let tag = if curve.kind() == CurveKind::Weierstrass {
        0x86
    } else {
        0x84
    };
    tlv::find(pk, tag).unwrap().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Files.

/// READ BINARY of a whole file by FID (B1, offset 0, extended Le).
pub fn read_binary_apdu(f: u16) -> Vec<u8> {
    let [hi, lo] = f.to_be_bytes();
    vec![0x00, 0xB1, hi, lo, 0x00, 0x00, 0x04, 0x54, 0x02, 0x00, 0x00, 0x00, 0x00]
}

pub fn read_binary<P: Platform>(c: &mut Card<P>, f: u16) -> (Vec<u8>, u16) {
    txb(c, &read_binary_apdu(f))
}

/// SELECT of a file by FID, with its FCI.
pub fn select_apdu(f: u16) -> Vec<u8> {
    let [hi, lo] = f.to_be_bytes();
    vec![0x00, 0xA4, 0x00, 0x00, 0x02, hi, lo, 0x00]
}

/// UPDATE BINARY (D7, extended) writing `content` at offset 0 of file `f`; returns the status word.
pub fn update_binary<P: Platform>(c: &mut Card<P>, f: u16, content: &[u8]) -> u16 {
    let mut data = h("54020000 5382");
    data.extend_from_slice(&(content.len() as u16).to_be_bytes());
    data.extend_from_slice(content);
    let [hi, lo] = f.to_be_bytes();
    let mut v = vec![0x00, 0xD7, hi, lo, 0x00];
    v.extend_from_slice(&(data.len() as u16).to_be_bytes());
    v.extend_from_slice(&data);
    txb(c, &v).1
}

/// The metadata template `A5` of key `id`'s FCI.
pub fn fci_metadata<P: Platform>(c: &mut Card<P>, id: u8) -> Option<Vec<u8>> {
    let (fci, sw) = txb(c, &select_apdu(u16::from_be_bytes([0xCC, id])));
    assert_eq!(sw, 0x9000, "SELECT CC{id:02X}");
    let inner = tlv::find(&fci, 0x62).unwrap().unwrap();
    tlv::find(inner, 0xA5).unwrap().map(<[u8]>::to_vec)
}

// ---------------------------------------------------------------------------------------------
// KEY DOMAIN, WRAP KEY, UNWRAP KEY.

/// KEY DOMAIN status (P1 00, no data) of domain `d`.
pub fn domain<P: Platform>(c: &mut Card<P>, d: u8) -> (Vec<u8>, u16) {
    txb(c, &[0x80, 0x52, 0x00, d])
}

/// WRAP KEY (80 72 id 92), extended Le.
pub fn wrap_apdu(id: u8) -> Vec<u8> {
    vec![0x80, 0x72, id, 0x92, 0x00, 0x00, 0x00]
}

/// The blob of key `id`; panics unless WRAP KEY succeeds.
pub fn wrapped<P: Platform>(c: &mut Card<P>, id: u8) -> Vec<u8> {
    let (blob, sw) = txb(c, &wrap_apdu(id));
    assert_eq!(sw, 0x9000, "WRAP of key {id}");
    blob
}

/// UNWRAP KEY (80 74 id 93, case 3, extended): no data at all when `blob` is empty (the card then
/// reads 2F10).
pub fn unwrap_apdu(id: u8, blob: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, 0x74, id, 0x93];
    if !blob.is_empty() {
        v.extend_from_slice(&[0x00, (blob.len() >> 8) as u8, blob.len() as u8]);
        v.extend_from_slice(blob);
    }
    v
}

/// Unwraps `blob` into key `id`; panics unless the card answers 9000 with no data.
pub fn unwrap<P: Platform>(c: &mut Card<P>, id: u8, blob: &[u8]) {
    let (data, sw) = txb(c, &unwrap_apdu(id, blob));
    assert_eq!((sw, data.len()), (0x9000, 0), "UNWRAP into {id}");
}

// ---------------------------------------------------------------------------------------------
// Stores and flash: refused commands change nothing.

/// Every file of both stores.
pub fn snapshot<P: Platform>(card: &mut Card<P>) -> Vec<(bool, u16, Vec<u8>)> {
    let mut v = Vec::new();
    for counters in [false, true] {
        let p = card.platform_mut();
        let store = if counters { p.counters() } else { p.store() };
        let fids: Vec<u16> = store.fids().collect();
        for f in fids {
            v.push((counters, f, store.read_all(f).unwrap()));
        }
    }
    v.sort();
    v
}

/// The raw flash images of both stores.
pub fn flash_images(card: &mut TestCard) -> [Vec<u8>; 2] {
    let p = card.platform_mut();
    let main = p.store().flash_mut().as_bytes().to_vec();
    let counters = p.counters().flash_mut().as_bytes().to_vec();
    [main, counters]
}

/// Sends `apdu`, asserting that it changes nothing in either store, not even a byte of flash.
pub fn unchanged(card: &mut TestCard, apdu: &[u8]) -> (Vec<u8>, u16) {
    let before = snapshot(card);
    let flash = flash_images(card);
    let answer = txb(card, apdu);
    assert!(snapshot(card) == before, "store changed by {}", hex::encode(apdu));
    assert!(flash_images(card) == flash, "flash changed by {}", hex::encode(apdu));
    answer
}

/// Asserts that `apdu` answers `want` with no data and changes nothing in either store, not
/// even a byte of flash.
pub fn refused(card: &mut TestCard, apdu: &[u8], want: u16) {
    let (data, sw) = unchanged(card, apdu);
    assert_eq!(sw, want, "{}", hex::encode(apdu));
    assert!(
        data.is_empty(),
        "{} refused with data {}",
        hex::encode(apdu),
        hex::encode(&data)
    );
}

// ---------------------------------------------------------------------------------------------
// Hashes.

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut d = Sha256::new();
    for p in parts {
        d.update(p);
    }
    d.finalize().into()
}

/// The key check value of a DKEK: the first 8 bytes of its SHA-256.
pub fn kcv(dkek: &[u8]) -> [u8; 8] {
    sha256(&[dkek])[..8].try_into().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Secure lock.

/// The host's side of one secure-lock key agreement (EXTRAS 3A 01), from the reference (§3.26):
/// P-256 ECDH, HKDF-SHA256 (no salt, info = host point) → nonce ‖ key, ChaCha20-Poly1305 with the
/// host point as AAD. `rng` numbers the host keys.
pub struct Host {
    pub public: Vec<u8>,
    pub key: [u8; 32],
    pub nonce: [u8; 12],
}

impl Host {
    pub fn agree<P: Platform>(c: &mut Card<P>, rng: &mut u64) -> Host {
        let sk = loop {
            *rng += 1;
            let b = sha256(&[b"host key", &rng.to_be_bytes()]);
            if let Ok(sk) = p256::SecretKey::from_slice(&b) {
                break sk;
            }
        };
        let public = sk.public_key().to_sec1_bytes().to_vec();
        assert_eq!(public.len(), 65);
        let (card_public, sw) = txb(c, &apdu(0x80, 0x64, 0x3A, 0x01, &public));
        assert_eq!(sw, 0x9000, "key agreement");
        assert_eq!(card_public.len(), 65);
        let card_pk = p256::PublicKey::from_sec1_bytes(&card_public).unwrap();
        let shared = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), card_pk.as_affine());
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, shared.raw_secret_bytes());
        let mut okm = [0u8; 44];
        hk.expand(&public, &mut okm).unwrap();
        Host {
            public,
            key: okm[12..].try_into().unwrap(),
            nonce: okm[..12].try_into().unwrap(),
        }
    }

    pub fn seal(&self, secret: &[u8]) -> Vec<u8> {
        ChaCha20Poly1305::new(&self.key.into())
            .encrypt(
                &self.nonce.into(),
                Payload {
                    msg: secret,
                    aad: &self.public,
                },
            )
            .unwrap()
    }
}
