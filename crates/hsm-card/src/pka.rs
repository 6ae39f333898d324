//! Public key authentication (PKA): PUK AUTH (80 54), EXTERNAL AUTHENTICATE (00 82) and the
//! challenge of GET CHALLENGE (reference §3.9, §3.23, §3.24, §8.4; upstream `cmd_puk_auth.c`,
//! `cmd_external_authenticate.c`).
//!
//! INITIALIZE tag 93 (`n`, `m`) writes EF 10C0 `n ‖ remaining ‖ m ‖ 00` (`init.rs`). PKA is
//! *enabled* when that file exists with `n > 0` (upstream `pka_enabled`). Registered public keys
//! (PUKs) are authenticated requests stored in `10D0+i` (i < n) as the content of their `67`
//! object, `7F21 inner ‖ 42 outer CAR ‖ 5F37 outer signature`; those files are internal.
//!
//! Login: GET CHALLENGE (remembered when Le ≤ 256), MSE SET AT `83 CHR` selects a PUK, EXTERNAL
//! AUTHENTICATE carries the PUK owner's signature over SHA-256(device CHR ‖ challenge) (ECDSA raw
//! `r ‖ s`, or RSA with the key OID's padding). When `m` PUKs have authenticated in this session
//! the user is authenticated and the challenge is used up. With `m ≥ 2` every PUK must sign the
//! same challenge: a new GET CHALLENGE resets every PUK's status.
//!
//! What PKA gates (upstream `check_pin` and `isUserAuthenticated`; DESIGN §5): with PKA enabled a
//! correct user PIN opens the PIN session (the MKEK, so keys can be decrypted) but no longer
//! authenticates the user, and a wrong one does not end a PKA login; "user authenticated" — what
//! key use, key generation and import, writes, deletes and protected reads require — comes from
//! PKA alone. Using a key therefore takes both: `m` PUKs and the PIN.
//!
//! Registering a PUK into a free slot (P1=00) takes a PIN or SO-PIN session (upstream), or else a
//! request whose outer signature verifies with a device certificate of the trust store: OpenSC's
//! `sc-hsm-tool --register-public-key` never logs in; it sends MSE SET DST + PSO VERIFY for the
//! exporting device's issuer and certificate, MSE SET DST with the request's outer CAR, then
//! `80 54 00 00` with the `67` content, as pypicohsm does. Replacing (P1=01) always takes a session.
//!
//! Deliberate difference from upstream (docs/card.md): a registration's signatures are verified.
//! The inner self-signature (proof of possession of the key) always; the outer signature (the
//! device that generated the key) whenever the signing device's certificate is known, either
//! carried in the registration data (the file `sc-hsm-tool --export-for-pub-key-auth` writes:
//! `30 { 67 request, 7F21 device certificate, 7F21 device issuer }`) or in the trust store (where
//! pypicohsm puts it with PSO VERIFY before registering); and the carried device certificate's
//! chain as far as its issuers are known. A forged request answers 6985, a malformed one 6984, and
//! nothing is stored.
//!
//! A registration writes the PUK file, then EF 10C0's "remaining" byte. The count of remaining
//! slots reported is always recomputed from the PUK files, so a power cut between the two writes
//! leaves a registration that counts correctly (the stale byte is rewritten by the next one).

use alloc::vec::Vec;

use hsm_apdu::{CommandView, Reply, Status, tlv};
use hsm_crypto::sym::Md;

use crate::cvc::{self, AuthenticatedRequest, Certificate, CvcError};
use crate::files::fid;
use crate::{App, Platform};

/// Most PUKs a device registers (upstream `MAX_PUK`).
pub const MAX_PUKS: usize = 8;
/// `10D0+i`: registered PUK i.
pub const PUK_FILE: u16 = 0x10D0;
/// Device option 0x0008: registered PUKs may be replaced (PUK AUTH P1=01).
const OPTION_REPLACE_PKA: u16 = 0x0008;
/// Longest challenge kept for PKA (upstream's 256-byte buffer).
const MAX_CHALLENGE: usize = 256;

/// PKA state of one session, cleared with it.
#[derive(Default)]
pub(crate) struct PkaSession {
    /// The PUK slot MSE SET AT selected.
    pub selected: Option<u8>,
    /// Which PUKs authenticated in this session (bit i: slot i).
    pub statuses: u8,
    /// The pending challenge of GET CHALLENGE.
    pub challenge: Option<Vec<u8>>,
}

impl PkaSession {
    pub fn authenticated(&self, slot: u8) -> bool {
        slot < 8 && self.statuses & (1 << slot) != 0
    }

    fn count(&self) -> u8 {
        self.statuses.count_ones() as u8
    }
}

/// EF 10C0: `n`, `m`.
#[derive(Clone, Copy)]
struct PukConfig {
    n: u8,
    m: u8,
}

