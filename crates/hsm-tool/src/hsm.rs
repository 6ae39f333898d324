//! The SmartCard-HSM commands the tool sends (reference §3), over [`Client`].

use hsm_apdu::tlv;

use crate::card::{Client, Command, Error, Transport};

/// SmartCard-HSM application identifier (reference §1).
pub const AID: [u8; 11] = [0xE8, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x81, 0xC3, 0x1F, 0x02, 0x01];
/// C_DevAut: the device certificate (chain), reference §8.2.
pub const FID_C_DEVAUT: u16 = 0x2F02;
/// Key domains a card can have (reference §3.11: P2 < 16).
pub const MAX_KEY_DOMAINS: u8 = 16;

/// What SELECT of the application tells (FCI tag 85, reference §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppInfo {
    /// Firmware version: the last two bytes of tag 85, where OpenSC takes it from.
    pub version: Option<(u8, u8)>,
    /// Device options (reference §6.7): the first two bytes of a 5-byte tag 85.
    pub options: Option<u16>,
}

/// SELECT the SmartCard-HSM application (`00 A4 04 00 0B <AID> 00`).
pub fn select<T: Transport>(c: &mut Client<T>) -> Result<AppInfo, Error> {
    let fci = c.call(
        "SELECT SmartCard-HSM",
        &Command::new(0x00, 0xA4, 0x04, 0x00).data(&AID).ne(256),
    )?;
    let body = match tlv::find(&fci, 0x62) {
        Ok(Some(body)) => body,
        _ => &fci[..],
    };
    let prop = tlv::find(body, 0x85).ok().flatten().unwrap_or(&[]);
    let version = match prop {
        [.., major, minor] if prop.len() >= 2 => Some((*major, *minor)),
        _ => None,
    };
    let options = match prop {
        [hi, lo, _, _, _] => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    };
    Ok(AppInfo { version, options })
}

/// What INITIALIZE without data answers on a Pico HSM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryInfo {
    /// Free flash, bytes.
    pub free: u32,
    /// Firmware version.
    pub version: (u8, u8),
}

/// INITIALIZE DEVICE without data (`80 50 00 00 00`, a Pico HSM extension, reference §3.10): free
/// memory, `00`, version major, minor. `None` when the card does not answer it (a genuine SmartCard-HSM).
pub fn memory_and_version<T: Transport>(c: &mut Client<T>) -> Result<Option<MemoryInfo>, Error> {
    let resp = c.transmit(&Command::new(0x80, 0x50, 0x00, 0x00).ne(256))?;
    Ok(match (resp.sw, resp.data.as_slice()) {
        (0x9000, [f0, f1, f2, f3, _, major, minor, ..]) => Some(MemoryInfo {
            free: u32::from_be_bytes([*f0, *f1, *f2, *f3]),
            version: (*major, *minor),
        }),
        _ => None,
    })
}

/// Reads a whole transparent file with READ BINARY odd (`00 B1 <fid> <Lc> 54 <offset> 00 00`), one
/// extended response at a time, until the card returns no more data.
pub fn read_file<T: Transport>(c: &mut Client<T>, fid: u16) -> Result<Vec<u8>, Error> {
    let [hi, lo] = fid.to_be_bytes();
    let mut out = Vec::new();
    loop {
        let offset = u32::try_from(out.len()).map_err(|_| Error::Protocol("file larger than 4 GiB".into()))?;
        // Offset DO 54 with the shortest big-endian offset that holds it (at least two bytes, as OpenSC).
        let be = offset.to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count().min(2);
        let mut data = vec![0x54, (4 - skip) as u8];
        data.extend_from_slice(&be[skip..]);
        let resp = c.transmit(&Command::new(0x00, 0xB1, hi, lo).data(&data).ne(65536))?;
        match resp.sw {
            0x9000 if resp.data.is_empty() => return Ok(out),
            0x9000 => out.extend_from_slice(&resp.data),
            0x6282 if !out.is_empty() => return Ok(out),
            sw => {
                return Err(Error::Status(crate::card::CardError {
                    command: "READ BINARY",
                    sw,
                }));
            }
        }
    }
}

/// File identifier prefixes of the SmartCard-HSM file system (reference §5.2; OpenSC `card-sc-hsm.h`).
pub mod prefix {
    /// `CCxx`: key `xx` (never readable; `CC00` is the device key).
    pub const KEY: u8 = 0xCC;
    /// `C4xx`: the PKCS#15 private (or secret) key description of key `xx`.
    pub const PRKD: u8 = 0xC4;
    /// `C8xx`: a PKCS#15 certificate description (of a CA certificate in `CAxx`).
    pub const CD: u8 = 0xC8;
    /// `C9xx`: a PKCS#15 data object description (of the data in `CFxx` or `CDxx`).
    pub const DCOD: u8 = 0xC9;
    /// `CAxx`: a certificate without a key on the card (a CA certificate).
    pub const CA_CERT: u8 = 0xCA;
    /// `CDxx`: a private data object (reading needs the user PIN).
    pub const PROT_DATA: u8 = 0xCD;
    /// `CExx`: the certificate of key `xx` (after key generation its CV request `67…`).
    pub const EE_CERT: u8 = 0xCE;
    /// `CFxx`: a public data object.
    pub const DATA: u8 = 0xCF;
}

