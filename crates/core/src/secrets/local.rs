//! Secrets in the data directory: one JSON file per owner in `.secrets/` (0700), each file
//! 0600 and replaced whole by a rename. The store's keys can never name that directory, so
//! no signed URL, listing or job object reaches it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use aws_exec_protocol::limits::MAX_SECRETS_PER_KEY;
use aws_exec_protocol::{AuthName, SecretInfo, SecretName};
use serde::{Deserialize, Serialize};

use super::{Secrets, SecretsError};
use crate::time::now_unix;

/// The directory in the data directory that holds them.
pub const SECRETS_DIR: &str = ".secrets";

pub struct LocalSecrets {
    dir: PathBuf,
    /// One writer at a time per owner: a change reads the owner's file, then replaces it.
    /// Owners do not wait on each other.
    writers: std::sync::Mutex<HashMap<AuthName, Arc<tokio::sync::Mutex<()>>>>,
}

#[derive(Default, Serialize, Deserialize)]
struct OwnerFile {
    secrets: BTreeMap<SecretName, Stored>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    value: String,
    updated: u64,
}

impl LocalSecrets {
    /// Secrets kept under `data_dir`, whose `.secrets/` is made 0700 if missing.
    pub fn open(data_dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = data_dir.into().join(SECRETS_DIR);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        Ok(LocalSecrets {
            dir,
            writers: Default::default(),
        })
    }

    /// The lock that `owner`'s changes take in turn.
    fn writer(&self, owner: &AuthName) -> Arc<tokio::sync::Mutex<()>> {
        let mut writers = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        writers.entry(owner.clone()).or_default().clone()
    }

    fn path(&self, owner: &AuthName) -> PathBuf {
        // Auth names are safe file names (checked where they are made).
        self.dir.join(format!("{owner}.json"))
    }

    async fn read(&self, owner: &AuthName) -> Result<OwnerFile, SecretsError> {
        let path = self.path(owner);
        tokio::task::spawn_blocking(move || match std::fs::read(&path) {
            Ok(body) => serde_json::from_slice(&body)
                .map_err(|e| SecretsError::Backend(format!("{}: unreadable: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OwnerFile::default()),
            Err(e) => Err(SecretsError::Backend(format!("{}: {e}", path.display()))),
        })
        .await
        .map_err(|e| SecretsError::Backend(e.to_string()))?
    }

    async fn write(&self, owner: &AuthName, file: OwnerFile) -> Result<(), SecretsError> {
        let path = self.path(owner);
        let body = serde_json::to_vec(&file).expect("secrets serialize");
        tokio::task::spawn_blocking(move || {
            let tmp = path.with_extension(format!("tmp{}", rand::random::<u32>()));
            let written = (|| {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&tmp)?;
                f.write_all(&body)?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)
            })();
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            written.map_err(|e| SecretsError::Backend(format!("{}: {e}", path.display())))
        })
        .await
        .map_err(|e| SecretsError::Backend(e.to_string()))?
    }
}

#[async_trait]
impl Secrets for LocalSecrets {
    async fn put(
        &self,
        owner: &AuthName,
        name: &SecretName,
        value: &str,
    ) -> Result<(), SecretsError> {
        let writer = self.writer(owner);
        let _one = writer.lock().await;
        let mut file = self.read(owner).await?;
        if file.secrets.len() >= MAX_SECRETS_PER_KEY && !file.secrets.contains_key(name) {
            return Err(SecretsError::Refused(format!(
                "this key keeps {MAX_SECRETS_PER_KEY} secrets already, the most it may; \
                 delete one first (aws-exec secret rm NAME)"
            )));
        }
        file.secrets.insert(
            name.clone(),
            Stored {
                value: value.to_owned(),
                updated: now_unix(),
            },
        );
        self.write(owner, file).await
    }

    async fn list(&self, owner: &AuthName) -> Result<Vec<SecretInfo>, SecretsError> {
        let file = self.read(owner).await?;
        Ok(file
            .secrets
            .into_iter()
            .map(|(name, s)| SecretInfo {
                name,
                updated: s.updated,
            })
            .collect())
    }

