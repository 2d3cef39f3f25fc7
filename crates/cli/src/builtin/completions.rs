//! `aws-exec completions SHELL`: a completion script for a shell, made from the command
//! line's own definition so that it never falls behind it.

use clap::{Args, CommandFactory};

use crate::cli::Cli;

/// Load it in bash with `source <(aws-exec completions bash)`; zsh and fish read it from a
/// file in their completion path (`_aws-exec` in $fpath, `aws-exec.fish`).
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in
    pub shell: clap_complete::Shell,
}

pub fn run(args: CompletionsArgs) -> anyhow::Result<i32> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "aws-exec", &mut std::io::stdout());
    Ok(0)
}
