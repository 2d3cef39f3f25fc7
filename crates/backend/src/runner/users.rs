//! Who a job's processes run as. A service running as root gives each job a user of its
//! own, taken from a range no account uses (the range systemd's `DynamicUser` draws from)
//! and given back once the job and everything it started are gone: two jobs running at
//! once never share a user, so neither `/proc` nor a file one of them made joins them.

use std::fs::File;
use std::ops::RangeInclusive;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{Gid, Group, Uid, User};

use crate::tree;

/// The users (and groups of the same number) jobs are given one each. Every system keeps
/// it free of accounts, and it lies within the 65 536 ids a container is usually mapped.
pub const JOB_USERS: RangeInclusive<u32> = 61184..=65519;

/// The shared directories a job can write outside its own: what its user left there is
/// removed before that user is given to another job.
const SHARED_SCRATCH: [&str; 4] = ["/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue"];

/// The most entries of one shared directory read when a user is given back: past them the
/// clean-up is not sure, and the user is held back.
const MAX_SCRATCH_ENTRIES: usize = 100_000;

/// Who jobs run as.
#[derive(Clone, Debug, Default)]
pub enum RunAs {
    /// As the service's own user (a service that does not run as root).
    #[default]
    Service,
    /// Every job as this user and group (`serve --run-as USER`, a Fargate task).
    Fixed { user: u32, group: u32 },
    /// Each job as a user of its own.
    PerJob(Arc<UserPool>),
}

impl RunAs {
    /// A user of its own for each job, from [`JOB_USERS`].
    pub fn per_job() -> Self {
        RunAs::PerJob(Arc::new(UserPool::new(JOB_USERS, lock_dir())))
    }

    /// As [`RunAs::take`], off the async threads when it looks at the machine's users.
    pub async fn take_async(&self) -> Result<JobUser, UsersTaken> {
        match self {
            RunAs::PerJob(_) => {
                let this = self.clone();
                tokio::task::spawn_blocking(move || this.take())
                    .await
                    .unwrap_or(Err(UsersTaken))
            }
            _ => self.take(),
        }
    }

    /// The user the next job runs as, held until the answer is dropped.
    pub fn take(&self) -> Result<JobUser, UsersTaken> {
        match self {
            RunAs::Service => Ok(JobUser {
                ids: None,
                _lease: None,
            }),
            RunAs::Fixed { user, group } => Ok(JobUser {
                ids: Some((*user, *group)),
                _lease: None,
            }),
            RunAs::PerJob(pool) => pool.take(),
        }
    }
}

/// Every user of the range is held by a running job (here or in another service on this
/// machine).
#[derive(Debug, thiserror::Error)]
#[error("every user jobs may run as is taken by a running job")]
pub struct UsersTaken;

/// The user a job runs as, until dropped.
#[derive(Debug)]
pub struct JobUser {
    ids: Option<(u32, u32)>,
    _lease: Option<Lease>,
}

impl JobUser {
    /// The user and group to switch to; `None` runs the job as the service's own user.
    pub fn ids(&self) -> Option<(u32, u32)> {
        self.ids
    }
}

/// The user that owns what a job running as `ids` makes (see [`JobUser::ids`]).
pub fn owner_of(ids: Option<(u32, u32)>) -> u32 {
    ids.map_or_else(|| nix::unistd::geteuid().as_raw(), |(user, _)| user)
}

/// One user of a pool, taken: the lock that keeps other services on this machine from it,
/// and the pool it goes back to.
#[derive(Debug)]
struct Lease {
    user: u32,
    /// Held until the user is free again (see `drop`).
    lock: Option<Flock<File>>,
    pool: Arc<UserPool>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        // A process still running as this user (a daemon the job hid from the stray sweep)
        // or what it left in the shared directories would reach the next job given this
        // user, which may be another key's: the user is free once both are gone, and is held
        // back for the service's life when either cannot be made so. File system and /proc
        // work: off the async threads.
        let (user, pool, lock) = (self.user, self.pool.clone(), self.lock.take());
        let give_back = move || {
            let gone = kill_all_of(user);
            let cleaned = SHARED_SCRATCH
                .iter()
                .all(|dir| remove_owned_by(Path::new(dir), user))
                & remove_ipc_of(user);
            if !(gone && cleaned) {
                tracing::error!(
                    user,
                    gone,
                    cleaned,
                    "a job's user is held back: what it left could not all be removed"
                );
                pool.quarantined().extend(lock);
                return;
            }
            pool.held().retain(|&u| u != user);
            drop(lock);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(give_back)),
            Err(_) => give_back(),
        }
    }
}