impl<P: Platform> App<P> {
    fn puk_config(&mut self) -> Result<Option<PukConfig>, Status> {
        Ok(match self.read_file(fid::PUK_AUTH)?.as_deref().map(Vec::as_slice) {
            Some([n, _, m, ..]) => Some(PukConfig {
                n: (*n).min(MAX_PUKS as u8),
                m: *m,
            }),
            _ => None,
        })
    }

    /// Whether PKA is enabled (EF 10C0 with `n > 0`); then a PIN alone does not authenticate the
    /// user. A damaged store that cannot tell whether 10C0 exists counts as PKA off, as a device
    /// without tag 93: 10C0 is a plain file, so failing closed would protect nothing against
    /// someone who can write the flash, and would lock a damaged device's keys (the damage is in
    /// the store's mount report).
    pub(crate) fn pka_enabled(&mut self) -> bool {
        match self.puk_config() {
            Ok(c) => c.is_some_and(|c| c.n > 0),
            Err(_) => {
                log::error!("EF 10C0 unreadable: PKA taken as off");
                false
            }
        }
    }

    /// The stored request of PUK `slot`, if registered.
    fn puk(&mut self, slot: u8) -> Result<Option<Vec<u8>>, Status> {
        Ok(self
            .read_file(PUK_FILE + u16::from(slot))?
            .filter(|d| !d.is_empty())
            .map(|d| d.to_vec()))
    }

    /// Registered PUKs among the first `n` slots.
    fn registered(&mut self, n: u8) -> Result<u8, Status> {
        let mut count = 0;
        for slot in 0..n {
            if self.puk(slot)?.is_some() {
                count += 1;
            }
        }
        Ok(count)
    }

