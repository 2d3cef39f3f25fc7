//! The local store's memory of the folders it lists a page at a time (a user's job index,
//! its open jobs): each is read whole once, kept sorted, and kept up to date by the store's
//! own writes, so a page costs the same however many entries the folder holds.
//!
//! A folder changed by another process (its modification time moved) is read again. Only
//! the service writes these folders; a change from outside within the same clock tick as
//! one of the service's own could go unseen until the folder changes again.

use std::collections::{BTreeSet, HashMap};
use std::io::ErrorKind;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// The most folders whose names are kept.
const MAX_FOLDERS: usize = 4096;

/// The folders listed so far, by path.
#[derive(Default)]
pub(super) struct Listings {
    folders: Mutex<HashMap<PathBuf, Folder>>,
    /// Whole reads of a folder, for tests.
    #[cfg(test)]
    pub(super) reads: std::sync::atomic::AtomicUsize,
}

struct Folder {
    /// `None` while a first read is under way.
    names: Option<BTreeSet<String>>,
    /// The folder's modification time when `names` was last true.
    changed: Option<SystemTime>,
    /// Counts this store's writes into the folder: a read that a write overtook is not kept.
    writes: u64,
}

impl Listings {
    /// Up to `max` names in folder `dir` that sort after `after`, sorted; `None` when the
    /// folder holds folders (the caller walks it instead).
    pub(super) fn page(
        &self,
        dir: &Path,
        after: Option<&str>,
        max: usize,
    ) -> std::io::Result<Option<Vec<String>>> {
        let changed = match std::fs::metadata(dir) {
            Ok(meta) => meta.modified().ok(),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.folders().remove(dir);
                return Ok(Some(Vec::new()));
            }
            Err(e) => return Err(e),
        };
        let writes = {
            let mut folders = self.folders();
            // Bounded: past this many folders, all are forgotten (and read again when paged).
            if folders.len() >= MAX_FOLDERS && !folders.contains_key(dir) {
                folders.clear();
            }
            let folder = folders.entry(dir.to_owned()).or_insert(Folder {
                names: None,
                changed: None,
                writes: 0,
            });
            if let (Some(names), true) = (&folder.names, changed.is_some()) {
                if folder.changed == changed {
                    return Ok(Some(page_of(names, after, max)));
                }
            }
            folder.writes
        };
        #[cfg(test)]
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut names = BTreeSet::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                self.folders().remove(dir);
                return Ok(None);
            }
            if let Some(name) = entry.file_name().to_str() {
                names.insert(name.to_owned());
            }
        }
        let answer = page_of(&names, after, max);
        let still = std::fs::metadata(dir).ok().and_then(|m| m.modified().ok());
        let mut folders = self.folders();
        if let Some(folder) = folders.get_mut(dir) {
            // Kept only if nothing changed the folder while it was read.
            if folder.writes == writes && still == changed {
                folder.names = Some(names);
                folder.changed = changed;
            }
        }
        Ok(Some(answer))
    }

    /// Runs `op`, a write of this store's that places a file at `path`, and keeps the
    /// folder's names true.
    pub(super) fn placing<T>(
        &self,
        path: &Path,
        op: impl FnOnce() -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        self.recording(path, op, |names, name| {
            names.insert(name.to_owned());
        })
    }

    /// Runs `op`, a removal by this store of the file at `path`, and keeps the folder's
    /// names true.
    pub(super) fn removing<T>(
        &self,
        path: &Path,
        op: impl FnOnce() -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        self.recording(path, op, |names, name| {
            names.remove(name);
        })
    }

    fn recording<T>(
        &self,
        path: &Path,
        op: impl FnOnce() -> std::io::Result<T>,
        change: impl FnOnce(&mut BTreeSet<String>, &str),
    ) -> std::io::Result<T> {
        let before = self.before(path);
        let done = op()?;
        self.changed(path, before, change);
        Ok(done)
    }

    /// Before this store writes at `path`: the folder's modification time then, if its
    /// names are kept.
    fn before(&self, path: &Path) -> Option<SystemTime> {
        let dir = path.parent()?;
        // Only for a folder whose names are kept.
        self.folders().get(dir)?.names.as_ref()?;
        std::fs::metadata(dir).ok()?.modified().ok()
    }

    /// Applies the store's own change to the names kept, and takes the folder's new time
    /// as theirs, if they were true just before it (the folder's time then was theirs);
    /// otherwise something else changed the folder too, and it is read again.
    fn changed(
        &self,
        path: &Path,
        before: Option<SystemTime>,
        change: impl FnOnce(&mut BTreeSet<String>, &str),
    ) {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
        else {
            return;
        };
        let now = std::fs::metadata(dir).ok().and_then(|m| m.modified().ok());
        let mut folders = self.folders();
        let Some(folder) = folders.get_mut(dir) else {
            return;
        };
        folder.writes += 1;
        let true_before = before.is_some() && before == folder.changed;
        match (&mut folder.names, true_before) {
            (Some(names), true) => {
                change(names, name);
                folder.changed = now;
            }
            (names, _) => *names = None,
        }
    }

    fn folders(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Folder>> {
        self.folders.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn page_of(names: &BTreeSet<String>, after: Option<&str>, max: usize) -> Vec<String> {
    let from = match after {
        Some(after) => Bound::Excluded(after),
        None => Bound::Unbounded,
    };
    names
        .range::<str, _>((from, Bound::Unbounded))
        .take(max)
        .cloned()
        .collect()
}
