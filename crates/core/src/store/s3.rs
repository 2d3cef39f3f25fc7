//! The S3 store: the same objects in a bucket, through aws-sdk-s3. The endpoint, region and
//! credentials come from the standard AWS settings, so the same code talks to AWS or to any
//! S3-compatible server (`AWS_ENDPOINT_URL`).

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use bytes::Bytes;

use super::{Store, StoreError};

pub struct S3Store {
    client: Client,
    bucket: String,
}

impl S3Store {
    /// A store on `bucket` configured from the environment. A custom endpoint
    /// (`AWS_ENDPOINT_URL`, e.g. a server on 127.0.0.1) gets path-style addressing, which
    /// such servers need; `AWS_S3_FORCE_PATH_STYLE=true|false` decides explicitly. A missing
    /// region or credentials is one clear error, found here rather than at the first request.
    pub async fn from_env(bucket: impl Into<String>) -> Result<Self, StoreError> {
        let shared = crate::deadlines::aws_config().await;
        check_aws_settings(&shared).await?;
        let path_style = match std::env::var("AWS_S3_FORCE_PATH_STYLE").ok().as_deref() {
            Some("true" | "1") => true,
            Some("false" | "0") => false,
            _ => shared.endpoint_url().is_some(),
        };
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(path_style)
            .build();
        Ok(S3Store::new(Client::from_conf(config), bucket))
    }

    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Store {
            client,
            bucket: bucket.into(),
        }
    }
}

/// Fails with one line naming what is missing: a region, or any credentials.
pub async fn check_aws_settings(shared: &aws_config::SdkConfig) -> Result<(), StoreError> {
    use aws_sdk_s3::config::ProvideCredentials;
    if shared.region().is_none() {
        return Err(StoreError::Config(
            "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region)".into(),
        ));
    }
    let Some(provider) = shared.credentials_provider() else {
        return Err(StoreError::Config("no AWS credentials provider".into()));
    };
    match tokio::time::timeout(Duration::from_secs(10), provider.provide_credentials()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(StoreError::Config(format!(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE ({e})"
        ))),
        Err(_) => Err(StoreError::Config(
            "no AWS credentials within 10 s: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE".into(),
        )),
    }
}

impl S3Store {
    /// The object's body as it streams in; `None` when it does not exist.
    async fn open(&self, key: &str) -> Result<Option<ByteStream>, StoreError> {
        let sent = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match sent {
            Ok(out) => Ok(Some(out.body)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) if http_status(&e) == Some(404) => Ok(None),
            Err(e) => Err(backend(key, e)),
        }
    }
}

/// What a copy source may hold as it is: a key's `/` separates its parts.
const COPY_SOURCE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn backend<E, R>(key: &str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Backend(format!("{key}: {}", DisplayErrorContext(e)))
}

fn http_status<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

