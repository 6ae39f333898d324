//! The `pico-hsm-tool` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use zeroize::Zeroizing;

use crate::card::reader::{Connection, PcscTransport};
use crate::card::{Client, Transport};
use crate::commands::backup::{self, RestoreOptions};
use crate::commands::dkek::{self, CreateShare, PasswordSource};
use crate::commands::hd;
use crate::commands::info;
use crate::commands::{device, init, keys};
use crate::hsm::{self, AppInfo, MAX_KEY_DOMAINS};
use crate::progress::Mode;
use crate::{Error, input};

#[derive(Parser)]
#[command(
    name = "pico-hsm-tool",
    version,
    about = "Administers a Pico HSM (or any SmartCard-HSM) over PC/SC",
    long_about = "Administers a Pico HSM, or any SmartCard-HSM compatible card, through pcscd.\n\n\
        Device information and initialization; device options, the secure lock, the clock and reboot; \
        keys (list, generate, delete, sign); DKEK shares, the key-encryption keys that make key backup \
        and restore between devices possible; and backup and restore of every key, certificate and data \
        object. DKEK share files and password shares are byte-compatible with OpenSC's \
        `sc-hsm-tool --create-dkek-share` / `--import-dkek-share`, so shares made by either tool work \
        with the other.\n\n\
        Errors from the card name the status word and what it means, for example \
        \"6982 security status not satisfied (log in with --pin)\". Read commands print JSON with --json.",
    after_help = "Examples:\n  \
        pico-hsm-tool info\n  \
        pico-hsm-tool --pin-file pin.txt info --json\n  \
        pico-hsm-tool --pin-file new-pin.txt init --dkek-shares 1\n  \
        pico-hsm-tool --pin-file pin.txt options set --key-counter-all on\n  \
        pico-hsm-tool --pin-file pin.txt secure-lock enable --secret-file ~/.pico-hsm-lock.secret\n  \
        pico-hsm-tool rtc set\n  \
        pico-hsm-tool --pin-file pin.txt keys gen ec:secp256r1 --label signing\n  \
        pico-hsm-tool --pin-file pin.txt keys sign 01 --input doc.txt --out doc.sig\n  \
        pico-hsm-tool dkek create-share dkek-share-1.pbe\n  \
        pico-hsm-tool dkek create-share dkek.pbe --pwd-shares-threshold 2 --pwd-shares-total 3\n  \
        pico-hsm-tool dkek import-share dkek-share-1.pbe --password-file pw.txt\n  \
        pico-hsm-tool --reader \"Virtual PCD 00 00\" dkek status\n  \
        pico-hsm-tool --pin-file pin.txt backup hsm-backup/\n  \
        pico-hsm-tool --reader \"Virtual PCD 00 01\" --pin-file pin.txt restore hsm-backup/\n  \
        pico-hsm-tool --pin-file pin.txt hd create-master --slot 0\n  \
        pico-hsm-tool --pin-file pin.txt hd xpub \"m/44'/0'/0'\"\n  \
        pico-hsm-tool --pin-file pin.txt hd sign \"m/44'/0'/0'/0/0\" --input message.txt"
)]
struct Cli {
    #[command(flatten)]
    global: Global,

    #[command(subcommand)]
    command: Cmd,
}

#[derive(Args)]
struct Global {
    /// PC/SC reader to use [default: the first reader with a card]
    #[arg(long, global = true, value_name = "NAME")]
    reader: Option<String>,

    /// User PIN, verified after selecting the card (visible to other users in the process list: prefer
    /// --pin-file). Upstream Pico HSM firmware shows the DKEK key check value only after a login
    #[arg(long, global = true, value_name = "PIN", conflicts_with = "pin_file")]
    pin: Option<String>,

    /// File whose first line is the user PIN
    #[arg(long, global = true, value_name = "PATH")]
    pin_file: Option<PathBuf>,

    /// Print what read commands (info, options, rtc get, keys list, keys gen, pka status, pka login,
    /// dkek status) report as JSON (the fields are documented in docs/tool.md)
    #[arg(long, global = true)]
    json: bool,

    /// The secure-lock secret file (made by `secure-lock enable`): with the lock on, sent after the
    /// PIN (EXTRAS 3A 03) so that this session can use the keys
    #[arg(long, global = true, value_name = "PATH")]
    lock_secret: Option<PathBuf>,

    /// Public key authentication: log in with this P-256 private key (PEM) after the PIN; give it once
    /// per key needed, each with its --pka-chr
    #[arg(long, global = true, value_name = "PATH")]
    pka_key: Vec<PathBuf>,

    /// The CHR under which the --pka-key of the same position is registered (see `pka status`)
    #[arg(long, global = true, value_name = "CHR")]
    pka_chr: Vec<String>,

    /// Public key authentication with a key on another SmartCard-HSM (registered from `pka export`):
    /// key slot (hex) @ that card's reader; its CHR comes from the card
    #[arg(long, global = true, value_name = "SLOT@READER", requires = "pka_card_pin_file")]
    pka_card: Vec<String>,

