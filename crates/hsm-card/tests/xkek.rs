//! In-process scenarios for XKEK key domains, cross-device key sharing (reference §3.11, §3.12,
//! §3.15 P2 84, §7.5): KEY DOMAIN P1 02 with a key domain membership (KDM), XKEK key generation
//! (`91` with 0x84) and its request extension, DECIPHER P2 84, and the DKEK it gives two devices.
//!
//! The group signer key (GSK) lives in the test (brainpoolP256r1, as upstream's host library);
//! it signs `SHA-256(54 ‖ X)` with X the x-coordinate of the device's C_DevAut key, read from 2F02
//! by READ BINARY. Peer certificates are built here the way upstream's host library (pycvc
//! `CVC().cert(...)`) builds them; the card does not check their signature (upstream does not
//! either; docs/card.md). Upstream's own KDM from `test_090_xkek.py` is replayed byte for byte.
//! Every refusal is checked to leave both stores, and the raw flash under them, unchanged.

mod common;

use std::collections::HashSet;

use common::{
    OID_ECDSA, TestCard, apdu, domain, ec_template, fci_metadata, find, flash_images, fresh, h, init_apdu, kcv,
    keygen_data_with_chr, login, power_cycle, put, read_binary, read_binary_apdu, refused, reselect, select_apdu,
    sha256, tx, txb, unchanged, unwrap, update_binary, wrapped,
};
use hsm_apdu::tlv;
use hsm_card::Platform;
use hsm_crypto::asym::{Curve, EcPrivateKey};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// id-KeyDomain-UID, 1.3.6.1.4.1.24991.3.2.2.
const OID_KEY_DOMAIN_UID: [u8; 11] = [0x2B, 0x06, 0x01, 0x04, 0x01, 0x81, 0xC3, 0x1F, 0x03, 0x02, 0x02];
/// Algorithm byte of XKEK key agreement.
const XKEK: u8 = 0x84;

/// Upstream's `test_090_xkek.py` KDM: `30 { 06 KDM OID, 61 DICA cert, 62 device cert (CHR
/// ESPICOHSMTRJDG68), 63 GSK request (brainpoolP256r1), 54 signature }`; the signature is over
/// SHA-256(54 ‖ X of the `62` device's key).
const UPSTREAM_KDM: &str = "30820420060b2b0601040181c31f0402016181ed7f2181e97f4e81a25f290100421045535049434f48534d434130303030317f494f060a04007f0007020202020386410421ee4a21c16a10f737f12e78e5091b266612038cdabebb722b15bf6d41b877fbf64d9ab69c39b9831b1ae00bef2a4e81976f7688d45189bb232a24703d8a96a55f201045535049434f48534d445630303030317f4c12060904007f000703010202530580000000005f25060202000801085f24060203000601045f37403f75c08fffc9186b56e6147199e82bfc327ceef72495bc567961cd54d702f13e3c2766fcd1d11bd6a9d1f4a229b76b248ceb9af88d59a74d0ab149448705159b6281e97f2181e57f4e819e5f290100421045535049434f48534d445630303030317f494f060a04007f00070202020203864104c8561b41e54fea81bb80dd4a6d537e7c3904344e8ca90bc5f668111811e02c8d5d51ca93ca89558f2a8a9cbb147434e3441ec174505ff980fd7a7106286196915f201045535049434f48534d54524a444736387f4c0e060904007f0007030102025301005f25060203000300065f24060204000300055f3740983de63d0975b715ebd8a93cb38fa9638882c8b7064d51a6facabed693b92edc098e458b713203413ef6de0958c44772cbdbc264205c7b1bdb8b4fcb2516437f638201f1678201ed7f218201937f4e82014b5f290100421045535049434f48534d54524a444736387f4982011d060a04007f000702020202038120a9fb57dba1eea9bc3e660a909d838d726e3bf623d52620282013481d1f6e537782207d5a0975fc2c3057eef67530417affe7fb8055c126dc5c6ce94a4b44f330b5d9832026dc5c6ce94a4b44f330b5d9bbd77cbf958416295cf7e1ce6bccdc18ff8c07b68441048bd2aeb9cb7e57cb2c4b482ffc81b7afb9de27e1e3bd23c23a4453bd9ace3262547ef835c3dac4fd97f8461a14611dc9c27745132ded8e545c1d54c72f0469978520a9fb57dba1eea9bc3e660a909d838d718c397aa3b561a6f7901e0e82974856a78641048b1f450912a2e4d428b7eefc5fa05618a9ef295e90009a61cbb0970181b333474ea94f94cde5a11aba0589e85d4225002789ff1cdcf25756f059647b49fc2a158701015f201045535049434f48534d54524a444736385f3740372407c20de7257c89dae1e6606c8a046ca65efaa010c0a22b75c402ee243de51f5f1507457193679ed9db4fbbfe8efb9d695b684492b665ad8ba98c1f84ea38421045535049434f48534d54524a444736385f374098718e2e14a44386b689b71a101530316b65ab49a91bab0dd56099c5161ecb8aadff6cf27449f94034e58b7306f01e6ffa2766a2f5bb1281e12e5f1f9174733454400cf8926ca5bec9a91bcd47bf391c15d94ef6e3243d5fd1fffeaafd586766bc3221eafd808f17f8450f238cc1fe7ab1854443db31d622f53a2b3fdb3ad750d5ce";

