//! Hierarchical deterministic keys, the Pico extension `80 4A` (reference §3.20; upstream's
//! `cmd_bip_slip.c`): BIP32 / SLIP-10 masters on secp256k1 and NIST P-256, SLIP-21 symmetric
//! masters, extended public keys of derived nodes, and one derived node kept in RAM for the next
//! COMPUTE SIGNATURE P2 A0 (`ops.rs`) or HD cipher of CIPHER SYMMETRIC (`symkey.rs`).
//!
//! * `80 4A 01|02|03 <slot 0..9> [seed]`: master of `seed` (1–64 bytes; none = 64 random bytes),
//!   stored in `1110+slot` sealed under the MKEK like key material: plaintext `type ‖ 64 bytes`,
//!   upstream's layout (`01`/`02`: key ‖ chain code; `03`: the SLIP-21 `N[0..32] ‖ N[32..64]`).
//!   An existing master in the slot is replaced. No response data.
//! * `80 4A 0A 00 <path>`: the node's 78-byte xpub body (`04 88 B2 1E ‖ depth ‖ parent fingerprint
//!   ‖ child number ‖ chain code ‖ compressed point`); a SLIP-21 node answers 77 bytes, with
//!   `SHA256d(N[0..32]) ‖ SHA256d(N[32..64])` after the (zero) child number, as upstream.
//! * `80 4A 10 00 <path>`: derives the node and keeps it for the next HD operation. No response data.
//!
//! A path is `02 01 <slot>` then up to [`MAX_DEPTH`] children: `02 04 <index, big-endian>`
//! (BIP32 / SLIP-10, hardened from 2³¹) below an EC master, `04 <len> <label>` (SLIP-21) below a
//! symmetric one.
//!
//! Status words: no PIN session → 6982; P1 other than 01/02/03/0A/10, or a slot ≥ 10 at
//! generation → 6A86; a seed over 64 bytes, no path, a malformed TLV, an unknown tag, a child of
//! the other kind, a path deeper than [`MAX_DEPTH`] → 6700; no master in the slot (slot ≥ 10
//! included) → 6A88; MKEK not unlocked or a record that does not open → 6400. A refusal writes
//! nothing (a failed P1 10 also drops the node kept before).
//!
//! The kept node is consumed by the next COMPUTE SIGNATURE P2 A0 or HD cipher whatever its
//! outcome, replaced by the next P1 10, and dropped (zeroized) on reset, SELECT of the
//! application, and by every VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER and INITIALIZE.

use alloc::vec::Vec;

use hsm_apdu::{CommandView, Reply, Status, tlv};
use hsm_crypto::hd::{self, EcNode, HdCurve, SymNode};
use hsm_crypto::sym::{self, Direction, Mode};
use zeroize::Zeroizing;

use crate::files::fid;
use crate::{App, Platform};

/// Number of master slots (P2 0..9, files `1110`..`1119`).
pub(crate) const SLOTS: u8 = 10;
/// Deepest path accepted: ten children below the master (BIP44 paths have five). Upstream has no
/// limit but the command size; its earlier firmware stopped at 15.
pub(crate) const MAX_DEPTH: usize = 10;
/// Longest seed of a master (upstream's buffer; BIP32 seeds are 16–64 bytes).
const MAX_SEED: usize = 64;
/// Version bytes of the extended public key (BIP32 mainnet `xpub`, also for P-256 and SLIP-21).
const XPUB_VERSION: [u8; 4] = [0x04, 0x88, 0xB2, 0x1E];

/// P1 values of INS 4A.
mod p1 {
    pub const MASTER_SECP256K1: u8 = 0x01;
    pub const MASTER_NIST256P1: u8 = 0x02;
    pub const MASTER_SYMMETRIC: u8 = 0x03;
    pub const XPUB: u8 = 0x0A;
    pub const KEEP: u8 = 0x10;
}

/// A derived node.
pub(crate) enum Node {
    Ec(EcNode),
    Sym(SymNode),
}

/// A derived node with what its xpub tells about its place in the tree.
struct Derived {
    node: Node,
    depth: u8,
    parent_fingerprint: [u8; 4],
    child_number: [u8; 4],
}

