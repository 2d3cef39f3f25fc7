//! What a run used, and on Lambda what it cost: the one place that knows the prices.

use std::time::Duration;

use aws_exec_protocol::Usage;

use crate::runner::spawn::Rusage;

/// Lambda's public on-demand prices (us-east-1, the first tier), in US dollars: per
/// GB-second of an arm64 or an x86_64 function, and per request.
pub const LAMBDA_ARM64_USD_PER_GB_SECOND: f64 = 0.000_013_333_4;
pub const LAMBDA_X86_USD_PER_GB_SECOND: f64 = 0.000_016_666_7;
pub const LAMBDA_USD_PER_REQUEST: f64 = 0.000_000_2;

/// How a run on this machine is billed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostModel {
    pub memory_mb: u64,
    pub usd_per_gb_second: f64,
    pub usd_per_request: f64,
}

impl CostModel {
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
        Some(CostModel {
            memory_mb,
            usd_per_gb_second,
            usd_per_request: LAMBDA_USD_PER_REQUEST,
        })
    }

    /// The estimated cost of `billed` (rounded up to a millisecond, as Lambda bills), in
    /// billionths of a dollar.
    pub fn nano_usd(&self, billed: Duration) -> u64 {
        let ms = billed.as_micros().div_ceil(1000) as f64;
        let gb_seconds = self.memory_mb as f64 / 1024.0 * ms / 1000.0;
        let usd = gb_seconds * self.usd_per_gb_second + self.usd_per_request;
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
        billed_ms: cost.map(|(_, billed)| billed.as_micros().div_ceil(1000) as u64),
        cost_nano_usd: cost.map(|(model, billed)| model.nano_usd(billed)),
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
        let model = CostModel {
            memory_mb: 1024,
            usd_per_gb_second: LAMBDA_ARM64_USD_PER_GB_SECOND,
            usd_per_request: LAMBDA_USD_PER_REQUEST,
        };
        // 13.3334 µ$ + 0.2 µ$.
        assert_eq!(model.nano_usd(Duration::from_secs(1)), 13_533);
        // A partial millisecond is billed whole.
        assert_eq!(
            model.nano_usd(Duration::from_micros(1)),
            model.nano_usd(Duration::from_millis(1))
        );
    }
}
