//! The command line's static musl build, as the README's quickest install makes it
//! (`--no-default-features`: no backend, no AWS SDK), built on first use into the same
//! target directory as the default one, for the tests and benchmarks that run both.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The musl target of this machine's architecture.
pub fn target() -> String {
    format!("{}-unknown-linux-musl", std::env::consts::ARCH)
}

/// Builds (or finds up to date) the static `aws-exec` beside `default_cli`, the default
/// build's binary (`CARGO_BIN_EXE_aws-exec`), in the same profile, and answers its path.
/// Panics, saying what to install, where the musl target or its C compiler is missing.
pub fn build(default_cli: &Path) -> PathBuf {
    let profile_dir = default_cli
        .parent()
        .expect("a binary in a profile directory");
    let target_dir = profile_dir
        .parent()
        .expect("a profile in a target directory");
    let release = profile_dir.file_name().is_some_and(|p| p == "release");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let target = target();
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--quiet", "-p", "aws-exec", "--bin", "aws-exec"])
        .args(["--no-default-features", "--target", &target])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir);
    if release {
        cargo.arg("--release");
    }
    let out = cargo.output().expect("running cargo");
    assert!(
        out.status.success(),
        "building the static command line failed (bin/setup.sh adds the {target} target \
         and musl-tools):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let profile = if release { "release" } else { "debug" };
    target_dir.join(target).join(profile).join("aws-exec")
}
