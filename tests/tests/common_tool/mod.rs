//! The `pico-hsm-tool` binary as the end-to-end tests run it (shared by the tool_* tests).
#![allow(dead_code)]

use hsm_e2e::{Env, Output, USER_PIN, path_str};
use serde_json::Value;

pub const TOOL: &str = env!("CARGO_BIN_EXE_e2e-hsm-tool");

/// `pico-hsm-tool ARGS`.
pub fn tool(env: &Env, args: &[&str]) -> Output {
    env.run(TOOL, args)
}

/// `pico-hsm-tool --pin-file PIN ARGS`.
pub fn tool_pin(env: &Env, args: &[&str]) -> Output {
    let pin = path_str(&env.write_file("pin.txt", format!("{USER_PIN}\n").as_bytes()));
    let mut full = vec!["--pin-file", pin.as_str()];
    full.extend_from_slice(args);
    tool(env, &full)
}

/// The command succeeded and printed JSON.
#[track_caller]
pub fn json(out: Output) -> Value {
    let out = out.ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

/// The exit status is 1 (an error, not a bad command line) and the message names `needle`.
#[track_caller]
pub fn refused(out: Output, needle: &str) -> Output {
    let out = out.failed().expect(needle);
    assert_eq!(out.status.and_then(|s| s.code()), Some(1), "{out}");
    out
}
