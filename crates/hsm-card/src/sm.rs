//! Secure messaging (reference §9, §3.21, §3.25; BSI TR-03110 part 3 Chip Authentication v2 with
//! id-CA-ECDH-AES-CBC-CMAC-128; ISO 7816-4 §10).
//!
//! 1. MSE SET AT `00 22 41 A4 | 80 0A <id-CA-ECDH-AES-CBC-CMAC-128>` selects the protocol
//!    ([`App::mse_set_at_ca`]).
//! 2. GENERAL AUTHENTICATE `00 86 00 00 | 7C L 80 41 <host ephemeral P-256 point>`
//!    ([`App::general_authenticate`]): ECDH with the device key (slot 0, sealed under the device
//!    sealing key, so usable before any PIN), `Z` = x coordinate, an 8-byte nonce,
//!    `K_enc = SHA-1(Z ‖ nonce ‖ 00000001)[..16]`, `K_mac = SHA-1(Z ‖ nonce ‖ 00000002)[..16]`,
//!    token `CMAC(K_mac, 7F49 4F 06 0A <OID> 86 41 <host point>)[..8]`, answer
//!    `7C 14 81 08 nonce 82 08 token`. The session starts with SSC = 0.
//! 3. Protected commands (CLA bits `0C`, [`App::process_protected`]): data objects
//!    `87 L 01‖cryptogram` (even INS) or `85 L cryptogram` (odd INS), `97 L Le`, `8E 08 MAC`.
//!    The SSC is incremented, then the MAC is checked over
//!    `SSC ‖ pad(CLA INS P1 P2) ‖ [85|87 ‖ 97 as received] ‖ padding` (the padding only when there is a
//!    data object), then the cryptogram is decrypted with AES-CBC under `K_enc`, IV = AES(K_enc, SSC).
//!    The inner command (CLA without `0C`) runs through the normal dispatch; its answer comes back as
//!    `87 L 01‖AES-CBC(data‖80 00..)` (only when there is data) `99 02 SW 8E 08 MAC` with outer 9000,
//!    the SSC incremented once more and the MAC over `SSC ‖ 87.. ‖ 99.. ‖ padding`.
//!
//! Padding is ISO/IEC 9797-1 method 2 everywhere (`80` then `00` up to the next block boundary):
//! upstream appends a whole extra zero block when `80` ends on a boundary; we do not (docs/card.md,
//! differences).
//!
//! The session ends (keys and SSC dropped) on any secure-messaging error (6987 missing data objects,
//! 6988 wrong ones or a wrong MAC), on any plain command that reaches the application (TR-03110
//! part 3: the chip aborts secure messaging when a plain APDU is received; GET RESPONSE is answered by
//! the APDU layer and does not count), on SELECT of an application and on reset.

use alloc::vec::Vec;

use hsm_apdu::{CommandView, Reply, Status, tlv};
use hsm_crypto::asym::{Curve, EcPrivateKey};
use hsm_crypto::sym::{self, BLOCK, Direction, Md, Mode};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::mse::OID_CA_ECDH_AES_CBC_CMAC_128;
use crate::{App, Platform};

/// An uncompressed P-256 point.
const POINT_LEN: usize = 65;
const NONCE_LEN: usize = 8;
const MAC_LEN: usize = 8;
/// Session key length (AES-128).
const KEY_LEN: usize = 16;

/// Tags of the secure-messaging data objects (ISO 7816-4 §10.2).
const TAG_CRYPTOGRAM_ODD: u8 = 0x85;
const TAG_CRYPTOGRAM: u8 = 0x87;
const TAG_LE: u8 = 0x97;
const TAG_SW: u8 = 0x99;
const TAG_MAC: u8 = 0x8E;
/// First value byte of DO 87: "padded with 80 00..".
const PADDING_INDICATOR: u8 = 0x01;

/// Room the wrapping needs around the inner response data: `87 82 L L 01` before it, one block
/// of padding at most, `99 02 SW1 SW2 8E 08 MAC` after it.
const HEAD_ROOM: usize = 5;
const TAIL_ROOM: usize = 4 + 2 + MAC_LEN;

