//! The README's command-line examples, run as written: every ```bash block of its "CLI"
//! and "Secrets" sections, in bash with `-eu` (as a person's shell runs them, without
//! pipefail), against a real `serve`, with the binaries on PATH. A block not meant to run
//! is ```text.

use std::path::Path;

use aws_exec_testkit::env::clean_command;
use aws_exec_testkit::ServeProcess;

const BIN: &str = env!("CARGO_BIN_EXE_aws-exec");

/// The ```bash blocks between `## {section}` and the next `## ` heading.
fn bash_blocks(readme: &str, section: &str) -> Vec<String> {
    let start = readme
        .find(&format!("\n## {section}\n"))
        .unwrap_or_else(|| panic!("README has no \"## {section}\" section"));
    let body = &readme[start + 1..];
    let end = body[3..].find("\n## ").map_or(body.len(), |at| at + 3);
    let mut blocks = Vec::new();
    let mut lines = body[..end].lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```bash" {
            let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            blocks.push(block.join("\n"));
        }
    }
    blocks
}

#[test]
fn every_cli_example_in_the_readme_runs() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let mut blocks = bash_blocks(&readme, "CLI");
    assert!(
        blocks.len() >= 3,
        "the CLI section shows examples: {blocks:?}"
    );
    blocks.extend(bash_blocks(&readme, "Secrets"));

    let data = tempfile::tempdir().unwrap();
    let serve = ServeProcess::start(BIN, &["--data-dir", data.path().to_str().unwrap()], &[]);
    let work = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for block in &blocks {
        let out = clean_command("bash", &[])
            .args(["-eu", "-c", block])
            .current_dir(work.path())
            .env("PATH", &path)
            .env("PROJECT_URL", &serve.url)
            .env("AUTH", &serve.key)
            .env("XDG_CONFIG_HOME", config.path())
            .env("HOME", work.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this README example failed ({:?}):\n{block}\n--- stdout\n{}\n--- stderr\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
