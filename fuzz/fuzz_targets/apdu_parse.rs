//! `CommandView::parse`, the BER-TLV reader/writer and `ApduLayer::process` (against a reference
//! model) over arbitrary bytes; see `hsm_fuzz::parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hsm_fuzz::parse::run(data));
