//! `aws-exec serve`: the whole service on this machine until Ctrl-C or SIGTERM.

use anyhow::Context;
use aws_exec_backend::auth;
use aws_exec_backend::runner::RunAs;
use aws_exec_backend::serve::{LocalConfig, LocalService};
use aws_exec_protocol::AuthName;

use crate::cli::ServeArgs;

pub async fn run(args: ServeArgs) -> anyhow::Result<i32> {
    let storage = args.store.location();
    let mut config = LocalConfig::new(storage.clone());
    config.addr = args.addr;
    config.concurrency = args.concurrency;
    config.per_user = args.per_user.map(|n| n as usize);
    config.queue = args.queue;
    config.queue_per_user = args.queue_per_user.map(|n| n as usize);
    config.public_url = args.public_url;
    if args.max_timeout < std::time::Duration::from_secs(1) {
        anyhow::bail!("--max-timeout must be at least 1s");
    }
    config.runner.max_run_time = args.max_timeout;
    config.runner.run_as = run_as(args.run_as.as_deref())?;
    config.runner.rpc_process = crate::commands::rpc_process();
    config.runner.push_policy.allow_hosts = args.allow_push_host;
    config.keep = Some(args.keep);
    let service = LocalService::start(config, crate::commands::registry())
        .await
        .with_context(|| format!("starting the service on {}", args.addr))?;

    let store = service.store();
    if auth::list(store.as_ref()).await?.is_empty() {
        let name: AuthName = "default".parse().expect("valid name");
        let key = auth::create(store.as_ref(), &name).await?;
        println!(
            "first start: created an auth key for \"default\" (shown once; only its hash is kept):"
        );
        println!("  export PROJECT_URL={}", service.url());
        println!("  export AUTH={}", key.expose());
    } else {
        // Where the commands look for the service; the key is the one printed at the
        // first start (or `aws-exec auth new NAME`).
        println!("  export PROJECT_URL={}", service.url());
    }
    println!("aws-exec serving {} ({storage})", service.url());

    shutdown_signal().await;
    eprintln!("stopping: cancelling running jobs");
    service.shutdown().await;
    Ok(0)
}

/// As root, each job runs as a user of its own, or every job as `--run-as USER`, so they
/// cannot reach the data directory or keys; otherwise they run as the serving user, which
/// `--run-as` cannot change.
fn run_as(user: Option<&str>) -> anyhow::Result<RunAs> {
    let root = nix::unistd::geteuid().is_root();
    let name = match (root, user) {
        (true, None) => {
            let range = aws_exec_backend::runner::users::JOB_USERS;
            eprintln!(
                "each job runs as a user of its own (uid {} to {})",
                range.start(),
                range.end()
            );
            return Ok(RunAs::per_job());
        }
        (true, Some(user)) => user,
        (false, None) => return Ok(RunAs::Service),
        (false, Some(_)) => anyhow::bail!("--run-as needs serve to run as root"),
    };
    let user = nix::unistd::User::from_name(name)?
        .with_context(|| format!("--run-as: no user {name:?}"))?;
    if user.uid.is_root() {
        anyhow::bail!("--run-as: jobs must not run as root");
    }
    eprintln!(
        "every job runs as {name} (uid {}): jobs running at once can reach each other",
        user.uid
    );
    Ok(RunAs::Fixed {
        user: user.uid.as_raw(),
        group: user.gid.as_raw(),
    })
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
