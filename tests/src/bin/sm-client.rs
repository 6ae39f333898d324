//! Secure messaging over PC/SC, with the test client of `hsm_e2e::sm_client` (run where pcscd is).
//!
//! ```text
//! sm-client --reader NAME --pin PIN [--key-id N] [--count N]
//! ```
//!
//! Opens a session (MSE SET AT, GENERAL AUTHENTICATE, token checked against C_DevAut's key), sends
//! VERIFY, a P-256 key generation, a signature (checked with p256) and a READ BINARY protected, then
//! a command with one MAC bit flipped (6988, and the session ends: the next protected command fails,
//! plain ones work). Then measures plain against protected READ BINARY and GET CHALLENGE, printing
//! medians. Exit status 0 when every check passed.

use std::ffi::CString;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use hsm_e2e::sm_client::{self, Handshake, Session};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256};

const SELECT: [u8; 16] = [
    0x00, 0xA4, 0x04, 0x0C, 0x0B, 0xE8, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x81, 0xC3, 0x1F, 0x02, 0x01,
];
/// READ BINARY of C_DevAut (2F02) from offset 0, extended Le.
const READ_2F02: [u8; 13] = [
    0x00, 0xB1, 0x2F, 0x02, 0x00, 0x00, 0x04, 0x54, 0x02, 0x00, 0x00, 0x00, 0x00,
];
const OID_ECDSA: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03];

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            println!("sm-client: all checks passed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sm-client: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One PC/SC round trip, 61xx answered by GET RESPONSE.
fn transmit(card: &pcsc::Card, apdu: &[u8]) -> Result<(Vec<u8>, u16), String> {
    hsm_e2e::pcsc_transmit(card, apdu).map(|a| (a.data, a.sw))
}

fn expect(what: &str, got: (Vec<u8>, u16), sw: u16) -> Result<Vec<u8>, String> {
    if got.1 != sw {
        return Err(format!("{what}: {:04X}, expected {sw:04X}", got.1));
    }
    Ok(got.0)
}

/// A protected command: wrapped, sent, unwrapped (MAC checked).
fn protected(
    card: &pcsc::Card,
    s: &mut Session,
    header: [u8; 4],
    data: &[u8],
    le: Option<usize>,
) -> Result<(Vec<u8>, u16), String> {
    let [cla, ins, p1, p2] = header;
    let cmd = s.wrap(cla, ins, p1, p2, data, le);
    let (resp, sw) = transmit(card, &cmd)?;
    s.unwrap(&resp, sw)
}

fn tlv(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut v = tag.to_vec();
    match value.len() {
        n if n < 0x80 => v.push(n as u8),
        n if n < 0x100 => v.extend_from_slice(&[0x81, n as u8]),
        n => v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    v.extend_from_slice(value);
    v
}

/// GENERATE ASYMMETRIC KEY PAIR data for P-256 (pypicohsm's template).
fn keygen_data() -> Vec<u8> {
    let p = hex::decode("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF").unwrap();
    let a = hex::decode("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC").unwrap();
    let b = hex::decode("5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B").unwrap();
    let g = hex::decode(
        "046B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C2964FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5",
    )
    .unwrap();
    let n = hex::decode("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551").unwrap();
    let mut t = tlv(&[0x06], &OID_ECDSA);
    t.extend(tlv(&[0x81], &p));
    t.extend(tlv(&[0x82], &a));
    t.extend(tlv(&[0x83], &b));
    t.extend(tlv(&[0x84], &g));
    t.extend(tlv(&[0x85], &n));
    let mut d = tlv(&[0x5F, 0x29], &[0]);
    d.extend(tlv(&[0x42], b"UTCA00001"));
    d.extend(tlv(&[0x7F, 0x49], &t));
    d.extend(tlv(&[0x5F, 0x20], b"UTSM00001"));
    d
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn open(card: &pcsc::Card, device_point: &[u8], round: u32) -> Result<Session, String> {
    expect("MSE SET AT", transmit(card, &sm_client::mse_set_at())?, 0x9000)?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let mut scalar: [u8; 32] = Sha256::new()
        .chain_update(now.as_nanos().to_be_bytes())
        .chain_update(round.to_be_bytes())
        .finalize()
        .into();
    scalar[0] &= 0x7F;
    let hs = Handshake::new(&scalar);
    let answer = expect(
        "GENERAL AUTHENTICATE",
        transmit(card, &hs.general_authenticate())?,
        0x9000,
    )?;
    hs.finish(device_point, &answer)
}

fn run() -> Result<(), String> {
    let (mut reader, mut pin, mut key_id, mut count) = (String::new(), String::new(), 1u8, 200usize);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--reader" => reader = value()?,
            "--pin" => pin = value()?,
            "--key-id" => key_id = value()?.parse().map_err(|e| format!("--key-id: {e}"))?,
            "--count" => count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    let context = pcsc::Context::establish(pcsc::Scope::User).map_err(|e| format!("no pcscd: {e}"))?;
    let name = CString::new(reader.clone()).map_err(|_| "bad reader name")?;
    let card = context
        .connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .map_err(|e| format!("cannot connect to {reader:?}: {e}"))?;

    expect("SELECT", transmit(&card, &SELECT)?, 0x9000)?;
    let cvc = expect("READ BINARY 2F02", transmit(&card, &READ_2F02)?, 0x9000)?;
    let device_point = sm_client::cvc_public_point(&cvc).ok_or("no device point in C_DevAut")?;

    // Plain timings first (a plain command ends a secure-messaging session).
    let challenge = [0x00, 0x84, 0x00, 0x00, 0x08];
    let mut plain_read = Vec::with_capacity(count);
    let mut plain_challenge = Vec::with_capacity(count);
    for _ in 0..count {
        let t = Instant::now();
        expect("plain READ BINARY", transmit(&card, &READ_2F02)?, 0x9000)?;
        plain_read.push(t.elapsed());
        let t = Instant::now();
        expect("plain GET CHALLENGE", transmit(&card, &challenge)?, 0x9000)?;
        plain_challenge.push(t.elapsed());
    }

    let mut s = open(&card, &device_point, 0)?;
    println!("session open: token checked against C_DevAut's key");
    // VERIFY travels encrypted and logs in.
    expect(
        "protected VERIFY",
        protected(&card, &mut s, [0, 0x20, 0, 0x81], pin.as_bytes(), None)?,
        0x9000,
    )?;
    let req = expect(
        "protected GENERATE",
        protected(&card, &mut s, [0, 0x46, key_id, 0], &keygen_data(), Some(65536))?,
        0x9000,
    )?;
    let point = sm_client::find(&req, 0x67)
        .and_then(|r| sm_client::find(r, 0x7F21))
        .and_then(|r| sm_client::find(r, 0x7F4E))
        .and_then(|r| sm_client::find(r, 0x7F49))
        .and_then(|r| sm_client::find(r, 0x86))
        .ok_or("no public point in the request")?
        .to_vec();
    let hash: [u8; 32] = Sha256::digest(b"signed through pcscd under secure messaging").into();
    let sig = expect(
        "protected COMPUTE SIGNATURE",
        protected(&card, &mut s, [0x80, 0x68, key_id, 0x70], &hash, Some(65536))?,
        0x9000,
    )?;
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|e| e.to_string())?;
    let sig = p256::ecdsa::Signature::from_der(&sig).map_err(|e| e.to_string())?;
    vk.verify_prehash(&hash, &sig).map_err(|e| format!("signature: {e}"))?;
    println!("protected VERIFY, key generation and signature: ok (signature checked with p256)");
    let read = expect(
        "protected READ BINARY",
        protected(&card, &mut s, [0, 0xB1, 0x2F, 0x02], &[0x54, 2, 0, 0], Some(65536))?,
        0x9000,
    )?;
    if read != cvc {
        return Err("protected READ BINARY differs from the plain one".into());
    }
    println!("protected READ BINARY: {} bytes, same as plain", read.len());

    // Protected timings.
    let mut sm_read = Vec::with_capacity(count);
    let mut sm_challenge = Vec::with_capacity(count);
    for _ in 0..count {
        let t = Instant::now();
        expect(
            "protected READ BINARY",
            protected(&card, &mut s, [0, 0xB1, 0x2F, 0x02], &[0x54, 2, 0, 0], Some(65536))?,
            0x9000,
        )?;
        sm_read.push(t.elapsed());
        let t = Instant::now();
        expect(
            "protected GET CHALLENGE",
            protected(&card, &mut s, [0, 0x84, 0, 0], &[], Some(8))?,
            0x9000,
        )?;
        sm_challenge.push(t.elapsed());
    }

    // One MAC bit flipped: 6988, and the session is over.
    let mut cmd = s.wrap(0, 0xB1, 0x2F, 0x02, &[0x54, 2, 0, 0], Some(65536));
    let at = cmd.len() - 3;
    cmd[at] ^= 0x01;
    let (data, sw) = transmit(&card, &cmd)?;
    if sw != 0x6988 || !data.is_empty() {
        return Err(format!("flipped MAC bit: {sw:04X} with {} bytes", data.len()));
    }
    let cmd = s.wrap(0, 0xB1, 0x2F, 0x02, &[0x54, 2, 0, 0], Some(65536));
    let (_, sw) = transmit(&card, &cmd)?;
    if sw != 0x6988 {
        return Err(format!(
            "protected command after the MAC error: {sw:04X}, expected 6988"
        ));
    }
    expect(
        "plain READ BINARY after the MAC error",
        transmit(&card, &READ_2F02)?,
        0x9000,
    )?;
    println!("flipped MAC bit: 6988, session ended, plain commands still work");
    // A new session works again.
    let mut s = open(&card, &device_point, 1)?;
    expect(
        "protected GET CHALLENGE",
        protected(&card, &mut s, [0, 0x84, 0, 0], &[], Some(8))?,
        0x9000,
    )?;

    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let (pr, sr) = (median(plain_read), median(sm_read));
    let (pc, sc) = (median(plain_challenge), median(sm_challenge));
    println!(
        "median over {count}: READ BINARY 2F02 ({} bytes) plain {:.0} µs, protected {:.0} µs (+{:.0} µs)",
        cvc.len(),
        us(pr),
        us(sr),
        us(sr) - us(pr)
    );
    println!(
        "median over {count}: GET CHALLENGE 8 plain {:.0} µs, protected {:.0} µs (+{:.0} µs)",
        us(pc),
        us(sc),
        us(sc) - us(pc)
    );
    Ok(())
}
