//! Keys OpenSC cannot reach, through PC/SC APDUs (`apdu-script`): Ed25519 and Ed448 key generation and
//! pure EdDSA (COMPUTE SIGNATURE P2 70, and 73 over the on-card SHA-256), X25519 and X448 ECDH (DECIPHER
//! P2 80), and secp224r1 (which OpenSC 0.23 has no keygen template for) with ECDSA and ECDH. Every public
//! key comes from the CV request the card answers; every result is checked by `openssl`.

use std::path::PathBuf;

use hsm_apdu::tlv;
use hsm_e2e::{Env, SELECT_APDU, apdu_script_binary, assert_same_bytes, path_str, verify_apdu};

/// id-TA-ECDSA-SHA-256 (BSI TR-03110), the OID OpenSC puts in EC keygen templates.
const OID_TA_ECDSA_SHA256: &str = "04007F00070202020203";

/// Field primes (big-endian, as in the `81` tag) and generators (`83`) of the templates.
const P25519: &str = "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed";
const G_X25519: &str = "0900000000000000000000000000000000000000000000000000000000000000";
const G_ED25519: &str = "5866666666666666666666666666666666666666666666666666666666666666";
const P448: &str =
    "fffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const G_X448: &str =
    "0500000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
const G_ED448: &str = "14fa30f25b790898adc8d74e2c13bdfdc4397ce61cffd33ad7c2a0051e9c78874098a36c7373ea4b62c7c9563720768824bcb66e71463f6900";
const P224: &str = "ffffffffffffffffffffffffffffffff000000000000000000000001";

/// SubjectPublicKeyInfo DER prefixes for a raw public key (RFC 8410, RFC 5480 for P-224).
const SPKI_ED25519: &str = "302a300506032b6570032100";
const SPKI_ED448: &str = "3043300506032b6571033a00";
const SPKI_X25519: &str = "302a300506032b656e032100";
const SPKI_X448: &str = "3042300506032b656f033900";
const SPKI_P224: &str = "304e301006072a8648ce3d020106052b81040021033a00";

/// The value of the first top-level TLV with `tag` in `data` (hsm-apdu's BER-TLV reader); panics when
/// missing or malformed.
fn find(data: &[u8], tag: u16) -> &[u8] {
    tlv::find(data, tag)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("tag {tag:X} missing in {}", hex::encode(data)))
}

/// `tag ‖ length ‖ value` again, for a TLV found by [`find`] (what a signature covers).
fn encoded(tag: u16, value: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 7];
    let mut v = tlv::header(tag, value.len(), &mut header).to_vec();
    v.extend_from_slice(value);
    v
}

/// An extended-length command APDU with Le = maximum (responses can exceed 256 bytes).
fn apdu(header: &str, data: &[u8]) -> String {
    format!("{header}00{:04X}{}0000", data.len(), hex::encode(data))
}

fn tlv(tag: &str, value: &[u8]) -> Vec<u8> {
    let tag = u16::from_str_radix(tag, 16).unwrap();
    encoded(tag, value)
}

/// The GENERATE ASYMMETRIC KEY PAIR data for the curve with prime `p` and generator `g` (if any).
fn ec_template(p: &str, g: Option<&str>) -> Vec<u8> {
    let mut t = tlv("06", &hex::decode(OID_TA_ECDSA_SHA256).unwrap());
    t.extend(tlv("81", &hex::decode(p).unwrap()));
    if let Some(g) = g {
        t.extend(tlv("83", &hex::decode(g).unwrap()));
    }
    tlv("7F49", &t)
}

/// A card with the user PIN verified before every script.
struct Card {
    env: Env,
}

impl Card {
    fn start() -> Option<Self> {
        let env = Env::start()?;
        env.initialize();
        Some(Self { env })
    }

