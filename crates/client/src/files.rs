//! Files in and out of jobs: upload an input before submitting the job that names it, and
//! list or download what a job left under `$AWS_EXEC_ARTIFACTS`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_exec_protocol::files::is_safe_relative_path;
use aws_exec_protocol::{Artifact, ArtifactList, InputUpload, AUTH_HEADER};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::{json_or_error, policy, Client, ClientError};

/// How far a transfer has come, for a progress bar: bytes moved of all there are to move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub done: u64,
    pub total: u64,
}

/// Told of a transfer's progress as its bytes move (from 0 again when a failed attempt is
/// tried again).
pub type Progress = Arc<dyn Fn(Transfer) + Send + Sync>;

impl Client {
    /// Uploads the file at `path` as an input and returns its key, for
    /// [`crate::ExecRequest::input`]. Streamed, so its size is bounded by the store only.
    pub async fn upload_input(&self, path: &Path) -> Result<String, ClientError> {
        self.upload_input_with(path, None).await
    }

    /// As [`Client::upload_input`], telling `progress` how far it has come.
    pub async fn upload_input_with(
        &self,
        path: &Path,
        progress: Option<Progress>,
    ) -> Result<String, ClientError> {
        let upload: InputUpload = {
            let url = format!("{}/api/inputs", self.base);
            let resp = self
                .retry
                .run("upload", |_| {
                    let req = self.http.post(&url).header(AUTH_HEADER, self.auth.expose());
                    policy::send(req, policy::ANSWER_WITHIN)
                })
                .await?;
            json_or_error(resp).await?
        };
        self.put_file(&upload.url, path, progress).await?;
        Ok(upload.key)
    }

    /// PUTs the file at `path` to a presigned `url`, streamed.
    pub(crate) async fn put_file(
        &self,
        url: &str,
        path: &Path,
        progress: Option<Progress>,
    ) -> Result<(), ClientError> {
        let local = |e: std::io::Error| ClientError::Config(format!("{}: {e}", path.display()));
        self.retry
            .run("upload", |_| async {
                // Reopened for each attempt: a failed PUT may have read part of it.
                let file = tokio::fs::File::open(path)
                    .await
                    .map_err(|e| policy::Attempt::Fail(local(e)))?;
                let len = file
                    .metadata()
                    .await
                    .map_err(|e| policy::Attempt::Fail(local(e)))?
                    .len();
                let mut done = 0;
                let progress = progress.clone();
                let body = tokio_util::io::ReaderStream::new(file).inspect(move |chunk| {
                    if let (Some(progress), Ok(chunk)) = (&progress, chunk) {
                        done += chunk.len() as u64;
                        progress(Transfer { done, total: len });
                    }
                });
                let req = self
                    .http
                    .put(url)
                    .header(reqwest::header::CONTENT_LENGTH, len)
                    .body(reqwest::Body::wrap_stream(body));
                policy::send(req, policy::upload_within(len)).await
            })
            .await?;
        Ok(())
    }

    /// The files job `uid` left under `$AWS_EXEC_ARTIFACTS`, each with a GET URL; none
    /// until it has ended.
    pub async fn artifacts(&self, uid: &str) -> Result<Vec<Artifact>, ClientError> {
        let list: ArtifactList = self
            .get_json("/api/artifacts", &[("uid", uid.to_owned())])
            .await?;
        Ok(list.artifacts)
    }

    /// Downloads every artifact of job `uid` under `dir`, keeping their tree; returns them.
    /// A path that would leave `dir` is refused, whatever the service says.
    pub async fn download_artifacts(
        &self,
        uid: &str,
        dir: &Path,
    ) -> Result<Vec<Artifact>, ClientError> {
        self.download_artifacts_with(uid, dir, None).await
    }

    /// As [`Client::download_artifacts`], telling `progress` how far all of them have come.
    pub async fn download_artifacts_with(
        &self,
        uid: &str,
        dir: &Path,
        progress: Option<Progress>,
    ) -> Result<Vec<Artifact>, ClientError> {
        let artifacts = self.artifacts(uid).await?;
        let total = artifacts.iter().map(|a| a.size).sum();
        let mut done = 0;
        for artifact in &artifacts {
            if !is_safe_relative_path(&artifact.path) {
                return Err(ClientError::Protocol {
                    status: 200,
                    why: format!("artifact path {:?} leaves the directory", artifact.path),
                });
            }
            let dest: PathBuf = dir.join(&artifact.path);
            let local = |e: std::io::Error| ClientError::Config(format!("{}: {e}", dest.display()));
            if let Some(parent) = dest.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(local)?;
            }
            let resp = self
                .retry
                .run("download", |_| {
                    let req = self.http.get(&artifact.url);
                    policy::send(req, policy::ANSWER_WITHIN)
                })
                .await?;
            let mut file = tokio::fs::File::create(&dest).await.map_err(local)?;
            let mut body = resp.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(ClientError::Http)?;
                file.write_all(&chunk).await.map_err(local)?;
                done += chunk.len() as u64;
                if let Some(progress) = &progress {
                    progress(Transfer { done, total });
                }
            }
            file.flush().await.map_err(local)?;
        }
        Ok(artifacts)
    }
}
