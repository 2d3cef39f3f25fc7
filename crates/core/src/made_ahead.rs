//! Names of what a service makes ahead of need (a job's directory, the local store's empty
//! files): `PREFIX-PID-RANDOM`, unguessable, and telling which process made it, so a start
//! removes what a killed service left and never what a live one still holds.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// A fresh name for something made ahead by this process.
pub fn name(prefix: &str) -> String {
    format!(
        "{prefix}{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    )
}

/// The entries of `dir` named with `prefix` by a process that is no longer running.
pub fn left_by_dead_services(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let maker = name
                .to_str()
                .and_then(|n| n.strip_prefix(prefix))
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<i32>().ok());
            maker.is_some_and(|pid| kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH))
        })
        .map(|entry| entry.path())
        .collect()
}

/// Renames what was made ahead at `from` to `to`, which must not exist (`AlreadyExists`
/// if it does, `NotFound` if its directory does not).
pub fn move_into_place(from: &Path, to: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE).map_err(Into::into)
}

/// Asks ext4 to place `dir`'s subdirectories as it places top-level ones: each in a block
/// group with more free inodes than most and few directories (`chattr +T`). Elsewhere the
/// hint is refused, harmlessly.
pub fn spread_subdirectories(dir: &Path) {
    use rustix::fs::{ioctl_getflags, ioctl_setflags, IFlags};
    if let Ok(dir) = std::fs::File::open(dir) {
        if let Ok(flags) = ioctl_getflags(&dir) {
            let _ = ioctl_setflags(&dir, flags | IFlags::TOPDIR);
        }
    }
}
