//! `aws-exec-server`, the binary that holds the service, and how `aws-exec` hands a
//! command over to it: by replacing itself (exec) with the one installed beside it, or
//! else the one on PATH, with the same arguments.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// The service's binary: `serve`, `auth`, the service's own commands and Lambda mode.
pub const SERVER_BIN: &str = "aws-exec-server";

/// Whether this process was started by Lambda, which sets `AWS_LAMBDA_RUNTIME_API`: it then
/// serves Lambda events instead of reading a command line.
pub fn lambda_mode() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// Becomes `aws-exec-server` with this process's arguments; returns only if that failed.
pub fn become_server() -> anyhow::Error {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|me| Some(me.parent()?.join(SERVER_BIN)))
        .filter(|path| path.is_file());
    let program = beside.unwrap_or_else(|| PathBuf::from(SERVER_BIN));
    let error = std::process::Command::new(&program)
        // Its help and errors then name the command that was typed.
        .arg0("aws-exec")
        .args(std::env::args_os().skip(1))
        .exec();
    // The static build hands over whatever it does not know, a mistyped command too, so
    // the message names the command: `aws-exec --help` lists the command line's own.
    let command = std::env::args().nth(1).unwrap_or_default();
    anyhow::anyhow!(
        "`{command}` is not a command of aws-exec itself, and {} cannot start: {error} \
         (it is built and installed with aws-exec: `cargo install --path crates/cli` \
         installs both)",
        program.display()
    )
}
