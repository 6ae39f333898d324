//! `pico-hsm-tool`: administers a Pico HSM (or any SmartCard-HSM) over PC/SC.
//!
//! * [`card`]: a small APDU client over `pcsc` (short/extended APDUs, GET RESPONSE, typed status words);
//! * [`hsm`]: the SmartCard-HSM commands the tool sends;
//! * [`pbe`], [`shamir`]: DKEK share files and password shares, byte-compatible with OpenSC's
//!   `sc-hsm-tool`;
//! * [`commands`]: what each subcommand does; [`cli`]: the command line.
#![forbid(unsafe_code)]

pub mod card;
pub mod cli;
pub mod commands;
pub mod hsm;
pub mod input;
pub mod pbe;
pub mod shamir;

use std::fmt;

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
