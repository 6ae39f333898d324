//! APDU round-trip benchmark: through PC/SC (pcscd + vpcd + pico-hsm-vcard) or in-process (the card
//! core on a file flash, no transport).
//!
//! ```text
//! apdu-bench [--reader NAME] [--count N]            through pcscd (run it where pcscd is)
//! apdu-bench --in-process [--count N]               Card::transmit on a temporary state directory
//! ```
//!
//! Sends SELECT of the SmartCard-HSM application, then N times SELECT and N times GET CHALLENGE (8
//! bytes), checks every status word is 9000 and prints the medians.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use hsm_vcard::HsmCard;
use hsm_vcard::platform::FilePlatform;
use hsm_vcard::state::StateDir;
use hsm_vcard::vpcd::VirtualCard;

/// SELECT by AID of the SmartCard-HSM application (E8 2B 06 01 04 01 81 C3 1F 02 01), no FCI.
const SELECT: [u8; 16] = [
    0x00, 0xA4, 0x04, 0x0C, 0x0B, 0xE8, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x81, 0xC3, 0x1F, 0x02, 0x01,
];
/// GET CHALLENGE of 8 bytes.
const GET_CHALLENGE: [u8; 5] = [0x00, 0x84, 0x00, 0x00, 0x08];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("apdu-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Args {
    reader: Option<String>,
    count: usize,
    in_process: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        reader: None,
        count: 1000,
        in_process: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--reader" => args.reader = Some(it.next().ok_or("--reader needs a name")?),
            "--count" => {
                args.count = it.next().and_then(|n| n.parse().ok()).ok_or("--count needs a number")?;
            }
            "--in-process" => args.in_process = true,
            "-h" | "--help" => {
                println!("usage: apdu-bench [--reader NAME] [--count N] | apdu-bench --in-process [--count N]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if args.count == 0 {
        return Err("--count must be at least 1".into());
    }
    Ok(args)
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    if args.in_process {
        in_process(args.count)
    } else {
        through_pcsc(&args)
    }
}

fn through_pcsc(args: &Args) -> Result<(), String> {
    let context = pcsc::Context::establish(pcsc::Scope::User).map_err(|e| format!("no pcscd: {e}"))?;
    let readers = context
        .list_readers_owned()
        .map_err(|e| format!("cannot list readers: {e}"))?;
    let reader = match &args.reader {
        Some(name) => readers
            .iter()
            .find(|r| r.to_string_lossy() == *name)
            .ok_or_else(|| format!("reader {name:?} not found among {readers:?}"))?,
        None => readers.first().ok_or("no reader")?,
    };
    let card = context
        .connect(reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .map_err(|e| format!("cannot connect to the card in {reader:?}: {e}"))?;
    let mut buf = [0u8; pcsc::MAX_BUFFER_SIZE];
    let mut exchange = |apdu: &[u8]| -> Result<Duration, String> {
        let started = Instant::now();
        let response = card
            .transmit(apdu, &mut buf)
            .map_err(|e| format!("transmit failed: {e}"))?;
        let elapsed = started.elapsed();
        check(apdu, response)?;
        Ok(elapsed)
    };
    println!("reader: {}", reader.to_string_lossy());
    measure("through pcscd", args.count, &mut exchange)
}

fn in_process(count: usize) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let state = StateDir::open(dir.path())?;
    let mut card = HsmCard::new(FilePlatform::open(&state)?);
    card.reset();
    let mut exchange = |apdu: &[u8]| -> Result<Duration, String> {
        let started = Instant::now();
        let response = card.transmit(apdu);
        let elapsed = started.elapsed();
        check(apdu, response)?;
        Ok(elapsed)
    };
    measure("in-process", count, &mut exchange)
}

fn check(apdu: &[u8], response: &[u8]) -> Result<(), String> {
    match response {
        [.., 0x90, 0x00] => Ok(()),
        _ => Err(format!(
            "APDU {} answered {}",
            hex::encode_upper(apdu),
            hex::encode_upper(response)
        )),
    }
}

fn measure(
    label: &str,
    count: usize,
    exchange: &mut dyn FnMut(&[u8]) -> Result<Duration, String>,
) -> Result<(), String> {
    exchange(&SELECT)?;
    for (name, apdu) in [("SELECT", &SELECT[..]), ("GET CHALLENGE", &GET_CHALLENGE[..])] {
        let mut times = (0..count).map(|_| exchange(apdu)).collect::<Result<Vec<_>, _>>()?;
        times.sort();
        let at = |q: usize| times[(times.len() - 1) * q / 100].as_secs_f64() * 1e6;
        println!(
            "{label}: {name} x{count}: median {:.2} us, p90 {:.2} us, p99 {:.2} us, min {:.2} us",
            at(50),
            at(90),
            at(99),
            at(0)
        );
    }
    Ok(())
}
