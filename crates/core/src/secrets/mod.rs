//! Where users' secrets are kept, behind one small trait: files in the data directory, or
//! SSM Parameter Store (SecureString) on AWS. Values go in through `PUT /api/secrets/NAME`
//! and out only to a runner starting a job that asked for them by name.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_exec_protocol::{AuthName, SecretInfo, SecretName};

pub mod local;
#[cfg(feature = "aws")]
pub mod ssm;

pub use local::LocalSecrets;
#[cfg(feature = "aws")]
pub use ssm::SsmSecrets;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A name the owner has not stored (or deleted since).
    #[error("no secret {0} for this auth key (aws-exec secret set {0})")]
    Missing(SecretName),
    /// The store failed; the text may name its insides and stays in the service's log.
    #[error("secrets store: {0}")]
    Backend(String),
    /// The store refuses this value; the caller's to mend.
    #[error("{0}")]
    Refused(String),
    /// This service was set up without a place for secrets.
    #[error("this service keeps no secrets: {0}")]
    Unconfigured(&'static str),
    /// The store refuses the place this service was set up with: its operator's to mend,
    /// and no retry helps. The text names no value.
    #[error("this service's secrets store is misconfigured: {0}")]
    Misconfigured(String),
}

#[async_trait]
pub trait Secrets: Send + Sync + 'static {
    /// Stores or replaces one of `owner`'s secrets.
    async fn put(
        &self,
        owner: &AuthName,
        name: &SecretName,
        value: &str,
    ) -> Result<(), SecretsError>;

    /// `owner`'s secrets, names and times only, sorted by name.
    async fn list(&self, owner: &AuthName) -> Result<Vec<SecretInfo>, SecretsError>;

    /// Deletes one; `Ok(false)` when there was none.
    async fn delete(&self, owner: &AuthName, name: &SecretName) -> Result<bool, SecretsError>;

    /// The first of `names` that `owner` has not stored, if any; no value is read. By
    /// default from a listing; a store that can look names up does so.
    async fn missing(
        &self,
        owner: &AuthName,
        names: &BTreeSet<SecretName>,
    ) -> Result<Option<SecretName>, SecretsError> {
        let stored: BTreeSet<SecretName> = self
            .list(owner)
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect();
        Ok(names.iter().find(|n| !stored.contains(n)).cloned())
    }

    /// The values of `names`, in their order, or [`SecretsError::Missing`] for the first
    /// one not stored. Only a runner asks.
    async fn values(
        &self,
        owner: &AuthName,
        names: &BTreeSet<SecretName>,
    ) -> Result<Vec<(SecretName, String)>, SecretsError>;
}

/// Checks that `owner` has stored every one of `names` (at submit, and when a definition
/// is stored): the names looked up, no value read, whatever else the owner keeps.
pub async fn check_stored(
    secrets: &dyn Secrets,
    owner: &AuthName,
    names: &BTreeSet<SecretName>,
) -> Result<(), SecretsError> {
    if names.is_empty() {
        return Ok(());
    }
    match secrets.missing(owner, names).await? {
        Some(missing) => Err(SecretsError::Missing(missing)),
        None => Ok(()),
    }
}

/// A service without a place for secrets: every call says so.
pub struct NoSecrets(pub &'static str);

#[async_trait]
impl Secrets for NoSecrets {
    async fn put(&self, _: &AuthName, _: &SecretName, _: &str) -> Result<(), SecretsError> {
        Err(SecretsError::Unconfigured(self.0))
    }
    async fn list(&self, _: &AuthName) -> Result<Vec<SecretInfo>, SecretsError> {
        Ok(Vec::new())
    }
    async fn delete(&self, _: &AuthName, _: &SecretName) -> Result<bool, SecretsError> {
        Ok(false)
    }
    async fn values(
        &self,
        _: &AuthName,
        names: &BTreeSet<SecretName>,
    ) -> Result<Vec<(SecretName, String)>, SecretsError> {
        match names.iter().next() {
            Some(name) => Err(SecretsError::Missing(name.clone())),
            None => Ok(Vec::new()),
        }
    }
}