    /// File whose first line is the user PIN of the --pka-card cards
    #[arg(long, global = true, value_name = "PATH")]
    pka_card_pin_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show the device: MCU, serial, firmware version, device id, memory and flash, options, secure
    /// lock (with a PIN), PIN retries, key domains
    Info,
    /// Initialize the device: WIPES every key, certificate and data object, and sets the PINs
    ///
    /// The new user PIN comes from --pin / --pin-file or is asked twice on the terminal. A device that
    /// has an SO-PIN is re-initialized only with it (--so-pin); the SO-PIN stays the same (change it
    /// with OpenSC: `pkcs11-tool --login-type so --change-pin`). Asks for confirmation unless --yes.
    /// With the secure lock on, disable it first.
    #[command(verbatim_doc_comment)]
    Init(InitArgs),
    /// Device options: press-to-confirm and the key use counter on all keys (EXTRAS 06; needs the PIN)
    #[command(subcommand)]
    Options(OptionsCmd),
    /// The secure lock: bind the keys to a secret kept on this computer (EXTRAS 3A; needs the PIN)
    ///
    /// `enable` creates a 32-byte secret in a new file (mode 0600) and tells the device. From then on
    /// the PIN alone no longer opens the keys: after every restart (power-up, reboot) the device
    /// needs the PIN *and* the secret, which travels sealed (P-256 ECDH, HKDF-SHA256,
    /// ChaCha20-Poly1305). `unlock` sends it once; the device keeps it until it restarts, so other
    /// programs (OpenSC, pkcs11-tool) then work with the PIN alone. This tool's own key operations
    /// (keys sign, backup, restore) can also send it with --lock-secret FILE.
    ///
    /// LOSING THE FILE WITH THE LOCK ON LOSES EVERY KEY: only `disable` with the secret turns the
    /// lock off, and INITIALIZE needs it too; the only way back is erasing the flash. Keep a copy of
    /// the file somewhere safe.
    #[command(verbatim_doc_comment, subcommand)]
    SecureLock(LockCmd),
    /// The device clock (rescue applet; no PIN). It runs from when it is set until the next power cut
    #[command(subcommand)]
    Rtc(RtcCmd),
    /// Restart the device (rescue applet 1F 00; no PIN)
    Reboot,
    /// Keys: list with their labels, generate, delete, sign, public key
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Public key authentication: registered keys, registering one, logging in (PUK AUTH 80 54)
    ///
    /// A device initialized with `init --pka N-of-M` authenticates its user only when N of its M
    /// registered public keys (PUKs) sign a challenge; the PIN is still needed to open the keys.
    /// Each command of this tool logs in with --pka-key KEY.pem --pka-chr CHR (once per key needed)
    /// given before the command.
    #[command(verbatim_doc_comment, subcommand)]
    Pka(PkaCmd),
    /// DKEK shares and key domains
    #[command(subcommand)]
    Dkek(DkekCmd),
    /// Back up every key, certificate and data object into DIR (needs the user PIN)
    ///
    /// Each key CCxx (xx != 00; the device key never leaves) is wrapped under its key domain's DKEK
    /// (WRAP KEY) and saved with its description (C4xx) and certificate (CExx) as key-XX.wrap, in
    /// sc-hsm-tool's --wrap-key format. Data objects (C9xx with CFxx or CDxx) and CA certificates
    /// (C8xx with CAxx) are saved as plain files. manifest.txt, written last, lists every file with its
    /// FID and SHA-256. A key whose algorithm list does not allow wrapping is reported and skipped.
    /// Files are readable by their owner only; the keys in them are useless without the DKEK.
    #[command(verbatim_doc_comment)]
    Backup {
        /// The backup directory: new or empty (created if missing)
        dir: PathBuf,
        /// Write into a non-empty DIR; the files an earlier backup's manifest lists are replaced
        #[arg(long)]
        force: bool,
    },
    /// Restore a backup made by `backup` into the card (needs the user PIN)
    ///
    /// The manifest must match the files. Every key needs a complete key domain on the card with the
    /// DKEK it was wrapped under (import the same DKEK shares first). Nothing is changed when a key
    /// slot or file is already occupied, unless --force. Keys are unwrapped (UNWRAP KEY) into the slots
    /// the manifest names, then their descriptions and certificates written, then certificates and
    /// data objects with their descriptions.
    #[command(verbatim_doc_comment)]
    Restore {
        /// The backup directory
        dir: PathBuf,
        /// Overwrite keys and files that exist on the card
        #[arg(long)]
        force: bool,
    },
    /// Hierarchical deterministic keys: BIP32, SLIP-10, SLIP-21 masters on the card (needs the user PIN)
    #[command(subcommand)]
    Hd(HdCmd),
    /// A self-hosted device CA: create one, issue a device's certificate chain with it
    #[command(subcommand)]
    Ca(crate::commands::ca::CaCmd),
    /// Verify that key KEYID was generated in a device certified by a trusted CA (exit status 1 if not)
    ///
    /// Checks the key's request (CExx): its self-signature (proof of possession), the outer
    /// signature by the device key, and the device's chain (C_DevAut) up to a trust anchor. Each
    /// step is printed, then the verdict. No PIN needed.
    #[command(verbatim_doc_comment)]
    Attest(crate::commands::attest::AttestArgs),
}

#[derive(Args)]
struct InitArgs {
    /// SO-PIN, 16 hex digits (the 8 bytes sc-hsm-tool sends): the device's current one when it has
    /// one, else the new one [default: 3537363231383830, "57621880"]
    #[arg(long, value_name = "HEX", conflicts_with = "so_pin_file")]
    so_pin: Option<String>,
    /// File whose first line is the SO-PIN (16 hex digits)
    #[arg(long, value_name = "PATH")]
    so_pin_file: Option<PathBuf>,
    /// User PIN retries (1-15)
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=15))]
    retries: u8,
    /// Options: comma-separated names (reset-retry-counter, transport-pin, replace-pka, combined-auth,
    /// reset-retry-counter-only, press-to-confirm, key-counter-all), "none", or a hex value 0x....
    #[arg(long, default_value = "reset-retry-counter", value_name = "LIST")]
    options: String,
    /// DKEK shares of key domain 0 to import afterwards; 0 = a random DKEK made by the device (keys
    /// cannot be backed up); without it, no DKEK
    #[arg(long, value_name = "N")]
    dkek_shares: Option<u8>,
    /// Number of key domains (1-16), each set up later
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=16))]
    key_domains: Option<u8>,
    /// Public key authentication: N of M registered public keys needed to log in (M ≤ 8)
    #[arg(long, value_name = "N-of-M")]
    pka: Option<String>,
    /// Do not ask for confirmation
    #[arg(long)]
    yes: bool,
}

#[derive(Subcommand)]
enum OptionsCmd {
    /// Show the options (--json: value, set, press_to_confirm, key_counter_all, secure_lock)
    Get,
    /// Turn options on or off, then show them
    Set {
        /// Ask for the button before every use of a private or secret key (on/off)
        #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
        press_to_confirm: Option<bool>,
        /// Give keys generated from now on a use counter (on/off)
        #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
        key_counter_all: Option<bool>,
    },
}

#[derive(Subcommand)]
enum LockCmd {
    /// Create a new secret in FILE (mode 0600; an existing file is never overwritten) and turn the lock on
    Enable {
        /// Where to create the secret
        #[arg(long, value_name = "PATH")]
        secret_file: PathBuf,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
    },
    /// Send the secret and check it; the device keeps it until it restarts
    Unlock {
        /// The secret made by `enable`
        #[arg(long, value_name = "PATH")]
        secret_file: PathBuf,
    },
    /// Turn the lock off (needs the secret); the PIN alone opens the keys again
    Disable {
        /// The secret made by `enable`
        #[arg(long, value_name = "PATH")]
        secret_file: PathBuf,
    },
}

