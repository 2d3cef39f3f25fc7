//! Secrets in SSM Parameter Store as SecureString parameters `PREFIX/OWNER/NAME`, the
//! prefix being the stack's (`/secrets/PROJECT`); infra.yaml lets the function reach that
//! path and nothing else. Listings read names and dates, never decrypted values.

use std::collections::BTreeSet;

use aws_exec_protocol::limits::MAX_SECRETS_PER_KEY;

use async_trait::async_trait;
use aws_exec_protocol::{AuthName, SecretInfo, SecretName};
use aws_sdk_ssm::types::ParameterType;
use aws_sdk_ssm::Client;

use crate::on_first_call::OnFirstCall;

use super::{Secrets, SecretsError};

pub struct SsmSecrets {
    client: OnFirstCall<Client>,
    /// `/secrets/PROJECT`, without a trailing `/`.
    prefix: String,
    /// Why Parameter Store would refuse every name under `prefix`, if it would.
    refused: Option<String>,
}

/// Most names one GetParameters call takes.
const GET_BATCH: usize = 10;

impl SsmSecrets {
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self::on_first_call(OnFirstCall::ready(client), prefix)
    }

    fn on_first_call(client: OnFirstCall<Client>, prefix: impl Into<String>) -> Self {
        let prefix = format!("/{}", prefix.into().trim_matches('/'));
        let refused = reserved(&prefix);
        if let Some(why) = &refused {
            tracing::error!("{why}");
        }
        SsmSecrets {
            client,
            prefix,
            refused,
        }
    }

    /// The client, unless the prefix is one Parameter Store refuses whole.
    fn client(&self) -> Result<&Client, SecretsError> {
        match &self.refused {
            Some(why) => Err(SecretsError::Misconfigured(why.clone())),
            None => Ok(&self.client),
        }
    }

    /// Configured from the environment, as the S3 store is; the client is made on the first
    /// call.
    pub async fn from_env(prefix: impl Into<String>) -> Self {
        let shared = crate::deadlines::aws_config().await;
        Self::on_first_call(OnFirstCall::new(move || Client::new(&shared)), prefix)
    }

    fn path(&self, owner: &AuthName) -> String {
        format!("{}/{owner}/", self.prefix)
    }

    fn parameter(&self, owner: &AuthName, name: &SecretName) -> String {
        format!("{}{name}", self.path(owner))
    }

    /// One GetParameters call for up to ten of `owner`'s names: for each, in order, its
    /// value (decrypted when `decrypt`; without, only whether it exists) or `None`.
    async fn get_batch(
        &self,
        owner: &AuthName,
        batch: &[&SecretName],
        decrypt: bool,
    ) -> Result<Vec<Option<String>>, SecretsError> {
        let names = batch.iter().map(|n| self.parameter(owner, n)).collect();
        let got = self
            .client()?
            .get_parameters()
            .set_names(Some(names))
            .with_decryption(decrypt)
            .send()
            .await
            .map_err(explain)?;
        Ok(batch
            .iter()
            .map(|name| {
                let wanted = self.parameter(owner, name);
                got.parameters()
                    .iter()
                    .find(|p| p.name() == Some(wanted.as_str()))
                    .map(|p| p.value().unwrap_or_default().to_owned())
            })
            .collect())
    }
}

/// Why Parameter Store refuses every name under `prefix`: it keeps names whose first part
/// starts with "aws" or "ssm", in any case, for itself (`/aws-exec/secrets` among them).
fn reserved(prefix: &str) -> Option<String> {
    let first = prefix.trim_start_matches('/').split('/').next()?;
    let lower = first.to_ascii_lowercase();
    (lower.starts_with("aws") || lower.starts_with("ssm")).then(|| {
        format!(
            "SECRETS_PREFIX {prefix} is refused by Parameter Store, which keeps names starting \
             with \"aws\" or \"ssm\" for itself; set it to a path that does not (infra.yaml uses \
             /secrets/PROJECT)"
        )
    })
}

/// A refusal that is the service's set-up, not the caller's or the store's health: access
/// denied to the prefix (a role without it, or a reserved name).
fn denied(e: &impl aws_sdk_ssm::error::ProvideErrorMetadata, prefix: &str) -> Option<SecretsError> {
    (e.code() == Some("AccessDeniedException")).then(|| {
        tracing::error!(prefix, error = ?e.message(), "Parameter Store denied access");
        SecretsError::Misconfigured(format!(
            "Parameter Store denies this service access under {prefix}: check its role and \
             SECRETS_PREFIX (details in the service's log)"
        ))
    })
}

