//! Signatures per second through a PKCS#11 module: OpenSC's module in front of the virtual card, or
//! SoftHSM2, measured the same way in the same run.
//!
//! ```text
//! p11-bench --module PATH --pin PIN --id HEX --mechanism ecdsa|sha256-rsa-pkcs [--token LABEL] [--count N]
//! ```
//!
//! Opens one session, logs in, finds the private key by CKA_ID and signs N times (one warm-up first);
//! prints the median time of one C_Sign and the operations per second.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

struct Args {
    module: String,
    pin: String,
    id: Vec<u8>,
    mechanism: String,
    token: Option<String>,
    count: usize,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("p11-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        module: String::new(),
        pin: String::new(),
        id: Vec::new(),
        mechanism: String::new(),
        token: None,
        count: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--module" => a.module = value()?,
            "--pin" => a.pin = value()?,
            "--id" => a.id = hex::decode(value()?).map_err(|e| format!("--id: {e}"))?,
            "--mechanism" => a.mechanism = value()?,
            "--token" => a.token = Some(value()?),
            "--count" => a.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    if a.module.is_empty() || a.pin.is_empty() || a.id.is_empty() || a.count == 0 {
        return Err("usage: p11-bench --module PATH --pin PIN --id HEX --mechanism ecdsa|sha256-rsa-pkcs".into());
    }
    Ok(a)
}

fn run() -> Result<(), String> {
    let args = parse()?;
    let (mechanism, data) = match args.mechanism.as_str() {
        "ecdsa" => (Mechanism::Ecdsa, vec![0x42u8; 32]),
        "sha256-rsa-pkcs" => (Mechanism::Sha256RsaPkcs, b"data to sign".to_vec()),
        other => return Err(format!("unknown mechanism {other:?}")),
    };
    let p11 = Pkcs11::new(&args.module).map_err(|e| format!("load {}: {e}", args.module))?;
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| format!("C_Initialize: {e}"))?;
    let slots = p11.get_slots_with_token().map_err(|e| format!("slots: {e}"))?;
    let slot = slots
        .into_iter()
        .find(|s| match &args.token {
            None => true,
            Some(label) => p11
                .get_token_info(*s)
                .map(|t| t.label().trim() == label)
                .unwrap_or(false),
        })
        .ok_or("no token")?;
    let session = p11.open_rw_session(slot).map_err(|e| format!("open session: {e}"))?;
    session
        .login(UserType::User, Some(&AuthPin::from(args.pin.clone())))
        .map_err(|e| format!("login: {e}"))?;
    let key = *session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(args.id.clone()),
        ])
        .map_err(|e| format!("find key: {e}"))?
        .first()
        .ok_or("no private key with that id")?;
    session
        .sign(&mechanism, key, &data)
        .map_err(|e| format!("C_Sign: {e}"))?;
    let mut times: Vec<Duration> = Vec::with_capacity(args.count);
    let started = Instant::now();
    for _ in 0..args.count {
        let t = Instant::now();
        session
            .sign(&mechanism, key, &data)
            .map_err(|e| format!("C_Sign: {e}"))?;
        times.push(t.elapsed());
    }
    let total = started.elapsed();
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "{} {}: median {:.3} ms per C_Sign, {:.0} signatures/s over {}",
        args.module,
        args.mechanism,
        median.as_secs_f64() * 1e3,
        args.count as f64 / total.as_secs_f64(),
        args.count
    );
    Ok(())
}