#[derive(Subcommand)]
enum RtcCmd {
    /// Show the clock (--json: set, unix, utc)
    Get,
    /// Set the clock [default: this computer's clock]
    Set {
        /// Unix seconds or YYYY-MM-DDTHH:MM:SSZ (UTC)
        time: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// List the keys with their type, size, ID and label (LIST KEYS and the PKCS#15 descriptions)
    List,
    /// Generate a key pair on the device (needs the PIN)
    Gen {
        /// ec:<curve> (secp256r1, secp384r1, secp521r1, secp256k1, brainpoolP256r1/384r1/512r1,
        /// secp192r1) or rsa:<bits> (1024-4096)
        kind: String,
        /// Key slot in hex (01-FF) [default: the first free one]
        #[arg(long, value_parser = parse_slot)]
        slot: Option<u8>,
        /// Label (PKCS#11 CKA_LABEL)
        #[arg(long)]
        label: Option<String>,
        /// Key ID in hex (PKCS#11 CKA_ID) [default: the slot number in ASCII, as the device writes it]
        #[arg(long, value_name = "HEX")]
        id: Option<String>,
        /// Replace the key in --slot
        #[arg(long, requires = "slot")]
        force: bool,
        /// Holder reference (CHR) of the key's CV request [default: UTCDUMMY00001, as pypicohsm];
        /// give a unique one to use the key for public key authentication (`pka export`)
        #[arg(long)]
        chr: Option<String>,
    },
    /// Delete a key with its description and certificate (needs the PIN)
    Delete {
        /// Key slot (hex, as `keys list` shows it)
        #[arg(value_parser = parse_slot)]
        slot: u8,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
    },
    /// Print a key's public key (PEM SubjectPublicKeyInfo, as `openssl pkey -pubin` reads it), from
    /// the certificate or CV request the card keeps with it
    Public {
        /// Key slot (hex, as `keys list` shows it)
        #[arg(value_parser = parse_slot)]
        slot: u8,
        /// Write it to this file instead
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
    /// Sign SHA-256 of a file with a key (ECDSA: DER; RSA: PKCS#1 v1.5), as `openssl dgst -sha256
    /// -verify` checks it (needs the PIN)
    Sign {
        /// Key slot (hex, as `keys list` shows it)
        #[arg(value_parser = parse_slot)]
        slot: u8,
        /// The data to sign
        #[arg(long, value_name = "PATH")]
        input: PathBuf,
        /// Where to write the signature [default: print it in hex]
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PkaCmd {
    /// Show how many keys are registered and needed, each key's CHR, and which authenticated
    /// (--json: puks, registered, remaining, required, authenticated, keys[index, registered, chr,
    /// authenticated]); with --pka-key, after logging in
    Status,
    /// Register a public key: FILE is an authenticated CV request (`pka request`, or a key generated
    /// on another SmartCard-HSM) or sc-hsm-tool's --export-for-pub-key-auth file (needs the PIN)
    Register {
        /// The request
        file: PathBuf,
    },
    /// Make the authenticated CV request of a P-256 key in a PEM file, to register it (no card)
    Request {
        /// The private key (PKCS#8 or SEC1 PEM; `openssl genpkey -algorithm EC -pkeyopt
        /// ec_paramgen_curve:P-256` makes one)
        #[arg(long, value_name = "PATH")]
        key: PathBuf,
        /// The holder reference to register the key under (1-16 characters, e.g. ESPUK00001)
        #[arg(long)]
        chr: String,
        /// Where to write the request (not over an existing file)
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
    /// Write the registration file of a key of this card (sc-hsm-tool's --export-for-pub-key-auth
    /// format: the key's authenticated CV request and the device certificate), for another device's
    /// `pka register` (no PIN)
    Export {
        /// Key slot (hex); generate it with `keys gen ec:secp256r1 --chr CHR`
        #[arg(value_parser = parse_slot)]
        slot: u8,
        /// Where to write it (not over an existing file)
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
    /// Log in with --pka-key/--pka-chr (or --pka-card) and show the result (the session ends with the command: give
    /// the same options to the commands that need the login)
    Login,
}

fn parse_slot(s: &str) -> Result<u8, String> {
    u8::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|_| format!("{s:?} is not a key slot (hex 01-FF)"))
}

#[derive(Subcommand)]
enum HdCmd {
    /// Create a master node in a slot of the card (replacing the one there)
    ///
    /// The seed never leaves the card: without --seed-file the card takes 64 random bytes. A BIP32 /
    /// SLIP-10 master signs on its paths; a SLIP-21 (slip21) master gives symmetric keys.
    #[command(verbatim_doc_comment)]
    CreateMaster {
        /// Master slot (0-9)
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..i64::from(hd::SLOTS)))]
        slot: u8,
        /// secp256k1 (BIP32), nist256p1 (SLIP-10 on P-256) or slip21
        #[arg(long, default_value = "secp256k1", value_parser = ["secp256k1", "nist256p1", "slip21"])]
        curve: String,
        /// File whose first line is the seed in hex (1-64 bytes), e.g. a BIP32 test vector's
        #[arg(long, value_name = "PATH")]
        seed_file: Option<PathBuf>,
    },
    /// Print the extended public key (xpub, Base58Check) of PATH, e.g. "m/44'/0'/0'"
    Xpub {
        /// m/i/j'/... (hardened: ', h or H); SLIP-21 labels in double quotes
        path: String,
        /// Master slot (0-9)
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..i64::from(hd::SLOTS)))]
        slot: u8,
    },
    /// Sign a hash with the key at PATH (ECDSA; prints the DER signature in hex, or writes it to --out)
    Sign {
        /// m/i/j'/... (hardened: ', h or H)
        path: String,
        /// Master slot (0-9)
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..i64::from(hd::SLOTS)))]
        slot: u8,
        /// The hash to sign, in hex (1-64 bytes)
        #[arg(
            long,
            value_name = "HEX",
            required_unless_present = "input",
            conflicts_with = "input"
        )]
        hash: Option<String>,
        /// Sign SHA-256 of this file's content
        #[arg(long, value_name = "PATH")]
        input: Option<PathBuf>,
        /// Write the DER signature to this file instead of printing it
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DkekCmd {
    /// Create a random 32-byte DKEK share and save it to FILE, encrypted with a password
    ///
    /// The file has sc-hsm-tool's format (64 bytes: "Salted__", salt, AES-256-CBC with a key from
    /// MD5-based EVP_BytesToKey with 10,000,000 iterations), so `sc-hsm-tool --import-dkek-share` reads
    /// it. No card is needed: the randomness comes from the operating system.
    ///
    /// The password is asked twice on the terminal, or read from --password-file. With
    /// --pwd-shares-threshold T --pwd-shares-total N the tool instead encrypts with a random password
    /// and splits that password into N shares, any T of which recover it (sc-hsm-tool's n-of-m
    /// scheme); the shares are shown one at a time on a terminal, printed to stdout otherwise, or written
    /// one per --password-share-file.
    #[command(verbatim_doc_comment)]
    CreateShare(CreateShareArgs),
    /// Decrypt a DKEK share file and import the share into a key domain of the card
    ///
    /// No PIN is needed. The password is asked on the terminal or read from --password-file; a file made
    /// with password shares needs --pwd-shares-threshold T (the shares are then asked on the terminal)
    /// or one --password-share-file per share. Prints the domain's share count and, once all shares are
    /// in, the DKEK's key check value. The share and the password are never printed.
    #[command(verbatim_doc_comment)]
    ImportShare(ImportShareArgs),
    /// Show a key domain's DKEK status: shares, shares still missing, key check value
    Status {
        /// Key domain (0-15) [default: every domain]
        #[arg(long, value_name = "D", value_parser = clap::value_parser!(u8).range(0..i64::from(MAX_KEY_DOMAINS)))]
        domain: Option<u8>,
    },
}