// ---------------------------------------------------------------------------------------------
// TLVs and commands of this test (the shared helpers are in tests/common).

fn tlv_of(tag: u16, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    put(&mut v, tag, value);
    v
}

/// The top-level TLVs of `data` as (tag, value) pairs.
fn items(data: &[u8]) -> Vec<(u16, Vec<u8>)> {
    tlv::Reader::new(data)
        .map(|t| {
            let t = t.unwrap();
            (t.tag, t.value.to_vec())
        })
        .collect()
}

/// GENERATE ASYMMETRIC KEY PAIR data with CHR UTCDUMMY00001 (`common::keygen_data` has UTTM00001):
/// the request tests read it back.
fn keygen_data(template: &[u8], extra: &[u8]) -> Vec<u8> {
    keygen_data_with_chr(template, b"UTCDUMMY00001", extra)
}

fn keygen_apdu(id: u8, curve: Curve, extra: &[u8]) -> Vec<u8> {
    apdu(0x00, 0x46, id, 0x00, &keygen_data(&ec_template(curve), extra))
}

/// Generates an EC key; returns its authenticated CV request.
fn gen_ec(card: &mut TestCard, id: u8, curve: Curve, extra: &[u8]) -> Vec<u8> {
    let (req, sw) = txb(card, &keygen_apdu(id, curve, extra));
    assert_eq!(sw, 0x9000, "{curve:?}");
    assert_eq!(req[0], 0x67);
    req
}

/// The public point (`86`) of a CV request or certificate.
fn request_point(req: &[u8]) -> Vec<u8> {
    let body = match tlv::find(req, 0x67).unwrap() {
        Some(inner) => find(inner, &[0x7F21, 0x7F4E]),
        None => find(req, &[0x7F21, 0x7F4E]),
    };
    find(body, &[0x7F49, 0x86]).to_vec()
}

/// KEY DOMAIN with data, extended lengths (a KDM is longer than a short APDU carries).
fn domain_apdu(p1: u8, d: u8, data: &[u8]) -> Vec<u8> {
    apdu(0x80, 0x52, p1, d, data)
}

/// The status answer `total ‖ missing ‖ KCV ‖ UID`.
fn status_bytes(total: u8, missing: u8, kcv: [u8; 8], uid: &[u8]) -> Vec<u8> {
    let mut v = vec![total, missing];
    v.extend_from_slice(&kcv);
    v.extend_from_slice(uid);
    v
}

/// DECIPHER P2 84 with key `id` and the peer certificate `cert`.
fn derive_apdu(id: u8, cert: &[u8]) -> Vec<u8> {
    apdu(0x80, 0x62, id, XKEK, cert)
}

fn derive(c: &mut TestCard, id: u8, cert: &[u8]) {
    assert_eq!(
        txb(c, &derive_apdu(id, cert)),
        (vec![], 0x9000),
        "XKEK derive with key {id}"
    );
}

// ---------------------------------------------------------------------------------------------
// KDMs, certificates and DKEKs, built in the test.

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A group signer key (or any other key of the test) on `curve`.
fn test_key(curve: Curve, seed: u64) -> EcPrivateKey {
    EcPrivateKey::generate(curve, &mut rng(seed)).unwrap()
}

/// The device's C_DevAut public point, read from 2F02 as a host does.
fn device_point(c: &mut TestCard) -> Vec<u8> {
    let (certs, sw) = read_binary(c, 0x2F02);
    assert_eq!(sw, 0x9000);
    find(&certs, &[0x7F21, 0x7F4E, 0x7F49, 0x86]).to_vec()
}

/// The self-signed CV request (`67` content: `7F21 ‖ 42 ‖ 5F37`) of a GSK, as a SmartCard-HSM
/// that generated it would give it: full domain parameters, CAR = CHR.
fn gsk_request(gsk: &EcPrivateKey) -> Vec<u8> {
    let curve = gsk.curve();
    let d = curve.params();
    let mut pk = ec_template(curve);
    put(&mut pk, 0x86, &gsk.public_key().unwrap());
    put(&mut pk, 0x87, d.cofactor);
    let mut body = Vec::new();
    put(&mut body, 0x5F29, &[0]);
    put(&mut body, 0x42, b"UTGSK00001");
    put(&mut body, 0x7F49, &pk);
    put(&mut body, 0x5F20, b"UTGSK00001");
    let body = tlv_of(0x7F4E, &body);
    let mut cert = body.clone();
    put(&mut cert, 0x5F37, &sign_raw(gsk, &sha256(&[&body]), 1));
    let mut content = tlv_of(0x7F21, &cert);
    put(&mut content, 0x42, b"UTGSK00001");
    let outer = sign_raw(gsk, &sha256(&[&content]), 2);
    put(&mut content, 0x5F37, &outer);
    content
}

