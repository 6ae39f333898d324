//! Shared helpers for the store tests: a seeded RNG, a model, random operations.
#![allow(dead_code)]

use std::collections::BTreeMap;

use embedded_storage::nor_flash::NorFlash;
use hsm_store::{Error, Store};

pub type Model = BTreeMap<u16, Vec<u8>>;

/// splitmix64: deterministic, seedable, no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// Random content of random length below `max`.
    pub fn bytes_below(&mut self, max: u64) -> Vec<u8> {
        let n = self.below(max) as usize;
        self.bytes(n)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let tag = self.next();
        // Cheap but position- and version-dependent content, with runs of FF and 00 now and then.
        (0..n)
            .map(|i| match (tag >> 8) % 4 {
                0 => 0xFF,
                1 => (i as u64 ^ tag) as u8,
                _ => ((i as u64).wrapping_mul(tag | 1) >> 7) as u8,
            })
            .collect()
    }
}

#[derive(Clone, Debug)]
pub enum Op {
    Write(u16, Vec<u8>),
    Delete(u16),
    /// Keep the files whose fid is in the list.
    Retain(Vec<u16>),
}

impl Op {
    pub fn apply(&self, model: &mut Model) {
        match self {
            Op::Write(fid, data) => {
                model.insert(*fid, data.clone());
            }
            Op::Delete(fid) => {
                model.remove(fid);
            }
            Op::Retain(keep) => model.retain(|f, _| keep.contains(f)),
        }
    }

    pub fn run<F: NorFlash>(&self, store: &mut Store<F>) -> Result<(), Error> {
        match self {
            Op::Write(fid, data) => store.write(*fid, data),
            Op::Delete(fid) => store.delete(*fid).map(|_| ()),
            Op::Retain(keep) => store.retain(|f| keep.contains(&f)),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Op::Write(fid, data) => format!("write({fid:#x}, {} bytes)", data.len()),
            Op::Delete(fid) => format!("delete({fid:#x})"),
            Op::Retain(keep) => format!("retain({keep:x?})"),
        }
    }
}

/// A file size: small, medium, around record and sector boundaries, or large (up to `max`).
pub fn size(rng: &mut Rng, max: usize, boundaries: &[usize]) -> usize {
    let s = match rng.below(10) {
        0..=2 => rng.below(64) as usize,
        3..=4 => rng.below(2000) as usize,
        5..=7 => {
            let b = boundaries[rng.below(boundaries.len() as u64) as usize];
            let k = 1 + rng.below(4) as usize;
            (b * k + rng.below(64) as usize).saturating_sub(32)
        }
        _ => rng.below(max as u64 + 1) as usize,
    };
    s.min(max)
}

pub fn random_op(rng: &mut Rng, model: &Model, fids: u16, max: usize, boundaries: &[usize]) -> Op {
    match rng.below(20) {
        0..=13 => Op::Write(rng.below(u64::from(fids)) as u16, {
            let n = size(rng, max, boundaries);
            rng.bytes(n)
        }),
        14..=17 => Op::Delete(rng.below(u64::from(fids)) as u16),
        _ => {
            let keep: Vec<u16> = model.keys().copied().filter(|_| rng.below(3) == 0).collect();
            Op::Retain(keep)
        }
    }
}

/// Reads the whole store content.
pub fn state<F: NorFlash>(store: &mut Store<F>) -> Result<Model, Error> {
    let fids: Vec<u16> = store.fids().collect();
    let mut m = Model::new();
    for fid in fids {
        m.insert(fid, store.read_all(fid)?);
    }
    Ok(m)
}

pub fn summary(m: &Model) -> String {
    let parts: Vec<String> = m.iter().map(|(f, d)| format!("{f:#x}:{}", d.len())).collect();
    parts.join(" ")
}