/// One step of a path.
enum Step<'a> {
    Index(u32),
    Label(&'a [u8]),
}

/// The master slot and the steps of a path (module documentation).
fn parse_path(data: &[u8]) -> Result<(u8, Vec<Step<'_>>), Status> {
    let mut items = tlv::Reader::new(data);
    let slot = match items.next() {
        Some(Ok(tlv::Tlv {
            tag: 0x02,
            value: &[slot],
        })) => slot,
        Some(Err(e)) => return Err(e),
        _ => return Err(Status::WrongLength),
    };
    let mut steps = Vec::new();
    for item in items {
        let step = match item? {
            tlv::Tlv {
                tag: 0x02,
                value: &[a, b, c, d],
            } => Step::Index(u32::from_be_bytes([a, b, c, d])),
            tlv::Tlv { tag: 0x04, value } => Step::Label(value),
            _ => return Err(Status::WrongLength),
        };
        if steps.len() == MAX_DEPTH {
            return Err(Status::WrongLength);
        }
        steps.push(step);
    }
    Ok((slot, steps))
}

/// File of master slot `slot`.
fn master_fid(slot: u8) -> u16 {
    fid::HD_MASTER + u16::from(slot)
}

fn derivation_error(_: hd::Error) -> Status {
    Status::ExecutionError
}