/// The users of a range, handed out in turn so that a user given back is taken again as
/// late as possible; each one taken is also locked in a file, which every service on this
/// machine checks (the lock goes with the process that held it).
#[derive(Debug)]
pub struct UserPool {
    range: RangeInclusive<u32>,
    locks: PathBuf,
    /// The next to try, and the users this service holds.
    next: Mutex<u32>,
    held: Mutex<Vec<u32>>,
    /// The locks of users held back for good (see `Lease`'s drop).
    quarantine: Mutex<Vec<Flock<File>>>,
}

impl UserPool {
    pub fn new(range: RangeInclusive<u32>, locks: PathBuf) -> Self {
        // Services started at the same time begin apart, rather than all racing for the
        // first user.
        let span = range.end() - range.start() + 1;
        let first = range.start() + std::process::id() % span;
        UserPool {
            range,
            locks,
            next: Mutex::new(first),
            held: Mutex::new(Vec::new()),
            quarantine: Mutex::new(Vec::new()),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Vec<u32>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn quarantined(&self) -> std::sync::MutexGuard<'_, Vec<Flock<File>>> {
        self.quarantine.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(self: &Arc<Self>) -> Result<JobUser, UsersTaken> {
        if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(&self.locks) {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                tracing::error!(dir = %self.locks.display(), error = %e, "making the job users' lock directory");
                return Err(UsersTaken);
            }
        }
        // Another user's directory there (made first, in a shared /tmp) could hold the
        // locks of every user, or links in their place: not used.
        let ours = std::fs::symlink_metadata(&self.locks).is_ok_and(|m| {
            m.is_dir() && m.uid() == nix::unistd::geteuid().as_raw() && m.mode() & 0o022 == 0
        });
        if !ours {
            tracing::error!(dir = %self.locks.display(), "the job users' lock directory is not the service's alone");
            return Err(UsersTaken);
        }
        let span = self.range.end() - self.range.start() + 1;
        for _ in 0..span {
            let user = {
                let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
                let user = *next;
                *next = if user == *self.range.end() {
                    *self.range.start()
                } else {
                    user + 1
                };
                user
            };
            if self.held().contains(&user) || !unused(user) {
                continue;
            }
            let Some(lock) = self.lock(user) else {
                continue;
            };
            // One a service that died left running (its locks went with it): not this one.
            if !processes_of(user).is_empty() {
                continue;
            }
            self.held().push(user);
            return Ok(JobUser {
                ids: Some((user, user)),
                _lease: Some(Lease {
                    user,
                    lock: Some(lock),
                    pool: Arc::clone(self),
                }),
            });
        }
        Err(UsersTaken)
    }

    /// Locks `user` for this process, unless another service holds it.
    fn lock(&self, user: u32) -> Option<Flock<File>> {
        let path = self.locks.join(user.to_string());
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&path)
            .ok()?;
        Flock::lock(file, FlockArg::LockExclusiveNonblock).ok()
    }
}

/// Where the locks of taken users are kept: a directory only root can write, shared by
/// every service on this machine.
fn lock_dir() -> PathBuf {
    let run = Path::new("/run");
    match run.is_dir() {
        true => run.join("aws-exec-users"),
        false => std::env::temp_dir().join("aws-exec-users-0"),
    }
}

/// Whether no account or group has this number.
fn unused(id: u32) -> bool {
    matches!(User::from_uid(Uid::from_raw(id)), Ok(None))
        && matches!(Group::from_gid(Gid::from_raw(id)), Ok(None))
}

/// Removes the entries of `dir` (not below) that belong to `user`, and their trees;
/// `false` unless all of them surely went.
fn remove_owned_by(dir: &Path, user: u32) -> bool {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return e.kind() == std::io::ErrorKind::NotFound,
    };
    let mut all = true;
    for (seen, entry) in entries.enumerate() {
        let Ok(entry) = entry else {
            return false;
        };
        if seen == MAX_SCRATCH_ENTRIES {
            tracing::warn!(dir = %dir.display(), "too many entries to look for a job user's leftovers");
            return false;
        }
        let owned = entry
            .path()
            .symlink_metadata()
            .is_ok_and(|meta| meta.uid() == user);
        if owned {
            if let Err(e) = tree::remove_tree(&entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %e, "removing a job user's leftover");
                all = false;
            }
        }
    }
    all
}

