//! Where the command line finds a service and its key when no flag or variable says:
//! named profiles in `$XDG_CONFIG_HOME/aws-exec/config.toml` (else `~/.config/...`), a
//! file only its user may read, written whole or not at all.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

/// The variable that names a profile, as `--profile` does.
pub const PROFILE_ENV: &str = "AWS_EXEC_PROFILE";

#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One service and the key to it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub url: String,
    pub auth: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no config directory: set XDG_CONFIG_HOME or HOME")]
    NoHome,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a config file this version reads: {why}")]
    Malformed { path: PathBuf, why: String },
    #[error("no profile {name:?} in {path}; {known}")]
    UnknownProfile {
        name: String,
        path: PathBuf,
        known: String,
    },
}

impl Config {
    /// The config file's path.
    pub fn path() -> Result<PathBuf, ConfigError> {
        let set = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        let base = match (set("XDG_CONFIG_HOME"), set("HOME")) {
            (Some(dir), _) => PathBuf::from(dir),
            (None, Some(home)) => PathBuf::from(home).join(".config"),
            (None, None) => return Err(ConfigError::NoHome),
        };
        Ok(base.join("aws-exec").join("config.toml"))
    }

    /// The saved profiles; none when there is no file yet.
    pub fn load() -> Result<Config, ConfigError> {
        let path = Self::path()?;
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => return Err(ConfigError::Io { path, source }),
        };
        toml::from_str(&text).map_err(|e| ConfigError::Malformed {
            path,
            why: e.message().to_owned(),
        })
    }

    /// Writes the file whole: a reader sees the old one or the new one, never a part.
    pub fn save(&self) -> Result<PathBuf, ConfigError> {
        let path = Self::path()?;
        let io = |source| ConfigError::Io {
            path: path.clone(),
            source,
        };
        let dir = path.parent().expect("a file in a directory");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
        let text = toml::to_string(self).expect("a config serializes");
        let tmp = dir.join(format!(".config.toml.{}", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut file| {
                file.write_all(text.as_bytes())
                    .and_then(|()| file.sync_all())
            });
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(e));
        }
        Ok(path)
    }

    /// The profile `name` names (`--profile`, else `$AWS_EXEC_PROFILE`), or the default one
    /// when none is named and there is one. A named profile that is not saved is an error.
    pub fn profile(&self, name: Option<&str>) -> Result<Option<(String, &Profile)>, ConfigError> {
        let named = name
            .map(str::to_owned)
            .or_else(|| std::env::var(PROFILE_ENV).ok().filter(|v| !v.is_empty()));
        let Some(name) = named else {
            return Ok(self
                .profiles
                .get(DEFAULT_PROFILE)
                .map(|p| (DEFAULT_PROFILE.to_owned(), p)));
        };
        match self.profiles.get(&name) {
            Some(profile) => Ok(Some((name, profile))),
            None => Err(ConfigError::UnknownProfile {
                name,
                path: Self::path()?,
                known: match self.profiles.len() {
                    0 => "there are none yet: `aws-exec login` makes one".to_owned(),
                    _ => format!(
                        "known: {}",
                        self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_read_back_as_written() {
        let mut config = Config::default();
        config.profiles.insert(
            "work".into(),
            Profile {
                url: "https://x.example".into(),
                auth: "k".into(),
            },
        );
        let text = toml::to_string(&config).unwrap();
        assert!(text.contains("[profiles.work]"), "{text}");
        assert_eq!(toml::from_str::<Config>(&text).unwrap(), config);
        assert!(matches!(
            config.profile(Some("home")),
            Err(ConfigError::UnknownProfile { known, .. }) if known == "known: work"
        ));
        assert_eq!(config.profile(Some("work")).unwrap().unwrap().0, "work");
    }
}
