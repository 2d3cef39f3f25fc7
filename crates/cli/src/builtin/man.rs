//! `aws-exec man [COMMAND...]`: manual pages in roff on stdout (`aws-exec man exec | man -l
//! -`), the whole command's or one command's, or every page written to a directory
//! (`--dir`), made from the command line's own definition so that they never fall behind
//! it. The whole command's page refers to each command's page by its name
//! (`aws-exec-exec(1)`), which `--dir` makes.

use anyhow::Context;
use clap::{Args, CommandFactory};

use crate::cli::Cli;

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The command whose page to print (`exec`, `schedule add`); the whole command's without
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
    /// Write every page (aws-exec.1, aws-exec-exec.1, ...) into this directory instead
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<std::path::PathBuf>,
}

pub fn run(args: ManArgs) -> anyhow::Result<i32> {
    let mut top = Cli::command();
    // Built, so that each command knows its full name (`aws-exec-exec`) for its page.
    top.build();
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
        clap_mangen::generate_to(top, dir).with_context(|| format!("{}", dir.display()))?;
        return Ok(0);
    }
    let mut page = &top;
    for name in &args.command {
        page = page.find_subcommand(name).with_context(|| {
            let known: Vec<&str> = (page.get_subcommands())
                .filter(|c| !c.is_hide_set())
                .map(|c| c.get_name())
                .collect();
            format!(
                "no command {name:?} under `{}`; it has {}",
                page.get_display_name().unwrap_or(page.get_name()),
                known.join(", ")
            )
        })?;
    }
    let mut roff = Vec::new();
    clap_mangen::Man::new(page.clone()).render(&mut roff)?;
    std::io::Write::write_all(&mut std::io::stdout().lock(), &roff)?;
    Ok(0)
}
