//! The `pico-hsm-vcard` command line (also run by the end-to-end tests' copy of the binary).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Parser;

use crate::HsmCard;
use crate::platform::FilePlatform;
use crate::state::StateDir;
use crate::vpcd::{self, Options};

/// Default vpcd address: the first virtual reader of Debian's /etc/reader.conf.d/vpcd.
const DEFAULT_VPCD: &str = "127.0.0.1:35963";
const DEFAULT_VPCD_PORT: u16 = 35963;

#[derive(Parser)]
#[command(
    name = "pico-hsm-vcard",
    version,
    about = "Pico HSM as a virtual SmartCard-HSM inside pcscd (through vsmartcard's vpcd driver)",
    long_about = "Pico HSM as a virtual SmartCard-HSM inside pcscd.\n\n\
        Runs the Pico HSM card core on this PC and plugs it into pcscd as a card in a vsmartcard \
        `vpcd` virtual reader, so OpenSC (opensc-tool, sc-hsm-tool, pkcs15-tool, pkcs11-tool with \
        opensc-pkcs11.so) and everything on PKCS#11 see a SmartCard-HSM.\n\n\
        The card connects to vpcd as a TCP client and waits (retrying) until pcscd is there; when pcscd \
        restarts it reconnects. Needs the Debian packages pcscd and vsmartcard-vpcd (`cargo xtask run` \
        installs and starts them). With Debian's /etc/reader.conf.d/vpcd, port 35963 is reader \
        \"Virtual PCD 00 00\" and port 35964 is \"Virtual PCD 00 01\".\n\n\
        The card's state (flash image, device root secret and serial) lives in the state directory; \
        one instance at a time may use it. Logging: RUST_LOG=debug shows every APDU's header, lengths \
        and status word (never its data); the default is info. Ctrl-C or SIGTERM stop it after the \
        current APDU with the flash synced; a second Ctrl-C exits at once.",
    after_help = "Examples:\n  pico-hsm-vcard\n  pico-hsm-vcard --state-dir ~/hsm2 --vpcd 127.0.0.1:35964\n  \
        RUST_LOG=debug pico-hsm-vcard"
)]
struct Args {
    /// State directory [default: $XDG_DATA_HOME/pico-hsm, else ~/.local/share/pico-hsm]
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,

    /// Address of vpcd, the pcscd reader driver the card connects to
    #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_VPCD)]
    vpcd: String,

    /// Confirm every request for the button (press-to-confirm: the rescue applet's device-key
    /// signature, certificate upload and PHY write). Without it they are refused (6600)
    #[arg(long)]
    auto_confirm: bool,
}

/// Parses the command line, runs the card until stopped, and returns the exit status.
pub fn main() -> ExitCode {
    let args = Args::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            eprintln!("pico-hsm-vcard: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let state_path = match args.state_dir {
        Some(dir) => dir,
        None => default_state_dir()?,
    };
    let stop = install_signal_handlers()?;
    let state = StateDir::open(&state_path)?;
    let mut platform = FilePlatform::open(&state)?;
    platform.set_auto_confirm(args.auto_confirm);
    let mut card = HsmCard::new(platform);

    log::info!("state directory: {}", state.path().display());
    log::info!("vpcd: {}{}", args.vpcd, reader_hint(&args.vpcd));
    log::info!("waiting for pcscd (with the vpcd driver) to accept the card; Ctrl-C stops");

    let result = vpcd::serve(&mut card, &Options::new(args.vpcd.clone()), &stop)
        .map_err(|e| format!("cannot serve vpcd at {}: {e}", args.vpcd));
    let synced = card.platform_mut().sync();
    result?;
    synced?;
    log::info!("stopped; flash synced to {}", state.flash_path().display());
    Ok(())
}

fn reader_hint(address: &str) -> String {
    match address.rsplit_once(':').and_then(|(_, port)| port.parse::<u16>().ok()) {
        Some(port) if (DEFAULT_VPCD_PORT..DEFAULT_VPCD_PORT + 2).contains(&port) => format!(
            " (reader \"Virtual PCD 00 {:02}\" with Debian's /etc/reader.conf.d/vpcd)",
            port - DEFAULT_VPCD_PORT
        ),
        _ => String::new(),
    }
}

fn default_state_dir() -> Result<PathBuf, String> {
    if let Some(data) = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        return Ok(data.join("pico-hsm"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/pico-hsm")),
        None => Err("neither XDG_DATA_HOME nor HOME is set; pass --state-dir DIR".to_string()),
    }
}

/// SIGINT and SIGTERM raise the stop flag; a second one while stopping exits at once.
fn install_signal_handlers() -> Result<Arc<AtomicBool>, String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag;
    let stop = Arc::new(AtomicBool::new(false));
    for (signal, code) in [(SIGINT, 130), (SIGTERM, 143)] {
        flag::register_conditional_shutdown(signal, code, Arc::clone(&stop))
            .and_then(|_| flag::register(signal, Arc::clone(&stop)))
            .map_err(|e| format!("cannot install signal handler: {e}"))?;
    }
    Ok(stop)
}
