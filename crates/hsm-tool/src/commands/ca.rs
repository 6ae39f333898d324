//! `ca init`, `ca issue`: a self-hosted device CA (DESIGN §5: "device certificate needs the
//! vendor's web PKI" — here the operator's own CA issues it).
//!
//! A CA directory holds [`KEY_FILE`] (the CA's P-256 private key, PKCS#8 PEM, mode 0600) and
//! [`CERT_FILE`] (its self-signed CV certificate, binary). `ca issue` reads the device key's
//! authenticated request (CE00), checks its self-signature, issues a full device certificate (same
//! CHR as the device's own, CAR = the CA's CHR, the validity of reference §8.1) and writes
//! `device certificate ‖ CA certificate` into C_DevAut (2F02) through the rescue applet (INS 10
//! P1 03), which waits for the device's button.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use hsm_card::cvc;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToSec1Point as _;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
use sha2::Digest as _;
use zeroize::Zeroizing;

use crate::Error;
use crate::card::reader::Connection;
use crate::card::{Client, Command, Transport};
use crate::hsm;

/// The CA's private key in a CA directory.
pub const KEY_FILE: &str = "ca-key.pem";
/// The CA's self-signed CV certificate in a CA directory.
pub const CERT_FILE: &str = "ca-cert.cvcert";
/// Instead of [`KEY_FILE`], when the CA key is on an HSM: `reader = NAME` and `key-id = N` lines.
pub const HSM_FILE: &str = "ca-hsm.conf";
/// The device key's authenticated request (reference §8.2).
pub const FID_DEVICE_REQUEST: u16 = 0xCE00;
/// The rescue applet (reference §3.27).
pub const RESCUE_AID: [u8; 8] = [0xA0, 0x58, 0x3F, 0xC1, 0x9B, 0x7E, 0x4F, 0x21];
/// The default CHR of a new CA: country `ES`, mnemonic `PHSMOPCA`, sequence `00001`.
pub const DEFAULT_NAME: &str = "ESPHSMOPCA00001";

#[derive(Subcommand)]
pub enum CaCmd {
    /// Create an offline device CA in DIR: a P-256 key (ca-key.pem, PKCS#8 PEM, readable by its
    /// owner only) and its self-signed CV certificate (ca-cert.cvcert)
    ///
    /// No card is needed. Existing files are never overwritten. Prints the CA's holder reference
    /// (CHR) and the SHA-256 fingerprint of its certificate. Keep the key offline: whoever has it
    /// can make any device key look like a device of this CA.
    #[command(verbatim_doc_comment)]
    Init {
        /// The CA directory (created if missing)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The CA's holder reference: 8-16 letters and digits, conventionally country (2),
        /// mnemonic (up to 9), sequence number (5)
        #[arg(long, value_name = "CHR", default_value = DEFAULT_NAME)]
        name: String,
        /// The CA key's curve (a key file; an HSM key has its own)
        #[arg(long, default_value = "p256", value_parser = ["p256"])]
        curve: String,
        /// Keep the CA key on a Pico HSM (or SmartCard-HSM) in this reader instead of a file: the EC
        /// key --key-id there signs (COMPUTE SIGNATURE, with the user PIN given by --pin / --pin-file
        /// or asked); DIR then holds ca-hsm.conf naming reader and key
        #[arg(long, value_name = "READER", requires = "key_id")]
        hsm_reader: Option<String>,
        /// The CA key's id on the --hsm-reader device (an ECDSA key, e.g. made by pkcs11-tool --keypairgen)
        #[arg(long, value_name = "N", requires = "hsm_reader", value_parser = clap::value_parser!(u8).range(1..))]
        key_id: Option<u8>,
    },
    /// Issue the device's certificate with the CA of DIR and write the chain into the device
    /// (needs the device's button)
    ///
    /// Reads the device key's request (CE00), verifies its self-signature, makes a device
    /// certificate for that key (the device's own holder reference, CAR = the CA's) signed by the
    /// CA, and writes "device certificate ‖ CA certificate" into C_DevAut (2F02) through the
    /// rescue applet. Press the device's button when asked. A CA whose key is on an HSM signs
    /// there (--pin / --pin-file: that HSM's user PIN; --reader: the device to certify). Afterwards `attest --ca
    /// DIR/ca-cert.cvcert`, sc-hsm-tool --export-for-pub-key-auth and pkcs15-tool use the new
    /// chain; re-initializing the device keeps it.
    #[command(verbatim_doc_comment)]
    Issue {
        /// The CA directory made by `ca init`
        #[arg(long, value_name = "DIR")]
        ca: PathBuf,
    },
}

