//! A caller's secrets: set, list (names and times) and delete. No call reads a value back;
//! jobs get them by name ([`aws_exec_protocol::ExecRequest::secret`]).

use aws_exec_protocol::{Deleted, PutSecret, SecretInfo, SecretList};
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// Stores or replaces secret `name` (`[A-Z_][A-Z0-9_]*`) with `value`.
    pub async fn put_secret(&self, name: &str, value: &str) -> Result<SecretInfo, ClientError> {
        let body = PutSecret {
            value: value.to_owned(),
        };
        self.send_json(
            Method::PUT,
            &format!("/api/secrets/{name}"),
            Some(&body),
            None,
        )
        .await
    }

    /// The caller's secrets by name, with when each was last set.
    pub async fn secrets(&self) -> Result<Vec<SecretInfo>, ClientError> {
        let list: SecretList = self.get_json("/api/secrets", &[]).await?;
        Ok(list.secrets)
    }

    /// Deletes secret `name`; jobs that ask for it from now on fail.
    pub async fn delete_secret(&self, name: &str) -> Result<(), ClientError> {
        let _: Deleted = self
            .send_json::<(), _>(Method::DELETE, &format!("/api/secrets/{name}"), None, None)
            .await?;
        Ok(())
    }
}

impl Client {
    /// The key the caller's notifications are signed with (`whsec_...`), made on first ask.
    pub async fn notify_secret(&self) -> Result<String, ClientError> {
        let answer: aws_exec_protocol::NotifySecret =
            self.get_json("/api/notify/secret", &[]).await?;
        Ok(answer.secret)
    }

    /// Replaces it; answers the new one.
    pub async fn rotate_notify_secret(&self) -> Result<String, ClientError> {
        let answer: aws_exec_protocol::NotifySecret = self
            .send_json::<(), _>(Method::POST, "/api/notify/secret", None, None)
            .await?;
        Ok(answer.secret)
    }
}
