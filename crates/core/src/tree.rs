//! Walks over trees a job controls (its directory, what it added to a shared scratch, its
//! artifacts), bounded whatever the job made: iterative, so depth costs no stack; through
//! directory descriptors, so no path outgrows `PATH_MAX`; never following a link; holding
//! at most [`MAX_OPEN`] descriptors; and, for listings, reading a bounded number of names.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, RenameFlags, CWD};

/// Directories held open at once by a removal; deeper ones are moved up (see
/// [`remove_tree`]).
pub const MAX_OPEN: usize = 32;

/// How many passes in a row over a directory may find nothing to remove while it is still
/// not empty before the removal gives up on it.
const MAX_REREADS: u32 = 8;

fn open_dir(at: impl AsFd, name: &CStr) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let opened = match rustix::fs::openat(&at, name, flags, Mode::empty()) {
        // A job may leave a directory mode 000 to make itself harder to remove.
        Err(rustix::io::Errno::ACCESS) => {
            rustix::fs::chmodat(&at, name, Mode::RWXU, AtFlags::empty())?;
            rustix::fs::openat(&at, name, flags, Mode::empty())
        }
        other => other,
    }?;
    // Entries can be removed only from a directory one may write to.
    let _ = rustix::fs::fchmod(&opened, Mode::RWXU);
    Ok(opened)
}

fn c_name(path: &OsStr) -> io::Result<CString> {
    CString::new(path.as_bytes()).map_err(|_| io::Error::other("a name with a NUL byte"))
}

/// One directory being emptied: its descriptor, its listing, and its name in its parent.
struct Level {
    fd: OwnedFd,
    dir: Dir,
    name: CString,
    /// Whether this pass over its listing found anything.
    found: bool,
    /// Passes in a row that found nothing, yet left it not empty.
    idle_passes: u32,
}

impl Level {
    fn open(at: impl AsFd, name: CString) -> io::Result<Self> {
        let fd = open_dir(at, &name)?;
        let dir = Dir::read_from(&fd)?;
        Ok(Level {
            fd,
            dir,
            name,
            found: false,
            idle_passes: 0,
        })
    }
}

