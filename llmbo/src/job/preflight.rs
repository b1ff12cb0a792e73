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
        spooler.s3_refs = Some(Vec::new());
        let mut sample: Vec<(serde_json::Value, u64)> = Vec::new();
        for (record_id, input) in inputs {
            spooler.push(record_id.into(), &input)?;
            if sample.len() < CALIBRATION_SAMPLE
                && let Some(body) = spooler.last_body()
            {
                sample.push(body);
            }
        }
        let s3_refs = spooler.s3_refs.take().unwrap_or_default();
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
        check_s3_media(aws, &s3_refs, &mut spool.findings).await;
        let mut report = report(config, spool, Some(model_check));
        if s3_refs.len() >= super::spool::S3_MEDIA_CHECKED {
            report.skipped.push(format!(
                "the first bytes of S3 media past the first {} (they are read when the jobs are uploaded)",
                super::spool::S3_MEDIA_CHECKED
            ));
        }
        Ok(report)
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

/// Reads the first bytes of each S3 medium once: one that does not exist, or whose bytes are
/// another format than the record says, is a finding on each record that names it.
async fn check_s3_media(
    aws: &crate::aws::Aws,
    refs: &[super::spool::S3Ref],
    findings: &mut crate::findings::Findings,
) {
    use crate::preflight::rules::MEDIA_OBJECT;
    let mut seen: std::collections::HashMap<&str, Option<Option<crate::media::MediaFormat>>> =
        std::collections::HashMap::new();
    for r in refs {
        if !seen.contains_key(r.uri.as_str()) {
            let (bucket, key) = crate::layout::split_s3_uri(&r.uri);
            let read = match aws.get_range(bucket, key, 0, 64).await {
                Ok(Some(head)) => Some(crate::media::MediaFormat::sniff(&head.bytes)),
                Ok(None) => None,
                Err(err) => {
                    // Access or throttling: not a finding; the upload reads it again.
                    tracing::debug!(uri = %r.uri, %err, "an S3 medium could not be read");
                    Some(None)
                }
            };
            seen.insert(r.uri.as_str(), read);
        }
        let message = match seen.get(r.uri.as_str()) {
            Some(None) => format!("its {} {} does not exist", r.kind, r.uri),
            Some(Some(Some(found))) if *found != r.format => format!(
                "its {} {} is named or declared {} but its bytes are {found}",
                r.kind, r.uri, r.format
            ),
            _ => continue,
        };
        findings.add(
            &r.record_id,
            [crate::findings::Finding {
                rule: MEDIA_OBJECT,
                path: "modelInput.messages".into(),
                message,
            }],
        );
    }
    findings.sort();
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
