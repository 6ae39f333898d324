//! Key domains and their DKEKs: KEY DOMAIN (80 52; reference §3.11, §7.1, §7.2; DESIGN §4, §5).
//!
//! * `10A0` (internal): two bytes per domain, as upstream: `total shares, 00` for a configured
//!   domain, `FF FF` for a free slot. The number of domains is the file's length / 2.
//! * `1090+d` (internal): the DKEK of domain `d`: `imported ‖ sealing ‖ KCV(8) ‖ sealed value`,
//!   one atomic write per share, so a power cut never leaves a share counted but not applied or
//!   the other way round. The value is the XOR of the shares imported so far; the KCV is
//!   `SHA-256(value)[0..8]`, kept beside the sealed value so that the status (and the KCV) is
//!   answered without a PIN, as a genuine SmartCard-HSM does (DESIGN §5).
//! * Sealing: while shares are missing, or when the last one arrives without a PIN session, the
//!   value is sealed under the device root key (`sealing` 0): shares are imported without a PIN
//!   (that is how `sc-hsm-tool` works). The first PIN session after that reseals a complete DKEK
//!   under the MKEK (`sealing` 1), like key material. Upstream keeps the partial value in a
//!   readable file in the clear (reference §14); here it is never in flash in the clear and never
//!   readable (the `1090` range is internal to READ BINARY).

use alloc::vec::Vec;

use hsm_apdu::{CommandView, Reply, Status};
use zeroize::Zeroizing;

use crate::files::{fid, prefix};
use crate::secrets::Key32;
use crate::{App, Platform};

/// Upstream's `MAX_KEY_DOMAINS`.
pub(crate) const MAX_DOMAINS: u8 = 16;
/// Length of a DKEK and of a share.
pub(crate) const DKEK_LEN: usize = 32;
/// A free domain slot in `10A0`.
const FREE: u8 = 0xFF;
const SEALED_BY_DEVICE: u8 = 0;
const SEALED_BY_MKEK: u8 = 1;

/// The key check value of a DKEK: the first 8 bytes of its SHA-256 (reference §7.3).
pub(crate) fn kcv(dkek: &[u8]) -> [u8; 8] {
    let h = hsm_crypto::hash::sha256(&[dkek]);
    let mut k = [0u8; 8];
    k.copy_from_slice(h.get(..8).unwrap_or(&[0; 8]));
    k
}

pub(crate) fn dkek_fid(domain: u8) -> u16 {
    fid::DKEK + u16::from(domain)
}

/// The clear header of a DKEK record.
struct Record {
    imported: u8,
    sealing: u8,
    kcv: [u8; 8],
}

fn parse_record(raw: &[u8]) -> Result<(Record, &[u8]), Status> {
    match raw {
        [imported, sealing, rest @ ..] if rest.len() > 8 => {
            let (kcv, sealed) = rest.split_at(8);
            let mut k = [0u8; 8];
            k.copy_from_slice(kcv);
            Ok((
                Record {
                    imported: *imported,
                    sealing: *sealing,
                    kcv: k,
                },
                sealed,
            ))
        }
        _ => Err(Status::ExecutionError),
    }
}

/// The status of a domain: configured total, imported shares, KCV of what was imported.
pub(crate) struct DomainStatus {
    pub total: u8,
    pub imported: u8,
    pub kcv: [u8; 8],
}

impl DomainStatus {
    /// Whether the domain has a complete DKEK that keys can be wrapped with.
    pub fn complete(&self) -> bool {
        self.total != 0 && self.total != FREE && self.imported >= self.total
    }
}

impl<P: Platform> App<P> {
    /// The domain table (`10A0`), empty when the device was never initialized.
    fn domain_table(&mut self) -> Result<Zeroizing<Vec<u8>>, Status> {
        Ok(self.read_file(fid::KEY_DOMAINS)?.unwrap_or_default())
    }

