//! Shared code of the Pico HSM fuzz targets (`fuzz_targets/`) and of the seed generator
//! (`examples/gen_seeds.rs`). Nothing here links libFuzzer, so the generator builds as a normal binary.

pub mod apdus;
pub mod card;
pub mod ccid;
pub mod parse;
pub mod rng;
pub mod seq;
pub mod store;
