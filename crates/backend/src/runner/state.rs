//! State carried from one run of a schedule or trigger to the next: `$AWS_EXEC_STATE` is
//! filled before the run from the newest saved version, and packed after a run that exits
//! 0 into the next version. Versions are objects `.../state/NNNNNNNNNNNNNNNNNNNN` written
//! only if absent (a conditional write on S3), so of two overlapping runs that started from
//! one version the first to finish saves and the other learns it, losing nothing.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use aws_exec_protocol::files::is_safe_relative_path;
use aws_exec_protocol::limits::{MAX_STATE_BYTES, MAX_STATE_FILES};
use bytes::Bytes;

use crate::job::Job;
use crate::log_sink::LogWriter;
use crate::store::{Store, StoreError};
use crate::tree;

/// How deep below `$AWS_EXEC_STATE` files are looked for.
const MAX_STATE_DEPTH: usize = 32;

/// What saving a run's state came to.
#[derive(Debug)]
pub enum Saved {
    /// It is the new version.
    Stored(u64),
    /// Another run saved this version first; here is this run's archive, to keep apart.
    Conflict { version: u64, archive: Bytes },
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state is over its limits or holds what cannot be kept; the text says which.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The key of `version` under `prefix`.
pub fn version_key(prefix: &str, version: u64) -> String {
    format!("{prefix}{version:020}")
}

/// The newest version under `prefix` and its key (version 0 and `None` before the first).
pub async fn newest(store: &dyn Store, prefix: &str) -> Result<(u64, Option<String>), StoreError> {
    let newest = store
        .list(prefix)
        .await?
        .into_iter()
        .filter_map(|key| {
            let version = key.strip_prefix(prefix)?.parse::<u64>().ok()?;
            Some((version, key))
        })
        .max();
    Ok(match newest {
        Some((version, key)) => (version, Some(key)),
        None => (0, None),
    })
}

/// Makes `version + 1` an empty state (a reset), unless something else took that version
/// first; then drops the versions before it. Answers the version that is now the newest.
pub async fn reset(store: &dyn Store, prefix: &str) -> Result<u64, StoreError> {
    for _ in 0..5 {
        let (version, _) = newest(store, prefix).await?;
        if store
            .put_new(&version_key(prefix, version + 1), Bytes::new())
            .await?
        {
            prune(store, prefix, version + 1).await;
            return Ok(version + 1);
        }
    }
    Err(StoreError::Backend(format!(
        "{prefix}: saved again and again while being reset"
    )))
}

/// Deletes the versions before `current`: a run that started from one of them can no
/// longer save (its version is taken), so nothing reads them again.
async fn prune(store: &dyn Store, prefix: &str, current: u64) {
    let Ok(keys) = store.list(prefix).await else {
        return;
    };
    for key in keys {
        let old = key
            .strip_prefix(prefix)
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|v| v < current);
        if old {
            let _ = store.delete(&key).await;
        }
    }
}

/// Fills `dir` (made by the service, empty, the job not started) with the newest version,
/// each file and directory given to `owner` when jobs run as another user. Answers the
/// version it holds.
pub async fn restore(
    store: &dyn Store,
    prefix: &str,
    dir: &Path,
    owner: Option<(u32, u32)>,
) -> Result<u64, StateError> {
    let (version, key) = newest(store, prefix).await?;
    let Some(key) = key else {
        return Ok(0);
    };
    let archive = store
        .get(&key)
        .await?
        .ok_or_else(|| StateError::Refused(format!("version {version} went away")))?;
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || unpack(&archive, &dir, owner))
        .await
        .map_err(|e| StateError::Refused(e.to_string()))??;
    Ok(version)
}

