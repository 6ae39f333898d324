//! VERIFY, CHANGE REFERENCE DATA and RESET RETRY COUNTER (reference §3.6–3.8, §6.2; DESIGN §4).
//!
//! A PIN record (`1081` user, `1088` SO) is one file, written atomically:
//! `PIN length ‖ 01 ‖ verifier(32) ‖ PIN share sealed under the PIN-derived key`. Keeping the
//! verifier and the wrapped share together means a power cut during a PIN change leaves either the
//! old PIN with the old wrap or the new PIN with the new wrap, never a PIN that cannot unwrap it.
//!
//! Both records hold the same 32-byte PIN share `P` of the MKEK; the MKEK is `P ⊕ Z`, with the
//! device share `Z` in the secure-lock record (`extras.rs`; a device initialized before that record
//! existed has none, and its share is the MKEK itself). PIN changes rewrap `P` and never need `Z`.
//!
//! Retry counters (`[max, current]`) live in the counters store. A check decrements and persists the
//! counter before the constant-time comparison and restores it on success, so cutting power after a
//! wrong guess never gives the guess back.

use alloc::vec::Vec;

use hsm_apdu::{CommandView, Status};
use zeroize::Zeroizing;

use crate::files::{fid, options};
use crate::secrets::Key32;
use crate::{App, Platform};

/// Longest PIN or SO-PIN accepted.
pub const MAX_PIN_LEN: usize = 16;
/// Retries of the SO-PIN (reference §6.2).
pub const SO_RETRIES: u8 = 15;
const RECORD_FORMAT: u8 = 0x01;
const VERIFIER_LEN: usize = 32;

/// Which PIN a command addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinRef {
    /// 81
    User,
    /// 88
    So,
}

impl PinRef {
    /// The PIN reference in P2, or `None` for any other value.
    pub fn from_p2(p2: u8) -> Option<Self> {
        match p2 {
            0x81 => Some(PinRef::User),
            0x88 => Some(PinRef::So),
            _ => None,
        }
    }

    fn reference(self) -> u8 {
        match self {
            PinRef::User => 0x81,
            PinRef::So => 0x88,
        }
    }

    fn record_fid(self) -> u16 {
        match self {
            PinRef::User => fid::USER_PIN,
            PinRef::So => fid::SO_PIN,
        }
    }

    fn counter_fid(self) -> u16 {
        match self {
            PinRef::User => fid::USER_RETRIES,
            PinRef::So => fid::SO_RETRIES,
        }
    }
}

struct PinRecord {
    pin_len: usize,
    verifier: [u8; VERIFIER_LEN],
    sealed_mkek: Vec<u8>,
}

impl PinRecord {
    fn parse(raw: &[u8]) -> Option<Self> {
        let (&len, rest) = raw.split_first()?;
        let (&format, rest) = rest.split_first()?;
        if format != RECORD_FORMAT || len == 0 || rest.len() < VERIFIER_LEN {
            return None;
        }
        let (verifier, sealed) = rest.split_at(VERIFIER_LEN);
        Some(PinRecord {
            pin_len: len as usize,
            verifier: verifier.try_into().ok()?,
            sealed_mkek: sealed.to_vec(),
        })
    }
}

impl<P: Platform> App<P> {
    fn load_pin_record(&mut self, pin: PinRef) -> Result<Option<PinRecord>, Status> {
        // INITIALIZE writes the SO-PIN record last: without it the device is not initialized, and a
        // user PIN that a power cut left behind must not open a session on it.
        if pin == PinRef::User && !self.platform.store().contains(fid::SO_PIN) {
            return Ok(None);
        }
        match self.read_file(pin.record_fid())? {
            None => Ok(None),
            Some(raw) => PinRecord::parse(&raw).map(Some).ok_or(Status::ExecutionError),
        }
    }

    /// Whether the PIN (or SO-PIN) has been set by INITIALIZE.
    pub(crate) fn pin_is_set(&mut self, pin: PinRef) -> Result<bool, Status> {
        Ok(self.load_pin_record(pin)?.is_some())
    }

    /// `(max, current)` retries; `(0, 0)` when no counter exists.
    pub(crate) fn retries(&mut self, pin: PinRef) -> Result<(u8, u8), Status> {
        let mut buf = [0u8; 2];
        let n = match self.platform.counters().read(pin.counter_fid(), 0, &mut buf) {
            Ok(n) => n,
            Err(hsm_store::Error::NotFound) => 0,
            Err(e) => return Err(crate::store_status(e)),
        };
        Ok(if n == 2 { (buf[0], buf[1].min(buf[0])) } else { (0, 0) })
    }

    pub(crate) fn set_retries(&mut self, pin: PinRef, max: u8, current: u8) -> Result<(), Status> {
        self.write_counter(pin.counter_fid(), &[max, current])
    }

