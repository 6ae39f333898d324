//! INITIALIZE DEVICE (80 50) and the device identity (reference §3.10, §8.1–8.2; DESIGN §5).
//!
//! Unlike upstream, a device that was initialized before is only re-initialized with its current
//! SO-PIN (the genuine SmartCard-HSM's initialization code). A wrong one answers 6982 and costs an SO
//! retry; nothing is changed.

use alloc::vec::Vec;

use hsm_apdu::{CommandView, Reply, Status, tlv};
use zeroize::Zeroizing;

use crate::files::fid;
use crate::pin::{MAX_PIN_LEN, PinRef, SO_RETRIES};
use crate::secrets::Key32;
use crate::{App, Platform, cvc};

/// Firmware version reported in the FCI and by INITIALIZE without data (upstream compatible 6.6).
pub const VERSION: (u8, u8) = (6, 6);
const DEFAULT_USER_RETRIES: u8 = 3;
const MAX_KEY_DOMAINS: u8 = 16;
const MAX_PUKS: u8 = 8;
/// Curve id of P-256 in key records (mbedTLS group id, reference §6.4).
const CURVE_SECP256R1: u8 = 3;

struct InitParams<'a> {
    options: Option<[u8; 2]>,
    user_pin: &'a [u8],
    so_pin: &'a [u8],
    retries: u8,
    dkek_shares: Option<u8>,
    puk: Option<(u8, u8)>,
    key_domains: Option<u8>,
}

impl<'a> InitParams<'a> {
    fn parse(data: &'a [u8]) -> Result<Self, Status> {
        let mut p = InitParams {
            options: None,
            user_pin: &[],
            so_pin: &[],
            retries: DEFAULT_USER_RETRIES,
            dkek_shares: None,
            puk: None,
            key_domains: None,
        };
        for item in tlv::Reader::new(data) {
            let item = item?;
            match (item.tag, item.value) {
                (0x80, &[hi, lo]) => p.options = Some([hi, lo]),
                (0x81, pin) => p.user_pin = pin,
                (0x82, so) => p.so_pin = so,
                (0x91, &[n]) if (1..=15).contains(&n) => p.retries = n,
                (0x92, &[n]) => p.dkek_shares = Some(n),
                (0x93, &[n, m]) if n <= MAX_PUKS && m <= n => p.puk = Some((n, m)),
                (0x97, &[n]) if n <= MAX_KEY_DOMAINS => p.key_domains = Some(n),
                // Biometric templates (95, 96) and unknown tags are ignored, as upstream.
                (0x80 | 0x91 | 0x92 | 0x93 | 0x97, _) => return Err(Status::WrongLength),
                _ => {}
            }
        }
        let bad = |pin: &[u8]| pin.is_empty() || pin.len() > MAX_PIN_LEN;
        if bad(p.user_pin) || bad(p.so_pin) {
            return Err(Status::WrongLength);
        }
        Ok(p)
    }
}

/// Which store a journal entry writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Main,
    Counters,
}

/// The writes of an INITIALIZE, collected before any is made. Stored as the journal file:
/// entries `store (00 main, 01 counters) ‖ FID (2) ‖ length (2) ‖ data`, all big-endian. The
/// data are what the files hold: sealed records, counters and public settings, never a secret in
/// the clear.
#[derive(Default)]
pub(crate) struct Staged {
    bytes: Zeroizing<Vec<u8>>,
}

impl Staged {
    pub fn push(&mut self, target: Target, f: u16, data: &[u8]) -> Result<(), Status> {
        let len = u16::try_from(data.len()).map_err(|_| Status::WrongLength)?;
        self.bytes.push(match target {
            Target::Main => 0,
            Target::Counters => 1,
        });
        self.bytes.extend_from_slice(&f.to_be_bytes());
        self.bytes.extend_from_slice(&len.to_be_bytes());
        self.bytes.extend_from_slice(data);
        Ok(())
    }

