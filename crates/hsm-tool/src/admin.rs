//! The administration commands of a Pico HSM the tool sends (reference §3.10, §3.12, §3.14, §3.26,
//! §3.27): INITIALIZE, EXTRAS (options, secure lock), the rescue applet (identity, flash, clock,
//! reboot), key generation and signing.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use zeroize::Zeroizing;

use crate::card::{CardError, Client, Command, Error, Transport};

/// The rescue applet (reference §3.27).
pub const RESCUE_AID: [u8; 8] = [0xA0, 0x58, 0x3F, 0xC1, 0x9B, 0x7E, 0x4F, 0x21];

/// Device option bits (reference §6.7) and their names.
pub mod option {
    pub const RRC: u16 = 0x0001;
    pub const TRANSPORT_PIN: u16 = 0x0002;
    pub const REPLACE_PKA: u16 = 0x0008;
    pub const COMBINED_AUTH: u16 = 0x0010;
    pub const RRC_RESET_ONLY: u16 = 0x0020;
    pub const PRESS_TO_CONFIRM: u16 = 0x0100;
    pub const KEY_COUNTER_ALL: u16 = 0x0200;
    pub const SECURE_LOCK: u16 = 0x0400;

    /// (bit, name in the JSON output and on the command line, words).
    pub const ALL: &[(u16, &str, &str)] = &[
        (RRC, "reset-retry-counter", "user PIN reset with SO-PIN enabled"),
        (TRANSPORT_PIN, "transport-pin", "transport PIN"),
        (REPLACE_PKA, "replace-pka", "PUK replacement allowed"),
        (
            COMBINED_AUTH,
            "combined-auth",
            "combined PIN and public key authentication",
        ),
        (
            RRC_RESET_ONLY,
            "reset-retry-counter-only",
            "retry counter reset without new PIN allowed",
        ),
        (PRESS_TO_CONFIRM, "press-to-confirm", "button press to confirm key use"),
        (KEY_COUNTER_ALL, "key-counter-all", "key use counter on all keys"),
        (SECURE_LOCK, "secure-lock", "secure lock"),
    ];

    /// The names of the bits set in `opts`.
    pub fn names(opts: u16) -> Vec<&'static str> {
        ALL.iter()
            .filter(|(b, _, _)| opts & b != 0)
            .map(|(_, n, _)| *n)
            .collect()
    }

    /// The words for the bits set in `opts`.
    pub fn words(opts: u16) -> Vec<&'static str> {
        ALL.iter()
            .filter(|(b, _, _)| opts & b != 0)
            .map(|(_, _, w)| *w)
            .collect()
    }
}

fn status(command: &'static str, sw: u16) -> Error {
    Error::Status(CardError { command, sw })
}

// ---------------------------------------------------------------------------------------------
// EXTRAS 06: options

/// EXTRAS 06 without data (`80 64 06 00`): the device options (needs the user PIN).
pub fn options_get<T: Transport>(c: &mut Client<T>) -> Result<u16, Error> {
    let data = c.call("EXTRAS options", &Command::new(0x80, 0x64, 0x06, 0x00).ne(256))?;
    match data.as_slice() {
        [hi, lo] => Ok(u16::from_be_bytes([*hi, *lo])),
        _ => Err(Error::Protocol(format!("options of {} bytes (expected 2)", data.len()))),
    }
}

/// EXTRAS 06 with one byte (`80 64 06 00 01 <hi>`): replaces the high byte of the options.
pub fn options_set<T: Transport>(c: &mut Client<T>, hi: u8) -> Result<(), Error> {
    c.call("EXTRAS options", &Command::new(0x80, 0x64, 0x06, 0x00).data(&[hi]))
        .map(drop)
}

// ---------------------------------------------------------------------------------------------
// EXTRAS 3A: secure lock

/// What to do with the host secret (EXTRAS 3A P2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockOp {
    Enable = 0x02,
    Unlock = 0x03,
    Disable = 0x04,
}

/// The host side of the secure-lock key agreement (EXTRAS 3A 01, reference §3.26): an ephemeral
/// P-256 key, ECDH with the card's ephemeral point, HKDF-SHA256 (no salt, IKM = the shared X, info =
/// our point) → nonce (12) ‖ key (32).
pub struct LockChannel {
    host: Vec<u8>,
    key: Zeroizing<[u8; 32]>,
    nonce: [u8; 12],
}

