//! Jobs that start themselves: a caller's schedules (cron in a time zone) and triggers (an
//! upload under a prefix of their inbox), and uploads into that inbox.

use std::path::Path;

use aws_exec_protocol::keys::DefKind;
use aws_exec_protocol::{
    Deleted, ExecResponse, InputUpload, Schedule, ScheduleList, ScheduleSpec, StateInfo, Trigger,
    TriggerList, TriggerSpec, UploadRequest,
};
use reqwest::Method;

use crate::{new_idempotency_key, Client, ClientError};

impl Client {
    /// Creates or replaces schedule `name`; answers it as stored, with its next run.
    pub async fn put_schedule(
        &self,
        name: &str,
        spec: &ScheduleSpec,
    ) -> Result<Schedule, ClientError> {
        self.send_json(
            Method::PUT,
            &format!("/api/schedules/{name}"),
            Some(spec),
            None,
        )
        .await
    }

    /// The caller's schedules by name, each with its next and last run.
    pub async fn schedules(&self) -> Result<Vec<Schedule>, ClientError> {
        let list: ScheduleList = self.get_json("/api/schedules", &[]).await?;
        Ok(list.schedules)
    }

    pub async fn schedule(&self, name: &str) -> Result<Schedule, ClientError> {
        self.get_json(&format!("/api/schedules/{name}"), &[]).await
    }

    /// Deletes schedule `name`: it fires no more; jobs it started stay.
    pub async fn delete_schedule(&self, name: &str) -> Result<(), ClientError> {
        let _: Deleted = self
            .send_json::<(), _>(
                Method::DELETE,
                &format!("/api/schedules/{name}"),
                None,
                None,
            )
            .await?;
        Ok(())
    }

    /// Runs schedule `name` now, as an ordinary job; answers its uid.
    pub async fn run_schedule(&self, name: &str) -> Result<String, ClientError> {
        let key = new_idempotency_key();
        let started: ExecResponse = self
            .send_json::<(), _>(
                Method::POST,
                &format!("/api/schedules/{name}/run"),
                None,
                Some(&key),
            )
            .await?;
        Ok(started.uid)
    }

    /// Creates or replaces trigger `name`.
    pub async fn put_trigger(
        &self,
        name: &str,
        spec: &TriggerSpec,
    ) -> Result<Trigger, ClientError> {
        self.send_json(
            Method::PUT,
            &format!("/api/triggers/{name}"),
            Some(spec),
            None,
        )
        .await
    }

    /// The caller's triggers by name, each with its last run.
    pub async fn triggers(&self) -> Result<Vec<Trigger>, ClientError> {
        let list: TriggerList = self.get_json("/api/triggers", &[]).await?;
        Ok(list.triggers)
    }

    pub async fn delete_trigger(&self, name: &str) -> Result<(), ClientError> {
        let _: Deleted = self
            .send_json::<(), _>(Method::DELETE, &format!("/api/triggers/{name}"), None, None)
            .await?;
        Ok(())
    }

    /// Uploads the file at `local` to `path` in the caller's inbox, which fires the
    /// triggers whose prefix it is under; answers its key.
    pub async fn upload(&self, path: &str, local: &Path) -> Result<String, ClientError> {
        let request = UploadRequest {
            path: path.to_owned(),
        };
        let upload: InputUpload = self
            .send_json(Method::POST, "/api/uploads", Some(&request), None)
            .await?;
        self.put_file(&upload.url, local, None).await?;
        Ok(upload.key)
    }

    /// The state a schedule's or trigger's next run starts from (`"state": true`).
    pub async fn state(&self, kind: DefKind, name: &str) -> Result<StateInfo, ClientError> {
        self.get_json(&state_path(kind, name), &[]).await
    }

    /// Empties it: the next run starts from nothing. Answers the new version.
    pub async fn reset_state(&self, kind: DefKind, name: &str) -> Result<StateInfo, ClientError> {
        self.send_json::<(), _>(Method::DELETE, &state_path(kind, name), None, None)
            .await
    }

    /// Writes the state's files into `dir` (made if missing); answers what was fetched.
    pub async fn download_state(
        &self,
        kind: DefKind,
        name: &str,
        dir: &Path,
    ) -> Result<StateInfo, ClientError> {
        let info = self.state(kind, name).await?;
        let local = |e: std::io::Error| ClientError::Config(format!("{}: {e}", dir.display()));
        tokio::fs::create_dir_all(dir).await.map_err(local)?;
        let Some(url) = &info.url else {
            return Ok(info);
        };
        let resp = self
            .retry
            .run("download", |_| {
                let req = self.http.get(url);
                crate::policy::send(req, crate::policy::ANSWER_WITHIN)
            })
            .await?;
        let archive = resp.bytes().await.map_err(ClientError::Http)?;
        let dir = dir.to_owned();
        // The archive holds plain files and directories; unpacking refuses any path that
        // would leave `dir`.
        tokio::task::spawn_blocking(move || tar::Archive::new(&archive[..]).unpack(&dir))
            .await
            .map_err(|e| ClientError::Config(e.to_string()))?
            .map_err(local)?;
        Ok(info)
    }
}

fn state_path(kind: DefKind, name: &str) -> String {
    match kind {
        DefKind::Schedule => format!("/api/schedules/{name}/state"),
        DefKind::Trigger => format!("/api/triggers/{name}/state"),
    }
}