/// Runs a `ca` command. `pin` is the user PIN of the HSM that holds a CA key, if one does.
pub fn run(cmd: &CaCmd, reader: Option<&str>, pin: Option<Zeroizing<Vec<u8>>>) -> Result<(), Error> {
    match cmd {
        CaCmd::Init {
            out,
            name,
            curve: _,
            hsm_reader,
            key_id,
        } => {
            let ca = match (hsm_reader, key_id) {
                (Some(r), Some(id)) => init_on_hsm(out, name, HsmKey::new(r, *id, pin)?)?,
                _ => init(out, name)?,
            };
            println!("CA created in {}", out.display());
            println!("CHR         : {}", ca.name);
            println!("Fingerprint : SHA-256 {}", fingerprint(&ca.cert));
            match &ca.key {
                CaKey::File(_) => println!("Key         : {} (keep it offline)", out.join(KEY_FILE).display()),
                CaKey::Hsm(h) => println!(
                    "Key         : key {} on {:?} ({})",
                    h.key_id,
                    h.reader,
                    out.join(HSM_FILE).display()
                ),
            }
            println!("Certificate : {}", out.join(CERT_FILE).display());
            Ok(())
        }
        CaCmd::Issue { ca } => {
            let ca = load_with_pin(ca, pin)?;
            let mut conn = Connection::open(reader)?;
            let issued = conn.with_transaction(|t| issue(&mut Client::new(t), &ca, &mut std::io::stderr()))?;
            println!("Device {} now certified by {}", issued.device, ca.name);
            println!(
                "C_DevAut    : device certificate ‖ CA certificate ({} bytes)",
                issued.chain_len
            );
            println!("CA          : SHA-256 {}", fingerprint(&ca.cert));
            Ok(())
        }
    }
}

/// Where a CA key lives.
pub enum CaKey {
    /// A P-256 key from [`KEY_FILE`].
    File(SigningKey),
    /// An EC key on an HSM.
    Hsm(HsmKey),
}

/// A CA key on an HSM: reader, key id, the user PIN, and the length of `r` (and `s`).
pub struct HsmKey {
    pub reader: String,
    pub key_id: u8,
    pin: Zeroizing<Vec<u8>>,
    scalar_len: usize,
}

impl HsmKey {
    /// The key `key_id` in `reader`; the PIN asked on the terminal when not given.
    pub fn new(reader: &str, key_id: u8, pin: Option<Zeroizing<Vec<u8>>>) -> Result<Self, Error> {
        let pin = match pin {
            Some(p) => p,
            None => crate::input::ask_pin()
                .map_err(|_| Error::Input("a CA key on an HSM needs its user PIN: give --pin-file PATH".into()))?,
        };
        Ok(HsmKey {
            reader: reader.into(),
            key_id,
            pin,
            scalar_len: 0,
        })
    }

