//! `aws-exec whoami`: the name behind the key in use, the service, and where each came
//! from (flags, variables, a profile): what to check when a command goes somewhere else.

use anyhow::Context;
use clap::Args;

use crate::cli::Remote;

#[derive(Debug, Args)]
pub struct WhoamiArgs {
    #[command(flatten)]
    pub remote: Remote,
    /// Print it as JSON
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: WhoamiArgs) -> anyhow::Result<i32> {
    let resolved = args.remote.resolve()?;
    let name = args
        .remote
        .client()?
        .whoami()
        .await
        .with_context(|| format!("asking {} whose key this is", resolved.url))?;
    if args.json {
        let answer = serde_json::json!({
            "name": name,
            "url": resolved.url,
            "url-from": resolved.url_from,
            "auth-from": resolved.auth_from,
            "profile": resolved.profile,
        });
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(0);
    }
    // The name alone on stdout, for `$(aws-exec whoami)`; the rest for the person.
    println!("{name}");
    eprintln!(
        "aws-exec: at {} (from {}), key from {}",
        resolved.url, resolved.url_from, resolved.auth_from
    );
    Ok(0)
}
