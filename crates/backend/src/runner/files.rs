//! A job's files: its inputs placed in its directory before it starts, and what it left
//! under `$AWS_EXEC_ARTIFACTS` stored beside its log after it ends (before `exit` and
//! `size`, so whoever has the exit code can fetch them).

use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use aws_exec_protocol::files::is_safe_relative_path;
use aws_exec_protocol::keys::JobKeys;
use aws_exec_protocol::limits::{MAX_ARTIFACTS, MAX_ARTIFACT_BYTES};
use aws_exec_protocol::{Artifact, ArtifactList, SecretName};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::job::Job;
use crate::log_sink::LogWriter;
use crate::runner::workspace::Workspace;
use crate::store::Store;
use crate::tree;

/// Places every input at its path under the job's directory, while that directory is
/// still the service's own (see [`Workspace::hand_over`]). Stops early if the job is
/// stopped. The error says which input failed, for the job's log.
pub async fn place_inputs(
    store: &dyn Store,
    job: &Job,
    workspace: &Workspace,
    stop: &CancellationToken,
) -> Result<(), String> {
    for (path, key) in job.inputs.iter() {
        let dest = workspace.dir.join(path);
        let fail = |why: String| format!("input {path}: {why}");
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(e.to_string()))?;
        }
        tokio::select! {
            placed = store.download(key, &dest) => match placed {
                Ok(true) => {}
                Ok(false) => return Err(fail("it is no longer stored".into())),
                Err(e) => return Err(fail(e.to_string())),
            },
            _ = stop.cancelled() => return Err(fail("stopped before the job started".into())),
        }
        if job.executable.contains(path) {
            executable(&dest).map_err(|e| fail(e.to_string()))?;
        }
    }
    Ok(())
}

/// Writes each of the job's secret files (0600, made new: nothing was there to follow),
/// before the job's user gets its directory.
pub fn place_secret_files(
    job: &Job,
    workspace: &Workspace,
    values: &[(SecretName, String)],
) -> Result<(), String> {
    use std::io::Write;
    for (path, name) in &job.secrets.files {
        let fail = |why: String| format!("secret file {path}: {why}");
        let value = values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| fail(format!("secret {name} was not read")))?;
        let dest = workspace.dir.join(path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(e.to_string()))?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&dest)
            .and_then(|mut f| f.write_all(value.as_bytes()))
            .map_err(|e| fail(e.to_string()))?;
    }
    Ok(())
}

/// Lets whoever may read the file at `path` run it too, as `chmod +x` does.
fn executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode();
    let runnable = mode | (mode & 0o444) >> 2;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(runnable))
}

/// Stores every regular file under `dir` at `jobs/NAME/UID/artifacts/PATH` and lists them in
/// `artifacts.json`. Symlinks, devices, names that are not UTF-8 and anything past the caps
/// are skipped with a line in the log; nothing here can keep the job from ending.
pub async fn keep_artifacts(
    store: &dyn Store,
    keys: &JobKeys,
    dir: &Path,
    owner: u32,
    log: &LogWriter,
    extra: Vec<(String, Bytes)>,
) {
    // The job owned the directory above `dir`: it may have put a link in its place (to
    // another user's files, or /proc/self of this service). Only the directory the
    // service made, still at its place, is read.
    let root = dir.to_owned();
    let genuine = std::fs::symlink_metadata(&root).is_ok_and(|m| m.is_dir())
        && root.canonicalize().is_ok_and(|real| real == root);
    if !genuine {
        log.note("$AWS_EXEC_ARTIFACTS was replaced; nothing kept");
        return;
    }
    // Most jobs leave nothing: that is seen here, without a trip to another thread.
    if extra.is_empty()
        && std::fs::read_dir(&root).is_ok_and(|mut entries| entries.next().is_none())
    {
        return;
    }
    let (found, mut notes) = {
        let root = root.clone();
        tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            let mut notes = Vec::new();
            walk(&root, &mut found, &mut notes);
            (found, notes)
        })
        .await
        .unwrap_or_default()
    };
    let mut kept = ArtifactList::default();
    let mut total = 0u64;
    for (rel, path) in found {
        if kept.artifacts.len() == MAX_ARTIFACTS {
            notes.push(format!(
                "more than {MAX_ARTIFACTS} files; the rest are not kept"
            ));
            break;
        }
        let Some(file) = open_inside(&root, &path, owner) else {
            notes.push(format!(
                "{rel}: skipped: not a regular file inside the directory"
            ));
            continue;
        };
        let size = match file.metadata() {
            Ok(m) => m.len(),
            Err(e) => {
                notes.push(format!("{rel}: skipped: {e}"));
                continue;
            }
        };
        if total + size > MAX_ARTIFACT_BYTES {
            notes.push(format!(
                "{rel}: not kept: artifacts may hold {MAX_ARTIFACT_BYTES} bytes in all"
            ));
            continue;
        }
        let stored = store
            .upload(&keys.artifact(&rel), tokio::fs::File::from_std(file))
            .await;
        if list_kept(&mut kept, &mut notes, rel, size, stored) {
            total += size;
        }
    }
    // What the service itself keeps beside them (a state that another run saved first).
    for (rel, body) in extra {
        let size = body.len() as u64;
        kept.artifacts.retain(|a| a.path != rel);
        let stored = store.put(&keys.artifact(&rel), body).await;
        list_kept(&mut kept, &mut notes, rel, size, stored);
    }
    for note in notes {
        log.note(format!("artifact {note}"));
    }
    if kept.artifacts.is_empty() {
        return;
    }
    let manifest = serde_json::to_vec(&kept).expect("artifacts serialize");
    if let Err(e) = store.put(&keys.artifacts_manifest(), manifest.into()).await {
        tracing::warn!(error = %e, "writing artifacts.json");
        log.note("the list of artifacts could not be stored");
    }
}

