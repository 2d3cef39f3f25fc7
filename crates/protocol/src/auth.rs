//! Auth keys and the names they map to.
//!
//! A key is 256 random bits shown once as hex; only its SHA-256 is stored. The key type
//! never prints itself, so it cannot leak through a log line or a `{:?}`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A secret auth key as the caller sends it in the `auth` header.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey(String);

impl AuthKey {
    /// Length in hex characters of a key made by [`AuthKey::from_random`].
    pub const HEX_LEN: usize = 64;

    /// Wraps 32 random bytes from the caller's RNG (this crate does no I/O).
    pub fn from_random(bytes: [u8; 32]) -> Self {
        AuthKey(hex::encode(bytes))
    }

    /// Wraps a key as received; any non-empty text is accepted here and checked by lookup.
    pub fn new(key: impl Into<String>) -> Self {
        AuthKey(key.into())
    }

    /// The secret itself: only for sending it or showing it once at creation.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hex SHA-256 under which the key's record is stored.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthKey(hidden)")
    }
}

/// The name a key maps to; jobs are namespaced by it. `[A-Za-z0-9_-]{1,64}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AuthName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid name {0:?}: use 1 to 64 of A-Z a-z 0-9 _ -")]
pub struct AuthNameError(pub String);

impl AuthName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AuthName {
    type Err = AuthNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(AuthName(s.to_owned()))
        } else {
            Err(AuthNameError(s.chars().take(80).collect()))
        }
    }
}

impl TryFrom<String> for AuthName {
    type Error = AuthNameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<AuthName> for String {
    fn from(n: AuthName) -> String {
        n.0
    }
}

impl fmt::Display for AuthName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What is stored under `auth/HASH`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRecord {
    pub name: AuthName,
    /// Seconds since the epoch.
    pub created: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_hidden_in_debug_and_hashes_stably() {
        let key = AuthKey::from_random([7; 32]);
        assert_eq!(key.expose().len(), AuthKey::HEX_LEN);
        assert_eq!(format!("{key:?}"), "AuthKey(hidden)");
        assert_eq!(key.hash(), AuthKey::new(key.expose()).hash());
        assert_ne!(key.hash(), AuthKey::from_random([8; 32]).hash());
    }

    #[test]
    fn names_are_key_safe() {
        assert!("alice".parse::<AuthName>().is_ok());
        assert!("ci_bot-2".parse::<AuthName>().is_ok());
        for bad in ["", "a/b", "..", "a b", &"x".repeat(65)] {
            assert!(bad.parse::<AuthName>().is_err(), "{bad:?}");
        }
    }
}
