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
//! * `1070+d` (internal): the UID of an XKEK key domain (reference §7.5): the public point, without
//!   its `04`, of the group signer key (GSK) whose key domain membership (KDM) created it with
//!   P1 02. As upstream, the domain's `10A0` slot stays free (`FF FF`): the UID file is what
//!   makes it an XKEK domain. Its DKEK comes from DECIPHER P2 84 (`ops.rs`) and is stored as a
//!   complete DKEK of one share, sealed under the MKEK.

use alloc::vec::Vec;

use hsm_apdu::{CommandView, Reply, Status, tlv};
use hsm_crypto::asym::{Curve, CurveKind};
use zeroize::Zeroizing;

use crate::files::{fid, prefix};
use crate::secrets::Key32;
use crate::{App, Platform, cvc};

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

pub(crate) fn xkek_fid(domain: u8) -> u16 {
    fid::XKEK + u16::from(domain)
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

/// The status of a domain: configured total, imported shares, KCV of what was imported, and the
/// UID of an XKEK domain.
pub(crate) struct DomainStatus {
    pub total: u8,
    pub imported: u8,
    pub kcv: [u8; 8],
    pub uid: Option<Zeroizing<Vec<u8>>>,
}

impl DomainStatus {
    /// Whether the domain has a complete DKEK that keys can be wrapped with. An XKEK domain has
    /// one once DECIPHER P2 84 stored it (one share of one).
    pub fn complete(&self) -> bool {
        if self.uid.is_some() {
            return self.imported >= 1;
        }
        self.total != 0 && self.total != FREE && self.imported >= self.total
    }

    /// Whether the slot is neither a configured domain nor an XKEK domain.
    fn free(&self) -> bool {
        self.total == FREE && self.uid.is_none()
    }

    /// Missing shares as the status reports them: none for an XKEK domain (upstream reports its
    /// `FF FF` slot as `FF 00`).
    fn missing(&self) -> u8 {
        if self.uid.is_some() {
            0
        } else {
            self.total.saturating_sub(self.imported)
        }
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
        let uid = self.read_file(xkek_fid(d))?;
        Ok(Some(DomainStatus {
            total,
            imported,
            kcv,
            uid,
        }))
    }

    /// Finishes a KEY DOMAIN delete a power cut interrupted: the slot is free (no share count, no
    /// XKEK UID) but the sealed DKEK is still there. Run at power-on, so the old DKEK is gone
    /// before any command, not only when the slot is configured again.
    pub(crate) fn finish_domain_deletes(&mut self) -> Result<(), Status> {
        let table = self.domain_table()?;
        for (d, slot) in (0..MAX_DOMAINS).zip(table.chunks_exact(2)) {
            if slot.first() == Some(&FREE)
                && !self.platform.store().contains(xkek_fid(d))
                && self.platform.store().contains(dkek_fid(d))
            {
                self.platform.store().delete(dkek_fid(d)).map_err(crate::store_status)?;
            }
        }
        Ok(())
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
        // It runs on every successful VERIFY: the table once and each record's clear header once;
        // only a record still sealed under the device key is looked at further.
        let Ok(table) = self.domain_table() else { return };
        for d in (0..MAX_DOMAINS).take(table.len() / 2) {
            let device_sealed = match self.read_file(dkek_fid(d)) {
                Ok(Some(raw)) => parse_record(&raw).is_ok_and(|(r, _)| r.sealing == SEALED_BY_DEVICE),
                _ => false,
            };
            if !device_sealed || !self.domain_status(d).is_ok_and(|s| s.is_some_and(|s| s.complete())) {
                continue;
            }
            if let Ok((value, imported, _)) = self.open_dkek(d)
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
        let status = self.domain_status(d)?.ok_or(Status::IncorrectP1P2)?;
        match p1 {
            0x00 if !cmd.data.is_empty() => self.import_dkek_share(d, &status, cmd.data)?,
            0x00 => {
                if status.free() {
                    return Err(Status::ReferenceNotFound);
                }
            }
            0x01 => {
                let &[n] = cmd.data else {
                    return Err(Status::WrongLength);
                };
                if !status.free() {
                    return Err(Status::IncorrectP1P2);
                }
                // A DKEK left by a delete cut short by a power loss must not come back.
                self.platform.store().delete(dkek_fid(d)).map_err(crate::store_status)?;
                set_slot(&mut table, slot, [n, 0]);
                self.write_file(fid::KEY_DOMAINS, &table)?;
            }
            0x02 => self.create_xkek_domain(d, &status, cmd.data)?,
            0x03 => {
                if status.free() {
                    return Err(Status::IncorrectP1P2);
                }
                if self.domain_has_keys(d)? {
                    return Err(Status::FileExists);
                }
                if status.total != FREE {
                    set_slot(&mut table, slot, [FREE, FREE]);
                    self.write_file(fid::KEY_DOMAINS, &table)?;
                }
                self.platform.store().delete(dkek_fid(d)).map_err(crate::store_status)?;
                // Last: until the UID goes, an XKEK domain cut short here still exists.
                self.platform.store().delete(xkek_fid(d)).map_err(crate::store_status)?;
                // What upstream's hosts expect after a successful delete.
                return Err(Status::ReferenceNotFound);
            }
            0x04 => {
                self.platform.store().delete(dkek_fid(d)).map_err(crate::store_status)?;
            }
            _ => return Err(Status::IncorrectP1P2),
        }
        let status = self.domain_status(d)?.ok_or(Status::IncorrectP1P2)?;
        reply.push(status.total)?;
        reply.push(status.missing())?;
        reply.extend(&status.kcv)?;
        if let Some(uid) = &status.uid {
            reply.extend(uid)?;
        }
        Ok(())
    }

    /// P1 02: makes domain `d` an XKEK domain (reference §3.11, §7.5; upstream's
    /// `cmd_key_domain.c`). `data` = the group signer key's CV request (the content of its `67`,
    /// or the whole `67`) ‖ `54` signature; the GSK must have signed `SHA-256(54 ‖ X)`, X = the
    /// x-coordinate of the public key of the first certificate in C_DevAut (2F02), raw `r ‖ s`
    /// with SHA-256 whatever the request's id-TA-ECDSA OID names (as upstream). The domain's UID
    /// becomes the GSK public point without its `04`.
    ///
    /// Upstream also accepts a configured (shares) domain and overwrites an existing UID; here
    /// the slot must be free, or already an XKEK domain of the same UID (nothing changes), else
    /// 6A86. The GSK's curve comes from its own template (`81`), where upstream follows the
    /// request's CAR through its trust store when CAR ≠ CHR.
    fn create_xkek_domain(&mut self, d: u8, status: &DomainStatus, data: &[u8]) -> Result<(), Status> {
        if status.uid.is_none() && status.total != FREE {
            return Err(Status::IncorrectP1P2);
        }
        if data.is_empty() {
            return Err(Status::WrongLength);
        }
        let termca = self.read_file(fid::C_DEVAUT)?.ok_or(Status::ExecutionError)?;
        let device_x = certificate_point_x(&termca).ok_or(Status::ExecutionError)?;
        let signature = tlv::find(data, 0x54)?.ok_or(Status::WrongLength)?;
        let hash = hsm_crypto::hash::sha256(&[&[0x54], device_x]);
        let uid = verify_gsk(data, signature, &hash).ok_or(Status::ConditionsNotSatisfied)?;
        match &status.uid {
            Some(old) if old.as_slice() == uid => Ok(()),
            Some(_) => Err(Status::IncorrectP1P2),
            None => {
                // A DKEK left by a delete cut short by a power loss must not come back.
                self.platform.store().delete(dkek_fid(d)).map_err(crate::store_status)?;
                self.write_file(xkek_fid(d), uid)
            }
        }
    }

    /// The XKEK domain whose UID is `uid`, if any (upstream's `cmd_decrypt_asym.c` loop).
    pub(crate) fn xkek_domain_of(&mut self, uid: &[u8]) -> Result<Option<u8>, Status> {
        for d in 0..MAX_DOMAINS {
            let Some(status) = self.domain_status(d)? else { break };
            if status.uid.is_some_and(|u| u.as_slice() == uid) {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    /// P1 00 with data: XORs a 32-byte share into the domain's DKEK, one atomic write.
    fn import_dkek_share(&mut self, d: u8, status: &DomainStatus, share: &[u8]) -> Result<(), Status> {
        // An XKEK domain takes no shares (upstream: its FF FF slot counts as all shares in).
        if status.uid.is_some() {
            return Err(Status::CommandNotAllowed);
        }
        let total = status.total;
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

/// The x-coordinate of the EC public key (`7F49`/`86`, uncompressed) of the first certificate in
/// `certs` (upstream's `cvc_get_pub` on EF_TERMCA): the first half of the point after its `04`.
fn certificate_point_x(certs: &[u8]) -> Option<&[u8]> {
    let body = cvc::find_body(certs).ok()??;
    let point = tlv::find(tlv::find(body, 0x7F49).ok()??, 0x86).ok()??;
    let (&first, xy) = point.split_first()?;
    if first != 0x04 {
        return None;
    }
    xy.get(..xy.len() / 2)
}

/// Checks the `54` signature of a key domain membership: raw `r ‖ s` ECDSA over `hash` by the
/// EC key of the CV request in `data` (id-TA-ECDSA with SHA-1…SHA-512 in its OID, its curve
/// named by the prime `81`, its point `86` uncompressed and on the curve). Returns the point
/// without its `04`: the domain UID. `None` for anything else (upstream's `puk_verify`
/// failures, all 6985).
fn verify_gsk<'a>(data: &'a [u8], signature: &[u8], hash: &[u8]) -> Option<&'a [u8]> {
    let body = cvc::find_body(data).ok()??;
    let template = tlv::find(body, 0x7F49).ok()??;
    let field = |tag| tlv::find(template, tag).ok().flatten();
    let oid = field(0x06)?;
    let (&hash_id, prefix) = oid.split_last()?;
    if prefix != cvc::OID_TA_ECDSA_SHA256.get(..9)? || !(1..=5).contains(&hash_id) {
        return None;
    }
    let curve = Curve::from_prime(field(0x81)?)?;
    if curve.kind() != CurveKind::Weierstrass {
        return None;
    }
    let point = field(0x86)?;
    let (&first, uid) = point.split_first()?;
    if first != 0x04 || point.len() != curve.public_key_len() {
        return None;
    }
    // Upstream reads r and s as the two halves of whatever length arrives.
    if signature.is_empty() || !signature.len().is_multiple_of(2) {
        return None;
    }
    let (r, s) = signature.split_at(signature.len() / 2);
    let n = curve.order_bits().div_ceil(8);
    let mut rs = Vec::with_capacity(2 * n);
    for half in [r, s] {
        let start = half.iter().position(|b| *b != 0).unwrap_or(half.len());
        let digits = half.get(start..)?;
        let pad = n.checked_sub(digits.len())?;
        rs.extend(core::iter::repeat_n(0, pad));
        rs.extend_from_slice(digits);
    }
    curve.verify_ecdsa_raw(point, hash, &rs).ok()?;
    Some(uid)
}

fn set_slot(table: &mut [u8], slot: usize, value: [u8; 2]) {
    if let Some(s) = table.get_mut(slot..slot + 2) {
        s.copy_from_slice(&value);
    }
}