/// Writes the regular files and directories of `archive` under `dir`. The archive was made
/// by [`pack`] from what a job left, so it is read as untrusted: paths stay inside, no
/// links or devices are made, sizes and counts are capped.
fn unpack(archive: &[u8], dir: &Path, owner: Option<(u32, u32)>) -> Result<(), StateError> {
    let bad = |why: String| StateError::Refused(format!("the saved state is unreadable: {why}"));
    let mut tar = tar::Archive::new(archive);
    let mut total = 0u64;
    let entries = tar.entries().map_err(|e| bad(e.to_string()))?;
    for (count, entry) in entries.enumerate() {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        if count >= MAX_STATE_FILES {
            return Err(bad(format!("more than {MAX_STATE_FILES} entries")));
        }
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let rel = path
            .to_str()
            .map(|p| p.trim_end_matches('/'))
            .filter(|p| is_safe_relative_path(p))
            .ok_or_else(|| bad(format!("{} is not a path inside it", path.display())))?
            .to_owned();
        let dest = dir.join(&rel);
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            make_dirs(dir, &rel, owner).map_err(|e| bad(format!("{rel}: {e}")))?;
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!("{rel} is not a file or directory")));
        }
        total += entry.size();
        if total > MAX_STATE_BYTES {
            return Err(bad(format!("more than {MAX_STATE_BYTES} bytes")));
        }
        if let Some((parent, _)) = rel.rsplit_once('/') {
            make_dirs(dir, parent, owner).map_err(|e| bad(format!("{rel}: {e}")))?;
        }
        let executable = entry.header().mode().is_ok_and(|m| m & 0o100 != 0);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if executable { 0o700 } else { 0o600 })
            .open(&dest)
            .map_err(|e| bad(format!("{rel}: {e}")))?;
        std::io::copy(&mut entry, &mut file).map_err(|e| bad(format!("{rel}: {e}")))?;
        file.flush().map_err(|e| bad(format!("{rel}: {e}")))?;
        give(&dest, owner).map_err(|e| bad(format!("{rel}: {e}")))?;
    }
    Ok(())
}

