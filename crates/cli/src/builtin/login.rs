//! `aws-exec login` / `logout`: keep a service's URL and key in a profile, checked against
//! the service first, so that later commands need neither flags nor variables. The key is
//! read from stdin, or from the terminal without echo: never from the command line, which
//! shell history and `ps` keep.

use std::io::{IsTerminal, Read};

use anyhow::Context;
use aws_exec_client::{Client, LOCAL_URL};
use clap::Args;

use crate::config::{Config, Profile, DEFAULT_PROFILE, PROFILE_ENV};
use crate::remote::url_from_variables;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The service [default: $PROJECT_URL, else https://$PROJECT_DOMAIN, else the
    /// profile's own, else http://127.0.0.1:8080]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The profile to keep it in; other profiles are kept as they are
    #[arg(long, env = PROFILE_ENV, value_name = "NAME", default_value = DEFAULT_PROFILE)]
    pub profile: String,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The profile to forget
    #[arg(long, env = PROFILE_ENV, value_name = "NAME", default_value = DEFAULT_PROFILE)]
    pub profile: String,
}

pub async fn login(args: LoginArgs) -> anyhow::Result<i32> {
    // Read first: a file this version cannot read is said before a key is asked for.
    let mut config = Config::load()?;
    let url = args
        .url
        .or_else(|| url_from_variables().map(|(url, _)| url))
        .or_else(|| config.profiles.get(&args.profile).map(|p| p.url.clone()))
        .unwrap_or_else(|| LOCAL_URL.to_owned());
    let key = read_key()?;
    let name = Client::new(&url, &key)?
        .whoami()
        .await
        .with_context(|| format!("checking the key with {url}; nothing was saved"))?;
    config.profiles.insert(
        args.profile.clone(),
        Profile {
            url: url.clone(),
            auth: key,
        },
    );
    let path = config.save()?;
    eprintln!(
        "aws-exec: signed in to {url} as {name} (profile {:?}, kept in {})",
        args.profile,
        path.display()
    );
    Ok(0)
}

pub fn logout(args: LogoutArgs) -> anyhow::Result<i32> {
    let mut config = Config::load()?;
    let forgotten = config.remove(&args.profile)?;
    let path = config.save()?;
    eprintln!(
        "aws-exec: forgot profile {:?} ({}); {} keeps the others",
        args.profile,
        forgotten.url,
        path.display()
    );
    Ok(0)
}

/// The key, from stdin when it is piped, else typed at a prompt that does not echo it.
fn read_key() -> anyhow::Result<String> {
    let key = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("auth key (not shown): ").context("reading the key")?
    } else {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the key from stdin")?;
        text
    };
    let key = key.trim().to_owned();
    if key.is_empty() {
        anyhow::bail!("no key given: pipe it in, or type it at the prompt");
    }
    Ok(key)
}
