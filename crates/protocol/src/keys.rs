//! Where objects live, in the bucket and in the local data directory alike.
//!
//! `jobs/AUTH-NAME/UID/{log.txt,exit,size,claim,end}`, `auth/KEY-HASH` (one per
//! key), `auth-names/AUTH-NAME` (one per name, so a name is taken exactly once) and
//! `open/AUTH-NAME/UID` (one per unfinished job, so housekeeping reads only those),
//! `index/AUTH-NAME/INVERTED-TIME.UUID` (each job's meta, named for newest-first listing) and
//! `idempotency/AUTH-NAME/KEY-HASH` (which job a repeated submit gets),
//! `inputs/AUTH-NAME/UID` (files uploaded for jobs to come) and a job's
//! `jobs/AUTH-NAME/UID/artifacts/PATH` with `artifacts.json` listing them;
//! `schedules/AUTH-NAME/NAME/{definition.json,last.json}`, the same under `triggers/`, and
//! `inbox/AUTH-NAME/PATH` (uploads that fire triggers).

use crate::schedules::DefName;
use crate::{AuthName, Uid};

pub const AUTH_PREFIX: &str = "auth/";
pub const AUTH_NAMES_PREFIX: &str = "auth-names/";
pub const JOBS_PREFIX: &str = "jobs/";
pub const OPEN_PREFIX: &str = "open/";
pub const INDEX_PREFIX: &str = "index/";
pub const IDEMPOTENCY_PREFIX: &str = "idempotency/";
pub const INPUTS_PREFIX: &str = "inputs/";
pub const SCHEDULES_PREFIX: &str = "schedules/";
pub const TRIGGERS_PREFIX: &str = "triggers/";
/// Uploads that may fire triggers: `inbox/NAME/PATH`.
pub const INBOX_PREFIX: &str = "inbox/";

/// The keys of one job's objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobKeys {
    prefix: String,
    meta: String,
}

impl JobKeys {
    pub fn new(owner: &AuthName, uid: &Uid) -> Self {
        JobKeys {
            prefix: format!("{JOBS_PREFIX}{owner}/{uid}/"),
            meta: job_index(owner, uid),
        }
    }

    /// The folder of all the job's objects.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The job's uid, as its keys spell it.
    pub fn uid(&self) -> &str {
        let dir = self.prefix.trim_end_matches('/');
        dir.rsplit('/').next().unwrap_or(dir)
    }
    /// stdout and stderr, interleaved as they arrived.
    pub fn log(&self) -> String {
        format!("{}log.txt", self.prefix)
    }
    /// The exit code as decimal text; written once.
    /// Segment `seq` of a log kept as immutable pieces while it grows (on S3).
    pub fn segment(&self, seq: u64) -> String {
        format!("{}log/{seq:08}", self.prefix)
    }

    pub fn segments_prefix(&self) -> String {
        format!("{}log/", self.prefix)
    }

    /// What old clients read while a segmented log grows: the segments so far, joined.
    pub fn partial_log(&self) -> String {
        format!("{}partial.txt", self.prefix)
    }

