//! The directory each job runs in, fresh and its own: made ahead while the previous job
//! runs, checked, and removed afterwards, however deep or odd the tree a job leaves.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::made_ahead;
use crate::tree;
use aws_exec_protocol::limits::{MAX_INPUTS, MAX_PATH_BYTES};

/// The deepest an input's path can place it: each level takes a name and a `/`.
const MAX_INPUT_DEPTH: usize = MAX_PATH_BYTES / 2 + 1;

/// A job's own working directory: `HOME` and `TMPDIR` point into it, `artifacts/` in it
/// is kept, and it is removed when the job ends.
pub struct Workspace {
    pub dir: PathBuf,
    /// Where the next is made ahead once this one is removed: after the job, rather than
    /// beside its start, whose caller is waiting.
    next: Option<Arc<Workspaces>>,
}

impl Workspace {
    /// Gives the whole tree to the job's user (when jobs run as another user): deepest
    /// first and the directory itself last, never following a link, so the job cannot
    /// redirect a chown before it is its own. Without `filled` (nothing was placed in it
    /// since [`Workspaces::take`]) the tree is known, and not walked.
    pub fn hand_over(&self, owner: Option<(u32, u32)>, filled: bool) -> std::io::Result<()> {
        let Some((user, group)) = owner else {
            return Ok(());
        };
        if !filled {
            for path in [self.tmp(), self.artifacts(), self.dir.clone()] {
                std::os::unix::fs::lchown(path, Some(user), Some(group))?;
            }
            return Ok(());
        }
        // Only the service has written here yet (inputs, whose paths the API checked), but
        // the walk is bounded all the same; deepest first, the directory itself last.
        let bounds = tree::Bounds {
            max_depth: MAX_INPUT_DEPTH,
            max_entries: MAX_INPUTS * MAX_INPUT_DEPTH + 2,
        };
        let (found, cut) = tree::list(&self.dir, bounds);
        if cut {
            return Err(std::io::Error::other("more inputs than a job may have"));
        }
        for found in found.iter().rev() {
            std::os::unix::fs::lchown(self.dir.join(&found.rel), Some(user), Some(group))?;
        }
        std::os::unix::fs::lchown(&self.dir, Some(user), Some(group))
    }

    pub fn tmp(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// What the job leaves here is kept after it (`$AWS_EXEC_ARTIFACTS`).
    pub fn artifacts(&self) -> PathBuf {
        self.dir.join("artifacts")
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        remove_all(&self.dir);
        if let (Some(workspaces), Some(root)) = (self.next.take(), self.dir.parent()) {
            workspaces.make_ahead(root.to_owned());
        }
    }
}

/// The root of the jobs' directories, made if missing, canonical (so that a job's paths
/// can be compared with where things really are) and checked: in a shared /tmp another
/// user could have made it first, or a symlink in its place.
fn checked_root(root: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    match std::fs::create_dir(root) {
        Ok(()) => made_ahead::spread_subdirectories(root),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let found = std::fs::symlink_metadata(root)?;
    if !found.is_dir() || found.uid() != nix::unistd::geteuid().as_raw() {
        return Err(std::io::Error::other(format!(
            "{} is not a directory owned by this user",
            root.display()
        )));
    }
    // Others may traverse the root to reach their own directory, never list it.
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o711))?;
    root.canonicalize()
}

