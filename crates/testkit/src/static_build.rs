//! The static musl builds: the command line as the README's quickest install makes it
//! (`--no-default-features`: no backend, no AWS SDK), and the service as the Lambda zip
//! holds it (`--features aws`). Built on first use into the target directory and profile
//! of the default build beside them, for the tests and benchmarks that run both.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The musl target of this machine's architecture.
pub fn target() -> String {
    format!("{}-unknown-linux-musl", std::env::consts::ARCH)
}

/// The static `aws-exec`, beside `default_cli` (`CARGO_BIN_EXE_aws-exec`).
pub fn cli(default_cli: &Path) -> PathBuf {
    build(default_cli, "aws-exec", &["--no-default-features"])
}

/// The static `aws-exec-server` with the AWS parts, beside `default_server`
/// (`CARGO_BIN_EXE_aws-exec-server`).
pub fn server(default_server: &Path) -> PathBuf {
    build(default_server, "aws-exec-server", &["--features", "aws"])
}

/// Builds (or finds up to date) `bin` for the musl target in the profile `beside` was built
/// with, and answers its path. Panics, saying what to install, where the musl target or
/// its C compiler is missing.
fn build(beside: &Path, bin: &str, features: &[&str]) -> PathBuf {
    let profile_dir = beside.parent().expect("a binary in a profile directory");
    let target_dir = profile_dir
        .parent()
        .expect("a profile in a target directory");
    let dir_name = profile_dir
        .file_name()
        .and_then(|p| p.to_str())
        .expect("a profile directory named in UTF-8");
    // Cargo puts the `dev` profile in `debug`; every other one in a directory of its name.
    let profile = if dir_name == "debug" { "dev" } else { dir_name };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let target = target();
    let out = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "aws-exec", "--bin", bin])
        .args(features)
        .args(["--target", &target, "--profile", profile])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .output()
        .expect("running cargo");
    assert!(
        out.status.success(),
        "building the static {bin} failed (bin/setup.sh adds the {target} target and \
         musl-tools):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target_dir.join(target).join(dir_name).join(bin)
}
