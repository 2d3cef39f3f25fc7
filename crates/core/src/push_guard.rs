//! push-urls cannot aim the service inward: a URL whose host is, or resolves to, a loopback,
//! link-local (169.254.0.0/16 with the instance metadata and Lambda runtime APIs, fe80::/10),
//! private, unique-local or otherwise non-public address is refused at submit (400) unless
//! its host was allowed (`serve --allow-push-host`). Every PUT resolves again through the
//! same filter (DNS can change between submit and PUT) and never follows a redirect. On AWS
//! only https to S3 endpoints is accepted by default.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use aws_exec_protocol::PushUrls;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

#[derive(Clone, Debug, Default)]
pub struct PushPolicy {
    /// Hosts allowed whatever they resolve to (a test's loopback S3 server).
    pub allow_hosts: Vec<String>,
    /// Only `https://` URLs of `*.amazonaws.com` (Lambda mode).
    pub s3_https_only: bool,
}

impl PushPolicy {
    fn allowed(&self, host: &str) -> bool {
        self.allow_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
    }

    /// The policy for notification URLs: any public host, whatever this one allows for S3.
    pub fn for_notifications(&self) -> PushPolicy {
        PushPolicy {
            allow_hosts: self.allow_hosts.clone(),
            s3_https_only: false,
        }
    }

    /// Checks every URL at submit; the error names the field at fault.
    pub async fn check(&self, urls: &PushUrls) -> Result<(), String> {
        for (name, url) in urls.named() {
            self.check_url(url)
                .await
                .map_err(|why| format!("push-urls.{name}: {why}"))?;
        }
        Ok(())
    }

    /// Checks one URL: its host must resolve to public addresses only (unless allowed).
    pub async fn check_url(&self, url: &str) -> Result<(), String> {
        let url = Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        let host = url.host_str().ok_or("a URL without a host")?.to_owned();
        if self.allowed(&host) {
            return Ok(());
        }
        if self.s3_https_only
            && !(url.scheme() == "https" && host.to_ascii_lowercase().ends_with(".amazonaws.com"))
        {
            return Err("only https URLs of S3 (*.amazonaws.com) are accepted here".into());
        }
        if let Some(ip) = literal_ip(&url) {
            return refuse_inward(ip);
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let lookup = tokio::net::lookup_host((host.as_str(), port));
        let addrs = tokio::time::timeout(crate::deadlines::LOOKUP, lookup)
            .await
            .map_err(|_| {
                format!(
                    "cannot resolve {host} within {:?}",
                    crate::deadlines::LOOKUP
                )
            })?
            .map_err(|e| format!("cannot resolve {host}: {e}"))?;
        for addr in addrs {
            refuse_inward(addr.ip())?;
        }
        Ok(())
    }

    /// Checked again right before a PUT, for URLs naming an IP (which skip the resolver).
    pub fn check_before_put(&self, url: &str) -> Result<(), String> {
        let url = Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        match (url.host_str(), literal_ip(&url)) {
            (Some(host), _) if self.allowed(host) => Ok(()),
            (_, Some(ip)) => refuse_inward(ip),
            _ => Ok(()),
        }
    }

    /// The client push PUTs go through: guarded resolution, no redirects.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .connect_timeout(crate::deadlines::CONNECT)
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would connect wherever it is told, past the resolver's filter.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                allow: Arc::new(self.allow_hosts.clone()),
            }))
            .build()
            .expect("a client with a resolver builds")
    }
}

fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

fn refuse_inward(ip: IpAddr) -> Result<(), String> {
    if is_public(ip) {
        Ok(())
    } else {
        Err(format!(
            "{ip} is not a public address (loopback, link-local, private or reserved)"
        ))
    }
}

/// True for addresses a push may reach: not loopback, link-local, private, unique-local,
/// shared (CGNAT), unspecified, multicast, broadcast or documentation ranges.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

struct GuardedResolver {
    allow: Arc<Vec<String>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let allowed = allow.iter().any(|h| h.eq_ignore_ascii_case(&host));
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allowed || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inward_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["52.216.1.1", "2600:1f18::1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn submit_checks_name_the_field_and_honour_the_allow_list() {
        let urls = |host: &str| {
            PushUrls::new(
                format!("http://{host}/log"),
                "https://bucket.s3.amazonaws.com/e",
                "https://bucket.s3.amazonaws.com/s",
            )
            .unwrap()
        };
        let policy = PushPolicy::default();
        for host in [
            "127.0.0.1:9000",
            "localhost",
            "169.254.169.254",
            "[::1]",
            "10.0.0.7",
        ] {
            let err = policy.check(&urls(host)).await.unwrap_err();
            assert!(err.starts_with("push-urls.log"), "{host}: {err}");
        }
        let allowing = PushPolicy {
            allow_hosts: vec!["127.0.0.1".into()],
            ..Default::default()
        };
        assert!(allowing.check_before_put("http://127.0.0.1:9000/x").is_ok());
        assert!(policy.check_before_put("http://127.0.0.1:9000/x").is_err());
        let s3_only = PushPolicy {
            s3_https_only: true,
            ..Default::default()
        };
        assert!(s3_only
            .check(&urls("example.com"))
            .await
            .unwrap_err()
            .contains("only https"));
    }

    #[tokio::test]
    async fn puts_never_follow_redirects_nor_reach_inward_names() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        // A server that redirects /away to /target and counts the hits on /target.
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let app = axum::Router::new()
            .route(
                "/away",
                axum::routing::put(|| async {
                    (
                        axum::http::StatusCode::TEMPORARY_REDIRECT,
                        [(axum::http::header::LOCATION, "/target")],
                    )
                }),
            )
            .route(
                "/target",
                axum::routing::put(move || async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        let allowing = PushPolicy {
            allow_hosts: vec!["127.0.0.1".into()],
            ..Default::default()
        };
        let resp = allowing
            .client()
            .put(format!("http://127.0.0.1:{port}/away"))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 307);
        assert_eq!(hits.load(Ordering::SeqCst), 0, "the redirect was followed");

        // A name that resolves inward is refused when the PUT resolves it.
        let refused = PushPolicy::default()
            .client()
            .put(format!("http://localhost:{port}/target"))
            .body("x")
            .send()
            .await;
        assert!(refused.is_err());
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        server.abort();
    }
}
