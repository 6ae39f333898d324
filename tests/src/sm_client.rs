//! A host-side secure-messaging client, written from the standards and independent of the card's
//! code: BSI TR-03110 part 3 (Chip Authentication with id-CA-ECDH-AES-CBC-CMAC-128: ECDH on P-256,
//! KDF `SHA-1(Z ‖ nonce ‖ counter)`, authentication token over the host's public key) and ISO 7816-4
//! §10 (data objects 85/87/97/99/8E, padding `80 00..`, CLA bits `0C`, the MAC over the send
//! sequence counter and the header). Crypto from RustCrypto crates the card does not call directly
//! (`p256`'s ECDH, `sha1`, `aes` + `cbc`, `cmac`).
//!
//! One source for the in-process tests (`crates/hsm-card/tests/sm.rs`, through `#[path]`) and the
//! end-to-end tests (`tests/tests/sm.rs`, as `hsm_e2e::sm_client`).
#![allow(dead_code)]

use aes::cipher::array::Array;
use aes::cipher::consts::U16;
use aes::cipher::{BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit};
use cmac::Mac;
use p256::elliptic_curve::sec1::ToSec1Point;
use sha1::{Digest, Sha1};

/// id-CA-ECDH-AES-CBC-CMAC-128, 0.4.0.127.0.7.2.2.3.2.2.
pub const OID_CA_AES128: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x03, 0x02, 0x02];

/// MSE SET AT selecting Chip Authentication with AES-128 secure messaging.
pub fn mse_set_at() -> Vec<u8> {
    let mut v = vec![0x00, 0x22, 0x41, 0xA4, 12, 0x80, 10];
    v.extend_from_slice(&OID_CA_AES128);
    v
}

/// An extended-length case 4 APDU (Le `00 00`); case 2 (just `00 00 00`) when `data` is empty.
pub fn extended(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![cla, ins, p1, p2, 0];
    if !data.is_empty() {
        v.extend_from_slice(&(data.len() as u16).to_be_bytes());
        v.extend_from_slice(data);
    }
    v.extend_from_slice(&[0, 0]);
    v
}

/// A data object: its tag, its bytes as received (tag, length and value), its value.
pub type Object<'a> = (u16, &'a [u8], &'a [u8]);

/// BER-TLV walk over `data` (one- or two-byte tags, lengths up to `82 xx xx`).
pub fn objects(mut data: &[u8]) -> Result<Vec<Object<'_>>, String> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let start = data;
        let mut tag = u16::from(data[0]);
        let mut i = 1;
        if data[0] & 0x1F == 0x1F {
            tag = (tag << 8) | u16::from(*data.get(1).ok_or("truncated tag")?);
            i = 2;
        }
        let first = *data.get(i).ok_or("no length")?;
        i += 1;
        let len = match first {
            0..=0x7F => usize::from(first),
            0x81 => {
                i += 1;
                usize::from(*data.get(i - 1).ok_or("truncated length")?)
            }
            0x82 => {
                i += 2;
                usize::from(u16::from_be_bytes([
                    *data.get(i - 2).ok_or("truncated length")?,
                    *data.get(i - 1).ok_or("truncated length")?,
                ]))
            }
            _ => return Err(format!("length byte {first:02X}")),
        };
        let value = data.get(i..i + len).ok_or("value past the end")?;
        out.push((tag, &start[..i + len], value));
        data = &data[i + len..];
    }
    Ok(out)
}

/// The first object with `tag` at the top level of `data`.
pub fn find(data: &[u8], tag: u16) -> Option<&[u8]> {
    objects(data).ok()?.into_iter().find(|o| o.0 == tag).map(|o| o.2)
}

/// The public point of a CV certificate (C_DevAut, file 2F02): `7F21 { 7F4E { 7F49 { 86 } } }`.
pub fn cvc_public_point(cvc: &[u8]) -> Option<Vec<u8>> {
    let cert = find(cvc, 0x7F21)?;
    let body = find(cert, 0x7F4E)?;
    let key = find(body, 0x7F49)?;
    find(key, 0x86).map(<[u8]>::to_vec)
}

/// ISO/IEC 9797-1 padding method 2.
pub fn pad(v: &mut Vec<u8>) {
    v.push(0x80);
    while !v.len().is_multiple_of(16) {
        v.push(0);
    }
}