    /// Runs `apdus` after SELECT and VERIFY; returns each response split into data and SW.
    fn send(&self, apdus: &[String]) -> Vec<(Vec<u8>, String)> {
        let mut all = vec![SELECT_APDU.to_string(), verify_apdu()];
        all.extend_from_slice(apdus);
        let responses = self.env.apdu_script(apdu_script_binary!(), 0, &all);
        assert_eq!(responses.len(), all.len(), "responses: {responses:?}");
        assert_eq!(responses[..2], ["9000", "9000"], "SELECT / VERIFY");
        responses[2..]
            .iter()
            .map(|r| {
                let (data, sw) = r.split_at(r.len() - 4);
                (hex::decode(data).unwrap(), sw.to_string())
            })
            .collect()
    }

    /// One APDU; panics unless it answers 9000.
    fn ok(&self, apdu: String) -> Vec<u8> {
        let (data, sw) = self.send(std::slice::from_ref(&apdu)).remove(0);
        assert_eq!(sw, "9000", "{apdu} answered {sw}\n{}", self.env.diagnostics());
        data
    }

    /// Generates key `id` from `template`; returns the CV request's `7F49` public key template value and
    /// the inner request (`7F21`) value.
    fn generate(&self, id: u8, template: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let response = self.ok(apdu(&format!("0046{id:02X}00"), template));
        let inner = find(find(&response, 0x67), 0x7F21);
        let public = find(find(inner, 0x7F4E), 0x7F49);
        (public.to_vec(), inner.to_vec())
    }

    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        self.env.write_file(name, content)
    }

    fn openssl(&self, args: &[&str]) -> hsm_e2e::Output {
        self.env.openssl(args)
    }

    /// An openssl key on `algorithm` (genpkey arguments) and its raw public key (the last `len` bytes
    /// of its DER SubjectPublicKeyInfo).
    fn peer(&self, name: &str, genpkey: &[&str], len: usize) -> (PathBuf, Vec<u8>) {
        let key = self.env.dir().join(format!("{name}.pem"));
        let der = self.env.dir().join(format!("{name}.der"));
        let mut args = vec!["genpkey"];
        args.extend_from_slice(genpkey);
        let key_s = path_str(&key);
        args.extend(["-out", &key_s]);
        self.openssl(&args).ok();
        self.openssl(&[
            "pkey",
            "-in",
            &key_s,
            "-pubout",
            "-outform",
            "DER",
            "-out",
            &path_str(&der),
        ])
        .ok();
        let der = std::fs::read(der).unwrap();
        (key, der[der.len() - len..].to_vec())
    }

    /// openssl's shared secret between its key `peer` and our public key (DER SPKI file).
    fn openssl_derive(&self, peer: &std::path::Path, public_der: &std::path::Path) -> Vec<u8> {
        let out = self.env.dir().join("openssl.secret");
        self.openssl(&[
            "pkeyutl",
            "-derive",
            "-inkey",
            &path_str(peer),
            "-peerkey",
            &path_str(public_der),
            "-peerform",
            "DER",
            "-out",
            &path_str(&out),
        ])
        .ok();
        std::fs::read(out).unwrap()
    }

    /// `openssl pkeyutl -verify -rawin` of an EdDSA signature over `message`.
    fn verify_eddsa(&self, name: &str, public_der: &std::path::Path, message: &[u8], sig: &[u8]) {
        let msg = self.file(&format!("{name}.msg"), message);
        let sig = self.file(&format!("{name}.sig"), sig);
        self.openssl(&[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            &path_str(public_der),
            "-keyform",
            "DER",
            "-rawin",
            "-in",
            &path_str(&msg),
            "-sigfile",
            &path_str(&sig),
        ])
        .ok()
        .expect("Signature Verified Successfully");
    }
}