    /// ECDSA-SHA-256 of `msg` on the HSM (COMPUTE SIGNATURE P2 73), as raw `r ‖ s`.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let mut conn = Connection::open(Some(&self.reader))?;
        let der = conn.with_transaction(|t| {
            let mut c = Client::new(t);
            crate::cli::open(&mut c, Some(&self.pin))?;
            c.call(
                "COMPUTE SIGNATURE (CA key)",
                &Command::new(0x80, 0x68, self.key_id, 0x73).data(msg).ne(256),
            )
            .map_err(Error::from)
        })?;
        raw_signature(&der, self.scalar_len).ok_or_else(|| {
            Error::Input(format!(
                "the CA HSM's signature is not a DER ECDSA signature: {}",
                hex::encode(&der)
            ))
        })
    }

    /// The key's public-key template, from its request CExx on the HSM.
    fn public_template(&mut self) -> Result<Vec<u8>, Error> {
        let mut conn = Connection::open(Some(&self.reader))?;
        let req = conn.with_transaction(|t| {
            let mut c = Client::new(t);
            hsm::select(&mut c)?;
            hsm::read_file(&mut c, u16::from_be_bytes([0xCE, self.key_id])).map_err(Error::from)
        })?;
        let parsed = cvc::AuthenticatedRequest::parse(&req)
            .map(|r| r.inner)
            .or_else(|_| cvc::Certificate::parse(&req))
            .map_err(|e| {
                Error::Input(format!(
                    "key {} on {:?}: no CV request in CE{:02X} ({e})",
                    self.key_id, self.reader, self.key_id
                ))
            })?;
        let pk = parsed.public_key;
        let order = pk.field(0x85);
        match (pk.algorithm(), order) {
            (Some(cvc::Algorithm::Ecdsa(_)), Some(n)) => {
                self.scalar_len = n.iter().skip_while(|b| **b == 0).count();
                Ok(pk.encoded.to_vec())
            }
            _ => Err(Error::Input(format!(
                "key {} on {:?} is not an ECDSA key with its domain parameters",
                self.key_id, self.reader
            ))),
        }
    }
}

/// `r ‖ s`, each `n` bytes, of a DER `SEQUENCE { INTEGER r, INTEGER s }`.
fn raw_signature(der: &[u8], n: usize) -> Option<Vec<u8>> {
    let (seq, rest) = crate::der::split(der)?;
    let ints = crate::der::children(seq.value)?;
    if seq.tag != 0x30 || !rest.is_empty() || ints.len() != 2 {
        return None;
    }
    let mut out = Vec::with_capacity(2 * n);
    for i in ints {
        let v: Vec<u8> = i.value.iter().copied().skip_while(|b| *b == 0).collect();
        if i.tag != 0x02 || v.len() > n {
            return None;
        }
        out.extend(std::iter::repeat_n(0, n - v.len()));
        out.extend_from_slice(&v);
    }
    Some(out)
}

impl CaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            CaKey::File(k) => Ok(sign(k, msg)),
            CaKey::Hsm(h) => h.sign(msg),
        }
    }
}

/// A loaded CA.
pub struct Ca {
    pub name: String,
    pub key: CaKey,
    pub cert: Vec<u8>,
}

/// SHA-256 of `data` in hex, colon-free upper case.
pub fn fingerprint(data: &[u8]) -> String {
    hex::encode_upper(sha2::Sha256::digest(data))
}

fn check_name(name: &str) -> Result<(), Error> {
    if !(8..=16).contains(&name.len()) || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::Input(format!(
            "--name {name:?}: a holder reference is 8 to 16 letters and digits (e.g. {DEFAULT_NAME})"
        )));
    }
    Ok(())
}

/// Creates the CA files in `dir`.
pub fn init(dir: &Path, name: &str) -> Result<Ca, Error> {
    check_name(name)?;
    let key_path = dir.join(KEY_FILE);
    let cert_path = dir.join(CERT_FILE);
    for p in [&key_path, &cert_path] {
        if p.exists() {
            return Err(Error::Input(format!("{} exists: not overwriting a CA", p.display())));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::Input(format!("cannot create {}: {e}", dir.display())))?;
    let key = loop {
        let mut candidate = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut candidate[..]).map_err(|e| Error::Input(format!("no randomness from the OS: {e}")))?;
        if let Ok(k) = SigningKey::from_slice(&candidate[..]) {
            break k;
        }
    };
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| Error::Input(format!("cannot encode the CA key: {e}")))?;
    let cert = self_signed(&key, name.as_bytes());
    write_new(&key_path, pem.as_bytes())?;
    write_new(&cert_path, &cert)?;
    Ok(Ca {
        name: name.into(),
        key: CaKey::File(key),
        cert,
    })
}