    /// The status of domain `d`; `None` when `d` is beyond the configured domains.
    pub(crate) fn domain_status(&mut self, d: u8) -> Result<Option<DomainStatus>, Status> {
        let table = self.domain_table()?;
        let Some(&total) = table.get(2 * usize::from(d)) else {
            return Ok(None);
        };
        let (imported, kcv) = match self.read_file(dkek_fid(d))? {
            Some(raw) => {
                let (r, _) = parse_record(&raw)?;
                (r.imported, r.kcv)
            }
            None => (0, [0; 8]),
        };
        Ok(Some(DomainStatus { total, imported, kcv }))
    }

    /// Seals `value` as the DKEK of domain `d` with `imported` shares: under the MKEK when the
    /// DKEK is complete and `mkek` is given, else under the device root key.
    pub(crate) fn write_dkek(
        &mut self,
        d: u8,
        imported: u8,
        complete: bool,
        value: &[u8; DKEK_LEN],
        mkek: Option<&[u8; 32]>,
    ) -> Result<(), Status> {
        let (sealing, key) = match mkek {
            Some(m) if complete => (SEALED_BY_MKEK, self.keys.mkek_sealing_key(m)),
            _ => (SEALED_BY_DEVICE, self.keys.device_sealing_key()),
        };
        let nonce = self.random_array::<12>()?;
        let f = dkek_fid(d);
        let sealed = self.keys.seal(&key, f, &nonce, value);
        let mut record = Vec::with_capacity(10 + sealed.len());
        record.extend_from_slice(&[imported, sealing]);
        record.extend_from_slice(&kcv(value));
        record.extend_from_slice(&sealed);
        self.write_file(f, &record)
    }

    /// The accumulated DKEK value of domain `d` and its share count (zeros and 0 when none).
    fn open_dkek(&mut self, d: u8) -> Result<(Key32, u8, u8), Status> {
        let Some(raw) = self.read_file(dkek_fid(d))? else {
            return Ok((Zeroizing::new([0; DKEK_LEN]), 0, SEALED_BY_DEVICE));
        };
        let (r, sealed) = parse_record(&raw)?;
        let key = match r.sealing {
            SEALED_BY_MKEK => {
                let mkek = self.session.mkek.clone().ok_or(Status::ExecutionError)?;
                self.keys.mkek_sealing_key(&mkek)
            }
            _ => self.keys.device_sealing_key(),
        };
        let plain = self
            .keys
            .open(&key, dkek_fid(d), sealed)
            .ok_or(Status::ExecutionError)?;
        let mut value = Zeroizing::new([0u8; DKEK_LEN]);
        if plain.len() != DKEK_LEN {
            return Err(Status::ExecutionError);
        }
        value.copy_from_slice(&plain);
        Ok((value, r.imported, r.sealing))
    }

    /// The complete DKEK of domain `d` (6A88 when the domain has none).
    pub(crate) fn load_dkek(&mut self, d: u8) -> Result<Key32, Status> {
        let status = self.domain_status(d)?.ok_or(Status::ReferenceNotFound)?;
        if !status.complete() {
            return Err(Status::ReferenceNotFound);
        }
        Ok(self.open_dkek(d)?.0)
    }

    /// After a PIN opened the MKEK: reseals every complete DKEK still sealed under the device
    /// key (its last share arrived without a PIN) under the MKEK. Failures leave it as it was.
    pub(crate) fn seal_pending_dkeks(&mut self) {
        let Some(mkek) = self.session.mkek.clone() else { return };
        for d in 0..MAX_DOMAINS {
            let Ok(Some(status)) = self.domain_status(d) else {
                return;
            };
            if !status.complete() {
                continue;
            }
            if let Ok((value, imported, SEALED_BY_DEVICE)) = self.open_dkek(d)
                && self.write_dkek(d, imported, true, &value, Some(&mkek)).is_err()
            {
                log::warn!("could not reseal the DKEK of domain {d}");
            }
        }
    }

