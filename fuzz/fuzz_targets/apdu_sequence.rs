//! A sequence of command APDUs against a SmartCard-HSM card over the RAM platform; see
//! `hsm_fuzz::seq` for the input format and `hsm_fuzz::card` for the invariants.
#![no_main]

use libfuzzer_sys::{fuzz_crossover, fuzz_mutator, fuzz_target};

fuzz_target!(|data: &[u8]| hsm_fuzz::card::run(data));

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    hsm_fuzz::seq::mutate(data, size, max_size, seed, &mut |d, s, m| {
        libfuzzer_sys::fuzzer_mutate(d, s, m)
    })
});

fuzz_crossover!(|data1: &[u8], data2: &[u8], out: &mut [u8], seed: u32| {
    hsm_fuzz::seq::crossover(data1, data2, out, seed)
});
