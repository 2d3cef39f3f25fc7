//! `serve`'s own clock: it reads the schedule definitions from the store, sleeps until the
//! next firing (or until a definition changes) and fires what is due. Like cron, it does
//! not catch up on firings missed while it was not running.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_exec_protocol::keys::DefKind;
use aws_exec_protocol::{AuthName, DefName, ScheduleSpec};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::fire::{fire_schedule, Firing};
use super::{definitions, CronSchedule, Scheduler, SchedulerError};
use crate::lifecycle::Jobs;

/// The longest the clock sleeps before it reads the definitions again.
const IDLE: Duration = Duration::from_secs(60);

/// Wakes the clock when a definition changes; the clock itself is [`LocalScheduler::run`].
#[derive(Default)]
pub struct LocalScheduler {
    changed: Notify,
}

#[async_trait]
impl Scheduler for LocalScheduler {
    async fn upsert(
        &self,
        _: &AuthName,
        _: &DefName,
        _: &ScheduleSpec,
    ) -> Result<(), SchedulerError> {
        self.changed.notify_one();
        Ok(())
    }
    async fn remove(&self, _: &AuthName, _: &DefName) -> Result<(), SchedulerError> {
        self.changed.notify_one();
        Ok(())
    }
}

impl LocalScheduler {
    /// Fires the store's schedules until `stop`. Each definition is watched from when this
    /// clock first sees it (or sees it changed), so a new schedule never fires for a time
    /// before it existed.
    pub async fn run(self: Arc<Self>, jobs: Jobs, stop: CancellationToken) {
        let mut watched: HashMap<(AuthName, DefName), (ScheduleSpec, u64)> = HashMap::new();
        loop {
            let now = now_secs();
            let defs =
                match definitions::<ScheduleSpec>(jobs.store.as_ref(), DefKind::Schedule, None)
                    .await
                {
                    Ok(defs) => defs,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read schedules");
                        Vec::new()
                    }
                };
            let mut next_wake = now + IDLE.as_secs();
            let mut still = HashMap::new();
            for (owner, name, spec) in defs {
                let since = match watched.remove(&(owner.clone(), name.clone())) {
                    Some((seen, since)) if seen == spec => since,
                    _ => now,
                };
                let Ok(cron) = CronSchedule::parse(&spec.cron, &spec.tz) else {
                    continue;
                };
                // The latest firing since the last look: a clock that slept through several
                // (a suspended machine) fires once, as cron does.
                if let Some(at) = cron.last_at_or_before(now).filter(|at| *at > since) {
                    let (jobs, clock, owner, name) =
                        (jobs.clone(), self.clone(), owner.clone(), name.clone());
                    tokio::spawn(async move {
                        if let Err(e) =
                            fire_schedule(&jobs, clock.as_ref(), &owner, &name, Firing::Planned(at))
                                .await
                        {
                            tracing::warn!(%owner, %name, at, error = %e, "schedule could not fire");
                        }
                    });
                }
                if let Some(next) = cron.next_after(now) {
                    next_wake = next_wake.min(next);
                }
                still.insert((owner, name), (spec, now));
            }
            watched = still;
            let sleep = until(next_wake);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.changed.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How long from now until the start of second `unix`.
fn until(unix: u64) -> Duration {
    let target = UNIX_EPOCH + Duration::from_secs(unix);
    target
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}
