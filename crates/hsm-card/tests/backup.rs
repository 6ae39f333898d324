//! In-process scenarios for key backup: DKEK shares and key domains (KEY DOMAIN 52), WRAP KEY (72)
//! and UNWRAP KEY (74) in the SmartCard-HSM blob format (reference §3.11, §3.16, §3.17, §7).
//!
//! Blobs are opened and built here with `aes`, `cbc`, `cmac` and `sha2` directly, from the format
//! description (what upstream's host library `wrap_key()` does), never with the card's code.
//! Every refusal is checked to leave both stores, and the raw flash under them, unchanged.

mod common;

use std::collections::HashSet;

use aes::cipher::array::Array;
use aes::cipher::consts::U16;
use aes::cipher::{BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit};
use cmac::Mac;
use common::{
    OID_ECDSA, OID_RSA, TestCard, apdu, domain, fci_metadata, find, flash_images, fresh, gen_ec, h, kcv, login,
    power_cycle, public_point, read_binary, read_binary_apdu, refused, reselect, select_apdu, sha256, snapshot, tx,
    txb, unwrap, unwrap_apdu, update_binary, wrap_apdu, wrapped,
};
use hsm_apdu::tlv;
use hsm_card::Platform;
use hsm_crypto::asym::{Curve, EcPrivateKey};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::elliptic_curve::sec1::ToSec1Point;
use sha2::{Digest, Sha256};

const OID_AES: [u8; 8] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01];
const TYPE_RSA: u8 = 5;
const TYPE_RSA_CRT: u8 = 6;
const TYPE_EC: u8 = 12;
const TYPE_AES: u8 = 15;

// ---------------------------------------------------------------------------------------------
// Key requests (driving the card: tests/common).

/// The public key template (`7F49`) of a CV request.
fn request_key(req: &[u8]) -> Vec<u8> {
    find(req, &[0x67, 0x7F21, 0x7F4E, 0x7F49]).to_vec()
}

// ---------------------------------------------------------------------------------------------
// KEY DOMAIN, WRAP, UNWRAP.

/// KEY DOMAIN with data and Le (a case 3 command would answer 61xx).
fn domain_apdu(p1: u8, d: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, 0x52, p1, d, data.len() as u8];
    v.extend_from_slice(data);
    v.push(0x00);
    v
}

fn import_share(c: &mut TestCard, d: u8, share: &[u8]) -> (Vec<u8>, u16) {
    txb(c, &domain_apdu(0x00, d, share))
}

/// The status answer `total ‖ missing ‖ KCV`.
fn status_bytes(total: u8, missing: u8, kcv: [u8; 8]) -> Vec<u8> {
    let mut v = vec![total, missing];
    v.extend_from_slice(&kcv);
    v
}

/// Two cards initialized with `92 01 <n>` that imported the same shares (with a PIN session).
fn pair(seed_a: u64, seed_b: u64, shares: &[[u8; 32]]) -> (TestCard, TestCard, [u8; 32]) {
    let a = with_dkek(seed_a, shares);
    let b = with_dkek(seed_b, shares);
    (a, b, shares.iter().fold([0; 32], |acc, s| xor(&acc, s)))
}

/// A card whose domain 0 holds the XOR of `shares`; PIN verified.
fn with_dkek(seed: u64, shares: &[[u8; 32]]) -> TestCard {
    let mut c = fresh(seed, &format!("9201{:02X}", shares.len()));
    login(&mut c);
    let mut acc = [0u8; 32];
    for (i, s) in shares.iter().enumerate() {
        acc = xor(&acc, s);
        let (st, sw) = import_share(&mut c, 0, s);
        let missing = (shares.len() - i - 1) as u8;
        assert_eq!((sw, st), (0x9000, status_bytes(shares.len() as u8, missing, kcv(&acc))));
    }
    c
}

// ---------------------------------------------------------------------------------------------
// The blob format, from its description (reference §7.3), with RustCrypto primitives.

fn xor(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for i in 0..32 {
        out[i] = a[i] ^ b[i];
    }
    out
}

/// A fixed, random-looking 32-byte share.
fn share(label: &str) -> [u8; 32] {
    sha256(&[b"backup test share ", label.as_bytes()])
}

/// Kenc and Kmac of a DKEK.
fn blob_keys(dkek: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    (sha256(&[dkek, &[0, 0, 0, 1]]), sha256(&[dkek, &[0, 0, 0, 2]]))
}

fn blocks(buf: &mut [u8]) -> &mut [Array<u8, U16>] {
    let (blocks, rest) = Array::<u8, U16>::slice_as_chunks_mut(buf);
    assert!(rest.is_empty(), "not a whole number of blocks");
    blocks
}

/// AES-CBC with IV 0 and no padding, with a 16- or 32-byte key.
fn aes_cbc_encrypt(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut buf = data.to_vec();
    let iv = [0u8; 16];
    match key.len() {
        16 => cbc::Encryptor::<aes::Aes128>::new_from_slices(key, &iv)
            .unwrap()
            .encrypt_blocks(blocks(&mut buf)),
        32 => cbc::Encryptor::<aes::Aes256>::new_from_slices(key, &iv)
            .unwrap()
            .encrypt_blocks(blocks(&mut buf)),
        n => panic!("AES key of {n} bytes"),
    }
    buf
}

fn aes256_cbc_decrypt(key: &[u8; 32], data: &[u8]) -> Vec<u8> {
    let mut buf = data.to_vec();
    cbc::Decryptor::<aes::Aes256>::new_from_slices(key, &[0; 16])
        .unwrap()
        .decrypt_blocks(blocks(&mut buf));
    buf
}

fn cmac256(key: &[u8; 32], data: &[u8]) -> [u8; 16] {
    let mut m = <cmac::Cmac<aes::Aes256> as KeyInit>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().into()
}

/// A 2-byte big-endian length, then the value.
fn lv(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
}