fn sign_raw(key: &EcPrivateKey, hash: &[u8], seed: u64) -> Vec<u8> {
    key.ecdsa_sign_raw(hash, &mut rng(seed)).unwrap()
}

/// The data of KEY DOMAIN P1 02: GSK request ‖ `54` signature of SHA-256(54 ‖ X).
fn kdm_data(gsk: &EcPrivateKey, device_point: &[u8]) -> Vec<u8> {
    let x = &device_point[1..1 + (device_point.len() - 1) / 2];
    let sig = sign_raw(gsk, &sha256(&[&[0x54], x]), 3);
    let mut data = gsk_request(gsk);
    put(&mut data, 0x54, &sig);
    data
}

/// The domain UID of a GSK: its point without the `04`.
fn uid_of(gsk: &EcPrivateKey) -> Vec<u8> {
    gsk.public_key().unwrap()[1..].to_vec()
}

/// Upstream's KDM the way upstream's host library sends it (`create_xkek`): the `67`'s content
/// of the GSK request ‖ the whole `54`. Also the `62` device certificate it was made for, and
/// the GSK's point.
fn upstream_kdm() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let kdm = h(UPSTREAM_KDM);
    let seq = find(&kdm, &[0x30]);
    let device_cert = find(seq, &[0x62]).to_vec();
    let gsk_req = find(seq, &[0x63, 0x67]);
    let mut data = gsk_req.to_vec();
    put(&mut data, 0x54, find(seq, &[0x54]));
    let gsk_point = find(gsk_req, &[0x7F21, 0x7F4E, 0x7F49, 0x86]).to_vec();
    (data, device_cert, gsk_point)
}

/// A peer certificate as upstream's host library makes it (`CVC().cert(pubkey, …,
/// extensions=[{tag 73, oid id-KeyDomain-UID, contexts {0: uid}}])`): CAR ≠ CHR, so the key
/// template holds only the OID and the point; signed by `signer`.
fn peer_cert(point: &[u8], uid: &[u8], signer: &EcPrivateKey) -> Vec<u8> {
    let mut pk = Vec::new();
    put(&mut pk, 0x06, &OID_ECDSA);
    put(&mut pk, 0x86, point);
    let mut ext = Vec::new();
    put(&mut ext, 0x06, &OID_KEY_DOMAIN_UID);
    put(&mut ext, 0x80, uid);
    let mut body = Vec::new();
    put(&mut body, 0x5F29, &[0]);
    put(&mut body, 0x42, b"UTCA00001");
    put(&mut body, 0x7F49, &pk);
    put(&mut body, 0x5F20, b"UTCDUMMY00001");
    put(&mut body, 0x65, &tlv_of(0x73, &ext));
    let body = tlv_of(0x7F4E, &body);
    let mut cert = body.clone();
    put(&mut cert, 0x5F37, &sign_raw(signer, &sha256(&[&body]), 4));
    tlv_of(0x7F21, &cert)
}

/// The DKEK a device derives with its key of public point `device_key` and the peer key `peer`.
fn expected_dkek(peer: &EcPrivateKey, device_key: &[u8]) -> [u8; 32] {
    let shared = peer.ecdh(device_key).unwrap();
    shared[1..33].try_into().unwrap()
}

/// Every 16-byte window of `secret`.
fn windows16(secret: &[u8]) -> HashSet<Vec<u8>> {
    secret.windows(16).map(<[u8]>::to_vec).collect()
}

fn contains_any(hay: &[u8], set: &HashSet<Vec<u8>>) -> bool {
    hay.windows(16).any(|w| set.contains(w))
}

/// A card with `97 <domains>` whose domain `d` became the XKEK domain of `gsk`; PIN verified.
fn member(seed: u64, domains: u8, d: u8, gsk: &EcPrivateKey) -> TestCard {
    let mut c = fresh(seed, &format!("9701{domains:02X}"));
    login(&mut c);
    let point = device_point(&mut c);
    let (st, sw) = txb(&mut c, &domain_apdu(0x02, d, &kdm_data(gsk, &point)));
    assert_eq!((st, sw), (status_bytes(0xFF, 0, [0; 8], &uid_of(gsk)), 0x9000));
    c
}

// ---------------------------------------------------------------------------------------------
// 1. Upstream's KDM, replayed as upstream's test does.