fn backend(e: impl std::fmt::Display) -> SecretsError {
    SecretsError::Backend(e.to_string())
}

/// The error with its source chain, which the SDK's Display alone leaves out.
fn explain(e: impl std::error::Error) -> SecretsError {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    backend(text)
}

#[async_trait]
impl Secrets for SsmSecrets {
    async fn put(
        &self,
        owner: &AuthName,
        name: &SecretName,
        value: &str,
    ) -> Result<(), SecretsError> {
        // Only a new name counts against the cap, as on every store: one key may not take
        // the account's Parameter Store quota.
        let one = BTreeSet::from([name.clone()]);
        if self.missing(owner, &one).await?.is_some()
            && self.list(owner).await?.len() >= MAX_SECRETS_PER_KEY
        {
            return Err(SecretsError::Refused(format!(
                "this key keeps {MAX_SECRETS_PER_KEY} secrets already, the most it may; \
                 delete one first"
            )));
        }
        self.client()?
            .put_parameter()
            .name(self.parameter(owner, name))
            .value(value)
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| {
                // Parameter Store refuses some values (`{{...}}` among them): the caller's
                // to mend, not the service's failure.
                use aws_sdk_ssm::error::ProvideErrorMetadata;
                if let Some(denied) = e.as_service_error().and_then(|s| denied(s, &self.prefix)) {
                    return denied;
                }
                match e.as_service_error().and_then(|e| e.code()) {
                    Some("ValidationException") => {
                        SecretsError::Refused("Parameter Store refuses this value".to_owned())
                    }
                    _ => explain(e),
                }
            })?;
        Ok(())
    }

    async fn list(&self, owner: &AuthName) -> Result<Vec<SecretInfo>, SecretsError> {
        let path = self.path(owner);
        let mut pages = self
            .client()?
            .get_parameters_by_path()
            .path(&path)
            .recursive(false)
            .with_decryption(false)
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                e.as_service_error()
                    .and_then(|s| denied(s, &self.prefix))
                    .unwrap_or_else(|| explain(e))
            })?;
            for p in page.parameters() {
                let Some(name) = p.name().and_then(|n| n.strip_prefix(&path)) else {
                    continue;
                };
                let Ok(name) = SecretName::new(name) else {
                    continue;
                };
                let updated = p
                    .last_modified_date()
                    .map_or(0, |d| u64::try_from(d.secs()).unwrap_or(0));
                found.push(SecretInfo { name, updated });
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    async fn delete(&self, owner: &AuthName, name: &SecretName) -> Result<bool, SecretsError> {
        match self
            .client()?
            .delete_parameter()
            .name(self.parameter(owner, name))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_parameter_not_found()) =>
            {
                Ok(false)
            }
            Err(e) => Err(explain(e)),
        }
    }

    /// Asks for the names alone, ten at a time, never the values (no decryption).
    async fn missing(
        &self,
        owner: &AuthName,
        names: &BTreeSet<SecretName>,
    ) -> Result<Option<SecretName>, SecretsError> {
        let names: Vec<&SecretName> = names.iter().collect();
        for batch in names.chunks(GET_BATCH) {
            let found = self.get_batch(owner, batch, false).await?;
            if let Some((name, _)) = batch.iter().zip(&found).find(|(_, f)| f.is_none()) {
                return Ok(Some((*name).clone()));
            }
        }
        Ok(None)
    }

    async fn values(
        &self,
        owner: &AuthName,
        names: &BTreeSet<SecretName>,
    ) -> Result<Vec<(SecretName, String)>, SecretsError> {
        let names: Vec<&SecretName> = names.iter().collect();
        let mut values = Vec::with_capacity(names.len());
        for batch in names.chunks(GET_BATCH) {
            let found = self.get_batch(owner, batch, true).await?;
            for (name, value) in batch.iter().zip(found) {
                match value {
                    Some(v) => values.push(((*name).clone(), v)),
                    None => return Err(SecretsError::Missing((*name).clone())),
                }
            }
        }
        Ok(values)
    }
}
