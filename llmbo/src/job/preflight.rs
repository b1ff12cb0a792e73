//! The preflight of a ready inferer, and the budget every run is held to.

use super::config::JobConfig;
use super::spool::{JobCount, Spool, Spooler, plan};
use super::state::Ready;
use super::{Inferer, OutputMode};
use crate::error::Error;
use crate::model_input::ModelInput;
use crate::preflight::{
    CostRange, PlannedJob, PreflightReport, Quotas, TokenEstimate, TokenEstimator,
};

/// How many records a calibration sends to `CountTokens`.
const CALIBRATION_SAMPLE: usize = 8;

impl<O: OutputMode> Inferer<O, Ready> {
    /// Checks a run without sending anything for inference and without writing to S3: every
    /// record against its family's request rules (grouped by rule, with counts and the first
    /// ids and JSON paths), the jobs it would make, the model against Bedrock's catalog and
    /// llmbo's batch table, the per-job limits, and the cost range from your
    /// [`prices`](crate::InfererBuilder::prices). Input tokens are estimated from each body's
    /// size, calibrated with the runtime's `CountTokens` on a few records where it answers.
    ///
    /// [`prepare_run`](Self::prepare_run), [`auto`](Self::auto) and the CLI run the same record
    /// checks and refuse on errors; this gives the whole report instead. Memory stays flat in
    /// the number of records (the requests are spooled to a temp file, as a run's are).
    pub async fn preflight<I, K>(&self, inputs: I) -> Result<PreflightReport, Error>
    where
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        let config = &self.config;
        let mut spooler = Spooler::new::<O>(config)?;
        let mut sample: Vec<(serde_json::Value, u64)> = Vec::new();
        for (record_id, input) in inputs {
            spooler.push(record_id.into(), &input)?;
            if sample.len() < CALIBRATION_SAMPLE
                && let Some(body) = spooler.last_body()
            {
                sample.push(body);
            }
        }
        let mut spool = spooler.finish()?;
        let aws = match (&config.offline, &config.aws) {
            (None, Some(aws)) => aws,
            (why, _) => {
                let why = why.clone().unwrap_or_else(|| {
                    format!(
                        "the run is on {}, not Bedrock",
                        config.settings.provider.name()
                    )
                });
                let mut report = report(config, spool, None);
                report.skipped.push(format!(
                    "the model's catalog and inference-profile checks, the Service Quotas read and the CountTokens calibration ({why})"
                ));
                return Ok(report);
            }
        };
        let model_check =
            crate::preflight::check_model(aws, &config.settings.model_name, &config.region).await;
        calibrate(aws, config, &mut spool.tokens, &sample).await;
        Ok(report(config, spool, Some(model_check)))
    }
}

/// Sends a few bodies to `CountTokens` and calibrates the estimate with the answers; a model
/// or account that does not answer leaves the family's rule of thumb.
async fn calibrate(
    aws: &crate::aws::Aws,
    config: &JobConfig,
    tokens: &mut TokenEstimator,
    sample: &[(serde_json::Value, u64)],
) {
    let mut measured = Vec::new();
    for (body, bytes) in sample {
        match aws.count_tokens(&config.settings.model_name, body).await {
            Ok(n) => measured.push((*bytes, n)),
            Err(err) => {
                tracing::debug!(%err, "CountTokens does not answer; the estimate is not calibrated");
                return;
            }
        }
    }
    tokens.calibrate(&measured);
}

/// The report of a spooled run: its plan (or why it has none), its findings and estimate.
fn report(
    config: &JobConfig,
    spool: Spool,
    model_check: Option<crate::preflight::ModelCheck>,
) -> PreflightReport {
    let settings = &config.settings;
    let limits = config.limits();
    let records = spool.sizes.len();
    let bytes: u64 = spool.sizes.iter().sum();
    let findings = spool.findings.clone();
    let tokens = spool.tokens.estimate();
    let on_demand = settings
        .on_demand_below
        .is_some_and(|below| records < below);
    let mut problems = Vec::new();
    let mut jobs = Vec::new();
    if !on_demand {
        match plan(config, spool, JobCount::Any) {
            Ok((record, planned)) => {
                for (shard, range) in record.shards.iter().zip(&planned.ranges) {
                    jobs.push(PlannedJob {
                        job_name: shard.job_name.clone(),
                        records: shard.records,
                        bytes: planned.spool.sizes[range.clone()].iter().sum(),
                    });
                }
            }
            Err(err) => problems.push(err.to_string()),
        }
    }
    let cost = cost_range(config, &tokens, on_demand);
    if let (Some(budget), Some(cost)) = (config.max_estimated_cost, cost)
        && cost.high > budget
    {
        problems.push(
            Error::OverBudget {
                low: cost.low,
                high: cost.high,
                budget,
            }
            .to_string(),
        );
    }
    PreflightReport {
        model: settings.model_name.clone(),
        records,
        bytes,
        jobs,
        on_demand_records: if on_demand { records } else { 0 },
        findings,
        model_check,
        quotas: Quotas {
            min_records: limits.min_records,
            max_records: limits.max_records,
            max_bytes: limits.max_bytes,
            max_concurrent_jobs: settings.max_concurrent_jobs,
            source: config.quota_source.0,
            note: config.quota_source.1.clone(),
        },
        tokens,
        cost,
        max_estimated_cost: config.max_estimated_cost,
        problems,
        skipped: Vec::new(),
    }
}

/// The cost range of the records, batch or (under `on_demand_below`) on demand.
fn cost_range(config: &JobConfig, tokens: &TokenEstimate, on_demand: bool) -> Option<CostRange> {
    let prices = config.prices.as_ref()?;
    let (provider, model) = (config.settings.provider, &config.settings.model_name);
    let price = if on_demand {
        prices.on_demand_price_on(provider, model)?
    } else {
        prices.price_on(provider, model)?
    };
    Some(tokens.cost(price))
}

/// Refuses a spooled run whose upper estimate is over the budget, and any run of an inferer
/// built for a preflight only.
pub(crate) fn check_budget(config: &JobConfig, spool: &Spool) -> Result<(), Error> {
    if config.preflight_only {
        return Err(Error::InvalidConfig {
            field: "preflight_only",
            reason: "this inferer was built for a preflight only; build another to run".into(),
        });
    }
    let Some(budget) = config.max_estimated_cost else {
        return Ok(());
    };
    let tokens = &spool.tokens;
    let records = spool.sizes.len();
    let on_demand = config
        .settings
        .on_demand_below
        .is_some_and(|below| records < below);
    let estimate = tokens.estimate();
    match cost_range(config, &estimate, on_demand) {
        Some(cost) if cost.high > budget => Err(Error::OverBudget {
            low: cost.low,
            high: cost.high,
            budget,
        }),
        Some(_) => Ok(()),
        None => Err(Error::InvalidConfig {
            field: "max_estimated_cost",
            reason: format!(
                "a budget needs the {} price of {}",
                if on_demand { "on-demand" } else { "batch" },
                config.settings.model_name
            ),
        }),
    }
}