#[test]
fn upstream_kdm_and_test_090_flow() {
    let (data, device_cert, gsk_point) = upstream_kdm();
    let uid = gsk_point[1..].to_vec();
    let mut c = fresh(1, "970101");
    // test_create_xkek: no PIN → 6985.
    refused(&mut c, &domain_apdu(0x02, 0, &data), 0x6985);
    login(&mut c);
    // Made for device ESPICOHSMTRJDG68, not for this one.
    refused(&mut c, &domain_apdu(0x02, 0, &data), 0x6985);
    // With that device's certificate first in C_DevAut (as if this were that device), it verifies.
    // Only the card writes 2F02 (UPDATE BINARY refuses it), so the test puts it in the store.
    {
        use hsm_card::Platform as _;
        c.platform_mut()
            .store()
            .write(0x2F02, &device_cert)
            .expect("write C_DevAut");
    }
    let (st, sw) = txb(&mut c, &domain_apdu(0x02, 0, &data));
    assert_eq!(sw, 0x9000);
    // kcv, did = status[2:10], status[10:]; did = GSK X ‖ Y.
    assert_eq!(st, status_bytes(0xFF, 0, [0; 8], &uid));
    assert_eq!(
        st[10..],
        h(
            "8b1f450912a2e4d428b7eefc5fa05618a9ef295e90009a61cbb0970181b333474ea94f94cde5a11aba0589e85d4225002789ff1cdcf25756f059647b49fc2a15"
        )
    );
    assert_eq!(domain(&mut c, 0), (st.clone(), 0x9000));

    // test_derive_xkek: generate_xkek_key = brainpoolP256r1, 91 01 84, 92 01 00.
    let req = gen_ec(&mut c, 1, Curve::BrainpoolP256r1, &h("910184 920100"));
    assert_eq!(fci_metadata(&mut c, 1), Some(h("910184 920100")));
    let peer = test_key(Curve::BrainpoolP256r1, 90);
    let cert = peer_cert(&peer.public_key().unwrap(), &uid, &peer);
    derive(&mut c, 1, &cert);
    let dkek = expected_dkek(&peer, &request_point(&req));
    let (st, sw) = domain(&mut c, 0);
    assert_eq!((st, sw), (status_bytes(0xFF, 0, kcv(&dkek), &uid), 0x9000));
    assert_ne!(kcv(&dkek), [0; 8]);

    // test_delete_xkek: P1 04 clears the DKEK, the domain and its UID stay.
    assert_eq!(tx(&mut c, "80520400"), (status_bytes(0xFF, 0, [0; 8], &uid), 0x9000));
    assert_eq!(domain(&mut c, 0), (status_bytes(0xFF, 0, [0; 8], &uid), 0x9000));

    // test_delete_domain_with_key: 6A89 until the key is gone.
    refused(&mut c, &h("80520300"), 0x6A89);
    assert_eq!(tx(&mut c, "00E40000 02 CC01").1, 0x9000);
    assert_eq!(tx(&mut c, "00E40000 02 CE01").1, 0x9000);
    // test_delete_domain: answered 6A88; then the domain is free (6A88).
    assert_eq!(tx(&mut c, "80520300"), (vec![], 0x6A88));
    assert_eq!(domain(&mut c, 0), (vec![], 0x6A88));
    assert!(
        !c.platform_mut().store().contains(0x1070),
        "the UID of a deleted domain"
    );
    assert!(
        !c.platform_mut().store().contains(0x1090),
        "the DKEK of a deleted domain"
    );
    refused(&mut c, &h("80520300"), 0x6A86);
}

// ---------------------------------------------------------------------------------------------
// 2. Creating XKEK domains.

