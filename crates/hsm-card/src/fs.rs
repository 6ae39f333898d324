//! SELECT, READ BINARY, UPDATE BINARY, DELETE FILE and LIST KEYS (reference §3.1–3.5).

use alloc::vec::Vec;

use hsm_apdu::{CommandView, Reply, Status, tlv};

use crate::files::{self, AID, Class, classify, fid, prefix};
use crate::init::VERSION;
use crate::{App, Platform};

/// ISO 7816-4 6981: command incompatible with file structure (reading a DF).
const INCOMPATIBLE_FILE: Status = Status::Other(0x6981);

/// How SELECT answers, from P2 (ISO 7816-4 §7.1.1).
enum Answer {
    Fci,
    Nothing,
}

fn answer(p2: u8) -> Result<Answer, Status> {
    match p2 & 0xFC {
        0x00 | 0x04 => Ok(Answer::Fci),
        // DESIGN §5: P2=0C accepted, like the genuine card (upstream rejects it).
        0x0C => Ok(Answer::Nothing),
        _ => Err(Status::IncorrectP1P2),
    }
}

/// Parses the offset data object `54 L offset` (1..=4 bytes, big-endian).
fn offset_of(value: &[u8]) -> Result<usize, Status> {
    if value.is_empty() || value.len() > 4 {
        return Err(Status::WrongLength);
    }
    Ok(value.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)))
}