    /// The slot of the registered PUK whose CHR is `chr`.
    pub(crate) fn puk_slot_of(&mut self, chr: &[u8]) -> Result<Option<u8>, Status> {
        let Some(config) = self.puk_config()? else {
            return Ok(None);
        };
        for slot in 0..config.n {
            if let Some(req) = self.puk(slot)?
                && AuthenticatedRequest::parse_content(&req).is_ok_and(|r| r.inner.chr == chr)
            {
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    /// GET CHALLENGE's part in PKA: `challenge` becomes the pending one (none when longer than
    /// 256 bytes); with `m ≥ 2` every PUK's status is reset.
    pub(crate) fn pka_new_challenge(&mut self, challenge: &[u8]) -> Result<(), Status> {
        self.session.pka.challenge = (challenge.len() <= MAX_CHALLENGE).then(|| challenge.to_vec());
        if self.session.pka.statuses != 0 && self.puk_config()?.is_some_and(|c| c.m >= 2) {
            self.session.pka.statuses = 0;
        }
        Ok(())
    }

    /// PUK AUTH (80 54 P1 P2).
    pub(crate) fn puk_auth(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        let Some(config) = self.puk_config()? else {
            return Err(if cmd.data.is_empty() {
                Status::IncorrectP1P2
            } else {
                Status::FileNotFound
            });
        };
        if !cmd.data.is_empty() {
            if !matches!(cmd.p1, 0x00 | 0x01) {
                return Err(Status::IncorrectP1P2);
            }
            let pin_session = self.session.user_verified || self.session.so_verified;
            if !pin_session && cmd.p1 != 0x00 {
                return Err(Status::SecurityStatusNotSatisfied);
            }
            let slot = if cmd.p1 == 0x00 {
                if cmd.p2 != 0x00 {
                    return Err(Status::IncorrectP1P2);
                }
                let mut free = None;
                for slot in 0..config.n {
                    if self.puk(slot)?.is_none() {
                        free = Some(slot);
                        break;
                    }
                }
                free.ok_or(Status::NotEnoughMemory)?
            } else {
                if self.device_options()? & OPTION_REPLACE_PKA == 0 {
                    return Err(Status::ConditionsNotSatisfied);
                }
                if cmd.p2 >= config.n {
                    return Err(Status::IncorrectP1P2);
                }
                cmd.p2
            };
            let (content, attested) = self.checked_registration(cmd.data)?;
            // Without a PIN or SO-PIN session (sc-hsm-tool registers without logging in) only a
            // key whose generating device the trust store vouches for is taken.
            if !pin_session && !attested {
                return Err(Status::SecurityStatusNotSatisfied);
            }
            self.write_file(PUK_FILE + u16::from(slot), &content)?;
            // A replaced key has not authenticated in this session.
            self.session.pka.statuses &= !(1 << slot);
            if self.session.pka.selected == Some(slot) {
                self.session.pka.selected = None;
            }
            let remaining = config.n - self.registered(config.n)?;
            if let Some(mut raw) = self.read_file(fid::PUK_AUTH)?
                && let Some(byte) = raw.get_mut(1)
                && *byte != remaining
            {
                *byte = remaining;
                self.write_file(fid::PUK_AUTH, &raw)?;
            }
        } else if cmd.p1 == 0x02 {
            if cmd.p2 >= config.n {
                return Err(Status::IncorrectP1P2);
            }
            let req = self.puk(cmd.p2)?.ok_or(Status::ReferenceNotFound)?;
            if let Ok(r) = AuthenticatedRequest::parse_content(&req) {
                reply.extend(r.inner.chr)?;
            }
            if self.session.pka.authenticated(cmd.p2) {
                reply.set_final_status(Status::Other(0x9001));
            }
            return Ok(());
        }
        let remaining = config.n - self.registered(config.n)?;
        reply.extend(&[config.n, remaining, config.m, self.session.pka.count()])?;
        Ok(())
    }

    /// Parses and verifies registration data (module docs); the `67` content to store, and
    /// whether the outer signature was verified with a device certificate of the trust store.
    fn checked_registration(&mut self, data: &[u8]) -> Result<(Vec<u8>, bool), Status> {
        let malformed = |_| Status::DataInvalid;
        // sc-hsm-tool's export file: one `30` object around the request and certificates.
        let mut body = data;
        if data.first() == Some(&0x30) {
            let mut it = tlv::Reader::new(data);
            let outer = it.next().ok_or(Status::DataInvalid)?.map_err(|_| Status::DataInvalid)?;
            if it.next().is_some() {
                return Err(Status::DataInvalid);
            }
            body = outer.value;
        }
        let (request, certs): (AuthenticatedRequest<'_>, Vec<Certificate<'_>>) = if body.first() == Some(&0x67) {
            let (r, rest) = AuthenticatedRequest::parse_prefix(body).map_err(malformed)?;
            let certs = Certificate::parse_all(rest)
                .collect::<Result<Vec<_>, _>>()
                .map_err(malformed)?;
            (r, certs)
        } else {
            (
                AuthenticatedRequest::parse_content(body).map_err(malformed)?,
                Vec::new(),
            )
        };
        if request.inner.public_key.algorithm().is_none() {
            return Err(Status::DataInvalid);
        }
        let store = self.trust_store()?;
        let lookup = |chr: &[u8]| certs.iter().find(|c| c.chr == chr).copied().or_else(|| store.find(chr));
        let signer = lookup(request.outer_car);
        let attested = store.find(request.outer_car).is_some_and(|t| Some(t) == signer);
        let signer_domain = match &signer {
            Some(s) => cvc::inherited_domain(s, lookup).map_err(CvcError::status)?,
            None => None,
        };
        // Proof of possession: the inner request is signed with the key it carries.
        let own = request.inner.public_key.own_domain().map_err(CvcError::status)?;
        request
            .inner
            .verify_self_signed(own.or(signer_domain))
            .map_err(CvcError::status)?;
        if let Some(device) = signer {
            request
                .verify_outer(&device.public_key, signer_domain)
                .map_err(CvcError::status)?;
            // The device certificate's chain, as far as its issuers are known.
            let mut current = device;
            for _ in 0..4 {
                if current.is_self_signed() {
                    break;
                }
                let Some(issuer) = current.car.and_then(lookup) else {
                    break;
                };
                let d = cvc::inherited_domain(&issuer, lookup).map_err(CvcError::status)?;
                current.verify(&issuer.public_key, d).map_err(CvcError::status)?;
                current = issuer;
            }
        }
        Ok((request.content.to_vec(), attested))
    }

    /// EXTERNAL AUTHENTICATE (00 82 00 00).
    pub(crate) fn external_authenticate(&mut self, cmd: &CommandView<'_>) -> Result<(), Status> {
        if cmd.p1 != 0x00 || cmd.p2 != 0x00 {
            return Err(Status::IncorrectP1P2);
        }
        let slot = self.session.pka.selected.ok_or(Status::ReferenceNotFound)?;
        if cmd.data.is_empty() {
            return Err(Status::WrongLength);
        }
        let Some(challenge) = self.session.pka.challenge.clone() else {
            return Err(Status::ConditionsNotSatisfied);
        };
        let config = self.puk_config()?.ok_or(Status::FileNotFound)?;
        let req = self.puk(slot)?.ok_or(Status::ReferenceNotFound)?;
        let request = AuthenticatedRequest::parse_content(&req).map_err(CvcError::status)?;
        let device = self.device_chr()?.ok_or(Status::ReferenceNotFound)?;
        let store = self.trust_store()?;
        let domain = match request.inner.public_key.own_domain().map_err(CvcError::status)? {
            Some(c) => Some(c),
            None => match store.find(request.outer_car) {
                Some(s) => store.domain(&s).map_err(CvcError::status)?,
                None => None,
            },
        };
        let hash = hsm_crypto::hash::sha256(&[&device, &challenge]);
        if request
            .inner
            .public_key
            .verify_with_hash(domain, Md::Sha256, &hash, cmd.data)
            .is_err()
        {
            return Err(Status::ConditionsNotSatisfied);
        }
        self.session.pka.statuses |= 1 << slot;
        if self.session.pka.count() >= config.m {
            self.session.user_authenticated = true;
            self.session.pka.challenge = None;
        }
        Ok(())
    }
}
