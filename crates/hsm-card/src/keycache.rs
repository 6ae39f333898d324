//! A small RAM cache of unsealed, parsed private keys, so that a key used again does not cost an
//! unsealing, a parse and (RSA) the CRT precomputation at every operation, and RSA keys keep their
//! blinding pair (`hsm_crypto::asym::rsa`) between operations.
//!
//! * Keyed by slot **and** by the SHA-256 of the sealed record as it is in flash: a key replaced by
//!   any means (generation, unwrap, derivation, a restore, a write behind the card's back) has a
//!   new record, so it can never meet the entry of its predecessor.
//! * It only saves work, never a check: the key-use gate (`App::load_key_for`: PIN state, key
//!   present, use counter, algorithm list) runs in full before the cache is asked, and the use
//!   counter is spent as before.
//! * Volatile: it lives in the session, so power-off, reset and SELECT of the application drop it;
//!   every command that may change keys, PINs or the session empties it first (`App::process`
//!   keeps it only across the commands that use or read keys); deleting or storing a key forgets
//!   its slot. Never written anywhere.
//! * Bounded by a budget of entries and estimated bytes (least recently used entries leave first);
//!   entries are dropped with their keys, whose secrets zeroize themselves.

use alloc::vec::Vec;

use crate::keys::PrivateKey;

/// Entries kept at most, by default.
pub const DEFAULT_ENTRIES: usize = 8;
/// Estimated bytes kept at most, by default: three RSA-4096 keys, or many small ones.
pub const DEFAULT_BYTES: usize = 32 * 1024;

/// How much the cache may keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Entries at most (0 turns the cache off).
    pub entries: usize,
    /// Estimated heap bytes of the parsed keys at most.
    pub bytes: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            entries: DEFAULT_ENTRIES,
            bytes: DEFAULT_BYTES,
        }
    }
}

struct Entry {
    id: u8,
    fingerprint: [u8; 32],
    key: PrivateKey,
    bytes: usize,
    last_used: u32,
}

/// The cache; see the module docs.
#[derive(Default)]
pub(crate) struct KeyCache {
    entries: Vec<Entry>,
    clock: u32,
}

/// Estimated heap bytes of a parsed key: RSA keeps ~20 modulus-sized numbers (the `rsa` key with
/// its CRT values, our Montgomery parameters and exponents, the blinding pair).
fn cost(key: &PrivateKey) -> usize {
    64 + match key {
        PrivateKey::Ec(k) => k.curve().private_key_len() * 2,
        #[cfg(feature = "rsa")]
        PrivateKey::Rsa(k) => 20 * k.size(),
        PrivateKey::Secret(s) => s.len(),
    }
}

impl KeyCache {
    /// Takes the entry of slot `id` if its fingerprint matches; an entry of that slot with another
    /// fingerprint is stale and dropped.
    pub fn take(&mut self, id: u8, fingerprint: &[u8; 32]) -> Option<PrivateKey> {
        let pos = self.entries.iter().position(|e| e.id == id)?;
        let entry = self.entries.swap_remove(pos);
        hsm_crypto::ct_eq(&entry.fingerprint, fingerprint).then_some(entry.key)
    }

    /// Keeps `key` for slot `id` under `budget`, dropping least recently used entries to make
    /// room. A key larger than the whole budget is not kept.
    pub fn put(&mut self, id: u8, fingerprint: [u8; 32], key: PrivateKey, budget: Budget) {
        self.forget(id);
        let bytes = cost(&key);
        if budget.entries == 0 || bytes > budget.bytes {
            return;
        }
        while self.entries.len() >= budget.entries || self.bytes() + bytes > budget.bytes {
            let Some(oldest) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i)
            else {
                break;
            };
            self.entries.swap_remove(oldest);
        }
        self.clock = self.clock.wrapping_add(1);
        self.entries.push(Entry {
            id,
            fingerprint,
            key,
            bytes,
            last_used: self.clock,
        });
    }

    /// Drops the entry of slot `id`, if any.
    pub fn forget(&mut self, id: u8) {
        self.entries.retain(|e| e.id != id);
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Entries held (the testing probe's; nothing else needs it).
    #[cfg(any(test, feature = "testing"))]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Estimated bytes held.
    pub fn bytes(&self) -> usize {
        self.entries.iter().map(|e| e.bytes).sum()
    }
}