/// A key blob: `KCV ‖ type ‖ OID ‖ allowed ‖ 0000 ‖ 0000 ‖ AES-256-CBC(Kenc, 0, random ‖ block ‖ pad) ‖ CMAC`.
fn make_blob(dkek: &[u8; 32], kind: u8, oid: &[u8], allowed: &[u8], key_block: &[u8], random: [u8; 8]) -> Vec<u8> {
    let mut plain = random.to_vec();
    plain.extend_from_slice(key_block);
    if !plain.len().is_multiple_of(16) {
        plain.push(0x80);
        plain.resize(plain.len().next_multiple_of(16), 0);
    }
    seal_blob(dkek, kind, oid, allowed, &plain)
}

/// A blob whose plaintext (random bytes, key block and padding) is `plain`, whatever it holds.
fn seal_blob(dkek: &[u8; 32], kind: u8, oid: &[u8], allowed: &[u8], plain: &[u8]) -> Vec<u8> {
    let (kenc, kmac) = blob_keys(dkek);
    let mut out = kcv(dkek).to_vec();
    out.push(kind);
    lv(&mut out, oid);
    lv(&mut out, allowed);
    lv(&mut out, &[]);
    lv(&mut out, &[]);
    out.extend_from_slice(&aes_cbc_encrypt(&kenc, plain));
    let mac = cmac256(&kmac, &out);
    out.extend_from_slice(&mac);
    out
}

/// What a blob holds, opened with a DKEK the test knows.
struct Opened {
    kind: u8,
    allowed: Vec<u8>,
    /// The decrypted key block after the 8 random bytes, padding included.
    block: Vec<u8>,
}

fn take<'a>(data: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let n = usize::from(u16::from_be_bytes([data[*pos], data[*pos + 1]]));
    let v = &data[*pos + 2..*pos + 2 + n];
    *pos += 2 + n;
    v
}

/// Checks a card-made blob against the format with `dkek` and decrypts it.
fn open_blob(dkek: &[u8; 32], blob: &[u8]) -> Opened {
    let (kenc, kmac) = blob_keys(dkek);
    assert_eq!(&blob[..8], &kcv(dkek), "KCV");
    let (body, mac) = blob.split_at(blob.len() - 16);
    assert_eq!(cmac256(&kmac, body), mac, "CMAC");
    let kind = body[8];
    let mut pos = 9;
    let oid = take(body, &mut pos).to_vec();
    let allowed = take(body, &mut pos).to_vec();
    assert_eq!(take(body, &mut pos), b"", "ACL");
    assert_eq!(take(body, &mut pos), b"", "key OID");
    let want_oid: &[u8] = match kind {
        TYPE_RSA | TYPE_RSA_CRT => &OID_RSA,
        TYPE_EC => &OID_ECDSA,
        TYPE_AES => &OID_AES,
        k => panic!("blob type {k}"),
    };
    assert_eq!(oid, want_oid);
    let plain = aes256_cbc_decrypt(&kenc, &body[pos..]);
    Opened {
        kind,
        allowed,
        block: plain[8..].to_vec(),
    }
}

/// The length-prefixed fields of a key block after its 2-byte size; the rest must be padding.
fn key_fields(block: &[u8], count: usize) -> (u16, Vec<Vec<u8>>) {
    let size = u16::from_be_bytes([block[0], block[1]]);
    let mut pos = 2;
    let fields = (0..count).map(|_| take(block, &mut pos).to_vec()).collect();
    assert_padding(&block[pos..]);
    (size, fields)
}

fn assert_padding(rest: &[u8]) {
    match rest.split_first() {
        None => {}
        Some((0x80, zeros)) => assert!(zeros.iter().all(|b| *b == 0), "padding {}", hex::encode(rest)),
        _ => panic!("padding {}", hex::encode(rest)),
    }
}

/// Strips leading zero bytes of a big-endian integer.
fn trim(v: &[u8]) -> Vec<u8> {
    let start = v.iter().position(|b| *b != 0).unwrap_or(v.len().saturating_sub(1));
    v[start..].to_vec()
}

// ---------------------------------------------------------------------------------------------
// Secrets must never show.

/// Every 16-byte window of the secrets: any common substring of 16 bytes or more contains one.
fn windows16(secrets: &[[u8; 32]]) -> HashSet<[u8; 16]> {
    secrets
        .iter()
        .flat_map(|s| s.windows(16).map(|w| <[u8; 16]>::try_from(w).unwrap()))
        .collect()
}

/// Where the first secret window appears in `hay`.
fn leak(hay: &[u8], set: &HashSet<[u8; 16]>) -> Option<usize> {
    hay.windows(16)
        .position(|w| set.contains(&<[u8; 16]>::try_from(w).unwrap()))
}

/// No READ BINARY or SELECT answer of the DKEK files, the domain table, the listed objects or
/// any stored file contains a secret, and neither flash image does.
fn assert_no_leak(c: &mut TestCard, secrets: &[[u8; 32]], when: &str) {
    let set = windows16(secrets);
    let internal: Vec<u16> = (0x1090..=0x109F).chain([0x10A0]).collect();
    for &f in &internal {
        let (data, sw) = read_binary(c, f);
        assert_eq!((sw, data.len()), (0x6982, 0), "READ BINARY {f:04X} {when}");
        let (data, sw) = txb(c, &select_apdu(f));
        assert_eq!((sw, data.len()), (0x6A82, 0), "SELECT {f:04X} {when}");
    }
    let (list, sw) = tx(c, "8058000000");
    assert_eq!(sw, 0x9000);
    assert!(!list.is_empty() && list.len() % 2 == 0);
    let mut fids: Vec<u16> = list.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
    fids.extend(internal);
    fids.extend(c.platform_mut().store().fids().collect::<Vec<_>>());
    for f in fids {
        for a in [read_binary_apdu(f), select_apdu(f)] {
            let (data, _) = txb(c, &a);
            assert_eq!(leak(&data, &set), None, "{} answers a secret {when}", hex::encode(&a));
        }
    }
    let [main, counters] = flash_images(c);
    assert_eq!(leak(&main, &set), None, "secret in the main flash {when}");
    assert_eq!(leak(&counters, &set), None, "secret in the counters flash {when}");
}

