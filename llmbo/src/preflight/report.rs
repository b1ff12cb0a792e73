//! The preflight report: what a run would be, and everything found wrong with it.

use std::fmt;

use serde::Serialize;

use super::{CostRange, Findings, ModelCheck, Severity, TokenEstimate};

/// One job the run would create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedJob {
    /// Its job name.
    pub job_name: String,
    /// Its records.
    pub records: usize,
    /// Its input file's size in bytes.
    pub bytes: u64,
}

/// Where the per-job limits came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuotaSource {
    /// Read from Service Quotas for this model and region.
    ServiceQuotas,
    /// Set on the builder.
    Builder,
    /// Bedrock's documented defaults (Service Quotas could not be read).
    Defaults,
}

/// The per-job limits the run is planned by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Quotas {
    /// Fewest records a job may have.
    pub min_records: usize,
    /// Most records a job may have.
    pub max_records: usize,
    /// Largest input file, in bytes.
    pub max_bytes: u64,
    /// Jobs in flight at once.
    pub max_concurrent_jobs: usize,
    /// Where each came from.
    pub source: QuotaSource,
    /// Why Service Quotas was not used, when it was not.
    pub note: Option<String>,
}

/// What [`Inferer::preflight`](crate::Inferer::preflight) found: the records, the jobs they
/// would make, the findings by rule, the model and quota checks, and the cost range.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PreflightReport {
    /// The model id.
    pub model: String,
    /// Records read.
    pub records: usize,
    /// Bytes of JSONL they make.
    pub bytes: u64,
    /// The jobs planned (none when the run would go on demand, or cannot be planned).
    pub jobs: Vec<PlannedJob>,
    /// Records that would go on demand (`on_demand_below`).
    pub on_demand_records: usize,
    /// What the records break, grouped by rule.
    pub findings: Findings,
    /// Whether the model can run batch jobs here as named; `None` when not checked.
    pub model_check: Option<ModelCheck>,
    /// The limits planned by.
    pub quotas: Quotas,
    /// Estimated tokens.
    pub tokens: TokenEstimate,
    /// Estimated cost, when the price table has the model's prices.
    pub cost: Option<CostRange>,
    /// The budget (`max_estimated_cost`), if one is set.
    pub max_estimated_cost: Option<f64>,
    /// Problems with the run as a whole (too few records, over the budget, …), each an error.
    pub problems: Vec<String>,
    /// Checks that did not run, each with why (no region, no credentials).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

impl PreflightReport {
    /// Whether anything refuses the run: an error finding, the model check, or a problem.
    pub fn has_errors(&self) -> bool {
        self.findings.has_errors()
            || !self.problems.is_empty()
            || self
                .model_check
                .as_ref()
                .is_some_and(|check| check.severity == Some(Severity::Error))
    }

    /// The report as JSON, for `--json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Display for PreflightReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} records, {} bytes, for {}",
            self.records, self.bytes, self.model
        )?;
        if self.on_demand_records > 0 {
            writeln!(f, "on demand: {} records", self.on_demand_records)?;
        }
        for job in &self.jobs {
            writeln!(
                f,
                "job {}: {} records, {} bytes",
                job.job_name, job.records, job.bytes
            )?;
        }
        let q = &self.quotas;
        writeln!(
            f,
            "limits ({}): {} to {} records a job, {} bytes a file, {} jobs at once{}",
            match q.source {
                QuotaSource::ServiceQuotas => "Service Quotas",
                QuotaSource::Builder => "set by you",
                QuotaSource::Defaults => "Bedrock's defaults",
            },
            q.min_records,
            q.max_records,
            q.max_bytes,
            q.max_concurrent_jobs,
            q.note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        )?;
        if let Some(check) = &self.model_check {
            writeln!(
                f,
                "model: {}{}",
                check.severity.map(|s| format!("{s}: ")).unwrap_or_default(),
                check.message
            )?;
        }
        let t = &self.tokens;
        writeln!(
            f,
            "tokens: {} to {} input ({:.1} characters a token ±{:.0}%{}), at most {} output{}",
            t.input_low,
            t.input_high,
            t.chars_per_token,
            t.uncertainty * 100.0,
            if t.calibrated {
                ", measured with CountTokens"
            } else {
                ", not measured"
            },
            t.output_max,
            if t.unbounded > 0 {
                format!(
                    " ({} records set no limit; {} assumed)",
                    t.unbounded,
                    crate::cost::DEFAULT_OUTPUT_BOUND
                )
            } else {
                String::new()
            }
        )?;
        match (&self.cost, self.max_estimated_cost) {
            (Some(cost), Some(max)) => writeln!(
                f,
                "cost: {:.4} to {:.4} (budget {max:.4})",
                cost.low, cost.high
            )?,
            (Some(cost), None) => writeln!(f, "cost: {:.4} to {:.4}", cost.low, cost.high)?,
            (None, _) => writeln!(f, "cost: no price for this model (give a price table)")?,
        }
        for problem in &self.problems {
            writeln!(f, "error: {problem}")?;
        }
        for skipped in &self.skipped {
            writeln!(f, "skipped: {skipped}")?;
        }
        if self.findings.is_empty() {
            writeln!(f, "findings: none")?;
        } else {
            writeln!(
                f,
                "findings: {} errors, {} warnings",
                self.findings.count(Severity::Error),
                self.findings.count(Severity::Warning)
            )?;
            writeln!(f, "{}", self.findings)?;
        }
        Ok(())
    }
}