    pub fn exit(&self) -> String {
        format!("{}exit", self.prefix)
    }
    /// The final log size as decimal text; written once, last.
    pub fn size(&self) -> String {
        format!("{}size", self.prefix)
    }
    /// A [`crate::JobMeta`] as JSON; written at submit, start and end. It is the job's
    /// entry in its owner's newest-first listing ([`job_index`]): a listing reads each
    /// job's meta where it finds the job, and a job costs one object, not two.
    pub fn meta(&self) -> String {
        self.meta.clone()
    }
    /// Created exactly once by whichever runner starts the job first (or by housekeeping,
    /// so that a job declared lost never starts late); holds the start time.
    pub fn claim(&self) -> String {
        format!("{}claim", self.prefix)
    }
    /// The run claim of attempt `attempt` of a retried job: `claim` for the first,
    /// `claim-N` after, so that each attempt starts exactly once.
    pub fn claim_of(&self, attempt: u32) -> String {
        match attempt {
            0 | 1 => self.claim(),
            n => format!("{}claim-{n}", self.prefix),
        }
    }
    /// The ARN of the Fargate task that runs it, when it runs as one.
    pub fn task(&self) -> String {
        format!("{}task", self.prefix)
    }
    /// The job as a runner takes it, kept for a job with `retry` so that its next attempt
    /// can be started by whoever finds it due.
    pub fn job(&self) -> String {
        format!("{}job.json", self.prefix)
    }
    /// The job's standard input, when it has one (too large for a Lambda event).
    pub fn stdin(&self) -> String {
        format!("{}stdin", self.prefix)
    }
    /// Present once a caller asked to cancel the job.
    pub fn cancel(&self) -> String {
        format!("{}cancel", self.prefix)
    }
    /// Present once housekeeping took the job, or one of its attempts, for lost.
    pub fn lost(&self) -> String {
        format!("{}lost", self.prefix)
    }
    /// The files the job left under `$AWS_EXEC_ARTIFACTS`, each at its relative path.
    pub fn artifact(&self, path: &str) -> String {
        format!("{}artifacts/{path}", self.prefix)
    }
    /// The list of the job's artifacts with their sizes, written once they are all stored.
    pub fn artifacts_manifest(&self) -> String {
        format!("{}artifacts.json", self.prefix)
    }
    /// Created exactly once by whoever ends the job first (its runner or housekeeping);
    /// holds how it ended. The loser of that race writes nothing.
    pub fn end(&self) -> String {
        format!("{}end", self.prefix)
    }
}

/// The marker that job `uid` of `owner` is not finished yet; removed once `size` is written.
pub fn open_job(owner: &AuthName, uid: &Uid) -> String {
    format!("{OPEN_PREFIX}{owner}/{uid}")
}

/// Reads an [`open_job`] key back into its owner and uid.
pub fn parse_open_job(key: &str) -> Option<(AuthName, Uid)> {
    let (owner, uid) = key.strip_prefix(OPEN_PREFIX)?.split_once('/')?;
    Some((owner.parse().ok()?, uid.parse().ok()?))
}

/// The newest-first listing of `owner`'s jobs: one object per job, its meta, named so that
/// an ascending listing (S3's only order) yields the newest job first.
pub fn job_index(owner: &AuthName, uid: &Uid) -> String {
    let (secs, id) = uid.as_str().split_once('.').expect("validated uid");
    let inverted = INDEX_EPOCH_END.saturating_sub(secs.parse().unwrap_or(0));
    format!("{}{inverted:010}.{id}", job_index_prefix(owner))
}

pub fn job_index_prefix(owner: &AuthName) -> String {
    format!("{INDEX_PREFIX}{owner}/")
}

/// Reads a [`job_index`] key back into the job's uid.
pub fn parse_job_index(key: &str) -> Option<Uid> {
    let name = key.rsplit('/').next()?;
    let (inverted, id) = name.split_once('.')?;
    let secs = INDEX_EPOCH_END.checked_sub(inverted.parse().ok()?)?;
    format!("{secs:010}.{id}").parse().ok()
}

/// The last second the index can order (the year 2286).
const INDEX_EPOCH_END: u64 = 9_999_999_999;

/// The record of one `Idempotency-Key` of `owner`, named by the key's hash.
pub fn idempotency(owner: &AuthName, key_hash: &str) -> String {
    format!("{IDEMPOTENCY_PREFIX}{owner}/{key_hash}")
}

/// An input file of `owner`, uploaded before the job that names it; `id` is a new uid.
pub fn input(owner: &AuthName, id: &Uid) -> String {
    format!("{}{id}", input_prefix(owner))
}

/// Where `owner`'s input files live: a job may name only keys under it.
pub fn input_prefix(owner: &AuthName) -> String {
    format!("{INPUTS_PREFIX}{owner}/")
}

/// Which of the two kinds of self-starting definition a key names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefKind {
    Schedule,
    Trigger,
}