impl<P: Platform> App<P> {
    /// INS 4A (module documentation).
    pub(crate) fn bip_slip(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        if !self.session.user_authenticated {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        match cmd.p1 {
            p1::MASTER_SECP256K1 | p1::MASTER_NIST256P1 | p1::MASTER_SYMMETRIC => self.hd_master(cmd),
            p1::XPUB => {
                let derived = self.hd_derive(cmd.data, true)?;
                let xpub = xpub(&derived)?;
                reply.extend(&xpub)?;
                Ok(())
            }
            p1::KEEP => {
                self.session.hd = None;
                let derived = self.hd_derive(cmd.data, false)?;
                self.session.hd = Some(derived.node);
                Ok(())
            }
            _ => Err(Status::IncorrectP1P2),
        }
    }

    /// P1 01/02/03: a new master in slot P2.
    fn hd_master(&mut self, cmd: &CommandView<'_>) -> Result<(), Status> {
        let slot = cmd.p2;
        if slot >= SLOTS {
            return Err(Status::IncorrectP1P2);
        }
        if cmd.data.len() > MAX_SEED {
            return Err(Status::WrongLength);
        }
        let mkek = self.session.mkek.clone().ok_or(Status::ExecutionError)?;
        let mut seed = Zeroizing::new([0u8; MAX_SEED]);
        let seed: &[u8] = if cmd.data.is_empty() {
            self.random(&mut seed[..])?;
            &seed[..]
        } else {
            cmd.data
        };
        let mut record = Zeroizing::new(Vec::with_capacity(1 + 64));
        record.push(cmd.p1);
        match cmd.p1 {
            p1::MASTER_SYMMETRIC => {
                let m = SymNode::master(seed);
                record.extend_from_slice(m.chain());
                record.extend_from_slice(m.key());
            }
            _ => {
                let curve = if cmd.p1 == p1::MASTER_SECP256K1 {
                    HdCurve::Secp256k1
                } else {
                    HdCurve::Nist256p1
                };
                let m = EcNode::master(curve, seed).map_err(derivation_error)?;
                record.extend_from_slice(m.key());
                record.extend_from_slice(m.chain());
            }
        }
        self.write_sealed_mkek(master_fid(slot), &mkek, &record)
    }

    /// The master of `slot`: 6A88 when there is none, 6400 when it does not open.
    fn hd_load_master(&mut self, slot: u8) -> Result<Node, Status> {
        if slot >= SLOTS {
            return Err(Status::ReferenceNotFound);
        }
        let f = master_fid(slot);
        let sealed = self.read_file(f)?.ok_or(Status::ReferenceNotFound)?;
        let mkek = self.session.mkek.clone().ok_or(Status::ExecutionError)?;
        let sealing = self.keys.mkek_sealing_key(&mkek);
        let plain = self.keys.open(&sealing, f, &sealed).ok_or(Status::ExecutionError)?;
        let (&kind, rest) = plain.split_first().ok_or(Status::ExecutionError)?;
        let (first, second) = rest.split_first_chunk::<32>().ok_or(Status::ExecutionError)?;
        let second: &[u8; 32] = second.try_into().map_err(|_| Status::ExecutionError)?;
        Ok(match kind {
            p1::MASTER_SECP256K1 | p1::MASTER_NIST256P1 => {
                let curve = if kind == p1::MASTER_SECP256K1 {
                    HdCurve::Secp256k1
                } else {
                    HdCurve::Nist256p1
                };
                Node::Ec(EcNode::from_parts(curve, first, second).map_err(derivation_error)?)
            }
            p1::MASTER_SYMMETRIC => Node::Sym(SymNode::from_parts(first, second)),
            _ => return Err(Status::ExecutionError),
        })
    }

    /// The node at `path` (command data of P1 0A and 10). The parent fingerprint, which costs a
    /// point multiplication, is computed only `for_xpub`.
    fn hd_derive(&mut self, path: &[u8], for_xpub: bool) -> Result<Derived, Status> {
        let (slot, steps) = parse_path(path)?;
        let mut derived = Derived {
            node: self.hd_load_master(slot)?,
            depth: 0,
            parent_fingerprint: [0; 4],
            child_number: [0; 4],
        };
        // Every step must suit the master's kind before anything is computed.
        let suits = |step: &Step<'_>| {
            matches!(
                (step, &derived.node),
                (Step::Index(_), Node::Ec(_)) | (Step::Label(_), Node::Sym(_))
            )
        };
        if !steps.iter().all(suits) {
            return Err(Status::WrongLength);
        }
        let last = steps.len().saturating_sub(1);
        for (n, step) in steps.iter().enumerate() {
            let fingerprint = for_xpub && n == last;
            let depth = derived.depth.saturating_add(1);
            derived = match (&derived.node, step) {
                (Node::Ec(parent), &Step::Index(i)) => {
                    let (node, parent_fingerprint) = if fingerprint {
                        parent.child_with_fingerprint(i).map_err(derivation_error)?
                    } else {
                        (parent.child(i).map_err(derivation_error)?, [0; 4])
                    };
                    Derived {
                        node: Node::Ec(node),
                        depth,
                        parent_fingerprint,
                        child_number: i.to_be_bytes(),
                    }
                }
                (Node::Sym(parent), Step::Label(label)) => Derived {
                    parent_fingerprint: if fingerprint { parent.fingerprint() } else { [0; 4] },
                    node: Node::Sym(parent.child(label)),
                    // Upstream leaves the child number zero for labels.
                    child_number: [0; 4],
                    depth,
                },
                _ => return Err(Status::WrongLength),
            };
        }
        Ok(derived)
    }

    /// Drops the kept node when the command can change who is authenticated (module documentation).
    pub(crate) fn hd_forget_on(&mut self, ins: u8) {
        if matches!(ins, 0x20 | 0x24 | 0x2C | 0x50) {
            self.session.hd = None;
        }
    }

