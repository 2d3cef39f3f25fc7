//! Signing in once: `aws-exec login` against a real `serve`, the profile file it keeps, the
//! order in which flags, variables and profiles decide, `whoami`, `logout`; and the help a
//! shell reads (`completions`, `man`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aws_exec_testkit::env::clean_command;
use aws_exec_testkit::ServeProcess;

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");

/// `aws-exec serve` on port 0 in a temp data dir, and a config home of its own with no
/// AUTH, PROJECT_URL or AWS_EXEC_PROFILE set.
struct Setup {
    _serve: ServeProcess,
    url: String,
    /// The key `serve` printed on first start: the name "default".
    key: String,
    data: tempfile::TempDir,
    config: tempfile::TempDir,
}

impl Setup {
    fn start() -> Self {
        let data = tempfile::tempdir().unwrap();
        let serve = ServeProcess::start(BIN, &["--data-dir", data.path().to_str().unwrap()], &[]);
        Setup {
            url: serve.url.clone(),
            key: serve.key.clone(),
            _serve: serve,
            data,
            config: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self) -> PathBuf {
        self.config.path().join("aws-exec/config.toml")
    }

    fn command(&self, args: &[&str], vars: &[(&str, &str)]) -> Command {
        let mut command = clean_command(BIN, &[]);
        command
            .args(args)
            .env("XDG_CONFIG_HOME", self.config.path())
            .envs(vars.iter().copied());
        command
    }

    /// The command line with `stdin` piped in.
    fn run(&self, args: &[&str], vars: &[(&str, &str)], stdin: &str) -> Output {
        aws_exec_testkit::output_with_stdin(self.command(args, vars), stdin.as_bytes())
    }

    fn login(&self, args: &[&str], vars: &[(&str, &str)], key: &str) -> Output {
        let out = self.run(&[&["login"], args].concat(), vars, &format!("{key}\n"));
        assert!(out.status.success(), "login: {}", stderr(&out));
        out
    }

    /// A second key, for the name `name`.
    fn new_key(&self, name: &str) -> String {
        let out = self.run(
            &[
                "auth",
                "new",
                name,
                "--data-dir",
                self.data.path().to_str().unwrap(),
            ],
            &[],
            "",
        );
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// `whoami --json` with `args` and `vars` set.
    fn whoami(&self, args: &[&str], vars: &[(&str, &str)]) -> serde_json::Value {
        let out = self.run(&[&["whoami", "--json"], args].concat(), vars, "");
        assert!(out.status.success(), "whoami: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn login_from_stdin_keeps_a_private_profile_that_later_commands_use() {
    let setup = Setup::start();
    // A directory left open by something else is made private too.
    std::fs::create_dir_all(setup.config.path().join("aws-exec")).unwrap();
    std::fs::set_permissions(
        setup.config.path().join("aws-exec"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();

    let out = setup.login(&["--url", &setup.url], &[], &setup.key);
    let said = stderr(&out);
    assert!(
        said.contains("as default") && said.contains(&setup.url),
        "{said}"
    );
    assert!(!said.contains(&setup.key), "the key was printed: {said}");
    assert_eq!(mode(&setup.file()), 0o600);
    assert_eq!(mode(setup.file().parent().unwrap()), 0o700);
    let saved = std::fs::read_to_string(setup.file()).unwrap();
    assert!(saved.contains("[profiles.default]"), "{saved}");
    assert!(saved.contains(&setup.key) && saved.contains(&setup.url));

    // No flag, no variable: the profile says where and with what key.
    let ls = setup.run(&["ls"], &[], "");
    assert!(ls.status.success(), "{}", stderr(&ls));
    let ran = setup.run(&["exec", "--", "echo", "hi"], &[], "");
    assert_eq!(ran.stdout, b"hi\n", "{}", stderr(&ran));

    // A second profile keeps the first; nothing but the file itself is left beside it.
    let bob = setup.new_key("bob");
    setup.login(&["--url", &setup.url, "--profile", "work"], &[], &bob);
    let saved = std::fs::read_to_string(setup.file()).unwrap();
    assert!(saved.contains("[profiles.default]") && saved.contains("[profiles.work]"));
    assert!(saved.contains(&setup.key) && saved.contains(&bob));
    let files: Vec<_> = std::fs::read_dir(setup.file().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, ["config.toml"]);
}

#[test]
fn a_wrong_key_saves_nothing_and_says_so() {
    let setup = Setup::start();
    let wrong = setup.run(&["login", "--url", &setup.url], &[], "nope\n");
    assert_eq!(wrong.status.code(), Some(255));
    let err = stderr(&wrong);
    assert!(
        err.contains("nothing was saved") && err.contains("401"),
        "{err}"
    );
    assert!(!setup.file().exists());

    // Nor does a wrong key replace a good one already saved.
    setup.login(&["--url", &setup.url], &[], &setup.key);
    let before = std::fs::read_to_string(setup.file()).unwrap();
    let wrong = setup.run(&["login"], &[], "nope\n");
    assert_eq!(wrong.status.code(), Some(255));
    assert_eq!(std::fs::read_to_string(setup.file()).unwrap(), before);

    // Nor an empty one, which is never sent.
    let empty = setup.run(&["login", "--url", &setup.url], &[], "\n");
    assert_eq!(empty.status.code(), Some(255));
    assert!(
        stderr(&empty).contains("no key given"),
        "{}",
        stderr(&empty)
    );
    assert_eq!(std::fs::read_to_string(setup.file()).unwrap(), before);
}

#[test]
fn flags_and_variables_win_over_the_profile_each_on_its_own() {
    let setup = Setup::start();
    setup.login(&["--url", &setup.url], &[], &setup.key);
    let bob = setup.new_key("bob");

    let me = setup.whoami(&[], &[]);
    assert_eq!(me["name"], "default");
    assert_eq!(me["url"], setup.url.as_str());
    assert_eq!(me["url-from"], "profile \"default\"");
    assert_eq!(me["auth-from"], "profile \"default\"");
    assert_eq!(me["profile"], "default");

    // The key from AUTH or --auth, the URL still from the profile.
    let me = setup.whoami(&[], &[("AUTH", &bob)]);
    assert_eq!(
        (&me["name"], &me["auth-from"]),
        (&"bob".into(), &"AUTH".into())
    );
    assert_eq!(me["url-from"], "profile \"default\"");
    let me = setup.whoami(&["--auth", &bob], &[]);
    assert_eq!(
        (&me["name"], &me["auth-from"]),
        (&"bob".into(), &"--auth".into())
    );

    // The URL from --url, PROJECT_URL or PROJECT_DOMAIN, the key still from the profile.
    let me = setup.whoami(
        &["--url", &setup.url],
        &[("PROJECT_URL", "http://127.0.0.1:1")],
    );
    assert_eq!(me["url-from"], "--url");
    assert_eq!(me["auth-from"], "profile \"default\"");
    let me = setup.whoami(&[], &[("PROJECT_URL", &setup.url)]);
    assert_eq!(me["url-from"], "PROJECT_URL");
    for vars in [
        &[("PROJECT_URL", "http://127.0.0.1:1")][..],
        &[("PROJECT_DOMAIN", "127.0.0.1:1")],
    ] {
        let out = setup.run(&["exec", "--", "true"], vars, "");
        assert_eq!(out.status.code(), Some(255));
        assert!(
            stderr(&out).contains("127.0.0.1:1"),
            "{vars:?}: {}",
            stderr(&out)
        );
    }
    let out = setup.run(
        &["exec", "--url", "http://127.0.0.1:1", "--", "true"],
        &[],
        "",
    );
    assert!(stderr(&out).contains("127.0.0.1:1"), "{}", stderr(&out));

    // Both from flags and variables: the profile is not needed.
    let me = setup.whoami(&[], &[("PROJECT_URL", &setup.url), ("AUTH", &bob)]);
    assert_eq!(me["profile"], serde_json::Value::Null);

    // AWS_EXEC_PROFILE names a profile (a new one too, for login); --profile wins over it.
    // The URL of a login without --url comes from PROJECT_URL.
    setup.login(
        &[],
        &[("AWS_EXEC_PROFILE", "work"), ("PROJECT_URL", &setup.url)],
        &bob,
    );
    let me = setup.whoami(&[], &[("AWS_EXEC_PROFILE", "work")]);
    assert_eq!(
        (&me["name"], &me["profile"]),
        (&"bob".into(), &"work".into())
    );
    let me = setup.whoami(&["--profile", "default"], &[("AWS_EXEC_PROFILE", "work")]);
    assert_eq!(me["name"], "default");
    let ran = setup.run(&["exec", "--profile", "work", "--", "echo", "bob"], &[], "");
    assert_eq!(ran.stdout, b"bob\n", "{}", stderr(&ran));
}

/// A profile named by a flag wins over exported variables, as `aws --profile` does, and
/// the flags that say where to go work before the command too.
#[test]
fn an_explicit_profile_wins_over_an_exported_auth_and_goes_before_the_command() {
    let setup = Setup::start();
    let vic = setup.new_key("vic");
    setup.login(&["--url", &setup.url, "--profile", "vic"], &[], &vic);
    let exported = [
        ("AUTH", setup.key.as_str()),
        ("PROJECT_URL", "http://127.0.0.1:1"),
    ];
    let me = setup.whoami(&["--profile", "vic"], &exported);
    assert_eq!(me["name"], "vic");
    assert_eq!(me["auth-from"], "profile \"vic\"");
    assert_eq!(me["url-from"], "profile \"vic\"");
    // Before the command, and --auth still wins over the profile's key.
    let out = setup.run(&["--profile", "vic", "whoami", "--json"], &exported, "");
    assert!(out.status.success(), "{}", stderr(&out));
    let me: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(me["name"], "vic");
    let out = setup.run(
        &["--profile", "vic", "--auth", &setup.key, "whoami", "--json"],
        &[],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let me: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&me["name"], &me["auth-from"]),
        (&"default".into(), &"--auth".into())
    );
    // A profile named by the variable does not win over AUTH.
    let me = setup.whoami(&[], &[("AWS_EXEC_PROFILE", "vic"), ("AUTH", &setup.key)]);
    assert_eq!(me["name"], "default");
}

#[test]
fn an_unknown_profile_names_the_saved_ones() {
    let setup = Setup::start();
    // None saved yet: say how to make one.
    let none = setup.run(&["ls", "--profile", "work"], &[], "");
    assert_eq!(none.status.code(), Some(255));
    assert!(
        stderr(&none).contains("aws-exec login"),
        "{}",
        stderr(&none)
    );

    setup.login(&["--url", &setup.url], &[], &setup.key);
    setup.login(&["--url", &setup.url, "--profile", "home"], &[], &setup.key);
    for (args, vars) in [
        (&["ls", "--profile", "work"][..], &[][..]),
        (&["ls"], &[("AWS_EXEC_PROFILE", "work")]),
        // `exec` is read by a parser of its own first.
        (&["exec", "--profile", "work", "--", "true"], &[]),
        (&["logout", "--profile", "work"], &[]),
    ] {
        let out = setup.run(args, vars, "");
        assert_eq!(out.status.code(), Some(255), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("\"work\"") && err.contains("known: default, home"),
            "{args:?}: {err}"
        );
    }

    // logout forgets one and keeps the other.
    let out = setup.run(&["logout", "--profile", "home"], &[], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let saved = std::fs::read_to_string(setup.file()).unwrap();
    assert!(
        saved.contains("[profiles.default]") && !saved.contains("home"),
        "{saved}"
    );
    assert_eq!(mode(&setup.file()), 0o600);
    assert!(setup.run(&["logout"], &[], "").status.success());
    let gone = setup.run(&["ls"], &[], "");
    assert_eq!(gone.status.code(), Some(255));
    assert!(
        stderr(&gone).contains("no auth key") && stderr(&gone).contains("aws-exec login"),
        "{}",
        stderr(&gone)
    );
}

#[test]
fn whoami_says_who_where_and_from_what() {
    let setup = Setup::start();
    let out = setup.run(
        &["whoami"],
        &[("PROJECT_URL", &setup.url), ("AUTH", &setup.key)],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The name alone on stdout, for `$(aws-exec whoami)`.
    assert_eq!(out.stdout, b"default\n");
    let err = stderr(&out);
    assert!(
        err.contains(&setup.url)
            && err.contains("from PROJECT_URL")
            && err.contains("key from AUTH"),
        "{err}"
    );
    let wrong = setup.run(
        &["whoami"],
        &[("PROJECT_URL", &setup.url), ("AUTH", "nope")],
        "",
    );
    assert_eq!(wrong.status.code(), Some(255));
    assert!(stderr(&wrong).contains("401"), "{}", stderr(&wrong));
}

#[test]
fn login_at_a_terminal_prompts_for_the_key_without_echoing_it() {
    let setup = Setup::start();
    let login = setup.command(&["login", "--url", &setup.url, "--profile", "here"], &[]);
    // python3 is required (bin/setup.sh installs it): missing, this fails rather than skips.
    let (code, shown) = aws_exec_testkit::terminal::in_a_terminal(
        &login,
        Some(("auth key (not shown): ", &setup.key)),
    );
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("auth key (not shown): "), "{shown}");
    assert!(!shown.contains(&setup.key), "the key was echoed: {shown}");
    assert!(
        !shown.contains(&setup.key[..8]),
        "part of the key was echoed: {shown}"
    );
    assert!(shown.contains("profile \"here\""), "{shown}");
    let saved = std::fs::read_to_string(setup.file()).unwrap();
    assert!(saved.contains(&setup.key) && saved.contains("[profiles.here]"));
}

#[test]
fn completions_for_each_shell_know_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = clean_command(BIN, &[])
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.len() > 1000, "{shell}: {script}");
        for word in ["exec", "login", "profile"] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
    }
    let bad = clean_command(BIN, &[])
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn man_prints_the_manual_in_roff() {
    let out = clean_command(BIN, &[]).arg("man").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let roff = String::from_utf8(out.stdout).unwrap();
    assert!(roff.starts_with('.'), "{roff}");
    assert!(
        roff.lines().any(|l| l.starts_with(".TH aws-exec")),
        "{roff}"
    );
    assert!(roff.contains("login") && roff.contains("whoami"), "{roff}");
}

/// Every page the whole page refers to (`aws-exec-exec(1)`) can be had: one at a time by
/// its command, or all written to a directory.
#[test]
fn man_makes_the_page_of_each_command_the_manual_names() {
    let out = clean_command(BIN, &[])
        .args(["man", "exec"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let roff = String::from_utf8(out.stdout).unwrap();
    assert!(
        roff.lines().any(|l| l.starts_with(".TH aws-exec-exec")),
        "{roff}"
    );
    assert!(roff.contains("timeout"), "{roff}");
    let nested = clean_command(BIN, &[])
        .args(["man", "schedule", "add"])
        .output()
        .unwrap();
    assert!(nested.status.success(), "{}", stderr(&nested));
    let unknown = clean_command(BIN, &[])
        .args(["man", "exce"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("exec"), "{}", stderr(&unknown));

    let dir = tempfile::tempdir().unwrap();
    let out = clean_command(BIN, &[])
        .args(["man", "--dir", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let whole = std::fs::read_to_string(dir.path().join("aws-exec.1")).unwrap();
    // Each page the whole one names is there.
    let named: Vec<String> = whole
        .split("aws\\-exec\\-")
        .skip(1)
        .filter_map(|rest| rest.split('(').next())
        .filter(|name| {
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c == '\\' || c == '-')
        })
        .map(|name| format!("aws-exec-{}.1", name.replace("\\-", "-")))
        .collect();
    assert!(named.iter().any(|n| n == "aws-exec-exec.1"), "{whole}");
    for page in &named {
        assert!(
            dir.path().join(page).exists(),
            "{page} is named but not made"
        );
    }
}
