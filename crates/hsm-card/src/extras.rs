//! EXTRAS (80 64 P1 P2), reference §3.26: dynamic options (P1 06) and the secure lock (P1 3A);
//! press-to-confirm (option 0x0100) for every command that uses a private or secret key.
//!
//! # Secure lock
//! The MKEK is split in two shares, `MKEK = P ⊕ Z`: the PIN share `P` sealed in each PIN record
//! (`pin.rs`) and the device share `Z` in the secure-lock record `1010` (sealed under the device
//! key). The record is `00 ‖ Z` while the lock is off and `01 ‖ (Z ⊕ S) ‖ check(S)` while it is
//! on, `S` being the host's 32-byte secret and `check` a one-way function of it
//! ([`crate::secrets::DeviceKeys::lock_check`]). A PIN alone then gives `P`, never the MKEK;
//! the MKEK needs the PIN and `S`.
//!
//! Turning the lock on or off is one atomic write of that record, so a power cut leaves the old
//! lock state or the new one, nothing in between; the PIN records are not touched (they could not
//! be: their wrapping needs each PIN, and upstream enables the lock with the user PIN only).
//! Option 0x0400 is never stored in EF 100E; it is reported from the record.
//!
//! A device initialized before the record existed has none: its PIN records hold the MKEK itself
//! (`Z = 0`), and enabling the lock there would protect nothing, so it answers 6985 until the
//! device is re-initialized.

use hsm_apdu::{CommandView, Reply, Status};
use hsm_crypto::aead;
use hsm_crypto::asym::{Curve, EcPrivateKey};
use zeroize::Zeroizing;

use crate::files::{fid, options};
use crate::secrets::Key32;
use crate::{App, Platform};

const SUB_OPTIONS: u8 = 0x06;
const SUB_SECURE_LOCK: u8 = 0x3A;
const LOCK_AGREEMENT: u8 = 0x01;
const LOCK_ENABLE: u8 = 0x02;
const LOCK_UNLOCK: u8 = 0x03;
const LOCK_DISABLE: u8 = 0x04;
/// An uncompressed P-256 point.
const POINT_LEN: usize = 65;
/// The host secret, ChaCha20-Poly1305 sealed: 32 bytes and the tag.
const SEALED_SECRET_LEN: usize = 32 + aead::TAG_LEN;
const RECORD_OPEN: u8 = 0x00;
const RECORD_LOCKED: u8 = 0x01;

/// The key agreement of EXTRAS 3A 01, kept in the session for one 02/03/04.
pub(crate) struct Agreement {
    host: [u8; POINT_LEN],
    key: Key32,
    nonce: [u8; aead::NONCE_LEN],
}

/// What the secure-lock record says.
enum LockState {
    /// No record: a device initialized before it existed; its PIN share is the MKEK.
    Legacy,
    /// Lock off: the device share.
    Open(Key32),
    /// Lock on: the device share masked with the host secret, and the secret's check value.
    Locked { masked: Key32, check: Key32 },
}

fn key32(bytes: &[u8]) -> Option<Key32> {
    let mut k = Zeroizing::new([0u8; 32]);
    k.copy_from_slice(bytes.get(..32)?);
    Some(k)
}

fn xor(a: &[u8; 32], b: &[u8; 32]) -> Key32 {
    let mut out = Zeroizing::new([0u8; 32]);
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b.iter())) {
        *o = x ^ y;
    }
    out
}

impl<P: Platform> App<P> {
    fn lock_state(&mut self) -> Result<LockState, Status> {
        let Some(raw) = self.read_file(fid::SECURE_LOCK)? else {
            return Ok(LockState::Legacy);
        };
        let key = self.keys.device_sealing_key();
        let plain = self
            .keys
            .open(&key, fid::SECURE_LOCK, &raw)
            .ok_or(Status::ExecutionError)?;
        match plain.split_first() {
            Some((&RECORD_OPEN, z)) if z.len() == 32 => key32(z).map(LockState::Open),
            Some((&RECORD_LOCKED, rest)) if rest.len() == 64 => {
                let (masked, check) = rest.split_at(32);
                key32(masked)
                    .zip(key32(check))
                    .map(|(masked, check)| LockState::Locked { masked, check })
            }
            _ => None,
        }
        .ok_or(Status::ExecutionError)
    }