/// Ed25519 / Ed448: keygen from the (prime, Edwards generator) template; the CV request carries the
/// RFC 8032 public key in `84` and an inner self-signature openssl verifies; pure EdDSA over data
/// (P2 70) and over its on-card SHA-256 (P2 73) verified by openssl; a signature over other data fails.
fn eddsa(curve: &str, p: &str, g: &str, spki: &str, key_len: usize, sig_len: usize) {
    let Some(card) = Card::start() else { return };
    let (public_template, inner) = card.generate(1, &ec_template(p, Some(g)));
    let public = find(&public_template, 0x84).to_vec();
    assert_eq!(public.len(), key_len, "{curve} public key length");
    assert_same_bytes(
        &format!("{curve} prime in the CV request"),
        find(&public_template, 0x81),
        &hex::decode(p).unwrap(),
    );
    let public_der = card.file(&format!("{curve}.der"), &[hex::decode(spki).unwrap(), public].concat());
    card.openssl(&[
        "pkey",
        "-pubin",
        "-inform",
        "DER",
        "-in",
        &path_str(&public_der),
        "-noout",
    ])
    .ok();

    // The proof of possession: EdDSA over the certificate body.
    let body = encoded(0x7F4E, find(&inner, 0x7F4E));
    let self_sig = find(&inner, 0x5F37).to_vec();
    assert_eq!(self_sig.len(), sig_len, "{curve} self-signature length");
    card.verify_eddsa(&format!("{curve}-self"), &public_der, &body, &self_sig);

    let data = b"pure EdDSA on the card, verified by openssl".to_vec();
    let sig = card.ok(apdu("80680170", &data));
    assert_eq!(sig.len(), sig_len, "{curve} signature length");
    card.verify_eddsa(&format!("{curve}-70"), &public_der, &data, &sig);

    // P2 73: EdDSA over SHA-256(data) computed on the card.
    let sig = card.ok(apdu("80680173", &data));
    let data_path = card.file(&format!("{curve}.data"), &data);
    let hash_path = data_path.with_extension("sha256");
    card.openssl(&[
        "dgst",
        "-sha256",
        "-binary",
        "-out",
        &path_str(&hash_path),
        &path_str(&data_path),
    ])
    .ok();
    let hash = std::fs::read(hash_path).unwrap();
    card.verify_eddsa(&format!("{curve}-73"), &public_der, &hash, &sig);

    // Not vacuous: the P2 70 signature does not verify other data.
    let sig = card.ok(apdu("80680170", &data));
    let msg = card.file("other.msg", b"other data");
    let sig = card.file("other.sig", &sig);
    card.openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        &path_str(&public_der),
        "-keyform",
        "DER",
        "-rawin",
        "-in",
        &path_str(&msg),
        "-sigfile",
        &path_str(&sig),
    ])
    .failed();
}

#[test]
fn ed25519_keygen_and_eddsa_verified_by_openssl() {
    eddsa("Ed25519", P25519, G_ED25519, SPKI_ED25519, 32, 64);
}

#[test]
fn ed448_keygen_and_eddsa_verified_by_openssl() {
    eddsa("Ed448", P448, G_ED448, SPKI_ED448, 57, 114);
}

/// X25519 / X448: keygen from the (prime, Montgomery u = 9 / 5) template; DECIPHER P2 80 with an
/// openssl peer's raw public key answers `04 ‖ secret` equal to openssl's derivation against the
/// card's public key from the CV request; a low-order peer and a signature request are refused.
fn xdh(curve: &str, p: &str, g: &str, spki: &str, len: usize) {
    let Some(card) = Card::start() else { return };
    let (public_template, _) = card.generate(1, &ec_template(p, Some(g)));
    let public = find(&public_template, 0x84).to_vec();
    assert_eq!(public.len(), len, "{curve} public key length");
    let public_der = card.file(&format!("{curve}.der"), &[hex::decode(spki).unwrap(), public].concat());
    let (peer, peer_public) = card.peer("peer", &["-algorithm", curve], len);
    let got = card.ok(apdu("80620180", &peer_public));
    let want = card.openssl_derive(&peer, &public_der);
    assert_eq!(want.len(), len);
    assert_eq!(got.first(), Some(&0x04), "{curve} ECDH output does not start with 04");
    assert_same_bytes(&format!("{curve} shared secret"), &got[1..], &want);

    // A low-order peer (u = 0) would give an all-zero secret: refused as bad input (6700, docs/card.md).
    let (_, sw) = card.send(&[apdu("80620180", &vec![0; len])]).remove(0);
    assert_eq!(sw, "6700", "{curve} ECDH with the low-order point u = 0");

    // A signature with a Montgomery key is refused: 6A81, function not supported (docs/card.md).
    let (_, sw) = card.send(&[apdu("80680170", b"data")]).remove(0);
    assert_eq!(sw, "6A81", "{curve} key asked to sign");
}

