//! How a command finds its service and key: flags first, then variables, then a profile
//! saved by `aws-exec login`, then the local default. The config file is read only when
//! flags and variables leave something open, or a profile is named.

use anyhow::Context;
use aws_exec_client::{Client, LOCAL_URL};

use crate::cli::Remote;
use crate::config::Config;

/// Where a command will go, and where each part came from (for `whoami`).
#[derive(Debug)]
pub struct Resolved {
    pub url: String,
    pub url_from: String,
    pub auth: Option<String>,
    pub auth_from: String,
    /// The profile that filled a gap, if one did.
    pub profile: Option<String>,
}

/// The service URL the environment names: `$PROJECT_URL`, else `https://$PROJECT_DOMAIN`,
/// with the variable it came from.
pub fn url_from_variables() -> Option<(String, &'static str)> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    env("PROJECT_URL")
        .map(|url| (url, "PROJECT_URL"))
        .or_else(|| {
            env("PROJECT_DOMAIN").map(|domain| (format!("https://{domain}"), "PROJECT_DOMAIN"))
        })
}

impl Remote {
    /// Where a command goes, field by field: the URL from --url, $PROJECT_URL,
    /// $PROJECT_DOMAIN, the profile, the local default; the key from --auth or $AUTH, then
    /// the profile. The profile is `--profile` / $AWS_EXEC_PROFILE, else "default" if saved.
    pub fn resolve(&self) -> anyhow::Result<Resolved> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let url = match &self.url {
            Some(url) => Some((url.clone(), "--url".to_owned())),
            None => url_from_variables().map(|(url, from)| (url, from.to_owned())),
        };
        let auth = self.auth.clone().filter(|a| !a.is_empty());
        let auth_from = match env("AUTH") {
            Some(from_env) if auth.as_deref() == Some(from_env.as_str()) => "AUTH",
            _ => "--auth",
        };
        let profile = match (url.is_some() && auth.is_some(), &self.profile) {
            (true, None) => None,
            _ => {
                let config = Config::load()?;
                config
                    .profile(self.profile.as_deref())?
                    .map(|(name, profile)| (name, profile.clone()))
            }
        };
        let from_profile = |name: &str| format!("profile {name:?}");
        let (url, url_from) = match (url, &profile) {
            (Some(url), _) => url,
            (None, Some((name, p))) => (p.url.clone(), from_profile(name)),
            (None, None) => (LOCAL_URL.to_owned(), "the local default".to_owned()),
        };
        let (auth, auth_from) = match (auth, &profile) {
            (Some(auth), _) => (Some(auth), auth_from.to_owned()),
            (None, Some((name, p))) => (Some(p.auth.clone()), from_profile(name)),
            (None, None) => (None, "nowhere".to_owned()),
        };
        let used = (url_from.starts_with("profile") || auth_from.starts_with("profile"))
            .then(|| profile.map(|(name, _)| name))
            .flatten();
        Ok(Resolved {
            url,
            url_from,
            auth,
            auth_from,
            profile: used,
        })
    }

    pub fn client(&self) -> anyhow::Result<Client> {
        let resolved = self.resolve()?;
        let auth = resolved.auth.context(
            "no auth key: pass --auth, set AUTH, or sign in once with `aws-exec login` \
             (`aws-exec serve` prints a key on its first start)",
        )?;
        Ok(Client::new(resolved.url, auth)?)
    }
}