/// The keys and send sequence counter of a secure-messaging session.
pub(crate) struct Channel {
    k_enc: Zeroizing<[u8; KEY_LEN]>,
    k_mac: Zeroizing<[u8; KEY_LEN]>,
    ssc: u128,
}

impl Channel {
    /// The SSC after incrementing it, as a block; `None` when it would wrap (never in practice).
    fn next_ssc(&mut self) -> Option<[u8; BLOCK]> {
        self.ssc = self.ssc.checked_add(1)?;
        Some(self.ssc.to_be_bytes())
    }

    fn mac(&self, input: &[u8]) -> Result<[u8; MAC_LEN], Status> {
        let full = sym::cmac(&self.k_mac[..], input).map_err(|_| Status::ExecutionError)?;
        let mut mac = [0u8; MAC_LEN];
        mac.copy_from_slice(full.get(..MAC_LEN).ok_or(Status::ExecutionError)?);
        Ok(mac)
    }

    /// IV = AES(K_enc, SSC) (TR-03110 part 3 §F.2.2; CBC with a zero IV over one block is ECB).
    fn iv(&self, ssc: &[u8; BLOCK]) -> Result<Zeroizing<Vec<u8>>, Status> {
        sym::aes(Mode::Cbc, Direction::Encrypt, &self.k_enc[..], &[0; BLOCK], &[], ssc)
            .map_err(|_| Status::ExecutionError)
    }
}

/// `v` with ISO/IEC 9797-1 padding method 2 appended.
fn pad(v: &mut Vec<u8>) {
    v.push(0x80);
    while !v.len().is_multiple_of(BLOCK) {
        v.push(0);
    }
}

/// The length of padded data without its padding; `None` when the padding is wrong.
fn unpadded_len(data: &[u8]) -> Option<usize> {
    let end = data.iter().rposition(|&b| b != 0)?;
    (data.get(end) == Some(&0x80)).then_some(end)
}

/// KDF of TR-03110 part 3 §A.2.3 for AES-128: SHA-1(Z ‖ nonce ‖ counter)[..16].
fn kdf(z: &[u8], nonce: &[u8; NONCE_LEN], counter: u8) -> Result<Zeroizing<[u8; KEY_LEN]>, Status> {
    let mut input = Zeroizing::new(Vec::with_capacity(z.len() + NONCE_LEN + 4));
    input.extend_from_slice(z);
    input.extend_from_slice(nonce);
    input.extend_from_slice(&[0, 0, 0, counter]);
    let digest = Zeroizing::new(Md::Sha1.digest(&input));
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(digest.get(..KEY_LEN).ok_or(Status::ExecutionError)?);
    Ok(key)
}

/// One secure-messaging data object of a command: its tag, its bytes as received, its value.
struct Object<'a> {
    tag: u8,
    raw: &'a [u8],
    value: &'a [u8],
}

/// Splits the next data object off `data`: one-byte tag, length `xx`, `81 xx` or `82 xx xx`.
fn next_object(data: &[u8]) -> Option<(Object<'_>, &[u8])> {
    let (&tag, rest) = data.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        0..=0x7F => (usize::from(first), rest),
        0x81 => {
            let (&l, rest) = rest.split_first()?;
            (usize::from(l), rest)
        }
        0x82 => {
            let (l, rest) = rest.split_first_chunk::<2>()?;
            (usize::from(u16::from_be_bytes(*l)), rest)
        }
        _ => return None,
    };
    let value = rest.get(..len)?;
    let rest = rest.get(len..)?;
    let raw = data.get(..data.len() - rest.len())?;
    Some((Object { tag, raw, value }, rest))
}

/// The data objects of a protected command, checked for shape (not yet for the MAC).
struct Protected<'a> {
    /// DO 85 or 87 (without the padding indicator): the encrypted command data.
    cryptogram: Option<&'a [u8]>,
    /// DO 97's value.
    le: Option<&'a [u8]>,
    mac: &'a [u8],
    /// The bytes the MAC covers besides SSC and header: DOs 85/87 and 97 as received.
    authenticated: &'a [u8],
}

