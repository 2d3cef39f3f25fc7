//! Every network call the service makes has a deadline, and they are all set here: the AWS
//! SDK clients (S3, Lambda, Scheduler), the push-url PUTs, and the name lookups before
//! them. A peer that accepts a connection and never answers costs a bounded wait, never a
//! job slot or a shutdown.

use std::time::Duration;

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "aws")]
pub use aws::{aws_config, aws_https_client, aws_timeouts};

/// To open a connection (TCP and TLS).
pub const CONNECT: Duration = Duration::from_secs(5);

/// To resolve a push-url's host at submit.
pub const LOOKUP: Duration = Duration::from_secs(5);

/// One attempt of an AWS call, large uploads included (an artifact of 1 GiB takes some
/// 10 s in a region); the SDK retries a failed attempt within [`AWS_CALL`].
pub const AWS_ATTEMPT: Duration = Duration::from_secs(120);

/// An AWS call with its retries.
pub const AWS_CALL: Duration = Duration::from_secs(300);

/// One PUT of `len` bytes to a push-url: a short wait for the answer plus time to send the
/// body at a slow 1 MiB/s.
pub fn push(len: usize) -> Duration {
    Duration::from_secs(15) + Duration::from_secs((len as u64) >> 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_set_and_grow_with_the_body() {
        #[cfg(feature = "aws")]
        {
            let sdk = aws_timeouts();
            assert_eq!(sdk.connect_timeout(), Some(CONNECT));
            assert_eq!(sdk.operation_timeout(), Some(AWS_CALL));
        }
        assert_eq!(push(0), Duration::from_secs(15));
        assert_eq!(push(32 << 20), Duration::from_secs(47));
    }
}
