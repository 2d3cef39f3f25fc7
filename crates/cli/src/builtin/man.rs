//! `aws-exec man`: the manual page, in roff on stdout (`aws-exec man | man -l -`), made from
//! the command line's own definition so that it never falls behind it.

use clap::CommandFactory;

use crate::cli::Cli;

pub fn run() -> anyhow::Result<i32> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    std::io::Write::write_all(&mut std::io::stdout().lock(), &page)?;
    Ok(0)
}