    /// Whether any key (metadata tag 92, default domain 0) belongs to domain `d`.
    fn domain_has_keys(&mut self, d: u8) -> Result<bool, Status> {
        let keys: Vec<u8> = self
            .platform
            .store()
            .fids()
            .filter(|f| f >> 8 == u16::from(prefix::KEY) && f & 0xFF != 0)
            .map(|f| (f & 0xFF) as u8)
            .collect();
        for id in keys {
            if self.key_metadata(id)?.domain.unwrap_or(0) == d {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// KEY DOMAIN (80 52 P1 P2), P2 = domain.
    pub(crate) fn key_domain(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        let (p1, d) = (cmd.p1, cmd.p2);
        // Upstream: commands with data need a PIN session, except importing a share into domain 0
        // (what sc-hsm-tool does before any login). Managing domains always needs one here.
        let managing = matches!(p1, 0x01..=0x04);
        let share_into_domain_0 = p1 == 0 && d == 0;
        if !self.session.user_authenticated && (managing || !(cmd.data.is_empty() || share_into_domain_0)) {
            return Err(Status::ConditionsNotSatisfied);
        }
        if d >= MAX_DOMAINS {
            return Err(Status::WrongP1P2);
        }
        let mut table = self.domain_table()?;
        if table.is_empty() {
            return Err(Status::WrongP1P2);
        }
        let slot = 2 * usize::from(d);
        let Some(&total) = table.get(slot) else {
            return Err(Status::IncorrectP1P2);
        };
        match p1 {
            0x00 if !cmd.data.is_empty() => self.import_dkek_share(d, total, cmd.data)?,
            0x00 => {
                if total == FREE {
                    return Err(Status::ReferenceNotFound);
                }
            }
            0x01 => {
                let &[n] = cmd.data else {
                    return Err(Status::WrongLength);
                };
                if total != FREE {
                    return Err(Status::IncorrectP1P2);
                }
                // A DKEK left by a delete cut short by a power loss must not come back.
                self.platform.store().delete(dkek_fid(d)).map_err(crate::store_status)?;
                set_slot(&mut table, slot, [n, 0]);
                self.write_file(fid::KEY_DOMAINS, &table)?;
            }
            0x03 => {
                if total == FREE {
                    return Err(Status::IncorrectP1P2);
                }
                if self.domain_has_keys(d)? {
                    return Err(Status::FileExists);
                }
                set_slot(&mut table, slot, [FREE, FREE]);
                self.write_file(fid::KEY_DOMAINS, &table)?;
                self.platform.store().delete(dkek_fid(d)).map_err(crate::store_status)?;
                // What upstream's hosts expect after a successful delete.
                return Err(Status::ReferenceNotFound);
            }
            0x04 => {
                self.platform.store().delete(dkek_fid(d)).map_err(crate::store_status)?;
            }
            // XKEK domains are not offered yet.
            0x02 => return Err(Status::FunctionNotSupported),
            _ => return Err(Status::IncorrectP1P2),
        }
        let status = self.domain_status(d)?.ok_or(Status::IncorrectP1P2)?;
        reply.push(status.total)?;
        reply.push(status.total.saturating_sub(status.imported))?;
        reply.extend(&status.kcv)?;
        Ok(())
    }

    /// P1 00 with data: XORs a 32-byte share into the domain's DKEK, one atomic write.
    fn import_dkek_share(&mut self, d: u8, total: u8, share: &[u8]) -> Result<(), Status> {
        if total == FREE {
            return Err(Status::ReferenceNotFound);
        }
        if share.len() != DKEK_LEN {
            return Err(Status::WrongLength);
        }
        let (mut value, imported, _) = self.open_dkek(d)?;
        if imported >= total {
            return Err(Status::CommandNotAllowed);
        }
        value.iter_mut().zip(share).for_each(|(v, s)| *v ^= s);
        let imported = imported + 1;
        let mkek = self.session.mkek.clone();
        self.write_dkek(d, imported, imported >= total, &value, mkek.as_deref())
    }
}

fn set_slot(table: &mut [u8], slot: usize, value: [u8; 2]) {
    if let Some(s) = table.get_mut(slot..slot + 2) {
        s.copy_from_slice(&value);
    }
}
