//! Auth keys kept in the store itself (`auth/KEY-HASH` holds the name): no other database.
//! `auth-names/NAME` reserves a name with a conditional write, so two concurrent creates of
//! one name cannot both succeed.

use aws_exec_protocol::auth::AuthRecord;
use aws_exec_protocol::keys::{auth_name, auth_record, DefKind, AUTH_PREFIX};
use aws_exec_protocol::{AuthKey, AuthName};

use crate::secrets::{Secrets, SecretsError};
use crate::store::{Store, StoreError};
use crate::time::now_unix;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0} already has a key; remove it first with `auth rm {0}`")]
    Exists(AuthName),
    #[error("no key named {0}")]
    NoSuchName(AuthName),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a key for `name` and returns it: the only time it is ever seen.
pub async fn create(store: &dyn Store, name: &AuthName) -> Result<AuthKey, AuthError> {
    // Keys made before names were reserved have no reservation: look for them too.
    if list(store).await?.iter().any(|r| &r.name == name) {
        return Err(AuthError::Exists(name.clone()));
    }
    let key = AuthKey::from_random(rand::random());
    if !store.put_new(&auth_name(name), key.hash().into()).await? {
        return Err(AuthError::Exists(name.clone()));
    }
    let record = AuthRecord {
        name: name.clone(),
        created: now_unix(),
    };
    let body = serde_json::to_vec(&record).expect("record serializes");
    store.put(&auth_record(&key.hash()), body.into()).await?;
    Ok(key)
}

/// Every key's record, sorted by name.
pub async fn list(store: &dyn Store) -> Result<Vec<AuthRecord>, AuthError> {
    let mut records = Vec::new();
    for key in store.list(AUTH_PREFIX).await? {
        if let Some(body) = store.get(&key).await? {
            match serde_json::from_slice::<AuthRecord>(&body) {
                Ok(r) => records.push(r),
                Err(e) => tracing::warn!(key, error = %e, "skipping unreadable auth record"),
            }
        }
    }
    records.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(records)
}

/// What removing a name's keys also removed.
#[derive(Debug, PartialEq, Eq)]
pub struct Removed {
    /// Its schedules and triggers: what acted for it by itself.
    pub definitions: usize,
    /// How many of its secrets, or why they could not be removed.
    pub secrets: Result<usize, String>,
}

/// Removes every key of `name`, then its schedules and triggers, so nothing starts jobs in
/// its name any more (a firing already on its way finds no key and starts nothing). Its
/// jobs and files stay until retention deletes them.
pub async fn remove(
    store: &dyn Store,
    secrets: &dyn Secrets,
    name: &AuthName,
) -> Result<Removed, AuthError> {
    let mut removed = 0;
    for key in store.list(AUTH_PREFIX).await? {
        let Some(body) = store.get(&key).await? else {
            continue;
        };
        if serde_json::from_slice::<AuthRecord>(&body).is_ok_and(|r| &r.name == name) {
            store.delete(&key).await?;
            removed += 1;
        }
    }
    let reserved = store.get(&auth_name(name)).await?.is_some();
    store.delete(&auth_name(name)).await?;
    if removed == 0 && !reserved {
        return Err(AuthError::NoSuchName(name.clone()));
    }
    let mut definitions = 0;
    for kind in [DefKind::Schedule, DefKind::Trigger] {
        for key in store.list(&kind.owner_prefix(name)).await? {
            definitions += usize::from(kind.parse_definition(&key).is_some());
            store.delete(&key).await?;
        }
    }
    crate::notify::forget(store, name).await?;
    crate::lifecycle::retry::forget(store, name).await?;
    // A user made later under the same name must not inherit them. The key is gone
    // already: a secrets store that cannot be reached is said, not fatal.
    let secrets = remove_secrets(secrets, name)
        .await
        .map_err(|e| e.to_string());
    Ok(Removed {
        definitions,
        secrets,
    })
}

async fn remove_secrets(secrets: &dyn Secrets, name: &AuthName) -> Result<usize, SecretsError> {
    let mut removed = 0;
    for secret in secrets.list(name).await? {
        removed += usize::from(secrets.delete(name, &secret.name).await?);
    }
    Ok(removed)
}

/// Whether `name` still has a key.
pub async fn has_key(store: &dyn Store, name: &AuthName) -> Result<bool, AuthError> {
    if store.get(&auth_name(name)).await?.is_some() {
        return Ok(true);
    }
    // Keys made before names were reserved are found by their records.
    Ok(list(store).await?.iter().any(|r| &r.name == name))
}

/// The name behind a key, if the key is known.
pub async fn lookup(store: &dyn Store, key: &AuthKey) -> Result<Option<AuthName>, StoreError> {
    // A hash can only be looked up if it is well-formed; anything else is simply unknown.
    if key.expose().is_empty() || key.expose().len() > 1024 {
        return Ok(None);
    }
    Ok(match store.get(&auth_record(&key.hash())).await? {
        Some(body) => serde_json::from_slice::<AuthRecord>(&body)
            .ok()
            .map(|r| r.name),
        None => None,
    })
}