impl DefKind {
    pub fn prefix(self) -> &'static str {
        match self {
            DefKind::Schedule => SCHEDULES_PREFIX,
            DefKind::Trigger => TRIGGERS_PREFIX,
        }
    }

    /// `schedules/NAME/` or `triggers/NAME/`: all of `owner`'s definitions of this kind.
    pub fn owner_prefix(self, owner: &AuthName) -> String {
        format!("{}{owner}/", self.prefix())
    }

    /// The definition `name` of `owner`.
    pub fn definition(self, owner: &AuthName, name: &DefName) -> String {
        format!("{}{name}/definition.json", self.owner_prefix(owner))
    }

    /// The record of its last firing.
    pub fn last_run(self, owner: &AuthName, name: &DefName) -> String {
        format!("{}{name}/last.json", self.owner_prefix(owner))
    }

    /// Where definition `name`'s state is kept: one archive per version, named by its
    /// zero-padded number so that the newest sorts last.
    pub fn state_prefix(self, owner: &AuthName, name: &DefName) -> String {
        format!("{}state/", self.def_prefix(owner, name))
    }

    /// Everything of definition `name`: its definition, last run and inputs.
    pub fn def_prefix(self, owner: &AuthName, name: &DefName) -> String {
        format!("{}{name}/", self.owner_prefix(owner))
    }

    /// The definition's own copy of an input file, kept as long as the definition is (the
    /// upload it was copied from expires with the job retention); `id` is the upload's.
    pub fn input(self, owner: &AuthName, name: &DefName, id: &str) -> String {
        format!("{}inputs/{id}", self.def_prefix(owner, name))
    }

    /// The owner of a definition's input key, if it is one.
    pub fn input_owner(self, key: &str) -> Option<AuthName> {
        let rest = key.strip_prefix(self.prefix())?;
        let (owner, rest) = rest.split_once('/')?;
        let (name, id) = rest.split_once("/inputs/")?;
        name.parse::<DefName>().ok()?;
        id.parse::<Uid>().ok()?;
        owner.parse().ok()
    }

    /// The owner and name a definition key stands for.
    pub fn parse_definition(self, key: &str) -> Option<(AuthName, DefName)> {
        let rest = key.strip_prefix(self.prefix())?;
        let rest = rest.strip_suffix("/definition.json")?;
        let (owner, name) = rest.split_once('/')?;
        Some((owner.parse().ok()?, name.parse().ok()?))
    }
}

/// An upload of `owner`'s at `path` in their inbox.
pub fn inbox(owner: &AuthName, path: &str) -> String {
    format!("{INBOX_PREFIX}{owner}/{path}")
}

/// The owner of an inbox key and the file's path in their inbox, if it is one.
pub fn parse_inbox(key: &str) -> Option<(AuthName, &str)> {
    let (owner, path) = key.strip_prefix(INBOX_PREFIX)?.split_once('/')?;
    crate::files::is_safe_relative_path(path).then_some(())?;
    Some((owner.parse().ok()?, path))
}

/// The object recording one auth key, named by the key's hash.
pub fn auth_record(hash: &str) -> String {
    format!("{AUTH_PREFIX}{hash}")
}

/// The object that reserves a name for one key.
pub fn auth_name(name: &AuthName) -> String {
    format!("{AUTH_NAMES_PREFIX}{name}")
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
        assert_eq!(auth_record("ab12"), "auth/ab12");
        let alice: AuthName = "alice".parse().unwrap();
        let open = open_job(&alice, &uid);
        assert_eq!(parse_open_job(&open), Some((alice, uid.clone())));
        assert_eq!(parse_open_job("open/../x"), None);
        let alice: AuthName = "alice".parse().unwrap();
        let older = Uid::new(1_600_000_000);
        let (a, b) = (job_index(&alice, &uid), job_index(&alice, &older));
        assert!(a < b, "newer jobs sort first");
        assert_eq!(parse_job_index(&a), Some(uid));
        let nightly: DefName = "nightly".parse().unwrap();
        let def = DefKind::Schedule.definition(&alice, &nightly);
        assert_eq!(def, "schedules/alice/nightly/definition.json");
        assert_eq!(
            DefKind::Schedule.parse_definition(&def),
            Some((alice.clone(), nightly.clone()))
        );
        assert_eq!(DefKind::Trigger.parse_definition(&def), None);
        let copied = DefKind::Schedule.input(&alice, &nightly, Uid::new(1_700_000_000).as_str());
        assert_eq!(DefKind::Schedule.input_owner(&copied), Some(alice.clone()));
        assert_eq!(
            DefKind::Schedule.input_owner("schedules/alice/x/inputs/../../y"),
            None
        );
        assert_eq!(
            parse_inbox(&inbox(&alice, "photos/cat.jpg")),
            Some((alice.clone(), "photos/cat.jpg"))
        );
        assert_eq!(parse_inbox("inbox/alice/../bob/x"), None);
    }
}
