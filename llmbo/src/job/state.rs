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
///
/// `build()` reaches it after checking the bucket (exists, in the job's region) and the role.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let local = llmbo_local::LocalBedrock::start().await?;
/// # #[derive(Debug, serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)]
/// # struct Person { name: String }
/// use llmbo::{StructuredBatchInferer, state::Ready};
/// let ready: StructuredBatchInferer<Person, Ready> = StructuredBatchInferer::builder()
///     .model_name("anthropic.claude-3-haiku-20240307-v1:0")
///     .bucket_name(local.bucket())
///     .region(local.region())
///     .job_name("people")
///     .role_arn(local.role_arn())
///     .sdk_config(local.sdk_config()) // an offline Bedrock here; omit it on AWS
///     .build()
///     .await?;
/// assert_eq!(ready.job_name(), "people");
///
/// // A bucket in another region is refused before anything is uploaded.
/// let wrong = StructuredBatchInferer::<Person>::builder()
///     .model_name("anthropic.claude-3-haiku-20240307-v1:0")
///     .bucket_name(local.bucket())
///     .region("eu-west-2")
///     .job_name("people")
///     .role_arn(local.role_arn())
///     .sdk_config(local.sdk_config())
///     .build()
///     .await;
/// assert!(matches!(wrong, Err(llmbo::Error::BucketInWrongRegion { .. })));
/// # Ok(()) }
/// ```
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
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let local = llmbo_local::LocalBedrock::start().await?;
/// # /// A person named in the text.
/// # #[derive(Debug, serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)]
/// # struct Person { name: String }
/// # let inputs = (0..100).map(|i| (format!("r{i:03}"), llmbo::ModelInput::new().user(format!("Ada Lovelace, {i}."))));
/// # let ready = llmbo::StructuredBatchInferer::<Person>::builder()
/// #     .model_name("anthropic.claude-3-haiku-20240307-v1:0").bucket_name(local.bucket())
/// #     .region(local.region()).job_name("doc").role_arn(local.role_arn())
/// #     .sdk_config(local.sdk_config()).build().await?;
/// use llmbo::state::Prepared;
/// let prepared: llmbo::StructuredBatchInferer<Person, Prepared> = ready.prepare_requests(inputs)?;
/// # let _ = prepared;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "call `push_requests_to_s3().await` to upload the prepared requests"]
pub struct Prepared {
    pub(crate) records: Vec<PreparedRecord>,
}

/// The input JSONL is in S3; no job yet.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let local = llmbo_local::LocalBedrock::start().await?;
/// # /// A person named in the text.
/// # #[derive(Debug, serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)]
/// # struct Person { name: String }
/// # let inputs = (0..100).map(|i| (format!("r{i:03}"), llmbo::ModelInput::new().user(format!("Ada Lovelace, {i}."))));
/// # let ready = llmbo::StructuredBatchInferer::<Person>::builder()
/// #     .model_name("anthropic.claude-3-haiku-20240307-v1:0").bucket_name(local.bucket())
/// #     .region(local.region()).job_name("doc").role_arn(local.role_arn())
/// #     .sdk_config(local.sdk_config()).build().await?;
/// let uploaded = ready.prepare_requests(inputs)?.push_requests_to_s3().await?;
/// // Streamed as `s3://<bucket>/input/<job name>.jsonl`, one record per line.
/// let object = local.s3_root().join(local.bucket()).join("input/doc.jsonl");
/// assert_eq!(std::fs::read_to_string(object)?.lines().count(), 100);
/// # let _ = uploaded;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "call `create().await` to start the Bedrock job"]
pub struct Uploaded {
    pub(crate) input_uri: String,
    pub(crate) input_hash: String,
    pub(crate) record_ids: Option<Arc<Vec<String>>>,
}

/// The Bedrock job exists and is running (and being billed).
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let local = llmbo_local::LocalBedrock::start().await?;
/// # /// A person named in the text.
/// # #[derive(Debug, serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)]
/// # struct Person { name: String }
/// # let inputs = (0..100).map(|i| (format!("r{i:03}"), llmbo::ModelInput::new().user(format!("Ada Lovelace, {i}."))));
/// # let ready = llmbo::StructuredBatchInferer::<Person>::builder()
/// #     .model_name("anthropic.claude-3-haiku-20240307-v1:0").bucket_name(local.bucket())
/// #     .region(local.region()).job_name("doc").role_arn(local.role_arn())
/// #     .sdk_config(local.sdk_config()).build().await?;
/// let mut submitted = ready.prepare_requests(inputs)?.push_requests_to_s3().await?.create().await?;
/// assert!(submitted.job_arn().contains(":model-invocation-job/"));
/// assert_eq!(submitted.unique_id_from_arn().len(), 12);
/// // One look at the job: `None` while it runs, `Some(status)` once it has ended.
/// while submitted.check_complete().await?.is_none() {
///     tokio::time::sleep(std::time::Duration::from_millis(20)).await;
/// }
/// assert_eq!(submitted.job_status(), Some(&llmbo::JobStatus::Completed));
/// # Ok(()) }
/// ```
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

