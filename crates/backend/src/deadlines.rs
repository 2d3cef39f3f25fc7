//! Every network call the service makes has a deadline, and they are all set here: the AWS
//! SDK clients (S3, Lambda, Scheduler), the push-url PUTs, and the name lookups before
//! them. A peer that accepts a connection and never answers costs a bounded wait, never a
//! job slot or a shutdown.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// To open a connection (TCP and TLS).
pub const CONNECT: Duration = Duration::from_secs(5);

/// To resolve a push-url's host at submit.
pub const LOOKUP: Duration = Duration::from_secs(5);

/// One attempt of an AWS call, large uploads included (an artifact of 1 GiB takes some
/// 10 s in a region); the SDK retries a failed attempt within [`AWS_CALL`].
pub const AWS_ATTEMPT: Duration = Duration::from_secs(120);

/// An AWS call with its retries.
pub const AWS_CALL: Duration = Duration::from_secs(300);

/// The SDK's deadlines, for every AWS client the service makes.
pub fn aws_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT)
        .operation_attempt_timeout(AWS_ATTEMPT)
        .operation_timeout(AWS_CALL)
        .build()
}

/// The HTTPS client of every AWS client the service (and its tests) make: hyper 1 and
/// rustls with ring, the same stack as the service's other HTTP calls, so the binary holds
/// one TLS library.
pub fn aws_https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// The shared AWS settings from the environment, with [`aws_timeouts`] and
/// [`aws_https_client`]: read once, for every client the service makes.
pub async fn aws_config() -> aws_config::SdkConfig {
    static SHARED: tokio::sync::OnceCell<aws_config::SdkConfig> =
        tokio::sync::OnceCell::const_new();
    SHARED
        .get_or_init(|| async {
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .timeout_config(aws_timeouts())
                .http_client(SharedHttpClient::new(OnFirstUse(aws_https_client())))
                .load()
                .await
        })
        .await
        .clone()
}

/// The SDK's HTTPS client, made ready on its first request instead of when a client is
/// built: making it reads every trusted certificate on the machine (some 3 ms), which a
/// Lambda cold start would pay before its first event, needed or not. The client checks
/// itself when a client is built (`validate_base_client_config`); this wrapper leaves that
/// check out, and so the certificates to the first request.
#[derive(Debug)]
struct OnFirstUse(SharedHttpClient);

impl HttpClient for OnFirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

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
        let sdk = aws_timeouts();
        assert_eq!(sdk.connect_timeout(), Some(CONNECT));
        assert_eq!(sdk.operation_timeout(), Some(AWS_CALL));
        assert_eq!(push(0), Duration::from_secs(15));
        assert_eq!(push(32 << 20), Duration::from_secs(47));
    }
}
