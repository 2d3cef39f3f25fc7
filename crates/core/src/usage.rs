//! What a run used, and on Lambda or Fargate what it cost: the one place that knows the
//! prices.

use std::time::Duration;

use aws_exec_protocol::Usage;

/// A reaped process's use of the machine: CPU time of it and the descendants it waited for,
/// and the largest resident set among them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rusage {
    pub user: Duration,
    pub system: Duration,
    pub max_rss_bytes: u64,
}

/// Lambda's public on-demand prices (us-east-1, the first tier), in US dollars: per
/// GB-second of an arm64 or an x86_64 function, and per request.
pub const LAMBDA_ARM64_USD_PER_GB_SECOND: f64 = 0.000_013_333_4;
pub const LAMBDA_X86_USD_PER_GB_SECOND: f64 = 0.000_016_666_7;
pub const LAMBDA_USD_PER_REQUEST: f64 = 0.000_000_2;
/// Fargate's (us-east-1, Linux on arm64), per vCPU-hour and per GB-hour, billed by the
/// second with a minute at least.
pub const FARGATE_ARM64_USD_PER_VCPU_HOUR: f64 = 0.032_38;
pub const FARGATE_ARM64_USD_PER_GB_HOUR: f64 = 0.003_56;

/// How a run on this machine is billed: by memory (and on Fargate by vCPU) over the run's
/// time, rounded up to `step`, at least `minimum`, plus a price per request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostModel {
    pub memory_mb: u64,
    pub usd_per_gb_second: f64,
    pub vcpus: f64,
    pub usd_per_vcpu_second: f64,
    pub usd_per_request: f64,
    pub step: Duration,
    pub minimum: Duration,
}

impl CostModel {
    /// A Lambda function of `memory_mb` at `usd_per_gb_second`, billed by the millisecond.
    pub fn lambda(memory_mb: u64, usd_per_gb_second: f64) -> Self {
        CostModel {
            memory_mb,
            usd_per_gb_second,
            vcpus: 0.0,
            usd_per_vcpu_second: 0.0,
            usd_per_request: LAMBDA_USD_PER_REQUEST,
            step: Duration::from_millis(1),
            minimum: Duration::ZERO,
        }
    }

    /// Lambda's, from the function's memory (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`) and the
    /// architecture this binary was built for.
    pub fn lambda_from_env() -> Option<Self> {
        let memory_mb = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
            .ok()?
            .parse()
            .ok()?;
        let usd_per_gb_second = match std::env::consts::ARCH {
            "aarch64" => LAMBDA_ARM64_USD_PER_GB_SECOND,
            _ => LAMBDA_X86_USD_PER_GB_SECOND,
        };
        Some(CostModel::lambda(memory_mb, usd_per_gb_second))
    }

    /// An arm64 Fargate task of `size`, billed by the second, a minute at least.
    pub fn fargate(size: aws_exec_protocol::TaskSize) -> Self {
        CostModel {
            memory_mb: u64::from(size.memory_mb),
            usd_per_gb_second: FARGATE_ARM64_USD_PER_GB_HOUR / 3600.0,
            vcpus: size.vcpus(),
            usd_per_vcpu_second: FARGATE_ARM64_USD_PER_VCPU_HOUR / 3600.0,
            usd_per_request: 0.0,
            step: Duration::from_secs(1),
            minimum: Duration::from_secs(60),
        }
    }

    /// What is billed for a run of `ran`: rounded up to the step, at least the minimum.
    pub fn billed(&self, ran: Duration) -> Duration {
        let step = self.step.as_nanos().max(1);
        let steps = ran.as_nanos().div_ceil(step);
        Duration::from_nanos((steps * step) as u64).max(self.minimum)
    }

    /// The estimated cost of a run of `ran`, in billionths of a dollar.
    pub fn nano_usd(&self, ran: Duration) -> u64 {
        let seconds = self.billed(ran).as_secs_f64();
        let usd = self.memory_mb as f64 / 1024.0 * seconds * self.usd_per_gb_second
            + self.vcpus * seconds * self.usd_per_vcpu_second
            + self.usd_per_request;
        (usd * 1e9).round() as u64
    }
}

/// A run's usage: the command's wall time and what the kernel counted for it (none for a
/// command that never started), its log's size, and under `cost` the billed estimate of
/// the runner's whole run.
pub fn usage(
    command: Option<(Duration, Option<Rusage>)>,
    log_bytes: u64,
    cost: Option<(CostModel, Duration)>,
) -> Usage {
    let (wall, rusage) = command.unwrap_or_default();
    let rusage = rusage.unwrap_or_default();
    let ms = |d: Duration| d.as_millis() as u64;
    Usage {
        wall_ms: ms(wall),
        cpu_user_ms: ms(rusage.user),
        cpu_system_ms: ms(rusage.system),
        peak_memory_bytes: rusage.max_rss_bytes,
        log_bytes,
        billed_ms: cost.map(|(model, ran)| model.billed(ran).as_millis() as u64),
        cost_nano_usd: cost.map(|(model, ran)| model.nano_usd(ran)),
    }
}

/// What two attempts of one job used together: times and costs add up, the peak is the
/// larger, the log is the later's (it holds the earlier's).
pub fn add(before: Option<Usage>, later: Usage) -> Usage {
    let Some(before) = before else {
        return later;
    };
    let sum = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    Usage {
        wall_ms: before.wall_ms + later.wall_ms,
        cpu_user_ms: before.cpu_user_ms + later.cpu_user_ms,
        cpu_system_ms: before.cpu_system_ms + later.cpu_system_ms,
        peak_memory_bytes: before.peak_memory_bytes.max(later.peak_memory_bytes),
        log_bytes: later.log_bytes,
        billed_ms: sum(before.billed_ms, later.billed_ms),
        cost_nano_usd: sum(before.cost_nano_usd, later.cost_nano_usd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_at_a_gigabyte_costs_the_gb_second_price_and_a_request() {
        let model = CostModel::lambda(1024, LAMBDA_ARM64_USD_PER_GB_SECOND);
        // 13.3334 µ$ + 0.2 µ$.
        assert_eq!(model.nano_usd(Duration::from_secs(1)), 13_533);
        // A partial millisecond is billed whole.
        assert_eq!(
            model.nano_usd(Duration::from_micros(1)),
            model.nano_usd(Duration::from_millis(1))
        );
    }

    #[test]
    fn a_fargate_task_is_billed_by_the_second_a_minute_at_least() {
        let size = aws_exec_protocol::TaskSize {
            cpu: 1024,
            memory_mb: 2048,
        };
        let model = CostModel::fargate(size);
        // An hour of 1 vCPU and 2 GB: $0.03238 + 2 × $0.00356.
        assert_eq!(model.nano_usd(Duration::from_secs(3600)), 39_500_000);
        assert_eq!(
            model.billed(Duration::from_secs(5)),
            Duration::from_secs(60)
        );
        assert_eq!(
            model.billed(Duration::from_millis(61_001)),
            Duration::from_secs(62)
        );
    }
}
