//! Turning jobs and results into text or JSON.

use std::collections::BTreeMap;

use llmbo::status::JobDetails;
use llmbo::{Manifest, RecordResult};
use serde_json::{Value, json};

/// A job as JSON (camelCase, as Bedrock names things).
pub fn job_json(job: &JobDetails) -> Value {
    json!({
        "jobArn": job.job_arn,
        "jobName": job.job_name,
        "modelId": job.model_id,
        "status": job.status.as_str(),
        "message": job.message,
        "inputUri": job.input_uri,
        "outputUri": job.output_uri,
        "totalRecordCount": job.total_record_count,
        "processedRecordCount": job.processed_record_count,
        "successRecordCount": job.success_record_count,
        "errorRecordCount": job.error_record_count,
    })
}

fn count(n: Option<u64>) -> String {
    n.map_or_else(|| "?".to_owned(), |n| n.to_string())
}

/// A job as one line of text.
pub fn job_line(job: &JobDetails) -> String {
    let mut line = format!(
        "{:<32} {:<18} {:>7}/{:<7} processed  {} errors  {}",
        job.job_name,
        job.status.as_str(),
        count(job.processed_record_count),
        count(job.total_record_count),
        count(job.error_record_count),
        job.job_arn,
    );
    if let Some(message) = &job.message {
        line.push_str(&format!("\n    {message}"));
    }
    line
}

/// What a set of results adds up to.
#[derive(Debug, Default)]
pub struct Summary {
    pub records: u64,
    pub succeeded: u64,
    pub errors: BTreeMap<&'static str, u64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

impl Summary {
    pub fn add_manifest(&mut self, manifest: &Manifest) {
        if let Some(input) = manifest.input_token_count {
            *self.input_tokens.get_or_insert(0) += input;
        }
        if let Some(out) = manifest.output_token_count {
            *self.output_tokens.get_or_insert(0) += out;
        }
    }

    pub fn add_record<V>(&mut self, record: &RecordResult<V>) {
        self.records += 1;
        match &record.outcome {
            Ok(_) => self.succeeded += 1,
            Err(err) => *self.errors.entry(err.reason()).or_insert(0) += 1,
        }
    }

    pub fn failed(&self) -> u64 {
        self.records - self.succeeded
    }

    pub fn to_json(&self) -> Value {
        json!({
            "records": self.records,
            "succeeded": self.succeeded,
            "failed": self.failed(),
            "errorsByReason": self.errors,
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
        })
    }

    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{} records: {} succeeded, {} failed",
            self.records,
            self.succeeded,
            self.failed()
        );
        if !self.errors.is_empty() {
            let reasons: Vec<String> = self
                .errors
                .iter()
                .map(|(reason, n)| format!("{reason}: {n}"))
                .collect();
            text.push_str(&format!(" ({})", reasons.join(", ")));
        }
        match (self.input_tokens, self.output_tokens) {
            (Some(input), Some(output)) => {
                text.push_str(&format!("\ntokens: {input} in, {output} out"));
            }
            (Some(input), None) => text.push_str(&format!("\ntokens: {input} in")),
            _ => {}
        }
        text
    }
}

/// Exit 1 when too many records failed.
pub fn check_error_rate(failed: u64, records: u64, max: f64) -> Result<(), crate::Failure> {
    let rate = if records == 0 {
        0.0
    } else {
        failed as f64 / records as f64
    };
    if rate > max {
        Err(crate::Failure::Failed(format!(
            "{failed} of {records} records failed ({:.1}%), above --max-error-rate {max}",
            rate * 100.0
        )))
    } else {
        Ok(())
    }
}