/// Parses the data field of a protected command: `[85|87] [97] 8E`, each at most once, in that
/// order. 6987 when the MAC or a cryptogram is missing, 6988 for anything else that is wrong.
fn parse(ins: u8, data: &[u8]) -> Result<Protected<'_>, Status> {
    let data_tag = if ins & 1 == 1 {
        TAG_CRYPTOGRAM_ODD
    } else {
        TAG_CRYPTOGRAM
    };
    let mut rest = data;
    let mut cryptogram = None;
    let mut le = None;
    let mut mac = None;
    let mut order = 0u8;
    let mut authenticated_len = 0usize;
    let mut malformed = false;
    while !rest.is_empty() {
        let Some((object, tail)) = next_object(rest) else {
            malformed = true;
            break;
        };
        rest = tail;
        let rank = match object.tag {
            t if t == data_tag => 1,
            TAG_LE => 2,
            TAG_MAC => 3,
            _ => 0,
        };
        // An unknown tag, a repeated or misplaced one, anything after the MAC: wrong objects,
        // but the walk goes on so that a missing MAC is told apart.
        if rank <= order || mac.is_some() {
            malformed = true;
            continue;
        }
        order = rank;
        match object.tag {
            TAG_MAC => mac = Some(object.value),
            TAG_LE => {
                le = Some(object.value);
                authenticated_len += object.raw.len();
            }
            _ => {
                cryptogram = Some(object.value);
                authenticated_len += object.raw.len();
            }
        }
    }
    let Some(mac) = mac else {
        return Err(SM_MISSING);
    };
    if malformed {
        return Err(SM_INCORRECT);
    }
    let cryptogram = match cryptogram {
        None => None,
        Some(v) if data_tag == TAG_CRYPTOGRAM => match v.split_first() {
            None | Some((_, [])) => return Err(SM_MISSING),
            Some((&PADDING_INDICATOR, c)) => Some(c),
            Some(_) => return Err(SM_INCORRECT),
        },
        Some([]) => return Err(SM_MISSING),
        Some(c) => Some(c),
    };
    if mac.len() != MAC_LEN
        || cryptogram.is_some_and(|c| !c.len().is_multiple_of(BLOCK))
        || le.is_some_and(|l| l.is_empty() || l.len() > 2)
    {
        return Err(SM_INCORRECT);
    }
    Ok(Protected {
        cryptogram,
        le,
        mac,
        authenticated: data.get(..authenticated_len).ok_or(SM_INCORRECT)?,
    })
}

/// 6987: expected secure-messaging data objects missing.
pub(crate) const SM_MISSING: Status = Status::Other(0x6987);
/// 6988: incorrect secure-messaging data objects (a wrong MAC among them).
pub(crate) const SM_INCORRECT: Status = Status::Other(0x6988);

