//! Which job a word on the command line names: a whole uid, `last` (the caller's newest
//! job), or the start of one uid (`1796176376.3d7f`) as people copy them from a listing.

use aws_exec_client::{Client, JobMeta, ListQuery};
use aws_exec_protocol::Uid;

/// The word that names the caller's newest job.
pub const LAST: &str = "last";

/// How many jobs a prefix search reads before it gives up asking for a longer prefix.
const SCAN: usize = 2000;

/// How many candidates an ambiguous prefix lists.
const SHOWN: usize = 10;

/// Digits of the seconds a uid starts with, for every date until the year 2286.
const SECONDS_DIGITS: u32 = 10;

#[derive(Debug, thiserror::Error)]
pub enum UidError {
    #[error("{0:?} is not a uid, a start of one, or `last`")]
    Malformed(String),
    #[error("you have no jobs yet")]
    NoJobs,
    #[error("no job of yours has a uid starting with {0:?}")]
    NoMatch(String),
    #[error("{prefix:?} names more than one job; say more of its uid:\n{candidates}")]
    Ambiguous { prefix: String, candidates: String },
    #[error(transparent)]
    Client(#[from] aws_exec_client::ClientError),
}

/// The uid `word` names among the caller's jobs.
pub async fn resolve(client: &Client, word: &str) -> Result<String, UidError> {
    if word == LAST {
        let page = client
            .list(&ListQuery {
                state: None,
                limit: Some(1),
                before: None,
            })
            .await?;
        return page
            .jobs
            .first()
            .map(|job| job.uid.to_string())
            .ok_or(UidError::NoJobs);
    }
    if word.parse::<Uid>().is_ok() {
        return Ok(word.to_owned());
    }
    let (low, high) = seconds_between(word).ok_or_else(|| UidError::Malformed(word.into()))?;
    let mut query = ListQuery {
        state: None,
        limit: Some(1000),
        before: Some(just_after(high)),
    };
    let mut found: Vec<JobMeta> = Vec::new();
    let mut scanned = 0;
    'pages: loop {
        let page = client.list(&query).await?;
        for job in page.jobs {
            scanned += 1;
            if job.uid.unix_seconds() < low {
                break 'pages;
            }
            if job.uid.as_str().starts_with(word) {
                found.push(job);
            }
        }
        match page.next {
            Some(next) if scanned < SCAN && found.len() <= SHOWN => query.before = Some(next),
            _ => break,
        }
    }
    match found.len() {
        0 => Err(UidError::NoMatch(word.to_owned())),
        1 => Ok(found.remove(0).uid.to_string()),
        _ => Err(UidError::Ambiguous {
            prefix: word.to_owned(),
            candidates: found
                .iter()
                .take(SHOWN)
                .map(|job| {
                    format!(
                        "  {}  {}  {}",
                        job.uid.as_str(),
                        job.state,
                        crate::show::command(&job.command)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }),
    }
}

/// The submit seconds a uid starting with `prefix` can have, if it can start a uid.
fn seconds_between(prefix: &str) -> Option<(u64, u64)> {
    let (secs, id) = match prefix.split_once('.') {
        Some((secs, id)) => (secs, Some(id)),
        None => (prefix, None),
    };
    let digits = secs.len() as u32;
    let id_ok = id.is_none_or(|id| {
        id.len() <= 36
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-')
    });
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || !id_ok {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    if id.is_some() || digits >= SECONDS_DIGITS {
        return Some((secs, secs));
    }
    let scale = 10u64.pow(SECONDS_DIGITS - digits);
    Some((secs * scale, (secs + 1) * scale - 1))
}

/// A `before` that lists every job submitted at `secs` or earlier: the largest uid of that
/// second's successor sorts before all of them in the newest-first listing.
fn just_after(secs: u64) -> String {
    format!("{:010}.ffffffff-ffff-ffff-ffff-ffffffffffff", secs + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_bounds_the_seconds_it_can_name() {
        assert_eq!(
            seconds_between("1796176376.3d7f"),
            Some((1796176376, 1796176376))
        );
        assert_eq!(
            seconds_between("1796176376"),
            Some((1796176376, 1796176376))
        );
        assert_eq!(seconds_between("17961763"), Some((1796176300, 1796176399)));
        assert_eq!(
            seconds_between("1796176376."),
            Some((1796176376, 1796176376))
        );
        for bad in ["", "x", "1796.XYZ", "-1", "last1", "17961763 76"] {
            assert_eq!(seconds_between(bad), None, "{bad:?}");
        }
        assert!(just_after(1796176376).parse::<Uid>().is_ok());
    }
}