impl LockChannel {
    /// Runs EXTRAS 3A 01 and derives the channel's key.
    pub fn agree<T: Transport>(c: &mut Client<T>) -> Result<Self, Error> {
        let sk = loop {
            let mut b = Zeroizing::new([0u8; 32]);
            getrandom::fill(&mut b[..]).map_err(|e| Error::Protocol(format!("no randomness from the OS: {e}")))?;
            if let Ok(sk) = p256::SecretKey::from_slice(&b[..]) {
                break sk;
            }
        };
        let host = sk.public_key().to_sec1_bytes().to_vec();
        let card = c.call(
            "EXTRAS secure lock key agreement",
            &Command::new(0x80, 0x64, 0x3A, 0x01).data(&host).ne(256),
        )?;
        let card_pk = p256::PublicKey::from_sec1_bytes(&card)
            .map_err(|_| Error::Protocol("the card's key agreement point is not a P-256 point".into()))?;
        let shared = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), card_pk.as_affine());
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, shared.raw_secret_bytes());
        let mut okm = Zeroizing::new([0u8; 44]);
        hk.expand(&host, &mut okm[..])
            .map_err(|_| Error::Protocol("HKDF output length".into()))?;
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&okm[12..]);
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&okm[..12]);
        Ok(LockChannel { host, key, nonce })
    }

    /// ChaCha20-Poly1305(key, nonce, AAD = our point) of `secret`.
    fn seal(&self, secret: &[u8; 32]) -> Result<Zeroizing<Vec<u8>>, Error> {
        ChaCha20Poly1305::new(&(*self.key).into())
            .encrypt(
                &self.nonce.into(),
                Payload {
                    msg: &secret[..],
                    aad: &self.host,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| Error::Protocol("ChaCha20-Poly1305 failed".into()))
    }
}

/// A fresh key agreement, then EXTRAS 3A `op` with the sealed secret (needs the user PIN).
pub fn secure_lock<T: Transport>(c: &mut Client<T>, op: LockOp, secret: &[u8; 32]) -> Result<(), Error> {
    let channel = LockChannel::agree(c)?;
    let sealed = channel.seal(secret)?;
    let what = match op {
        LockOp::Enable => "EXTRAS secure lock enable",
        LockOp::Unlock => "EXTRAS secure lock unlock",
        LockOp::Disable => "EXTRAS secure lock disable",
    };
    c.call(what, &Command::new(0x80, 0x64, 0x3A, op as u8).data(&sealed))
        .map(drop)
}

// ---------------------------------------------------------------------------------------------
// Rescue applet

/// What SELECT of the rescue applet answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RescueInfo {
    pub mcu: u8,
    pub product: u8,
    pub version: (u8, u8),
    pub serial: [u8; 8],
}

impl RescueInfo {
    pub fn mcu_name(&self) -> &'static str {
        match self.mcu {
            0 => "RP2040",
            1 => "RP2350",
            2 => "ESP32-S3",
            3 => "emulation",
            4 => "ESP32-S2",
            _ => "unknown",
        }
    }

    pub fn product_name(&self) -> &'static str {
        match self.product {
            1 => "HSM",
            2 => "FIDO",
            3 => "OpenPGP",
            _ => "unknown",
        }
    }
}

/// SELECT of the rescue applet (`00 A4 04 04 08 <AID> 00`, as pypicokey); `None` when the card has
/// none (6A82: not a Pico Keys firmware).
pub fn select_rescue<T: Transport>(c: &mut Client<T>) -> Result<Option<RescueInfo>, Error> {
    let resp = c.transmit(&Command::new(0x00, 0xA4, 0x04, 0x04).data(&RESCUE_AID).ne(256))?;
    match (resp.sw, resp.data.as_slice()) {
        (0x9000, [mcu, product, major, minor, serial @ ..]) if serial.len() == 8 => Ok(Some(RescueInfo {
            mcu: *mcu,
            product: *product,
            version: (*major, *minor),
            serial: serial.try_into().map_err(|_| Error::Protocol("rescue serial".into()))?,
        })),
        (0x9000, d) => Err(Error::Protocol(format!(
            "rescue SELECT answered {} bytes (expected 12)",
            d.len()
        ))),
        (0x6A82 | 0x6D00 | 0x6E00, _) => Ok(None),
        (sw, _) => Err(status("SELECT rescue", sw)),
    }
}