#[derive(Args)]
struct CreateShareArgs {
    /// Where to write the encrypted share (sc-hsm-tool uses the extension .pbe)
    file: PathBuf,

    /// File whose first line is the password (at least 6 characters)
    #[arg(long, value_name = "PATH", conflicts_with_all = ["pwd_shares_threshold", "pwd_shares_total"])]
    password_file: Option<PathBuf>,

    /// Split a random password into shares: how many shares recover it (at least 2)
    #[arg(long, value_name = "T", requires = "pwd_shares_total")]
    pwd_shares_threshold: Option<u8>,

    /// Split a random password into shares: how many shares to make (at least T)
    #[arg(long, value_name = "N", requires = "pwd_shares_threshold")]
    pwd_shares_total: Option<u8>,

    /// Write password share i to the i-th of these files instead of showing it (give it N times)
    #[arg(long, value_name = "PATH", requires = "pwd_shares_total")]
    password_share_file: Vec<PathBuf>,

    /// Overwrite FILE if it exists
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct ImportShareArgs {
    /// The encrypted share file
    file: PathBuf,

    /// Key domain to import into (0-15)
    #[arg(long, value_name = "D", default_value_t = 0,
          value_parser = clap::value_parser!(u8).range(0..i64::from(MAX_KEY_DOMAINS)))]
    domain: u8,

    /// File whose first line is the password
    #[arg(long, value_name = "PATH", conflicts_with_all = ["pwd_shares_threshold", "password_share_file"])]
    password_file: Option<PathBuf>,

    /// The file's password was split into shares: how many to enter on the terminal (sc-hsm-tool spells
    /// this --pwd-shares-total when importing)
    #[arg(long, value_name = "T", alias = "pwd-shares-total")]
    pwd_shares_threshold: Option<u8>,

    /// A file holding one password share as printed at creation ("Prime : ...", "Share ID : ...",
    /// "Share value : ..."); give one per share
    #[arg(long, value_name = "PATH")]
    password_share_file: Vec<PathBuf>,
}

/// Parses the command line, runs the command and returns the exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pico-hsm-tool: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    let g = &cli.global;
    let pin = input::pin(g.pin.as_deref(), g.pin_file.as_deref())?;
    match &cli.command {
        Cmd::Info => {
            let then = after(g)?;
            let mut conn = Connection::open(g.reader.as_deref())?;
            let reader = conn.reader().to_string();
            conn.with_transaction(|t| {
                let mut c = Client::new(t);
                // The rescue applet first: selecting it ends any HSM session.
                let rescue = info::rescue(&mut c)?;
                let app = open(&mut c, None)?;
                let pins = info::pins(&mut c)?;
                if let Some(pin) = &pin {
                    hsm::verify(&mut c, pin)?;
                }
                then.run(&mut c, pin.is_some())?;
                info::info(&mut c, &reader, &rescue, &app, pins, pin.is_some(), g.json)
            })
        }
        Cmd::Init(a) => run_init(g, pin, a),
        Cmd::Options(cmd) => {
            let pin = need_pin(pin, "options")?;
            let then = after(g)?;
            let mut conn = Connection::open(g.reader.as_deref())?;
            session_with(&mut conn, Some(&pin), &then, |c, _| match cmd {
                OptionsCmd::Get => device::options_get(c, g.json),
                OptionsCmd::Set {
                    press_to_confirm,
                    key_counter_all,
                } => device::options_set(c, *press_to_confirm, *key_counter_all, g.json),
            })
        }
        Cmd::SecureLock(cmd) => run_lock(g, pin, cmd),
        Cmd::Rtc(cmd) => {
            let time = match cmd {
                RtcCmd::Set { time: Some(t) } => Some(device::parse_time(t)?),
                _ => None,
            };
            let mut conn = Connection::open(g.reader.as_deref())?;
            rescue_session(&mut conn, |c| match cmd {
                RtcCmd::Get => device::rtc_get(c, g.json),
                RtcCmd::Set { .. } => device::rtc_set(c, time),
            })
        }
        Cmd::Reboot => {
            let mut conn = Connection::open(g.reader.as_deref())?;
            rescue_session(&mut conn, |c| crate::admin::reboot(c).map_err(Error::from))?;
            println!("the device restarts");
            Ok(())
        }
        Cmd::Keys(cmd) => run_keys(g, pin, cmd),
        Cmd::Pka(cmd) => run_pka(g, pin, cmd),
        Cmd::Dkek(DkekCmd::CreateShare(a)) => dkek::create_share(&CreateShare {
            file: &a.file,
            password_file: a.password_file.as_deref(),
            shares: a.pwd_shares_threshold.zip(a.pwd_shares_total),
            share_files: &a.password_share_file,
            force: a.force,
        }),
        Cmd::Dkek(DkekCmd::ImportShare(a)) => {
            let source = if a.pwd_shares_threshold.is_some() || !a.password_share_file.is_empty() {
                PasswordSource::Shares {
                    files: &a.password_share_file,
                    threshold: a.pwd_shares_threshold,
                }
            } else {
                PasswordSource::Password(a.password_file.as_deref())
            };
            import_share(g.reader.as_deref(), pin.as_ref(), &a.file, a.domain, &source)
        }
        Cmd::Dkek(DkekCmd::Status { domain }) => {
            let mut conn = Connection::open(g.reader.as_deref())?;
            if !g.json {
                return session(&mut conn, pin.as_ref(), |c, _| dkek::status(c, *domain));
            }
            let v = session(&mut conn, pin.as_ref(), |c, _| match domain {
                Some(d) => match hsm::key_domain(c, *d)? {
                    Some(dom) => Ok(serde_json::json!({"key_domains": [info::domain_json(usize::from(*d), &dom)]})),
                    None => Err(Error::Input(format!("the card has no key domain {d}"))),
                },
                None => Ok(serde_json::json!({"key_domains": hsm::key_domains(c)?
                    .iter()
                    .enumerate()
                    .map(|(i, d)| info::domain_json(i, d))
                    .collect::<Vec<_>>()})),
            })?;
            println!("{v:#}");
            Ok(())
        }
        Cmd::Backup { dir, force } => {
            let pin = need_pin(pin, "backup")?;
            backup::prepare_dir(dir, *force)?;
            let mut conn = Connection::open(g.reader.as_deref())?;
            let then = after(g)?;
            let summary = session_with(&mut conn, Some(&pin), &then, |c, _| {
                backup::backup(c, dir, *force, Mode::Auto)
            })?;
            println!("{}", summary.line(dir));
            Ok(())
        }
        Cmd::Restore { dir, force } => {
            let pin = need_pin(pin, "restore")?;
            let b = backup::load(dir)?;
            let mut conn = Connection::open(g.reader.as_deref())?;
            let opts = RestoreOptions {
                force: *force,
                ..RestoreOptions::default()
            };
            let then = after(g)?;
            let summary = session_with(&mut conn, Some(&pin), &then, |c, _| backup::restore(c, &b, &opts))?;
            println!("{}", summary.line(dir));
            Ok(())
        }
        Cmd::Hd(cmd) => run_hd(g.reader.as_deref(), need_pin(pin, "hd")?, cmd),
        Cmd::Ca(cmd) => crate::commands::ca::run(cmd, g.reader.as_deref(), pin),
        Cmd::Attest(a) => crate::commands::attest::run(a, g.reader.as_deref()),
    }
}

