//! Picks the memory layout of the chip and passes the linker scripts.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let rp2040 = env::var_os("CARGO_FEATURE_RP2040").is_some();
    let rp235x = env::var_os("CARGO_FEATURE_RP235X").is_some();
    let memory = match (rp2040, rp235x) {
        (true, false) => "memory-rp2040.x",
        (false, true) => "memory-rp235x.x",
        _ => panic!("enable exactly one of the features rp2040 (Pico) and rp235x (Pico 2)"),
    };
    fs::copy(memory, out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={memory}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    if rp2040 {
        // The second-stage bootloader section (boot2) of embassy-rp.
        println!("cargo:rustc-link-arg-bins=-Tlink-rp.x");
    }
}