/// Flash information (rescue `80 1E 02 00`): bytes of file data free, used, total; number of files;
/// flash size; firmware size when the platform knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlashInfo {
    pub free: u32,
    pub used: u32,
    pub total: u32,
    pub files: u32,
    pub size: u32,
    pub firmware: Option<u32>,
}

pub fn flash_info<T: Transport>(c: &mut Client<T>) -> Result<FlashInfo, Error> {
    let data = c.call("rescue flash info", &Command::new(0x80, 0x1E, 0x02, 0x00).ne(256))?;
    let words: Vec<u32> = data
        .chunks_exact(4)
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    match (data.len() % 4, words.as_slice()) {
        (0, [free, used, total, files, size, rest @ ..]) if rest.len() <= 1 => Ok(FlashInfo {
            free: *free,
            used: *used,
            total: *total,
            files: *files,
            size: *size,
            firmware: rest.first().copied(),
        }),
        _ => Err(Error::Protocol(format!(
            "flash info of {} bytes (expected 20 or 24)",
            data.len()
        ))),
    }
}

/// The clock (rescue `80 1E 04 02`, Unix seconds); `None` when it was never set (6985).
pub fn rtc_get<T: Transport>(c: &mut Client<T>) -> Result<Option<u32>, Error> {
    let resp = c.transmit(&Command::new(0x80, 0x1E, 0x04, 0x02).ne(256))?;
    match (resp.sw, resp.data.as_slice()) {
        (0x9000, [a, b, cc, d]) => Ok(Some(u32::from_be_bytes([*a, *b, *cc, *d]))),
        (0x9000, d) => Err(Error::Protocol(format!("clock of {} bytes (expected 4)", d.len()))),
        (0x6985, _) => Ok(None),
        (sw, _) => Err(status("rescue read clock", sw)),
    }
}

/// Sets the clock (rescue `80 1C 02 02 04 <Unix seconds>`).
pub fn rtc_set<T: Transport>(c: &mut Client<T>, secs: u32) -> Result<(), Error> {
    c.call(
        "rescue set clock",
        &Command::new(0x80, 0x1C, 0x02, 0x02).data(&secs.to_be_bytes()),
    )
    .map(drop)
}

/// Reboot (rescue `80 1F 00 00`). A card that restarts before answering is a success too.
pub fn reboot<T: Transport>(c: &mut Client<T>) -> Result<(), Error> {
    match c.transmit(&Command::new(0x80, 0x1F, 0x00, 0x00)) {
        Ok(r) if r.sw == 0x9000 => Ok(()),
        Ok(r) => Err(status("rescue reboot", r.sw)),
        Err(Error::Transport(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// INITIALIZE, keys

fn put(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    let mut hdr = [0u8; 7];
    out.extend_from_slice(hsm_apdu::tlv::header(tag, value.len(), &mut hdr));
    out.extend_from_slice(value);
}

/// What INITIALIZE sets (reference §3.10).
pub struct InitParams<'a> {
    pub options: u16,
    pub user_pin: &'a [u8],
    pub so_pin: &'a [u8],
    pub retries: u8,
    /// DKEK shares of domain 0 (tag 92); `None`: no DKEK.
    pub dkek_shares: Option<u8>,
    /// Public key authentication: (PUKs registered, PUKs needed to log in).
    pub pka: Option<(u8, u8)>,
    /// Key domains (tag 97).
    pub key_domains: Option<u8>,
}

impl InitParams<'_> {
    /// The command data, in tag order as sc-hsm-tool sends them. Zeroized on drop (PINs).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut d = Zeroizing::new(Vec::new());
        put(&mut d, 0x80, &self.options.to_be_bytes());
        put(&mut d, 0x81, self.user_pin);
        put(&mut d, 0x82, self.so_pin);
        put(&mut d, 0x91, &[self.retries]);
        if let Some(n) = self.dkek_shares {
            put(&mut d, 0x92, &[n]);
        }
        if let Some((n, m)) = self.pka {
            put(&mut d, 0x93, &[n, m]);
        }
        if let Some(n) = self.key_domains {
            put(&mut d, 0x97, &[n]);
        }
        d
    }
}

/// INITIALIZE DEVICE (`80 50 00 00 <TLVs>`).
pub fn initialize<T: Transport>(c: &mut Client<T>, p: &InitParams<'_>) -> Result<(), Error> {
    c.call("INITIALIZE", &Command::new(0x80, 0x50, 0x00, 0x00).data(&p.encode()))
        .map(drop)
}

/// An asymmetric key to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySpec {
    Rsa(u16),
    Ec(Curve),
}

