//! Where `serve` and `auth` keep jobs and keys, from their flags and the environment.

use std::ffi::OsString;
use std::path::PathBuf;

use aws_exec_backend::serve::StoreLocation;

use crate::cli::StoreArgs;

impl StoreArgs {
    /// Where to keep data, by the rule `--help` gives: flags beat variables.
    pub fn location(&self) -> StoreLocation {
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        self.location_with(&env)
    }

    fn location_with(&self, env: &dyn Fn(&str) -> Option<OsString>) -> StoreLocation {
        if let Some(dir) = &self.data_dir {
            return StoreLocation::Dir(dir.clone());
        }
        if let Some(bucket) = self.bucket.as_ref().filter(|b| !b.is_empty()) {
            return StoreLocation::Bucket(bucket.clone());
        }
        if let Some(dir) = env("AWS_EXEC_DATA_DIR") {
            return StoreLocation::Dir(dir.into());
        }
        if let Some(bucket) = env("PROJECT_BUCKET") {
            return StoreLocation::Bucket(bucket.to_string_lossy().into_owned());
        }
        StoreLocation::Dir(match (env("XDG_DATA_HOME"), env("HOME")) {
            (Some(data), _) => PathBuf::from(data).join("aws-exec"),
            (None, Some(home)) => PathBuf::from(home).join(".local/share/aws-exec"),
            (None, None) => PathBuf::from("aws-exec-data"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(
        data_dir: Option<&str>,
        bucket: Option<&str>,
        vars: &[(&str, &str)],
    ) -> StoreLocation {
        let args = StoreArgs {
            data_dir: data_dir.map(PathBuf::from),
            bucket: bucket.map(str::to_owned),
        };
        let vars: Vec<(String, OsString)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect();
        args.location_with(&|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn flags_beat_variables() {
        let both = [
            ("PROJECT_BUCKET", "prod-bucket"),
            ("AWS_EXEC_DATA_DIR", "/env-dir"),
        ];
        let dir = |d: &str| StoreLocation::Dir(d.into());
        let bucket = |b: &str| StoreLocation::Bucket(b.into());
        assert_eq!(resolve(Some("/flag"), None, &both), dir("/flag"));
        assert_eq!(
            resolve(None, Some("flag-bucket"), &both),
            bucket("flag-bucket")
        );
        assert_eq!(resolve(None, None, &both), dir("/env-dir"));
        assert_eq!(resolve(None, None, &both[..1]), bucket("prod-bucket"));
        assert_eq!(
            resolve(None, None, &[("HOME", "/home/u")]),
            dir("/home/u/.local/share/aws-exec")
        );
    }
}
