//! Where the command line finds a service and its key when no flag or variable says:
//! named profiles in `$XDG_CONFIG_HOME/aws-exec/config.toml` (else `~/.config/...`), a
//! file only its user may read, written whole or not at all.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
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
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub url: String,
    pub auth: String,
}

/// The key stays out of logs and panics, as `AuthKey`'s does.
impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("url", &self.url)
            .field("auth", &"hidden")
            .finish()
    }
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

    /// Writes the file whole: a reader sees the old one or the new one, never a part. The
    /// file is 0600 and its directory 0700, whatever they were before.
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
            .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
            .map_err(io)?;
        let text = toml::to_string(self).expect("a config serializes");
        // A file of our own, new: one left by a crash may have been made with other modes.
        let tmp = dir.join(format!(".config.toml.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
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
        // The rename itself outlives a crash once the directory is on disk.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        Ok(path)
    }

    /// The profile `name` names (`--profile`, or `$AWS_EXEC_PROFILE` through clap), or the
    /// default one when none is named and there is one. A named profile that is not saved
    /// is an error that names those that are.
    pub fn profile(&self, name: Option<&str>) -> Result<Option<(String, &Profile)>, ConfigError> {
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Ok(self
                .profiles
                .get(DEFAULT_PROFILE)
                .map(|p| (DEFAULT_PROFILE.to_owned(), p)));
        };
        match self.profiles.get(name) {
            Some(profile) => Ok(Some((name.to_owned(), profile))),
            None => Err(self.unknown(name)),
        }
    }

    /// Forgets a profile; one that is not saved is the same error as in [`Config::profile`].
    pub fn remove(&mut self, name: &str) -> Result<Profile, ConfigError> {
        match self.profiles.remove(name) {
            Some(profile) => Ok(profile),
            None => Err(self.unknown(name)),
        }
    }

    fn unknown(&self, name: &str) -> ConfigError {
        ConfigError::UnknownProfile {
            name: name.to_owned(),
            path: Self::path().unwrap_or_default(),
            known: match self.profiles.len() {
                0 => "there are none yet: `aws-exec login` makes one".to_owned(),
                _ => format!(
                    "known: {}",
                    self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            },
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
        assert_eq!(config.profile(None).unwrap(), None);
        assert!(!format!("{config:?}").contains("auth: \"k\""));
        assert!(config.remove("home").is_err());
        assert_eq!(config.remove("work").unwrap().auth, "k");
        assert!(matches!(
            config.profile(Some("work")),
            Err(ConfigError::UnknownProfile { known, .. }) if known.contains("aws-exec login")
        ));
    }
}
