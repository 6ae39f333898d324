//! The SmartCard-HSM card application of Pico HSM.
//!
//! One card core for the firmware and the virtual card: [`Card`] takes raw command APDUs from a
//! transport and answers with response data and a status word. Everything the card needs from the
//! device it gets through [`Platform`].
//!
//! A command travels: [`hsm_apdu::ApduLayer`] (lengths, chaining, GET RESPONSE) → the class and
//! selection gate in [`App::process`] → one handler per command family (`fs`, `pin`, `init`, `keygen`, `ops`, `hd`),
//! or the rescue applet (`rescue`) when its AID is selected.
//!
//! # RSA and the RP2040
//! RSA keys need the `rsa` feature (default) and a target with atomic pointers: RustCrypto `rsa`
//! 0.10 does not build for thumbv6m (RP2040). Without it the card still builds; RSA key generation
//! and every RSA operation answer 6A81 (function not supported), and RSA key records cannot be loaded.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod cvc;
mod dkek;
mod extras;
pub mod files;
mod fs;
mod hd;
mod identity;
mod init;
mod keycache;
mod keygen;
mod keys;
mod mse;
mod ops;
mod pin;
mod pka;
mod platform;
mod pso;
mod rescue;
mod secrets;
mod sm;
mod symkey;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod wrap;

use alloc::vec::Vec;

use hsm_apdu::{ApduLayer, Application, CommandView, Reply, Status};
use hsm_crypto::drbg::{Drbg, ENTROPY_LEN};
use zeroize::Zeroizing;

pub use init::{VERSION, device_name};
pub use keycache::Budget as KeyCacheBudget;
pub use platform::{EntropyFailure, Mcu, PLATFORM_ROOT_FID, Platform, Reboot, RebootUnsupported};
pub use rescue::{AID as RESCUE_AID, civil_from_days, days_from_civil};
use secrets::{DeviceKeys, Key32};

/// The genuine SmartCard-HSM ATR (reference §1), so OpenSC's `sc-hsm` driver binds unchanged.
pub const ATR: [u8; 24] = [
    0x3B, 0xFE, 0x18, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x31, 0x81, 0x54, 0x48, 0x53, 0x4D, 0x31, 0x73, 0x80,
    0x21, 0x40, 0x81, 0x07, 0xFA,
];

/// Size a transport's response buffer must have: the longest response data plus the status word.
pub const RESPONSE_BUFFER_SIZE: usize = hsm_apdu::MAX_RESPONSE_DATA + 2;

/// Volatile security state, cleared by power-off, reset and (re)selection of the application.
#[derive(Default)]
pub(crate) struct Session {
    pub app_selected: bool,
    /// The rescue applet is selected instead (`rescue.rs`).
    pub rescue_selected: bool,
    /// The current elementary file, for commands that address "the current EF".
    pub current_ef: Option<u16>,
    pub user_verified: bool,
    pub so_verified: bool,
    /// Upstream `isUserAuthenticated`: gates key use and writes.
    pub user_authenticated: bool,
    /// The MKEK, unlocked by a PIN or SO-PIN in this session (and, with the secure lock on, the
    /// host secret: `extras.rs`).
    pub mkek: Option<Key32>,
    /// What the verified PIN record holds: the MKEK's PIN share (`pin.rs`, `extras.rs`).
    pub pin_share: Option<Key32>,
    /// The secure-lock key agreement of this session (EXTRAS 3A 01).
    pub lock_agreement: Option<extras::Agreement>,
    /// The HD node kept by INS 4A P1 10 for the next HD operation (`hd.rs`).
    pub hd: Option<hd::Node>,
    /// Parsed private keys of this session (`keycache.rs`).
    pub key_cache: keycache::KeyCache,
    /// MSE SET AT chose id-CA-ECDH-AES-CBC-CMAC-128 (`mse.rs`): the protocol of the next GENERAL
    /// AUTHENTICATE (secure messaging, `sm.rs`).
    pub sm_ca_selected: bool,
    /// The secure-messaging session, if one is running (`sm.rs`).
    pub sm: Option<sm::Channel>,
    /// The issuer MSE SET DST selected for PSO VERIFY CERTIFICATE: its CHR (`pso.rs`).
    pub pso_issuer: Option<Vec<u8>>,
    /// Public key authentication: selected PUK, statuses, challenge (`pka.rs`).
    pub pka: pka::PkaSession,
}

