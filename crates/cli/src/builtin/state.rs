//! `aws-exec schedule state NAME` and `aws-exec trigger state NAME`: the state a
//! definition's next run starts from; `--get DIR` fetches its files, `--reset` empties it.

use std::path::PathBuf;

use aws_exec_client::Client;
use aws_exec_protocol::keys::DefKind;
use clap::Args;

#[derive(Debug, Args)]
pub struct StateArgs {
    /// The schedule's or trigger's name
    pub name: String,
    /// Write its files into DIR
    #[arg(long, value_name = "DIR", conflicts_with = "reset")]
    pub get: Option<PathBuf>,
    /// Empty it: the next run starts with nothing in $AWS_EXEC_STATE
    #[arg(long)]
    pub reset: bool,
    /// Print it as JSON
    #[arg(long)]
    pub json: bool,
}

pub async fn run(client: &Client, kind: DefKind, args: StateArgs) -> anyhow::Result<i32> {
    let info = match (&args.get, args.reset) {
        (Some(dir), _) => client.download_state(kind, &args.name, dir).await?,
        (None, true) => client.reset_state(kind, &args.name).await?,
        (None, false) => client.state(kind, &args.name).await?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(0);
    }
    let said = match (info.version, info.size) {
        (0, _) => "no state saved yet".to_owned(),
        (v, 0) => format!("version {v}, empty"),
        (v, size) => format!("version {v}, {size} bytes"),
    };
    println!("{}: {said}", args.name);
    match (&args.get, args.reset) {
        (Some(dir), _) if info.size > 0 => {
            eprintln!("aws-exec: its files are in {}", dir.display())
        }
        (_, true) => eprintln!("aws-exec: the next run starts with an empty $AWS_EXEC_STATE"),
        _ => {}
    }
    Ok(0)
}