/// The file a card reads a large UNWRAP KEY blob from when the command has no data (reference §3.17).
pub const FID_UNWRAP_STAGING: u16 = 0x2F10;

/// The FID of prefix `p` and id `xx`.
pub const fn fid(p: u8, xx: u8) -> u16 {
    u16::from_be_bytes([p, xx])
}

/// READ BINARY, or `None` when the file does not exist (6A82).
pub fn read_file_opt<T: Transport>(c: &mut Client<T>, fid: u16) -> Result<Option<Vec<u8>>, Error> {
    match read_file(c, fid) {
        Ok(data) => Ok(Some(data)),
        Err(e) if e.sw() == Some(0x6A82) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether file `fid` exists: READ BINARY of one byte at offset 0 (an empty file answers 9000 too).
/// Not for key files (`CCxx`), which nobody may read: LIST KEYS tells those.
pub fn file_exists<T: Transport>(c: &mut Client<T>, fid: u16) -> Result<bool, Error> {
    let [hi, lo] = fid.to_be_bytes();
    let resp = c.transmit(&Command::new(0x00, 0xB1, hi, lo).data(&[0x54, 0x02, 0x00, 0x00]).ne(1))?;
    match resp.sw {
        0x9000 | 0x6282 => Ok(true),
        0x6A82 => Ok(false),
        sw => Err(Error::Status(crate::card::CardError {
            command: "READ BINARY",
            sw,
        })),
    }
}

/// Writes `data` as the whole content of file `fid` with UPDATE BINARY odd (`00 D7 <fid> 54 <offset>
/// 53 <data>`), at most `chunk` bytes per command; the card creates the file when it is missing.
pub fn write_file<T: Transport>(c: &mut Client<T>, fid: u16, data: &[u8], chunk: usize) -> Result<(), Error> {
    let [hi, lo] = fid.to_be_bytes();
    let chunk = chunk.max(1);
    let mut offset = 0usize;
    loop {
        let part = &data[offset..data.len().min(offset + chunk)];
        let off = u32::try_from(offset).map_err(|_| Error::Protocol("file larger than 4 GiB".into()))?;
        let be = off.to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count().min(2);
        let mut body = vec![0x54, (4 - skip) as u8];
        body.extend_from_slice(&be[skip..]);
        let mut hdr = [0u8; 7];
        body.extend_from_slice(tlv::header(0x53, part.len(), &mut hdr));
        body.extend_from_slice(part);
        c.call("UPDATE BINARY", &Command::new(0x00, 0xD7, hi, lo).data(&body))?;
        offset += part.len();
        if offset >= data.len() {
            return Ok(());
        }
    }
}

/// DELETE FILE `fid` (`00 E4 00 00 02 <fid>`); `false` when there was no such file (6A82).
pub fn delete_file<T: Transport>(c: &mut Client<T>, fid: u16) -> Result<bool, Error> {
    let resp = c.transmit(&Command::new(0x00, 0xE4, 0x00, 0x00).data(&fid.to_be_bytes()))?;
    match resp.sw {
        0x9000 => Ok(true),
        0x6A82 => Ok(false),
        sw => Err(Error::Status(crate::card::CardError {
            command: "DELETE FILE",
            sw,
        })),
    }
}

/// LIST KEYS (`80 58 00 00`, reference §3.5): the FIDs of keys (`CCxx`), key descriptions (`C4xx`),
/// certificate descriptions (`C8xx`) and data object descriptions (`C9xx`). The `0000` padding some
/// firmware appends is dropped.
pub fn list_keys<T: Transport>(c: &mut Client<T>) -> Result<Vec<u16>, Error> {
    let data = c.call("LIST KEYS", &Command::new(0x80, 0x58, 0x00, 0x00).ne(65536))?;
    Ok(data
        .chunks_exact(2)
        .map(|f| u16::from_be_bytes([f[0], f[1]]))
        .filter(|f| *f != 0)
        .collect())
}

/// WRAP KEY (`80 72 <id> 92`, reference §3.16): key `id` as a SmartCard-HSM key blob under the DKEK of
/// its key domain.
pub fn wrap_key<T: Transport>(c: &mut Client<T>, id: u8) -> Result<Vec<u8>, Error> {
    c.call("WRAP KEY", &Command::new(0x80, 0x72, id, 0x92).ne(65536))
}

/// UNWRAP KEY (`80 74 <id> 93 <blob>`, reference §3.17); without a blob the card reads it from
/// [`FID_UNWRAP_STAGING`].
pub fn unwrap_key<T: Transport>(c: &mut Client<T>, id: u8, blob: Option<&[u8]>) -> Result<(), Error> {
    let cmd = Command::new(0x80, 0x74, id, 0x93);
    let cmd = match blob {
        Some(b) => cmd.data(b),
        None => cmd,
    };
    c.call("UNWRAP KEY", &cmd).map(drop)
}

/// The device id: the holder reference (CHR, tag 5F20) of the first certificate in C_DevAut (2F02).
/// `None` when the card has no C_DevAut yet (not initialized): upstream and this card answer an
/// empty file, older firmware 6A82.
pub fn device_id<T: Transport>(c: &mut Client<T>) -> Result<Option<String>, Error> {
    let file = match read_file(c, FID_C_DEVAUT) {
        Ok(f) if f.is_empty() => return Ok(None),
        Ok(f) => f,
        Err(e) if e.sw() == Some(0x6A82) => return Ok(None),
        Err(e) => return Err(e),
    };
    chr(&file)
        .map(|chr| Some(String::from_utf8_lossy(chr).into_owned()))
        .ok_or_else(|| Error::Protocol("C_DevAut (2F02) holds no CV certificate with a holder reference".into()))
}

/// The CHR of the first CV certificate: `7F21 { 7F4E { ... 5F20 CHR ... } ... }`.
fn chr(cvc: &[u8]) -> Option<&[u8]> {
    let cert = tlv::Reader::new(cvc).next()?.ok()?;
    if cert.tag != 0x7F21 {
        return None;
    }
    let body = tlv::find(cert.value, 0x7F4E).ok()??;
    tlv::find(body, 0x5F20).ok()?
}

/// PIN references (VERIFY P2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinRef {
    User = 0x81,
    So = 0x88,
}

/// What VERIFY without data says about a PIN (reference §3.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinStatus {
    /// Verified in this session already.
    Verified,
    /// Not verified; this many tries left.
    TriesLeft(u8),
    Blocked,
    /// The PIN was never set (device not initialized).
    NotSet,
    /// The transport PIN is still active: change it first.
    TransportPin,
}