impl Session {
    /// Forgets every authentication (and zeroizes the MKEK), keeping the selection.
    pub fn clear(&mut self) {
        self.user_verified = false;
        self.so_verified = false;
        self.user_authenticated = false;
        self.mkek = None;
        self.pin_share = None;
        self.lock_agreement = None;
        self.hd = None;
        self.key_cache.clear();
        self.pka = pka::PkaSession::default();
    }
}

/// The card application behind the APDU layer.
pub(crate) struct App<P: Platform> {
    pub platform: P,
    pub session: Session,
    pub drbg: Drbg,
    pub keys: DeviceKeys,
    pub serial: [u8; 8],
    /// What the key cache may hold.
    pub key_cache_budget: keycache::Budget,
    /// The rescue applet's clock: kept across card resets, lost when the device restarts.
    pub rtc: Option<rescue::Rtc>,
    /// The secure-lock host secret, checked, supplied by EXTRAS 3A 02/03 (`extras.rs`). Kept, as
    /// upstream's `mkek_mask`, until the device restarts (or INITIALIZE, or 3A 04): SELECT, logout
    /// and card resets keep it, so OpenSC programs can use the keys after `pico-hsm-tool
    /// secure-lock unlock`.
    pub lock_secret: Option<Key32>,
    /// While INITIALIZE builds the new device: the writes it collects for its journal
    /// (`init.rs`) instead of making them.
    pub staging: Option<init::Staged>,
}

/// A SmartCard-HSM card: feed it command APDUs, get response APDUs.
pub struct Card<P: Platform> {
    layer: ApduLayer,
    app: App<P>,
}

impl<P: Platform> core::fmt::Debug for Card<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Card")
            .field("app_selected", &self.app.session.app_selected)
            .finish_non_exhaustive()
    }
}

impl<P: Platform> Card<P> {
    /// A card over `platform`, powered on and reset.
    pub fn new(mut platform: P) -> Self {
        let serial = platform.serial();
        let root = platform.device_secret();
        let keys = DeviceKeys::derive(&root, &serial);
        let mut card = Card {
            layer: ApduLayer::new(),
            app: App {
                platform,
                session: Session::default(),
                drbg: Drbg::new(),
                keys,
                serial,
                key_cache_budget: keycache::Budget::default(),
                rtc: None,
                lock_secret: None,
                staging: None,
            },
        };
        // What a power cut interrupted: an INITIALIZE whose journal landed, a KEY DOMAIN delete.
        // A failure here is a damaged store, which the mount report and the commands answer for.
        let _ = card.app.apply_init_journal();
        let _ = card.app.finish_domain_deletes();
        card
    }

    /// Power on, power off or reset: clears the PIN state, the selection and any pending response.
    pub fn reset(&mut self) {
        self.layer.reset();
        self.app.session = Session::default();
        // Fresh entropy before the next random byte (issue 10: reseed on reset).
        self.app.drbg.request_reseed();
    }

    /// A device restart in place (the rescue applet's reboot on a platform that cannot restart the
    /// process or chip): as [`Card::new`] on the same platform, the session, the APDU layer, the
    /// rescue applet's clock and the DRBG start over.
    pub fn restart(&mut self) {
        self.reset();
        self.app.rtc = None;
        self.app.lock_secret = None;
        self.app.drbg = Drbg::new();
    }

    /// Processes one command APDU; writes response data and SW1 SW2 into `out` and returns their length.
    ///
    /// `out` should be [`RESPONSE_BUFFER_SIZE`] bytes; a shorter buffer caps the response length.
    pub fn transmit(&mut self, apdu: &[u8], out: &mut [u8]) -> usize {
        self.layer.process(&mut self.app, apdu, out)
    }

    /// Sets what the cache of parsed private keys may hold (default: 8 entries, 32 KiB estimated;
    /// 0 entries turns it off). Setting it empties the cache.
    pub fn set_key_cache_budget(&mut self, budget: KeyCacheBudget) {
        self.app.key_cache_budget = budget;
        self.app.session.key_cache.clear();
    }

    /// Test probe: entries in the key cache and their estimated bytes.
    #[cfg(any(test, feature = "testing"))]
    pub fn key_cache_usage(&self) -> (usize, usize) {
        (self.app.session.key_cache.len(), self.app.session.key_cache.bytes())
    }

