//! Splitting a run into Bedrock jobs that each respect the per-job quotas.

use std::ops::Range;

use crate::error::Error;

/// Bedrock's per-job limits a run is split by. Defaults are Bedrock's usual quotas; yours may
/// differ (Service Quotas, `bedrock`), so each is a builder setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardLimits {
    /// Fewest records a job may have (default 100).
    pub min_records: usize,
    /// Most records a job may have (default 50,000).
    pub max_records: usize,
    /// Largest input file a job may have, in bytes (default 1 GB).
    pub max_bytes: u64,
}

impl Default for ShardLimits {
    fn default() -> Self {
        ShardLimits {
            min_records: 100,
            max_records: 50_000,
            max_bytes: 1_000_000_000,
        }
    }
}

/// Which per-job limits the caller set (each wins over a quota read from Service Quotas).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LimitsGiven {
    pub(crate) min_records: bool,
    pub(crate) max_records: bool,
    pub(crate) max_bytes: bool,
    pub(crate) concurrent: bool,
}

impl LimitsGiven {
    /// Whether any was set.
    pub(crate) fn any(self) -> bool {
        self.min_records || self.max_records || self.max_bytes || self.concurrent
    }

    /// Whether every one was set.
    #[cfg_attr(not(feature = "service-quotas"), allow(dead_code))]
    pub(crate) fn all(self) -> bool {
        self.min_records && self.max_records && self.max_bytes && self.concurrent
    }
}

/// Models whose most records per job differ from Bedrock's usual 50,000: `(model id prefix,
/// max records, source)`. Data, so a row can be corrected when AWS changes.
pub const MODEL_MAX_RECORDS: &[(&str, usize, &str)] = &[(
    "amazon.titan-embed-text-v2",
    100_000,
    "measured by a fork of AWS's batch orchestrator sample (UNCERTAIN)",
)];

impl ShardLimits {
    /// The usual limits, with `max_records` from [`MODEL_MAX_RECORDS`] where the model has its
    /// own.
    ///
    /// ```
    /// use llmbo::run::ShardLimits;
    /// assert_eq!(ShardLimits::for_model("amazon.titan-embed-text-v2:0").max_records, 100_000);
    /// assert_eq!(ShardLimits::for_model("us.anthropic.claude-3-haiku-20240307-v1:0").max_records, 50_000);
    /// ```
    pub fn for_model(model_id: &str) -> Self {
        let id = crate::model::normalize_model_id(model_id);
        let max_records = MODEL_MAX_RECORDS
            .iter()
            .find(|(prefix, _, _)| id.starts_with(prefix))
            .map_or(ShardLimits::default().max_records, |(_, n, _)| *n);
        ShardLimits {
            max_records,
            ..ShardLimits::default()
        }
    }
}

/// Contiguous ranges of record indices, one per job, in input order.
///
/// Uses the fewest jobs that fit both limits and spreads the records evenly between them, so a
/// remainder smaller than the minimum is balanced into the other jobs rather than dropped or
/// sent as an invalid job. `sizes` are the records' JSONL line lengths in bytes.
///
/// ```
/// use llmbo::run::ShardLimits;
/// let sizes = vec![500u64; 120_001];
/// let shards = llmbo::run::plan_shards(&sizes, ShardLimits::default())?;
/// assert_eq!(shards.len(), 3);
/// assert_eq!(shards.iter().map(|s| s.len()).sum::<usize>(), 120_001);
/// assert!(shards.iter().all(|s| s.len() >= 40_000));
/// # Ok::<(), llmbo::Error>(())
/// ```
pub fn plan_shards(sizes: &[u64], limits: ShardLimits) -> Result<Vec<Range<usize>>, Error> {
    let n = sizes.len();
    // A job holds one record at least, whatever the configured minimum.
    if n < limits.min_records.max(1) {
        return Err(Error::TooFewRecords {
            count: n,
            minimum: limits.min_records.max(1),
        });
    }
    if let Some((index, size)) = sizes
        .iter()
        .enumerate()
        .find(|(_, size)| **size > limits.max_bytes)
    {
        return Err(Error::InvalidConfig {
            field: "max_input_bytes_per_job",
            reason: format!(
                "record {index} alone is {size} bytes, above the {} bytes a job may hold",
                limits.max_bytes
            ),
        });
    }
    let total_bytes: u64 = sizes.iter().sum();
    let by_count = n.div_ceil(limits.max_records.max(1));
    let by_bytes =
        usize::try_from(total_bytes.div_ceil(limits.max_bytes.max(1))).unwrap_or(usize::MAX);
    let mut jobs = by_count.max(by_bytes).max(1);
    // Even splits by count; add a job while one split is too large in bytes (skewed sizes).
    while jobs <= n {
        let shards = even_split(n, jobs);
        let fits = shards
            .iter()
            .all(|r| sizes[r.clone()].iter().sum::<u64>() <= limits.max_bytes);
        if fits {
            if shards.iter().any(|r| r.len() < limits.min_records) {
                break;
            }
            return Ok(shards);
        }
        jobs += 1;
    }
    Err(Error::InvalidConfig {
        field: "max_input_bytes_per_job",
        reason: format!(
            "{n} records of {total_bytes} bytes cannot be split into jobs of at least {} records and at most {} bytes",
            limits.min_records, limits.max_bytes
        ),
    })
}

