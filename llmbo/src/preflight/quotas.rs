//! The per-job limits read from Service Quotas: Bedrock's batch quotas are per model and per
//! region, named `… for <model name>` (AWS, "Format and upload your batch
//! inference data", <https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-data.html>), so the model's catalog
//! name finds them.

use super::QuotaSource;
use crate::aws::{Aws, CatalogAnswer};
use crate::settings::RunSettings;
use crate::shards::LimitsGiven;

/// Sets the limits the caller did not from the model's quotas; says where they came from and,
/// when not from Service Quotas, why.
pub(crate) async fn apply(
    aws: &Aws,
    run: &mut RunSettings,
    kept: LimitsGiven,
) -> (QuotaSource, Option<String>) {
    let fallback = if kept.any() {
        QuotaSource::Builder
    } else {
        QuotaSource::Defaults
    };
    if kept.all() {
        return (QuotaSource::Builder, None);
    }
    let id = crate::model::normalize_model_id(&run.model_name).to_owned();
    let name = match aws.foundation_model(&id).await {
        CatalogAnswer::Found(Some(name)) => name,
        CatalogAnswer::Found(None) | CatalogAnswer::Missing => {
            return (
                fallback,
                Some(format!("no catalog name for {id} to find its quotas by")),
            );
        }
        CatalogAnswer::Unknown(why) => return (fallback, Some(why)),
    };
    let quotas = match aws.batch_quotas(&name).await {
        Ok(quotas) => quotas,
        Err(err) => {
            return (
                fallback,
                Some(format!("Service Quotas could not be read: {err}")),
            );
        }
    };
    let as_count = |value: f64| (value.is_finite() && value >= 0.0).then_some(value as usize);
    let mut applied = false;
    let mut records = None;
    for (quota, value) in &quotas {
        let limits = &mut run.limits;
        if quota.starts_with("Minimum number of records per batch inference job")
            && !kept.min_records
        {
            if let Some(n) = as_count(*value) {
                limits.min_records = n;
                applied = true;
            }
        } else if (quota.starts_with("Records per batch inference job")
            || quota.starts_with("Records per input file per batch inference job"))
            && !kept.max_records
        {
            if let Some(n) = as_count(*value).filter(|n| *n > 0) {
                // Of a job's and a file's quota, the smaller holds.
                records = Some(records.map_or(n, |r: usize| r.min(n)));
            }
        } else if quota.starts_with("Batch inference input file size (in GB)") && !kept.max_bytes {
            if value.is_finite() && *value > 0.0 {
                limits.max_bytes = (*value * 1e9) as u64;
                applied = true;
            }
        } else if quota
            .starts_with("Sum of in-progress and submitted batch inference jobs using a base model")
            && !kept.concurrent
            && let Some(n) = as_count(*value).filter(|n| *n > 0)
        {
            run.max_concurrent_jobs = n;
            applied = true;
        }
    }
    if let Some(n) = records {
        run.limits.max_records = n;
        applied = true;
    }
    if applied {
        tracing::debug!(model = %name, ?run.limits, concurrency = run.max_concurrent_jobs, "limits from Service Quotas");
        (QuotaSource::ServiceQuotas, None)
    } else {
        (
            fallback,
            Some(format!("Service Quotas lists no batch quotas for {name}")),
        )
    }
}
