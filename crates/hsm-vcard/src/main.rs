//! `pico-hsm-vcard`: see `--help` and `docs/vcard.md`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    hsm_vcard::cli::main()
}