    fn write_lock_state(&mut self, tag: u8, parts: &[&[u8; 32]]) -> Result<(), Status> {
        let mut plain = Zeroizing::new(alloc::vec::Vec::with_capacity(1 + 32 * parts.len()));
        plain.push(tag);
        for p in parts {
            plain.extend_from_slice(&p[..]);
        }
        let key = self.keys.device_sealing_key();
        let nonce = self.random_array::<{ aead::NONCE_LEN }>()?;
        let sealed = self.keys.seal(&key, fid::SECURE_LOCK, &nonce, &plain);
        self.write_file(fid::SECURE_LOCK, &sealed)
    }

    /// Whether the secure lock is on (a damaged record counts as on).
    pub(crate) fn secure_locked(&mut self) -> Result<bool, Status> {
        match self.lock_state() {
            Ok(LockState::Locked { .. }) | Err(Status::ExecutionError) => Ok(true),
            Ok(_) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// INITIALIZE: writes a fresh device share (lock off) and returns the PIN share of `mkek`.
    pub(crate) fn new_device_share(&mut self, mkek: &[u8; 32]) -> Result<Key32, Status> {
        let z = Zeroizing::new(self.random_array::<32>()?);
        self.write_lock_state(RECORD_OPEN, &[&z])?;
        Ok(xor(mkek, &z))
    }

    /// The MKEK of the PIN share `share`; `None` while the lock is on and this session has not
    /// supplied the host secret.
    pub(crate) fn mkek_of_share(&mut self, share: &[u8; 32]) -> Result<Option<Key32>, Status> {
        Ok(match self.lock_state()? {
            LockState::Legacy => key32(share),
            LockState::Open(z) => Some(xor(share, &z)),
            LockState::Locked { masked, .. } => self.lock_secret.as_ref().map(|s| {
                let z = xor(&masked, s);
                xor(share, &z)
            }),
        })
    }

    /// Press-to-confirm (option 0x0100): the button must confirm, else 6600 and nothing is done.
    pub(crate) fn confirm_use(&mut self) -> Result<(), Status> {
        if self.device_options()? & options::BUTTON != 0 && !self.platform.confirm() {
            return Err(Status::SecurityIssue);
        }
        Ok(())
    }

    /// EXTRAS (80 64 P1 P2).
    pub(crate) fn extras(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        // Upstream's device builds: user authentication for every sub-command, then the button.
        if !self.session.user_authenticated {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        if !matches!(cmd.p1, SUB_OPTIONS | SUB_SECURE_LOCK) {
            return Err(Status::IncorrectP1P2);
        }
        self.confirm_use()?;
        match cmd.p1 {
            SUB_OPTIONS => self.dynamic_options(cmd, reply),
            _ => self.secure_lock(cmd, reply),
        }
    }

    /// 06: no data → the device options (2 bytes BE); one byte → their new high byte. The
    /// secure-lock bit (0x04 of that byte) is reported from the lock record and never set here.
    fn dynamic_options(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        if cmd.p2 != 0 {
            return Err(Status::IncorrectP1P2);
        }
        let stored = self.device_options()? & !options::SECURE_LOCK;
        match cmd.data {
            [] => {
                let lock = if self.secure_locked()? { options::SECURE_LOCK } else { 0 };
                reply.extend(&(stored | lock).to_be_bytes())?;
                Ok(())
            }
            &[hi] => {
                let hi = hi & !options::SECURE_LOCK.to_be_bytes()[0];
                let new = u16::from_be_bytes([hi, stored.to_be_bytes()[1]]);
                if new != stored {
                    self.write_file(fid::DEVICE_OPTIONS, &new.to_be_bytes())?;
                }
                Ok(())
            }
            _ => Err(Status::WrongLength),
        }
    }

    /// 3A: key agreement (01), then enable (02), unlock (03) or disable (04) with the host secret.
    fn secure_lock(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        if cmd.data.is_empty() {
            return Err(Status::WrongLength);
        }
        match cmd.p2 {
            LOCK_AGREEMENT => return self.lock_agreement(cmd.data, reply),
            LOCK_ENABLE | LOCK_UNLOCK | LOCK_DISABLE => {}
            _ => return Err(Status::IncorrectP1P2),
        }
        // One agreement serves one command, whatever its outcome (upstream's tool agrees anew
        // before each).
        let agreement = self.session.lock_agreement.take().ok_or(Status::CommandNotAllowed)?;
        if cmd.data.len() != SEALED_SECRET_LEN {
            return Err(Status::WrongLength);
        }
        let plain =
            aead::open(&agreement.key, &agreement.nonce, &agreement.host, cmd.data).ok_or(Status::IncorrectData)?;
        let secret = key32(&plain).ok_or(Status::IncorrectData)?;
        drop(plain);
        let state = self.lock_state()?;
        let matches = |check: &Key32, app: &Self| hsm_crypto::ct_eq(&app.keys.lock_check(&secret)[..], &check[..]);
        match (cmd.p2, state) {
            (LOCK_ENABLE, LockState::Legacy) => Err(Status::ConditionsNotSatisfied),
            (LOCK_ENABLE, LockState::Open(z)) => {
                let masked = xor(&z, &secret);
                let check = self.keys.lock_check(&secret);
                self.write_lock_state(RECORD_LOCKED, &[&masked, &check])?;
                // This session goes on with the MKEK it has.
                self.lock_secret = Some(secret);
                Ok(())
            }
            (LOCK_ENABLE | LOCK_UNLOCK, LockState::Locked { check, .. }) => {
                if !matches(&check, self) {
                    return Err(Status::SecurityStatusNotSatisfied);
                }
                self.lock_secret = Some(secret);
                if let Some(share) = self.session.pin_share.clone() {
                    self.session.mkek = self.mkek_of_share(&share)?;
                    self.seal_pending_dkeks();
                }
                Ok(())
            }
            (LOCK_DISABLE, LockState::Locked { masked, check }) => {
                if !matches(&check, self) {
                    return Err(Status::SecurityStatusNotSatisfied);
                }
                let z = xor(&masked, &secret);
                self.write_lock_state(RECORD_OPEN, &[&z])?;
                self.lock_secret = None;
                if let Some(share) = self.session.pin_share.clone() {
                    self.session.mkek = self.mkek_of_share(&share)?;
                }
                Ok(())
            }
            // Unlock or disable with the lock off: nothing to do, as upstream.
            _ => Ok(()),
        }
    }

    /// 3A 01: an ephemeral P-256 key; the session key from ECDH with the host's point.
    fn lock_agreement(&mut self, host: &[u8], reply: &mut Reply<'_>) -> Result<(), Status> {
        let host: [u8; POINT_LEN] = host.try_into().map_err(|_| Status::IncorrectData)?;
        if host[0] != 0x04 {
            return Err(Status::IncorrectData);
        }
        let (secret, public) = hsm_crypto::ec::p256_generate(self.drbg()?).map_err(|_| Status::ExecutionError)?;
        let ours = EcPrivateKey::from_bytes(Curve::Secp256r1, &secret[..]).map_err(|_| Status::ExecutionError)?;
        let shared = ours.ecdh(&host).map_err(|_| Status::IncorrectData)?;
        let x = shared.get(1..33).ok_or(Status::ExecutionError)?;
        let mut okm = Zeroizing::new([0u8; aead::NONCE_LEN + 32]);
        hsm_crypto::hash::hkdf_sha256(&[], x, &host, &mut okm[..]);
        let (nonce, key) = okm.split_at(aead::NONCE_LEN);
        let agreement = Agreement {
            host,
            key: key32(key).ok_or(Status::ExecutionError)?,
            nonce: nonce.try_into().map_err(|_| Status::ExecutionError)?,
        };
        reply.extend(&public)?;
        self.session.lock_agreement = Some(agreement);
        Ok(())
    }
}
