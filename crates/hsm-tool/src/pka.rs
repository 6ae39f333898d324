//! Public key authentication (reference §3.9, §3.21, §3.23, §3.24): PUK AUTH (80 54) status and
//! registration, and the login — GET CHALLENGE, MSE SET AT `83 <CHR>`, EXTERNAL AUTHENTICATE with the
//! PUK owner's ECDSA signature (raw r‖s) over SHA-256(device CHR ‖ challenge), as pypicohsm does —
//! with P-256 keys from PEM files. Also the authenticated CV request (`67`) of such a key, for
//! registering it.

use std::path::Path;

use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};

use crate::Error;
use crate::card::{CardError, Client, Command, Transport};

/// id-TA-ECDSA-SHA-256.
const OID_TA_ECDSA_SHA256: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03];
/// P-256 domain parameters as CV public key template tags 81-85 (BSI TR-03110 part 3, D.3).
const P256_DOMAIN: [(u16, &str); 5] = [
    (0x81, "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF"),
    (0x82, "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC"),
    (0x83, "5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B"),
    (
        0x84,
        "046B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C2964FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5",
    ),
    (0x85, "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"),
];

fn put(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    let mut hdr = [0u8; 7];
    out.extend_from_slice(hsm_apdu::tlv::header(tag, value.len(), &mut hdr));
    out.extend_from_slice(value);
}

fn tlv(tag: u16, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    put(&mut v, tag, value);
    v
}

/// A P-256 private key from a PEM file: PKCS#8 (`BEGIN PRIVATE KEY`, `openssl genpkey`) or SEC1
/// (`BEGIN EC PRIVATE KEY`, `openssl ecparam -genkey`).
pub fn load_key(path: &Path) -> Result<SigningKey, Error> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| Error::Input(format!("cannot read {}: {e}", path.display())))?,
    );
    // `openssl ecparam -genkey` puts an EC PARAMETERS block first.
    let start = text.find("-----BEGIN EC PRIVATE KEY-----");
    let sk = match start {
        Some(at) => {
            let block = text.get(at..).unwrap_or_default();
            p256::SecretKey::from_sec1_pem(block).ok().map(|k| SigningKey::from(&k))
        }
        None => p256::SecretKey::from_pkcs8_pem(&text)
            .ok()
            .map(|k| SigningKey::from(&k)),
    };
    sk.ok_or_else(|| {
        Error::Input(format!(
            "{}: not a P-256 private key in PEM (PKCS#8 or SEC1; `openssl genpkey -algorithm EC -pkeyopt \
             ec_paramgen_curve:P-256` makes one)",
            path.display()
        ))
    })
}

/// Checks a CHR (holder reference): 1 to 16 printable ASCII characters.
pub fn check_chr(chr: &str) -> Result<(), Error> {
    if chr.is_empty() || chr.len() > 16 || !chr.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Input(format!(
            "CHR {chr:?}: give 1 to 16 printable characters, for example ESPUK00001"
        )));
    }
    Ok(())
}

/// The authenticated CV request (`67 { 7F21 inner ‖ 42 CAR ‖ 5F37 signature }`) of `key` with holder
/// reference `chr`: the inner request self-signed (proof of possession), the outer signature by the
/// same key with `chr` as its CAR — no device vouches for a key made outside one, so the card checks
/// the inner signature only. Signatures are ECDSA-SHA-256, raw r‖s, as in CV certificates.
pub fn request(key: &SigningKey, chr: &str) -> Vec<u8> {
    let mut template = tlv(0x06, &OID_TA_ECDSA_SHA256);
    for (tag, hexv) in P256_DOMAIN {
        put(&mut template, tag, &hex::decode(hexv).unwrap_or_default());
    }
    put(&mut template, 0x86, key.verifying_key().to_sec1_point(false).as_bytes());
    put(&mut template, 0x87, &[0x01]);
    let mut body = tlv(0x5F29, &[0x00]);
    put(&mut body, 0x42, b"UTCA00001");
    put(&mut body, 0x7F49, &template);
    put(&mut body, 0x5F20, chr.as_bytes());
    let body = tlv(0x7F4E, &body);
    let inner_sig: p256::ecdsa::Signature = key.sign(&body);
    let mut inner = body;
    put(&mut inner, 0x5F37, &inner_sig.to_bytes());
    let mut content = tlv(0x7F21, &inner);
    put(&mut content, 0x42, chr.as_bytes());
    let outer_sig: p256::ecdsa::Signature = key.sign(&content);
    put(&mut content, 0x5F37, &outer_sig.to_bytes());
    tlv(0x67, &content)
}

