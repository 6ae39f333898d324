//! An arbitrary flash image mounted by hsm-store, then operations checked against a model; see
//! `hsm_fuzz::store` for the input format and the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hsm_fuzz::store::run(data));