/// Makes `rel` and the directories above it under `dir`, each the job's user's.
fn make_dirs(dir: &Path, rel: &str, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    let mut at = dir.to_owned();
    for part in rel.split('/') {
        at.push(part);
        match std::fs::DirBuilder::new().mode(0o700).create(&at) {
            Ok(()) => give(&at, owner)?,
            // Only this unpacking made anything here: an existing entry is its directory.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if !std::fs::symlink_metadata(&at)?.is_dir() {
                    return Err(std::io::Error::other(
                        "a file stands where a directory goes",
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn give(path: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    match owner {
        Some((user, group)) => std::os::unix::fs::lchown(path, Some(user), Some(group)),
        None => Ok(()),
    }
}

/// Packs what the run left in `dir` and saves it as version `from + 1`.
pub async fn save(
    store: &dyn Store,
    prefix: &str,
    from: u64,
    dir: &Path,
    owner: u32,
) -> Result<Saved, StateError> {
    let root = dir.to_owned();
    let archive = tokio::task::spawn_blocking(move || pack(&root, owner))
        .await
        .map_err(|e| StateError::Refused(e.to_string()))??;
    let version = from + 1;
    let key = version_key(prefix, version);
    if store.put_new(&key, archive.clone()).await? {
        // A definition deleted (or its owner removed) while this run went on keeps no
        // state: a definition made later under its name starts empty.
        let definition = format!(
            "{}definition.json",
            prefix.strip_suffix("state/").unwrap_or(prefix)
        );
        if store.head(&definition).await?.is_none() {
            store.delete(&key).await?;
            return Err(StateError::Refused(
                "its schedule or trigger was deleted meanwhile".to_owned(),
            ));
        }
        prune(store, prefix, version).await;
        return Ok(Saved::Stored(version));
    }
    Ok(Saved::Conflict { version, archive })
}

/// A tar of the regular files and directories under `root`, read as the artifacts are:
/// the directory must still be the one the service made, a walk bounded in depth and
/// entries, each file opened without following links and only if it is the job's.
fn pack(root: &Path, owner: u32) -> Result<Bytes, StateError> {
    let refuse = StateError::Refused;
    let genuine = std::fs::symlink_metadata(root).is_ok_and(|m| m.is_dir())
        && root.canonicalize().is_ok_and(|real| real == root);
    if !genuine {
        return Err(refuse("$AWS_EXEC_STATE was replaced".to_owned()));
    }
    if let Err(e) = std::fs::read_dir(root) {
        return Err(refuse(format!("$AWS_EXEC_STATE cannot be read: {e}")));
    }
    let bounds = tree::Bounds {
        max_depth: MAX_STATE_DEPTH,
        max_entries: MAX_STATE_FILES + 1,
    };
    let (found, cut) = tree::list(root, bounds);
    if cut || found.len() > MAX_STATE_FILES {
        return Err(refuse(format!(
            "it holds more than {MAX_STATE_FILES} entries, or is deeper than {MAX_STATE_DEPTH} directories"
        )));
    }
    let mut tar = tar::Builder::new(Vec::new());
    let mut total = 0u64;
    for entry in found {
        let Some(rel) = entry.rel.to_str().filter(|r| is_safe_relative_path(r)) else {
            return Err(refuse(format!(
                "{} is not a UTF-8 name",
                entry.rel.display()
            )));
        };
        let mut header = tar::Header::new_gnu();
        match entry.kind {
            tree::Kind::Dir => {
                // A directory the service cannot read would be saved empty, its files lost.
                if let Err(e) = std::fs::read_dir(root.join(rel)) {
                    return Err(refuse(format!("{rel} cannot be read: {e}")));
                }
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o700);
                header.set_size(0);
                if let Ok(meta) = std::fs::symlink_metadata(root.join(rel)) {
                    header.set_mtime(file_time(&meta));
                }
                tar.append_data(&mut header, rel, std::io::empty())
                    .map_err(|e| refuse(e.to_string()))?;
            }
            tree::Kind::File => {
                let path = root.join(rel);
                let file = super::files::open_inside(root, &path, owner)
                    .ok_or_else(|| refuse(format!("{rel} is not a regular file of the job's")))?;
                let meta = file.metadata().map_err(|e| refuse(e.to_string()))?;
                total += meta.len();
                if total > MAX_STATE_BYTES {
                    return Err(refuse(format!(
                        "it holds more than {MAX_STATE_BYTES} bytes"
                    )));
                }
                use std::os::unix::fs::PermissionsExt;
                // Read whole first: an archive whose entry is shorter than its header says
                // would be read wrongly from there on.
                let mut content = Vec::with_capacity(meta.len() as usize);
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(file, meta.len()),
                    &mut content,
                )
                .map_err(|e| refuse(format!("{rel}: {e}")))?;
                if content.len() as u64 != meta.len() {
                    return Err(refuse(format!("{rel} changed while it was being saved")));
                }
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(meta.permissions().mode() & 0o700);
                header.set_size(meta.len());
                // Its time as the job left it: a restored file that says 1970 fools every
                // tool that compares times (make, rsync, find -newer).
                header.set_mtime(file_time(&meta));
                tar.append_data(&mut header, rel, &content[..])
                    .map_err(|e| refuse(format!("{rel}: {e}")))?;
            }
            tree::Kind::Symlink | tree::Kind::Other => {
                return Err(refuse(format!("{rel} is a link or a special file")));
            }
        }
    }
    let archive = tar.into_inner().map_err(|e| refuse(e.to_string()))?;
    Ok(Bytes::from(archive))
}

/// A file's modification time in whole seconds since the epoch (0 before it).
fn file_time(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    u64::try_from(meta.mtime()).unwrap_or(0)
}

/// A run's state, as the runner makes it before the command and saves it after.
impl super::Runner {
    /// Makes the job's `$AWS_EXEC_STATE` and fills it from its definition's newest state;
    /// answers that version, or the note saying why the job cannot run.
    pub(super) async fn restore_state(
        &self,
        job: &Job,
        prefix: &str,
        dir: &Path,
        user: Option<(u32, u32)>,
    ) -> Result<u64, String> {
        // The job event names where its state is; it must be its owner's definition's.
        let owned = ["schedules", "triggers"]
            .iter()
            .any(|kind| prefix.starts_with(&format!("{kind}/{}/", job.owner)));
        if !owned || !prefix.ends_with("/state/") || prefix.contains("..") {
            return Err("the job's state is not its owner's".to_owned());
        }
        // The service's own until it is moved into place; a leftover of a run that died
        // here is the service's too, and goes first.
        remove_staging(dir);
        if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(dir) {
            return Err(format!("cannot make $AWS_EXEC_STATE: {e}"));
        }
        restore(self.store.as_ref(), prefix, dir, user)
            .await
            .map_err(|e| match e {
                StateError::Refused(why) => format!(
                    "the saved state could not be restored ({why}); the job did not run: `aws-exec schedule state NAME --reset` starts afresh"
                ),
                StateError::Store(e) => {
                    tracing::error!(uid = %job.uid, error = %e, "reading the job's state");
                    "the saved state could not be read; the job did not run".to_owned()
                }
            })
    }

    /// Saves what the run left in `$AWS_EXEC_STATE` as the next version. When another run
    /// saved that version first, answers this run's archive to be kept as its artifact.
    pub(super) async fn save_state(
        &self,
        prefix: &str,
        version: u64,
        dir: &Path,
        user: Option<(u32, u32)>,
        log: &LogWriter,
    ) -> Option<(String, bytes::Bytes)> {
        let owner = super::users::owner_of(user);
        match save(self.store.as_ref(), prefix, version, dir, owner).await {
            Ok(Saved::Stored(_)) => None,
            Ok(Saved::Conflict { version, archive }) => {
                log.note(format!(
                    "another run saved the state first (version {version}); this run's state is kept as its artifact {STATE_ARTIFACT}"
                ));
                Some((STATE_ARTIFACT.to_owned(), archive))
            }
            Err(StateError::Refused(why)) => {
                log.note(format!(
                    "the state was not saved: {why}; the previous state is kept"
                ));
                None
            }
            Err(StateError::Store(e)) => {
                tracing::error!(error = %e, "saving a job's state");
                log.note("the state could not be saved; the previous state is kept");
                None
            }
        }
    }
}

/// Removes a state's staging directory, which only the service can reach.
pub(super) fn remove_staging(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(dir = %dir.display(), error = %e, "removing a state's staging directory");
        }
    }
}

/// Where a run's state goes when another run saved first.
const STATE_ARTIFACT: &str = "state/state.tar";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LocalStore;

    fn me() -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    #[tokio::test]
    async fn a_saved_state_comes_back_and_a_second_save_from_one_version_conflicts() {
        let data = tempfile::tempdir().unwrap();
        let store = LocalStore::open(data.path()).unwrap();
        let prefix = "schedules/alice/sync/state/";
        store
            .put("schedules/alice/sync/definition.json", "{}".into())
            .await
            .unwrap();
        let run = tempfile::tempdir().unwrap();
        let dir = run.path().canonicalize().unwrap();
        assert_eq!(restore(&store, prefix, &dir, None).await.unwrap(), 0);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/bookmark"), "row 42").unwrap();
        std::fs::create_dir(dir.join("empty")).unwrap();
        let saved = save(&store, prefix, 0, &dir, me()).await.unwrap();
        assert!(matches!(saved, Saved::Stored(1)), "{saved:?}");
        // A run that also started from version 0 finds it taken.
        let again = save(&store, prefix, 0, &dir, me()).await.unwrap();
        assert!(
            matches!(again, Saved::Conflict { version: 1, .. }),
            "{again:?}"
        );

        let next = tempfile::tempdir().unwrap();
        assert_eq!(restore(&store, prefix, next.path(), None).await.unwrap(), 1);
        assert_eq!(
            std::fs::read_to_string(next.path().join("a/b/bookmark")).unwrap(),
            "row 42"
        );
        assert!(next.path().join("empty").is_dir());

        assert_eq!(reset(&store, prefix).await.unwrap(), 2);
        let after = tempfile::tempdir().unwrap();
        assert_eq!(
            restore(&store, prefix, after.path(), None).await.unwrap(),
            2
        );
        assert_eq!(std::fs::read_dir(after.path()).unwrap().count(), 0);
        assert_eq!(
            store.list(prefix).await.unwrap().len(),
            1,
            "older versions go"
        );

        // A definition deleted while a run went on keeps nothing that run saves.
        store
            .delete("schedules/alice/sync/definition.json")
            .await
            .unwrap();
        let err = save(&store, prefix, 2, &dir, me()).await.unwrap_err();
        assert!(err.to_string().contains("deleted meanwhile"), "{err}");
        assert_eq!(store.list(prefix).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn links_and_paths_outside_are_refused_both_ways() {
        let run = tempfile::tempdir().unwrap();
        let dir = run.path().canonicalize().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd")).unwrap();
        let data = tempfile::tempdir().unwrap();
        let store = LocalStore::open(data.path()).unwrap();
        let err = save(&store, "s/", 0, &dir, me()).await.unwrap_err();
        assert!(err.to_string().contains("link"), "{err}");

        // An archive naming a path outside, or a link, is not unpacked.
        for (name, kind) in [
            ("../escape", tar::EntryType::Regular),
            ("/abs", tar::EntryType::Regular),
            ("link", tar::EntryType::Symlink),
        ] {
            let mut tar = tar::Builder::new(Vec::new());
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(kind);
            header.set_size(1);
            header.set_mode(0o600);
            // `append_data` refuses such names; write the header's name directly.
            header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_cksum();
            tar.append(&header, &b"x"[..]).unwrap();
            let archive = tar.into_inner().unwrap();
            let into = tempfile::tempdir().unwrap();
            let err = unpack(&archive, into.path(), None).unwrap_err();
            assert!(err.to_string().contains("unreadable"), "{name}: {err}");
            assert_eq!(std::fs::read_dir(into.path()).unwrap().count(), 0, "{name}");
        }
    }
}