fn unpad(mut v: Vec<u8>) -> Result<Vec<u8>, String> {
    while v.last() == Some(&0) {
        v.pop();
    }
    if v.pop() != Some(0x80) {
        return Err("bad padding".into());
    }
    Ok(v)
}

fn blocks(buf: &mut [u8]) -> &mut [Array<u8, U16>] {
    let (blocks, rest) = Array::<u8, U16>::slice_as_chunks_mut(buf);
    assert!(rest.is_empty(), "not a whole number of blocks");
    blocks
}

fn cmac(key: &[u8; 16], data: &[u8]) -> [u8; 16] {
    let mut m = <cmac::Cmac<aes::Aes128> as KeyInit>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().into()
}

fn kdf(z: &[u8], nonce: &[u8], counter: u8) -> [u8; 16] {
    let mut h = Sha1::new();
    h.update(z);
    h.update(nonce);
    h.update([0, 0, 0, counter]);
    h.finalize()[..16].try_into().unwrap()
}

/// The host side of Chip Authentication: an ephemeral key pair.
pub struct Handshake {
    secret: p256::SecretKey,
    /// The uncompressed ephemeral public point.
    pub public: Vec<u8>,
}

impl Handshake {
    /// A handshake with the ephemeral private scalar `scalar` (the caller draws it at random).
    pub fn new(scalar: &[u8; 32]) -> Self {
        let secret = p256::SecretKey::from_slice(scalar).expect("scalar in range");
        let public = secret.public_key().to_sec1_point(false).as_bytes().to_vec();
        Handshake { secret, public }
    }

    /// GENERAL AUTHENTICATE with the ephemeral public key: `00 86 00 00 | 7C 43 80 41 point`.
    pub fn general_authenticate(&self) -> Vec<u8> {
        let mut data = vec![0x7C, 2 + self.public.len() as u8, 0x80, self.public.len() as u8];
        data.extend_from_slice(&self.public);
        let mut v = vec![0x00, 0x86, 0x00, 0x00, data.len() as u8];
        v.extend_from_slice(&data);
        v.push(0);
        v
    }

    /// Checks the card's answer (`7C 14 81 08 nonce 82 08 token`) against the device's public
    /// point and derives the session.
    pub fn finish(&self, device_point: &[u8], answer: &[u8]) -> Result<Session, String> {
        let inner = find(answer, 0x7C).ok_or("no 7C")?;
        let nonce = find(inner, 0x81).ok_or("no nonce")?;
        let token = find(inner, 0x82).ok_or("no token")?;
        if nonce.len() != 8 || token.len() != 8 {
            return Err("nonce or token not 8 bytes".into());
        }
        let device = p256::PublicKey::from_sec1_bytes(device_point).map_err(|e| e.to_string())?;
        let shared = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), device.as_affine());
        let z = shared.raw_secret_bytes();
        let session = Session {
            k_enc: kdf(z, nonce, 1),
            k_mac: kdf(z, nonce, 2),
            ssc: 0,
        };
        let mut t = vec![0x7F, 0x49, 0x4F, 0x06, 0x0A];
        t.extend_from_slice(&OID_CA_AES128);
        t.push(0x86);
        t.push(self.public.len() as u8);
        t.extend_from_slice(&self.public);
        if cmac(&session.k_mac, &t)[..8] != *token {
            return Err("authentication token does not match".into());
        }
        Ok(session)
    }
}

/// Session keys and send sequence counter.
#[derive(Clone)]
pub struct Session {
    pub k_enc: [u8; 16],
    pub k_mac: [u8; 16],
    pub ssc: u128,
}

impl Session {
    fn iv(&self) -> [u8; 16] {
        let mut block = self.ssc.to_be_bytes();
        aes::Aes128::new(&self.k_enc.into()).encrypt_block((&mut block).into());
        block
    }