/// Creates a CA in `dir` whose key is `key` on an HSM: its self-signed certificate, signed there.
pub fn init_on_hsm(dir: &Path, name: &str, mut key: HsmKey) -> Result<Ca, Error> {
    check_name(name)?;
    let conf_path = dir.join(HSM_FILE);
    let cert_path = dir.join(CERT_FILE);
    for p in [&conf_path, &cert_path, &dir.join(KEY_FILE)] {
        if p.exists() {
            return Err(Error::Input(format!("{} exists: not overwriting a CA", p.display())));
        }
    }
    let template = key.public_template()?;
    let body = cvc::body(name.as_bytes(), &template, name.as_bytes(), true);
    let cert = cvc::certificate(&body, &key.sign(&body)?);
    let parsed = cvc::Certificate::parse(&cert).map_err(|e| Error::Input(format!("the CA certificate: {e}")))?;
    parsed
        .verify_self_signed(None)
        .map_err(|e| Error::Input(format!("the HSM's signature on the CA certificate: {e}")))?;
    std::fs::create_dir_all(dir).map_err(|e| Error::Input(format!("cannot create {}: {e}", dir.display())))?;
    let conf = format!("reader = {}\nkey-id = {}\n", key.reader, key.key_id);
    write_new(&conf_path, conf.as_bytes())?;
    write_new(&cert_path, &cert)?;
    Ok(Ca {
        name: name.into(),
        key: CaKey::Hsm(key),
        cert,
    })
}

/// The `7F49` template of a P-256 verifying key.
fn p256_template(key: &SigningKey) -> Vec<u8> {
    let point = key.verifying_key().as_affine().to_sec1_point(false);
    let mut q = [0u8; 65];
    q.copy_from_slice(point.as_bytes());
    cvc::p256_public_key(&q)
}

/// ECDSA-SHA-256, raw `r ‖ s`.
fn sign(key: &SigningKey, msg: &[u8]) -> Vec<u8> {
    let sig: Signature = key.sign(msg);
    sig.to_bytes().to_vec()
}

fn self_signed(key: &SigningKey, name: &[u8]) -> Vec<u8> {
    let body = cvc::body(name, &p256_template(key), name, true);
    cvc::certificate(&body, &sign(key, &body))
}

/// Loads and checks a CA directory whose key is a file: the certificate is self-signed and for the key.
pub fn load(dir: &Path) -> Result<Ca, Error> {
    load_with_pin(dir, None)
}

/// [`load`], or a CA whose key is on an HSM ([`HSM_FILE`]), using `pin` there.
pub fn load_with_pin(dir: &Path, pin: Option<Zeroizing<Vec<u8>>>) -> Result<Ca, Error> {
    let cert_path = dir.join(CERT_FILE);
    let cert =
        std::fs::read(&cert_path).map_err(|e| Error::Input(format!("cannot read {}: {e}", cert_path.display())))?;
    let parsed = cvc::Certificate::parse(&cert).map_err(|e| Error::Input(format!("{}: {e}", cert_path.display())))?;
    if !parsed.is_self_signed() || parsed.verify_self_signed(None).is_err() {
        return Err(Error::Input(format!(
            "{}: not a valid self-signed certificate",
            cert_path.display()
        )));
    }
    let conf_path = dir.join(HSM_FILE);
    let key = if conf_path.exists() {
        let conf = std::fs::read_to_string(&conf_path)
            .map_err(|e| Error::Input(format!("cannot read {}: {e}", conf_path.display())))?;
        let value = |k: &str| {
            conf.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(key, _)| key.trim() == k)
                .map(|(_, v)| v.trim().to_string())
                .ok_or_else(|| Error::Input(format!("{}: no {k}", conf_path.display())))
        };
        let id = value("key-id")?
            .parse::<u8>()
            .map_err(|_| Error::Input(format!("{}: key-id is not 1-255", conf_path.display())))?;
        let mut h = HsmKey::new(&value("reader")?, id, pin)?;
        if h.public_template()? != parsed.public_key.encoded {
            return Err(Error::Input(format!(
                "{} is not the certificate of key {id} on {:?}",
                cert_path.display(),
                h.reader
            )));
        }
        CaKey::Hsm(h)
    } else {
        let key_path = dir.join(KEY_FILE);
        let pem = Zeroizing::new(
            std::fs::read_to_string(&key_path)
                .map_err(|e| Error::Input(format!("cannot read {}: {e}", key_path.display())))?,
        );
        let key = SigningKey::from_pkcs8_pem(&pem)
            .map_err(|e| Error::Input(format!("{}: not a P-256 PKCS#8 key: {e}", key_path.display())))?;
        if parsed.public_key.encoded != p256_template(&key).as_slice() {
            return Err(Error::Input(format!(
                "{} is not the certificate of {}",
                cert_path.display(),
                key_path.display()
            )));
        }
        CaKey::File(key)
    };
    Ok(Ca {
        name: String::from_utf8_lossy(parsed.chr).into_owned(),
        key,
        cert,
    })
}