    /// Test probe: the session's authentication and security-environment state, to check that a
    /// refused command changed none of it.
    #[cfg(any(test, feature = "testing"))]
    pub fn security_state(&self) -> SecurityState {
        let s = &self.app.session;
        SecurityState {
            user_verified: s.user_verified,
            so_verified: s.so_verified,
            user_authenticated: s.user_authenticated,
            sm_ca_selected: s.sm_ca_selected,
            pso_issuer: s.pso_issuer.clone(),
            puk_selected: s.pka.selected,
            puk_statuses: s.pka.statuses,
            challenge: s.pka.challenge.clone(),
        }
    }

    /// The platform, for the transport (flushing flash, for example).
    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.app.platform
    }

    /// Test fixture: stores `key` (1..=256 bytes) as secret key `id` exactly as GENERATE
    /// SYMMETRIC KEY stores a generated one, with metadata TLVs `90`–`93` from `meta`, so
    /// known-answer tests can run through the card's commands. Needs a verified PIN in the
    /// current session (the key is sealed under the MKEK).
    #[cfg(any(test, feature = "testing"))]
    pub fn install_secret_key(&mut self, id: u8, key: &[u8], meta: &[u8]) -> Result<(), Status> {
        let app = &mut self.app;
        if !app.session.user_authenticated || id == 0 {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        let mut m = keys::Metadata::default();
        for item in hsm_apdu::tlv::Reader::new(meta) {
            let item = item?;
            if !m.take(item.tag, item.value)? {
                return Err(Status::WrongLength);
            }
        }
        app.install_secret_key(id, &m, Zeroizing::new(key.to_vec()))
    }

    /// Gives the platform back.
    pub fn into_platform(self) -> P {
        self.app.platform
    }
}

/// What [`Card::security_state`] reports (tests only).
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityState {
    pub user_verified: bool,
    pub so_verified: bool,
    /// What key use and writes require (PIN, or PKA when enabled).
    pub user_authenticated: bool,
    /// MSE SET AT with the secure-messaging OID.
    pub sm_ca_selected: bool,
    /// The CHR MSE SET DST selected for PSO.
    pub pso_issuer: Option<Vec<u8>>,
    /// The PUK slot MSE SET AT selected.
    pub puk_selected: Option<u8>,
    /// Bit i: PUK i authenticated in this session.
    pub puk_statuses: u8,
    /// The pending PKA challenge.
    pub challenge: Option<Vec<u8>>,
}

/// Maps a store error to the status word the card answers.
pub(crate) fn store_status(e: hsm_store::Error) -> Status {
    match e {
        hsm_store::Error::NotFound => Status::FileNotFound,
        hsm_store::Error::Full | hsm_store::Error::TooLarge => Status::NotEnoughMemory,
        _ => Status::MemoryFailure,
    }
}

impl<P: Platform> App<P> {
    /// Reads a whole file of the main store, `None` if it does not exist.
    pub(crate) fn read_file(&mut self, fid: u16) -> Result<Option<Zeroizing<Vec<u8>>>, Status> {
        match self.platform.store().read_all(fid) {
            Ok(v) => Ok(Some(Zeroizing::new(v))),
            Err(hsm_store::Error::NotFound) => Ok(None),
            Err(e) => Err(store_status(e)),
        }
    }

    /// Atomically replaces a file of the main store (or, while INITIALIZE builds its journal,
    /// records the write in it).
    pub(crate) fn write_file(&mut self, fid: u16, data: &[u8]) -> Result<(), Status> {
        if let Some(staged) = &mut self.staging {
            return staged.push(init::Target::Main, fid, data);
        }
        self.platform.store().write(fid, data).map_err(store_status)
    }

    /// Atomically replaces a file of the counters store (or records it, as [`App::write_file`]).
    pub(crate) fn write_counter(&mut self, fid: u16, data: &[u8]) -> Result<(), Status> {
        if let Some(staged) = &mut self.staging {
            return staged.push(init::Target::Counters, fid, data);
        }
        self.platform.counters().write(fid, data).map_err(store_status)
    }

    /// Fills `out` from the DRBG.
    pub(crate) fn random(&mut self, out: &mut [u8]) -> Result<(), Status> {
        self.drbg()?.fill(out).map_err(|_| Status::ExecutionError)
    }

    /// The DRBG, reseeded from the platform's entropy when due.
    pub(crate) fn drbg(&mut self) -> Result<&mut Drbg, Status> {
        if self.drbg.needs_reseed() {
            // Two attempts: one failed health test may be a fluke, two are a broken source.
            let mut seeded = false;
            for _ in 0..2 {
                let mut entropy = Zeroizing::new([0u8; ENTROPY_LEN]);
                if self.platform.entropy(&mut entropy[..]).is_ok() && self.drbg.reseed(&entropy).is_ok() {
                    seeded = true;
                    break;
                }
            }
            if !seeded {
                log::error!("entropy source failed its health test");
                return Err(Status::ExecutionError);
            }
        }
        Ok(&mut self.drbg)
    }