/// The curves the card generates, by name (reference §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
    K256,
    Bp256,
    Bp384,
    Bp512,
    P192,
    P224,
}

impl Curve {
    pub const NAMES: &[(&str, Curve)] = &[
        ("secp256r1", Curve::P256),
        ("prime256v1", Curve::P256),
        ("p256", Curve::P256),
        ("secp384r1", Curve::P384),
        ("p384", Curve::P384),
        ("secp521r1", Curve::P521),
        ("p521", Curve::P521),
        ("secp256k1", Curve::K256),
        ("brainpoolp256r1", Curve::Bp256),
        ("brainpoolp384r1", Curve::Bp384),
        ("brainpoolp512r1", Curve::Bp512),
        ("secp192r1", Curve::P192),
        ("secp224r1", Curve::P224),
    ];

    /// The curve whose field prime is `p` (a CV public key template's tag 81).
    pub fn from_prime(p: &[u8]) -> Option<Curve> {
        let hexp = hex::encode_upper(p);
        Curve::NAMES.iter().map(|(_, c)| *c).find(|c| c.prime() == hexp)
    }

    /// The curve's object identifier (DER content): RFC 5480, SEC 2, RFC 5639.
    pub fn oid(self) -> &'static [u8] {
        match self {
            Curve::P192 => &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x01],
            Curve::P224 => &[0x2B, 0x81, 0x04, 0x00, 0x21],
            Curve::P256 => &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07],
            Curve::P384 => &[0x2B, 0x81, 0x04, 0x00, 0x22],
            Curve::P521 => &[0x2B, 0x81, 0x04, 0x00, 0x23],
            Curve::K256 => &[0x2B, 0x81, 0x04, 0x00, 0x0A],
            Curve::Bp256 => &[0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07],
            Curve::Bp384 => &[0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0B],
            Curve::Bp512 => &[0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0D],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "secp256r1",
            Curve::P384 => "secp384r1",
            Curve::P521 => "secp521r1",
            Curve::K256 => "secp256k1",
            Curve::Bp256 => "brainpoolP256r1",
            Curve::Bp384 => "brainpoolP384r1",
            Curve::Bp512 => "brainpoolP512r1",
            Curve::P192 => "secp192r1",
            Curve::P224 => "secp224r1",
        }
    }

    /// The field prime (what the card identifies the curve by: tag 81 of the template).
    fn prime(self) -> &'static str {
        match self {
            Curve::P256 => "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF",
            Curve::P384 => {
                "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFF"
            }
            Curve::P521 => {
                "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
            }
            Curve::K256 => "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F",
            Curve::Bp256 => "A9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377",
            Curve::Bp384 => {
                "8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B412B1DA197FB71123ACD3A729901D1A71874700133107EC53"
            }
            Curve::Bp512 => {
                "AADD9DB8DBE9C48B3FD4E6AE33C9FC07CB308DB3B3C9D20ED6639CCA703308717D4D9B009BC66842AECDA12AE6A380E62881FF2F2D82C68528AA6056583A48F3"
            }
            Curve::P192 => "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFF",
            Curve::P224 => "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF000000000000000000000001",
        }
    }
}

/// id-TA-ECDSA-SHA-256 and id-TA-RSA-v1-5-SHA-256 (reference §3.12).
const OID_TA_ECDSA_SHA256: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03];
const OID_TA_RSA_V15_SHA256: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x01, 0x02];

/// The GENERATE ASYMMETRIC KEY PAIR data for `spec` (reference §3.12, §15: pypicohsm's request body;
/// an EC template carries the prime, by which the card identifies the curve).
pub fn keygen_data(spec: KeySpec, chr: &str) -> Result<Vec<u8>, Error> {
    let mut t = Vec::new();
    match spec {
        KeySpec::Rsa(bits) => {
            put(&mut t, 0x06, &OID_TA_RSA_V15_SHA256);
            put(&mut t, 0x02, &bits.to_be_bytes());
            put(&mut t, 0x82, &[0x01, 0x00, 0x01]);
        }
        KeySpec::Ec(curve) => {
            put(&mut t, 0x06, &OID_TA_ECDSA_SHA256);
            let p = hex::decode(curve.prime()).map_err(|e| Error::Protocol(format!("curve prime: {e}")))?;
            put(&mut t, 0x81, &p);
        }
    }
    let mut d = Vec::new();
    put(&mut d, 0x5F29, &[0]);
    put(&mut d, 0x42, b"UTCA00001");
    put(&mut d, 0x7F49, &t);
    put(&mut d, 0x5F20, chr.as_bytes());
    Ok(d)
}