#[test]
fn x25519_keygen_and_ecdh_equal_to_openssl() {
    xdh("X25519", P25519, G_X25519, SPKI_X25519, 32);
}

#[test]
fn x448_keygen_and_ecdh_equal_to_openssl() {
    xdh("X448", P448, G_X448, SPKI_X448, 56);
}

/// secp224r1, which OpenSC cannot generate: keygen from a template with only the prime; ECDSA over a
/// SHA-224 hash (P2 70) and with on-card SHA-256 (P2 73) verified by openssl; ECDH (P2 80) answers
/// `04 ‖ X` with X equal to openssl's shared secret; a peer point off the curve is refused.
#[test]
fn secp224r1_keygen_ecdsa_and_ecdh_through_apdus() {
    let Some(card) = Card::start() else { return };
    let (public_template, _) = card.generate(1, &ec_template(P224, None));
    let point = find(&public_template, 0x86).to_vec();
    assert_eq!(point.len(), 57, "P-224 point length");
    assert_eq!(point[0], 0x04);
    let public_der = card.file("p224.der", &[hex::decode(SPKI_P224).unwrap(), point].concat());
    let public_s = path_str(&public_der);
    card.openssl(&[
        "pkey",
        "-pubin",
        "-inform",
        "DER",
        "-in",
        &public_s,
        "-noout",
        "-text_pub",
    ])
    .ok()
    .expect("secp224r1");

    let data = card.file("data.txt", b"ECDSA on secp224r1 through PC/SC");
    let data_s = path_str(&data);
    let hash = card.env.dir().join("data.sha224");
    card.openssl(&["dgst", "-sha224", "-binary", "-out", &path_str(&hash), &data_s])
        .ok();
    let sig = card.ok(apdu("80680170", &std::fs::read(&hash).unwrap()));
    let sig_path = card.file("sig70.der", &sig);
    card.openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        &public_s,
        "-keyform",
        "DER",
        "-in",
        &path_str(&hash),
        "-sigfile",
        &path_str(&sig_path),
    ])
    .ok()
    .expect("Signature Verified Successfully");

    let sig = card.ok(apdu("80680173", &std::fs::read(&data).unwrap()));
    let sig_path = card.file("sig73.der", &sig);
    card.openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        &public_s,
        "-keyform",
        "DER",
        "-signature",
        &path_str(&sig_path),
        &data_s,
    ])
    .ok()
    .expect("Verified OK");

    let (peer, peer_point) = card.peer(
        "peer",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp224r1"],
        57,
    );
    let got = card.ok(apdu("80620180", &peer_point));
    let want = card.openssl_derive(&peer, &public_der);
    assert_eq!(want.len(), 28);
    assert_eq!(got.first(), Some(&0x04));
    assert_same_bytes("P-224 shared secret", &got[1..], &want);

    // A point off the curve (last byte of Y changed) is refused as bad input (6700, docs/card.md).
    let mut off_curve = peer_point.clone();
    off_curve[56] ^= 1;
    let (_, sw) = card.send(&[apdu("80620180", &off_curve)]).remove(0);
    assert_eq!(sw, "6700", "ECDH with a point off secp224r1");
}
