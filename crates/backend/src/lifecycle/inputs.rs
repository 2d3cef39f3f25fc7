//! A job's inputs, checked at submit: each is the caller's own upload (or, for a trigger's
//! job, a file in its owner's inbox, or a definition's own copy), and is stored.

use aws_exec_protocol::keys::{input_prefix, parse_inbox, DefKind};
use aws_exec_protocol::{AuthName, JobInputs, Uid};

use super::JobError;
use crate::store::Store;

/// At submit: every input is the caller's and was uploaded, so a job never fails later for
/// a file it could not have had (404 naming the path otherwise).
pub async fn check(
    store: &dyn Store,
    owner: &AuthName,
    inputs: &JobInputs,
) -> Result<(), JobError> {
    let mine = input_prefix(owner);
    for (path, key) in inputs.iter() {
        // A trigger's job takes its upload straight from the owner's inbox.
        let owned = key
            .strip_prefix(&mine)
            .is_some_and(|id| id.parse::<Uid>().is_ok())
            || parse_inbox(key).is_some_and(|(who, _)| &who == owner)
            // A schedule's or trigger's own copy, which its runs use.
            || [DefKind::Schedule, DefKind::Trigger]
                .iter()
                .any(|kind| kind.input_owner(key).as_ref() == Some(owner));
        if !owned || store.head(key).await?.is_none() {
            return Err(JobError::UnknownInput {
                path: path.clone(),
                key: key.chars().take(200).collect(),
            });
        }
    }
    Ok(())
}
