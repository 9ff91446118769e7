//! Records the profile and RUSTFLAGS this crate is built with, so `loadbench hash-ceiling`
//! can show that it was built like the server it is compared with.

fn main() {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    println!("cargo:rustc-env=LOADBENCH_PROFILE={}", var("PROFILE"));
    println!("cargo:rustc-env=LOADBENCH_OPT_LEVEL={}", var("OPT_LEVEL"));
    let flags = var("CARGO_ENCODED_RUSTFLAGS").replace('\u{1f}', " ");
    println!("cargo:rustc-env=LOADBENCH_RUSTFLAGS={flags}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
}