/// VERIFY without data (`00 20 00 81|88`): the PIN's state, without using a try.
pub fn pin_status<T: Transport>(c: &mut Client<T>, pin: PinRef) -> Result<PinStatus, Error> {
    let resp = c.transmit(&Command::new(0x00, 0x20, 0x00, pin as u8))?;
    Ok(match resp.sw {
        0x9000 => PinStatus::Verified,
        sw if sw & 0xFFF0 == 0x63C0 => PinStatus::TriesLeft((sw & 0x0F) as u8),
        0x6983 => PinStatus::Blocked,
        0x6A88 => PinStatus::NotSet,
        0x6984 => PinStatus::TransportPin,
        sw => return Err(Error::Status(crate::card::CardError { command: "VERIFY", sw })),
    })
}

/// VERIFY the user PIN (`00 20 00 81 <len> <PIN>`).
pub fn verify<T: Transport>(c: &mut Client<T>, pin: &[u8]) -> Result<(), Error> {
    if pin.is_empty() || pin.len() > 16 {
        return Err(Error::Protocol("a PIN has 1 to 16 characters".into()));
    }
    c.call(
        "VERIFY (user PIN)",
        &Command::new(0x00, 0x20, 0x00, PinRef::User as u8).data(pin),
    )
    .map(drop)
}

/// A configured key domain (response of `80 52 00 <d>`, reference §3.11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainStatus {
    /// DKEK shares the domain was set up for.
    pub total: u8,
    /// Shares still to import.
    pub missing: u8,
    /// Key check value of the DKEK (SHA-256(DKEK)[0..8], reference §7.3). Upstream firmware shows
    /// zeros until a PIN is verified in the session.
    pub kcv: [u8; 8],
    /// XKEK domain: the group's key-domain UID (reference §7.5); empty for a DKEK domain.
    pub xkek_uid: Vec<u8>,
}

impl DomainStatus {
    fn parse(data: &[u8]) -> Result<Self, Error> {
        match data {
            [total, missing, kcv @ ..] if data.len() >= 10 => {
                let (kcv, uid) = kcv.split_at(8);
                Ok(DomainStatus {
                    total: *total,
                    missing: *missing,
                    kcv: kcv
                        .try_into()
                        .map_err(|_| Error::Protocol("short key check value".into()))?,
                    xkek_uid: uid.to_vec(),
                })
            }
            _ => Err(Error::Protocol(format!(
                "key domain status of {} bytes (expected at least 10)",
                data.len()
            ))),
        }
    }
}