#[test]
fn kdm_signed_for_this_device_creates_an_xkek_domain() {
    let gsk = test_key(Curve::BrainpoolP256r1, 10);
    let uid = uid_of(&gsk);
    assert_eq!(uid.len(), 64);
    let mut c = fresh(2, "970103");
    let point = device_point(&mut c);
    assert_eq!(point.len(), 65);
    let data = kdm_data(&gsk, &point);

    refused(&mut c, &domain_apdu(0x02, 1, &data), 0x6985);
    login(&mut c);
    // A signature over another device's X.
    let mut other = point.clone();
    other[1] ^= 1;
    refused(&mut c, &domain_apdu(0x02, 1, &kdm_data(&gsk, &other)), 0x6985);
    // A damaged signature.
    let mut bad = data.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    refused(&mut c, &domain_apdu(0x02, 1, &bad), 0x6985);
    // The signature of another key than the request's.
    let mut forged = gsk_request(&gsk);
    let x = &point[1..33];
    put(
        &mut forged,
        0x54,
        &sign_raw(&test_key(Curve::BrainpoolP256r1, 11), &sha256(&[&[0x54], x]), 5),
    );
    refused(&mut c, &domain_apdu(0x02, 1, &forged), 0x6985);
    // No signature, no data, a domain beyond the configured ones or beyond 16.
    refused(&mut c, &domain_apdu(0x02, 1, &gsk_request(&gsk)), 0x6700);
    refused(&mut c, &[0x80, 0x52, 0x02, 0x01], 0x6700);
    refused(&mut c, &domain_apdu(0x02, 3, &data), 0x6A86);
    refused(&mut c, &domain_apdu(0x02, 16, &data), 0x6B00);
    // A domain configured for shares is not made an XKEK domain.
    assert_eq!(txb(&mut c, &domain_apdu(0x01, 2, &[1])).1, 0x9000);
    refused(&mut c, &domain_apdu(0x02, 2, &data), 0x6A86);

    let (st, sw) = txb(&mut c, &domain_apdu(0x02, 1, &data));
    assert_eq!((st, sw), (status_bytes(0xFF, 0, [0; 8], &uid), 0x9000));
    // The same KDM again changes nothing; another group's does not replace the UID.
    assert_eq!(
        unchanged(&mut c, &domain_apdu(0x02, 1, &data)),
        (status_bytes(0xFF, 0, [0; 8], &uid), 0x9000)
    );
    let other_gsk = test_key(Curve::BrainpoolP256r1, 12);
    refused(&mut c, &domain_apdu(0x02, 1, &kdm_data(&other_gsk, &point)), 0x6A86);
    // The whole 67 works as well as its content (upstream looks into a 67 first).
    let mut whole = tlv_of(0x67, &gsk_request(&other_gsk));
    put(
        &mut whole,
        0x54,
        &sign_raw(&other_gsk, &sha256(&[&[0x54], &point[1..33]]), 6),
    );
    assert_eq!(
        txb(&mut c, &domain_apdu(0x02, 0, &whole)),
        (status_bytes(0xFF, 0, [0; 8], &uid_of(&other_gsk)), 0x9000)
    );

    // The status shows the UID without a PIN; the domain is not free.
    reselect(&mut c);
    assert_eq!(domain(&mut c, 1), (status_bytes(0xFF, 0, [0; 8], &uid), 0x9000));
    // An XKEK domain takes no shares and is not configured for shares.
    refused(&mut c, &domain_apdu(0x00, 0, &[7; 32]), 0x6986);
    login(&mut c);
    refused(&mut c, &domain_apdu(0x00, 1, &[7; 32]), 0x6986);
    refused(&mut c, &domain_apdu(0x01, 1, &[1]), 0x6A86);
    // WRAP needs a DKEK, which the domain does not have yet.
    gen_ec(&mut c, 1, Curve::Secp256r1, &h("920101"));
    refused(&mut c, &[0x80, 0x72, 0x01, 0x92, 0x00, 0x00, 0x00], 0x6A88);

    // The UID file is internal: neither readable nor selectable, even logged in.
    for f in [0x1070u16, 0x1071, 0x107F] {
        assert_eq!(read_binary(&mut c, f), (vec![], 0x6982), "READ BINARY {f:04X}");
        assert_eq!(txb(&mut c, &select_apdu(f)), (vec![], 0x6A82), "SELECT {f:04X}");
        assert_eq!(update_binary(&mut c, f, b"x"), 0x6982, "UPDATE BINARY {f:04X}");
    }
    assert_eq!(tx(&mut c, "00E40000 02 1071").1, 0x6982);

    // Survives a power cycle; INITIALIZE wipes it.
    let mut c = power_cycle(c, 2);
    assert_eq!(domain(&mut c, 1), (status_bytes(0xFF, 0, [0; 8], &uid), 0x9000));
    assert_eq!(txb(&mut c, &init_apdu(&h("970103"))).1, 0x9000);
    assert_eq!(domain(&mut c, 1), (vec![], 0x6A88));
    assert!(!c.platform_mut().store().contains(0x1071));
}