    async fn delete(&self, owner: &AuthName, name: &SecretName) -> Result<bool, SecretsError> {
        let writer = self.writer(owner);
        let _one = writer.lock().await;
        let mut file = self.read(owner).await?;
        if file.secrets.remove(name).is_none() {
            return Ok(false);
        }
        self.write(owner, file).await?;
        Ok(true)
    }

    async fn values(
        &self,
        owner: &AuthName,
        names: &BTreeSet<SecretName>,
    ) -> Result<Vec<(SecretName, String)>, SecretsError> {
        let mut file = self.read(owner).await?;
        names
            .iter()
            .map(|name| match file.secrets.remove(name) {
                Some(s) => Ok((name.clone(), s.value)),
                None => Err(SecretsError::Missing(name.clone())),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Nothing bounded how many secrets one key kept: each PUT rewrote a file that grew
    /// without end, under a lock every other key's changes waited on.
    #[tokio::test]
    async fn one_key_keeps_at_most_max_secrets_per_key_and_others_need_not_wait_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = LocalSecrets::open(dir.path()).unwrap();
        let (alice, bob) = (
            "alice".parse::<AuthName>().unwrap(),
            "bob".parse::<AuthName>().unwrap(),
        );
        let name = |i: usize| SecretName::new(format!("S{i}")).unwrap();
        let full = OwnerFile {
            secrets: (0..MAX_SECRETS_PER_KEY)
                .map(|i| {
                    (
                        name(i),
                        Stored {
                            value: "v".into(),
                            updated: 1,
                        },
                    )
                })
                .collect(),
        };
        secrets.write(&alice, full).await.unwrap();
        let refused = secrets.put(&alice, &name(MAX_SECRETS_PER_KEY), "v").await;
        match refused {
            Err(SecretsError::Refused(why)) => assert!(why.contains("1000"), "{why}"),
            other => panic!("a secret past the cap: {other:?}"),
        }
        // Replacing one is not adding one; a freed place can be used again.
        secrets.put(&alice, &name(0), "new").await.unwrap();
        assert!(secrets.delete(&alice, &name(1)).await.unwrap());
        secrets
            .put(&alice, &name(MAX_SECRETS_PER_KEY), "v")
            .await
            .unwrap();
        assert_eq!(
            secrets.list(&alice).await.unwrap().len(),
            MAX_SECRETS_PER_KEY
        );
        // Another key's change goes on while alice's is held up.
        let held = secrets.writer(&alice);
        let _alice_busy = held.lock().await;
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            secrets.put(&bob, &name(0), "b"),
        )
        .await
        .expect("bob's put does not wait for alice's")
        .unwrap();
    }

    #[tokio::test]
    async fn kept_per_owner_in_files_only_the_service_reads() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = LocalSecrets::open(dir.path()).unwrap();
        let (alice, bob) = (
            "alice".parse::<AuthName>().unwrap(),
            "bob".parse::<AuthName>().unwrap(),
        );
        let db = SecretName::new("DB_URL").unwrap();
        secrets.put(&alice, &db, "postgres://a").await.unwrap();
        secrets.put(&alice, &db, "postgres://b").await.unwrap();
        let names = BTreeSet::from([db.clone()]);
        assert_eq!(
            secrets.values(&alice, &names).await.unwrap(),
            vec![(db.clone(), "postgres://b".to_owned())]
        );
        assert!(matches!(
            secrets.values(&bob, &names).await,
            Err(SecretsError::Missing(_))
        ));
        assert!(secrets.list(&bob).await.unwrap().is_empty());
        assert!(!secrets.delete(&bob, &db).await.unwrap());
        let meta = std::fs::metadata(dir.path().join(SECRETS_DIR)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        let meta = std::fs::metadata(dir.path().join(SECRETS_DIR).join("alice.json")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert!(secrets.delete(&alice, &db).await.unwrap());
        assert!(secrets.list(&alice).await.unwrap().is_empty());
    }
}
