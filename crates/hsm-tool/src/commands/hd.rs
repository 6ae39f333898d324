//! `hd`: hierarchical deterministic keys on the card (the Pico extension INS 4A, docs/card.md "HD
//! keys"): create a master, print the xpub of a path in Base58Check, sign a hash on a path.

use crate::Error;
use crate::card::Transport;
use crate::card::{Client, Command};

/// First hardened index.
const HARDENED: u32 = 0x8000_0000;
/// Master slots on the card (P2 0..9).
pub const SLOTS: u8 = 10;
/// Deepest path the card accepts.
pub const MAX_DEPTH: usize = 10;

/// The kind of a master, as P1 of `80 4A`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// BIP32 on secp256k1.
    Secp256k1,
    /// SLIP-10 on NIST P-256.
    Nist256p1,
    /// SLIP-21 symmetric nodes.
    Slip21,
}

impl Kind {
    fn p1(self) -> u8 {
        match self {
            Kind::Secp256k1 => 0x01,
            Kind::Nist256p1 => 0x02,
            Kind::Slip21 => 0x03,
        }
    }
}

/// One element of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A BIP32 / SLIP-10 child index (hardened from 2³¹).
    Index(u32),
    /// A SLIP-21 label.
    Label(Vec<u8>),
}

/// Parses `m/44'/0'/0'/0/7` (hardened with `'`, `h` or `H`) or, for SLIP-21, `m/"SLIP-0021"/"Master
/// encryption key"` (labels in double quotes). `m` alone is the master.
pub fn parse_path(text: &str) -> Result<Vec<Step>, Error> {
    let bad = |why: &str| Error::Input(format!("path {text:?}: {why} (example: m/44'/0'/0'/0/0)"));
    let mut parts = text.trim().split('/');
    if parts.next() != Some("m") {
        return Err(bad("it must start with m"));
    }
    let mut steps = Vec::new();
    for part in parts {
        let step = if let Some(label) = part.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
            Step::Label(label.as_bytes().to_vec())
        } else {
            let (digits, hardened) = match part.strip_suffix(['\'', 'h', 'H']) {
                Some(d) => (d, true),
                None => (part, false),
            };
            let n: u32 = digits
                .parse()
                .ok()
                .filter(|&n| n < HARDENED)
                .ok_or_else(|| bad(&format!("{part:?} is not an index below 2^31 or a \"label\"")))?;
            Step::Index(if hardened { n + HARDENED } else { n })
        };
        steps.push(step);
    }
    if steps.len() > MAX_DEPTH {
        return Err(bad(&format!("more than {MAX_DEPTH} levels")));
    }
    Ok(steps)
}

/// The command data of a path below master `slot`: `02 01 slot`, then `02 04 index` or `04 len label`.
pub fn encode_path(slot: u8, steps: &[Step]) -> Result<Vec<u8>, Error> {
    let mut v = vec![0x02, 0x01, slot];
    for s in steps {
        match s {
            Step::Index(i) => {
                v.extend_from_slice(&[0x02, 0x04]);
                v.extend_from_slice(&i.to_be_bytes());
            }
            Step::Label(l) => {
                let len = u8::try_from(l.len())
                    .ok()
                    .filter(|&n| n < 0x80)
                    .ok_or_else(|| Error::Input("a SLIP-21 label is at most 127 bytes".into()))?;
                v.extend_from_slice(&[0x04, len]);
                v.extend_from_slice(l);
            }
        }
    }
    Ok(v)
}

/// `80 4A P1 slot [seed]`: a master from `seed` (1–64 bytes), or from 64 random bytes of the card.
pub fn create_master<T: Transport>(c: &mut Client<T>, kind: Kind, slot: u8, seed: Option<&[u8]>) -> Result<(), Error> {
    if slot >= SLOTS {
        return Err(Error::Input(format!(
            "slot {slot}: the card has slots 0 to {}",
            SLOTS - 1
        )));
    }
    let cmd = Command::new(0x80, 0x4A, kind.p1(), slot);
    let cmd = match seed {
        Some(s) if s.is_empty() || s.len() > 64 => {
            return Err(Error::Input("a seed is 1 to 64 bytes".into()));
        }
        Some(s) => cmd.data(s),
        None => cmd,
    };
    c.call("HD MASTER", &cmd)?;
    Ok(())
}

/// The xpub body of a path (`80 4A 0A`): 78 bytes, 77 for a SLIP-21 node.
pub fn xpub_body<T: Transport>(c: &mut Client<T>, slot: u8, steps: &[Step]) -> Result<Vec<u8>, Error> {
    let data = encode_path(slot, steps)?;
    Ok(c.call("HD XPUB", &Command::new(0x80, 0x4A, 0x0A, 0x00).data(&data).ne(256))?)
}

/// The xpub of a path in Base58Check, as wallets show it (`xpub...`).
pub fn xpub<T: Transport>(c: &mut Client<T>, slot: u8, steps: &[Step]) -> Result<String, Error> {
    Ok(bs58::encode(xpub_body(c, slot, steps)?).with_check().into_string())
}

/// An ECDSA signature (DER) of `hash` (1–64 bytes) with the key at a path: `80 4A 10` keeps the
/// node, `80 68 00 A0` signs with it.
pub fn sign<T: Transport>(c: &mut Client<T>, slot: u8, steps: &[Step], hash: &[u8]) -> Result<Vec<u8>, Error> {
    if hash.is_empty() || hash.len() > 64 {
        return Err(Error::Input("the hash is 1 to 64 bytes".into()));
    }
    let data = encode_path(slot, steps)?;
    c.call("HD DERIVE", &Command::new(0x80, 0x4A, 0x10, 0x00).data(&data))?;
    Ok(c.call("HD SIGNATURE", &Command::new(0x80, 0x68, 0x00, 0xA0).data(hash).ne(256))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse_path("m").unwrap(), vec![]);
        assert_eq!(
            parse_path("m/44'/0h/0H/1/2147483647").unwrap(),
            vec![
                Step::Index(HARDENED + 44),
                Step::Index(HARDENED),
                Step::Index(HARDENED),
                Step::Index(1),
                Step::Index(2147483647)
            ]
        );
        assert_eq!(
            parse_path("m/\"SLIP-0021\"/\"Master encryption key\"").unwrap(),
            vec![
                Step::Label(b"SLIP-0021".to_vec()),
                Step::Label(b"Master encryption key".to_vec())
            ]
        );
        for bad in [
            "",
            "44'/0",
            "m/",
            "m/2147483648",
            "m/-1",
            "m/x",
            "m/1'/",
            "m/0/0/0/0/0/0/0/0/0/0/0",
        ] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
        assert_eq!(
            hex::encode(encode_path(3, &parse_path("m/0'/\"ab\"").unwrap()).unwrap()),
            "020103020480000000040261 62".replace(' ', "")
        );
    }
}