/// What PUK AUTH reports.
#[derive(Clone, Debug)]
pub struct Status {
    pub puks: u8,
    pub remaining: u8,
    pub required: u8,
    pub authenticated: u8,
    /// Per PUK slot: its CHR when registered, and whether it authenticated in this session.
    pub keys: Vec<(Option<String>, bool)>,
}

impl Status {
    pub fn json(&self) -> Value {
        json!({
            "puks": self.puks,
            "registered": self.puks.saturating_sub(self.remaining),
            "remaining": self.remaining,
            "required": self.required,
            "authenticated": self.authenticated,
            "keys": self.keys.iter().enumerate().map(|(i, (chr, auth))| json!({
                "index": i,
                "registered": chr.is_some(),
                "chr": chr,
                "authenticated": auth,
            })).collect::<Vec<_>>(),
        })
    }
}

fn not_set_up(e: crate::card::Error) -> Error {
    match e.sw() {
        Some(0x6A86 | 0x6A82) => Error::Input(format!(
            "{e}: public key authentication is not set up on this device (init --pka N-of-M)"
        )),
        _ => e.into(),
    }
}

/// PUK AUTH status (`80 54 00 00`, then `80 54 02 <i>` per PUK: its CHR, SW 9001 when authenticated).
pub fn status<T: Transport>(c: &mut Client<T>) -> Result<Status, Error> {
    let data = c
        .call("PUK AUTH status", &Command::new(0x80, 0x54, 0x00, 0x00).ne(256))
        .map_err(not_set_up)?;
    let [puks, remaining, required, authenticated] = data.as_slice() else {
        return Err(Error::Input(format!(
            "PUK AUTH status of {} bytes (expected 4)",
            data.len()
        )));
    };
    let mut keys = Vec::new();
    for i in 0..*puks {
        let r = c.transmit(&Command::new(0x80, 0x54, 0x02, i).ne(256))?;
        keys.push(match r.sw {
            0x9000 | 0x9001 => (Some(String::from_utf8_lossy(&r.data).into_owned()), r.sw == 0x9001),
            0x6A88 => (None, false),
            sw => {
                return Err(crate::card::Error::Status(CardError {
                    command: "PUK AUTH key status",
                    sw,
                })
                .into());
            }
        });
    }
    Ok(Status {
        puks: *puks,
        remaining: *remaining,
        required: *required,
        authenticated: *authenticated,
        keys,
    })
}

/// PUK AUTH register (`80 54 00 00 <data>`): `data` is an authenticated request (`67…`, or its
/// content), or sc-hsm-tool's `--export-for-pub-key-auth` file (`30 { 67…, 7F21…, 7F21… }`). Needs
/// a PIN session.
pub fn register<T: Transport>(c: &mut Client<T>, data: &[u8]) -> Result<(), Error> {
    if !matches!(data.first(), Some(0x30 | 0x67 | 0x7F)) {
        return Err(Error::Input(
            "not a CV request: expected an authenticated request (67…) or sc-hsm-tool's \
             --export-for-pub-key-auth file"
                .into(),
        ));
    }
    c.call(
        "PUK AUTH register",
        &Command::new(0x80, 0x54, 0x00, 0x00).data(data).ne(256),
    )
    .map(drop)
    .map_err(|e| match e.sw() {
        Some(0x6A84) => Error::Input(format!("{e}: every PUK slot is registered")),
        Some(0x6985) => Error::Input(format!("{e}: a signature in the request does not verify")),
        Some(0x6984 | 0x6A80) => Error::Input(format!("{e}: the request is malformed")),
        _ => not_set_up(e),
    })
}

