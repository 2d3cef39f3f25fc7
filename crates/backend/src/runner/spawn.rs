//! Starts a job's first process, as the job's user when the service runs as root, the way
//! `posix_spawn` does: the child shares the service's memory and runs only until `execve`.
//! `std` forks instead once a user is set, which copies the service's page tables and makes
//! every page the service writes afterwards fault; here a start costs the same whatever
//! the service's size.
//!
//! This is the service's only `unsafe` code. The child runs on a stack of its own while the
//! spawning thread waits, reads only what was prepared for it, and makes raw system calls:
//! glibc's `setuid` family would signal every thread of the service, whose memory the child
//! shares but which it is not part of.
#![allow(unsafe_code)]

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use crate::usage::Rusage;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::libc;
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;

/// What to start.
pub struct Launch<'a> {
    pub argv: &'a [String],
    /// The whole environment the process gets.
    pub env: Vec<(OsString, OsString)>,
    pub cwd: &'a Path,
    /// A pipe for standard input; `/dev/null` without.
    pub piped_stdin: bool,
    /// The user and group to become, without supplementary groups.
    pub run_as: Option<(u32, u32)>,
}

/// A started process: its pipes, and its pid to wait for.
pub struct Launched {
    pub process: Process,
    pub stdin: Option<pipe::Sender>,
    /// Its standard output and error, one pipe for both (as a shell's `2>&1`): what it
    /// writes to either comes out in the order it was written.
    pub output: pipe::Receiver,
}

/// Where PATH is not set, what a shell would search.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Starts `launch` in a process group of its own. An error is the reason its program could
/// not be run (not found, not executable, ...), as `execvp` would report it.
pub fn launch(launch: &Launch<'_>) -> io::Result<Launched> {
    let (program, _) = launch
        .argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    let argv = c_strings(launch.argv.iter().map(|a| OsStr::new(a.as_str())))?;
    let env = c_strings(launch.env.iter().map(|(k, v)| {
        let mut var = k.clone();
        var.push("=");
        var.push(v);
        var
    }))?;
    let path = launch
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or_else(|| OsString::from(DEFAULT_PATH), |(_, v)| v.clone());
    let candidates = c_strings(candidates(program, &path))?;
    let cwd = CString::new(launch.cwd.as_os_str().as_bytes())?;

    let (stdin_child, stdin_ours) = match launch.piped_stdin {
        true => {
            let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
            (above_stdio(read)?, Some(write))
        }
        false => (
            above_stdio(OwnedFd::from(std::fs::File::open("/dev/null")?))?,
            None,
        ),
    };
    // One pipe for both streams: two pipes read side by side lose the order between them.
    let (output_ours, output_child) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let output_child = above_stdio(output_child)?;

    let plan = Plan {
        candidates: candidates.iter().map(|c| c.as_ptr()).collect(),
        argv: null_terminated(&argv),
        envp: null_terminated(&env),
        cwd: cwd.as_ptr(),
        fds: [
            stdin_child.as_raw_fd(),
            output_child.as_raw_fd(),
            output_child.as_raw_fd(),
        ],
        run_as: launch.run_as,
        mask: empty_sigset(),
        errno: AtomicI32::new(0),
    };
    let pid = start(plan)?;
    // The child's ends live on in the child alone.
    drop((stdin_child, output_child));
    Ok(Launched {
        process: Process::new(pid),
        stdin: stdin_ours.map(pipe::Sender::from_owned_fd).transpose()?,
        output: pipe::Receiver::from_owned_fd(output_ours)?,
    })
}

/// The paths `execvp` would try for `program`, in order.
fn candidates(program: &str, path: &OsStr) -> Vec<OsString> {
    if program.contains('/') {
        return vec![program.into()];
    }
    path.as_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            // An empty entry means the working directory.
            let dir = if dir.is_empty() { b".".as_slice() } else { dir };
            let mut full = OsStr::from_bytes(dir).to_owned();
            full.push("/");
            full.push(program);
            full
        })
        .collect()
}

fn c_strings(items: impl IntoIterator<Item = impl AsRef<OsStr>>) -> io::Result<Vec<CString>> {
    items
        .into_iter()
        .map(|s| CString::new(s.as_ref().as_bytes()).map_err(io::Error::from))
        .collect()
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain([std::ptr::null()])
        .collect()
}

/// `fd`, moved to a number above 2 if it is one of 0-2 (a service started with a standard
/// stream closed), so that placing the child's streams cannot overwrite one with another.
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    let moved = fcntl(fd.as_raw_fd(), FcntlArg::F_DUPFD_CLOEXEC(3))?;
    // SAFETY: `fcntl` just returned this new descriptor, owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(moved) })
}

