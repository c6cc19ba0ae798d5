//! Chooses the memory layout (`memory.x`, included by cortex-m-rt's `link.x`) for the target
//! and tells the code which part it is laid out for (for the SysTick clock).
use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    let part = if target.starts_with("thumbv6m") {
        "stm32g0b1"
    } else if target.starts_with("thumbv7em") {
        "nrf52840"
    } else {
        // A host `cargo check` without --target: nothing to link, any layout will do.
        "nrf52840"
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let src = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"))
        .join("memory")
        .join(format!("{part}.x"));
    fs::copy(&src, out.join("memory.x")).expect("copy memory.x");
    println!("cargo::rustc-link-search={}", out.display());
    println!("cargo::rerun-if-changed={}", src.display());
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(part, values(\"nrf52840\", \"stm32g0b1\"))");
    println!("cargo::rustc-cfg=part=\"{part}\"");
}
