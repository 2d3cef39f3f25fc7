//! Secrets in SSM Parameter Store as SecureString parameters `PREFIX/OWNER/NAME`, the
//! prefix being the stack's (`/PROJECT/secrets`); infra.yaml lets the function reach that
//! path and nothing else. Listings read names and dates, never decrypted values.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_exec_protocol::{AuthName, SecretInfo, SecretName};
use aws_sdk_ssm::types::ParameterType;
use aws_sdk_ssm::Client;

use crate::on_first_call::OnFirstCall;

use super::{Secrets, SecretsError};

pub struct SsmSecrets {
    client: OnFirstCall<Client>,
    /// `/PROJECT/secrets`, without a trailing `/`.
    prefix: String,
}

/// Most names one GetParameters call takes.
const GET_BATCH: usize = 10;

impl SsmSecrets {
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self::on_first_call(OnFirstCall::ready(client), prefix)
    }

    fn on_first_call(client: OnFirstCall<Client>, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        SsmSecrets {
            client,
            prefix: format!("/{}", prefix.trim_matches('/')),
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
        self.client
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
            .client
            .get_parameters_by_path()
            .path(&path)
            .recursive(false)
            .with_decryption(false)
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            for p in page.map_err(explain)?.parameters() {
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
            .client
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

    async fn values(
        &self,
        owner: &AuthName,
        names: &BTreeSet<SecretName>,
    ) -> Result<Vec<(SecretName, String)>, SecretsError> {
        let names: Vec<&SecretName> = names.iter().collect();
        let mut values = Vec::with_capacity(names.len());
        for batch in names.chunks(GET_BATCH) {
            let got = self
                .client
                .get_parameters()
                .set_names(Some(
                    batch.iter().map(|n| self.parameter(owner, n)).collect(),
                ))
                .with_decryption(true)
                .send()
                .await
                .map_err(explain)?;
            for name in batch {
                let wanted = self.parameter(owner, name);
                let value = got
                    .parameters()
                    .iter()
                    .find(|p| p.name() == Some(wanted.as_str()))
                    .and_then(|p| p.value());
                match value {
                    Some(v) => values.push(((*name).clone(), v.to_owned())),
                    None => return Err(SecretsError::Missing((*name).clone())),
                }
            }
        }
        Ok(values)
    }
}
