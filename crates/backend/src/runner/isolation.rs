//! What keeps a job away from the service and from other jobs, on Linux without needing
//! root:
//! - the service makes itself non-dumpable, so a job running as the same user cannot read
//!   its `/proc/PID/environ` or `/proc/PID/mem` (credentials, `AUTH`) and no core dump of
//!   it is written;
//! - the service is a child subreaper: whatever a job leaves behind (a daemon, a `setsid`
//!   process, a double fork) is reparented to the service instead of init, and
//!   [`kill_strays`] kills it when the job ends;
//! - each job runs in a fresh directory of its own (`runner::workspace`), removed afterwards.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::spawn::{self, Launch, Launched};
use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag};
use nix::unistd::Pid;

/// The variable every job's processes carry, naming their job, so that strays can be told
/// apart while several jobs run at once.
pub const JOB_TAG: &str = "AWS_EXEC_JOB";

/// Once, at start: non-dumpable and child subreaper. Failures are logged: isolation is
/// then weaker, and the README says where each guarantee holds.
pub fn harden_process() {
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!(error = %e, "cannot make the service non-dumpable");
    }
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        tracing::warn!(error = %e, "cannot become a child subreaper; strays of jobs may survive");
    }
}

/// A process seen in `/proc`.
struct Proc {
    pid: Pid,
    parent: i32,
    /// Clock ticks after boot.
    started: u64,
}

fn read_proc(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    Some(Proc {
        pid: Pid::from_raw(pid),
        parent: fields.get(1)?.parse().ok()?,
        started: fields.get(19)?.parse().ok()?,
    })
}

/// When process `pid` started (clock ticks after boot), if it is running.
pub fn process_start(pid: i32) -> Option<u64> {
    read_proc(pid).map(|p| p.started)
}

/// The job a process belongs to, from its environment; `None` if unreadable or untagged.
fn tag_of(pid: Pid) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{JOB_TAG}=");
    environ
        .split(|&b| b == 0)
        .find_map(|var| var.strip_prefix(prefix.as_bytes()))
        .map(|uid| String::from_utf8_lossy(uid).into_owned())
}

/// The time now, in the clock ticks after boot that [`Proc::started`] counts.
pub fn now_ticks() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    // The boot-time clock is what /proc/uptime and a process's start time count from.
    let Ok(now) = clock_gettime(ClockId::CLOCK_BOOTTIME) else {
        return 0;
    };
    let secs = now.tv_sec() as f64 + now.tv_nsec() as f64 / 1e9;
    (secs * ticks_per_second() as f64) as u64
}

fn ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100, |t| t as u64)
}

/// Jobs whose processes are running, by tag, with the pid of each one's first process.
/// Process-wide, as the subreaper is: a spawn and a sweep never interleave, so a process
/// between fork and exec (not yet carrying its tag) is never taken for a stray.
static LIVE: Mutex<BTreeMap<String, i32>> = Mutex::new(BTreeMap::new());

/// A job counted as live until dropped: its tagged processes are left alone by the sweeps
/// of other jobs.
pub struct LiveJob {
    tag: String,
}

impl Drop for LiveJob {
    fn drop(&mut self) {
        live().remove(&self.tag);
    }
}

fn live() -> std::sync::MutexGuard<'static, BTreeMap<String, i32>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts a job's first process, tagged `tag` (see [`JOB_TAG`]).
pub fn spawn_tagged(launch: &mut Launch<'_>, tag: &str) -> std::io::Result<(Launched, LiveJob)> {
    // The service's tag, whatever the job's own variables said.
    launch.env.retain(|(name, _)| name != JOB_TAG);
    launch.env.push((JOB_TAG.into(), tag.into()));
    let mut live = live();
    let launched = spawn::launch(launch)?;
    live.insert(tag.to_owned(), launched.process.id() as i32);
    Ok((
        launched,
        LiveJob {
            tag: tag.to_owned(),
        },
    ))
}

/// Kills what job `uid`, whose process started at `since` (see [`now_ticks`]), left
/// behind: the service's own children that carry its tag or the tag of no live job, or
/// that carry no tag (a job can clear its environment) and appeared after it started. Each
/// kill can orphan more (a daemon's children), so it repeats until nothing is left.
pub async fn kill_strays(uid: &str, since: u64) -> usize {
    let mut killed = 0;
    for _ in 0..50 {
        let found = kill_strays_once(uid, since);
        if found == 0 {
            break;
        }
        killed += found;
        // Orphans of what was just killed are reparented to us within moments.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    killed
}

fn kill_strays_once(uid: &str, since: u64) -> usize {
    if childless() {
        return 0;
    }
    let me = std::process::id() as i32;
    let strays = {
        let live = live();
        let strays: Vec<Pid> = children_of(me)
            .into_iter()
            .filter(|p| !live.values().any(|&first| first == p.pid.as_raw()))
            .filter(|p| match tag_of(p.pid) {
                Some(tag) => tag == uid || !live.contains_key(&tag),
                None => p.started >= since,
            })
            .map(|p| p.pid)
            .collect();
        for &pid in &strays {
            let _ = kill(pid, Signal::SIGKILL);
        }
        strays
    };
    // Reaped by pid and without blocking (a process may be unkillable for a while, or
    // traced): tokio only ever waits for the pids it spawned itself, the live jobs' first
    // processes, never touched here. What is not dead yet is found by the next pass.
    for &pid in &strays {
        let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
    }
    strays.len()
}

/// Whether this process has no child at all, running or dead: then no job left anything
/// behind, and the sweep need not read `/proc`. One call, which reaps nothing.
fn childless() -> bool {
    let any = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    matches!(waitid(Id::All, any), Err(Errno::ECHILD))
}

fn children_of(parent: i32) -> Vec<Proc> {
    // The kernel lists each thread's children: a few small reads instead of all of /proc.
    if let Some(pids) = listed_children() {
        return pids
            .into_iter()
            .filter_map(read_proc)
            .filter(|p| p.parent == parent)
            .collect();
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_proc)
        .filter(|p| p.parent == parent)
        .collect()
}

/// This process's children from `/proc/self/task/*/children`, or `None` where the kernel
/// does not offer that file.
fn listed_children() -> Option<Vec<i32>> {
    let mut pids = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let text = std::fs::read_to_string(task.ok()?.path().join("children")).ok()?;
        pids.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    pids.sort_unstable();
    pids.dedup();
    Some(pids)
}