/// What `issue` did.
pub struct Issued {
    pub device: String,
    pub chain_len: usize,
}

/// The device certificate for the key of request `request` (CE00), issued by `ca`.
pub fn device_certificate(ca: &Ca, request: &[u8]) -> Result<(Vec<u8>, String), Error> {
    let req = cvc::AuthenticatedRequest::parse(request)
        .map_err(|e| Error::Input(format!("the device request (CE00): {e}")))?;
    req.verify_inner()
        .map_err(|e| Error::Input(format!("the device request's self-signature: {e}")))?;
    let chr = req.inner.chr;
    let body = cvc::body(ca.name.as_bytes(), req.inner.public_key.encoded, chr, true);
    let cert = cvc::certificate(&body, &ca.key.sign(&body)?);
    Ok((cert, String::from_utf8_lossy(chr).into_owned()))
}

/// Issues the device certificate and uploads `device certificate ‖ CA certificate`; prompts on
/// `prompt` for the button.
pub fn issue<T: Transport>(c: &mut Client<T>, ca: &Ca, prompt: &mut dyn std::io::Write) -> Result<Issued, Error> {
    hsm::select(c)?;
    let request = hsm::read_file(c, FID_DEVICE_REQUEST)?;
    if request.is_empty() {
        return Err(Error::Input(
            "the device has no device key yet: initialize it first".into(),
        ));
    }
    let (cert, device) = device_certificate(ca, &request)?;
    let mut chain = cert;
    chain.extend_from_slice(&ca.cert);

    c.call(
        "SELECT rescue applet",
        &Command::new(0x00, 0xA4, 0x04, 0x04).data(&RESCUE_AID).ne(256),
    )?;
    writeln!(
        prompt,
        "Press the button on the device to confirm writing its certificate chain..."
    )
    .ok();
    prompt.flush().ok();
    match c.transmit(&Command::new(0x80, 0x10, 0x03, 0x00).data(&chain))?.sw {
        0x9000 => {}
        0x6600 => {
            return Err(Error::Input(
                "the device refused the certificate chain: the button was not pressed (6600)".into(),
            ));
        }
        sw => {
            return Err(Error::Input(format!(
                "the device refused the certificate chain: {sw:04X} {}",
                crate::card::describe(sw)
            )));
        }
    }
    hsm::select(c)?;
    if hsm::read_file(c, hsm::FID_C_DEVAUT)? != chain {
        return Err(Error::Input("C_DevAut does not hold the chain written".into()));
    }
    Ok(Issued {
        device,
        chain_len: chain.len(),
    })
}

/// Writes a new file readable by its owner only; never replaces one.
fn write_new(path: &Path, data: &[u8]) -> Result<(), Error> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
        .and_then(|mut f| f.write_all(data).and_then(|()| f.sync_all()))
        .map_err(|e| Error::Input(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_signatures_become_fixed_length_r_s() {
        // r with a sign-padding zero, s shorter than the order.
        let der = hex::decode("3009020300ff01020201ab").unwrap();
        assert_eq!(raw_signature(&der, 3).unwrap(), hex::decode("00ff010001ab").unwrap());
        assert!(raw_signature(&der, 1).is_none(), "r longer than the order");
        assert!(
            raw_signature(&hex::decode("3003020101").unwrap(), 1).is_none(),
            "one integer"
        );
        assert!(
            raw_signature(&hex::decode("3006020101020101ff").unwrap(), 1).is_none(),
            "trailing byte"
        );
    }
}
