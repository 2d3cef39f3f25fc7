//! What `--put` sends: one file, or every file under a directory, each with the path it
//! takes in the job's directory and whether it is executable here (it is there too).
//! The walk is bounded by what one request may carry.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use aws_exec_protocol::limits::MAX_INPUTS;

/// Directories deeper than this under a `--put` directory are refused.
const MAX_DEPTH: usize = 32;

/// One file to send.
#[derive(Debug, PartialEq, Eq)]
pub struct PutFile {
    pub local: PathBuf,
    /// Where it goes, relative to the job's directory.
    pub path: String,
    pub executable: bool,
}

/// The files `--put LOCAL:PATH` sends: LOCAL itself, or those under it (links followed to
/// files, not to directories), in name order.
pub fn files(local: &Path, path: &str) -> anyhow::Result<Vec<PutFile>> {
    let meta = std::fs::metadata(local)?;
    if !meta.is_dir() {
        return Ok(vec![PutFile {
            local: local.to_owned(),
            path: path.to_owned(),
            executable: is_executable(&meta),
        }]);
    }
    let mut found = Vec::new();
    let mut dirs = vec![(local.to_owned(), path.to_owned(), 0)];
    while let Some((dir, at, depth)) = dirs.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries.into_iter().rev() {
            let local = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                anyhow::bail!(
                    "{}: a name that is not UTF-8 cannot be sent",
                    local.display()
                );
            };
            let path = format!("{at}/{name}");
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if depth + 1 >= MAX_DEPTH {
                    anyhow::bail!("{}: deeper than {MAX_DEPTH} directories", local.display());
                }
                dirs.push((local, path, depth + 1));
                continue;
            }
            // A link is sent as what it points at, when that is a file.
            let Ok(meta) = std::fs::metadata(&local) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            if found.len() == MAX_INPUTS {
                anyhow::bail!(
                    "{} holds more than {MAX_INPUTS} files, the most one job takes: \
                     send an archive instead",
                    dir.display()
                );
            }
            found.push(PutFile {
                local,
                path,
                executable: is_executable(&meta),
            });
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

fn is_executable(meta: &std::fs::Metadata) -> bool {
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_sends_its_files_with_their_modes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("proj");
        std::fs::create_dir_all(root.join("bin/deep")).unwrap();
        std::fs::write(root.join("README"), "r").unwrap();
        std::fs::write(root.join("bin/run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            root.join("bin/run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(root.join("bin/deep/x"), "x").unwrap();
        std::os::unix::fs::symlink(&root, root.join("bin/loop")).unwrap();
        let found = files(&root, "p").unwrap();
        let seen: Vec<_> = found
            .iter()
            .map(|f| (f.path.as_str(), f.executable))
            .collect();
        assert_eq!(
            seen,
            [
                ("p/README", false),
                ("p/bin/deep/x", false),
                ("p/bin/run.sh", true)
            ],
            "a link to a directory is not followed"
        );
        let one = files(&root.join("bin/run.sh"), "run.sh").unwrap();
        assert!(one[0].executable);
    }

    #[test]
    fn more_files_than_a_job_takes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..=MAX_INPUTS {
            std::fs::write(dir.path().join(format!("f{i}")), "").unwrap();
        }
        let err = files(dir.path(), "d").unwrap_err().to_string();
        assert!(err.contains("send an archive"), "{err}");
    }
}
