//! Job UIDs: `UNIXSECONDS.UUIDv4`, so a listing of a user's jobs sorts by submit time.
//!
//! A UID becomes part of an object key, so parsing is strict: anything else is refused
//! before it can reach a path or a bucket.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A validated job UID.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uid(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed uid {0:?}: expected UNIXSECONDS.UUID")]
pub struct UidError(pub String);

impl Uid {
    /// A new UID for a job submitted `unix_seconds` after the epoch.
    pub fn new(unix_seconds: u64) -> Self {
        Uid(format!("{unix_seconds:010}.{}", uuid::Uuid::new_v4()))
    }

    /// A new UID for a job submitted now. Its UUID starts with the part of the second
    /// still to come (in nanoseconds), so that of two jobs of one second the later one
    /// sorts first after the seconds, as a newest-first listing shows them; the rest
    /// stays random, a version 4 UUID's layout kept.
    pub fn now() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut bytes = *uuid::Uuid::new_v4().as_bytes();
        bytes[..4].copy_from_slice(&(u32::MAX - now.subsec_nanos()).to_be_bytes());
        Uid(format!(
            "{:010}.{}",
            now.as_secs(),
            uuid::Uuid::from_bytes(bytes).hyphenated()
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Seconds since the epoch at which the job was submitted.
    pub fn unix_seconds(&self) -> u64 {
        let (secs, _) = self.0.split_once('.').expect("validated on construction");
        secs.parse().expect("validated on construction")
    }
}

impl FromStr for Uid {
    type Err = UidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || UidError(s.chars().take(80).collect());
        let (secs, id) = s.split_once('.').ok_or_else(bad)?;
        // Written as `Uid::new` writes it (ten digits at least, no other leading zero): one
        // job, one spelling, one folder.
        let secs_ok = secs.len() <= 20
            && secs.bytes().all(|b| b.is_ascii_digit())
            && secs
                .parse::<u64>()
                .is_ok_and(|n| format!("{n:010}") == secs);
        // Lower-case hyphenated form only: one job, one spelling, one key.
        let id_ok = id.len() == 36
            && uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id);
        if secs_ok && id_ok {
            Ok(Uid(s.to_owned()))
        } else {
            Err(bad())
        }
    }
}

impl TryFrom<String> for Uid {
    type Error = UidError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Uid> for String {
    fn from(u: Uid) -> String {
        u.0
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_uid_round_trips_and_sorts_by_time() {
        let a = Uid::new(1_700_000_000);
        let b = Uid::new(1_700_000_001);
        assert_eq!(a.as_str().parse::<Uid>().unwrap(), a);
        assert!(a < b);
        assert_eq!(a.unix_seconds(), 1_700_000_000);
    }

    /// `last` and `ls` found two jobs of one second in a random order.
    #[test]
    fn the_later_of_two_jobs_in_one_second_sorts_first_within_it() {
        for _ in 0..20 {
            let earlier = Uid::now();
            std::thread::sleep(std::time::Duration::from_millis(2));
            let later = Uid::now();
            assert!(later.as_str().parse::<Uid>().is_ok());
            let id = |u: &Uid| u.as_str().split_once('.').unwrap().1.to_owned();
            if later.unix_seconds() == earlier.unix_seconds() {
                assert!(id(&later) < id(&earlier), "{later} {earlier}");
            } else {
                assert!(later.unix_seconds() > earlier.unix_seconds());
            }
        }
    }

    #[test]
    fn rejects_anything_that_could_escape_a_key() {
        for bad in [
            "",
            "123",
            "../etc/passwd",
            "1700000000.",
            ".3f2b1c3e-8d6e-4f0a-9b1e-0c1d2e3f4a5b",
            "17x0.3f2b1c3e-8d6e-4f0a-9b1e-0c1d2e3f4a5b",
            "1700000000.3F2B1C3E-8D6E-4F0A-9B1E-0C1D2E3F4A5B",
            "1700000000.3f2b1c3e-8d6e-4f0a-9b1e-0c1d2e3f4a5b/x",
            "1700000000.3f2b1c3e8d6e4f0a9b1e0c1d2e3f4a5b",
        ] {
            assert!(bad.parse::<Uid>().is_err(), "{bad:?} was accepted");
        }
        assert!("1700000000.3f2b1c3e-8d6e-4f0a-9b1e-0c1d2e3f4a5b"
            .parse::<Uid>()
            .is_ok());
    }

    /// `0001700000000.U` and `1700000000.U` named one job's meta from two folders: a cancel
    /// sent with the zeros claimed the empty one and marked the running job cancelled.
    #[test]
    fn a_uid_spelled_with_extra_leading_zeros_is_refused() {
        let id = "3f2b1c3e-8d6e-4f0a-9b1e-0c1d2e3f4a5b";
        for bad in [
            "01700000000",
            "0001700000000",
            "00000000000",
            "012345678901",
        ] {
            assert!(
                format!("{bad}.{id}").parse::<Uid>().is_err(),
                "{bad} was accepted"
            );
        }
        // Ten digits, zero-padded, is how a uid is written; past them, no leading zero.
        for good in ["0000000001", "0999999999", "1700000000", "17000000000"] {
            let uid: Uid = format!("{good}.{id}").parse().unwrap();
            assert_eq!(uid.as_str(), format!("{:010}.{id}", uid.unix_seconds()));
        }
    }
}
