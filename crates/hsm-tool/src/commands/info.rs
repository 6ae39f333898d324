//! `info`: what the device is and how it stands.

use serde_json::{Value, json};

use crate::admin::{self, option};
use crate::card::{Client, Transport};
use crate::hsm::{self, AppInfo, Domain, PinRef, PinStatus};
use crate::{Error, commands::dkek};

/// Everything `info` reports, read before the HSM application is selected (the rescue applet) and
/// after.
pub struct Rescue {
    pub info: Option<admin::RescueInfo>,
    pub flash: Option<admin::FlashInfo>,
}

/// The rescue applet's identity and flash information; `None`s on a card without the applet (a
/// genuine SmartCard-HSM). Selecting it ends any HSM session, so it comes first.
pub fn rescue<T: Transport>(c: &mut Client<T>) -> Result<Rescue, Error> {
    let info = admin::select_rescue(c)?;
    let flash = match info {
        Some(_) => Some(admin::flash_info(c)?),
        None => None,
    };
    Ok(Rescue { info, flash })
}

/// The PIN states, read before any VERIFY of the session (which would turn them into "verified").
pub fn pins<T: Transport>(c: &mut Client<T>) -> Result<(PinStatus, PinStatus), Error> {
    Ok((hsm::pin_status(c, PinRef::So)?, hsm::pin_status(c, PinRef::User)?))
}

/// Collects the device's state as JSON (the `--json` output; the text output is made from it).
/// `app` is what SELECT returned, `pins` the (SO, user) PIN states; `logged_in`: a PIN was verified,
/// so EXTRAS 06 tells the secure-lock state.
pub fn collect<T: Transport>(
    c: &mut Client<T>,
    reader: &str,
    rescue: &Rescue,
    app: &AppInfo,
    pins: (PinStatus, PinStatus),
    logged_in: bool,
) -> Result<(Value, Option<Vec<Domain>>), Error> {
    let mem = hsm::memory_and_version(c)?;
    let version = mem.map(|m| m.version).or(app.version);
    let device_id = hsm::device_id(c)?;
    let (extras_options, secure_lock) = if logged_in {
        match admin::options_get(c) {
            Ok(o) => (Some(o), Some(o & option::SECURE_LOCK != 0)),
            // A card without EXTRAS (a genuine SmartCard-HSM), a button not pressed, or a device with
            // public key authentication whose user the PIN alone does not authenticate (6982).
            Err(e) if e.sw().is_some() => (None, None),
            Err(e) => return Err(e.into()),
        }
    } else {
        (None, None)
    };
    let options = extras_options.or(app.options);
    let domains = match hsm::key_domains(c) {
        Ok(d) => Some(d),
        Err(e) if e.sw() == Some(0x6D00) => None,
        Err(e) => return Err(e.into()),
    };
    let v = json!({
        "reader": reader,
        "rescue": rescue.info.as_ref().map(|r| json!({
            "mcu": r.mcu_name(),
            "mcu_id": r.mcu,
            "product": r.product_name(),
            "version": format!("{}.{}", r.version.0, r.version.1),
            "serial": hex::encode_upper(r.serial),
        })),
        "version": version.map(|(a, b)| format!("{a}.{b}")),
        "device_id": device_id,
        "free_memory": mem.map(|m| m.free),
        "flash": rescue.flash.map(|f| json!({
            "free": f.free,
            "used": f.used,
            "total": f.total,
            "files": f.files,
            "flash_size": f.size,
            "firmware_size": f.firmware,
        })),
        "options": options.map(|o| json!({
            "value": o,
            "set": option::names(o),
        })),
        "secure_lock": secure_lock,
        "so_pin": pin_json(pins.0),
        "user_pin": pin_json(pins.1),
        "key_domains": domains.as_ref().map(|d| d.iter().enumerate().map(|(i, d)| domain_json(i, d)).collect::<Vec<_>>()),
    });
    Ok((v, domains))
}

/// A key domain in the JSON output.
pub fn domain_json(i: usize, d: &Domain) -> Value {
    match d {
        Domain::NotSetUp => json!({"domain": i, "state": "not-set-up"}),
        Domain::Configured(s) => json!({
            "domain": i,
            "state": if s.total == 0 { "no-dkek" } else if s.missing > 0 { "import-pending" } else { "ready" },
            "shares_total": s.total,
            "shares_missing": s.missing,
            "kcv": hex::encode_upper(s.kcv),
            "xkek_uid": (!s.xkek_uid.is_empty()).then(|| hex::encode_upper(&s.xkek_uid)),
        }),
    }
}

fn pin_json(s: PinStatus) -> Value {
    match s {
        PinStatus::Verified => json!({"state": "verified"}),
        PinStatus::TriesLeft(n) => json!({"state": "tries-left", "tries_left": n}),
        PinStatus::Blocked => json!({"state": "blocked", "tries_left": 0}),
        PinStatus::NotSet => json!({"state": "not-set"}),
        PinStatus::TransportPin => json!({"state": "transport-pin"}),
    }
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

/// Prints version, device id, free memory, options, PIN states and key domains.
pub fn info<T: Transport>(
    c: &mut Client<T>,
    reader: &str,
    rescue: &Rescue,
    app: &AppInfo,
    pins: (PinStatus, PinStatus),
    logged_in: bool,
    as_json: bool,
) -> Result<(), Error> {
    let (v, domains) = collect(c, reader, rescue, app, pins, logged_in)?;
    if as_json {
        println!("{v:#}");
        return Ok(());
    }
    println!("Reader               : {reader}");
    if let Some(r) = &rescue.info {
        println!(
            "Device               : Pico {} on {} (firmware {}.{})",
            r.product_name(),
            r.mcu_name(),
            r.version.0,
            r.version.1
        );
        println!("Serial number        : {}", hex::encode_upper(r.serial));
    }
    println!("Version              : {}", v["version"].as_str().unwrap_or("unknown"));
    match v["device_id"].as_str() {
        Some(id) => println!("Device id            : {id}"),
        None => println!("Device id            : none (no device certificate: not initialized)"),
    }
    if let Some(free) = v["free_memory"].as_u64() {
        println!("Free memory          : {free} bytes");
    }
    if let Some(f) = &rescue.flash {
        println!(
            "Flash                : {} of {} bytes used, {} free, {} files (flash {} KiB)",
            f.used,
            f.total,
            f.free,
            f.files,
            f.size / 1024
        );
    }
    if let Some(opts) = v["options"]["value"].as_u64() {
        let opts = opts as u16;
        let words = option::words(opts);
        println!(
            "Config options       : {opts:04X}{}",
            if words.is_empty() {
                String::new()
            } else {
                format!(" ({})", words.join(", "))
            }
        );
    }
    match v["secure_lock"].as_bool() {
        Some(true) => println!("Secure lock          : on (keys need the host secret: see secure-lock --help)"),
        Some(false) => println!("Secure lock          : off"),
        None if logged_in => {}
        None => println!("Secure lock          : unknown (give the PIN to read it)"),
    }
    println!("SO-PIN               : {}", pin_words(pins.0));
    println!("User PIN             : {}", pin_words(pins.1));
    match domains {
        Some(domains) if domains.is_empty() => println!("Key domains          : none"),
        Some(domains) => {
            for (d, dom) in domains.iter().enumerate() {
                println!("{}", dkek::summary(d, dom));
            }
        }
        None => println!("Key domains          : not supported by this card (6D00)"),
    }
    Ok(())
}