    /// `N` random bytes.
    pub(crate) fn random_array<const N: usize>(&mut self) -> Result<[u8; N], Status> {
        let mut a = [0u8; N];
        self.random(&mut a)?;
        Ok(a)
    }

    fn select_application(&mut self) {
        self.session = Session {
            app_selected: true,
            ..Session::default()
        };
    }

    /// GET CHALLENGE (00 84 00 00 Le): Le random bytes.
    fn get_challenge(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        if cmd.ne == 0 {
            return Err(Status::WrongLength);
        }
        let n = cmd.ne.min(reply.remaining());
        let buf = reply.reserve(n)?;
        self.random(buf)?;
        // The challenge PKA's EXTERNAL AUTHENTICATE answers (`pka.rs`); as upstream, only what the
        // host asked for (Le), whatever the buffer held.
        let challenge = reply
            .as_slice()
            .get(reply.len().saturating_sub(n)..)
            .unwrap_or_default()
            .to_vec();
        self.pka_new_challenge(&challenge)
    }
}

impl<P: Platform> Application for App<P> {
    fn process(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        // ISO (00) and proprietary (80) classes, plain or with secure messaging (bits 0C, `sm.rs`).
        let cla = cmd.cla & !0x10;
        match cla {
            0x00 | 0x80 => {
                // TR-03110 part 3: a plain command ends secure messaging.
                self.session.sm = None;
                self.dispatch(cmd, reply)
            }
            0x0C | 0x8C => self.process_protected(cmd, reply),
            _ => Err(Status::ClassNotSupported),
        }
    }
}

impl<P: Platform> App<P> {
    /// Runs one plain (or unwrapped) command.
    fn dispatch(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        if cmd.ins == 0xA4 && cmd.p1 == 0x04 {
            if cmd.data == files::AID {
                self.select_application();
                return self.select_application_fci(cmd, reply);
            }
            if cmd.data == rescue::AID {
                return self.select_rescue(cmd, reply);
            }
            // OpenSC probes other drivers' AIDs first; answering 9000 would make it take us for them.
            return Err(Status::FileNotFound);
        }
        if self.session.rescue_selected {
            return self.rescue(cmd, reply);
        }
        if !self.session.app_selected {
            return Err(Status::InstructionNotSupported);
        }
        self.hd_forget_on(cmd.ins);
        // The key cache survives only the commands that use or read keys and files; anything else
        // (VERIFY, PIN changes, INITIALIZE, key generation, import, deletion, writes, domains,
        // HD seeds) may change what a slot holds or who may use it (`keycache.rs`).
        if !matches!(cmd.ins, 0x68 | 0x62 | 0x78 | 0x72 | 0xA4 | 0xB0 | 0xB1 | 0x58 | 0x84) {
            self.session.key_cache.clear();
        }
        match cmd.ins {
            0xA4 => self.select(cmd, reply),
            0xB0 | 0xB1 => self.read_binary(cmd, reply),
            0xD7 => self.update_binary(cmd),
            0xE4 => self.delete_file(cmd),
            0x58 => self.list_keys(reply),
            0x20 => self.verify(cmd),
            0x24 => self.change_reference_data(cmd),
            0x2C => self.reset_retry_counter(cmd),
            0x84 => self.get_challenge(cmd, reply),
            0x50 => self.initialize(cmd, reply),
            0x46 => self.generate_key_pair(cmd, reply),
            0x68 => self.compute_signature(cmd, reply),
            0x62 => self.decipher(cmd, reply),
            0x76 => self.derive_ec_key(cmd),
            0x48 => self.generate_symmetric_key(cmd),
            0x52 => self.key_domain(cmd, reply),
            0x72 => self.wrap_key(cmd, reply),
            0x74 => self.unwrap_key(cmd),
            0x78 => self.cipher_symmetric(cmd, reply),
            0x4A => self.bip_slip(cmd, reply),
            0x64 => self.extras(cmd, reply),
            0x22 => self.manage_security_environment(cmd),
            0x2A => self.pso(cmd),
            0x54 => self.puk_auth(cmd, reply),
            0x82 => self.external_authenticate(cmd),
            0x86 => self.general_authenticate(cmd, reply),
            _ => Err(Status::InstructionNotSupported),
        }
    }
}
