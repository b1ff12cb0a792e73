//! Progress reports, for a callback or `tracing`.

use crate::status::{JobDetails, JobStatus, Stage};

/// One progress report, for the builder's `on_progress` callback: while requests are uploaded,
/// while the job runs (each poll), while outputs are downloaded, and while records are answered
/// on demand. The same numbers go to
/// `tracing` (target `llmbo`, message `upload progress`, `job progress`, `download progress`),
/// so a program can draw its own bars either way.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Which step reports.
    pub stage: Stage,
    /// The job's name.
    pub job_name: String,
    /// The job's ARN; empty while uploading (the job does not exist yet).
    pub job_arn: String,
    /// Its status; `None` while uploading.
    pub status: Option<JobStatus>,
    /// Records in the input, once known.
    pub total: Option<u64>,
    /// Records processed (running), written (uploading) or read back (downloading).
    pub processed: u64,
    /// Records with a model output.
    pub succeeded: u64,
    /// Records with an error.
    pub failed: u64,
    /// Bytes sent (uploading) or received (downloading) so far; 0 while running.
    pub bytes: u64,
}

impl Progress {
    pub(crate) fn of(details: &JobDetails) -> Self {
        Progress {
            stage: Stage::Running,
            job_name: details.job_name.clone(),
            job_arn: details.job_arn.clone(),
            status: Some(details.status.clone()),
            total: details.total_record_count,
            processed: details.processed_record_count.unwrap_or(0),
            succeeded: details.success_record_count.unwrap_or(0),
            failed: details.error_record_count.unwrap_or(0),
            bytes: 0,
        }
    }

    pub(crate) fn transfer(stage: Stage, job_name: &str, job_arn: &str) -> Self {
        Progress {
            stage,
            job_name: job_name.to_owned(),
            job_arn: job_arn.to_owned(),
            status: None,
            total: None,
            processed: 0,
            succeeded: 0,
            failed: 0,
            bytes: 0,
        }
    }
}
