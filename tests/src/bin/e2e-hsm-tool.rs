//! `pico-hsm-tool` built as part of this package, so the end-to-end tests (`tests/tool_backup.rs`) run
//! the current code: integration tests cannot name another package's binary. The same program:
//! `main.rs` of `hsm-tool` is this one line too.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    hsm_tool::main()
}