    /// COMPUTE SIGNATURE P2 A0 (`80 68 xx A0 <hash>`): ECDSA with the kept node, DER `SEQUENCE {r,
    /// s}` as every ECDSA signature of the card. P1 is ignored (upstream needs a key there and
    /// pypicohsm sends 00). No kept node, or a SLIP-21 one → 6985; a hash that is empty or longer
    /// than 64 bytes → 6700.
    pub(crate) fn hd_signature(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        let node = self.session.hd.take();
        if !self.session.user_authenticated {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        let Some(Node::Ec(node)) = node else {
            return Err(Status::ConditionsNotSatisfied);
        };
        if cmd.data.is_empty() || cmd.data.len() > 64 {
            return Err(Status::WrongLength);
        }
        let key = node.private_key().map_err(derivation_error)?;
        let sig = key
            .ecdsa_sign_prehash(cmd.data, self.drbg()?)
            .map_err(|_| Status::ExecutionError)?;
        reply.extend(&sig)?;
        Ok(())
    }

    /// The HD cipher of CIPHER SYMMETRIC P2 51/52 (OID `2B 06 01 04 01 83 A8 78 05 8D 6B`) with the
    /// kept SLIP-21 node: AES-256-CBC without padding, key `HMAC-SHA512(node key, 83)[0..32]`, IV
    /// `82` (16 bytes) or, when `82` is absent or empty, bytes 32..48 of the same HMAC. upstream's
    /// host library appends its confirmation flags (`E0`/`E1` ‖ `D0`/`D1`) to `83`: they are part of
    /// the HMAC input, nothing more. No kept node → 6985; a BIP32 / SLIP-10 node → 6A80; data not
    /// a multiple of 16, an IV that is not 16 bytes → 6700.
    pub(crate) fn hd_cipher(
        &mut self,
        dir: Direction,
        data: &[u8],
        iv: Option<&[u8]>,
        aad: Option<&[u8]>,
        reply: &mut Reply<'_>,
    ) -> Result<(), Status> {
        let node = self.session.hd.take();
        if !self.session.user_authenticated {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        let node = match node {
            Some(Node::Sym(n)) => n,
            Some(Node::Ec(_)) => return Err(Status::IncorrectData),
            None => return Err(Status::ConditionsNotSatisfied),
        };
        let secret = Zeroizing::new(sym::hmac(sym::Md::Sha512, node.key(), aad.unwrap_or_default()));
        let (key, rest) = secret.split_at_checked(32).ok_or(Status::ExecutionError)?;
        let iv = match iv {
            Some(iv) if !iv.is_empty() => iv,
            _ => rest.get(..sym::BLOCK).ok_or(Status::ExecutionError)?,
        };
        let out = sym::aes(Mode::Cbc, dir, key, iv, &[], data).map_err(|_| Status::WrongLength)?;
        if out.len() > reply.remaining() {
            return Err(Status::WrongLength);
        }
        reply.extend(&out)?;
        Ok(())
    }
}

/// The xpub body of a derived node (module documentation).
fn xpub(d: &Derived) -> Result<Vec<u8>, Status> {
    let mut v = Vec::with_capacity(78);
    v.extend_from_slice(&XPUB_VERSION);
    v.push(d.depth);
    v.extend_from_slice(&d.parent_fingerprint);
    v.extend_from_slice(&d.child_number);
    match &d.node {
        Node::Ec(n) => {
            v.extend_from_slice(n.chain());
            v.extend_from_slice(&n.public_key().map_err(derivation_error)?);
        }
        Node::Sym(n) => {
            v.extend_from_slice(&hd::sha256d(n.chain()));
            v.extend_from_slice(&hd::sha256d(n.key()));
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let h = |s: &str| hex::decode(s.replace(' ', "")).unwrap();
        let data = h("020103 020480000000 020400000001");
        let (slot, steps) = parse_path(&data).unwrap();
        assert_eq!((slot, steps.len()), (3, 2));
        assert!(matches!(steps[0], Step::Index(0x8000_0000)));
        let data = h("020107 0403414243 0400");
        let (_, steps) = parse_path(&data).unwrap();
        assert!(matches!(steps[0], Step::Label(b"ABC")));
        assert!(matches!(steps[1], Step::Label(b"")));
        for bad in [
            "",
            "0200",
            "02020001",
            "040100",
            "020100 0203000000",
            "020100 020500000000",
            "020100 0500",
            "020100 0204000000",
        ] {
            assert_eq!(parse_path(&h(bad)).err(), Some(Status::WrongLength), "{bad}");
        }
        let mut deep = h("020100");
        for _ in 0..MAX_DEPTH {
            deep.extend_from_slice(&[0x02, 0x04, 0, 0, 0, 1]);
        }
        assert_eq!(parse_path(&deep).map(|(_, s)| s.len()).ok(), Some(MAX_DEPTH));
        deep.extend_from_slice(&[0x02, 0x04, 0, 0, 0, 1]);
        assert_eq!(parse_path(&deep).err(), Some(Status::WrongLength));
    }
}
