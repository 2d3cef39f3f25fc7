//! Running a command in a pseudo-terminal, where what it does differs from a pipe (a
//! progress bar, a prompt that hides what is typed): python3's `pty` module holds the
//! terminal's other end, answers a prompt once it shows, and hands back what was shown.

use std::process::Command;

/// The terminal's side: runs argv[1..] in a new terminal; when `$PROMPT` appears, waits
/// for the terminal's echo to go off (at most 5 s: a prompt that never turns it off is
/// then typed into anyway, and shows the reply) and types `$REPLY` and Enter. Prints
/// everything the terminal showed; exits with the command's code.
const HOLDER: &str = r#"
import os, pty, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
prompt, reply = os.environ.get("PROMPT", "").encode(), os.environ.get("REPLY", "").encode()
shown, sent = b"", not prompt
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    shown += data
    if not sent and prompt in shown:
        deadline = time.time() + 5
        while termios.tcgetattr(fd)[3] & termios.ECHO and time.time() < deadline:
            time.sleep(0.02)
        os.write(fd, reply + b"\r")
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(shown)
sys.exit(os.waitstatus_to_exitcode(status))
"#;

/// `command` (a program and its arguments, environment set on it) run in a terminal:
/// its code and everything the terminal showed, stdout and stderr together. With
/// `answer`, types its reply once its prompt shows.
pub fn in_a_terminal(command: &Command, answer: Option<(&str, &str)>) -> (Option<i32>, String) {
    let mut holder = Command::new("python3");
    holder
        .arg("-c")
        .arg(HOLDER)
        .arg(command.get_program())
        .args(command.get_args())
        .stdin(std::process::Stdio::null());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => holder.env(name, value),
            None => holder.env_remove(name),
        };
    }
    if let Some((prompt, reply)) = answer {
        holder.env("PROMPT", prompt).env("REPLY", reply);
    }
    let out = holder
        .output()
        .expect("python3 runs (bin/setup.sh installs it)");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}
