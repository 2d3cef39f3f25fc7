//! The AWS SDK's deadlines and HTTPS client, for every AWS client the service makes.

use aws_config::timeout::TimeoutConfig;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

use super::{AWS_ATTEMPT, AWS_CALL, CONNECT};

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
