//! Where objects live, in the bucket and in the local data directory alike.
//!
//! `jobs/AUTH-NAME/UID/{log.txt,exit,size,meta.json}` and `auth/KEY-HASH`.

use crate::{AuthName, Uid};

pub const AUTH_PREFIX: &str = "auth/";
pub const JOBS_PREFIX: &str = "jobs/";

/// The keys of one job's objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobKeys {
    prefix: String,
}

impl JobKeys {
    pub fn new(owner: &AuthName, uid: &Uid) -> Self {
        JobKeys {
            prefix: format!("{JOBS_PREFIX}{owner}/{uid}/"),
        }
    }

    /// stdout and stderr, interleaved as they arrived.
    pub fn log(&self) -> String {
        format!("{}log.txt", self.prefix)
    }
    /// The exit code as decimal text; written once.
    pub fn exit(&self) -> String {
        format!("{}exit", self.prefix)
    }
    /// The final log size as decimal text; written once, last.
    pub fn size(&self) -> String {
        format!("{}size", self.prefix)
    }
    /// A [`crate::JobMeta`] as JSON; written at submit, start and end.
    pub fn meta(&self) -> String {
        format!("{}meta.json", self.prefix)
    }
    /// Created exactly once by whichever runner starts the job first.
    pub fn claim(&self) -> String {
        format!("{}claim", self.prefix)
    }
}

/// The object recording one auth key, named by the key's hash.
pub fn auth_key(hash: &str) -> String {
    format!("{AUTH_PREFIX}{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_bucket() {
        let uid: Uid = "1700000000.3f2b1c3e-8d6e-4f0a-9b1e-0c1d2e3f4a5b"
            .parse()
            .unwrap();
        let keys = JobKeys::new(&"alice".parse().unwrap(), &uid);
        assert_eq!(
            keys.log(),
            "jobs/alice/1700000000.3f2b1c3e-8d6e-4f0a-9b1e-0c1d2e3f4a5b/log.txt"
        );
        assert!(keys.exit().ends_with("/exit"));
        assert!(keys.size().ends_with("/size"));
        assert_eq!(auth_key("ab12"), "auth/ab12");
    }
}