#[test]
fn gsks_on_every_weierstrass_curve_are_accepted() {
    let mut c = fresh(3, "970101");
    login(&mut c);
    let point = device_point(&mut c);
    for (i, curve) in [
        Curve::Secp192r1,
        Curve::Secp224r1,
        Curve::Secp256r1,
        Curve::Secp384r1,
        Curve::Secp521r1,
        Curve::BrainpoolP256r1,
        Curve::BrainpoolP384r1,
        Curve::BrainpoolP512r1,
        Curve::Secp192k1,
        Curve::Secp256k1,
    ]
    .into_iter()
    .enumerate()
    {
        let gsk = test_key(curve, 100 + i as u64);
        let (st, sw) = txb(&mut c, &domain_apdu(0x02, 0, &kdm_data(&gsk, &point)));
        assert_eq!(
            (st, sw),
            (status_bytes(0xFF, 0, [0; 8], &uid_of(&gsk)), 0x9000),
            "{curve:?}"
        );
        assert_eq!(tx(&mut c, "80520300").1, 0x6A88);
    }
    // Ed25519 is not a GSK (no 86 point, no ECDSA).
    let ed = test_key(Curve::Ed25519, 120);
    let mut pk = Vec::new();
    put(&mut pk, 0x06, &OID_ECDSA);
    put(&mut pk, 0x81, Curve::Ed25519.params().p);
    put(&mut pk, 0x86, &ed.public_key().unwrap());
    let mut body = Vec::new();
    put(&mut body, 0x7F49, &pk);
    let mut data = tlv_of(0x7F21, &tlv_of(0x7F4E, &body));
    put(
        &mut data,
        0x54,
        &ed.eddsa_sign(&sha256(&[&[0x54], &point[1..33]])).unwrap(),
    );
    refused(&mut c, &domain_apdu(0x02, 0, &data), 0x6985);
}

// ---------------------------------------------------------------------------------------------
// 3. XKEK keys and their requests.

#[test]
fn xkek_key_requests_carry_the_domain_uid() {
    let gsk = test_key(Curve::BrainpoolP256r1, 20);
    let uid = uid_of(&gsk);
    let mut c = member(4, 2, 0, &gsk);
    // 92 is required, and must name an XKEK domain.
    refused(&mut c, &keygen_apdu(1, Curve::BrainpoolP256r1, &h("910184")), 0x6700);
    refused(
        &mut c,
        &keygen_apdu(1, Curve::BrainpoolP256r1, &h("910184 920101")),
        0x6700,
    );
    refused(
        &mut c,
        &keygen_apdu(1, Curve::BrainpoolP256r1, &h("91027084 920110")),
        0x6700,
    );

    let req = gen_ec(&mut c, 1, Curve::BrainpoolP256r1, &h("910184 920100"));
    let (ce, sw) = read_binary(&mut c, 0xCE01);
    assert_eq!((sw, &ce), (0x9000, &req));

    // 67 { 7F21 { 7F4E { 5F29, 42, 7F49, 5F20, 65 }, 5F37 }, 42, 5F37 }
    let outer = items(find(&req, &[0x67]));
    assert_eq!(outer.iter().map(|i| i.0).collect::<Vec<_>>(), [0x7F21, 0x42, 0x5F37]);
    let inner = items(&outer[0].1);
    assert_eq!(inner.iter().map(|i| i.0).collect::<Vec<_>>(), [0x7F4E, 0x5F37]);
    let body = items(&inner[0].1);
    assert_eq!(
        body.iter().map(|i| i.0).collect::<Vec<_>>(),
        [0x5F29, 0x42, 0x7F49, 0x5F20, 0x65]
    );
    assert_eq!(body[1].1, b"UTCA00001");
    assert_eq!(body[3].1, b"UTCDUMMY00001");
    // Byte for byte as upstream's cmd_keypair_gen.c builds it.
    let mut want = h("6551 734F 060B 2B0601040181C31F030202 8040");
    want.extend_from_slice(&uid);
    assert_eq!(tlv_of(0x65, &body[4].1), want);

    // Both signatures cover the extension: the key's own over 7F4E, the device's over 7F21 ‖ 42.
    let body_tlv = tlv_of(0x7F4E, &inner[0].1);
    let point = request_point(&req);
    Curve::BrainpoolP256r1
        .verify_ecdsa_raw(&point, &sha256(&[&body_tlv]), &inner[1].1)
        .unwrap();
    let mut tbs = tlv_of(0x7F21, &outer[0].1);
    put(&mut tbs, 0x42, &outer[1].1);
    let device = p256::ecdsa::VerifyingKey::from_sec1_bytes(&device_point(&mut c)).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&outer[2].1).unwrap();
    device.verify_prehash(&sha256(&[&tbs]), &sig).unwrap();

    // Without 0x84 in the list, or for a list-less key: no extension.
    for extra in ["920100", "91017092 0100", ""] {
        let req = gen_ec(&mut c, 2, Curve::BrainpoolP256r1, &h(extra));
        let body = find(&req, &[0x67, 0x7F21, 0x7F4E]);
        assert_eq!(tlv::find(body, 0x65).unwrap(), None, "{extra}");
    }
    // Other curves: the UID is the same; a 521-bit key's request is still well formed.
    let req = gen_ec(&mut c, 3, Curve::Secp521r1, &h("910184 920100"));
    let body = find(&req, &[0x67, 0x7F21, 0x7F4E]);
    assert_eq!(find(body, &[0x65, 0x73, 0x80]), &uid[..]);
}

// ---------------------------------------------------------------------------------------------
// 4. Two devices, one group.

