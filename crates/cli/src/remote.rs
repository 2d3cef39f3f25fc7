//! How a command finds its service and key: flags first (a profile named by `--profile`
//! among them), then variables, then a profile saved by `aws-exec login`, then the local
//! default. The config file is read only when flags and variables leave something open, or
//! a profile is named by a flag.

use anyhow::Context;
use aws_exec_client::{Client, LOCAL_URL};

use crate::cli::Remote;
use crate::config::{Config, Profile, PROFILE_ENV};

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
    /// Where a command goes, field by field, as `aws` does: flags first (--url, --auth,
    /// then the profile --profile names), then variables ($PROJECT_URL or $PROJECT_DOMAIN,
    /// $AUTH), then the profile $AWS_EXEC_PROFILE names (else "default", if saved), then
    /// the local default.
    pub fn resolve(&self) -> anyhow::Result<Resolved> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let flag_profile = self.profile.clone().filter(|p| !p.is_empty());
        let env_url = url_from_variables().map(|(url, from)| (url, from.to_owned()));
        let env_auth = env("AUTH").map(|auth| (auth, "AUTH".to_owned()));
        let flag_url = self.url.clone().map(|url| (url, "--url".to_owned()));
        let flag_auth = (self.auth.clone())
            .filter(|a| !a.is_empty())
            .map(|auth| (auth, "--auth".to_owned()));
        let settled = flag_url.is_some() || env_url.is_some();
        let settled = settled && (flag_auth.is_some() || env_auth.is_some());
        let profile = match (&flag_profile, settled) {
            (None, true) => None,
            (named, _) => {
                let named = named.clone().or_else(|| env(PROFILE_ENV));
                Config::load()?
                    .profile(named.as_deref())?
                    .map(|(name, profile)| (name, profile.clone()))
            }
        };
        let from_profile = |name: &str| format!("profile {name:?}");
        let of_profile = |part: fn(&Profile) -> &String| {
            profile
                .as_ref()
                .map(|(name, p)| (part(p).clone(), from_profile(name)))
        };
        // The profile a flag named comes before the variables; one named by a variable, or
        // the default one, after them.
        let named = flag_profile.is_some();
        let fallback = !named;
        let url = flag_url
            .or_else(|| of_profile(|p| &p.url).filter(|_| named))
            .or(env_url)
            .or_else(|| of_profile(|p| &p.url).filter(|_| fallback));
        let auth = flag_auth
            .or_else(|| of_profile(|p| &p.auth).filter(|_| named))
            .or(env_auth)
            .or_else(|| of_profile(|p| &p.auth).filter(|_| fallback));
        let (url, url_from) =
            url.unwrap_or_else(|| (LOCAL_URL.to_owned(), "the local default".to_owned()));
        let (auth, auth_from) = match auth {
            Some((auth, from)) => (Some(auth), from),
            None => (None, "nowhere".to_owned()),
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