fn even_split(n: usize, jobs: usize) -> Vec<Range<usize>> {
    let base = n / jobs;
    let extra = n % jobs;
    let mut start = 0;
    (0..jobs)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let range = start..start + len;
            start += len;
            range
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn one_job_when_it_fits() -> Result<(), Box<dyn std::error::Error>> {
        assert_eq!(
            plan_shards(&[10; 150], ShardLimits::default())?,
            vec![0..150]
        );
        Ok(())
    }

    #[test]
    fn too_few_records_is_an_error() {
        assert!(matches!(
            plan_shards(&[10; 99], ShardLimits::default()),
            Err(Error::TooFewRecords { count: 99, .. })
        ));
        // No records make no job, even with no minimum.
        let no_minimum = ShardLimits {
            min_records: 0,
            ..ShardLimits::default()
        };
        assert!(matches!(
            plan_shards(&[], no_minimum),
            Err(Error::TooFewRecords {
                count: 0,
                minimum: 1
            })
        ));
    }

    #[test]
    fn a_small_remainder_is_balanced_not_dropped() -> Result<(), Box<dyn std::error::Error>> {
        let limits = ShardLimits {
            min_records: 100,
            max_records: 1000,
            max_bytes: u64::MAX,
        };
        let shards = plan_shards(&[1; 1050], limits)?;
        assert_eq!(
            shards.iter().map(Range::len).collect::<Vec<_>>(),
            [525, 525]
        );
        Ok(())
    }

    #[test]
    fn bytes_split_jobs_too() -> Result<(), Box<dyn std::error::Error>> {
        let limits = ShardLimits {
            min_records: 1,
            max_records: 1000,
            max_bytes: 1000,
        };
        let mut sizes = vec![10u64; 300];
        sizes[0] = 900; // skewed: the first records are large
        let shards = plan_shards(&sizes, limits)?;
        for shard in &shards {
            assert!(sizes[shard.clone()].iter().sum::<u64>() <= 1000);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn shards_cover_every_record_once_within_limits(
            n in 100usize..5000,
            max_records in 100usize..2000,
            size in 1u64..50,
        ) {
            let limits = ShardLimits { min_records: 100, max_records, max_bytes: 20_000 };
            let sizes = vec![size; n];
            match plan_shards(&sizes, limits) {
                Ok(shards) => {
                    let mut next = 0;
                    for shard in &shards {
                        prop_assert_eq!(shard.start, next);
                        next = shard.end;
                        prop_assert!(shard.len() >= 100 && shard.len() <= max_records);
                        prop_assert!(sizes[shard.clone()].iter().sum::<u64>() <= 20_000);
                    }
                    prop_assert_eq!(next, n);
                }
                // Only when the limits leave no valid split.
                Err(_) => prop_assert!(size * 100 > 20_000 || n.div_ceil(max_records) * 100 > n),
            }
        }
    }
}
