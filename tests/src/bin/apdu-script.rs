//! Sends command APDUs through PC/SC and prints the responses: one hex APDU per line on stdin, one hex
//! response (data and status word) per line on stdout. For end-to-end tests of what OpenSC's tools
//! cannot send (32-bit offsets, files larger than `pkcs11-tool`'s 5000-byte object limit).
//!
//! ```text
//! apdu-script --reader NAME < apdus.txt
//! ```

use std::io::{BufRead, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("apdu-script: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let reader = match (args.next().as_deref(), args.next()) {
        (Some("--reader"), Some(name)) => name,
        _ => return Err("usage: apdu-script --reader NAME < apdus.txt".into()),
    };
    let context = pcsc::Context::establish(pcsc::Scope::User).map_err(|e| format!("no pcscd: {e}"))?;
    let name = std::ffi::CString::new(reader.clone()).map_err(|_| "bad reader name")?;
    let card = context
        .connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .map_err(|e| format!("cannot connect to the card in {reader:?}: {e}"))?;
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let apdu = hex::decode(line).map_err(|e| format!("bad hex {line:?}: {e}"))?;
        let response = card
            .transmit(&apdu, &mut buf)
            .map_err(|e| format!("transmit failed: {e}"))?;
        writeln!(out, "{}", hex::encode_upper(response)).map_err(|e| format!("stdout: {e}"))?;
    }
    Ok(())
}