fn empty_sigset() -> libc::sigset_t {
    // SAFETY: sigemptyset initializes the set it is given.
    unsafe {
        let mut set = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        set
    }
}

/// Everything the child needs, prepared by the parent: the child allocates nothing.
struct Plan {
    candidates: Vec<*const libc::c_char>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    cwd: *const libc::c_char,
    /// Standard input, output and error, in that order.
    fds: [RawFd; 3],
    run_as: Option<(u32, u32)>,
    /// The signal mask the program starts with: nothing blocked.
    mask: libc::sigset_t,
    /// Why the child could not exec, written by the child before it exits.
    errno: AtomicI32,
}

/// Signals the kernel numbers, 1 to 64, and the size of its signal set.
const KERNEL_SIGNALS: libc::c_int = 64;
const SIGSET_BYTES: usize = 8;

/// `struct sigaction` as the kernel takes it (x86_64 and aarch64 alike); all zero is the
/// default action.
#[repr(C)]
#[derive(Default)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// The child's stack: the child only makes system calls, a few frames deep.
const CHILD_STACK: usize = 64 * 1024;

/// Clones the child and waits until it has exec'd or failed to; answers its pid.
fn start(mut plan: Plan) -> io::Result<i32> {
    // No signal handler of the service may run in the child while it shares the memory:
    // all are blocked until the child has set them to their defaults.
    let mut saved = empty_sigset();
    // SAFETY: plain calls on sets owned here.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut saved);
    }
    let mut stack = vec![0u8; CHILD_STACK];
    // SAFETY: the stack is ours and outlives the child's use of it (CLONE_VFORK returns
    // once the child has exec'd or exited); `plan` is read by the child only, and written
    // by it only through the atomic `errno`, until then.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(CHILD_STACK);
        let top = top.sub(top as usize % 16);
        libc::clone(
            child,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::addr_of_mut!(plan).cast(),
        )
    };
    let clone_error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &saved, std::ptr::null_mut());
    }
    drop(stack);
    if pid < 0 {
        return Err(clone_error);
    }
    match plan.errno.load(Ordering::Acquire) {
        0 => Ok(pid),
        errno => {
            // It exited without exec: reaped here, so it leaves no zombie.
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            Err(io::Error::from_raw_os_error(errno))
        }
    }
}