impl<P: Platform> App<P> {
    /// The FCI returned when the application is selected by AID.
    pub(crate) fn select_application_fci(
        &mut self,
        cmd: &CommandView<'_>,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        if let Answer::Nothing = answer(cmd.p2)? {
            return Ok(());
        }
        let options = self.device_options()?.to_be_bytes();
        let mut fci = Vec::with_capacity(32);
        crate::cvc::put(&mut fci, 0x82, &[0x38]);
        crate::cvc::put(&mut fci, 0x84, &AID);
        crate::cvc::put(&mut fci, 0x8A, &[0x05]);
        // SmartCard-HSM: tag 85 = options, FF, version major, minor. Bit 0x04 of the second byte would
        // announce session PINs to OpenSC, which we do not implement.
        crate::cvc::put(
            &mut fci,
            0x85,
            &[options[0], options[1] & !0x04, 0xFF, VERSION.0, VERSION.1],
        );
        tlv::write(reply, 0x62, &fci)?;
        Ok(())
    }

    /// The length of file `f` of the main store, `None` if it does not exist. On a damaged store whose
    /// state of `f` is in doubt: 6581, never 6A82 (the file may exist).
    fn file_len(&mut self, f: u16) -> Result<Option<usize>, Status> {
        match self.platform.store().try_len(f) {
            Ok(n) => Ok(Some(n)),
            Err(hsm_store::Error::NotFound) => Ok(None),
            Err(e) => Err(crate::store_status(e)),
        }
    }

    /// Whether SELECT may find `f`, and its size.
    fn lookup(&mut self, f: u16) -> Result<Option<usize>, Status> {
        Ok(match classify(f) {
            Class::MasterFile | Class::Directory | Class::Placeholder => Some(0),
            Class::Generated => Some(files::ef_dir().len()),
            // These two have a default content when the host has not written them (also when a
            // damaged store cannot tell whether it did: OpenSC reads both at every connection).
            Class::TokenInfo => match self.platform.store().len(f) {
                Some(n) => Some(n),
                None => Some(files::default_token_info(&self.serial).len()),
            },
            Class::Internal => None,
            // C_DevAut is a static file upstream: empty, not missing, before INITIALIZE.
            Class::Public if f == fid::C_DEVAUT => Some(self.platform.store().len(f).unwrap_or(0)),
            Class::Key | Class::ProtectedData | Class::Public => self.file_len(f)?,
        })
    }

    /// SELECT (00 A4) by file id or path.
    pub(crate) fn select(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        let how = answer(cmd.p2)?;
        let target = match (cmd.p1, cmd.data.len()) {
            (0x00, 0) | (0x03, 0) => fid::MF,
            (0x00..=0x02, 2) => match cmd.data {
                [hi, lo] => u16::from_be_bytes([*hi, *lo]),
                _ => return Err(Status::WrongLength),
            },
            (0x08 | 0x09, n) if n >= 2 && n % 2 == 0 => {
                let (dirs, last) = cmd.data.split_last_chunk::<2>().ok_or(Status::WrongLength)?;
                let dirs_ok = dirs.chunks(2).all(|d| matches!(d, [0x3F, 0x00] | [0x50, 0x15]));
                if !dirs_ok {
                    return Err(Status::FileNotFound);
                }
                u16::from_be_bytes(*last)
            }
            (0x00..=0x03 | 0x08 | 0x09, _) => return Err(Status::WrongLength),
            _ => return Err(Status::IncorrectP1P2),
        };
        let size = self.lookup(target)?.ok_or(Status::FileNotFound)?;
        let class = classify(target);
        let is_df = matches!(class, Class::MasterFile | Class::Directory);
        self.session.current_ef = if is_df { None } else { Some(target) };
        if let Answer::Nothing = how {
            return Ok(());
        }
        let mut fci = Vec::with_capacity(24);
        let size16 = u16::try_from(size).unwrap_or(u16::MAX);
        crate::cvc::put(&mut fci, 0x81, &size16.to_be_bytes());
        crate::cvc::put(&mut fci, 0x82, &[if is_df { 0x38 } else { 0x01 }]);
        crate::cvc::put(&mut fci, 0x83, &target.to_be_bytes());
        crate::cvc::put(&mut fci, 0x8A, &[0x05]);
        if class == Class::Key {
            // SmartCard-HSM: key metadata in `A5 81 LL` (reference §3.1; SCS3 reads the counter here).
            let [_, id] = target.to_be_bytes();
            let meta = self.key_metadata(id)?.encode();
            if !meta.is_empty() {
                fci.extend_from_slice(&[0xA5, 0x81, u8::try_from(meta.len()).unwrap_or(u8::MAX)]);
                fci.extend_from_slice(meta.get(..0xFF).unwrap_or(&meta));
            }
        }
        tlv::write(reply, 0x62, &fci)?;
        Ok(())
    }

    fn current_ef(&self) -> Result<u16, Status> {
        self.session.current_ef.ok_or(Status::CommandNotAllowed)
    }

    /// READ BINARY: B0 (offset in P1-P2 of the current EF) and B1 (FID in P1-P2, offset DO `54`).
    pub(crate) fn read_binary(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        let (f, offset) = if cmd.ins == 0xB0 {
            if cmd.p1 & 0x80 != 0 {
                // Short file identifiers are not used by this card.
                return Err(Status::FileNotFound);
            }
            (self.current_ef()?, usize::from(u16::from_be_bytes([cmd.p1, cmd.p2])))
        } else {
            let f = match u16::from_be_bytes([cmd.p1, cmd.p2]) {
                0 => self.current_ef()?,
                f => f,
            };
            let offset = tlv::find(cmd.data, 0x54)?.ok_or(Status::WrongLength)?;
            (f, offset_of(offset)?)
        };
        let want = if cmd.ne == 0 { 256 } else { cmd.ne }.min(reply.remaining());
        match classify(f) {
            Class::MasterFile | Class::Directory => return Err(INCOMPATIBLE_FILE),
            Class::Internal | Class::Key => return Err(Status::SecurityStatusNotSatisfied),
            Class::ProtectedData if !self.session.user_authenticated => {
                return Err(Status::SecurityStatusNotSatisfied);
            }
            Class::Placeholder => return slice_into(&[], offset, want, reply),
            Class::Generated => return slice_into(&files::ef_dir(), offset, want, reply),
            Class::TokenInfo if !self.platform.store().contains(f) => {
                return slice_into(&files::default_token_info(&self.serial), offset, want, reply);
            }
            // Upstream's host library reads C_DevAut right after SELECT and expects an empty 9000
            // on a device that was never initialized (issue 11).
            Class::Public if f == fid::C_DEVAUT && !self.platform.store().contains(f) => {
                return slice_into(&[], offset, want, reply);
            }
            _ => {}
        }
        let len = self.file_len(f)?.ok_or(Status::FileNotFound)?;
        if offset > len {
            return Err(Status::EndOfFile);
        }
        let n = want.min(len - offset);
        let buf = reply.reserve(n)?;
        let got = self
            .platform
            .store()
            .read(f, offset, buf)
            .map_err(crate::store_status)?;
        reply.truncate(reply.len() - (n - got.min(n)));
        Ok(())
    }

    /// UPDATE BINARY (00 D7 FID): `54 offset` and `53 data`; creates the file when missing.
    pub(crate) fn update_binary(&mut self, cmd: &CommandView<'_>) -> Result<(), Status> {
        if !self.session.user_authenticated {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        let f = match u16::from_be_bytes([cmd.p1, cmd.p2]) {
            0 => self.current_ef()?,
            f => f,
        };
        match classify(f) {
            Class::MasterFile | Class::Directory => return Err(INCOMPATIBLE_FILE),
            Class::Internal | Class::Key | Class::Generated | Class::Placeholder => {
                return Err(Status::SecurityStatusNotSatisfied);
            }
            // The device key's descriptions and its certificate chain (C_DevAut) belong to the device
            // (DESIGN §5: slot 0 is never the user's): only the card writes them.
            _ if matches!(f, fid::DEVICE_PRKD | fid::DEVICE_REQUEST | fid::C_DEVAUT) => {
                return Err(Status::SecurityStatusNotSatisfied);
            }
            // CA certificates of the trust store: only PSO VERIFY CERTIFICATE stores them, after
            // checking their signature (`pso.rs`); written directly they would be trusted unchecked.
            _ if f >> 8 == u16::from(crate::pso::CA_PREFIX) => return Err(Status::SecurityStatusNotSatisfied),
            Class::TokenInfo | Class::ProtectedData | Class::Public => {}
        }
        let mut offset = 0usize;
        let mut data: Option<&[u8]> = None;
        for item in tlv::Reader::new(cmd.data) {
            let item = item?;
            match item.tag {
                0x54 => offset = offset_of(item.value)?,
                0x53 => data = Some(item.value),
                _ => {}
            }
        }
        // Writing a whole file needs nothing of the old one (it also replaces a file a damaged store
        // holds in doubt).
        let existing = match (offset, data) {
            (0, Some(_)) => None,
            _ => self.file_len(f)?,
        };
        let content = match (offset, data, existing) {
            (0, Some(d), _) => Some(d.to_vec()),
            (0, None, Some(_)) => None,
            (0, None, None) => Some(Vec::new()),
            (_, _, None) => return Err(Status::DataInvalid),
            (off, d, Some(len)) => {
                let d = d.unwrap_or_default();
                if off > len {
                    return Err(Status::WrongLength);
                }
                let end = off.checked_add(d.len()).ok_or(Status::WrongLength)?;
                let mut cur = self.platform.store().read_all(f).map_err(crate::store_status)?;
                if end > cur.len() {
                    cur.resize(end, 0);
                }
                cur.get_mut(off..end).ok_or(Status::WrongLength)?.copy_from_slice(d);
                Some(cur)
            }
        };
        if let Some(content) = content {
            self.write_file(f, &content)?;
        }
        self.session.current_ef = Some(f);
        Ok(())
    }

    /// DELETE FILE (00 E4): FID in the data, or the current EF.
    pub(crate) fn delete_file(&mut self, cmd: &CommandView<'_>) -> Result<(), Status> {
        if !self.session.user_authenticated {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        let f = match cmd.data {
            [] => self.current_ef()?,
            [hi, lo] => u16::from_be_bytes([*hi, *lo]),
            _ => return Err(Status::WrongLength),
        };
        match classify(f) {
            Class::MasterFile | Class::Directory | Class::Generated | Class::Placeholder => {
                return Err(Status::CommandNotAllowed);
            }
            // The device key and internal files are never deleted from outside (DESIGN §5).
            Class::Internal => return Err(Status::SecurityStatusNotSatisfied),
            _ if matches!(
                f,
                fid::DEVICE_KEY | fid::DEVICE_PRKD | fid::DEVICE_REQUEST | fid::C_DEVAUT
            ) =>
            {
                return Err(Status::SecurityStatusNotSatisfied);
            }
            _ => {}
        }
        if !self.platform.store().delete(f).map_err(crate::store_status)? {
            return Err(Status::FileNotFound);
        }
        if classify(f) == Class::Key {
            let [_, id] = f.to_be_bytes();
            self.forget_key(id)?;
        }
        if self.session.current_ef == Some(f) {
            self.session.current_ef = None;
        }
        Ok(())
    }

    /// LIST KEYS (80 58): C400, CC00, then user keys, PRKDs, CDs and DCODs, as upstream orders them.
    pub(crate) fn list_keys(&mut self, reply: &mut Reply<'_>) -> Result<(), Status> {
        let store = self.platform.store();
        for device in [fid::DEVICE_PRKD, fid::DEVICE_KEY] {
            if store.contains(device) {
                reply.extend(&device.to_be_bytes())?;
            }
        }
        for p in [prefix::KEY, prefix::PRKD, prefix::CD, prefix::DCOD] {
            // Slot 0 of keys and PRKDs is the device's, already listed first.
            let device_slot = matches!(p, prefix::KEY | prefix::PRKD);
            for f in store
                .fids()
                .filter(|f| f >> 8 == u16::from(p) && !(device_slot && f & 0xFF == 0))
            {
                reply.extend(&f.to_be_bytes())?;
            }
        }
        Ok(())
    }
}

/// Copies `data[offset..]`, at most `want` bytes, into the reply (6282 past the end).
fn slice_into(data: &[u8], offset: usize, want: usize, reply: &mut Reply<'_>) -> Result<(), Status> {
    let rest = data.get(offset..).ok_or(Status::EndOfFile)?;
    reply.extend(rest.get(..want.min(rest.len())).unwrap_or_default())?;
    Ok(())
}