#[test]
fn two_members_derive_the_same_dkek_and_share_keys() {
    let gsk = test_key(Curve::BrainpoolP256r1, 30);
    let uid = uid_of(&gsk);
    let mut a = member(5, 2, 1, &gsk);
    let mut b = member(6, 2, 1, &gsk);
    // Each device's XKEK key, in the XKEK domain (the key may belong to any domain).
    let req_a = gen_ec(&mut a, 1, Curve::BrainpoolP256r1, &h("910184 920101"));
    let req_b = gen_ec(&mut b, 7, Curve::BrainpoolP256r1, &h("910184 920101"));
    assert_eq!(find(&req_a, &[0x67, 0x7F21, 0x7F4E, 0x65, 0x73, 0x80]), &uid[..]);

    // Each derives with the other's request (what the host forwards), a 67 the card looks into.
    derive(&mut a, 1, &req_b);
    derive(&mut b, 7, &req_a);
    let (st_a, sw) = domain(&mut a, 1);
    assert_eq!(sw, 0x9000);
    let (st_b, _) = domain(&mut b, 1);
    assert_eq!(st_a, st_b);
    assert_eq!(st_a[..2], [0xFF, 0x00]);
    assert_ne!(st_a[2..10], [0; 8]);
    assert_eq!(st_a[10..], uid[..]);
    // Domain 0 (free) is untouched.
    assert_eq!(domain(&mut a, 0), (vec![], 0x6A88));

    // A key of the domain, wrapped on A, unwraps on B (found by its KCV) and signs there.
    let req = gen_ec(&mut a, 2, Curve::Secp256r1, &h("920101"));
    let blob = wrapped(&mut a, 2);
    assert_eq!(blob[..8], st_a[2..10]);
    unwrap(&mut b, 3, &blob);
    assert_eq!(fci_metadata(&mut b, 3), Some(h("920101")));
    let hash = sha256(&[b"signed on B with A's key"]);
    let mut data = vec![];
    data.extend_from_slice(&hash);
    let (der, sw) = txb(&mut b, &apdu(0x80, 0x68, 3, 0x70, &data));
    assert_eq!(sw, 0x9000);
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&request_point(&req)).unwrap();
    vk.verify_prehash(&hash, &p256::ecdsa::Signature::from_der(&der).unwrap())
        .unwrap();
    // And back.
    let blob = wrapped(&mut b, 3);
    unwrap(&mut a, 4, &blob);

    // The DKEK is sealed under the MKEK: after a power cycle the KCV shows without a PIN, and
    // wrapping works once the PIN is verified.
    let mut a = power_cycle(a, 5);
    assert_eq!(domain(&mut a, 1), (st_a.clone(), 0x9000));
    refused(&mut a, &[0x80, 0x72, 0x02, 0x92, 0x00, 0x00, 0x00], 0x6982);
    login(&mut a);
    assert_eq!(wrapped(&mut a, 2)[..8], st_a[2..10]);

    // A third party's certificate on A's key gives the DKEK the test computes.
    let peer = test_key(Curve::BrainpoolP256r1, 31);
    derive(&mut a, 1, &peer_cert(&peer.public_key().unwrap(), &uid, &peer));
    let dkek = expected_dkek(&peer, &request_point(&req_a));
    assert_eq!(domain(&mut a, 1), (status_bytes(0xFF, 0, kcv(&dkek), &uid), 0x9000));
    // It is nowhere in flash or in any answer in the clear.
    let secret = windows16(&dkek);
    let [main, counters] = flash_images(&mut a);
    assert!(!contains_any(&main, &secret) && !contains_any(&counters, &secret));
    let fids: Vec<u16> = a.platform_mut().store().fids().collect();
    for f in fids {
        for q in [read_binary_apdu(f), select_apdu(f)] {
            assert!(!contains_any(&txb(&mut a, &q).0, &secret), "{}", hex::encode(&q));
        }
    }
}

#[test]
fn montgomery_and_large_curves_derive() {
    let gsk = test_key(Curve::Secp256r1, 40);
    let uid = uid_of(&gsk);
    let mut c = member(7, 1, 0, &gsk);
    // brainpoolP512r1: the first 32 bytes of X.
    let req = gen_ec(&mut c, 1, Curve::BrainpoolP512r1, &h("910184 920100"));
    let peer = test_key(Curve::BrainpoolP512r1, 41);
    derive(&mut c, 1, &peer_cert(&peer.public_key().unwrap(), &uid, &peer));
    let dkek = expected_dkek(&peer, &request_point(&req));
    assert_eq!(domain(&mut c, 0), (status_bytes(0xFF, 0, kcv(&dkek), &uid), 0x9000));

    // X25519: the raw secret; the peer's key travels in 86 as upstream reads it.
    let mut t = Vec::new();
    put(&mut t, 0x06, &OID_ECDSA);
    put(&mut t, 0x81, Curve::X25519.params().p);
    put(&mut t, 0x83, Curve::X25519.params().g);
    let (req, sw) = txb(&mut c, &apdu(0x00, 0x46, 2, 0, &keygen_data(&t, &h("910184 920100"))));
    assert_eq!(sw, 0x9000);
    let own = find(&req, &[0x67, 0x7F21, 0x7F4E, 0x7F49, 0x84]).to_vec();
    let peer = test_key(Curve::X25519, 42);
    let signer = test_key(Curve::Secp256r1, 43);
    derive(&mut c, 2, &peer_cert(&peer.public_key().unwrap(), &uid, &signer));
    let shared = peer.ecdh(&own).unwrap();
    let want: [u8; 32] = shared[..32].try_into().unwrap();
    assert_eq!(domain(&mut c, 0), (status_bytes(0xFF, 0, kcv(&want), &uid), 0x9000));
}

