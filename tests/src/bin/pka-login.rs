//! Public key authentication through PC/SC with the APDUs upstream's host library (pypicohsm)
//! sends, for `tests/pka.rs`: registers three PUKs whose keys this program holds (P-256, `p256`
//! crate; requests assembled with `hsm_card::cvc`'s builders and signed here), then logs in with
//! two of them `--runs` times, timing each 2-of-3 login, and probes what the login gates.
//!
//! ```text
//! pka-login --reader NAME --pin PIN --runs N
//! ```
//! Prints `key value` lines: `status HEX` (PUK AUTH status after registering), `device CHR`,
//! `gate_pin_only SW`, `gate_one SW`, `gate_two SW`, `reselect_status HEX`, `login_ms MEDIAN MIN
//! MAX` and `apdu_ms MEDIAN` (one EXTERNAL AUTHENTICATE).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer;

const SELECT: &str = "00A4040C0BE82B0601040181C31F0201";
/// The protected data object the gate probes write (UPDATE BINARY needs user authentication).
const PROBE_UPDATE: &str = "00D7CD0109540200005303010203";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pka-login: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Link {
    card: pcsc::Card,
    buf: Vec<u8>,
}

impl Link {
    /// Sends `apdu`; data and status word.
    fn tx(&mut self, apdu: &[u8]) -> Result<(Vec<u8>, u16), String> {
        let r = self
            .card
            .transmit(apdu, &mut self.buf)
            .map_err(|e| format!("transmit: {e}"))?;
        let n = r.len();
        if n < 2 {
            return Err("short response".into());
        }
        Ok((r[..n - 2].to_vec(), u16::from_be_bytes([r[n - 2], r[n - 1]])))
    }

    fn ok(&mut self, apdu: &[u8], what: &str) -> Result<Vec<u8>, String> {
        match self.tx(apdu)? {
            (d, 0x9000) => Ok(d),
            (_, sw) => Err(format!("{what}: {sw:04X}")),
        }
    }
}

/// pypicokey sends every command as an extended APDU: `CLA INS P1 P2 00 Lc Lc data [Le Le]`.
fn ext(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], ne: Option<u16>) -> Vec<u8> {
    let mut v = vec![cla, ins, p1, p2, 0];
    if !data.is_empty() {
        v.extend_from_slice(&(data.len() as u16).to_be_bytes());
        v.extend_from_slice(data);
    }
    if let Some(ne) = ne {
        v.extend_from_slice(&ne.to_be_bytes());
    }
    v
}

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex constant")
}

fn sign(k: &SigningKey, msg: &[u8]) -> Vec<u8> {
    let s: p256::ecdsa::Signature = k.sign(msg);
    s.to_bytes().to_vec()
}

/// PUK `i`: its key and CHR.
fn puk(i: u8) -> (SigningKey, Vec<u8>) {
    (
        SigningKey::from_slice(&[0x50 + i; 32]).expect("key"),
        format!("PKAE2EKEY{i:04}").into_bytes(),
    )
}

/// The content of PUK `i`'s authenticated request (what pypicohsm's `register_puk` sends).
fn request(i: u8) -> Vec<u8> {
    use hsm_card::cvc;
    let (key, chr) = puk(i);
    let owner_device = SigningKey::from_slice(&[0x5F; 32]).expect("key");
    let q: [u8; 65] = key
        .verifying_key()
        .to_sec1_point(false)
        .as_bytes()
        .try_into()
        .expect("point");
    let body = cvc::body(b"UTCA00001", &cvc::p256_public_key(&q), &chr, false);
    let inner = cvc::certificate(&body, &sign(&key, &body));
    let tbs = cvc::authenticated_tbs(&inner, b"ESPKAOWNER00001");
    let mut content = tbs.clone();
    cvc::put(&mut content, 0x5F37, &sign(&owner_device, &tbs));
    content
}

