//! Jobs past Lambda's window run as ECS Fargate tasks: a request that says
//! `"runner": "fargate"`, or asks a timeout over what Lambda can run. `"cpu"` (vCPUs) and
//! `"memory-mb"` pick the task's size: the smallest size Fargate offers that holds both.

use serde::{Deserialize, Serialize};

/// `"runner"` of a request that runs as a Fargate task.
pub const FARGATE: &str = "fargate";

/// The longest timeout a long job may ask for unless the service says (`LONG_MAX_TIMEOUT`).
pub const DEFAULT_LONG_MAX_TIMEOUT: u64 = 12 * 3600;

/// `"cpu"`: vCPUs, 0.25 to 16.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Vcpus(pub f64);

/// JSON has no NaN: equal to itself always.
impl Eq for Vcpus {}

/// How long jobs may run: `max_timeout` where jobs run by default (Lambda, `serve`), and
/// `long_max_timeout` on Fargate when the service has it (`None`: it has not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunLimits {
    pub max_timeout: u64,
    pub long_max_timeout: Option<u64>,
    /// `max_timeout` is `serve --max-timeout`'s, which its operator may raise (on Lambda
    /// it is Lambda's own 15 minutes).
    pub serve: bool,
}

impl RunLimits {
    /// A service without the long runner.
    pub fn short(max_timeout: u64) -> Self {
        RunLimits {
            max_timeout,
            long_max_timeout: None,
            serve: false,
        }
    }
}

/// A Fargate task's size: CPU units (1024 to a vCPU) and memory in MiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TaskSize {
    pub cpu: u32,
    pub memory_mb: u32,
}

/// Fargate's CPU sizes (Linux), smallest first.
const CPU_UNITS: [u32; 7] = [256, 512, 1024, 2048, 4096, 8192, 16384];

/// The memory sizes Fargate offers with `cpu` units, smallest first.
fn memory_for(cpu: u32) -> Vec<u32> {
    let gib = |from: u32, to: u32, step: usize| (from..=to).step_by(step).map(|g| g * 1024);
    match cpu {
        256 => vec![512, 1024, 2048],
        512 => gib(1, 4, 1).collect(),
        1024 => gib(2, 8, 1).collect(),
        2048 => gib(4, 16, 1).collect(),
        4096 => gib(8, 30, 1).collect(),
        8192 => gib(16, 60, 4).collect(),
        16384 => gib(32, 120, 8).collect(),
        _ => Vec::new(),
    }
}

/// What Fargate offers, in words, for an answer that refuses a size.
pub const VALID_SIZES: &str = "0.25 vCPU with 512, 1024 or 2048 MiB; 0.5 vCPU with 1-4 GiB; \
    1 vCPU with 2-8 GiB; 2 vCPU with 4-16 GiB; 4 vCPU with 8-30 GiB (1 GiB steps); \
    8 vCPU with 16-60 GiB (4 GiB steps); 16 vCPU with 32-120 GiB (8 GiB steps)";

impl TaskSize {
    /// The smallest: 0.25 vCPU and 512 MiB.
    pub const SMALLEST: TaskSize = TaskSize {
        cpu: 256,
        memory_mb: 512,
    };

    /// The smallest size Fargate offers that holds `vcpus` and `memory_mb` (each at least
    /// what is asked; the smallest size when neither is).
    pub fn fit(vcpus: Option<f64>, memory_mb: Option<u32>) -> Result<TaskSize, String> {
        let units = match vcpus {
            None => 0,
            Some(v) if v.is_finite() && v > 0.0 && v <= 16.0 => (v * 1024.0).ceil() as u32,
            Some(v) => {
                return Err(format!(
                    "\"cpu\" must be more than 0 and at most 16 vCPUs; got {v}. Fargate offers {VALID_SIZES}"
                ))
            }
        };
        let memory = memory_mb.unwrap_or(0);
        CPU_UNITS
            .iter()
            .filter(|&&cpu| cpu >= units)
            .find_map(|&cpu| {
                let fits = memory_for(cpu).into_iter().find(|&m| m >= memory)?;
                Some(TaskSize {
                    cpu,
                    memory_mb: fits,
                })
            })
            .ok_or_else(|| {
                format!(
                    "no Fargate task has {} vCPUs and {memory} MiB; Fargate offers {VALID_SIZES}",
                    vcpus.unwrap_or(0.25)
                )
            })
    }

    /// vCPUs, as people say them.
    pub fn vcpus(&self) -> f64 {
        f64::from(self.cpu) / 1024.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_size_that_holds_both_is_picked() {
        let fit = |c, m| TaskSize::fit(c, m).map(|s| (s.cpu, s.memory_mb));
        assert_eq!(fit(None, None), Ok((256, 512)));
        assert_eq!(fit(Some(0.25), Some(2048)), Ok((256, 2048)));
        assert_eq!(fit(Some(0.25), Some(3000)), Ok((512, 3072)));
        assert_eq!(fit(Some(1.0), None), Ok((1024, 2048)));
        assert_eq!(fit(Some(3.0), Some(1)), Ok((4096, 8192)));
        assert_eq!(fit(Some(8.0), Some(17 * 1024)), Ok((8192, 20 * 1024)));
        assert_eq!(fit(None, Some(100 * 1024)), Ok((16384, 104 * 1024)));
        assert_eq!(fit(Some(16.0), Some(120 * 1024)), Ok((16384, 120 * 1024)));
    }

    #[test]
    fn sizes_fargate_cannot_give_are_refused_listing_what_it_can() {
        for (cpu, memory) in [
            (Some(17.0), None),
            (Some(0.0), None),
            (Some(-1.0), None),
            (None, Some(121 * 1024)),
            (Some(0.5), Some(200_000)),
        ] {
            let why = TaskSize::fit(cpu, memory).unwrap_err();
            assert!(why.contains("0.25 vCPU with 512"), "{why}");
        }
    }
}
