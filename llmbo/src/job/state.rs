//! Where a job is: one type per step, so a step called out of order does not compile.
//!
//! ```text
//! Ready ──prepare_requests──▶ Prepared ──push_requests_to_s3──▶ Uploaded ──create──▶ Submitted
//! Submitted ──poll_progress / cancel_batch──▶ Finished ──download_results──▶ Downloaded
//! Downloaded ──load_results──▶ BatchResults
//! ```
//!
//! The traits here are sealed; each names, when it is missing, the step to call first.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::status::{JobDetails, JobStatus};

mod sealed {
    pub trait Sealed {}
}

/// A state of the job lifecycle.
pub trait State: sealed::Sealed + Send + Sync + 'static {}

/// Configured and checked; nothing prepared yet.
#[derive(Debug, Clone, Copy, Default)]
#[must_use = "a Ready job does nothing until `prepare_requests` (or `auto`) is called"]
pub struct Ready;

/// One record of a prepared job: its id and the model's request body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PreparedRecord {
    pub(crate) record_id: String,
    pub(crate) model_input: Value,
}

/// Requests turned into each model's body; nothing uploaded yet.
#[derive(Debug, Clone)]
#[must_use = "call `push_requests_to_s3().await` to upload the prepared requests"]
pub struct Prepared {
    pub(crate) records: Vec<PreparedRecord>,
}

/// The input JSONL is in S3; no job yet.
#[derive(Debug, Clone)]
#[must_use = "call `create().await` to start the Bedrock job"]
pub struct Uploaded {
    pub(crate) input_uri: String,
    pub(crate) input_hash: String,
    pub(crate) record_ids: Arc<Vec<String>>,
}

/// The Bedrock job exists and is running (and being billed).
#[derive(Debug, Clone)]
#[must_use = "a submitted job runs and is billed until it ends: call `poll_progress(..).await` or `cancel_batch().await`"]
pub struct Submitted {
    pub(crate) job_arn: String,
    pub(crate) input_uri: String,
    pub(crate) output_uri: String,
    /// Known when this process uploaded the input; read back from S3 after a recovery.
    pub(crate) record_ids: Option<Arc<Vec<String>>>,
    pub(crate) last: Option<JobDetails>,
}

/// The job has ended.
#[derive(Debug, Clone)]
#[must_use = "call `download_results().await` to fetch what the job produced"]
pub struct Finished {
    pub(crate) job_arn: String,
    pub(crate) input_uri: String,
    pub(crate) output_uri: String,
    pub(crate) record_ids: Option<Arc<Vec<String>>>,
    pub(crate) details: JobDetails,
}

/// Where downloaded output lives.
#[derive(Debug, Clone)]
pub(crate) enum Stored {
    Memory(Vec<u8>),
    File(PathBuf),
}

/// The output and manifest are downloaded.
#[derive(Debug, Clone)]
#[must_use = "call `load_results()` to get one result per record"]
pub struct Downloaded {
    pub(crate) job_arn: String,
    pub(crate) details: JobDetails,
    pub(crate) record_ids: Arc<Vec<String>>,
    pub(crate) outputs: Vec<Stored>,
    pub(crate) manifest: Option<Stored>,
}

macro_rules! states {
    ($($state:ident),*) => {$(
        impl sealed::Sealed for $state {}
        impl State for $state {}
    )*};
}

states!(Ready, Prepared, Uploaded, Submitted, Finished, Downloaded);

/// States that can prepare requests.
#[diagnostic::on_unimplemented(
    message = "`prepare_requests` needs a `Ready` job, not `{Self}`",
    label = "requests were already prepared for this job",
    note = "build a new inferer with `builder()` to prepare another set of requests"
)]
pub trait CanPrepare: State {}
impl CanPrepare for Ready {}

/// States that can upload.
#[diagnostic::on_unimplemented(
    message = "`push_requests_to_s3` needs a `Prepared` job, not `{Self}`",
    label = "this job has no prepared requests to upload",
    note = "call `prepare_requests(inputs)?` on a `Ready` job first"
)]
pub trait CanPush: State {
    #[doc(hidden)]
    fn into_prepared(self) -> Prepared;
}
impl CanPush for Prepared {
    fn into_prepared(self) -> Prepared {
        self
    }
}

/// States that can create the Bedrock job.
#[diagnostic::on_unimplemented(
    message = "`create` needs an `Uploaded` job, not `{Self}`",
    label = "the requests of this job are not in S3 yet",
    note = "call `push_requests_to_s3().await?` on a `Prepared` job first"
)]
pub trait CanCreate: State {
    #[doc(hidden)]
    fn into_uploaded(self) -> Uploaded;
}
impl CanCreate for Uploaded {
    fn into_uploaded(self) -> Uploaded {
        self
    }
}

/// States whose job is running.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no running Bedrock job to check, poll or cancel",
    label = "this job was not submitted",
    note = "call `create().await?` on an `Uploaded` job first"
)]
pub trait IsRunning: State {
    #[doc(hidden)]
    fn as_submitted(&mut self) -> &mut Submitted;
    #[doc(hidden)]
    fn into_submitted(self) -> Submitted;
}
impl IsRunning for Submitted {
    fn as_submitted(&mut self) -> &mut Submitted {
        self
    }
    fn into_submitted(self) -> Submitted {
        self
    }
}

/// States whose job has ended.
#[diagnostic::on_unimplemented(
    message = "`download_results` needs a `Finished` job, not `{Self}`",
    label = "this job has not finished",
    note = "call `poll_progress(interval).await?` (or `cancel_batch().await?`) on a `Submitted` job first"
)]
pub trait CanDownload: State {
    #[doc(hidden)]
    fn into_finished(self) -> Finished;
}
impl CanDownload for Finished {
    fn into_finished(self) -> Finished {
        self
    }
}

/// States whose output is downloaded.
#[diagnostic::on_unimplemented(
    message = "`load_results` needs a `Downloaded` job, not `{Self}`",
    label = "the output of this job is not downloaded",
    note = "finish the job with `poll_progress(interval).await?`, then call `download_results().await?`"
)]
pub trait CanLoad: State {
    #[doc(hidden)]
    fn into_downloaded(self) -> Downloaded;
}
impl CanLoad for Downloaded {
    fn into_downloaded(self) -> Downloaded {
        self
    }
}

/// States that know their job's ARN.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no Bedrock job yet, so no ARN",
    label = "no job was created",
    note = "the ARN exists from `Submitted` on: call `create().await?` first"
)]
pub trait HasJob: State {
    #[doc(hidden)]
    fn arn(&self) -> &str;
    #[doc(hidden)]
    fn status(&self) -> Option<&JobStatus>;
}
impl HasJob for Submitted {
    fn arn(&self) -> &str {
        &self.job_arn
    }
    fn status(&self) -> Option<&JobStatus> {
        self.last.as_ref().map(|d| &d.status)
    }
}
impl HasJob for Finished {
    fn arn(&self) -> &str {
        &self.job_arn
    }
    fn status(&self) -> Option<&JobStatus> {
        Some(&self.details.status)
    }
}
impl HasJob for Downloaded {
    fn arn(&self) -> &str {
        &self.job_arn
    }
    fn status(&self) -> Option<&JobStatus> {
        Some(&self.details.status)
    }
}