// ---------------------------------------------------------------------------------------------
// 1. Share import without a PIN.

#[test]
fn shares_import_without_a_pin_and_the_kcv_shows_without_one() {
    let seed = 101;
    let mut c = fresh(seed, "920103");
    assert_eq!(domain(&mut c, 0), (status_bytes(3, 3, [0; 8]), 0x9000));
    let shares = [share("1/3"), share("2/3"), share("3/3")];
    let mut acc = [0u8; 32];
    for (i, s) in shares.iter().enumerate() {
        let before = status_bytes(3, 3 - i as u8, if i == 0 { [0; 8] } else { kcv(&acc) });
        // A short share changes nothing, whatever the state.
        refused(&mut c, &domain_apdu(0x00, 0, &s[..31]), 0x6700);
        assert_eq!(domain(&mut c, 0), (before, 0x9000));
        acc = xor(&acc, s);
        let want = status_bytes(3, 2 - i as u8, kcv(&acc));
        assert_eq!(import_share(&mut c, 0, s), (want.clone(), 0x9000), "share {i}");
        assert_eq!(domain(&mut c, 0), (want, 0x9000));
    }
    let complete = status_bytes(3, 0, kcv(&acc));
    refused(&mut c, &domain_apdu(0x00, 0, &share("4/3")), 0x6986);
    refused(&mut c, &domain_apdu(0x00, 0, &shares[0]), 0x6986);
    refused(&mut c, &domain_apdu(0x00, 0, &[0x55; 31]), 0x6700);
    assert_eq!(domain(&mut c, 0), (complete.clone(), 0x9000));

    // Shown without a PIN after a reset and after a power cycle.
    reselect(&mut c);
    assert_eq!(domain(&mut c, 0), (complete.clone(), 0x9000));
    let mut c = power_cycle(c, seed);
    assert_eq!(domain(&mut c, 0), (complete.clone(), 0x9000));
    login(&mut c);
    assert_eq!(domain(&mut c, 0), (complete.clone(), 0x9000));

    // The DKEK that survived a power cycle between the last share and the first VERIFY is the
    // XOR of the shares (the path where upstream may turn it into a wrong one, reference §7.2).
    assert_eq!(tx(&mut c, "004801B2").1, 0x9000);
    let blob = wrapped(&mut c, 1);
    let opened = open_blob(&acc, &blob);
    assert_eq!((opened.kind, opened.allowed.len()), (TYPE_AES, 0));
    assert_eq!(opened.block[..2], [0x00, 0x20]);
    let key = opened.block[2..34].to_vec();
    assert_padding(&opened.block[34..]);
    let data = [0x5Au8; 32];
    let (ct, sw) = txb(&mut c, &apdu(0x80, 0x78, 1, 0x10, &data));
    assert_eq!((sw, ct), (0x9000, aes_cbc_encrypt(&key, &data)));

    // Resealed under the MKEK by that VERIFY: still shown without a PIN after another power cycle.
    let mut c = power_cycle(c, seed);
    assert_eq!(domain(&mut c, 0), (complete, 0x9000));
    login(&mut c);
    assert_eq!(wrapped(&mut c, 1)[..8], kcv(&acc));
}

// ---------------------------------------------------------------------------------------------
// 2. No share or DKEK byte is readable or in flash.

#[test]
fn no_share_or_dkek_byte_is_readable_or_in_flash() {
    let seed = 102;
    let mut c = fresh(seed, "920103");
    login(&mut c);
    gen_ec(&mut c, 1, Curve::Secp256r1, &[]);
    assert_eq!(tx(&mut c, "004802B2").1, 0x9000);
    reselect(&mut c);
    let shares = [share("leak 1"), share("leak 2"), share("leak 3")];
    let mut secrets = Vec::new();
    let mut acc = [0u8; 32];
    for (i, s) in shares.iter().enumerate() {
        assert_eq!(import_share(&mut c, 0, s).1, 0x9000);
        acc = xor(&acc, s);
        secrets.push(*s);
        secrets.push(acc);
        assert_no_leak(&mut c, &secrets, &format!("after share {i}"));
    }
    assert_eq!(domain(&mut c, 0), (status_bytes(3, 0, kcv(&acc)), 0x9000));
    // The first VERIFY reseals the DKEK under the MKEK.
    login(&mut c);
    assert_no_leak(&mut c, &secrets, "after VERIFY");
    let blob = wrapped(&mut c, 2);
    assert_eq!(leak(&blob, &windows16(&secrets)), None, "secret in a blob");
    assert_no_leak(&mut c, &secrets, "after WRAP");
    let mut c = power_cycle(c, seed);
    assert_no_leak(&mut c, &secrets, "after a power cycle");
    login(&mut c);
    assert_no_leak(&mut c, &secrets, "after a power cycle and VERIFY");
    let (store, counters) = c.into_platform().into_stores();
    let set = windows16(&secrets);
    assert_eq!(leak(&store.into_flash().into_bytes(), &set), None);
    assert_eq!(leak(&counters.into_flash().into_bytes(), &set), None);
}

// ---------------------------------------------------------------------------------------------
// 3. Keys travel between two devices.

