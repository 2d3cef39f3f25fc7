//! What starting a long job costs on AWS, beside Lambda's self-invoke: the API calls and
//! bytes to dispatch one job to Fargate (RunTask on moto_server, and the job and its task's
//! ARN written to the bucket), counted by a proxy, against one Invoke of the function with
//! the job as its payload; and what a minute of each costs, from the price table
//! (`backend/src/usage.rs`, the README's figures).
//!
//! Run with `cargo bench -p aws-exec --bench dispatch`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aws_exec_backend::dispatch::{Dispatch, FargateDispatch, FargateTasks, LambdaDispatch};
use aws_exec_backend::job::Job;
use aws_exec_backend::store::S3Store;
use aws_exec_backend::usage::CostModel;
use aws_exec_protocol::{TaskSize, Uid};
use aws_exec_testkit::s3::sdk_config;
use aws_exec_testkit::{LongRunner, S3Proxy, S3Server};

fn row(what: &str, ours: String, baseline: String) {
    println!("{what:<34} {ours:>30} {baseline:>30}");
}

/// A job of `env_bytes` of environment, as a runner takes it.
fn job(env_bytes: usize) -> Job {
    serde_json::from_value(serde_json::json!({
        "owner": "bench",
        "uid": Uid::now(),
        "command": {"kind": "argv", "argv": ["./train.sh", "--epochs", "40"]},
        "timeout": 7200,
        "env": {"DATA": "x".repeat(env_bytes)},
        "fargate": {"cpu": 1024, "memory-mb": 2048},
    }))
    .unwrap()
}

#[tokio::main]
async fn main() {
    let moto = S3Server::moto();
    moto.bucket("bench").await;
    let ecs = LongRunner::on(&moto);
    let aws = S3Proxy::start(&moto.endpoint).await;
    let s3 = aws_exec_testkit::s3::s3_client(&aws.endpoint);
    let store = Arc::new(S3Store::new(s3, "bench"));
    let ecs_client = aws_sdk_ecs::Client::new(&sdk_config(&aws.endpoint));
    let tasks = FargateTasks::new(ecs_client, ecs.config("bench"));
    // Lambda's Invoke API, answering 202 as AWS does for an Event, behind its own proxy.
    let invoke = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let invoke_url = format!("http://{}", invoke.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { axum::http::StatusCode::ACCEPTED });
        axum::serve(invoke, app).await.unwrap();
    });
    let lambda_proxy = S3Proxy::start(&invoke_url).await;
    let lambda = Arc::new(LambdaDispatch::new(
        aws_sdk_lambda::Client::new(&sdk_config(&lambda_proxy.endpoint)),
        "aws-exec",
    ));
    let fargate = FargateDispatch::new(Arc::new(tasks), store.clone(), lambda.clone());

    println!(
        "{:<34} {:>30} {:>30}",
        "benchmark", "Fargate (RunTask)", "Lambda (self-invoke)"
    );
    for env_bytes in [0, 60 * 1024] {
        let (calls, puts) = (
            aws.stats.other.load(Ordering::SeqCst),
            aws.stats.puts.load(Ordering::SeqCst),
        );
        let (sent, put_bytes) = (
            aws.stats.other_bytes.load(Ordering::SeqCst),
            aws.stats.put_bytes.load(Ordering::SeqCst),
        );
        // As submit does for a Fargate job: the job where its task reads it, then the task.
        let long = job(env_bytes);
        let body = serde_json::to_vec(&long).unwrap();
        aws_exec_backend::Store::put(store.as_ref(), &long.keys().job(), body.into())
            .await
            .unwrap();
        fargate.dispatch(long).await.unwrap();
        let calls = aws.stats.other.load(Ordering::SeqCst) - calls;
        let sent = aws.stats.other_bytes.load(Ordering::SeqCst) - sent;
        let puts = aws.stats.puts.load(Ordering::SeqCst) - puts;
        let put_bytes = aws.stats.put_bytes.load(Ordering::SeqCst) - put_bytes;

        let before = lambda_proxy.stats.other_bytes.load(Ordering::SeqCst);
        let mut short = job(env_bytes);
        short.fargate = None;
        lambda.dispatch(short).await.unwrap();
        let invoked = lambda_proxy.stats.other_bytes.load(Ordering::SeqCst) - before;
        row(
            &format!("dispatch, {} KiB of env", env_bytes / 1024),
            format!("{calls} call ({sent} B) + {puts} PUTs ({put_bytes} B)"),
            format!("1 Invoke ({invoked} B)"),
        );
    }

    let minute = Duration::from_secs(60);
    let usd = |model: CostModel, ran: Duration| model.nano_usd(ran) as f64 / 1e9;
    let smallest = CostModel::fargate(TaskSize::SMALLEST);
    let one_vcpu = CostModel::fargate(TaskSize {
        cpu: 1024,
        memory_mb: 2048,
    });
    let lambda_2gb = CostModel::lambda(
        2048,
        aws_exec_backend::usage::LAMBDA_ARM64_USD_PER_GB_SECOND,
    );
    let lambda_512 =
        CostModel::lambda(512, aws_exec_backend::usage::LAMBDA_ARM64_USD_PER_GB_SECOND);
    row(
        "a minute, smallest size",
        format!("${:.6} (0.25 vCPU, 0.5 GB)", usd(smallest, minute)),
        format!("${:.6} (512 MB)", usd(lambda_512, minute)),
    );
    row(
        "an hour, 1 vCPU and 2 GB",
        format!("${:.4}", usd(one_vcpu, minute * 60)),
        format!("${:.4} (if it could)", usd(lambda_2gb, minute * 60)),
    );
    row(
        "a 10 s job, 1 vCPU and 2 GB",
        format!(
            "${:.6} (a minute billed)",
            usd(one_vcpu, Duration::from_secs(10))
        ),
        format!("${:.6}", usd(lambda_2gb, Duration::from_secs(10))),
    );
}
