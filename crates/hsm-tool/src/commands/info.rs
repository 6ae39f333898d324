//! `info`: what the device is and how it stands.

use crate::card::{Client, Transport};
use crate::hsm::{self, AppInfo, PinRef, PinStatus};
use crate::{Error, commands::dkek};

/// Device option bits (reference §6.7) and their names.
const OPTIONS: &[(u16, &str)] = &[
    (0x0001, "user PIN reset with SO-PIN enabled"),
    (0x0002, "transport PIN"),
    (0x0008, "PUK replacement allowed"),
    (0x0010, "combined PIN and public key authentication"),
    (0x0020, "retry counter reset without new PIN allowed"),
    (0x0100, "button press to confirm key use"),
    (0x0200, "key use counter on all keys"),
    (0x0400, "secure lock"),
];

/// Prints version, device id, free memory, options, PIN states and key domains. `app` is what SELECT
/// returned.
pub fn info<T: Transport>(c: &mut Client<T>, reader: &str, app: &AppInfo) -> Result<(), Error> {
    println!("Reader               : {reader}");
    let mem = hsm::memory_and_version(c)?;
    match (mem.map(|m| m.version), app.version) {
        (Some((major, minor)), _) | (None, Some((major, minor))) => {
            println!("Version              : {major}.{minor}")
        }
        (None, None) => println!("Version              : unknown"),
    }
    match hsm::device_id(c)? {
        Some(id) => println!("Device id            : {id}"),
        None => println!("Device id            : none (no device certificate: not initialized)"),
    }
    if let Some(m) = mem {
        println!("Free memory          : {} bytes", m.free);
    }
    if let Some(opts) = app.options {
        let names: Vec<&str> = OPTIONS
            .iter()
            .filter(|(bit, _)| opts & bit != 0)
            .map(|(_, n)| *n)
            .collect();
        println!(
            "Config options       : {opts:04X}{}{}",
            if names.is_empty() { "" } else { " " },
            if names.is_empty() {
                String::new()
            } else {
                format!("({})", names.join(", "))
            }
        );
    }
    println!("SO-PIN               : {}", pin_words(hsm::pin_status(c, PinRef::So)?));
    println!(
        "User PIN             : {}",
        pin_words(hsm::pin_status(c, PinRef::User)?)
    );
    match hsm::key_domains(c) {
        Ok(domains) if domains.is_empty() => println!("Key domains          : none"),
        Ok(domains) => {
            for (d, dom) in domains.iter().enumerate() {
                println!("{}", dkek::summary(d, dom));
            }
        }
        Err(e) if e.sw() == Some(0x6D00) => println!("Key domains          : not supported by this card (6D00)"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

fn pin_words(s: PinStatus) -> String {
    match s {
        PinStatus::Verified => "verified in this session".into(),
        PinStatus::TriesLeft(n) => format!("{n} tries left"),
        PinStatus::Blocked => "blocked".into(),
        PinStatus::NotSet => "not set (device not initialized)".into(),
        PinStatus::TransportPin => "transport PIN active: change it first".into(),
    }
}