fn run_hd(reader: Option<&str>, pin: Zeroizing<Vec<u8>>, cmd: &HdCmd) -> Result<(), Error> {
    match cmd {
        HdCmd::CreateMaster { slot, curve, seed_file } => {
            let kind = match curve.as_str() {
                "nist256p1" => hd::Kind::Nist256p1,
                "slip21" => hd::Kind::Slip21,
                _ => hd::Kind::Secp256k1,
            };
            let seed = seed_file
                .as_deref()
                .map(|f| {
                    let line = input::first_line(f, "the seed")?;
                    hex::decode(line.trim())
                        .map(Zeroizing::new)
                        .map_err(|e| Error::Input(format!("{}: the seed is not hex: {e}", f.display())))
                })
                .transpose()?;
            let mut conn = Connection::open(reader)?;
            session(&mut conn, Some(&pin), |c, _| {
                hd::create_master(c, kind, *slot, seed.as_deref().map(|s| &s[..]))
            })?;
            println!("HD master ({curve}) created in slot {slot}");
            Ok(())
        }
        HdCmd::Xpub { path, slot } => {
            let steps = hd::parse_path(path)?;
            let mut conn = Connection::open(reader)?;
            println!("{}", session(&mut conn, Some(&pin), |c, _| hd::xpub(c, *slot, &steps))?);
            Ok(())
        }
        HdCmd::Sign {
            path,
            slot,
            hash,
            input: file,
            out,
        } => {
            let steps = hd::parse_path(path)?;
            let hash = match (hash, file) {
                (Some(h), _) => hex::decode(h.trim()).map_err(|e| Error::Input(format!("--hash is not hex: {e}")))?,
                (None, Some(f)) => {
                    use sha2::Digest as _;
                    let data =
                        std::fs::read(f).map_err(|e| Error::Input(format!("cannot read {}: {e}", f.display())))?;
                    sha2::Sha256::digest(&data).to_vec()
                }
                (None, None) => return Err(Error::Input("give --hash HEX or --input FILE".into())),
            };
            let mut conn = Connection::open(reader)?;
            let sig = session(&mut conn, Some(&pin), |c, _| hd::sign(c, *slot, &steps, &hash))?;
            match out {
                Some(o) => {
                    std::fs::write(o, &sig).map_err(|e| Error::Input(format!("cannot write {}: {e}", o.display())))?
                }
                None => println!("{}", hex::encode(&sig)),
            }
            Ok(())
        }
    }
}

/// The user PIN for a command that needs it: --pin / --pin-file, else asked on a terminal.
fn need_pin(pin: Option<Zeroizing<Vec<u8>>>, command: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    match pin {
        Some(p) => Ok(p),
        None => input::ask_pin().map_err(|_| {
            Error::Input(format!(
                "{command} needs the user PIN: give --pin-file PATH (or --pin PIN)"
            ))
        }),
    }
}

fn import_share(
    reader: Option<&str>,
    pin: Option<&Zeroizing<Vec<u8>>>,
    file: &Path,
    domain: u8,
    source: &PasswordSource<'_>,
) -> Result<(), Error> {
    let mut conn = Connection::open(reader)?;
    // Check the domain before custodians type passwords; the card is free again while they do.
    session(&mut conn, pin, |c, _| dkek::check_importable(c, domain))?;
    let share = dkek::decrypt_share_file(file, source)?;
    session(&mut conn, pin, |c, _| dkek::import(c, domain, &share))
}