impl<P: Platform> App<P> {
    /// GENERAL AUTHENTICATE (00 86 00 00): Chip Authentication, starts a secure-messaging session.
    pub(crate) fn general_authenticate(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Err(Status::IncorrectP1P2);
        }
        // `7C L { 80 L point }`, the outer object exactly the data field (reference §3.25: 6700).
        let mut objects = tlv::Reader::new(cmd.data);
        let outer = match (objects.next(), objects.next()) {
            (Some(Ok(o)), None) if o.tag == 0x7C => o,
            _ => return Err(Status::WrongLength),
        };
        let point = tlv::find(outer.value, 0x80)?.ok_or(Status::WrongLength)?;
        if !self.session.sm_ca_selected {
            return Err(Status::ConditionsNotSatisfied);
        }
        if point.len() != POINT_LEN || point.first() != Some(&0x04) {
            return Err(Status::IncorrectData);
        }
        let secret = self.device_key()?.ok_or(Status::ReferenceNotFound)?;
        let key = EcPrivateKey::from_bytes(Curve::Secp256r1, &secret[..]).map_err(|_| Status::ExecutionError)?;
        let shared = key.ecdh(point).map_err(|_| Status::IncorrectData)?;
        // The shared point is 04 ‖ X ‖ Y; Z is X (TR-03110 part 3 §A.2.2.2).
        let z = shared.get(1..33).ok_or(Status::ExecutionError)?;
        let nonce: [u8; NONCE_LEN] = self.random_array()?;
        let channel = Channel {
            k_enc: kdf(z, &nonce, 1)?,
            k_mac: kdf(z, &nonce, 2)?,
            ssc: 0,
        };
        let mut input = Vec::with_capacity(16 + POINT_LEN);
        input.extend_from_slice(&[0x7F, 0x49, 0x4F, 0x06, 0x0A]);
        input.extend_from_slice(&OID_CA_ECDH_AES_CBC_CMAC_128);
        input.extend_from_slice(&[0x86, POINT_LEN as u8]);
        input.extend_from_slice(point);
        let token = channel.mac(&input)?;
        reply.extend(&[0x7C, 0x14, 0x81, 0x08])?;
        reply.extend(&nonce)?;
        reply.extend(&[0x82, 0x08])?;
        reply.extend(&token)?;
        self.session.sm = Some(channel);
        Ok(())
    }

    /// A command with CLA bits `0C`: unwrap, run, wrap. Any secure-messaging error ends the session.
    pub(crate) fn process_protected(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        // The channel leaves the session for the time of the command: every early return below
        // ends secure messaging.
        let channel = self.session.sm.take();
        let objects = parse(cmd.ins, cmd.data)?;
        let mut channel = channel.ok_or(SM_INCORRECT)?;

        // 1. The MAC, before anything else is looked at.
        let ssc = channel.next_ssc().ok_or(SM_INCORRECT)?;
        let mut input = Vec::with_capacity(2 * BLOCK + objects.authenticated.len() + BLOCK);
        input.extend_from_slice(&ssc);
        input.extend_from_slice(&[cmd.cla, cmd.ins, cmd.p1, cmd.p2]);
        pad(&mut input);
        if !objects.authenticated.is_empty() {
            input.extend_from_slice(objects.authenticated);
            pad(&mut input);
        }
        let mac = channel.mac(&input)?;
        if !bool::from(mac.ct_eq(objects.mac)) {
            return Err(SM_INCORRECT);
        }

        // 2. The command data.
        let plain = match objects.cryptogram {
            Some(c) => {
                let iv = channel.iv(&ssc)?;
                let mut plain = sym::aes(Mode::Cbc, Direction::Decrypt, &channel.k_enc[..], &iv, &[], c)
                    .map_err(|_| SM_INCORRECT)?;
                let len = unpadded_len(&plain).ok_or(SM_INCORRECT)?;
                plain.truncate(len);
                plain
            }
            None => Zeroizing::new(Vec::new()),
        };
        let ne = match objects.le {
            Some([0]) => 256,
            Some([0, 0]) => 65536,
            Some([l]) => usize::from(*l),
            Some([h, l]) => usize::from(u16::from_be_bytes([*h, *l])),
            _ => 0,
        };
        let inner = CommandView {
            cla: cmd.cla & !0x0C,
            ins: cmd.ins,
            p1: cmd.p1,
            p2: cmd.p2,
            data: &plain,
            ne,
            extended: cmd.extended,
        };

        // 3. Run it into the reply buffer, leaving room for the wrapping.
        let buf = reply.reserve(reply.remaining())?;
        let capacity = (buf.len().saturating_sub(HEAD_ROOM + TAIL_ROOM) / BLOCK * BLOCK).saturating_sub(1);
        let area = buf
            .get_mut(HEAD_ROOM..HEAD_ROOM + capacity)
            .ok_or(Status::ExecutionError)?;
        let mut inner_reply = Reply::new(area);
        let result = self.dispatch(&inner, &mut inner_reply);
        let n = if result.is_ok() { inner_reply.len() } else { 0 };
        let sw = match result {
            // A success other than 9000 (PUK AUTH's 9001) travels in the 99 object as it is.
            Ok(()) => inner_reply.final_status().to_bytes(),
            Err(sw) => sw.to_bytes(),
        };
        // SELECT of an application started a new session; GENERAL AUTHENTICATE under secure
        // messaging started a new channel. Either way this one ends after wrapping the answer.
        let selected = inner.ins == 0xA4 && inner.p1 == 0x04 && result.is_ok();
        let keep = !selected && self.session.sm.is_none();

        // 4. Wrap the answer.
        let wrapped = wrap(&mut channel, buf, n, sw);
        if keep && wrapped.is_ok() {
            self.session.sm = Some(channel);
        }
        let len = wrapped?;
        reply.truncate(len);
        Ok(())
    }
}

