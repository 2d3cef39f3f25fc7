//! `aws-exec secret set|ls|rm`: values jobs get by name (`exec --secret NAME`). A value is
//! read from stdin or typed at a prompt that does not echo it, never taken from the command
//! line, where shell history and `ps` would keep it; no command shows it again.

use std::io::{IsTerminal, Read};

use anyhow::Context;
use aws_exec_protocol::limits::MAX_SECRET_BYTES;
use aws_exec_protocol::SecretName;
use clap::{Args, Subcommand};

use crate::cli::Remote;

#[derive(Debug, Args)]
pub struct SecretArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(subcommand)]
    pub command: SecretCmd,
}

#[derive(Debug, Subcommand)]
pub enum SecretCmd {
    /// Store or replace secret NAME; its value is read from stdin (one trailing newline
    /// dropped) or typed at a prompt that does not echo it
    Set {
        /// A-Z, 0-9 and _, not starting with a digit: also the variable's name in jobs
        name: SecretName,
    },
    /// List your secrets: names and when each was set (values are never shown)
    Ls {
        /// Print them as JSON
        #[arg(long)]
        json: bool,
    },
    /// Delete secret NAME; jobs and schedules that ask for it then fail
    Rm { name: SecretName },
}

pub async fn run(args: SecretArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    match args.command {
        SecretCmd::Set { name } => {
            let value = read_value(&name)?;
            client
                .put_secret(name.as_str(), &value)
                .await
                .with_context(|| format!("storing secret {name}"))?;
            eprintln!(
                "aws-exec: secret {name} stored ({} bytes); jobs get it with --secret {name}",
                value.len()
            );
        }
        SecretCmd::Ls { json } => {
            let secrets = client.secrets().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&secrets)?);
                return Ok(0);
            }
            println!("{:<32}  UPDATED", "NAME");
            for s in &secrets {
                println!(
                    "{:<32}  {} ({} ago)",
                    s.name.as_str(),
                    crate::show::moment(s.updated),
                    crate::show::age(s.updated)
                );
            }
        }
        SecretCmd::Rm { name } => {
            client
                .delete_secret(name.as_str())
                .await
                .with_context(|| format!("deleting secret {name}"))?;
            eprintln!("aws-exec: secret {name} deleted");
        }
    }
    Ok(0)
}

/// The value, from stdin when it is piped, else typed at a prompt that does not echo it.
fn read_value(name: &SecretName) -> anyhow::Result<String> {
    let mut value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("value of {name} (not shown): "))
            .context("reading the value")?
    } else {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(MAX_SECRET_BYTES as u64 + 3)
            .read_to_end(&mut bytes)
            .context("reading the value from stdin")?;
        String::from_utf8(bytes).context("the value is not UTF-8 text")?
    };
    // `echo x |` and a typed line end in a newline that is not part of the value.
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    if value.is_empty() {
        anyhow::bail!("no value given: pipe it in, or type it at the prompt");
    }
    if value.len() > MAX_SECRET_BYTES {
        anyhow::bail!("a secret's value holds at most {MAX_SECRET_BYTES} bytes");
    }
    Ok(value)
}
