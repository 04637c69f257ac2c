//! Builds the eBPF object from `learner-ebpf` (with the nightly toolchain and bpf-linker) into
//! OUT_DIR, where `include_bytes_aligned!` picks it up.
use anyhow::{Context as _, anyhow};

fn main() -> anyhow::Result<()> {
    // For `learner --version`: which build this is (the static musl one runs on any glibc).
    let target = std::env::var("TARGET").context("TARGET")?;
    println!("cargo:rustc-env=LEARNER_TARGET={target}");
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?;
    let ebpf_dir = std::path::Path::new(&manifest_dir)
        .parent()
        .ok_or_else(|| anyhow!("learner has no parent directory"))?
        .join("learner-ebpf");
    let ebpf_dir = ebpf_dir
        .to_str()
        .ok_or_else(|| anyhow!("non-UTF-8 path {}", ebpf_dir.display()))?;
    let package = aya_build::Package {
        name: "learner-ebpf",
        root_dir: ebpf_dir,
        ..Default::default()
    };
    aya_build::build_ebpf([package], aya_build::Toolchain::default())
}