/// GENERATE ASYMMETRIC KEY PAIR (`00 46 <id> 00`) with holder reference `chr`: the card's CV
/// request (`67…`).
pub fn generate<T: Transport>(c: &mut Client<T>, id: u8, spec: KeySpec, chr: &str) -> Result<Vec<u8>, Error> {
    let data = keygen_data(spec, chr)?;
    c.call(
        "GENERATE ASYMMETRIC KEY PAIR",
        &Command::new(0x00, 0x46, id, 0x00).data(&data).ne(65536),
    )
}

/// COMPUTE SIGNATURE (`80 68 <id> <algo>`).
pub fn sign<T: Transport>(c: &mut Client<T>, id: u8, algo: u8, data: &[u8]) -> Result<Vec<u8>, Error> {
    c.call(
        "COMPUTE SIGNATURE",
        &Command::new(0x80, 0x68, id, algo).data(data).ne(65536),
    )
}

/// The PKCS#15 private key description (PRKD) the tool writes to `C4xx` for a generated key, laid out
/// as OpenSC 0.23 writes one for `pkcs11-tool --keypairgen` (so that OpenSC signs with it):
///
/// ```text
/// 30 (RSA) | A0 (EC) {
///     30 { 0C label, 03 02 06C0 (private, modifiable), 04 01 01 (auth id: the user PIN) }
///     30 { 04 key ID, 03 usage, 02 key reference (the slot) }
///     A1 { 30 { 30 02 04 00 (empty path), 02 key size } }
/// }
/// ```
///
/// Usage: decrypt, sign, signRecover, unwrap (RSA); sign, derive (EC), as the card's own default
/// description (reference §3.12). The card's default has the path `CCxx` instead of the key reference,
/// with which OpenSC 0.23 fails to sign (CKR_ARGUMENTS_BAD).
pub fn prkd(slot: u8, label: &str, key_id: &[u8], rsa: bool, bits: u16) -> Vec<u8> {
    let mut common = Vec::new();
    if !label.is_empty() {
        put(&mut common, 0x0C, label.as_bytes());
    }
    put(&mut common, 0x03, &[0x06, 0xC0]);
    put(&mut common, 0x04, &[0x01]);
    let mut key_attrs = Vec::new();
    put(&mut key_attrs, 0x04, key_id);
    if rsa {
        put(&mut key_attrs, 0x03, &[0x02, 0x74]);
    } else {
        put(&mut key_attrs, 0x03, &[0x07, 0x20, 0x80]);
    }
    put(&mut key_attrs, 0x02, der_uint(u16::from(slot)).as_slice());
    let mut path = Vec::new();
    put(&mut path, 0x04, &[]);
    let mut specific = Vec::new();
    put(&mut specific, 0x30, &path);
    put(&mut specific, 0x02, der_uint(bits).as_slice());
    let mut inner = Vec::new();
    put(&mut inner, 0x30, &specific);
    let mut body = Vec::new();
    put(&mut body, 0x30, &common);
    put(&mut body, 0x30, &key_attrs);
    put(&mut body, 0xA1, &inner);
    let mut out = Vec::new();
    put(&mut out, if rsa { 0x30 } else { 0xA0 }, &body);
    out
}

/// The value of a DER INTEGER holding `n`.
fn der_uint(n: u16) -> Vec<u8> {
    match n.to_be_bytes() {
        [0, lo] if lo < 0x80 => vec![lo],
        [hi, lo] if hi < 0x80 => vec![hi, lo],
        [hi, lo] => vec![0, hi, lo],
    }
}

/// The value of the first `tag` object in `data`.
fn find(data: &[u8], tag: u16) -> Option<&[u8]> {
    hsm_apdu::tlv::find(data, tag).ok().flatten()
}

/// A DER TLV with a one-byte tag.
fn der(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    put(&mut v, u16::from(tag), value);
    v
}

/// A DER INTEGER of the unsigned big-endian `n`.
fn der_int(n: &[u8]) -> Vec<u8> {
    let n = match n.iter().position(|b| *b != 0) {
        Some(i) => &n[i..],
        None => &[0u8][..],
    };
    let mut v = Vec::with_capacity(n.len() + 1);
    if n.first().is_some_and(|b| b & 0x80 != 0) {
        v.push(0);
    }
    v.extend_from_slice(n);
    der(0x02, &v)
}