/// Removes what an earlier run of the same job left at `dir` (a retried Lambda event).
fn clear(dir: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(_) => std::fs::remove_dir_all(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes `dir` and the `tmp` and `artifacts` in it, each mode 0700.
fn make(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let mut builder = std::fs::DirBuilder::new();
    builder.mode(0o700);
    for path in [dir.to_owned(), dir.join("tmp"), dir.join("artifacts")] {
        builder.create(&path)?;
        // The mode asked for may have been narrowed by the umask; set, not hoped for.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Where jobs get their directories, with one made ahead: a job's start renames it into
/// place rather than making three directories while the caller waits, and the next is made
/// on the blocking pool once a job's directory is removed. The one made ahead is the service's own (mode
/// 0700, an unguessable name in a root no job can list) until it is handed over.
pub struct Workspaces {
    root: PathBuf,
    /// Whether to make one ahead: not where the root is emptied after every job (Lambda,
    /// one job at a time, whose scratch is cleaned whole).
    ahead: bool,
    spare: Mutex<Option<PathBuf>>,
    making: AtomicBool,
    closed: AtomicBool,
}

/// How a directory made ahead is named: `.ahead-PID-RANDOM`, apart from every job's uid,
/// and telling which service made it.
const AHEAD_PREFIX: &str = ".ahead-";

impl Workspaces {
    /// Job directories under `root`. With `ahead` each next one is made while a job runs
    /// (a service running jobs side by side); without, one job runs at a time (a Lambda
    /// sandbox), and everything under `root` goes before each job and at start: a runner
    /// killed mid-job leaves its job's directory (inputs, secret files, artifacts) behind.
    pub fn new(root: &Path, ahead: bool) -> Self {
        // Left by services that were killed: theirs, not those of others still running.
        for left in made_ahead::left_by_dead_services(root, AHEAD_PREFIX) {
            remove_all(&left);
        }
        if !ahead {
            clear_root(root);
        }
        // Each job's directory in a block group of its own, where the filesystem does that:
        // making one beside thousands of just-removed ones can cost a millisecond.
        made_ahead::spread_subdirectories(root);
        Workspaces {
            root: root.to_owned(),
            ahead,
            spare: Mutex::new(None),
            making: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    /// Job `uid`'s workspace: `root/UID` (mode 0700) with `tmp` and `artifacts` inside,
    /// owned by the service until [`Workspace::hand_over`], so nothing of another job's
    /// user can reach into it while the service fills it. The next one is made ahead
    /// (from within a Tokio runtime) when this one is removed, or at once if none was ready.
    pub fn take(self: &Arc<Self>, uid: &str) -> std::io::Result<Workspace> {
        let root = checked_root(&self.root)?;
        if !self.ahead {
            clear_root(&root);
        }
        let dir = root.join(uid);
        clear(&dir)?;
        let spare = self.spare().take();
        let made_here = spare.is_none();
        let placed = match spare {
            Some(spare) => made_ahead::move_into_place(&spare, &dir).or_else(|_| {
                remove_all(&spare);
                make(&dir)
            }),
            None => make(&dir),
        };
        // None was ready (the first job, or several at once): the next is made now.
        if self.ahead && made_here {
            self.make_ahead(root);
        }
        placed.map(|()| Workspace {
            dir,
            next: self.ahead.then(|| self.clone()),
        })
    }

    /// Removes the one made ahead, and makes no more (the service is stopping).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Some(spare) = self.spare().take() {
            remove_all(&spare);
        }
    }

    fn spare(&self) -> std::sync::MutexGuard<'_, Option<PathBuf>> {
        self.spare.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn make_ahead(self: &Arc<Self>, root: PathBuf) {
        if self.closed.load(Ordering::Acquire)
            || self.spare().is_some()
            || tokio::runtime::Handle::try_current().is_err()
            || self.making.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let name = made_ahead::name(AHEAD_PREFIX);
            let dir = root.join(name);
            let made = make(&dir);
            let mut spare = this.spare();
            match made {
                Ok(()) if !this.closed.load(Ordering::Acquire) && spare.is_none() => {
                    *spare = Some(dir);
                }
                made => {
                    drop(spare);
                    if let Err(e) = made {
                        tracing::debug!(error = %e, "making a job directory ahead");
                    }
                    remove_all(&dir);
                }
            }
            this.making.store(false, Ordering::Release);
        });
    }
}

impl Drop for Workspaces {
    fn drop(&mut self) {
        self.close();
    }
}

/// The entries of a shared scratch directory (`/tmp` on Lambda) before a job, so that
/// whatever the job adds can be removed after it.
pub struct ScratchSnapshot {
    dir: PathBuf,
    before: HashSet<std::ffi::OsString>,
}

impl ScratchSnapshot {
    pub fn take(dir: &Path) -> Self {
        let before = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
            .unwrap_or_default();
        ScratchSnapshot {
            dir: dir.to_owned(),
            before,
        }
    }

    /// Removes every entry that was not there before, and everything inside `keep` (the
    /// root of the jobs' directories, which must be a real directory again afterwards).
    pub fn clean(&self, keep: &Path) {
        match std::fs::symlink_metadata(keep) {
            Ok(m) if m.is_dir() => {
                for entry in std::fs::read_dir(keep).into_iter().flatten().flatten() {
                    remove_all(&entry.path());
                }
            }
            Ok(_) => remove_all(keep),
            Err(_) => {}
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if self.before.contains(&entry.file_name()) || path == keep {
                continue;
            }
            remove_all(&path);
        }
    }
}

/// Removes everything under `root` (a sandbox's work root, where one job runs at a time).
fn clear_root(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        remove_all(&entry.path());
    }
}

/// Removes a file or a whole tree of a job's, however deep or locked ([`tree::remove_tree`]).
fn remove_all(path: &Path) {
    if let Err(e) = tree::remove_tree(path) {
        tracing::warn!(path = %path.display(), error = %e, "cleaning scratch space");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    fn ahead_in(root: &Path) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().contains(AHEAD_PREFIX))
            .collect();
        found.sort();
        found
    }

    fn assert_fresh_workspace(dir: &Path) {
        for path in [dir.to_owned(), dir.join("tmp"), dir.join("artifacts")] {
            let meta = std::fs::symlink_metadata(&path).unwrap();
            assert!(meta.is_dir(), "{path:?}");
            assert_eq!(meta.permissions().mode() & 0o777, 0o700, "{path:?}");
        }
        assert_eq!(
            std::fs::read_dir(dir).unwrap().count(),
            2,
            "tmp and artifacts only"
        );
    }

    #[tokio::test]
    async fn a_job_directory_is_made_ahead_and_taken_by_the_next_job() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("jobs");
        let workspaces = Arc::new(Workspaces::new(&root, true));
        let first = workspaces.take("1.a").unwrap();
        assert_fresh_workspace(&first.dir);
        let made = || async {
            while ahead_in(&root).is_empty() || workspaces.making.load(Ordering::Acquire) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), made())
            .await
            .unwrap();
        let ahead = ahead_in(&root);
        assert_eq!(ahead.len(), 1, "one made ahead: {ahead:?}");
        assert!(ahead[0]
            .to_string_lossy()
            .contains(&std::process::id().to_string()));

        // The next job's directory is that one, renamed.
        let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
        let spare_inode = inode(&ahead[0]);
        let second = workspaces.take("2.b").unwrap();
        assert_eq!(inode(&second.dir), spare_inode);
        assert_fresh_workspace(&second.dir);
        // Not while its job starts: the next is made once a job's directory is removed.
        assert!(!workspaces.making.load(Ordering::Acquire));
        assert!(ahead_in(&root).is_empty(), "{:?}", ahead_in(&root));
        drop(second);
        tokio::time::timeout(Duration::from_secs(10), made())
            .await
            .unwrap();
        assert_eq!(ahead_in(&root).len(), 1, "{:?}", ahead_in(&root));
        drop(first);

        // Stopping removes the one made ahead and makes no more.
        let settled = async {
            while workspaces.making.load(Ordering::Acquire) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), settled)
            .await
            .unwrap();
        assert_eq!(ahead_in(&root).len(), 1, "still one: {:?}", ahead_in(&root));
        workspaces.close();
        let third = workspaces.take("3.c").unwrap();
        assert_fresh_workspace(&third.dir);
        drop(third);
        assert!(ahead_in(&root).is_empty(), "{:?}", ahead_in(&root));
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
    }

    #[test]
    fn a_killed_services_directories_made_ahead_are_removed_at_start() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path();
        // A pid that is not running: past the kernel's largest.
        let dead = root.join(format!("{AHEAD_PREFIX}4194999-00"));
        let alive = root.join(format!("{AHEAD_PREFIX}{}-00", std::process::id()));
        let job = root.join("1795648249.0fefb1c9");
        for dir in [&dead, &alive, &job] {
            std::fs::create_dir_all(dir.join("tmp")).unwrap();
        }
        // A service running jobs side by side (one at a time empties its root: below).
        let workspaces = Workspaces::new(root, true);
        assert!(!dead.exists());
        assert!(alive.exists(), "a running service's is left alone");
        assert!(
            job.exists(),
            "a job's directory is not the start's to remove"
        );
        drop(workspaces);
        // A sandbox's runner, one job at a time: a killed runner's job directory goes too.
        let one_at_a_time = Workspaces::new(root, false);
        assert!(!job.exists());
        drop(one_at_a_time);
    }

    #[test]
    fn scratch_cleaning_removes_what_a_job_added_and_empties_the_jobs_root() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let jobs = dir.join("jobs");
        std::fs::create_dir(&jobs).unwrap();
        std::fs::write(dir.join("before"), "").unwrap();
        let snapshot = ScratchSnapshot::take(dir);

        std::fs::write(dir.join("added"), "").unwrap();
        std::fs::create_dir_all(dir.join("locked/inner")).unwrap();
        std::fs::set_permissions(dir.join("locked"), std::fs::Permissions::from_mode(0o000))
            .unwrap();
        std::fs::create_dir_all(jobs.join("left/behind")).unwrap();
        snapshot.clean(&jobs);

        assert!(dir.join("before").exists());
        assert!(!dir.join("added").exists());
        assert!(!dir.join("locked").exists());
        assert!(jobs.is_dir(), "the jobs' root stays");
        assert_eq!(std::fs::read_dir(&jobs).unwrap().count(), 0, "and is empty");

        // A job that put a file where the root was gets it removed, for the next to remake.
        std::fs::remove_dir(&jobs).unwrap();
        std::fs::write(&jobs, "").unwrap();
        snapshot.clean(&jobs);
        assert!(!jobs.exists());
        let workspace = Arc::new(Workspaces::new(&jobs, false)).take("1.x").unwrap();
        assert!(workspace.artifacts().is_dir());
    }
}