/// The job has ended: reached by `poll_progress` (which follows it to the end) or
/// `cancel_batch` (which stops it).
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let local = llmbo_local::LocalBedrock::start().await?;
/// # /// A person named in the text.
/// # #[derive(Debug, serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)]
/// # struct Person { name: String }
/// # let inputs = (0..100).map(|i| (format!("r{i:03}"), llmbo::ModelInput::new().user(format!("Ada Lovelace, {i}."))));
/// # let ready = llmbo::StructuredBatchInferer::<Person>::builder()
/// #     .model_name("anthropic.claude-3-haiku-20240307-v1:0").bucket_name(local.bucket())
/// #     .region(local.region()).job_name("doc").role_arn(local.role_arn())
/// #     .sdk_config(local.sdk_config()).build().await?;
/// use std::time::Duration;
/// let submitted = ready.prepare_requests(inputs)?.push_requests_to_s3().await?.create().await?;
/// let finished = submitted.poll_progress(Duration::from_millis(20)).await?;
/// assert!(finished.job_status().is_some_and(|s| s.is_finished()));
/// # Ok(()) }
/// ```
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
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let local = llmbo_local::LocalBedrock::start().await?;
/// # /// A person named in the text.
/// # #[derive(Debug, serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)]
/// # struct Person { name: String }
/// # let inputs = (0..100).map(|i| (format!("r{i:03}"), llmbo::ModelInput::new().user(format!("Ada Lovelace, {i}."))));
/// # let ready = llmbo::StructuredBatchInferer::<Person>::builder()
/// #     .model_name("anthropic.claude-3-haiku-20240307-v1:0").bucket_name(local.bucket())
/// #     .region(local.region()).job_name("doc").role_arn(local.role_arn())
/// #     .sdk_config(local.sdk_config()).build().await?;
/// use std::time::Duration;
/// let downloaded = ready
///     .prepare_requests(inputs)?
///     .push_requests_to_s3().await?
///     .create().await?
///     .poll_progress(Duration::from_millis(20)).await?
///     .download_results().await?;
/// let results = downloaded.load_results()?;
/// assert_eq!(results.len(), 100);
/// assert_eq!(results.records[0].record_id, "r000"); // input order, whatever Bedrock's order
/// assert_eq!(results.manifest.total_record_count, 100);
/// # Ok(()) }
/// ```
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

/// A state a [`BatchRun`](crate::BatchRun) — a run of one or more jobs — can be in. The run
/// goes through the states of a single job, with the same step names: `Prepared` (requests
/// written to a local spool, jobs planned), `Uploaded` (inputs and run manifest in S3),
/// `Submitted` (jobs created, or created as slots free), `Finished` (every job ended),
/// `Downloaded` (every output on local disk).
pub trait RunState: State {
    #[doc(hidden)]
    type Data: Send + Sync;
}
impl RunState for Prepared {
    type Data = super::run::PlannedRun;
}
impl RunState for Uploaded {
    type Data = ();
}
impl RunState for Submitted {
    type Data = ();
}
impl RunState for Finished {
    type Data = Arc<Vec<(super::ShardEntry, Option<JobDetails>)>>;
}
impl RunState for Downloaded {
    type Data = super::run::DownloadedRun;
}

/// A run state from `Uploaded` on: the run's input and manifest are in S3.
#[diagnostic::on_unimplemented(
    message = "a `BatchRun<_, {Self}>` has nothing in S3 yet",
    label = "the run's requests are only prepared",
    note = "call `push_requests_to_s3().await?` on the `Prepared` run first"
)]
pub trait RunInS3: RunState {}
impl RunInS3 for Uploaded {}
impl RunInS3 for Submitted {}
impl RunInS3 for Finished {}
impl RunInS3 for Downloaded {}

/// A run state the run can be followed from to its results (`stream`, `finish`).
#[diagnostic::on_unimplemented(
    message = "a `BatchRun<_, {Self}>` cannot be followed to its results",
    label = "followed from `Uploaded`, `Submitted` or `Finished` only",
    note = "a `Prepared` run needs `push_requests_to_s3().await?`; a `Downloaded` run has `load_results()`"
)]
pub trait RunFollowable: RunInS3 {}
impl RunFollowable for Uploaded {}
impl RunFollowable for Submitted {}
impl RunFollowable for Finished {}
