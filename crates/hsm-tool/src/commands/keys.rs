//! `keys list|gen|delete|sign`: LIST KEYS with the PKCS#15 descriptions, GENERATE ASYMMETRIC KEY
//! PAIR, DELETE FILE, COMPUTE SIGNATURE.

use serde_json::{Value, json};

use crate::Error;
use crate::admin::{self, Curve, KeySpec};
use crate::card::{Client, Transport};
use crate::hsm::{self, fid, prefix};
use crate::progress::{Mode, Spinner};

/// A key on the card, as `keys list` shows it.
#[derive(Clone, Debug)]
pub struct KeyEntry {
    pub slot: u8,
    pub label: Option<String>,
    pub key_id: Option<Vec<u8>>,
    pub kind: &'static str,
    pub size: Option<u32>,
}

impl KeyEntry {
    pub fn json(&self) -> Value {
        json!({
            "slot": self.slot,
            "fid": format!("{:04X}", fid(prefix::KEY, self.slot)),
            "device_key": self.slot == 0,
            "label": self.label,
            "id": self.key_id.as_ref().map(hex::encode_upper),
            "type": self.kind,
            "size": self.size,
        })
    }
}

/// Parses `ec:<curve>` or `rsa:<bits>`.
pub fn parse_spec(s: &str) -> Result<KeySpec, Error> {
    let names = || {
        let mut n: Vec<&str> = Curve::NAMES.iter().map(|(n, _)| *n).collect();
        n.dedup();
        n.join(", ")
    };
    match s.split_once(':') {
        Some(("ec", curve)) => Curve::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(curve))
            .map(|(_, c)| KeySpec::Ec(*c))
            .ok_or_else(|| Error::Input(format!("unknown curve {curve:?}; known: {}", names()))),
        Some(("rsa", bits)) => match bits.parse::<u16>() {
            Ok(b) if (1024..=4096).contains(&b) && b % 8 == 0 => Ok(KeySpec::Rsa(b)),
            _ => Err(Error::Input(format!(
                "RSA key size {bits:?}: give a multiple of 8 from 1024 to 4096 (2048, 3072, 4096)"
            ))),
        },
        _ => Err(Error::Input(format!(
            "key type {s:?}: give ec:<curve> (ec:secp256r1, ...) or rsa:<bits> (rsa:2048, ...)"
        ))),
    }
}

/// The keys on the card (LIST KEYS), each with what its description (`C4xx`) says.
pub fn list_keys<T: Transport>(c: &mut Client<T>) -> Result<Vec<KeyEntry>, Error> {
    let fids = hsm::list_keys(c)?;
    let mut out = Vec::new();
    for f in fids {
        let [p, slot] = f.to_be_bytes();
        if p != prefix::KEY {
            continue;
        }
        let desc = hsm::read_file_opt(c, fid(prefix::PRKD, slot))?;
        let (kind, size) = desc.as_deref().map(admin::prkd_kind).unwrap_or(("unknown", None));
        out.push(KeyEntry {
            slot,
            label: desc.as_deref().and_then(crate::pkcs15::label),
            key_id: desc.as_deref().and_then(admin::prkd_key_id),
            kind,
            size,
        });
    }
    Ok(out)
}

/// `keys list`.
pub fn list<T: Transport>(c: &mut Client<T>, as_json: bool) -> Result<(), Error> {
    let keys = list_keys(c)?;
    if as_json {
        println!(
            "{:#}",
            json!({ "keys": keys.iter().map(KeyEntry::json).collect::<Vec<_>>() })
        );
        return Ok(());
    }
    if keys.is_empty() {
        println!("no keys");
    }
    for k in &keys {
        let size = k.size.map(|s| format!(" {s}")).unwrap_or_default();
        println!(
            "key {:02X}  {:<6}{:<6} id {:<10} {}{}",
            k.slot,
            k.kind,
            size,
            k.key_id.as_ref().map(hex::encode_upper).unwrap_or_else(|| "-".into()),
            k.label
                .as_deref()
                .map(|l| format!("\"{l}\""))
                .unwrap_or_else(|| "(no label)".into()),
            if k.slot == 0 { " (device key)" } else { "" }
        );
    }
    Ok(())
}

/// What `keys gen` makes.
pub struct Gen<'a> {
    pub spec: KeySpec,
    pub slot: Option<u8>,
    pub label: Option<&'a str>,
    pub key_id: Option<Vec<u8>>,
    pub force: bool,
    /// The CHR of the key's CV request.
    pub chr: Option<&'a str>,
    pub as_json: bool,
}