/// Who signs a PKA login: a P-256 key from a PEM file, or a P-256 key on another SmartCard-HSM.
pub enum Signer {
    Pem(SigningKey),
    /// Key `slot` of the card in `reader`, used with its user `pin`.
    Card {
        reader: String,
        slot: u8,
        pin: zeroize::Zeroizing<Vec<u8>>,
    },
}

/// Raw `r ‖ s` (each `n` bytes) of a DER ECDSA-Sig-Value.
pub fn der_to_raw(der: &[u8], n: usize) -> Result<Vec<u8>, Error> {
    let bad = || Error::Input("the card's ECDSA signature is not DER".into());
    let (seq, rest) = crate::der::split(der).ok_or_else(bad)?;
    let ints = crate::der::children(seq.value).ok_or_else(bad)?;
    if seq.tag != 0x30 || !rest.is_empty() || ints.len() != 2 {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(2 * n);
    for i in &ints {
        let v = i.value;
        let v = &v[v.iter().position(|b| *b != 0).unwrap_or(v.len())..];
        if i.tag != 0x02 || v.len() > n {
            return Err(bad());
        }
        out.resize(out.len() + n - v.len(), 0);
        out.extend_from_slice(v);
    }
    Ok(out)
}

impl Signer {
    /// The ECDSA-SHA-256 signature of `msg`, raw r‖s.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            Signer::Pem(key) => {
                let sig: p256::ecdsa::Signature = key.sign(msg);
                Ok(sig.to_bytes().to_vec())
            }
            Signer::Card { reader, slot, pin } => {
                use sha2::Digest as _;
                let hash = sha2::Sha256::digest(msg);
                let mut conn = crate::card::reader::Connection::open(Some(reader))?;
                let der = conn.with_transaction(|t| {
                    let mut c = Client::new(t);
                    crate::cli::open(&mut c, Some(pin))?;
                    // ECDSA over the hash as given (algorithm 70).
                    crate::admin::sign(&mut c, *slot, 0x70, &hash).map_err(Error::from)
                })?;
                der_to_raw(&der, 32)
            }
        }
    }
}

/// The CHR of the request a card keeps for key `slot` (`CExx`: `67 { 7F21 { 7F4E { … 5F20 } } }`),
/// the one it is registered under after `pka export`.
pub fn card_key_chr<T: Transport>(c: &mut Client<T>, slot: u8) -> Result<String, Error> {
    let cert = crate::hsm::read_file_opt(c, crate::hsm::fid(crate::hsm::prefix::EE_CERT, slot))?
        .ok_or_else(|| Error::Input(format!("key {slot:02X} has no CV request (CE{slot:02X})")))?;
    let find = |d: &[u8], t: u16| hsm_apdu::tlv::find(d, t).ok().flatten().map(<[u8]>::to_vec);
    find(&cert, 0x67)
        .and_then(|r| find(&r, 0x7F21))
        .and_then(|i| find(&i, 0x7F4E))
        .and_then(|b| find(&b, 0x5F20))
        .map(|chr| String::from_utf8_lossy(&chr).into_owned())
        .ok_or_else(|| Error::Input(format!("CE{slot:02X} is not a CV request (67): it cannot be a PUK")))
}

/// `pka export`: sc-hsm-tool's `--export-for-pub-key-auth` file for key `slot` of this card,
/// `30 { CExx (the authenticated request 67…) ‖ C_DevAut (the device certificate chain) }`, which
/// another device registers, checking the request's signature with the certificate.
pub fn export<T: Transport>(c: &mut Client<T>, slot: u8) -> Result<Vec<u8>, Error> {
    card_key_chr(c, slot)?;
    let req = crate::hsm::read_file_opt(c, crate::hsm::fid(crate::hsm::prefix::EE_CERT, slot))?.unwrap_or_default();
    let chain = crate::hsm::read_file(c, crate::hsm::FID_C_DEVAUT)?;
    let mut body = req;
    body.extend_from_slice(&chain);
    Ok(tlv(0x30, &body))
}