#[test]
fn ec_and_aes_keys_travel_between_two_devices() {
    let shares = [share("travel 1"), share("travel 2")];
    let (mut a, mut b, dkek) = pair(1, 2, &shares);
    let p256 = gen_ec(&mut a, 1, Curve::Secp256r1, &[]);
    let ed = gen_ec(&mut a, 3, Curve::Ed25519, &[]);
    let x = gen_ec(&mut a, 4, Curve::X25519, &[]);
    assert_eq!(tx(&mut a, "004805B2").1, 0x9000);
    let mut aes_key = Vec::new();
    // (slot on A, blob type, slot on B)
    for (id, kind, to) in [
        (1u8, TYPE_EC, 11u8),
        (3, TYPE_EC, 13),
        (4, TYPE_EC, 14),
        (5, TYPE_AES, 15),
    ] {
        let blob = wrapped(&mut a, id);
        assert_eq!(blob[..8], kcv(&dkek), "key {id}");
        assert_eq!(blob[8], kind, "key {id}");
        let opened = open_blob(&dkek, &blob);
        assert!(opened.allowed.is_empty());
        if kind == TYPE_AES {
            assert_eq!(opened.block[..2], [0x00, 0x20]);
            aes_key = opened.block[2..34].to_vec();
        }
        unwrap(&mut b, to, &blob);
        // The blob's (empty) algorithm list and the domain whose KCV matched.
        assert_eq!(fci_metadata(&mut b, to), Some(h("920100")), "key {to}");
    }

    // ECDSA on B verifies with A's public key.
    let hash = Sha256::digest(b"signed on B with A's key");
    let (sig, sw) = txb(&mut b, &apdu(0x80, 0x68, 11, 0x70, &hash));
    assert_eq!(sw, 0x9000);
    Curve::Secp256r1
        .verify_ecdsa_prehash(public_point(&p256, Curve::Secp256r1), &hash, &sig)
        .unwrap();
    // Pure EdDSA.
    let msg = b"EdDSA on B with A's key";
    let (sig, sw) = txb(&mut b, &apdu(0x80, 0x68, 13, 0x70, msg));
    assert_eq!(sw, 0x9000);
    Curve::Ed25519
        .verify_eddsa(public_point(&ed, Curve::Ed25519), msg, &sig)
        .unwrap();
    // X25519: the same secret on both, and the one the peer computes with A's public key.
    let peer = EcPrivateKey::from_bytes(Curve::X25519, &[0x77; 32]).unwrap();
    let peer_public = peer.public_key().unwrap();
    let (on_a, sw_a) = txb(&mut a, &apdu(0x80, 0x62, 4, 0x80, &peer_public));
    let (on_b, sw_b) = txb(&mut b, &apdu(0x80, 0x62, 14, 0x80, &peer_public));
    assert_eq!((sw_a, sw_b), (0x9000, 0x9000));
    assert_eq!(on_a, on_b);
    let mut want = vec![0x04];
    want.extend_from_slice(&peer.ecdh(public_point(&x, Curve::X25519)).unwrap());
    assert_eq!(on_b, want);
    // AES-CBC: the same ciphertext on both, the one of the key in the blob.
    let data: Vec<u8> = (0u8..32).collect();
    let (ct_a, sw_a) = txb(&mut a, &apdu(0x80, 0x78, 5, 0x10, &data));
    let (ct_b, sw_b) = txb(&mut b, &apdu(0x80, 0x78, 15, 0x10, &data));
    assert_eq!((sw_a, sw_b), (0x9000, 0x9000));
    assert_eq!(ct_a, ct_b);
    assert_eq!(ct_b, aes_cbc_encrypt(&aes_key, &data));

    // Descriptions and CV requests on B.
    for (to, first, req) in [
        (11u8, 0xA0u8, Some(&p256)),
        (13, 0xA0, Some(&ed)),
        (14, 0xA0, Some(&x)),
        (15, 0xA8, None),
    ] {
        let (prkd, sw) = read_binary(&mut b, u16::from_be_bytes([0xC4, to]));
        assert_eq!((sw, prkd[0]), (0x9000, first), "C4{to:02X}");
        let (ce, sw) = read_binary(&mut b, u16::from_be_bytes([0xCE, to]));
        match req {
            Some(req) => {
                assert_eq!((sw, ce[0]), (0x9000, 0x67), "CE{to:02X}");
                assert_eq!(request_key(&ce), request_key(req), "CE{to:02X} carries A's public key");
            }
            None => assert_eq!(sw, 0x6A82, "CE{to:02X}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Algorithm lists travel; WRAP's refusals.

#[test]
fn algorithm_lists_travel_and_guard_wrapping() {
    let shares = [share("list 1"), share("list 2")];
    let (mut a, mut b, dkek) = pair(41, 42, &shares);
    let req = gen_ec(&mut a, 1, Curve::Secp256r1, &h("91027092"));
    let blob = wrapped(&mut a, 1);
    assert_eq!(blob[..8], kcv(&dkek));
    assert_eq!(blob[8..21], h("0C 000A 04007F00070202020203"));
    assert_eq!(blob[21..25], h("0002 7092"));
    assert_eq!(blob[25..29], h("0000 0000"));
    assert_eq!(open_blob(&dkek, &blob).allowed, h("7092"));

    unwrap(&mut b, 7, &blob);
    assert_eq!(fci_metadata(&mut b, 7), Some(h("91027092 920100")));
    refused(&mut b, &apdu(0x80, 0x68, 7, 0x71, b"hashed on the card"), 0x6985);
    let hash = Sha256::digest(b"list");
    let (sig, sw) = txb(&mut b, &apdu(0x80, 0x68, 7, 0x70, &hash));
    assert_eq!(sw, 0x9000);
    Curve::Secp256r1
        .verify_ecdsa_prehash(public_point(&req, Curve::Secp256r1), &hash, &sig)
        .unwrap();
    // B may wrap it again: same DKEK, same header.
    let again = wrapped(&mut b, 7);
    assert_eq!(again[..29], blob[..29]);

    // Without 0x92 in its list a key never leaves.
    gen_ec(&mut a, 2, Curve::Secp256r1, &h("910170"));
    refused(&mut a, &wrap_apdu(2), 0x6985);
    refused(&mut a, &[0x80, 0x72, 0x01, 0x93, 0x00, 0x00, 0x00], 0x6B00);
    refused(&mut a, &[0x80, 0x72, 0x01, 0x00, 0x00, 0x00, 0x00], 0x6B00);
    refused(&mut a, &wrap_apdu(9), 0x6A82);
    refused(&mut a, &wrap_apdu(0), 0x6982);
    reselect(&mut a);
    refused(&mut a, &wrap_apdu(1), 0x6982);

    // A domain still missing a share.
    let mut d = fresh(43, "920102");
    login(&mut d);
    let first = share("list 1");
    assert_eq!(
        import_share(&mut d, 0, &first),
        (status_bytes(2, 1, kcv(&first)), 0x9000)
    );
    gen_ec(&mut d, 1, Curve::Secp256r1, &[]);
    refused(&mut d, &wrap_apdu(1), 0x6A88);
    // A device initialized without DKEK shares.
    let mut e = fresh(44, "");
    login(&mut e);
    gen_ec(&mut e, 1, Curve::Secp256r1, &[]);
    refused(&mut e, &wrap_apdu(1), 0x6A88);
}

// ---------------------------------------------------------------------------------------------
// 5. Refused blobs leave the target unchanged.

#[test]
fn refused_blobs_leave_the_target_unchanged() {
    let shares = [share("refuse 1"), share("refuse 2")];
    let (mut a, mut b, _) = pair(51, 52, &shares);
    let req = gen_ec(&mut a, 1, Curve::Secp256r1, &[]);
    let blob = wrapped(&mut a, 1);
    assert_eq!(blob[8], TYPE_EC);
    // Slot 3 holds A's key already; slot 4 is empty.
    unwrap(&mut b, 3, &blob);
    for i in 0..blob.len() {
        let mut bad = blob.clone();
        bad[i] ^= 0x01;
        // Byte 8 becomes 13, not a blob type.
        let want = if i == 8 { 0x6984 } else { 0x6400 };
        refused(&mut b, &unwrap_apdu(3 + (i % 2) as u8, &bad), want);
    }
    for n in 0..blob.len() {
        let want = match n {
            // No data: the blob is read from 2F10, which B does not have.
            0 => 0x6A82,
            // No type byte.
            1..=8 => 0x6984,
            _ => 0x6400,
        };
        refused(&mut b, &unwrap_apdu(3 + (n % 2) as u8, &blob[..n]), want);
    }
    for kind in [0x00u8, 0x01, 0x05, 0x06, 0x0D, 0x0F, 0x80, 0xFF] {
        let mut bad = blob.clone();
        bad[8] = kind;
        let want = if matches!(kind, 5 | 6 | 12 | 15) {
            0x6400
        } else {
            0x6984
        };
        refused(&mut b, &unwrap_apdu(4, &bad), want);
    }
    // A blob made under another DKEK, as it is and with B's KCV.
    let mut other = with_dkek(53, &[share("other 1"), share("other 2")]);
    gen_ec(&mut other, 1, Curve::Secp256r1, &[]);
    let foreign = wrapped(&mut other, 1);
    refused(&mut b, &unwrap_apdu(4, &foreign), 0x6400);
    refused(&mut b, &unwrap_apdu(3, &foreign), 0x6400);
    let mut forged = foreign.clone();
    forged[..8].copy_from_slice(&blob[..8]);
    refused(&mut b, &unwrap_apdu(4, &forged), 0x6400);
    // P2, slot 0, no PIN.
    let mut p2 = unwrap_apdu(4, &blob);
    p2[3] = 0x92;
    refused(&mut b, &p2, 0x6B00);
    refused(&mut b, &unwrap_apdu(0, &blob), 0x6982);
    reselect(&mut b);
    refused(&mut b, &unwrap_apdu(4, &blob), 0x6982);
    login(&mut b);

    // Slot 3 still holds A's key, and the genuine blob still unwraps.
    let hash = Sha256::digest(b"after the refusals");
    let point = public_point(&req, Curve::Secp256r1).to_vec();
    for slot in [3u8, 4] {
        if slot == 4 {
            assert_eq!(txb(&mut b, &apdu(0x80, 0x68, 4, 0x70, &hash)).1, 0x6A82);
            unwrap(&mut b, 4, &blob);
        }
        let (sig, sw) = txb(&mut b, &apdu(0x80, 0x68, slot, 0x70, &hash));
        assert_eq!(sw, 0x9000);
        Curve::Secp256r1.verify_ecdsa_prehash(&point, &hash, &sig).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// 6. UNWRAP from 2F10.

#[test]
fn unwrap_reads_2f10_when_the_command_has_no_data() {
    let shares = [share("staged 1"), share("staged 2")];
    let (mut a, mut b, _) = pair(61, 62, &shares);
    let req = gen_ec(&mut a, 1, Curve::Secp256r1, &[]);
    let blob = wrapped(&mut a, 1);
    assert_eq!(update_binary(&mut b, 0x2F10, &blob), 0x9000);
    assert_eq!(read_binary(&mut b, 0x2F10), (blob.clone(), 0x9000));
    unwrap(&mut b, 5, &[]);
    let hash = Sha256::digest(b"staged");
    let (sig, sw) = txb(&mut b, &apdu(0x80, 0x68, 5, 0x70, &hash));
    assert_eq!(sw, 0x9000);
    Curve::Secp256r1
        .verify_ecdsa_prehash(public_point(&req, Curve::Secp256r1), &hash, &sig)
        .unwrap();
    assert_eq!(fci_metadata(&mut b, 5), Some(h("920100")));
    // A damaged staged blob is refused like one in the command.
    let mut bad = blob.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    assert_eq!(update_binary(&mut b, 0x2F10, &bad), 0x9000);
    refused(&mut b, &unwrap_apdu(6, &[]), 0x6400);
}

// ---------------------------------------------------------------------------------------------
// 7. Blobs built from the format description.

/// P-256 domain parameters (FIPS 186-4 D.1.2.3), written out here.
const P256_P: &str = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
const P256_A: &str = "ffffffff00000001000000000000000000000000fffffffffffffffffffffffc";
const P256_B: &str = "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b";
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
const P256_G: &str = "04 6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296
                      4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";

/// The card's DER `SEQUENCE { r, s }` as `r ‖ s` of 32 bytes each (short DER lengths only).
fn der_to_raw(der: &[u8]) -> Vec<u8> {
    assert_eq!((der[0], usize::from(der[1])), (0x30, der.len() - 2));
    let mut out = Vec::new();
    let mut pos = 2;
    for _ in 0..2 {
        assert_eq!(der[pos], 0x02);
        let n = usize::from(der[pos + 1]);
        let v = trim(&der[pos + 2..pos + 2 + n]);
        assert!(v.len() <= 32);
        out.extend(std::iter::repeat_n(0, 32 - v.len()));
        out.extend_from_slice(&v);
        pos += 2 + n;
    }
    assert_eq!(pos, der.len());
    out
}

/// A P-256 key block of type 12 for scalar `d` (written as given) with public point `q`.
fn p256_key_block(d: &[u8], q: &[u8]) -> Vec<u8> {
    let mut block = vec![0x01, 0x00];
    for field in [P256_A, P256_B, P256_P, P256_N, P256_G] {
        lv(&mut block, &h(field.split_whitespace().collect::<String>().as_str()));
    }
    lv(&mut block, d);
    lv(&mut block, q);
    block
}

#[test]
fn blobs_built_from_the_format_description_unwrap() {
    let dkek = [0x01u8; 32];
    let mut c = fresh(71, "920101");
    login(&mut c);
    assert_eq!(import_share(&mut c, 0, &dkek), (status_bytes(1, 0, kcv(&dkek)), 0x9000));

    // AES-128 with a known key.
    let k = h("000102030405060708090a0b0c0d0e0f");
    let mut block = vec![0x00, 0x10];
    block.extend_from_slice(&k);
    let blob = make_blob(&dkek, TYPE_AES, &OID_AES, &h("101118995152"), &block, [0xA1; 8]);
    let mut header = kcv(&dkek).to_vec();
    header.extend(h("0F 0008 6086480165030401 0006 101118995152 0000 0000"));
    assert_eq!(blob[..header.len()], header[..]);
    // 8 random ‖ 00 10 ‖ k ‖ 80 00… = 32 bytes encrypted, then the CMAC.
    assert_eq!(blob.len(), header.len() + 32 + 16);
    unwrap(&mut c, 1, &blob);
    assert_eq!(fci_metadata(&mut c, 1), Some(h("9106101118995152 920100")));
    let pt: [u8; 16] = h("00112233445566778899aabbccddeeff").try_into().unwrap();
    let (ct, sw) = txb(&mut c, &apdu(0x80, 0x78, 1, 0x10, &pt));
    let mut expected = Array::<u8, U16>::from(pt);
    aes::Aes128::new_from_slice(&k).unwrap().encrypt_block(&mut expected);
    assert_eq!((sw, ct), (0x9000, expected.to_vec()));
    // Its list has no 0x92: it never leaves again.
    refused(&mut c, &wrap_apdu(1), 0x6985);
    // With 0x92 in the list the card wraps it back to the same key block and list, and the list
    // holds on the card.
    let blob = make_blob(&dkek, TYPE_AES, &OID_AES, &h("1092"), &block, [0xA2; 8]);
    unwrap(&mut c, 6, &blob);
    let (ct, sw) = txb(&mut c, &apdu(0x80, 0x78, 6, 0x10, &pt));
    assert_eq!((sw, ct), (0x9000, expected.to_vec()));
    refused(&mut c, &apdu(0x80, 0x78, 6, 0x11, &pt), 0x6985);
    let back = open_blob(&dkek, &wrapped(&mut c, 6));
    assert_eq!((back.kind, &back.allowed[..]), (TYPE_AES, &h("1092")[..]));
    assert_eq!(back.block[..18], block[..]);
    assert_padding(&back.block[18..]);

    // Authentic blobs (good CMAC) whose plaintext is malformed: refused, nothing written.
    let aes_plain = |tail: &str| {
        let mut p = vec![0xA3; 8];
        p.extend_from_slice(&block);
        p.extend(h(tail));
        p
    };
    for (what, plain) in [
        ("padding 81", aes_plain("81 0000000000")),
        ("padding 80 01", aes_plain("80 0100000000")),
        ("padding without 80", aes_plain("00 0000000000")),
        ("a byte between the key and the padding", aes_plain("01 8000000000")),
        ("key size 0", {
            let mut p = vec![0xA3; 8];
            p.extend(h("0000"));
            p.resize(32, 0);
            p
        }),
        ("key longer than the block", {
            let mut p = vec![0xA3; 8];
            p.extend(h("0040"));
            p.extend_from_slice(&k);
            p.resize(32, 0);
            p
        }),
        ("no random bytes", {
            let mut p = block.clone();
            p.push(0x80);
            p.resize(32, 0);
            p
        }),
    ] {
        let blob = seal_blob(&dkek, TYPE_AES, &OID_AES, &[], &plain);
        let before = snapshot(&mut c);
        let (data, sw) = txb(&mut c, &unwrap_apdu(7, &blob));
        assert_eq!((sw, data.len()), (0x6400, 0), "{what}");
        assert!(snapshot(&mut c) == before, "{what}");
    }
    // An EC block that ends before Q.
    let mut short = vec![0xA4; 8];
    short.extend(h("0100"));
    for field in [P256_A, P256_B, P256_P, P256_N, P256_G] {
        lv(&mut short, &h(field.split_whitespace().collect::<String>().as_str()));
    }
    lv(&mut short, &[0x11; 32]);
    short.push(0x80);
    short.resize(short.len().next_multiple_of(16), 0);
    refused(
        &mut c,
        &unwrap_apdu(7, &seal_blob(&dkek, TYPE_EC, &OID_ECDSA, &[], &short)),
        0x6400,
    );

    // P-256 with a known scalar (RFC 6979 A.2.5), and one whose D has a leading zero written the
    // way mbedTLS writes it (31 bytes).
    let params = Curve::Secp256r1.params();
    for (field, ours) in [
        (params.p, P256_P),
        (params.a, P256_A),
        (params.b, P256_B),
        (params.n, P256_N),
        (params.g, P256_G),
    ] {
        assert_eq!(field, h(ours.split_whitespace().collect::<String>().as_str()));
    }
    let scalars = [
        h("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"),
        h("00d1b6a1e0c0c2b3a4f5e6d7c8b9aa9b8c7d6e5f4031221304f5e6d7c8b9aa9b"),
    ];
    for (slot, d) in [(2u8, &scalars[0]), (3, &scalars[1])] {
        let q = p256::SecretKey::from_slice(d)
            .unwrap()
            .public_key()
            .to_sec1_point(false)
            .as_bytes()
            .to_vec();
        let blob = make_blob(
            &dkek,
            TYPE_EC,
            &OID_ECDSA,
            &[],
            &p256_key_block(&trim(d), &q),
            [slot; 8],
        );
        unwrap(&mut c, slot, &blob);
        assert_eq!(fci_metadata(&mut c, slot), Some(h("920100")));
        let hash = Sha256::digest(b"independent blob");
        let (der, sw) = txb(&mut c, &apdu(0x80, 0x68, slot, 0x70, &hash));
        assert_eq!(sw, 0x9000);
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&q).unwrap();
        let sig = p256::ecdsa::Signature::from_slice(&der_to_raw(&der)).unwrap();
        vk.verify_prehash(&hash, &sig).unwrap();
        let (ce, sw) = read_binary(&mut c, u16::from_be_bytes([0xCE, slot]));
        assert_eq!(sw, 0x9000);
        assert_eq!(public_point(&ce, Curve::Secp256r1), &q[..]);
        // Wrapped back: the same scalar (at full length) and point.
        let back = open_blob(&dkek, &wrapped(&mut c, slot));
        assert_eq!(back.kind, TYPE_EC);
        let (bits, fields) = key_fields(&back.block, 7);
        assert_eq!(bits, 256);
        assert_eq!(fields[2], h(P256_P));
        assert_eq!(trim(&fields[5]), trim(d));
        assert_eq!(fields[6], q);
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Key domains.

#[test]
fn key_domains_are_created_used_and_deleted() {
    let mut c = fresh(81, "970104");
    for d in 0..4 {
        assert_eq!(domain(&mut c, d), (vec![], 0x6A88), "domain {d}");
    }
    assert_eq!(domain(&mut c, 4), (vec![], 0x6A86));
    for d in [16u8, 0x20, 0xFF] {
        assert_eq!(domain(&mut c, d), (vec![], 0x6B00), "domain {d}");
    }
    // Creating a domain needs a PIN.
    refused(&mut c, &domain_apdu(0x01, 1, &[1]), 0x6985);
    login(&mut c);
    assert_eq!(
        txb(&mut c, &domain_apdu(0x01, 1, &[1])),
        (status_bytes(1, 1, [0; 8]), 0x9000)
    );
    assert_eq!(domain(&mut c, 1), (status_bytes(1, 1, [0; 8]), 0x9000));
    assert_eq!(domain(&mut c, 0).1, 0x6A88);
    refused(&mut c, &domain_apdu(0x01, 1, &[1]), 0x6A86);
    refused(&mut c, &domain_apdu(0x01, 4, &[1]), 0x6A86);
    refused(&mut c, &domain_apdu(0x01, 2, &[1, 1]), 0x6700);
    refused(&mut c, &domain_apdu(0x00, 0, &share("domain 0")), 0x6A88);

    // Only domain 0 takes shares without a PIN.
    reselect(&mut c);
    let s = share("domain 1");
    refused(&mut c, &domain_apdu(0x00, 1, &s), 0x6985);
    assert_eq!(domain(&mut c, 1), (status_bytes(1, 1, [0; 8]), 0x9000));
    login(&mut c);
    assert_eq!(import_share(&mut c, 1, &s), (status_bytes(1, 0, kcv(&s)), 0x9000));

    // A key of domain 1 is wrapped under its DKEK; one of domain 0 (free) cannot be.
    gen_ec(&mut c, 1, Curve::Secp256r1, &h("920101"));
    let blob = wrapped(&mut c, 1);
    let opened = open_blob(&s, &blob);
    assert_eq!(opened.kind, TYPE_EC);
    gen_ec(&mut c, 2, Curve::Secp256r1, &[]);
    refused(&mut c, &wrap_apdu(2), 0x6A88);
    // UNWRAP finds domain 1 by its KCV.
    unwrap(&mut c, 3, &blob);
    assert_eq!(fci_metadata(&mut c, 3), Some(h("920101")));

    // A domain with keys is not deleted.
    refused(&mut c, &h("80520301"), 0x6A89);
    assert_eq!(tx(&mut c, "00E40000 02 CC01").1, 0x9000);
    refused(&mut c, &h("80520301"), 0x6A89);
    assert_eq!(tx(&mut c, "00E40000 02 CC03").1, 0x9000);
    reselect(&mut c);
    refused(&mut c, &h("80520301"), 0x6985);
    login(&mut c);
    assert_eq!(tx(&mut c, "80520301"), (vec![], 0x6A88));
    assert_eq!(domain(&mut c, 1), (vec![], 0x6A88));
    assert!(
        !c.platform_mut().store().contains(0x1091),
        "the DKEK of a deleted domain"
    );
    // Its blobs no longer open, and the slot can be configured again, without the old DKEK.
    refused(&mut c, &unwrap_apdu(4, &blob), 0x6400);
    assert_eq!(
        txb(&mut c, &domain_apdu(0x01, 1, &[2])),
        (status_bytes(2, 2, [0; 8]), 0x9000)
    );

    // Clearing a DKEK keeps the share count and resets what was imported.
    assert_eq!(
        txb(&mut c, &domain_apdu(0x01, 2, &[2])),
        (status_bytes(2, 2, [0; 8]), 0x9000)
    );
    let (s1, s2) = (share("domain 2 a"), share("domain 2 b"));
    assert_eq!(import_share(&mut c, 2, &s1), (status_bytes(2, 1, kcv(&s1)), 0x9000));
    reselect(&mut c);
    refused(&mut c, &h("80520402"), 0x6985);
    login(&mut c);
    assert_eq!(tx(&mut c, "80520402"), (status_bytes(2, 2, [0; 8]), 0x9000));
    assert_eq!(domain(&mut c, 2), (status_bytes(2, 2, [0; 8]), 0x9000));
    // A fresh start: the old share is not part of the new DKEK.
    assert_eq!(import_share(&mut c, 2, &s2), (status_bytes(2, 1, kcv(&s2)), 0x9000));
    let both = xor(&s2, &s1);
    assert_eq!(import_share(&mut c, 2, &s1), (status_bytes(2, 0, kcv(&both)), 0x9000));
    gen_ec(&mut c, 5, Curve::Secp256r1, &h("920102"));
    assert_eq!(open_blob(&both, &wrapped(&mut c, 5)).kind, TYPE_EC);
}

// ---------------------------------------------------------------------------------------------
// RSA keys.

#[cfg(feature = "rsa")]
mod rsa_keys {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    use rsa::{BoxedUint, Pkcs1v15Sign};

    use super::*;

    use crate::common::{PREFIX_SHA256, gen_rsa};

    /// Signs `msg` with key `id` (P2 33: PKCS#1 v1.5, SHA-256 on the card) and verifies it.
    fn sign_and_verify(c: &mut TestCard, id: u8, public: &rsa::PublicKey) {
        let msg = b"RSA PKCS#1 v1.5 over SHA-256";
        let (sig, sw) = txb(c, &apdu(0x80, 0x68, id, 0x33, msg));
        assert_eq!(sw, 0x9000, "sign with {id}");
        let mut t = PREFIX_SHA256.to_vec();
        t.extend_from_slice(&Sha256::digest(msg));
        public.verify(Pkcs1v15Sign::new_unprefixed(), &t, &sig).unwrap();
    }

    #[test]
    fn rsa_key_travels_between_two_devices() {
        let shares = [share("rsa 1"), share("rsa 2")];
        let (mut a, mut b, dkek) = pair(31, 32, &shares);
        let (req, public) = gen_rsa(&mut a, 2, 1024, &[0x01, 0x00, 0x01]);
        let blob = wrapped(&mut a, 2);
        assert_eq!(blob[..8], kcv(&dkek));
        assert_eq!(blob[8], TYPE_RSA);
        // bits; D, N, E.
        let opened = open_blob(&dkek, &blob);
        let (bits, fields) = key_fields(&opened.block, 3);
        assert_eq!(bits, 1024);
        assert_eq!(trim(&fields[1]), trim(&public.n().to_be_bytes()));
        assert_eq!(trim(&fields[2]), [0x01, 0x00, 0x01]);

        unwrap(&mut b, 12, &blob);
        sign_and_verify(&mut b, 12, &public);
        let (prkd, sw) = read_binary(&mut b, 0xC40C);
        assert_eq!((sw, prkd[0]), (0x9000, 0x30));
        let (ce, sw) = read_binary(&mut b, 0xCE0C);
        assert_eq!((sw, ce[0]), (0x9000, 0x67));
        assert_eq!(request_key(&ce), request_key(&req));
        assert_eq!(fci_metadata(&mut b, 12), Some(h("920100")));

        // A blob larger than a short APDU, staged in 2F10.
        assert_eq!(update_binary(&mut b, 0x2F10, &blob), 0x9000);
        unwrap(&mut b, 13, &[]);
        sign_and_verify(&mut b, 13, &public);
    }

    #[test]
    fn rsa_blobs_built_from_the_format_description_unwrap() {
        let dkek = [0x01u8; 32];
        let mut c = fresh(72, "920101");
        login(&mut c);
        assert_eq!(import_share(&mut c, 0, &dkek), (status_bytes(1, 0, kcv(&dkek)), 0x9000));
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let key = rsa::PrivateKey::new(&mut rng, 1024).unwrap();
        let public = key.to_public_key();
        let be = |v: &BoxedUint| trim(&v.to_be_bytes());
        let [p, q] = key.primes() else { panic!("two primes") };
        let (n, e, d) = (be(key.n()), be(key.e()), be(key.d()));
        assert_eq!(e, [0x01, 0x00, 0x01]);

        // Type 6 (CRT): bits; DP1, DQ1, P, PQ, Q, N, E.
        let mut block = 1024u16.to_be_bytes().to_vec();
        for field in [
            be(key.dp().unwrap()),
            be(key.dq().unwrap()),
            be(p),
            be(&key.crt_coefficient().unwrap()),
            be(q),
            n.clone(),
            e.clone(),
        ] {
            lv(&mut block, &field);
        }
        let blob = make_blob(&dkek, TYPE_RSA_CRT, &OID_RSA, &[], &block, [6; 8]);
        unwrap(&mut c, 4, &blob);
        sign_and_verify(&mut c, 4, &public);
        let (ce, sw) = read_binary(&mut c, 0xCE04);
        assert_eq!(sw, 0x9000);
        let pk = find(&ce, &[0x67, 0x7F21, 0x7F4E, 0x7F49]);
        assert_eq!(trim(tlv::find(pk, 0x81).unwrap().unwrap()), n);

        // Type 5: bits; D, N, E.
        let mut block = 1024u16.to_be_bytes().to_vec();
        for field in [&d, &n, &e] {
            lv(&mut block, field);
        }
        let blob = make_blob(&dkek, TYPE_RSA, &OID_RSA, &h("33"), &block, [5; 8]);
        unwrap(&mut c, 5, &blob);
        sign_and_verify(&mut c, 5, &public);
        assert_eq!(fci_metadata(&mut c, 5), Some(h("910133 920100")));
        refused(&mut c, &apdu(0x80, 0x68, 5, 0x31, b"SHA-1 is not allowed"), 0x6985);
    }
}
