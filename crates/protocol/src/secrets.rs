//! Secrets: values a user stores once by name and jobs receive at run time, in their
//! environment or as files. Requests and definitions carry names only; no answer ever
//! carries a value.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_SECRETS, MAX_SECRET_BYTES, MAX_SECRET_NAME};

/// A secret's name: `[A-Z_][A-Z0-9_]*`, at most [`MAX_SECRET_NAME`] bytes. It is also the
/// name of the variable the job gets it in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("secret name {0:?} is not [A-Z_][A-Z0-9_]* of at most {MAX_SECRET_NAME} characters")]
    BadName(String),
    #[error("a secret's value holds at most {MAX_SECRET_BYTES} bytes; this one holds {0}")]
    TooLarge(usize),
    #[error("a secret's value cannot be empty or contain a NUL byte")]
    BadValue,
}

impl SecretName {
    pub fn new(name: impl Into<String>) -> Result<Self, SecretError> {
        let name = name.into();
        let mut chars = name.chars();
        let ok = name.len() <= MAX_SECRET_NAME
            && chars
                .next()
                .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
            && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        match ok {
            true => Ok(SecretName(name)),
            false => Err(SecretError::BadName(name.chars().take(80).collect())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SecretName {
    type Error = SecretError;
    fn try_from(s: String) -> Result<Self, SecretError> {
        SecretName::new(s)
    }
}

impl From<SecretName> for String {
    fn from(n: SecretName) -> String {
        n.0
    }
}

impl std::fmt::Display for SecretName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for SecretName {
    type Err = SecretError;
    fn from_str(s: &str) -> Result<Self, SecretError> {
        SecretName::new(s)
    }
}

/// Checks a value before it is stored: UTF-8 (it is a `String`), not empty, no NUL (it
/// becomes an environment variable), at most [`MAX_SECRET_BYTES`].
pub fn check_value(value: &str) -> Result<(), SecretError> {
    if value.len() > MAX_SECRET_BYTES {
        return Err(SecretError::TooLarge(value.len()));
    }
    if value.is_empty() || value.contains('\0') {
        return Err(SecretError::BadValue);
    }
    Ok(())
}

/// `PUT /api/secrets/NAME` body.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    /// UTF-8 text without NUL, 1 to 4096 bytes.
    #[schema(min_length = 1, max_length = 4096, pattern = "^[^\\x00]+$")]
    pub value: String,
}

impl std::fmt::Debug for PutSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PutSecret { value: *** }")
    }
}

/// A stored secret as listings show it: never its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecretInfo {
    #[schema(value_type = String)]
    pub name: SecretName,
    /// When it was last set, seconds since the epoch.
    pub updated: u64,
}

/// `GET /api/secrets` answer, sorted by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecretList {
    pub secrets: Vec<SecretInfo>,
}

/// The secrets a job asks for, checked: each name in `env` becomes a variable of that name;
/// each of `files` (path in the job's directory → name) a file readable by the job alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSecrets {
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub env: BTreeSet<SecretName>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, SecretName>,
}

impl JobSecrets {
    pub fn is_empty(&self) -> bool {
        self.env.is_empty() && self.files.is_empty()
    }

    /// Every name asked for, once.
    pub fn names(&self) -> BTreeSet<SecretName> {
        self.env
            .iter()
            .chain(self.files.values())
            .cloned()
            .collect()
    }

    /// True when it asks for more than a job may.
    pub fn too_many(&self) -> bool {
        self.names().len() > MAX_SECRETS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_upper_case_identifiers() {
        for ok in ["DB_URL", "_X", "A1", &"A".repeat(MAX_SECRET_NAME)] {
            assert!(SecretName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "db_url",
            "1A",
            "A-B",
            "A B",
            "É",
            &"A".repeat(MAX_SECRET_NAME + 1),
        ] {
            assert!(SecretName::new(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<SecretName>("\"x\"").is_err());
    }

    #[test]
    fn values_are_checked_and_never_printed() {
        assert!(check_value("hunter22").is_ok());
        assert!(check_value(&"x".repeat(MAX_SECRET_BYTES)).is_ok());
        assert_eq!(
            check_value(&"x".repeat(MAX_SECRET_BYTES + 1)),
            Err(SecretError::TooLarge(MAX_SECRET_BYTES + 1))
        );
        assert!(check_value("").is_err());
        assert!(check_value("a\0b").is_err());
        let body = PutSecret {
            value: "hunter22".into(),
        };
        assert!(!format!("{body:?}").contains("hunter22"));
    }
}