/// Removes the System V shared memory segments, message queues and semaphore sets that
/// `user` made or owns (`/proc/sysvipc/*`); `false` unless all of them surely went.
fn remove_ipc_of(user: u32) -> bool {
    // Through util-linux's ipcrm: the service keeps its unsafe code to spawning.
    let remove = |kind: &str, id: &str| -> bool {
        let flag = match kind {
            "shm" => "-m",
            "msg" => "-q",
            _ => "-s",
        };
        let removed = std::process::Command::new("ipcrm")
            .args([flag, id])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        // Gone already (its maker removed it meanwhile) is as good: ipcrm says so with 1,
        // and the table no longer lists it.
        removed.is_ok_and(|s| s.success()) || !listed(kind, id)
    };
    let mut all = true;
    for kind in ["shm", "msg", "sem"] {
        let Ok(table) = std::fs::read_to_string(format!("/proc/sysvipc/{kind}")) else {
            continue;
        };
        let mut lines = table.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let column = |name: &str| header.iter().position(|h| *h == name);
        let (Some(uid), Some(cuid)) = (column("uid"), column("cuid")) else {
            continue;
        };
        for line in lines {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let theirs = [uid, cuid]
                .iter()
                .any(|&c| fields.get(c) == Some(&user.to_string().as_str()));
            // The id is the second column in each of the three tables.
            if let (true, Some(id)) = (theirs, fields.get(1)) {
                all &= remove(kind, id);
            }
        }
    }
    all
}

/// Whether `/proc/sysvipc/KIND` still lists the object `id`.
fn listed(kind: &str, id: &str) -> bool {
    std::fs::read_to_string(format!("/proc/sysvipc/{kind}")).map_or(true, |table| {
        table
            .lines()
            .skip(1)
            .any(|line| line.split_whitespace().nth(1) == Some(id))
    })
}

/// The processes running as `user` (real, effective or saved), from `/proc/PID/status`,
/// which a process cannot hide by making itself non-dumpable.
fn processes_of(user: u32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
                return false;
            };
            // A zombie runs nothing: it waits for its parent (the service) to reap it.
            let dead = status
                .lines()
                .find_map(|l| l.strip_prefix("State:"))
                .is_some_and(|state| matches!(state.trim_start().chars().next(), Some('Z' | 'X')));
            let ours = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .is_some_and(|ids| {
                    ids.split_whitespace()
                        .take(3)
                        .any(|id| id == user.to_string())
                });
            ours && !dead
        })
        .collect()
}

/// Kills every process running as `user`, again until none is left (one killed may have
/// forked first); `false` if some still run after that.
fn kill_all_of(user: u32) -> bool {
    for _ in 0..50 {
        let found = processes_of(user);
        if found.is_empty() {
            return true;
        }
        for pid in found {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    processes_of(user).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The user a job was given.
    fn user(taken: &JobUser) -> u32 {
        taken.ids().expect("a user to switch to").0
    }

    fn pool(range: RangeInclusive<u32>, locks: &Path) -> RunAs {
        RunAs::PerJob(Arc::new(UserPool::new(range, locks.to_owned())))
    }

    #[test]
    fn jobs_at_once_get_users_of_their_own_and_a_user_given_back_is_taken_last() {
        let dir = tempfile::tempdir().unwrap();
        let run_as = pool(64000..=64003, &dir.path().join("locks"));
        let a = run_as.take().unwrap();
        let b = run_as.take().unwrap();
        assert_ne!(user(&a), user(&b));
        assert_eq!(a.ids(), Some((user(&a), user(&a))), "a group of its own");
        let given_back = user(&a);
        drop(a);
        let c = run_as.take().unwrap();
        let d = run_as.take().unwrap();
        assert!(![user(&c), user(&d)].contains(&given_back));
        let e = run_as.take().unwrap();
        assert_eq!(user(&e), given_back, "taken again once the others were");
        assert!(run_as.take().is_err(), "all four are held");
        drop(b);
    }

    #[test]
    fn a_user_another_service_holds_is_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let locks = dir.path().join("locks");
        let here = pool(64010..=64011, &locks);
        let there = pool(64010..=64011, &locks);
        let a = here.take().unwrap();
        let b = there.take().unwrap();
        assert_ne!(user(&a), user(&b));
        assert!(there.take().is_err());
    }

    #[test]
    fn the_service_and_a_fixed_user_are_not_pooled() {
        assert_eq!(RunAs::Service.take().unwrap().ids(), None);
        let fixed = RunAs::Fixed {
            user: 65534,
            group: 65534,
        };
        let (a, b) = (fixed.take().unwrap(), fixed.take().unwrap());
        assert_eq!((user(&a), user(&b)), (65534, 65534));
    }
}
