//! `aws-exec notify secret [--rotate]`: the key your jobs' notifications (`--notify URL`)
//! are signed with, to verify them by.

use clap::{Args, Subcommand};

use crate::cli::Remote;

#[derive(Debug, Args)]
pub struct NotifyArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(subcommand)]
    pub command: NotifyCmd,
}

#[derive(Debug, Subcommand)]
pub enum NotifyCmd {
    /// Print the signing secret (whsec_...), made on first ask
    Secret {
        /// Replace it with a new one first: notifications are signed with the new one
        #[arg(long)]
        rotate: bool,
    },
}

pub async fn run(args: NotifyArgs) -> anyhow::Result<i32> {
    let client = args.remote.client()?;
    match args.command {
        NotifyCmd::Secret { rotate } => {
            let secret = match rotate {
                true => client.rotate_notify_secret().await?,
                false => client.notify_secret().await?,
            };
            println!("{secret}");
        }
    }
    Ok(0)
}
