//! Test fixture: places known secret keys into a stopped virtual card's state directory, the way
//! GENERATE SYMMETRIC KEY stores a generated one (sealed under the MKEK, with its description and
//! metadata), so the end-to-end tests can compare the card's results with OpenSSL's for the same
//! key. It runs the card core on the state directory, logs in with the PIN and calls
//! [`hsm_card::Card::install_secret_key`]; the card must not be running (the directory is locked).
//!
//! ```text
//! install-secret-key --state-dir DIR --pin PIN ID:HEXKEY[:HEXMETA] ...
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use hsm_card::Card;
use hsm_vcard::platform::FilePlatform;
use hsm_vcard::state::StateDir;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("install-secret-key: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: install-secret-key --state-dir DIR --pin PIN ID:HEXKEY[:HEXMETA] ...";

fn run() -> Result<(), String> {
    let mut state = None;
    let mut pin = None;
    let mut keys = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--state-dir" => state = args.next().map(PathBuf::from),
            "--pin" => pin = args.next(),
            spec => {
                let mut parts = spec.split(':');
                let id: u8 = parts
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("bad key spec {spec:?}: {USAGE}"))?;
                let key = hex::decode(parts.next().unwrap_or_default()).map_err(|e| format!("{spec:?}: {e}"))?;
                let meta = hex::decode(parts.next().unwrap_or_default()).map_err(|e| format!("{spec:?}: {e}"))?;
                keys.push((id, key, meta));
            }
        }
    }
    let (Some(state), Some(pin)) = (state, pin) else {
        return Err(USAGE.into());
    };
    let dir = StateDir::open(&state)?;
    let mut card = Card::new(FilePlatform::open(&dir)?);
    let mut out = vec![0u8; hsm_card::RESPONSE_BUFFER_SIZE];
    let mut send = |card: &mut Card<FilePlatform>, apdu: &[u8]| {
        let n = card.transmit(apdu, &mut out);
        u16::from_be_bytes([out[n - 2], out[n - 1]])
    };
    let select = hex::decode("00A4040C0BE82B0601040181C31F0201").map_err(|e| e.to_string())?;
    if send(&mut card, &select) != 0x9000 {
        return Err("SELECT of the application failed".into());
    }
    let mut verify = vec![0x00, 0x20, 0x00, 0x81, pin.len() as u8];
    verify.extend_from_slice(pin.as_bytes());
    match send(&mut card, &verify) {
        0x9000 => {}
        sw => return Err(format!("VERIFY answered {sw:04X}")),
    }
    for (id, key, meta) in &keys {
        card.install_secret_key(*id, key, meta)
            .map_err(|sw| format!("key {id}: {:04X}", sw.to_u16()))?;
    }
    card.platform_mut().sync()
}
