//! The harnesses of the Pico HSM fuzz targets: input formats, the code that drives each crate, and
//! the invariants checked after every input. Three users share them:
//!
//! * the cargo-fuzz targets in `fuzz/fuzz_targets/` (own workspace, linked with libFuzzer; run with
//!   `cargo xtask fuzz`),
//! * this crate's test `tests/replay.rs`, which runs every committed seed (`fuzz/seeds/<target>/`) and
//!   regression input (`fuzz/regressions/<target>/`) through the same code in `cargo xtask test`,
//! * the seed generator (`examples/gen_seeds.rs`).
//!
//! Nothing here links libFuzzer.

pub mod apdus;
pub mod card;
pub mod ccid;
pub mod parse;
pub mod rng;
pub mod seq;
/// The host side of secure messaging, shared with the in-process and end-to-end tests.
#[path = "../../../tests/src/sm_client.rs"]
pub mod sm_client;
pub mod store;

/// A harness: runs one input, panics when an invariant fails.
pub type Harness = fn(&[u8]);

/// The fuzz targets by name, with the harness each runs.
pub const TARGETS: [(&str, Harness); 4] = [
    ("apdu_sequence", card::run),
    ("store_image", store::run),
    ("apdu_parse", parse::run),
    ("ccid_stream", ccid::run),
];