/// Lists an artifact once it is stored, or notes that it could not be; answers which.
fn list_kept(
    kept: &mut ArtifactList,
    notes: &mut Vec<String>,
    rel: String,
    size: u64,
    stored: Result<(), crate::store::StoreError>,
) -> bool {
    match stored {
        Ok(()) => {
            kept.artifacts.push(Artifact {
                path: rel,
                size,
                url: String::new(),
            });
            true
        }
        Err(e) => {
            tracing::warn!(path = rel, error = %e, "storing an artifact");
            notes.push(format!("{rel}: could not be stored"));
            false
        }
    }
}

/// How deep below `$AWS_EXEC_ARTIFACTS` files are looked for.
const MAX_ARTIFACT_DEPTH: usize = 32;

/// Regular files under `root`, as (path relative to it, full path), sorted; at most a
/// little past the caps, however many a job made and however deep ([`tree::list`]).
fn walk(root: &Path, found: &mut Vec<(String, PathBuf)>, notes: &mut Vec<String>) {
    const MAX_NOTES: usize = 100;
    let bounds = tree::Bounds {
        max_depth: MAX_ARTIFACT_DEPTH,
        max_entries: 2 * MAX_ARTIFACTS + MAX_NOTES,
    };
    let (listed, cut) = tree::list(root, bounds);
    for entry in listed {
        if found.len() > MAX_ARTIFACTS || notes.len() > MAX_NOTES {
            return;
        }
        let path = root.join(&entry.rel);
        let Some(rel) = entry.rel.to_str().filter(|r| is_safe_relative_path(r)) else {
            notes.push(format!(
                "{}: skipped: not a UTF-8 name",
                entry.rel.display()
            ));
            continue;
        };
        match entry.kind {
            tree::Kind::Dir => {}
            tree::Kind::File => found.push((rel.to_owned(), path)),
            tree::Kind::Symlink => notes.push(format!("{rel}: skipped: a symlink")),
            tree::Kind::Other => notes.push(format!("{rel}: skipped: not a regular file")),
        }
    }
    if cut && found.len() <= MAX_ARTIFACTS {
        notes.push(format!(
            "more files, or deeper than {MAX_ARTIFACT_DEPTH} directories, than are looked at; the rest are not kept"
        ));
    }
}

/// Opens `path` only if it is, at the moment of opening, a regular file of `owner` with one
/// name, whose real place is under `root`: no symlink at its end, none swapped in above it
/// since the walk, and no hard link to someone else's file (the service may run as root
/// while the directory belongs to the job).
pub(crate) fn open_inside(root: &Path, path: &Path, owner: u32) -> Option<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.nlink() != 1 || meta.uid() != owner {
        return None;
    }
    use std::os::fd::AsRawFd;
    let real = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
    real.starts_with(root).then_some(file)
}