/// `keys gen`: GENERATE in the given or the first free slot, then the description with label and ID.
pub fn generate<T: Transport>(c: &mut Client<T>, g: &Gen<'_>) -> Result<(), Error> {
    let keys = list_keys(c)?;
    let used = |s: u8| keys.iter().any(|k| k.slot == s);
    let slot = match g.slot {
        Some(0) => return Err(Error::Input("slot 0 is the device key".into())),
        Some(s) if used(s) && !g.force => {
            return Err(Error::Input(format!(
                "slot {s:02X} holds a key: delete it first, or give --force to replace it"
            )));
        }
        Some(s) => s,
        None => (1..=255u8)
            .find(|s| !used(*s))
            .ok_or_else(|| Error::Input("no free key slot".into()))?,
    };
    let what = match g.spec {
        KeySpec::Rsa(bits) => format!("RSA {bits}-bit"),
        KeySpec::Ec(curve) => format!("EC {}", curve.name()),
    };
    let spinner = Spinner::new(
        if matches!(g.spec, KeySpec::Rsa(_)) {
            Mode::Auto
        } else {
            Mode::Quiet
        },
        format!("generating an {what} key in slot {slot:02X}"),
    );
    let result = admin::generate(c, slot, g.spec, g.chr.unwrap_or("UTCDUMMY00001"));
    let took = spinner.finish();
    result?;
    let (rsa, bits) = match g.spec {
        KeySpec::Rsa(b) => (true, b),
        KeySpec::Ec(Curve::P192) => (false, 192),
        KeySpec::Ec(Curve::P224) => (false, 224),
        KeySpec::Ec(Curve::P256 | Curve::K256 | Curve::Bp256) => (false, 256),
        KeySpec::Ec(Curve::P384 | Curve::Bp384) => (false, 384),
        KeySpec::Ec(Curve::P521) => (false, 521),
        KeySpec::Ec(Curve::Bp512) => (false, 512),
    };
    // The description replaces the card's default (which OpenSC cannot sign with, see
    // `admin::prkd`); the default ID is the card's: the slot in ASCII decimal.
    let key_id = g.key_id.clone().unwrap_or_else(|| slot.to_string().into_bytes());
    let desc = admin::prkd(slot, g.label.unwrap_or(""), &key_id, rsa, bits);
    hsm::write_file(c, fid(prefix::PRKD, slot), &desc, 1024)?;
    let entry = KeyEntry {
        slot,
        label: g.label.filter(|l| !l.is_empty()).map(str::to_string),
        key_id: Some(key_id),
        kind: if rsa { "rsa" } else { "ec" },
        size: Some(u32::from(bits)),
    };
    if g.as_json {
        let mut v = entry.json();
        v["seconds"] = json!(took.as_secs_f64());
        println!("{v:#}");
    } else {
        println!(
            "key {slot:02X} generated: {what}, id {}{} ({:.1} s)",
            hex::encode_upper(entry.key_id.as_deref().unwrap_or_default()),
            entry
                .label
                .as_deref()
                .map(|l| format!(", label \"{l}\""))
                .unwrap_or_default(),
            took.as_secs_f64()
        );
    }
    Ok(())
}

/// Finds key `slot` (an error naming the keys there are when it is not on the card).
pub fn find<T: Transport>(c: &mut Client<T>, slot: u8) -> Result<KeyEntry, Error> {
    let keys = list_keys(c)?;
    keys.iter().find(|k| k.slot == slot).cloned().ok_or_else(|| {
        Error::Input(format!(
            "no key in slot {slot:02X}; keys: {}",
            if keys.is_empty() {
                "none".to_string()
            } else {
                keys.iter()
                    .map(|k| format!("{:02X}", k.slot))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ))
    })
}

/// `keys delete`: the description and certificate first, the key last (a cut in between leaves a
/// key without a description, which `keys list` still shows and `keys delete` removes; never a
/// description that OpenSC would show for a key that is gone).
pub fn delete<T: Transport>(c: &mut Client<T>, slot: u8) -> Result<(), Error> {
    if slot == 0 {
        return Err(Error::Input("slot 0 is the device key, which cannot be deleted".into()));
    }
    for f in [
        fid(prefix::PRKD, slot),
        fid(prefix::EE_CERT, slot),
        fid(prefix::KEY, slot),
    ] {
        hsm::delete_file(c, f)?;
    }
    println!("key {slot:02X} deleted");
    Ok(())
}

/// `keys public`: the key's public key as a PEM SubjectPublicKeyInfo, from its certificate `CExx`
/// (the card's CV request after GENERATE).
pub fn public<T: Transport>(c: &mut Client<T>, slot: u8) -> Result<String, Error> {
    find(c, slot)?;
    let cert = hsm::read_file_opt(c, fid(prefix::EE_CERT, slot))?.ok_or_else(|| {
        Error::Input(format!(
            "key {slot:02X} has no certificate (CE{slot:02X}) to read its public key from"
        ))
    })?;
    let spki = admin::spki_of_certificate(&cert)?;
    Ok(admin::pem("PUBLIC KEY", &spki))
}

/// `keys sign`: SHA-256 of `data` signed on the card (ECDSA: algorithm 73, DER signature; RSA:
/// PKCS#1 v1.5, algorithm 33), as `openssl dgst -sha256 -verify` checks it.
pub fn sign<T: Transport>(c: &mut Client<T>, slot: u8, data: &[u8]) -> Result<Vec<u8>, Error> {
    let key = find(c, slot)?;
    let algo = match key.kind {
        "rsa" => 0x33,
        "ec" => 0x73,
        k => return Err(Error::Input(format!("key {slot:02X} is {k}: not a signing key"))),
    };
    admin::sign(c, slot, algo, data).map_err(|e| match e.sw() {
        Some(0x6400) => Error::Input(format!(
            "{e}; if the secure lock is on, give --lock-secret FILE (see `secure-lock --help`)"
        )),
        _ => e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_specs() {
        assert_eq!(parse_spec("ec:secp256r1").unwrap(), KeySpec::Ec(Curve::P256));
        assert_eq!(parse_spec("ec:brainpoolP384r1").unwrap(), KeySpec::Ec(Curve::Bp384));
        assert_eq!(parse_spec("rsa:2048").unwrap(), KeySpec::Rsa(2048));
        for bad in [
            "ec:secp224k1",
            "ec:",
            "rsa:512",
            "rsa:2049",
            "rsa:x",
            "dsa:1024",
            "secp256r1",
        ] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
        let msg = parse_spec("ec:p999").unwrap_err().to_string();
        assert!(msg.contains("unknown curve") && msg.contains("secp256k1"), "{msg}");
    }
}