// ---------------------------------------------------------------------------------------------
// 5. Refusals.

#[test]
fn refused_derivations_change_nothing() {
    let gsk = test_key(Curve::BrainpoolP256r1, 50);
    let uid = uid_of(&gsk);
    let mut c = member(8, 2, 0, &gsk);
    let req = gen_ec(&mut c, 1, Curve::BrainpoolP256r1, &h("9004 00000002 910184 920100"));
    let peer = test_key(Curve::BrainpoolP256r1, 51);
    let point = peer.public_key().unwrap();
    let good = peer_cert(&point, &uid, &peer);

    // A UID no domain has.
    let mut other = uid.clone();
    other[0] ^= 1;
    refused(&mut c, &derive_apdu(1, &peer_cert(&point, &other, &peer)), 0x6A88);
    // A point not on the key's curve, or on another curve.
    let mut off = point.clone();
    off[64] ^= 1;
    refused(&mut c, &derive_apdu(1, &peer_cert(&off, &uid, &peer)), 0x6700);
    let p256_point = test_key(Curve::Secp256r1, 52).public_key().unwrap();
    refused(&mut c, &derive_apdu(1, &peer_cert(&p256_point, &uid, &peer)), 0x6700);
    // No extension, no UID, no point, no certificate.
    let mut pk = Vec::new();
    put(&mut pk, 0x06, &OID_ECDSA);
    put(&mut pk, 0x86, &point);
    let mut body = Vec::new();
    put(&mut body, 0x7F49, &pk);
    let no_ext = tlv_of(0x7F21, &tlv_of(0x7F4E, &body));
    refused(&mut c, &derive_apdu(1, &no_ext), 0x6700);
    let mut other_ext = body.clone();
    put(&mut other_ext, 0x65, &h("7305 0603 2A0304"));
    refused(
        &mut c,
        &derive_apdu(1, &tlv_of(0x7F21, &tlv_of(0x7F4E, &other_ext))),
        0x6700,
    );
    let mut empty_uid = body.clone();
    let mut ext = tlv_of(0x06, &OID_KEY_DOMAIN_UID);
    put(&mut ext, 0x80, &[]);
    put(&mut empty_uid, 0x65, &tlv_of(0x73, &ext));
    refused(
        &mut c,
        &derive_apdu(1, &tlv_of(0x7F21, &tlv_of(0x7F4E, &empty_uid))),
        0x6700,
    );
    refused(&mut c, &derive_apdu(1, &[]), 0x6700);
    refused(&mut c, &derive_apdu(1, &h("7F2103 010203")), 0x6700);
    refused(&mut c, &derive_apdu(1, &h("7F21FF")), 0x6700);

    // Keys that may not, or cannot, agree.
    gen_ec(&mut c, 2, Curve::BrainpoolP256r1, &h("910180 920100"));
    refused(&mut c, &derive_apdu(2, &good), 0x6985);
    gen_ec(&mut c, 3, Curve::Secp192r1, &h("910184 920100"));
    let p192 = test_key(Curve::Secp192r1, 53);
    refused(
        &mut c,
        &derive_apdu(3, &peer_cert(&p192.public_key().unwrap(), &uid, &p192)),
        0x6A81,
    );
    refused(&mut c, &derive_apdu(9, &good), 0x6A82);
    refused(&mut c, &derive_apdu(0, &good), 0x6982);
    reselect(&mut c);
    refused(&mut c, &derive_apdu(1, &good), 0x6982);
    login(&mut c);

    // The use counter: each derivation spends one.
    derive(&mut c, 1, &good);
    assert_eq!(&fci_metadata(&mut c, 1).unwrap()[..6], &h("9004 00000001")[..]);
    let dkek = expected_dkek(&peer, &request_point(&req));
    assert_eq!(domain(&mut c, 0), (status_bytes(0xFF, 0, kcv(&dkek), &uid), 0x9000));
    derive(&mut c, 1, &good);
    refused(&mut c, &derive_apdu(1, &good), 0x6A84);
}
