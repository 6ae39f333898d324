//! `pico-hsm-vcard` built as part of this package, so the end-to-end tests run the current code without
//! a second build of `hsm-vcard` (one with other unified features would replace the workspace's binary).
//! The same program: `main.rs` of `hsm-vcard` is this one line too.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    hsm_vcard::cli::main()
}
