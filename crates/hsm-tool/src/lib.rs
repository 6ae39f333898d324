//! `pico-hsm-tool`: administers a Pico HSM (or any SmartCard-HSM) over PC/SC.
//!
//! * [`card`]: a small APDU client over `pcsc` (short/extended APDUs, GET RESPONSE, typed status words);
//! * [`hsm`]: the SmartCard-HSM commands the tool sends;
//! * [`pbe`], [`shamir`]: DKEK share files and password shares, byte-compatible with OpenSC's
//!   `sc-hsm-tool`;
//! * [`commands`]: what each subcommand does; [`cli`]: the command line;
//! * [`wrapfile`], [`manifest`]: the backup files (sc-hsm-tool's wrapped-key format, the manifest), with
//!   [`der`] and [`pkcs15`] for the little ASN.1 they need; [`progress`]: bars and lines.
#![forbid(unsafe_code)]

pub mod admin;
pub mod card;
pub mod cli;
pub mod commands;
pub mod der;
pub mod hsm;
pub mod input;
pub mod manifest;
pub mod pbe;
pub mod pka;
pub mod pkcs15;
pub mod progress;
pub mod shamir;
pub mod wrapfile;

use std::fmt;
use std::process::ExitCode;

/// The `pico-hsm-tool` program: parses the command line, runs the command, returns the exit status.
/// The binary is this one call, so other packages (the end-to-end tests) can build the same program.
pub fn main() -> ExitCode {
    cli::main()
}

/// Why a command failed.
#[derive(Debug)]
pub enum Error {
    /// Talking to the card failed, or it answered an error status word.
    Card(card::Error),
    /// Bad input: files, passwords, shares, arguments.
    Input(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Card(e) => e.fmt(f),
            Error::Input(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for Error {}

impl From<card::Error> for Error {
    fn from(e: card::Error) -> Self {
        Error::Card(e)
    }
}