    /// Builds the record for `pin_value`, sealing the PIN share `share` under it.
    pub(crate) fn pin_record(&mut self, pin: PinRef, pin_value: &[u8], share: &[u8; 32]) -> Result<Vec<u8>, Status> {
        if pin_value.is_empty() || pin_value.len() > MAX_PIN_LEN {
            return Err(Status::WrongLength);
        }
        let (verifier, wrap) = self.keys.pin_keys(pin.reference(), pin_value);
        let nonce = self.random_array::<12>()?;
        let sealed = self.keys.seal(&wrap, pin.record_fid(), &nonce, share);
        let mut rec = Vec::with_capacity(2 + VERIFIER_LEN + sealed.len());
        rec.push(pin_value.len() as u8);
        rec.push(RECORD_FORMAT);
        rec.extend_from_slice(&verifier[..]);
        rec.extend_from_slice(&sealed);
        Ok(rec)
    }

    /// Stores a new PIN wrapping the PIN share `share`.
    pub(crate) fn write_pin(&mut self, pin: PinRef, pin_value: &[u8], share: &[u8; 32]) -> Result<(), Status> {
        let rec = self.pin_record(pin, pin_value, share)?;
        self.write_file(pin.record_fid(), &rec)
    }

    /// Checks `candidate` against the stored PIN, counting a retry. Returns the PIN share on success.
    ///
    /// Wrong PIN: `63Cx` with the retries left; the guess that uses up the last retry and every try
    /// after it answer `6983` (authentication method blocked), like upstream (DESIGN §5: its users and
    /// suites expect CKR_PIN_LOCKED there).
    pub(crate) fn check_pin(&mut self, pin: PinRef, candidate: &[u8]) -> Result<Key32, Status> {
        let record = self.load_pin_record(pin)?.ok_or(Status::ReferenceNotFound)?;
        let (max, current) = self.retries(pin)?;
        if current == 0 {
            return Err(Status::AuthenticationMethodBlocked);
        }
        self.set_retries(pin, max, current - 1)?;
        let (verifier, wrap) = self.keys.pin_keys(pin.reference(), candidate);
        let same_len = candidate.len() == record.pin_len;
        let same_verifier = hsm_crypto::ct_eq(&verifier[..], &record.verifier);
        if !(same_len & same_verifier) {
            return Err(match current - 1 {
                0 => Status::AuthenticationMethodBlocked,
                left => Status::RemainingRetries(left),
            });
        }
        let plain = self
            .keys
            .open(&wrap, pin.record_fid(), &record.sealed_mkek)
            .ok_or(Status::ExecutionError)?;
        let mut share = Zeroizing::new([0u8; 32]);
        if plain.len() != 32 {
            return Err(Status::ExecutionError);
        }
        share.copy_from_slice(&plain);
        self.set_retries(pin, max, max)?;
        Ok(share)
    }

    /// Opens `pin`'s session with the PIN share `share`. The MKEK comes with it unless the secure
    /// lock is on and this session has not supplied the host secret (`extras.rs`): the PIN is then
    /// verified, but every key stays sealed (6400) until EXTRAS 3A 03.
    fn open_session(&mut self, pin: PinRef, share: Key32) {
        match pin {
            PinRef::User => {
                self.session.user_verified = true;
                // With PKA enabled only PKA authenticates the user; the PIN brings the MKEK
                // (upstream `check_pin`; `pka.rs`).
                if !self.pka_enabled() {
                    self.session.user_authenticated = true;
                }
            }
            PinRef::So => self.session.so_verified = true,
        }
        self.session.mkek = self.mkek_of_share(&share).ok().flatten();
        self.session.pin_share = Some(share);
    }

    /// A wrong VERIFY ends that PIN's verified state (ISO 7816-4 §7.5.6; DESIGN §5); the MKEK goes
    /// with the last open session.
    fn close_session(&mut self, pin: PinRef) {
        match pin {
            PinRef::User => {
                self.session.user_verified = false;
                // A PKA login is not the PIN's to end.
                if !self.pka_enabled() {
                    self.session.user_authenticated = false;
                }
            }
            PinRef::So => self.session.so_verified = false,
        }
        if !self.session.user_verified && !self.session.so_verified {
            self.session.mkek = None;
            self.session.pin_share = None;
        }
    }

    /// The device options (EF 100E), 0 when never set.
    pub(crate) fn device_options(&mut self) -> Result<u16, Status> {
        Ok(
            match self.read_file(fid::DEVICE_OPTIONS)?.as_deref().map(Vec::as_slice) {
                Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
                _ => 0,
            },
        )
    }

