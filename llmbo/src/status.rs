//! What Bedrock says about a job.

use std::fmt;

/// A batch job's status: all ten of Bedrock's, plus any it adds later.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobStatus {
    /// Queued for validation.
    Submitted,
    /// Bedrock is checking the input.
    Validating,
    /// Validated, waiting to start.
    Scheduled,
    /// Running; outputs appear as it goes.
    InProgress,
    /// Every record was processed.
    Completed,
    /// Ended before every record was processed; the processed ones have outputs.
    PartiallyCompleted,
    /// Failed; Bedrock's message says why.
    Failed,
    /// A stop was requested.
    Stopping,
    /// Stopped; the records processed before have outputs.
    Stopped,
    /// Did not start before its timeout.
    Expired,
    /// A status this version of llmbo does not know.
    Unknown(String),
}

impl JobStatus {
    /// Reads Bedrock's name for a status.
    pub fn from_wire(name: &str) -> Self {
        match name {
            "Submitted" => JobStatus::Submitted,
            "Validating" => JobStatus::Validating,
            "Scheduled" => JobStatus::Scheduled,
            "InProgress" => JobStatus::InProgress,
            "Completed" => JobStatus::Completed,
            "PartiallyCompleted" => JobStatus::PartiallyCompleted,
            "Failed" => JobStatus::Failed,
            "Stopping" => JobStatus::Stopping,
            "Stopped" => JobStatus::Stopped,
            "Expired" => JobStatus::Expired,
            other => JobStatus::Unknown(other.to_owned()),
        }
    }

    /// Bedrock's name for the status.
    pub fn as_str(&self) -> &str {
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
            JobStatus::Unknown(name) => name,
        }
    }

    /// Whether the job has ended and will not change again.
    ///
    /// ```
    /// use llmbo::status::JobStatus;
    /// assert!(JobStatus::PartiallyCompleted.is_finished());
    /// assert!(!JobStatus::Stopping.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
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

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job as Bedrock describes it (`GetModelInvocationJob`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobDetails {
    /// The job's ARN.
    pub job_arn: String,
    /// The job's name.
    pub job_name: String,
    /// The model id the job runs.
    pub model_id: String,
    /// The role Bedrock assumes.
    pub role_arn: String,
    /// The current status.
    pub status: JobStatus,
    /// Bedrock's message, e.g. why the job failed.
    pub message: Option<String>,
    /// `s3://…` of the input.
    pub input_uri: String,
    /// `s3://…` under which the output is written.
    pub output_uri: String,
    /// Whether the job uses the Converse invocation type.
    pub converse: bool,
    /// The timeout in hours.
    pub timeout_hours: Option<i32>,
    /// Records in the input, once validated.
    pub total_record_count: Option<u64>,
    /// Records processed so far.
    pub processed_record_count: Option<u64>,
    /// Records answered with a model output so far.
    pub success_record_count: Option<u64>,
    /// Records answered with an error so far.
    pub error_record_count: Option<u64>,
}

/// Which step a [`Progress`](crate::Progress) report comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// Requests are being written to S3; `processed` counts records, `bytes` bytes sent.
    Uploading,
    /// The job runs; the counters are Bedrock's.
    Running,
    /// Outputs are being fetched; `processed` counts output lines, `bytes` bytes received.
    Downloading,
    /// Records are answered on demand (`bedrock-runtime`); `processed` counts records
    /// answered, `succeeded` / `failed` by outcome, `total` the set's size.
    OnDemand,
}

/// Why a job has no output to download: it ended `Failed`, or its run was cancelled before it
/// was created. Becomes [`Error::JobFailed`](crate::error::Error::JobFailed).
#[derive(Debug, Clone)]
pub(crate) struct JobFailure {
    pub(crate) job_arn: String,
    pub(crate) status: String,
    pub(crate) message: String,
}

impl JobFailure {
    /// The failure of a job that ended `Failed`, with Bedrock's message; `None` for any other.
    pub(crate) fn of(details: &JobDetails) -> Option<Self> {
        (details.status == JobStatus::Failed).then(|| JobFailure {
            job_arn: details.job_arn.clone(),
            status: details.status.to_string(),
            message: details
                .message
                .clone()
                .unwrap_or_else(|| "Bedrock gave no reason".into()),
        })
    }

    /// A job of a cancelled run that was never created.
    pub(crate) fn never_created(job_name: &str) -> Self {
        JobFailure {
            job_arn: String::new(),
            status: JobStatus::Stopped.to_string(),
            message: format!("the run was cancelled before job {job_name} was created"),
        }
    }

    pub(crate) fn into_error(self) -> crate::error::Error {
        crate::error::Error::JobFailed {
            job_arn: self.job_arn,
            status: self.status,
            message: self.message,
        }
    }
}
