//! Links the unwinder into both binaries on Linux with glibc, so that neither loads
//! `libgcc_s.so` at start: that library's constructor probes the processor with `cpuid`,
//! which in a virtual machine traps to the host (about 0.1 ms of each start here, a tenth
//! of `aws-exec -V`).
//!
//! Rust's standard library asks the linker for `-lgcc_s`. A linker script of that name in
//! this package's search path, which the linker reads before the system's directories,
//! answers with gcc's static unwinder (`libgcc_eh.a`, what `gcc -static-libgcc` links).
//! Only when building for the machine the build runs on, with a C compiler that has that
//! archive; otherwise (cross builds, musl, clang alone) nothing changes.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let var = |name| std::env::var(name).unwrap_or_default();
    if var("TARGET") != var("HOST") || !var("TARGET").ends_with("-linux-gnu") {
        return;
    }
    let Some(unwinder) = static_unwinder() else {
        return;
    };
    let dir = PathBuf::from(var("OUT_DIR")).join("unwinder");
    let script = format!("INPUT({})\n", unwinder.display());
    if std::fs::create_dir_all(&dir).is_ok()
        && std::fs::write(dir.join("libgcc_s.so"), script).is_ok()
    {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
}

/// Where the C compiler keeps `libgcc_eh.a`, if it has one: it answers the bare name when
/// it does not.
fn static_unwinder() -> Option<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = std::process::Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (path.is_absolute() && path.is_file()).then_some(path)
}