    /// The data objects of a protected command: [85|87] [97] 8E. `le` is the inner Ne (`None`: no
    /// 97). Increments the SSC.
    pub fn command_objects(&mut self, cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<usize>) -> Vec<u8> {
        self.ssc += 1;
        let mut dos = Vec::new();
        if !data.is_empty() {
            let mut buf = data.to_vec();
            pad(&mut buf);
            cbc::Encryptor::<aes::Aes128>::new_from_slices(&self.k_enc, &self.iv())
                .unwrap()
                .encrypt_blocks(blocks(&mut buf));
            let mut value = Vec::new();
            if ins & 1 == 0 {
                value.push(0x01);
            }
            value.extend_from_slice(&buf);
            dos.push(if ins & 1 == 0 { 0x87 } else { 0x85 });
            push_len(&mut dos, value.len());
            dos.extend_from_slice(&value);
        }
        match le {
            None => {}
            Some(n) if n <= 256 => dos.extend_from_slice(&[0x97, 1, n as u8]),
            Some(n) => {
                dos.extend_from_slice(&[0x97, 2]);
                dos.extend_from_slice(&((n % 65536) as u16).to_be_bytes());
            }
        }
        let mac = self.mac_command(cla | 0x0C, ins, p1, p2, &dos);
        dos.extend_from_slice(&[0x8E, 8]);
        dos.extend_from_slice(&mac);
        dos
    }

    /// The command MAC over the current SSC, the header and `dos` (already counted SSC).
    pub fn mac_command(&self, cla: u8, ins: u8, p1: u8, p2: u8, dos: &[u8]) -> [u8; 8] {
        let mut input = self.ssc.to_be_bytes().to_vec();
        input.extend_from_slice(&[cla, ins, p1, p2]);
        pad(&mut input);
        if !dos.is_empty() {
            input.extend_from_slice(dos);
            pad(&mut input);
        }
        cmac(&self.k_mac, &input)[..8].try_into().unwrap()
    }

    /// A protected command APDU (extended length, outer Le `0000`) for the plain command
    /// `cla ins p1 p2 data` expecting up to `le` response bytes.
    pub fn wrap(&mut self, cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<usize>) -> Vec<u8> {
        let dos = self.command_objects(cla, ins, p1, p2, data, le);
        extended(cla | 0x0C, ins, p1, p2, &dos)
    }

    /// Checks and decrypts a protected response (`[87] 99 8E`, outer status `sw`): the inner data
    /// and status word. Increments the SSC.
    pub fn unwrap(&mut self, response: &[u8], sw: u16) -> Result<(Vec<u8>, u16), String> {
        if sw != 0x9000 {
            return Err(format!("outer status {sw:04X}"));
        }
        self.ssc += 1;
        let objs = objects(response)?;
        let mut authenticated = Vec::new();
        let (mut cryptogram, mut inner_sw, mut mac) = (None, None, None);
        for (tag, raw, value) in objs {
            match tag {
                0x87 => {
                    cryptogram = Some(value);
                    authenticated.extend_from_slice(raw);
                }
                0x99 => {
                    inner_sw = Some(value);
                    authenticated.extend_from_slice(raw);
                }
                0x8E => mac = Some(value),
                t => return Err(format!("unexpected tag {t:02X}")),
            }
        }
        let mac = mac.ok_or("no 8E")?;
        let inner_sw = inner_sw.ok_or("no 99")?;
        let mut input = self.ssc.to_be_bytes().to_vec();
        input.extend_from_slice(&authenticated);
        pad(&mut input);
        if cmac(&self.k_mac, &input)[..8] != *mac {
            return Err("response MAC does not match".into());
        }
        let data = match cryptogram {
            None => Vec::new(),
            Some(c) => {
                let (&indicator, c) = c.split_first().ok_or("empty 87")?;
                if indicator != 1 || c.is_empty() || !c.len().is_multiple_of(16) {
                    return Err("bad 87".into());
                }
                let mut buf = c.to_vec();
                cbc::Decryptor::<aes::Aes128>::new_from_slices(&self.k_enc, &self.iv())
                    .unwrap()
                    .decrypt_blocks(blocks(&mut buf));
                unpad(buf)?
            }
        };
        let inner_sw: [u8; 2] = inner_sw.try_into().map_err(|_| "99 not 2 bytes")?;
        Ok((data, u16::from_be_bytes(inner_sw)))
    }
}

fn push_len(v: &mut Vec<u8>, len: usize) {
    match len {
        0..0x80 => v.push(len as u8),
        0x80..0x100 => v.extend_from_slice(&[0x81, len as u8]),
        _ => v.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
}