/// The child, from clone to exec. Raw system calls only, on prepared data only.
extern "C" fn child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Plan` that `start` keeps alive until this child execs or exits.
    let plan = unsafe { &*(arg as *const Plan) };
    let errno = || {
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL)
    };
    // SAFETY: system calls on the child's own descriptors, credentials and signal state.
    unsafe {
        for (target, &fd) in plan.fds.iter().enumerate() {
            // dup3, which every architecture has (aarch64 has no dup2); `fd` is never
            // `target` (see `above_stdio`).
            if libc::syscall(libc::SYS_dup3, fd, target as libc::c_int, 0) < 0 {
                fail(plan, errno());
            }
        }
        if libc::syscall(libc::SYS_setpgid, 0, 0) < 0 {
            fail(plan, errno());
        }
        // Nothing the job runs gains privileges: a setuid program (su, a misconfigured
        // helper in an image) or a file capability runs with the job's own.
        // Each argument a whole register's width: the kernel wants exactly 1 and 0s.
        let (on, none): (libc::c_ulong, libc::c_ulong) = (1, 0);
        if libc::syscall(
            libc::SYS_prctl,
            libc::PR_SET_NO_NEW_PRIVS,
            on,
            none,
            none,
            none,
        ) < 0
        {
            fail(plan, errno());
        }
        if let Some((user, group)) = plan.run_as {
            // What it makes outside its own directory (`/tmp`, `/dev/shm`) is its user's
            // alone unless it says otherwise: another job's user cannot read it.
            libc::syscall(libc::SYS_umask, 0o077);
            if libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) < 0
                || libc::syscall(libc::SYS_setgid, group) < 0
                || libc::syscall(libc::SYS_setuid, user) < 0
            {
                fail(plan, errno());
            }
        }
        if libc::syscall(libc::SYS_chdir, plan.cwd) < 0 {
            fail(plan, errno());
        }
        // Every signal gets its default action: handlers (exec would reset those too, but a
        // signal may come first), and what the service ignores, SIGPIPE among them, or what
        // was ignored where it was started. Through the kernel's own call: glibc's refuses
        // the signals it keeps for itself.
        for sig in 1..=KERNEL_SIGNALS {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            let mut old = KernelSigaction::default();
            let got = libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                std::ptr::null::<KernelSigaction>(),
                &mut old,
                SIGSET_BYTES,
            );
            if got == 0 && old.handler != libc::SIG_DFL {
                let default = KernelSigaction::default();
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    &default,
                    std::ptr::null_mut::<KernelSigaction>(),
                    SIGSET_BYTES,
                );
            }
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &plan.mask, std::ptr::null_mut());
        // As execvp: a directory that denies access is remembered, a missing one skipped,
        // anything else ends the search.
        let mut denied = false;
        let mut last = libc::ENOENT;
        for &path in &plan.candidates[..] {
            libc::syscall(
                libc::SYS_execve,
                path,
                plan.argv.as_ptr(),
                plan.envp.as_ptr(),
            );
            last = errno();
            match last {
                libc::EACCES => denied = true,
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
                _ => break,
            }
        }
        let reason = match (denied, last) {
            (true, libc::ENOENT | libc::ENOTDIR) => libc::EACCES,
            (_, e) => e,
        };
        fail(plan, reason)
    }
}

/// Tells the parent why, and ends the child.
fn fail(plan: &Plan, errno: i32) -> ! {
    plan.errno.store(errno, Ordering::Release);
    // SAFETY: ends this child only (it is a process of its own), without running anything
    // of the service's.
    unsafe { libc::_exit(127) }
}

/// A started process, waited for without a thread: through a pidfd where the kernel has
/// them, else by looking every few milliseconds. Killed if dropped before it ended.
pub struct Process {
    pid: i32,
    pidfd: Option<AsyncFd<OwnedFd>>,
    status: Option<ExitStatus>,
    /// What it and the descendants it waited for used, as the kernel counted at its reaping.
    usage: Option<Rusage>,
}

impl Process {
    fn new(pid: i32) -> Self {
        // SAFETY: pidfd_open takes a pid and flags and answers a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let pidfd = (fd >= 0)
            // SAFETY: a descriptor pidfd_open just returned, owned by no one else.
            .then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
            // SAFETY: the descriptor is owned by the value registered, and closed only when
            // it is dropped.
            .and_then(|fd| unsafe { AsyncFd::register(fd) }.ok());
        Process {
            pid,
            pidfd,
            status: None,
            usage: None,
        }
    }

    /// What it used, once it has been reaped.
    pub fn usage(&self) -> Option<Rusage> {
        self.usage
    }

    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// Reaps the process if it has ended.
    fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            let mut raw = 0;
            // SAFETY: an all-zero rusage is a valid value of that plain C struct.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: waits for our own child by pid, without blocking; both pointers are
            // to locals that outlive the call.
            match unsafe { libc::wait4(self.pid, &mut raw, libc::WNOHANG, &mut usage) } {
                0 => {}
                -1 => return Err(io::Error::last_os_error()),
                _ => {
                    self.status = Some(ExitStatus::from_raw(raw));
                    let time = |t: libc::timeval| {
                        Duration::from_secs(t.tv_sec.max(0) as u64)
                            + Duration::from_micros(t.tv_usec.max(0) as u64)
                    };
                    self.usage = Some(Rusage {
                        user: time(usage.ru_utime),
                        system: time(usage.ru_stime),
                        // Linux counts it in KiB.
                        max_rss_bytes: usage.ru_maxrss.max(0) as u64 * 1024,
                    });
                }
            }
        }
        Ok(self.status)
    }

    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            match &self.pidfd {
                Some(fd) => fd.readable().await?.clear_ready(),
                None => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    /// Sends SIGKILL to the process (not its group) if it has not been reaped.
    pub fn start_kill(&mut self) -> io::Result<()> {
        if self.status.is_none() {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid),
                nix::sys::signal::Signal::SIGKILL,
            )?;
        }
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.try_wait(), Ok(None)) {
            let _ = self.start_kill();
            let pid = nix::unistd::Pid::from_raw(self.pid);
            std::thread::spawn(move || nix::sys::wait::waitpid(pid, None));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_is_looked_for_as_execvp_does() {
        assert_eq!(candidates("./run", OsStr::new("/bin")), ["./run"]);
        assert_eq!(candidates("/bin/true", OsStr::new("/x")), ["/bin/true"]);
        assert_eq!(
            candidates("true", OsStr::new("/x::/y")),
            ["/x/true", "./true", "/y/true"]
        );
    }
}