    /// The journal file's content.
    fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The entries of a journal; `None` if it is not one.
    fn decode(mut raw: &[u8]) -> Option<Vec<(Target, u16, &[u8])>> {
        let mut entries = Vec::new();
        while let Some((head, rest)) = raw.split_first_chunk::<5>() {
            let [t, f0, f1, l0, l1] = *head;
            let target = match t {
                0 => Target::Main,
                1 => Target::Counters,
                _ => return None,
            };
            let f = u16::from_be_bytes([f0, f1]);
            let len = usize::from(u16::from_be_bytes([l0, l1]));
            if rest.len() < len {
                return None;
            }
            let (data, next) = rest.split_at(len);
            entries.push((target, f, data));
            raw = next;
        }
        raw.is_empty().then_some(entries)
    }
}

/// Files that survive re-initialization: the device identity and the PHY configuration.
fn persistent(f: u16) -> bool {
    matches!(
        f,
        fid::DEVICE_KEY | fid::DEVICE_PRKD | fid::DEVICE_REQUEST | fid::C_DEVAUT | crate::rescue::PHY_FID
    )
}

impl<P: Platform> App<P> {
    /// INITIALIZE DEVICE (80 50 00 00).
    pub(crate) fn initialize(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        if cmd.data.is_empty() {
            // Free memory (4 bytes BE), 00, version: pypicohsm reads the version from bytes 5 and 6.
            let free = u32::try_from(self.platform.store().free_space()).unwrap_or(u32::MAX);
            reply.extend(&free.to_be_bytes())?;
            reply.extend(&[0x00, VERSION.0, VERSION.1])?;
            return Ok(());
        }
        let params = InitParams::parse(cmd.data)?;
        // As upstream: a secure-locked device is re-initialized only in a session that supplied
        // the host secret (EXTRAS 3A 03); checked before the SO-PIN costs a retry.
        if self.secure_locked()? && self.lock_secret.is_none() {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        if self.pin_is_set(PinRef::So)? {
            match self.check_pin(PinRef::So, params.so_pin) {
                Ok(_) => {}
                Err(Status::RemainingRetries(_)) => return Err(Status::SecurityStatusNotSatisfied),
                // The last SO-PIN retry was just used up (or earlier): 6983.
                Err(e) => return Err(e),
            }
        }
        self.session.clear();
        self.lock_secret = None;
        // The device identity survives re-initialization; made first if there is none yet.
        self.ensure_device_identity()?;

        // The new device is built as a journal of writes, stored in one atomic write, then
        // applied (wipe, writes, journal deleted). A power cut before the journal lands leaves
        // the old device; after, the next power-on applies it again (`Card::new`): the new one.
        self.staging = Some(Staged::default());
        let built = self.build_device(&params);
        let staged = self.staging.take().unwrap_or_default();
        let (mkek, share) = built?;
        let journal = staged.as_bytes();
        match self.write_file(fid::INIT_JOURNAL, journal) {
            Ok(()) => {}
            // A store too full for the journal beside the old device: the wipe goes first, as
            // before the journal (a cut between leaves an uninitialized device).
            Err(Status::NotEnoughMemory) => {
                self.platform.store().retain(persistent).map_err(crate::store_status)?;
                self.write_file(fid::INIT_JOURNAL, journal)?;
            }
            Err(e) => return Err(e),
        }
        self.apply_init_journal()?;

        self.session.user_verified = true;
        self.session.user_authenticated = true;
        self.session.mkek = Some(mkek);
        self.session.pin_share = Some(share);
        Ok(())
    }

    /// The files of a new device from `params` (written to the staging journal): the device
    /// share, options, DKEK and domain table, PUK configuration, retry counters and PIN records,
    /// the SO-PIN record last. Returns the MKEK and the PIN share.
    fn build_device(&mut self, params: &InitParams<'_>) -> Result<(Key32, Key32), Status> {
        let mkek = Zeroizing::new(self.random_array::<32>()?);
        // The MKEK = PIN share ⊕ device share.
        let share = self.new_device_share(&mkek)?;
        if let Some([hi, lo]) = params.options {
            // The secure lock is never an option to store: only EXTRAS 3A sets it (`extras.rs`).
            let hi = hi & !crate::files::options::SECURE_LOCK.to_be_bytes()[0];
            self.write_file(fid::DEVICE_OPTIONS, &[hi, lo])?;
        }
        let mut domains: Vec<u8> = match params.dkek_shares {
            // No shares: a random DKEK of the device's own (keys can be wrapped, never moved).
            Some(0) => {
                let dkek = Zeroizing::new(self.random_array::<32>()?);
                self.write_dkek(0, 1, true, &dkek, Some(&mkek))?;
                alloc::vec![1, 0]
            }
            Some(n) => alloc::vec![n, 0],
            None => alloc::vec![0, 0],
        };
        if let Some(n) = params.key_domains {
            domains = alloc::vec![0xFF; usize::from(n) * 2];
        }
        self.write_file(fid::KEY_DOMAINS, &domains)?;
        if let Some((n, m)) = params.puk {
            self.write_file(fid::PUK_AUTH, &[n, n, m, 0])?;
        }
        self.set_retries(PinRef::User, params.retries, params.retries)?;
        self.set_retries(PinRef::So, SO_RETRIES, SO_RETRIES)?;
        self.write_pin(PinRef::User, params.user_pin, &share)?;
        self.write_pin(PinRef::So, params.so_pin, &share)?;
        Ok((mkek, share))
    }

    /// Applies the journal of an INITIALIZE, if one is stored: one atomic wipe of everything but
    /// the device identity and the journal (key use counters go too), the journal's writes, then
    /// the journal's delete. Applying it again after a cut at any point gives the same device.
    pub(crate) fn apply_init_journal(&mut self) -> Result<(), Status> {
        let Some(raw) = self.read_file(fid::INIT_JOURNAL)? else {
            return Ok(());
        };
        // Every entry is checked before anything is wiped.
        let entries = Staged::decode(&raw).ok_or(Status::MemoryFailure)?;
        self.platform
            .store()
            .retain(|f| persistent(f) || f == fid::INIT_JOURNAL)
            .map_err(crate::store_status)?;
        self.platform
            .counters()
            .retain(|f| f.to_be_bytes()[0] != crate::files::prefix::KEY)
            .map_err(crate::store_status)?;
        for (target, f, data) in entries {
            match target {
                Target::Main => self.write_file(f, data)?,
                Target::Counters => self.write_counter(f, data)?,
            }
        }
        self.platform
            .store()
            .delete(fid::INIT_JOURNAL)
            .map_err(crate::store_status)?;
        Ok(())
    }

    /// Seals `plain` for file `f` under the MKEK and stores it.
    pub(crate) fn write_sealed_mkek(&mut self, f: u16, mkek: &[u8; 32], plain: &[u8]) -> Result<(), Status> {
        let key = self.keys.mkek_sealing_key(mkek);
        let nonce = self.random_array::<12>()?;
        let sealed = self.keys.seal(&key, f, &nonce, plain);
        self.write_file(f, &sealed)
    }

    /// The device private key (slot 0), if present and intact.
    pub(crate) fn device_key(&mut self) -> Result<Option<Zeroizing<[u8; 32]>>, Status> {
        let Some(sealed) = self.read_file(fid::DEVICE_KEY)? else {
            return Ok(None);
        };
        let key = self.keys.device_sealing_key();
        let Some(plain) = self.keys.open(&key, fid::DEVICE_KEY, &sealed) else {
            return Ok(None);
        };
        match plain.split_first() {
            Some((&CURVE_SECP256R1, scalar)) if scalar.len() == 32 => {
                let mut s = Zeroizing::new([0u8; 32]);
                s.copy_from_slice(scalar);
                Ok(Some(s))
            }
            _ => Ok(None),
        }
    }

    /// Creates the device key, C_DevAut and the device's request (CE00) unless they exist already.
    ///
    /// C_DevAut gets the out-of-the-box chain `device certificate ‖ device issuer certificate`
    /// (`identity.rs`). A C_DevAut that is one self-signed certificate (what earlier versions
    /// wrote) is upgraded to that chain; any other content (a chain uploaded by the rescue applet)
    /// is kept. Each file is one atomic write, and a power cut between them leaves files this
    /// function completes on its next run.
    ///
    /// Unlike upstream no PRKD (C400) is written for the device key: OpenSC would then offer it as a
    /// PKCS#11 private key, and this card never lets user commands use slot 0 (DESIGN §5). Without a
    /// PRKD OpenSC's emulator skips the key, while CC00 stays in LIST KEYS where upstream puts it.
    pub(crate) fn ensure_device_identity(&mut self) -> Result<(), Status> {
        let existing = self.device_key()?;
        let fresh_key = existing.is_none();
        let have_request = self.platform.store().contains(fid::DEVICE_REQUEST);
        let keep_chain = match self.read_file(fid::C_DEVAUT)? {
            Some(chain) => !crate::identity::is_legacy_self_signed(&chain),
            None => false,
        };
        let secret = match existing {
            Some(_) if have_request && keep_chain => return Ok(()),
            Some(s) => s,
            None => {
                let (secret, _) = hsm_crypto::ec::p256_generate(self.drbg()?).map_err(|_| Status::ExecutionError)?;
                let mut plain = Zeroizing::new(Vec::with_capacity(33));
                plain.push(CURVE_SECP256R1);
                plain.extend_from_slice(&secret[..]);
                let key = self.keys.device_sealing_key();
                let nonce = self.random_array::<12>()?;
                let sealed = self.keys.seal(&key, fid::DEVICE_KEY, &nonce, &plain);
                self.write_file(fid::DEVICE_KEY, &sealed)?;
                secret
            }
        };
        let public = hsm_crypto::ec::p256_public(&secret).ok_or(Status::ExecutionError)?;
        let name = device_name(&public);
        if fresh_key || !have_request {
            let sign = |msg: &[u8]| hsm_crypto::ec::p256_sign_sha256(&secret, msg).ok_or(Status::ExecutionError);
            let req_body = cvc::body(&name, &cvc::p256_public_key(&public), &name, false);
            let inner = cvc::certificate(&req_body, &sign(&req_body)?);
            let tbs = cvc::authenticated_tbs(&inner, &name);
            let request = cvc::authenticated_request(&tbs, &sign(&tbs)?);
            self.write_file(fid::DEVICE_REQUEST, &request)?;
        }
        if fresh_key || !keep_chain {
            let chain = self.default_chain(&public, &name)?;
            self.write_file(fid::C_DEVAUT, &chain)?;
        }
        Ok(())
    }
}

/// The device name (CHR of C_DevAut): `ES` + 9 base-32 characters of the public key hash + `00001`.
///
/// OpenSC uses the CHR without its last 5 characters as the PKCS#11 token serial, so the unique part
/// must come first (upstream makes every device `ESPICOHSMTR`, reference §8.2).
pub fn device_name(public: &[u8; 65]) -> [u8; 16] {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let h = hsm_crypto::hash::sha256(&[b"pico-hsm device name", public]);
    let mut acc = u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
    let mut name = *b"ES?????????00001";
    for slot in name.iter_mut().skip(2).take(9) {
        *slot = ALPHABET.get((acc >> 59) as usize).copied().unwrap_or(b'A');
        acc <<= 5;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_differ_and_are_well_formed() {
        let a = device_name(&[4; 65]);
        let b = device_name(&[5; 65]);
        assert_ne!(a[..11], b[..11]);
        assert!(a.iter().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(&a[11..], b"00001");
    }
}
