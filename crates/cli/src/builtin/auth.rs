//! `aws-exec auth new|ls|rm`: keys are managed directly on the store.

use aws_exec_backend::auth;
use aws_exec_backend::serve::StoreLocation;
use aws_exec_protocol::AuthName;

use crate::cli::{AuthArgs, AuthCmd};
use crate::show::{age, moment};

pub async fn run(args: AuthArgs) -> anyhow::Result<i32> {
    let location = args.store.location();
    // Only a new key makes a store: listing or removing keys of one that is not there
    // would make an empty one and answer from it, when the user meant another.
    if let (StoreLocation::Dir(dir), false) =
        (&location, matches!(args.command, AuthCmd::New { .. }))
    {
        if !dir.exists() {
            anyhow::bail!(
                "no data directory at {} (serve makes it on its first start): pass the one \
                 serve uses with --data-dir, or set AWS_EXEC_DATA_DIR",
                dir.display()
            );
        }
    }
    let (store, _) = location.open().await?;
    let store = store.as_ref();
    match args.command {
        AuthCmd::New { name } => {
            let name: AuthName = name.parse()?;
            let key = auth::create(store, &name).await?;
            eprintln!("created a key for {name}; it is shown only now:");
            println!("{}", key.expose());
        }
        AuthCmd::Ls { json } => {
            let records = auth::list(store).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&records)?);
                return Ok(0);
            }
            let width = (records.iter())
                .map(|r| r.name.as_str().len())
                .chain([4])
                .max()
                .unwrap_or(4);
            println!("{:<width$}  CREATED", "NAME");
            for record in records {
                println!(
                    "{:<width$}  {} ({} ago)",
                    record.name.as_str(),
                    moment(record.created),
                    age(record.created)
                );
            }
        }
        AuthCmd::Rm { name } => {
            let name: AuthName = name.parse()?;
            let secrets = args.store.location().secrets().await?;
            let removed = auth::remove(store, secrets.as_ref(), &name).await?;
            let mut also = Vec::new();
            if removed.definitions > 0 {
                also.push(format!("{} schedules and triggers", removed.definitions));
            }
            match &removed.secrets {
                Ok(0) => {}
                Ok(n) => also.push(format!("{n} secrets")),
                Err(e) => eprintln!(
                    "aws-exec: warning: {name}'s secrets could not be removed ({e}); a key made later for {name} could use them"
                ),
            }
            match also.is_empty() {
                true => eprintln!("removed {name}"),
                false => eprintln!("removed {name} and its {}", also.join(" and ")),
            }
        }
    }
    Ok(0)
}