    /// VERIFY (00 20 00 81|88), reference §3.6.
    pub(crate) fn verify(&mut self, cmd: &CommandView<'_>) -> Result<(), Status> {
        if cmd.p1 != 0 || cmd.p2 & 0x60 != 0 {
            return Err(Status::WrongP1P2);
        }
        let pin = PinRef::from_p2(cmd.p2).ok_or(Status::ReferenceNotFound)?;
        if pin == PinRef::User && self.device_options()? & options::TRANSPORT_PIN != 0 {
            return Err(Status::DataInvalid);
        }
        if !self.pin_is_set(pin)? {
            return Err(Status::ReferenceNotFound);
        }
        if cmd.data.is_empty() {
            let verified = match pin {
                PinRef::User => self.session.user_verified,
                PinRef::So => self.session.so_verified,
            };
            let (_, current) = self.retries(pin)?;
            return match (verified, current) {
                (true, _) => Ok(()),
                (false, 0) => Err(Status::AuthenticationMethodBlocked),
                (false, n) => Err(Status::RemainingRetries(n)),
            };
        }
        let share = match self.check_pin(pin, cmd.data) {
            Ok(share) => share,
            Err(e @ (Status::RemainingRetries(_) | Status::AuthenticationMethodBlocked)) => {
                self.close_session(pin);
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.open_session(pin, share);
        self.seal_pending_dkeks();
        Ok(())
    }

    /// CHANGE REFERENCE DATA (00 24 00 81|88): old PIN ‖ new PIN, split at the stored PIN length.
    pub(crate) fn change_reference_data(&mut self, cmd: &CommandView<'_>) -> Result<(), Status> {
        if cmd.p1 != 0 {
            return Err(Status::WrongP1P2);
        }
        let pin = PinRef::from_p2(cmd.p2).ok_or(Status::ReferenceNotFound)?;
        let record = self.load_pin_record(pin)?.ok_or(Status::ReferenceNotFound)?;
        let (old, new) = cmd.data.split_at_checked(record.pin_len).ok_or(Status::WrongLength)?;
        if new.is_empty() || new.len() > MAX_PIN_LEN {
            return Err(Status::WrongLength);
        }
        let share = self.check_pin(pin, old)?;
        self.write_pin(pin, new, &share)?;
        if pin == PinRef::User {
            // DESIGN §5: the transport-PIN state ends with the first PIN change.
            let opts = self.device_options()?;
            if opts & options::TRANSPORT_PIN != 0 {
                self.write_file(fid::DEVICE_OPTIONS, &(opts & !options::TRANSPORT_PIN).to_be_bytes())?;
            }
        }
        self.open_session(pin, share);
        Ok(())
    }

    /// RESET RETRY COUNTER (00 2C P1 81), reference §3.8.
    pub(crate) fn reset_retry_counter(&mut self, cmd: &CommandView<'_>) -> Result<(), Status> {
        if cmd.p2 != 0x81 {
            return Err(Status::ReferenceNotFound);
        }
        let so = self.load_pin_record(PinRef::So)?.ok_or(Status::ReferenceNotFound)?;
        let opts = self.device_options()?;
        if opts & options::RESET_RETRY_COUNTER == 0 {
            return Err(Status::CommandNotAllowed);
        }
        let reset_only_allowed = opts & options::RESET_RETRY_ONLY != 0;
        let (max, _) = self.retries(PinRef::User)?;
        match cmd.p1 {
            0x00 => {
                let (so_pin, new) = cmd.data.split_at_checked(so.pin_len).ok_or(Status::WrongLength)?;
                if new.is_empty() || new.len() > MAX_PIN_LEN {
                    return Err(Status::WrongLength);
                }
                let share = self.check_pin(PinRef::So, so_pin)?;
                self.write_pin(PinRef::User, new, &share)?;
                self.set_retries(PinRef::User, max, max)
            }
            0x01 => {
                if !reset_only_allowed {
                    return Err(Status::CommandNotAllowed);
                }
                if cmd.data.len() != so.pin_len {
                    return Err(Status::WrongLength);
                }
                self.check_pin(PinRef::So, cmd.data)?;
                self.set_retries(PinRef::User, max, max)
            }
            0x02 => {
                if new_pin_len_invalid(cmd.data) {
                    return Err(Status::WrongLength);
                }
                let share = self.so_session_share()?;
                self.write_pin(PinRef::User, cmd.data, &share)?;
                self.set_retries(PinRef::User, max, max)
            }
            0x03 => {
                if !reset_only_allowed {
                    return Err(Status::CommandNotAllowed);
                }
                if !cmd.data.is_empty() {
                    return Err(Status::WrongLength);
                }
                self.so_session_share()?;
                self.set_retries(PinRef::User, max, max)
            }
            _ => Err(Status::IncorrectP1P2),
        }
    }

    fn so_session_share(&self) -> Result<Key32, Status> {
        match (&self.session.pin_share, self.session.so_verified) {
            (Some(share), true) => Ok(share.clone()),
            _ => Err(Status::ConditionsNotSatisfied),
        }
    }
}

fn new_pin_len_invalid(pin: &[u8]) -> bool {
    pin.is_empty() || pin.len() > MAX_PIN_LEN
}
