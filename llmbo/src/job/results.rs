//! A run's results: each record with its usage and attempts, the run's summary, and the join
//! of a job's parsed output to its input order.

use std::sync::Arc;

use super::read::Loaded;
use crate::adapter::Usage;
use crate::cost::{CostEstimate, PriceTable};
use crate::error::{Error, RecordError};
use crate::manifest::Manifest;
use crate::output::{BatchResults, RecordResult};
use crate::status::JobFailure;

/// One job's records in input order (a record without output is [`RecordError::Missing`]);
/// its manifest is added to `summary`.
pub(crate) fn loaded_records<V>(
    loaded: Loaded<V>,
    summary: &mut RunSummary,
) -> impl Iterator<Item = Detailed<V>> + use<V> {
    summary.manifest.combine(&loaded.manifest);
    summary.unknown_record_ids += loaded.unknown;
    let ids = Arc::clone(&loaded.record_ids);
    let mut loaded = loaded;
    (0..ids.len()).filter_map(move |place| {
        let record_id = ids.get(place)?.clone();
        let (outcome, usage) = loaded
            .take_at(place)
            .unwrap_or((Err(RecordError::Missing), None));
        Some((
            RecordResult { record_id, outcome },
            RecordInfo {
                usage,
                attempts: 1,
                on_demand: false,
            },
        ))
    })
}

/// The records of a job that failed or was never created, each [`RecordError::JobFailed`];
/// the failure is added to `summary`.
pub(crate) fn failed_records<V>(
    record_ids: Vec<String>,
    failure: JobFailure,
    summary: &mut RunSummary,
) -> impl Iterator<Item = Detailed<V>> + use<V> {
    summary.manifest.total_record_count = summary
        .manifest
        .total_record_count
        .saturating_add(record_ids.len() as u64);
    summary.failed_jobs.push(failure.clone().into_error());
    record_ids.into_iter().map(move |record_id| {
        let record = RecordResult {
            record_id,
            outcome: Err(RecordError::JobFailed {
                job_arn: failure.job_arn.clone(),
                message: failure.message.clone(),
            }),
        };
        (
            record,
            RecordInfo {
                usage: None,
                attempts: 1,
                on_demand: false,
            },
        )
    })
}

/// The results of a run that was read to its end: an error when every job failed.
pub(crate) fn run_results<V>(
    records: Vec<RecordResult<V>>,
    info: Vec<RecordInfo>,
    mut summary: RunSummary,
) -> Result<RunResults<V>, Error> {
    if summary.jobs > 0 && summary.failed_jobs.len() == summary.jobs {
        return Err(summary.failed_jobs.remove(0));
    }
    Ok(RunResults {
        results: BatchResults {
            manifest: summary.manifest.clone(),
            records,
        },
        info,
        summary,
    })
}

/// One record with what llmbo knows about it beyond its outcome.
pub(crate) type Detailed<V> = (RecordResult<V>, RecordInfo);

/// A record's token usage and how many jobs it went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RecordInfo {
    /// The tokens of its (last) answer, when the model family reports them.
    pub usage: Option<Usage>,
    /// How many jobs the record was in: 1, plus one per [`BatchRun::retry_failed`](crate::BatchRun::retry_failed) that
    /// included it.
    pub attempts: u32,
    /// Whether its last answer came on demand (`bedrock-runtime`), at the on-demand price.
    pub on_demand: bool,
}

/// A run's results with the details of each record: see [`BatchRun::finish_detailed`](crate::BatchRun::finish_detailed).
#[derive(Debug)]
#[non_exhaustive]
pub struct RunResults<V> {
    /// One result per input record, in input order, and the combined manifest.
    pub results: BatchResults<V>,
    /// Usage and attempts, one per record, in the same order as `results.records`.
    pub info: Vec<RecordInfo>,
    /// Jobs, failures and unknown ids of the run.
    pub summary: RunSummary,
}

impl<V> RunResults<V> {
    /// Tokens of the records last answered in batch jobs, and of those answered on demand.
    pub fn usage_by_kind(&self) -> (Usage, Usage) {
        let (mut batch, mut on_demand) = (Usage::default(), Usage::default());
        for info in &self.info {
            let Some(usage) = info.usage else { continue };
            let sum = if info.on_demand {
                &mut on_demand
            } else {
                &mut batch
            };
            // Counts read from model answers: summed without overflow, whatever they say.
            sum.input_tokens = sum.input_tokens.saturating_add(usage.input_tokens);
            sum.output_tokens = sum.output_tokens.saturating_add(usage.output_tokens);
        }
        (batch, on_demand)
    }

    /// Tokens of every record, summed (from each answer, so retried records count their last
    /// answer).
    pub fn usage(&self) -> Usage {
        self.info
            .iter()
            .filter_map(|info| info.usage)
            .fold(Usage::default(), |sum, u| Usage {
                input_tokens: sum.input_tokens.saturating_add(u.input_tokens),
                output_tokens: sum.output_tokens.saturating_add(u.output_tokens),
            })
    }
}

/// What a run added up to, once its stream has ended.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RunSummary {
    /// The jobs of the run.
    pub jobs: usize,
    /// The combined manifest of the jobs (a failed job adds its record count only).
    pub manifest: Manifest,
    /// The jobs that failed, as [`Error::JobFailed`].
    pub failed_jobs: Vec<Error>,
    /// Outputs that named a record id not in the job's input: reported, never merged.
    pub unknown_record_ids: u64,
}

impl<V> RunResults<V> {
    /// The estimated cost of the run's tokens at `model`'s prices in `prices`: the whole run
    /// when every part has a price (records answered on demand at the on-demand price).
    pub fn estimated_cost(&self, prices: &PriceTable, model: &str) -> Option<f64> {
        self.estimated_costs(prices, model).total()
    }

    /// The estimate, batch and on-demand parts apart.
    pub fn estimated_costs(&self, prices: &PriceTable, model: &str) -> CostEstimate {
        let (batch, on_demand) = self.usage_by_kind();
        let on_demand_cost = if on_demand == Usage::default() {
            Some(0.0)
        } else {
            prices.on_demand_price(model).map(|price| {
                on_demand.input_tokens as f64 / 1000.0 * price.input_per_1k
                    + on_demand.output_tokens as f64 / 1000.0 * price.output_per_1k
            })
        };
        CostEstimate {
            batch: prices.cost(model, &batch),
            on_demand: on_demand_cost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Token counts come from model answers: summing them saturates, whatever they say.
    #[test]
    fn usage_sums_saturate() {
        let huge = Usage {
            input_tokens: u64::MAX,
            output_tokens: u64::MAX - 1,
        };
        let info = |on_demand| RecordInfo {
            usage: Some(huge),
            attempts: 1,
            on_demand,
        };
        let results = RunResults::<()> {
            results: BatchResults {
                manifest: Manifest::default(),
                records: Vec::new(),
            },
            info: vec![info(false), info(false), info(true), info(true)],
            summary: RunSummary::default(),
        };
        let max = Usage {
            input_tokens: u64::MAX,
            output_tokens: u64::MAX,
        };
        assert_eq!(results.usage(), max);
        assert_eq!(results.usage_by_kind(), (max, max));
    }
}
