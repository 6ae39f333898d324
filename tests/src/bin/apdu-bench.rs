//! APDU round-trip benchmark: through PC/SC (pcscd + vpcd + pico-hsm-vcard) or in-process (the card
//! core on a file flash, no transport).
//!
//! ```text
//! apdu-bench [--reader NAME] [--count N]            through pcscd (run it where pcscd is)
//! apdu-bench --in-process [--count N]               Card::transmit on a temporary state directory
//! apdu-bench [--reader NAME] [--count N] [--setup HEX]... --apdu NAME=HEX...
//! ```
//!
//! Sends SELECT of the SmartCard-HSM application, then N times SELECT and N times GET CHALLENGE (8
//! bytes), checks every status word is 9000 and prints the medians. With `--apdu`, it measures the
//! given APDUs instead, after sending each `--setup` APDU once (a VERIFY, for example).

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
    setup: Vec<Vec<u8>>,
    apdus: Vec<(String, Vec<u8>)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        reader: None,
        count: 1000,
        in_process: false,
        setup: Vec::new(),
        apdus: Vec::new(),
    };
    let hex_arg = |v: Option<String>, what: &str| -> Result<Vec<u8>, String> {
        let v = v.ok_or_else(|| format!("{what} needs a value"))?;
        hex::decode(&v).map_err(|e| format!("{what} {v:?}: {e}"))
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--reader" => args.reader = Some(it.next().ok_or("--reader needs a name")?),
            "--count" => {
                args.count = it.next().and_then(|n| n.parse().ok()).ok_or("--count needs a number")?;
            }
            "--in-process" => args.in_process = true,
            "--setup" => args.setup.push(hex_arg(it.next(), "--setup")?),
            "--apdu" => {
                let spec = it.next().ok_or("--apdu needs NAME=HEX")?;
                let (name, apdu) = spec.split_once('=').ok_or("--apdu needs NAME=HEX")?;
                args.apdus
                    .push((name.to_string(), hex_arg(Some(apdu.to_string()), "--apdu")?));
            }
            "-h" | "--help" => {
                println!(
                    "usage: apdu-bench [--reader NAME] [--count N] [--setup HEX]... [--apdu NAME=HEX]...\n       \
                     apdu-bench --in-process [--count N]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if args.count == 0 {
        return Err("--count must be at least 1".into());
    }
    if args.in_process && !args.apdus.is_empty() {
        return Err("--apdu works through pcscd only".into());
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
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
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
    if args.apdus.is_empty() {
        return measure("through pcscd", args.count, &mut exchange);
    }
    exchange(&SELECT)?;
    for apdu in &args.setup {
        exchange(apdu)?;
    }
    for (name, apdu) in &args.apdus {
        report("through pcscd", name, args.count, apdu, &mut exchange)?;
    }
    Ok(())
}

fn in_process(count: usize) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    // A state directory the virtual card creates itself (mode 0700): an existing one must already be
    // private, and a temporary directory's mode follows the umask.
    let state = StateDir::open(&dir.path().join("state"))?;
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
        report(label, name, count, apdu, exchange)?;
    }
    Ok(())
}

/// Sends `apdu` `count` times and prints the median, p90, p99 and minimum round trip.
fn report(
    label: &str,
    name: &str,
    count: usize,
    apdu: &[u8],
    exchange: &mut dyn FnMut(&[u8]) -> Result<Duration, String>,
) -> Result<(), String> {
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
    Ok(())
}