/// Runs `f` in one PC/SC transaction, after SELECT of the application and, with a PIN, VERIFY.
fn session<R>(
    conn: &mut Connection,
    pin: Option<&Zeroizing<Vec<u8>>>,
    f: impl FnOnce(&mut Client<PcscTransport<'_>>, &AppInfo) -> Result<R, Error>,
) -> Result<R, Error> {
    session_with(conn, pin, &After::default(), f)
}

/// [`session`], then what `then` says: the PKA login and the secure-lock secret.
fn session_with<R>(
    conn: &mut Connection,
    pin: Option<&Zeroizing<Vec<u8>>>,
    then: &After,
    f: impl FnOnce(&mut Client<PcscTransport<'_>>, &AppInfo) -> Result<R, Error>,
) -> Result<R, Error> {
    conn.with_transaction(|t| {
        let mut c = Client::new(t);
        let app = open(&mut c, pin)?;
        then.run(&mut c, pin.is_some())?;
        f(&mut c, &app)
    })
}

/// What a session sends after SELECT and VERIFY (global options): a public key authentication
/// (--pka-key / --pka-chr), then the secure-lock secret (--lock-secret; EXTRAS needs the user
/// authenticated, which with PKA on only the login gives).
#[derive(Default)]
struct After {
    pka: Vec<(crate::pka::Signer, String)>,
    lock: Option<Zeroizing<[u8; device::SECRET_LEN]>>,
}

impl After {
    fn run<T: Transport>(&self, c: &mut Client<T>, pin_verified: bool) -> Result<(), Error> {
        if !self.pka.is_empty() {
            let chr = hsm::device_id(c)?
                .ok_or_else(|| Error::Input("the device has no device certificate (not initialized)".into()))?;
            crate::pka::login(c, chr.as_bytes(), &self.pka)?;
        }
        if let Some(secret) = &self.lock
            && (pin_verified || !self.pka.is_empty())
            && crate::admin::options_get(c)? & crate::admin::option::SECURE_LOCK != 0
        {
            device::secure_lock(c, crate::admin::LockOp::Unlock, secret)?;
        }
        Ok(())
    }
}

/// The --pka-key/--pka-chr pairs and the --lock-secret file, read before the card is touched.
fn after(g: &Global) -> Result<After, Error> {
    if g.pka_key.len() != g.pka_chr.len() {
        return Err(Error::Input(format!(
            "{} --pka-key but {} --pka-chr: give one CHR per key, in the same order",
            g.pka_key.len(),
            g.pka_chr.len()
        )));
    }
    let mut pka = Vec::new();
    for (k, chr) in g.pka_key.iter().zip(&g.pka_chr) {
        crate::pka::check_chr(chr)?;
        pka.push((crate::pka::Signer::Pem(crate::pka::load_key(k)?), chr.clone()));
    }
    if !g.pka_card.is_empty() {
        let pin = match &g.pka_card_pin_file {
            Some(f) => Zeroizing::new(input::first_line(f, "the PIN")?.as_bytes().to_vec()),
            None => {
                return Err(Error::Input(
                    "--pka-card needs --pka-card-pin-file (the user PIN of that card)".into(),
                ));
            }
        };
        for spec in &g.pka_card {
            let (slot, reader) = spec
                .split_once('@')
                .and_then(|(s, r)| Some((u8::from_str_radix(s, 16).ok()?, r.to_string())))
                .ok_or_else(|| {
                    Error::Input(format!(
                        "--pka-card {spec:?}: give SLOT@READER, e.g. 01@\"Virtual PCD 00 01\""
                    ))
                })?;
            let mut conn = Connection::open(Some(&reader))?;
            let chr = session(&mut conn, None, |c, _| crate::pka::card_key_chr(c, slot))?;
            pka.push((
                crate::pka::Signer::Card {
                    reader,
                    slot,
                    pin: pin.clone(),
                },
                chr,
            ));
        }
    }
    Ok(After {
        pka,
        lock: g.lock_secret.as_deref().map(device::read_secret_file).transpose()?,
    })
}

/// Runs `f` in one PC/SC transaction after SELECT of the rescue applet.
fn rescue_session<R>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Client<PcscTransport<'_>>) -> Result<R, Error>,
) -> Result<R, Error> {
    conn.with_transaction(|t| {
        let mut c = Client::new(t);
        if crate::admin::select_rescue(&mut c)?.is_none() {
            return Err(Error::Input(
                "the card has no rescue applet (not a Pico Keys firmware): no clock, no reboot".into(),
            ));
        }
        f(&mut c)
    })
}

fn run_init(g: &Global, pin: Option<Zeroizing<Vec<u8>>>, a: &InitArgs) -> Result<(), Error> {
    let so_pin = match (&a.so_pin, &a.so_pin_file) {
        (Some(s), _) => init::parse_so_pin(s)?,
        (None, Some(f)) => init::parse_so_pin(&input::first_line(f, "the SO-PIN")?)?,
        (None, None) => init::parse_so_pin(init::DEFAULT_SO_PIN)?,
    };
    let options = init::parse_options(&a.options)?;
    let pka = a.pka.as_deref().map(init::parse_pka).transpose()?;
    let user_pin = input::new_pin(pin, "user PIN")?;
    if user_pin.is_empty() || user_pin.len() > 16 {
        return Err(Error::Input("the user PIN has 1 to 16 characters".into()));
    }
    let params = crate::admin::InitParams {
        options,
        user_pin: &user_pin,
        so_pin: &so_pin,
        retries: a.retries,
        dkek_shares: a.dkek_shares,
        // Tag 93: <PUKs registered> <PUKs needed>.
        pka: pka.map(|(needed, total)| (total, needed)),
        key_domains: a.key_domains,
    };
    let mut conn = Connection::open(g.reader.as_deref())?;
    let reader = conn.reader().to_string();
    let was = session(&mut conn, None, |c, _| init::initialized(c))?;
    if was && !a.yes {
        let q = format!(
            "The device in {reader:?} is initialized: INITIALIZE wipes every key, certificate and data \
             object on it."
        );
        if !input::confirm(&q, "--yes")? {
            return Err(Error::Input("not initialized: not confirmed".into()));
        }
    }
    session(&mut conn, None, |c, _| init::initialize(c, &params))
}

fn run_lock(g: &Global, pin: Option<Zeroizing<Vec<u8>>>, cmd: &LockCmd) -> Result<(), Error> {
    let pin = need_pin(pin, "secure-lock")?;
    // The PKA login where one is needed; never the --lock-secret: these commands send their own.
    let then = After {
        pka: after(g)?.pka,
        lock: None,
    };
    let mut conn = Connection::open(g.reader.as_deref())?;
    match cmd {
        LockCmd::Enable { secret_file, yes } => {
            if secret_file.exists() {
                return Err(Error::Input(format!(
                    "{} exists: refusing to overwrite a secure-lock secret; choose another file",
                    secret_file.display()
                )));
            }
            // Check the PIN and the lock state before a secret file is made.
            let on = session_with(&mut conn, Some(&pin), &then, |c, _| {
                crate::admin::options_get(c).map_err(Error::from)
            })? & crate::admin::option::SECURE_LOCK
                != 0;
            if on {
                return Err(Error::Input(
                    "the secure lock is already on (disable it with its secret first)".into(),
                ));
            }
            if !yes
                && !input::confirm(
                    &format!(
                        "With the lock on, the keys open only with the PIN and the secret in {}. LOSING \
                         THAT FILE LOSES EVERY KEY on the device (only `secure-lock disable` with it turns \
                         the lock off). Keep a copy somewhere safe.",
                        secret_file.display()
                    ),
                    "--yes",
                )?
            {
                return Err(Error::Input("secure lock not enabled: not confirmed".into()));
            }
            let secret = device::create_secret_file(secret_file)?;
            let r = session_with(&mut conn, Some(&pin), &then, |c, _| {
                device::secure_lock(c, crate::admin::LockOp::Enable, &secret)
            });
            if let Err(e) = r {
                // The card refused: the file locks nothing. (A transport failure may have left the lock
                // on, so the file stays then.)
                if matches!(&e, Error::Input(_) | Error::Card(crate::card::Error::Status(_))) {
                    let _ = std::fs::remove_file(secret_file);
                }
                return Err(e);
            }
            println!(
                "secure lock on: after every restart of the device the keys need the PIN and the secret in {} \
                 (`secure-lock unlock --secret-file {}` once per power-up). Keep a copy of that file somewhere safe.",
                secret_file.display(),
                secret_file.display()
            );
            Ok(())
        }
        LockCmd::Unlock { secret_file } => {
            let secret = device::read_secret_file(secret_file)?;
            let on = session_with(&mut conn, Some(&pin), &then, |c, _| {
                let on = crate::admin::options_get(c)? & crate::admin::option::SECURE_LOCK != 0;
                device::secure_lock(c, crate::admin::LockOp::Unlock, &secret)?;
                Ok(on)
            })?;
            if on {
                println!("the secret is right: the keys open with the PIN until the device restarts");
            } else {
                println!("the secure lock is off: nothing to unlock");
            }
            Ok(())
        }
        LockCmd::Disable { secret_file } => {
            let secret = device::read_secret_file(secret_file)?;
            let on = session_with(&mut conn, Some(&pin), &then, |c, _| {
                let on = crate::admin::options_get(c)? & crate::admin::option::SECURE_LOCK != 0;
                device::secure_lock(c, crate::admin::LockOp::Disable, &secret)?;
                Ok(on)
            })?;
            println!(
                "{}",
                if on {
                    "secure lock off: the PIN alone opens the keys again"
                } else {
                    "the secure lock was off already"
                }
            );
            Ok(())
        }
    }
}

fn run_pka(g: &Global, pin: Option<Zeroizing<Vec<u8>>>, cmd: &PkaCmd) -> Result<(), Error> {
    let show = |st: &crate::pka::Status| {
        if g.json {
            println!("{:#}", st.json());
            return;
        }
        println!(
            "Public keys          : {} registered of {}, {} needed to log in",
            st.puks.saturating_sub(st.remaining),
            st.puks,
            st.required
        );
        println!("Authenticated        : {} in this session", st.authenticated);
        for (i, (chr, auth)) in st.keys.iter().enumerate() {
            match chr {
                Some(c) => println!(
                    "PUK {i}                : {c}{}",
                    if *auth { " (authenticated)" } else { "" }
                ),
                None => println!("PUK {i}                : (not registered)"),
            }
        }
    };
    match cmd {
        PkaCmd::Request { key, chr, out } => {
            crate::pka::check_chr(chr)?;
            let key = crate::pka::load_key(key)?;
            let req = crate::pka::request(&key, chr);
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            let mut f = opts
                .open(out)
                .map_err(|e| Error::Input(format!("cannot create {}: {e}", out.display())))?;
            std::io::Write::write_all(&mut f, &req)
                .map_err(|e| Error::Input(format!("cannot write {}: {e}", out.display())))?;
            println!("request for {chr} written to {} ({} bytes)", out.display(), req.len());
            Ok(())
        }
        PkaCmd::Export { slot, out } => {
            let mut conn = Connection::open(g.reader.as_deref())?;
            let data = session(&mut conn, pin.as_ref(), |c, _| crate::pka::export(c, *slot))?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            let mut f = opts
                .open(out)
                .map_err(|e| Error::Input(format!("cannot create {}: {e}", out.display())))?;
            std::io::Write::write_all(&mut f, &data)
                .map_err(|e| Error::Input(format!("cannot write {}: {e}", out.display())))?;
            println!("key {slot:02X} exported to {} ({} bytes)", out.display(), data.len());
            Ok(())
        }
        PkaCmd::Status => {
            let then = after(g)?;
            let mut conn = Connection::open(g.reader.as_deref())?;
            let st = session_with(&mut conn, pin.as_ref(), &then, |c, _| crate::pka::status(c))?;
            show(&st);
            Ok(())
        }
        PkaCmd::Login => {
            let then = after(g)?;
            if then.pka.is_empty() {
                return Err(Error::Input(
                    "give the keys to log in with: --pka-key KEY.pem --pka-chr CHR".into(),
                ));
            }
            let mut conn = Connection::open(g.reader.as_deref())?;
            let st = session_with(&mut conn, pin.as_ref(), &then, |c, _| crate::pka::status(c))?;
            show(&st);
            Ok(())
        }
        PkaCmd::Register { file } => {
            let data = std::fs::read(file).map_err(|e| Error::Input(format!("cannot read {}: {e}", file.display())))?;
            let pin = need_pin(pin, "pka register")?;
            let mut conn = Connection::open(g.reader.as_deref())?;
            let st = session(&mut conn, Some(&pin), |c, _| {
                crate::pka::register(c, &data)?;
                crate::pka::status(c)
            })?;
            println!("public key registered");
            show(&st);
            Ok(())
        }
    }
}

fn run_keys(g: &Global, pin: Option<Zeroizing<Vec<u8>>>, cmd: &KeysCmd) -> Result<(), Error> {
    match cmd {
        KeysCmd::List => {
            let then = after(g)?;
            let mut conn = Connection::open(g.reader.as_deref())?;
            session_with(&mut conn, pin.as_ref(), &then, |c, _| keys::list(c, g.json))
        }
        KeysCmd::Gen {
            kind,
            slot,
            label,
            id,
            force,
            chr,
        } => {
            let spec = keys::parse_spec(kind)?;
            if let Some(c) = chr {
                crate::pka::check_chr(c)?;
            }
            let key_id = id
                .as_deref()
                .map(|h| {
                    hex::decode(h.trim())
                        .ok()
                        .filter(|v| !v.is_empty() && v.len() <= 64)
                        .ok_or_else(|| Error::Input(format!("--id {h:?}: give 1 to 64 bytes in hex")))
                })
                .transpose()?;
            let pin = need_pin(pin, "keys gen")?;
            let then = after(g)?;
            let mut conn = Connection::open(g.reader.as_deref())?;
            let request = keys::Gen {
                spec,
                slot: *slot,
                label: label.as_deref(),
                key_id,
                force: *force,
                chr: chr.as_deref(),
                as_json: g.json,
            };
            session_with(&mut conn, Some(&pin), &then, |c, _| keys::generate(c, &request))
        }
        KeysCmd::Delete { slot, yes } => {
            let pin = need_pin(pin, "keys delete")?;
            let then = after(g)?;
            let mut conn = Connection::open(g.reader.as_deref())?;
            let key = session_with(&mut conn, Some(&pin), &then, |c, _| keys::find(c, *slot))?;
            if !yes {
                let q = format!(
                    "Delete key {:02X}{} for good?",
                    key.slot,
                    key.label.as_deref().map(|l| format!(" \"{l}\"")).unwrap_or_default()
                );
                if !input::confirm(&q, "--yes")? {
                    return Err(Error::Input("nothing deleted: not confirmed".into()));
                }
            }
            session_with(&mut conn, Some(&pin), &then, |c, _| keys::delete(c, *slot))
        }
        KeysCmd::Public { slot, out } => {
            let then = after(g)?;
            let mut conn = Connection::open(g.reader.as_deref())?;
            let pem = session_with(&mut conn, pin.as_ref(), &then, |c, _| keys::public(c, *slot))?;
            match out {
                Some(o) => {
                    std::fs::write(o, pem).map_err(|e| Error::Input(format!("cannot write {}: {e}", o.display())))
                }
                None => {
                    print!("{pem}");
                    Ok(())
                }
            }
        }
        KeysCmd::Sign { slot, input: file, out } => {
            let data = std::fs::read(file).map_err(|e| Error::Input(format!("cannot read {}: {e}", file.display())))?;
            let pin = need_pin(pin, "keys sign")?;
            let then = after(g)?;
            let mut conn = Connection::open(g.reader.as_deref())?;
            let sig = session_with(&mut conn, Some(&pin), &then, |c, _| keys::sign(c, *slot, &data))?;
            match out {
                Some(o) => {
                    std::fs::write(o, &sig).map_err(|e| Error::Input(format!("cannot write {}: {e}", o.display())))
                }
                None => {
                    println!("{}", hex::encode(&sig));
                    Ok(())
                }
            }
        }
    }
}

/// SELECT, then VERIFY when a PIN is given.
pub fn open<T: Transport>(c: &mut Client<T>, pin: Option<&Zeroizing<Vec<u8>>>) -> Result<AppInfo, Error> {
    let app = hsm::select(c).map_err(|e| match e.sw() {
        Some(0x6A82) => Error::Input("the card has no SmartCard-HSM application (SELECT: 6A82)".into()),
        _ => e.into(),
    })?;
    if let Some(pin) = pin {
        hsm::verify(c, pin)?;
    }
    Ok(app)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_parse() {
        let cli = Cli::try_parse_from([
            "pico-hsm-tool",
            "dkek",
            "import-share",
            "f.pbe",
            "--pwd-shares-total",
            "2",
            "--reader",
            "R",
        ])
        .unwrap();
        assert_eq!(cli.global.reader.as_deref(), Some("R"));
        let Cmd::Dkek(DkekCmd::ImportShare(a)) = cli.command else {
            panic!()
        };
        assert_eq!(a.pwd_shares_threshold, Some(2));
        assert_eq!(a.domain, 0);
        assert!(Cli::try_parse_from(["pico-hsm-tool", "dkek", "status", "--domain", "16"]).is_err());
        assert!(
            Cli::try_parse_from([
                "pico-hsm-tool",
                "dkek",
                "create-share",
                "f",
                "--pwd-shares-threshold",
                "2"
            ])
            .is_err()
        );
        assert!(
            Cli::try_parse_from(["pico-hsm-tool", "--pin", "1", "--pin-file", "p", "info"]).is_err(),
            "--pin and --pin-file conflict"
        );
    }

    #[test]
    fn admin_command_lines() {
        let parse = |args: &[&str]| Cli::try_parse_from([&["pico-hsm-tool"][..], args].concat());
        let cli = parse(&["keys", "gen", "ec:secp256r1", "--slot", "0A", "--json"]).unwrap();
        assert!(cli.global.json);
        let Cmd::Keys(KeysCmd::Gen { slot, .. }) = cli.command else {
            panic!()
        };
        assert_eq!(slot, Some(0x0A), "slots are hex");
        assert!(
            parse(&["keys", "gen", "ec:secp256r1", "--force"]).is_err(),
            "--force needs --slot"
        );
        assert!(parse(&["keys", "delete", "1G"]).is_err());
        let cli = parse(&[
            "options",
            "set",
            "--press-to-confirm",
            "off",
            "--key-counter-all",
            "yes",
        ])
        .unwrap();
        let Cmd::Options(OptionsCmd::Set {
            press_to_confirm,
            key_counter_all,
        }) = cli.command
        else {
            panic!()
        };
        assert_eq!((press_to_confirm, key_counter_all), (Some(false), Some(true)));
        assert!(parse(&["secure-lock", "enable"]).is_err(), "--secret-file is required");
        assert!(parse(&["init", "--retries", "16"]).is_err());
        assert!(parse(&["init", "--so-pin", "1", "--so-pin-file", "f"]).is_err());
        let cli = parse(&[
            "--pka-key",
            "a.pem",
            "--pka-chr",
            "A",
            "--pka-key",
            "b.pem",
            "pka",
            "login",
        ])
        .unwrap();
        let err = after(&cli.global).err().unwrap().to_string();
        assert!(err.contains("one CHR per key"), "{err}");
        assert!(matches!(
            parse(&["rtc", "set"]).unwrap().command,
            Cmd::Rtc(RtcCmd::Set { time: None })
        ));
    }
}