/// Removes `path` (a file, a link, or a whole tree), never following a link. At most
/// [`MAX_OPEN`] directories are held open: a directory found deeper than that is renamed
/// into the top one and removed from there, so a tree of any depth is flattened as it goes
/// and every entry is visited a bounded number of times.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return std::fs::remove_file(path);
    }
    let top = Level::open(CWD, c_name(path.as_os_str())?)?;
    let top_fd = top.fd.try_clone()?;
    let mut stack = vec![top];
    let mut moved = 0u64;
    while let Some(depth) = stack.len().checked_sub(1) {
        let level = &mut stack[depth];
        let entry = match level.dir.read() {
            Some(entry) => entry?,
            None => {
                let level = stack.pop().expect("a level");
                let parent = stack.last().map(|l| l.fd.as_fd()).unwrap_or(CWD);
                match rustix::fs::unlinkat(parent, level.name.as_c_str(), AtFlags::REMOVEDIR) {
                    Ok(()) => {}
                    // Directories moved up (into the top) after its listing passed them:
                    // read it again while passes find something.
                    Err(rustix::io::Errno::NOTEMPTY) if level.idle_passes < MAX_REREADS => {
                        let mut level = level;
                        level.idle_passes = if level.found {
                            0
                        } else {
                            level.idle_passes + 1
                        };
                        level.found = false;
                        level.dir.rewind();
                        stack.push(level);
                    }
                    Err(e) => return Err(e.into()),
                }
                continue;
            }
        };
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        level.found = true;
        let name = name.to_owned();
        let is_dir = match entry.file_type() {
            FileType::Unknown => {
                rustix::fs::statat(&level.fd, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory)?
            }
            t => t == FileType::Directory,
        };
        if !is_dir {
            rustix::fs::unlinkat(&level.fd, name.as_c_str(), AtFlags::empty())?;
        } else if depth + 1 < MAX_OPEN {
            let below = Level::open(&level.fd, name)?;
            stack.push(below);
        } else {
            // Too deep to hold open: moved into the top directory, emptied from there.
            loop {
                moved += 1;
                let fresh = CString::new(format!(".aws-exec-deep-{moved}")).expect("no NUL");
                match rustix::fs::renameat_with(
                    &level.fd,
                    name.as_c_str(),
                    &top_fd,
                    fresh.as_c_str(),
                    RenameFlags::NOREPLACE,
                ) {
                    Ok(()) => break,
                    Err(rustix::io::Errno::EXIST) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(())
}

/// What a listing found at one path below its root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The path relative to the root.
    pub rel: PathBuf,
    pub kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

/// How far a listing goes.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Directories deeper than this below the root are reported, not entered.
    pub max_depth: usize,
    /// The listing stops after this many entries.
    pub max_entries: usize,
}

/// Lists what is below `root` in name order, depth first (a directory before what it
/// holds), within `bounds`; the second value says whether the bounds cut it short.
pub fn list(root: &Path, bounds: Bounds) -> (Vec<Found>, bool) {
    let mut found = Vec::new();
    let mut cut = false;
    // What is still to be looked at, last first: (path relative to the root, depth).
    let mut pending: Vec<(PathBuf, usize)> = Vec::new();
    // Each directory's names are read up to what the listing can still answer, so what is
    // held stays within the depth times that, however wide the tree.
    let expand = |dir: &Path, depth: usize, room: usize, pending: &mut Vec<(PathBuf, usize)>| {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            return true;
        };
        let mut names: Vec<_> = entries
            .flatten()
            .map(|e| e.file_name())
            .take(room + 1)
            .collect();
        let complete = names.len() <= room;
        names.sort();
        pending.extend(names.into_iter().rev().map(|n| (dir.join(n), depth + 1)));
        complete
    };
    cut |= !expand(Path::new(""), 0, bounds.max_entries, &mut pending);
    while let Some((rel, depth)) = pending.pop() {
        if found.len() == bounds.max_entries {
            cut = true;
            break;
        }
        let kind = match std::fs::symlink_metadata(root.join(&rel)) {
            Ok(m) if m.is_dir() => Kind::Dir,
            Ok(m) if m.is_file() => Kind::File,
            Ok(m) if m.file_type().is_symlink() => Kind::Symlink,
            _ => Kind::Other,
        };
        if kind == Kind::Dir {
            if depth < bounds.max_depth {
                let room = bounds.max_entries - found.len() - 1;
                cut |= !expand(&rel, depth, room, &mut pending);
            } else {
                cut = true;
            }
        }
        found.push(Found { rel, kind });
    }
    (found, cut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A chain of `depth` directories below `root`, made through descriptors: its paths are
    /// far longer than `PATH_MAX`.
    fn nest(root: &Path, depth: usize) {
        let mut at =
            rustix::fs::openat(CWD, root, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
                .unwrap();
        for _ in 0..depth {
            rustix::fs::mkdirat(&at, c"d", Mode::RWXU).unwrap();
            rustix::fs::openat(&at, c"f", OFlags::CREATE | OFlags::WRONLY, Mode::RUSR).unwrap();
            at = rustix::fs::openat(&at, c"d", OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
                .unwrap();
        }
    }

    #[test]
    fn a_tree_far_deeper_than_a_stack_or_path_max_is_removed() {
        let base = tempfile::tempdir().unwrap();
        let top = base.path().join("job");
        std::fs::create_dir(&top).unwrap();
        nest(&top, 20_000);
        // Run on a small stack: a recursive walk would overflow it many times over.
        let removed = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || remove_tree(&top).map(|()| top))
            .unwrap()
            .join()
            .unwrap()
            .unwrap();
        assert!(!removed.exists());
        assert_eq!(std::fs::read_dir(base.path()).unwrap().count(), 0);
    }

    #[test]
    fn locked_directories_and_links_out_are_removed_without_following() {
        let base = tempfile::tempdir().unwrap();
        let outside = base.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), "x").unwrap();
        let top = base.path().join("job");
        std::fs::create_dir_all(top.join("a/b/c")).unwrap();
        std::fs::write(top.join("a/b/c/file"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, top.join("a/link")).unwrap();
        for dir in ["a/b/c", "a/b", "a"] {
            std::fs::set_permissions(top.join(dir), std::fs::Permissions::from_mode(0o000))
                .unwrap();
        }
        remove_tree(&top).unwrap();
        assert!(!top.exists());
        assert!(
            outside.join("keep").exists(),
            "a link is removed, not followed"
        );
        // A file or a missing path is fine too.
        std::fs::write(&top, "x").unwrap();
        remove_tree(&top).unwrap();
        remove_tree(&top).unwrap();
    }

    #[test]
    fn a_listing_is_in_order_and_bounded() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path();
        std::fs::create_dir_all(root.join("b/c")).unwrap();
        std::fs::write(root.join("a"), "").unwrap();
        std::fs::write(root.join("b/c/x"), "").unwrap();
        std::fs::write(root.join("b/y"), "").unwrap();
        let all = Bounds {
            max_depth: 8,
            max_entries: 100,
        };
        let (found, cut) = list(root, all);
        let rels: Vec<_> = found.iter().map(|f| f.rel.to_str().unwrap()).collect();
        assert_eq!(rels, ["a", "b", "b/c", "b/c/x", "b/y"]);
        assert!(!cut);
        let (found, cut) = list(
            root,
            Bounds {
                max_entries: 2,
                ..all
            },
        );
        assert_eq!(found.len(), 2);
        assert!(cut);
        let (found, cut) = list(
            root,
            Bounds {
                max_depth: 1,
                ..all
            },
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(cut);

        // Deep as a job can make it: the listing stops at its depth.
        nest(&root.join("b/c"), 5_000);
        let (found, cut) = list(root, all);
        assert!(cut && found.len() <= all.max_entries);
    }
}