/// A key domain slot as the card reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Domain {
    Configured(DomainStatus),
    /// The slot exists but is not set up (6A88).
    NotSetUp,
}

/// Key domain `d`'s status (`80 52 00 <d>` without data); `None` when the card has no such domain (6A86,
/// or 6B00 when it has no key domain table at all).
pub fn key_domain<T: Transport>(c: &mut Client<T>, d: u8) -> Result<Option<Domain>, Error> {
    let resp = c.transmit(&Command::new(0x80, 0x52, 0x00, d).ne(256))?;
    match resp.sw {
        0x9000 => DomainStatus::parse(&resp.data).map(|s| Some(Domain::Configured(s))),
        0x6A88 => Ok(Some(Domain::NotSetUp)),
        0x6A86 | 0x6B00 => Ok(None),
        sw => Err(Error::Status(crate::card::CardError {
            command: "KEY DOMAIN status",
            sw,
        })),
    }
}

/// Every key domain, probing 0, 1, ... until the card says there is no such domain.
pub fn key_domains<T: Transport>(c: &mut Client<T>) -> Result<Vec<Domain>, Error> {
    let mut out = Vec::new();
    for d in 0..MAX_KEY_DOMAINS {
        match key_domain(c, d)? {
            Some(dom) => out.push(dom),
            None => break,
        }
    }
    Ok(out)
}

/// IMPORT DKEK SHARE into domain `d` (`80 52 00 <d> 20 <share> 00`); no PIN needed (reference §3.11).
pub fn import_dkek_share<T: Transport>(c: &mut Client<T>, d: u8, share: &[u8; 32]) -> Result<DomainStatus, Error> {
    let data = c.call(
        "IMPORT DKEK SHARE",
        &Command::new(0x80, 0x52, 0x00, d).data(share).ne(256),
    )?;
    DomainStatus::parse(&data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::testing::Script;

    #[test]
    fn select_reads_version_and_options() {
        let mut c = Client::new(Script::new(&[(
            "00A404000BE82B0601040181C31F020100",
            "620D 8201 38 8A01 05 8505 0001FF0606 9000",
        )]));
        let info = select(&mut c).unwrap();
        assert_eq!(info.version, Some((6, 6)));
        assert_eq!(info.options, Some(1));
    }

    #[test]
    fn key_domain_probing_and_import() {
        let mut c = Client::new(Script::new(&[
            ("80 52 00 00 00", "02 01 0000000000000000 9000"),
            ("80 52 00 01 00", "6A88"),
            ("80 52 00 02 00", "6A86"),
        ]));
        let doms = key_domains(&mut c).unwrap();
        assert_eq!(doms.len(), 2);
        assert!(matches!(&doms[0], Domain::Configured(s) if s.total == 2 && s.missing == 1));
        assert_eq!(doms[1], Domain::NotSetUp);

        let share = [0x11; 32];
        let cmd = format!("80520003 20 {} 00", hex::encode(share));
        let mut c = Client::new(Script::new(&[(&cmd, "01 00 0123456789ABCDEF 9000")]));
        let st = import_dkek_share(&mut c, 3, &share).unwrap();
        assert_eq!((st.total, st.missing), (1, 0));
        assert_eq!(st.kcv, [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF]);
    }

    #[test]
    fn read_file_in_pieces_and_chr() {
        let cert = "7F21 1B 7F4E 13 5F2901 00 4202 4341 5F20 08 4445564943453031 5F37 02 AABB";
        let cert = hex::decode(cert.replace(' ', "")).unwrap();
        let (a, b) = cert.split_at(10);
        let mut c = Client::new(Script::new(&[
            ("00B12F02 000004 54020000 0000", &format!("{} 9000", hex::encode(a))),
            ("00B12F02 000004 5402000A 0000", &format!("{} 9000", hex::encode(b))),
            ("00B12F02 000004 5402001E 0000", "9000"),
        ]));
        assert_eq!(device_id(&mut c).unwrap().as_deref(), Some("DEVICE01"));
    }

    #[test]
    fn pin_states() {
        let mut c = Client::new(Script::new(&[
            ("00200081", "63C3"),
            ("00200088", "6983"),
            ("00200081", "6A88"),
        ]));
        assert_eq!(pin_status(&mut c, PinRef::User).unwrap(), PinStatus::TriesLeft(3));
        assert_eq!(pin_status(&mut c, PinRef::So).unwrap(), PinStatus::Blocked);
        assert_eq!(pin_status(&mut c, PinRef::User).unwrap(), PinStatus::NotSet);
    }
}
