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
use crate::hsm::{self, AppInfo, MAX_KEY_DOMAINS};
use crate::progress::Mode;
use crate::{Error, input};

#[derive(Parser)]
#[command(
    name = "pico-hsm-tool",
    version,
    about = "Administers a Pico HSM (or any SmartCard-HSM) over PC/SC",
    long_about = "Administers a Pico HSM, or any SmartCard-HSM compatible card, through pcscd.\n\n\
        Device information; DKEK shares, the key-encryption keys that make key backup and restore \
        between devices possible; and backup and restore of every key, certificate and data object. DKEK share files and password shares are byte-compatible with OpenSC's \
        `sc-hsm-tool --create-dkek-share` / `--import-dkek-share`, so shares made by either tool work \
        with the other.\n\n\
        Errors from the card name the status word and what it means, for example \
        \"6982 security status not satisfied (log in with --pin)\".",
    after_help = "Examples:\n  \
        pico-hsm-tool info\n  \
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
}

#[derive(Subcommand)]
enum Cmd {
    /// Show the device: firmware version, device id, free memory, options, PIN retries, key domains
    Info,
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
            let mut conn = Connection::open(g.reader.as_deref())?;
            let reader = conn.reader().to_string();
            session(&mut conn, pin.as_ref(), |c, app| info::info(c, &reader, app))
        }
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
            session(&mut conn, pin.as_ref(), |c, _| dkek::status(c, *domain))
        }
        Cmd::Backup { dir, force } => {
            let pin = need_pin(pin, "backup")?;
            backup::prepare_dir(dir, *force)?;
            let mut conn = Connection::open(g.reader.as_deref())?;
            let summary = session(&mut conn, Some(&pin), |c, _| backup::backup(c, dir, *force, Mode::Auto))?;
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
            let summary = session(&mut conn, Some(&pin), |c, _| backup::restore(c, &b, &opts))?;
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
    conn.with_transaction(|t| {
        let mut c = Client::new(t);
        let app = open(&mut c, pin)?;
        f(&mut c, &app)
    })
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
}