/// Wraps `n` response bytes at `buf[HEAD_ROOM..]` and the status word into
/// `[87 L 01 cryptogram] 99 02 SW 8E 08 MAC` at the start of `buf`; returns its length. Every other
/// byte of `buf` is zeroed.
fn wrap(channel: &mut Channel, buf: &mut [u8], n: usize, sw: [u8; 2]) -> Result<usize, Status> {
    let result = wrap_inner(channel, buf, n, sw);
    let len = *result.as_ref().unwrap_or(&0);
    if let Some(rest) = buf.get_mut(len..) {
        rest.fill(0);
    }
    result
}

fn wrap_inner(channel: &mut Channel, buf: &mut [u8], n: usize, sw: [u8; 2]) -> Result<usize, Status> {
    let ssc = channel.next_ssc().ok_or(SM_INCORRECT)?;
    let mut out = Vec::with_capacity(n + 2 * BLOCK + TAIL_ROOM);
    if n > 0 {
        let mut plain = Zeroizing::new(Vec::with_capacity(n + BLOCK));
        plain.extend_from_slice(buf.get(HEAD_ROOM..HEAD_ROOM + n).ok_or(Status::ExecutionError)?);
        pad(&mut plain);
        let iv = channel.iv(&ssc)?;
        let enc = sym::aes(Mode::Cbc, Direction::Encrypt, &channel.k_enc[..], &iv, &[], &plain)
            .map_err(|_| Status::ExecutionError)?;
        let mut hdr = [0u8; 7];
        out.extend_from_slice(tlv::header(u16::from(TAG_CRYPTOGRAM), enc.len() + 1, &mut hdr));
        out.push(PADDING_INDICATOR);
        out.extend_from_slice(&enc);
    }
    out.extend_from_slice(&[TAG_SW, 2, sw[0], sw[1]]);
    let mut input = Vec::with_capacity(BLOCK + out.len() + BLOCK);
    input.extend_from_slice(&ssc);
    input.extend_from_slice(&out);
    pad(&mut input);
    let mac = channel.mac(&input)?;
    out.extend_from_slice(&[TAG_MAC, MAC_LEN as u8]);
    out.extend_from_slice(&mac);
    buf.get_mut(..out.len())
        .ok_or(Status::ExecutionError)?
        .copy_from_slice(&out);
    Ok(out.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_method_2() {
        let mut v = alloc::vec![1u8; 15];
        pad(&mut v);
        assert_eq!(v.len(), 16);
        assert_eq!(v[15], 0x80);
        let mut v = alloc::vec![1u8; 16];
        pad(&mut v);
        assert_eq!(v.len(), 32);
        assert_eq!(unpadded_len(&v), Some(16));
        assert_eq!(unpadded_len(&[0u8; 16]), None);
        assert_eq!(unpadded_len(&[1u8; 16]), None);
    }

    #[test]
    fn objects_parse_strictly() {
        let mac = [0x8E, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        assert!(parse(0x20, &mac).is_ok());
        assert_eq!(parse(0x20, &[]).err(), Some(SM_MISSING));
        assert_eq!(parse(0x20, &[0x97, 1, 0]).err(), Some(SM_MISSING));
        let mut v = alloc::vec![0x97, 1, 0];
        v.extend_from_slice(&mac);
        v.extend_from_slice(&[0x97, 1, 0]);
        assert_eq!(parse(0x20, &v).err(), Some(SM_INCORRECT));
        let mut v = alloc::vec![0x85, 16];
        v.extend_from_slice(&[0; 16]);
        v.extend_from_slice(&mac);
        assert_eq!(parse(0x20, &v).err(), Some(SM_INCORRECT));
        assert!(parse(0xB1, &v).is_ok());
        let mut v = alloc::vec![0x87, 1, 1];
        v.extend_from_slice(&mac);
        assert_eq!(parse(0x20, &v).err(), Some(SM_MISSING));
    }
}