/// The SubjectPublicKeyInfo (RFC 5280, RFC 5480, RFC 3279) of the key in a CV request or certificate
/// (`67 { 7F21 … }` or `7F21 …`, as the card stores it in `CExx` after GENERATE), or of an X.509
/// certificate OpenSC put there instead.
pub fn spki_of_certificate(cert: &[u8]) -> Result<Vec<u8>, Error> {
    let bad = |what: &str| Error::Protocol(format!("the key's certificate: {what}"));
    if cert.first() == Some(&0x30) {
        // X.509: Certificate { TBSCertificate { [0] version?, serial, signature, issuer, validity,
        // subject, subjectPublicKeyInfo, … }, … }.
        let (c, _) = crate::der::split(cert).ok_or_else(|| bad("not DER"))?;
        let tbs = crate::der::children(c.value)
            .and_then(|k| k.into_iter().next())
            .ok_or_else(|| bad("no TBSCertificate"))?;
        let fields = crate::der::children(tbs.value).ok_or_else(|| bad("bad TBSCertificate"))?;
        let skip = usize::from(fields.first().is_some_and(|f| f.tag == 0xA0));
        let spki = fields.get(skip + 5).ok_or_else(|| bad("no subjectPublicKeyInfo"))?;
        return Ok(der(0x30, spki.value));
    }
    let mut cur = cert;
    if let Ok(Some(inner)) = hsm_apdu::tlv::find(cur, 0x67) {
        cur = inner;
    }
    let body = find(cur, 0x7F21)
        .and_then(|c| find(c, 0x7F4E))
        .ok_or_else(|| bad("not a CV request or certificate"))?;
    let key = find(body, 0x7F49).ok_or_else(|| bad("no public key (7F49)"))?;
    let oid = find(key, 0x06).unwrap_or_default();
    if oid.get(..9) == Some(&OID_TA_RSA_V15_SHA256[..9]) {
        let (n, e) = find(key, 0x81)
            .zip(find(key, 0x82))
            .ok_or_else(|| bad("RSA key without modulus or exponent"))?;
        let mut rsa = der_int(n);
        rsa.extend_from_slice(&der_int(e));
        let rsa = der(0x30, &rsa);
        let mut bits = vec![0];
        bits.extend_from_slice(&rsa);
        // rsaEncryption, NULL.
        let mut alg = der(0x06, &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01]);
        alg.extend_from_slice(&[0x05, 0x00]);
        let mut spki = der(0x30, &alg);
        spki.extend_from_slice(&der(0x03, &bits));
        return Ok(der(0x30, &spki));
    }
    let point = find(key, 0x86).ok_or_else(|| bad("EC key without its point (86)"))?;
    let curve = find(key, 0x81)
        .and_then(Curve::from_prime)
        .ok_or_else(|| bad("EC key on a curve the tool does not know (no or unknown prime 81)"))?;
    // id-ecPublicKey, the named curve.
    let mut alg = der(0x06, &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]);
    alg.extend_from_slice(&der(0x06, curve.oid()));
    let mut bits = vec![0];
    bits.extend_from_slice(point);
    let mut spki = der(0x30, &alg);
    spki.extend_from_slice(&der(0x03, &bits));
    Ok(der(0x30, &spki))
}