#[async_trait]
impl Store for S3Store {
    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| backend(key, e))?;
        Ok(())
    }

    async fn put_new(&self, key: &str, body: Bytes) -> Result<bool, StoreError> {
        let sent = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            // 412: it exists. 409: another conditional write of it is in flight; it loses.
            Err(e) if matches!(http_status(&e), Some(412 | 409)) => Ok(false),
            Err(e) => Err(backend(key, e)),
        }
    }

    /// A body cut off midway is read again whole: the SDK retries a request that failed,
    /// not one whose answer broke off after it began.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        const ATTEMPTS: u32 = 4;
        let mut wait = Duration::from_millis(100);
        for attempt in 1.. {
            let Some(body) = self.open(key).await? else {
                return Ok(None);
            };
            match body.collect().await {
                Ok(body) => return Ok(Some(body.into_bytes())),
                Err(e) if attempt >= ATTEMPTS => {
                    return Err(StoreError::Backend(format!("{key}: reading body: {e}")))
                }
                Err(e) => {
                    tracing::warn!(key, attempt, error = %e, "a read was cut off; reading again");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
        unreachable!("the loop returns")
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| backend(prefix, e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        keys.sort();
        Ok(keys)
    }

    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<Vec<String>, StoreError> {
        let page = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(str::to_owned))
            .max_keys(max.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(|e| backend(prefix, e))?;
        Ok(page
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| backend(key, e))?;
        Ok(())
    }

    async fn copy(&self, from: &str, to: &str) -> Result<bool, StoreError> {
        // The source is `BUCKET/KEY`, URL-encoded as a path.
        let source = format!(
            "{}/{}",
            self.bucket,
            percent_encoding::utf8_percent_encode(from, COPY_SOURCE)
        );
        let sent = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(source)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) if http_status(&e) == Some(404) => Ok(false),
            Err(e) => Err(backend(from, e)),
        }
    }

    async fn head(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let sent = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        match sent {
            Ok(out) => Ok(Some(out.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) if http_status(&e) == Some(404) => Ok(None),
            Err(e) => Err(backend(key, e)),
        }
    }

    async fn download(&self, key: &str, path: &Path) -> Result<bool, StoreError> {
        let Some(body) = self.open(key).await? else {
            return Ok(false);
        };
        let io = |e: std::io::Error| StoreError::Io {
            key: key.to_owned(),
            source: e,
        };
        let mut to = tokio::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(path)
            .await
            .map_err(io)?;
        let mut body = body.into_async_read();
        tokio::io::copy(&mut body, &mut to).await.map_err(io)?;
        tokio::io::AsyncWriteExt::flush(&mut to).await.map_err(io)?;
        Ok(true)
    }

    /// A body streamed from a file cannot be replayed by the SDK's own retries, so each
    /// attempt here reads the file again from its start: one failed PUT of a job's whole
    /// log (or an artifact) never loses it.
    async fn upload(&self, key: &str, file: tokio::fs::File) -> Result<(), StoreError> {
        const ATTEMPTS: u32 = 4;
        let file = file.into_std().await;
        let mut wait = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            let reading =
                |e: std::io::Error| StoreError::Backend(format!("{key}: reading the file: {e}"));
            // The copy shares the file's position, which the last attempt left at its end.
            let mut copy = file.try_clone().map_err(reading)?;
            std::io::Seek::seek(&mut copy, std::io::SeekFrom::Start(0)).map_err(reading)?;
            let body = ByteStream::read_from()
                .file(tokio::fs::File::from_std(copy))
                .build()
                .await
                .map_err(|e| StoreError::Backend(format!("{key}: reading the file: {e}")))?;
            let sent = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(body)
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(()),
                Err(e)
                    if attempt >= ATTEMPTS
                        || http_status(&e)
                            .is_some_and(|s| (400..500).contains(&s) && s != 408 && s != 429) =>
                {
                    return Err(backend(key, e))
                }
                Err(e) => {
                    tracing::warn!(key, attempt, error = %DisplayErrorContext(&e), "upload failed; sending it again");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
            }
        }
    }

    async fn presign_download(
        &self,
        key: &str,
        filename: &str,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| StoreError::Backend(format!("presigning {key}: {e}")))?;
        // RFC 6266's UTF-8 form: any name survives, quotes and all.
        const ATTR_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        let encoded = percent_encoding::utf8_percent_encode(filename, ATTR_CHAR);
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(format!("attachment; filename*=UTF-8''{encoded}"))
            .presigned(config)
            .await
            .map_err(|e| {
                StoreError::Backend(format!("presigning {key}: {}", DisplayErrorContext(e)))
            })?;
        Ok(presigned.uri().to_owned())
    }

    async fn presign_put(&self, key: &str, ttl: Duration) -> Result<String, StoreError> {
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| StoreError::Backend(format!("presigning {key}: {e}")))?;
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| {
                StoreError::Backend(format!("presigning {key}: {}", DisplayErrorContext(e)))
            })?;
        Ok(presigned.uri().to_owned())
    }

    async fn presign_get(
        &self,
        key: &str,
        range_start: Option<u64>,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| StoreError::Backend(format!("presigning {key}: {e}")))?;
        let mut request = self.client.get_object().bucket(&self.bucket).key(key);
        if let Some(start) = range_start {
            // Signed in: the URL is good for this range only, sent as `Range: bytes=N-`.
            request = request.range(format!("bytes={start}-"));
        }
        let presigned = request.presigned(config).await.map_err(|e| {
            let code = e.code().unwrap_or("presign").to_owned();
            StoreError::Backend(format!(
                "presigning {key}: {code}: {}",
                DisplayErrorContext(e)
            ))
        })?;
        Ok(presigned.uri().to_owned())
    }
}
