//! The USB CCID message core over an arbitrary stream of bulk-OUT packets, card answers, time
//! extensions, aborts, bus resets and partial reads; see `hsm_fuzz::ccid`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hsm_fuzz::ccid::run(data));
