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
        /// The CA key's curve
        #[arg(long, default_value = "p256", value_parser = ["p256"])]
        curve: String,
    },
    /// Issue the device's certificate with the CA of DIR and write the chain into the device
    /// (needs the device's button)
    ///
    /// Reads the device key's request (CE00), verifies its self-signature, makes a device
    /// certificate for that key (the device's own holder reference, CAR = the CA's) signed by the
    /// CA, and writes "device certificate ‖ CA certificate" into C_DevAut (2F02) through the
    /// rescue applet. Press the device's button when asked. Afterwards `attest --ca
    /// DIR/ca-cert.cvcert`, sc-hsm-tool --export-for-pub-key-auth and pkcs15-tool use the new
    /// chain; re-initializing the device keeps it.
    #[command(verbatim_doc_comment)]
    Issue {
        /// The CA directory made by `ca init`
        #[arg(long, value_name = "DIR")]
        ca: PathBuf,
    },
}

/// Runs a `ca` command.
pub fn run(cmd: &CaCmd, reader: Option<&str>) -> Result<(), Error> {
    match cmd {
        CaCmd::Init { out, name, curve: _ } => {
            let ca = init(out, name)?;
            println!("CA created in {}", out.display());
            println!("CHR         : {}", ca.name);
            println!("Fingerprint : SHA-256 {}", fingerprint(&ca.cert));
            println!("Key         : {} (keep it offline)", out.join(KEY_FILE).display());
            println!("Certificate : {}", out.join(CERT_FILE).display());
            Ok(())
        }
        CaCmd::Issue { ca } => {
            let ca = load(ca)?;
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

/// A loaded CA.
pub struct Ca {
    pub name: String,
    pub key: SigningKey,
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
        key,
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

/// Loads and checks a CA directory: the certificate is self-signed and for the key.
pub fn load(dir: &Path) -> Result<Ca, Error> {
    let key_path = dir.join(KEY_FILE);
    let pem = Zeroizing::new(
        std::fs::read_to_string(&key_path)
            .map_err(|e| Error::Input(format!("cannot read {}: {e}", key_path.display())))?,
    );
    let key = SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| Error::Input(format!("{}: not a P-256 PKCS#8 key: {e}", key_path.display())))?;
    let cert_path = dir.join(CERT_FILE);
    let cert =
        std::fs::read(&cert_path).map_err(|e| Error::Input(format!("cannot read {}: {e}", cert_path.display())))?;
    let parsed = cvc::Certificate::parse(&cert).map_err(|e| Error::Input(format!("{}: {e}", cert_path.display())))?;
    if parsed.public_key.encoded != p256_template(&key).as_slice() {
        return Err(Error::Input(format!(
            "{} is not the certificate of {}",
            cert_path.display(),
            key_path.display()
        )));
    }
    if !parsed.is_self_signed() || parsed.verify_self_signed(None).is_err() {
        return Err(Error::Input(format!(
            "{}: not a valid self-signed certificate",
            cert_path.display()
        )));
    }
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
    let cert = cvc::certificate(&body, &sign(&ca.key, &body));
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
