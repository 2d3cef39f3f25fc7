//! Real S3-protocol servers for tests: moto_server (PyPI) and s3s-fs (crates.io), each
//! started on a free loopback port and stopped on drop. A missing server is a test failure
//! that says how to install it (bin/setup.sh), never a skip.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::Credentials;

use crate::env::clean_command;

pub const ACCESS_KEY: &str = "AKIAAWSEXECTEST00001";
pub const SECRET_KEY: &str = "awsexectestsecretkey000000000000000000001";
pub const REGION: &str = "us-east-1";

pub struct S3Server {
    child: Child,
    pub endpoint: String,
    /// "moto" or "s3s-fs".
    pub endpoint_kind: &'static str,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Finds a tool in $VAR, the repo's .venv, ~/.cargo/bin or PATH.
pub fn tool(var: &str, name: &str) -> PathBuf {
    if let Ok(path) = std::env::var(var) {
        return path.into();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let home = std::env::var("HOME").unwrap_or_default();
    let candidates = [
        root.join(".venv/bin").join(name),
        PathBuf::from(home).join(".cargo/bin").join(name),
    ];
    if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
        return found;
    }
    let on_path = std::env::var_os("PATH").map(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    on_path.flatten().unwrap_or_else(|| {
        panic!("{name} is not installed (set {var}, or run bin/setup.sh to install it)")
    })
}

fn wait_for(child: &mut Child, port: u16, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{name} exited at start: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not listen on {port} within 30s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl S3Server {
    /// moto_server: answers like S3, but does not check signatures or expiry.
    pub fn moto() -> Self {
        let port = free_port();
        let mut child = clean_command(tool("MOTO_SERVER", "moto_server"), &[])
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        wait_for(&mut child, port, "moto_server");
        S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            endpoint_kind: "moto",
            _dir: None,
        }
    }

    /// s3s-fs: a file-backed S3 server that does check signatures and expiry.
    pub fn s3s_fs() -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let mut child = clean_command(tool("S3S_FS", "s3s-fs"), &[])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        wait_for(&mut child, port, "s3s-fs");
        S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            endpoint_kind: "s3s-fs",
            _dir: Some(dir),
        }
    }

    pub fn client(&self) -> aws_sdk_s3::Client {
        s3_client(&self.endpoint)
    }

    /// An SSM client on this server (moto answers SSM as well as S3).
    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&sdk_config(&self.endpoint))
    }

    /// The keys under `prefix` in `bucket`, in order (one page: up to 1000).
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let listed = self
            .client()
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .expect("listed");
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }

    /// Creates a bucket and returns a client for it.
    pub async fn bucket(&self, name: &str) -> aws_sdk_s3::Client {
        let client = self.client();
        client
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .expect("bucket created");
        client
    }

    /// As [`S3Server::env`], with the SDK pointed at `endpoint` instead (a proxy before
    /// this server).
    pub fn env_via(&self, endpoint: &str) -> Vec<(&'static str, String)> {
        self.env()
            .into_iter()
            .map(|(k, v)| match k {
                "AWS_ENDPOINT_URL" => (k, endpoint.to_owned()),
                _ => (k, v),
            })
            .collect()
    }

    /// The environment that points the AWS SDK (ours or boto3) at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_DEFAULT_REGION", REGION.into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }
}

/// The AWS settings of every SDK client the tests and benchmarks make: a server at
/// `endpoint` (moto, s3s-fs, or a proxy before one), with the test credentials.
pub fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .http_client(aws_exec_backend::deadlines::aws_https_client())
        .behavior_version(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"),
        ))
        .build()
}

/// An S3 client of a server at `endpoint`, which wants path-style addressing.
pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&sdk_config(endpoint))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