/// PEM of DER `data` with `label` (RFC 7468).
pub fn pem(label: &str, data: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |a, (i, b)| a | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The key ID of a PRKD (the OCTET STRING of its CommonKeyAttributes).
pub fn prkd_key_id(desc: &[u8]) -> Option<Vec<u8>> {
    let (obj, _) = crate::der::split(desc)?;
    let kids = crate::der::children(obj.value)?;
    let common_key = kids.get(1)?;
    let id = crate::der::children(common_key.value)?
        .into_iter()
        .find(|o| o.tag == 0x04)?;
    Some(id.value.to_vec())
}

/// The kind and size of a key from its PRKD: the first byte (30 RSA, A0 EC, A8 secret key) and the
/// INTEGER after the path in the type attributes (reference §15).
pub fn prkd_kind(desc: &[u8]) -> (&'static str, Option<u32>) {
    let kind = match desc.first() {
        Some(0x30) => "rsa",
        Some(0xA0) => "ec",
        Some(0xA8) => "secret",
        _ => "unknown",
    };
    let size = (|| {
        let (obj, _) = crate::der::split(desc)?;
        let typed = crate::der::children(obj.value)?.into_iter().find(|o| o.tag == 0xA1)?;
        let seq = crate::der::children(typed.value)?.into_iter().next()?;
        let int = crate::der::children(seq.value)?.into_iter().find(|o| o.tag == 0x02)?;
        (int.value.len() <= 4).then(|| int.value.iter().fold(0u32, |a, b| (a << 8) | u32::from(*b)))
    })();
    (kind, size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::testing::Script;

    #[test]
    fn rescue_select_and_flash_info() {
        let mut c = Client::new(Script::new(&[
            ("00A4040408A0583FC19B7E4F2100", "0301 0606 0102030405060708 9000"),
            ("801E020000", "00000010 00000020 00000030 00000004 00400000 9000"),
            ("801E040200", "6985"),
            ("801C020204 65E11A7E", "9000"),
        ]));
        let r = select_rescue(&mut c).unwrap().unwrap();
        assert_eq!(
            (r.mcu_name(), r.product_name(), r.version),
            ("emulation", "HSM", (6, 6))
        );
        assert_eq!(r.serial, [1, 2, 3, 4, 5, 6, 7, 8]);
        let f = flash_info(&mut c).unwrap();
        assert_eq!(
            (f.free, f.used, f.total, f.files, f.size, f.firmware),
            (16, 32, 48, 4, 0x400000, None)
        );
        assert_eq!(rtc_get(&mut c).unwrap(), None);
        rtc_set(&mut c, 0x65E11A7E).unwrap();
        assert!(c.transport().finished());
    }

    #[test]
    fn init_data_in_sc_hsm_tool_order() {
        let p = InitParams {
            options: 0x0001,
            user_pin: b"648219",
            so_pin: &[0x35, 0x37, 0x36, 0x32, 0x31, 0x38, 0x38, 0x30],
            retries: 3,
            dkek_shares: Some(2),
            pka: Some((3, 2)),
            key_domains: None,
        };
        assert_eq!(
            hex::encode_upper(&*p.encode()),
            "80020001810636343832313982083537363231383830910103920102930203 02".replace(' ', "")
        );
    }

    #[test]
    fn pem_base64() {
        // RFC 4648 §10 test vectors.
        for (input, b64) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            let p = pem("X", input.as_bytes());
            let body: String = p.lines().filter(|l| !l.starts_with("-----")).collect();
            assert_eq!(body, b64);
        }
    }

    #[test]
    fn curve_primes_are_the_cards() {
        use hsm_crypto::asym::Curve as C;
        for (tool, card) in [
            (Curve::P192, C::Secp192r1),
            (Curve::P224, C::Secp224r1),
            (Curve::P256, C::Secp256r1),
            (Curve::P384, C::Secp384r1),
            (Curve::P521, C::Secp521r1),
            (Curve::K256, C::Secp256k1),
            (Curve::Bp256, C::BrainpoolP256r1),
            (Curve::Bp384, C::BrainpoolP384r1),
            (Curve::Bp512, C::BrainpoolP512r1),
        ] {
            assert_eq!(hex::encode_upper(card.params().p), tool.prime(), "{}", tool.name());
        }
    }

    #[test]
    fn prkd_as_opensc_writes_it() {
        // What OpenSC 0.23 wrote to C403 for `pkcs11-tool --keypairgen --key-type EC:prime256v1 --id 0B
        // --label p11` on this card (key 3), but for the usage bits (signRecover left out).
        assert_eq!(
            hex::encode_upper(prkd(3, "p11", &[0x0B], false, 256)),
            "A027300C0C03703131030206C0040101300B04010B0303072080020103A10A30083002040002020100"
        );
    }

    #[test]
    fn prkd_parses_back() {
        let d = prkd(3, "my key", b"\x01\x02", false, 256);
        assert_eq!(crate::pkcs15::label(&d).as_deref(), Some("my key"));
        assert_eq!(prkd_key_id(&d).unwrap(), [1, 2]);
        assert_eq!(prkd_kind(&d), ("ec", Some(256)));
        let d = prkd(4, "", b"4", true, 2048);
        assert_eq!(crate::pkcs15::label(&d), None);
        assert_eq!(prkd_kind(&d), ("rsa", Some(2048)));
    }
}
