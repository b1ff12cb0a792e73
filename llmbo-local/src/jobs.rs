//! The Bedrock job records the control plane serves and the runner advances.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// `ModelInvocationJobStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Queued for validation.
    Submitted,
    /// Checking the input.
    Validating,
    /// Validated, waiting to start.
    Scheduled,
    /// Running.
    InProgress,
    /// Every record processed.
    Completed,
    /// Ended before every record was processed.
    PartiallyCompleted,
    /// Failed; see the message.
    Failed,
    /// Stop requested.
    Stopping,
    /// Stopped by the user.
    Stopped,
    /// Did not start before the timeout.
    Expired,
}

impl JobStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Submitted => "Submitted",
            JobStatus::Validating => "Validating",
            JobStatus::Scheduled => "Scheduled",
            JobStatus::InProgress => "InProgress",
            JobStatus::Completed => "Completed",
            JobStatus::PartiallyCompleted => "PartiallyCompleted",
            JobStatus::Failed => "Failed",
            JobStatus::Stopping => "Stopping",
            JobStatus::Stopped => "Stopped",
            JobStatus::Expired => "Expired",
        }
    }

    /// From the wire name.
    pub fn parse(name: &str) -> Option<Self> {
        ALL_STATUSES.iter().copied().find(|s| s.as_str() == name)
    }

    /// Whether the job has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed
                | JobStatus::PartiallyCompleted
                | JobStatus::Failed
                | JobStatus::Stopped
                | JobStatus::Expired
        )
    }
}

/// Every status, in lifecycle order.
pub const ALL_STATUSES: [JobStatus; 10] = [
    JobStatus::Submitted,
    JobStatus::Validating,
    JobStatus::Scheduled,
    JobStatus::InProgress,
    JobStatus::Completed,
    JobStatus::PartiallyCompleted,
    JobStatus::Failed,
    JobStatus::Stopping,
    JobStatus::Stopped,
    JobStatus::Expired,
];

/// Record counts as the job reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records in the input (known once validated).
    pub total: u64,
    /// Records processed.
    pub processed: u64,
    /// Records with a model output.
    pub success: u64,
    /// Records with an error.
    pub error: u64,
    /// Input tokens over processed records.
    pub input_tokens: u64,
    /// Output tokens over processed records.
    pub output_tokens: u64,
}

/// One model invocation job.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) id: String,
    pub(crate) arn: String,
    pub(crate) name: String,
    pub(crate) model_id: String,
    pub(crate) role_arn: String,
    pub(crate) client_request_token: Option<String>,
    /// `inputDataConfig` as sent (with `s3InputFormat` filled in).
    pub(crate) input_data_config: Value,
    /// `outputDataConfig` as sent.
    pub(crate) output_data_config: Value,
    pub(crate) input_uri: String,
    pub(crate) output_uri: String,
    pub(crate) vpc_config: Option<Value>,
    /// Tags given at create or with TagResource, in order, keys unique.
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) timeout_hours: u32,
    pub(crate) invocation_type: Option<String>,
    pub(crate) status: JobStatus,
    pub(crate) message: Option<String>,
    pub(crate) submit_time: DateTime<Utc>,
    pub(crate) last_modified: DateTime<Utc>,
    pub(crate) end_time: Option<DateTime<Utc>>,
    pub(crate) expiration_time: DateTime<Utc>,
    pub(crate) counts: Option<Counts>,
}

pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl Job {
    /// The `GetModelInvocationJob` response, which is also a list summary.
    pub(crate) fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("jobArn".into(), json!(self.arn));
        out.insert("jobName".into(), json!(self.name));
        out.insert("modelId".into(), json!(self.model_id));
        if let Some(token) = &self.client_request_token {
            out.insert("clientRequestToken".into(), json!(token));
        }
        out.insert("roleArn".into(), json!(self.role_arn));
        out.insert("status".into(), json!(self.status.as_str()));
        if let Some(message) = &self.message {
            out.insert("message".into(), json!(message));
        }
        out.insert("submitTime".into(), json!(timestamp(self.submit_time)));
        out.insert(
            "lastModifiedTime".into(),
            json!(timestamp(self.last_modified)),
        );
        if let Some(end) = self.end_time {
            out.insert("endTime".into(), json!(timestamp(end)));
        }
        out.insert("inputDataConfig".into(), self.input_data_config.clone());
        out.insert("outputDataConfig".into(), self.output_data_config.clone());
        if let Some(vpc) = &self.vpc_config {
            out.insert("vpcConfig".into(), vpc.clone());
        }
        out.insert("timeoutDurationInHours".into(), json!(self.timeout_hours));
        out.insert(
            "jobExpirationTime".into(),
            json!(timestamp(self.expiration_time)),
        );
        if let Some(kind) = &self.invocation_type {
            out.insert("modelInvocationType".into(), json!(kind));
        }
        if let Some(counts) = self.counts {
            out.insert("totalRecordCount".into(), json!(counts.total));
            out.insert("processedRecordCount".into(), json!(counts.processed));
            out.insert("successRecordCount".into(), json!(counts.success));
            out.insert("errorRecordCount".into(), json!(counts.error));
        }
        Value::Object(out)
    }

    pub(crate) fn set_status(&mut self, status: JobStatus) {
        self.status = status;
        self.last_modified = Utc::now();
        if status.is_terminal() {
            self.end_time = Some(self.last_modified);
        }
    }
}