/// pypicohsm's `puk_prepare_signature` and `authenticate_puk` for PUKs `who`: one challenge, then
/// MSE SET AT and EXTERNAL AUTHENTICATE per PUK. The time of the last EXTERNAL AUTHENTICATE too.
fn login(link: &mut Link, device: &[u8], who: &[u8]) -> Result<Duration, String> {
    let challenge = link.ok(&ext(0x00, 0x84, 0, 0, &[], Some(8)), "GET CHALLENGE")?;
    let mut last = Duration::ZERO;
    for &i in who {
        let (key, chr) = puk(i);
        let sig = sign(&key, &[device, &challenge].concat());
        let mut mse = vec![0x83, chr.len() as u8];
        mse.extend_from_slice(&chr);
        link.ok(&ext(0x00, 0x22, 0x81, 0xA4, &mse, None), "MSE SET AT")?;
        let t = Instant::now();
        link.ok(&ext(0x00, 0x82, 0x00, 0x00, &sig, None), "EXTERNAL AUTHENTICATE")?;
        last = t.elapsed();
    }
    Ok(last)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .ok_or(format!(
                "usage: pka-login --reader NAME --pin PIN --runs N (missing {name})"
            ))
    };
    let reader = arg("--reader")?;
    let pin = arg("--pin")?;
    let runs: usize = arg("--runs")?.parse().map_err(|_| "bad --runs")?;
    let context = pcsc::Context::establish(pcsc::Scope::User).map_err(|e| format!("no pcscd: {e}"))?;
    let name = std::ffi::CString::new(reader.clone()).map_err(|_| "bad reader name")?;
    let card = context
        .connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .map_err(|e| format!("cannot connect to the card in {reader:?}: {e}"))?;
    let mut link = Link {
        card,
        buf: vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED],
    };
    let verify = ext(0x00, 0x20, 0x00, 0x81, pin.as_bytes(), None);

    // Register with a PIN session, as pypicohsm's register_puk (80 54 00 00, the 67 content).
    link.ok(&hex(SELECT), "SELECT")?;
    link.ok(&verify, "VERIFY")?;
    let mut status = Vec::new();
    for i in 1..=3 {
        status = link.ok(&ext(0x80, 0x54, 0, 0, &request(i), Some(0)), "PUK AUTH register")?;
    }
    println!("status {}", hex::encode_upper(&status));

    // The device CHR, as pypicohsm reads it: the CHR of the certificate in 2F02.
    link.ok(&hex(SELECT), "SELECT")?;
    let c_devaut = link.ok(
        &ext(0x00, 0xB1, 0x2F, 0x02, &[0x54, 0x02, 0x00, 0x00], Some(0)),
        "READ 2F02",
    )?;
    let device = hsm_card::cvc::Certificate::parse_prefix(&c_devaut)
        .map_err(|e| format!("2F02: {e}"))?
        .0
        .chr
        .to_vec();
    println!("device {}", String::from_utf8_lossy(&device));

    // What the login gates: a protected write with the PIN only, after one PUK, after two.
    link.ok(&verify, "VERIFY")?;
    println!("gate_pin_only {:04X}", link.tx(&hex(PROBE_UPDATE))?.1);
    login(&mut link, &device, &[1])?;
    println!("gate_one {:04X}", link.tx(&hex(PROBE_UPDATE))?.1);
    login(&mut link, &device, &[2, 3])?;
    println!("gate_two {:04X}", link.tx(&hex(PROBE_UPDATE))?.1);
    let (s, _) = link.tx(&ext(0x80, 0x54, 0, 0, &[], Some(0)))?;
    println!("login_status {}", hex::encode_upper(&s));

    // Timing: SELECT (a new session), then the 2-of-3 login, `runs` times.
    let mut logins = Vec::new();
    let mut apdus = Vec::new();
    for r in 0..runs {
        link.ok(&hex(SELECT), "SELECT")?;
        let who: [u8; 2] = match r % 3 {
            0 => [1, 2],
            1 => [2, 3],
            _ => [3, 1],
        };
        let t = Instant::now();
        let one = login(&mut link, &device, &who)?;
        logins.push(t.elapsed());
        apdus.push(one);
        let (s, _) = link.tx(&ext(0x80, 0x54, 0, 0, &[], Some(0)))?;
        if s.get(3) != Some(&2) {
            return Err(format!("run {r}: status {}", hex::encode(&s)));
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (min, max) = (
        logins.iter().min().copied().unwrap_or_default(),
        logins.iter().max().copied().unwrap_or_default(),
    );
    println!(
        "login_ms {:.3} {:.3} {:.3}",
        ms(median(logins.clone())),
        ms(min),
        ms(max)
    );
    println!("apdu_ms {:.3}", ms(median(apdus)));
    link.ok(&hex(SELECT), "SELECT")?;
    let (s, _) = link.tx(&ext(0x80, 0x54, 0, 0, &[], Some(0)))?;
    println!("reselect_status {}", hex::encode_upper(&s));
    Ok(())
}