/// One PKA login: GET CHALLENGE (8 bytes), MSE SET AT `83 <chr>`, EXTERNAL AUTHENTICATE with `key`'s
/// signature over SHA-256(`device_chr` ‖ challenge). `keys` sign the same challenge, in order.
pub fn login<T: Transport>(c: &mut Client<T>, device_chr: &[u8], keys: &[(Signer, String)]) -> Result<(), Error> {
    let challenge = c.call("GET CHALLENGE", &Command::new(0x00, 0x84, 0x00, 0x00).ne(8))?;
    for (key, chr) in keys {
        let mut mse = Vec::new();
        put(&mut mse, 0x83, chr.as_bytes());
        c.call("MSE SET AT", &Command::new(0x00, 0x22, 0x81, 0xA4).data(&mse))
            .map_err(|e| match e.sw() {
                Some(0x6A88) => Error::Input(format!("{e}: no registered PUK has the CHR {chr:?} (see pka status)")),
                Some(0x6985) => Error::Input(format!("{e}: the PUK {chr:?} is authenticated already")),
                _ => e.into(),
            })?;
        let sig = key.sign(&[device_chr, &challenge].concat())?;
        c.call(
            "EXTERNAL AUTHENTICATE",
            &Command::new(0x00, 0x82, 0x00, 0x00).data(&sig),
        )
        .map_err(|e| match e.sw() {
            Some(0x6985) => Error::Input(format!(
                "{e}: the signature does not verify: this key is not the one registered as {chr:?}"
            )),
            _ => e.into(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_signatures_become_raw() {
        let key = SigningKey::from_slice(&[0x42; 32]).unwrap();
        for msg in [&b"a"[..], b"b", b"c", b"d"] {
            let sig: p256::ecdsa::Signature = key.sign(msg);
            let der = sig.to_der();
            assert_eq!(der_to_raw(der.as_bytes(), 32).unwrap(), sig.to_bytes().to_vec());
        }
        assert!(der_to_raw(&[0x30, 0x03, 0x02, 0x01, 0x01], 32).is_err());
        assert!(der_to_raw(&[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00], 32).is_err());
    }

    #[test]
    fn request_layout() {
        let key = SigningKey::from_slice(&[0x41; 32]).unwrap();
        let r = request(&key, "ESPUK00001");
        let content = hsm_apdu::tlv::find(&r, 0x67).unwrap().unwrap();
        let inner = hsm_apdu::tlv::find(content, 0x7F21).unwrap().unwrap();
        let body = hsm_apdu::tlv::find(inner, 0x7F4E).unwrap().unwrap();
        assert_eq!(hsm_apdu::tlv::find(body, 0x5F20).unwrap().unwrap(), b"ESPUK00001");
        let template = hsm_apdu::tlv::find(body, 0x7F49).unwrap().unwrap();
        let point = hsm_apdu::tlv::find(template, 0x86).unwrap().unwrap();
        assert_eq!(point, key.verifying_key().to_sec1_point(false).as_bytes());
        // The inner signature verifies over the 7F4E object with the key itself.
        use p256::ecdsa::signature::Verifier;
        let sig = hsm_apdu::tlv::find(inner, 0x5F37).unwrap().unwrap();
        let body_tlv = tlv(0x7F4E, body);
        let sig = p256::ecdsa::Signature::from_slice(sig).unwrap();
        key.verifying_key().verify(&body_tlv, &sig).unwrap();
        assert_eq!(hsm_apdu::tlv::find(content, 0x42).unwrap().unwrap(), b"ESPUK00001");
        assert!(check_chr("ESPUK00001").is_ok());
        assert!(check_chr("").is_err() && check_chr("a b").is_err() && check_chr(&"x".repeat(17)).is_err());
    }
}
