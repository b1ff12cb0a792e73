//! Where a job or run is: one type per step, so a step called out of order does not compile.
//! This is the one table of the states and steps; the crate docs, the inferer's docs and the
//! README link here.
//!
//! | state | step | gives |
//! |---|---|---|
//! | (builder) | `build().await?` (checks the bucket, its region and the role) | [`Ready`] |
//! | [`Ready`] | `prepare_requests(inputs)?` (one job) or `prepare_run(inputs)?` (any number) | [`Prepared`] |
//! | [`Ready`] | `start_run(inputs).await?` (prepare and upload) | [`Uploaded`] |
//! | [`Ready`] | `auto(inputs, interval).await?` (every step) | `BatchResults` |
//! | [`Prepared`] | `push_requests_to_s3().await?` | [`Uploaded`] |
//! | [`Uploaded`] | `create().await?` | [`Submitted`] (`job_arn()`) |
//! | [`Submitted`] | `check_complete().await?` (by `&mut self`) | `Option<JobStatus>` |
//! | [`Submitted`] | `poll_progress(interval).await?` or `cancel_batch().await?` | [`Finished`] |
//! | [`Uploaded`], [`Submitted`] or [`Finished`] | `finish(interval).await?` or `stream(interval)` | `BatchResults` or `RecordStream` |
//! | [`Finished`] | `download_results().await?` | [`Downloaded`] |
//! | [`Downloaded`] | `load_results()?` | `BatchResults` |
//!
//! `cancel(&self)` on a [`Submitted`] run stops every job of the run, whichever process calls
//! it; `resume(run_uri, ..)` and `from_job_arn(arn, ..)` give [`Submitted`] in
//! any process, and `recover(arn, ..)` gives `Recovered::Running` (submitted) or
//! `Recovered::Finished`.
//!
//! A single job is a run of one: [`Inferer`](crate::Inferer) and [`BatchRun`](crate::BatchRun)
//! are one type, and these markers are its state parameter. Each state's data is private (the
//! sealed data of each state), so no state carries a field that is only sometimes set. Each
//! step is a method of the one state it belongs to, so a step called in the wrong state is
//! rustc's short "no method named … found for `Inferer<_, Prepared>`", naming the state that
//! has it.

use crate::status::JobStatus;

pub(crate) mod sealed {
    /// What a state holds; private, so no state's data is part of the API.
    pub trait Sealed {
        type Data: Send + Sync;
    }
}

/// A state of the lifecycle. Sealed: the six states are all there is.
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
#[derive(Debug, Clone, Copy)]
pub struct Ready(());

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
#[derive(Debug, Clone, Copy)]
pub struct Prepared(());

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
#[derive(Debug, Clone, Copy)]
pub struct Uploaded(());

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
/// assert_eq!(submitted.job_id().len(), 12);
/// // One look at the job: `None` while it runs, `Some(status)` once it has ended.
/// while submitted.check_complete().await?.is_none() {
///     tokio::time::sleep(std::time::Duration::from_millis(20)).await;
/// }
/// assert_eq!(submitted.job_status(), Some(&llmbo::status::JobStatus::Completed));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Submitted(());

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
#[derive(Debug, Clone, Copy)]
pub struct Finished(());

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
#[derive(Debug, Clone, Copy)]
pub struct Downloaded(());

impl sealed::Sealed for Ready {
    type Data = ();
}
impl State for Ready {}
impl sealed::Sealed for Prepared {
    type Data = super::spool::PlannedRun;
}
impl State for Prepared {}
impl sealed::Sealed for Uploaded {
    type Data = ();
}
impl State for Uploaded {}
impl sealed::Sealed for Submitted {
    type Data = Seen;
}
impl State for Submitted {}
impl sealed::Sealed for Finished {
    type Data = Ended;
}
impl State for Finished {}
impl sealed::Sealed for Downloaded {
    type Data = super::engine::DownloadedRun;
}
impl State for Downloaded {}

/// The data of the submitted and finished states, unnameable outside the crate.
mod data {
    use std::sync::Arc;

    use crate::status::{JobDetails, JobStatus};

    /// A submitted run's jobs as last seen (the run record's entries, and Bedrock's details once
    /// asked), so `job_arn` and `job_status` answer without a call.
    #[derive(Debug, Clone, Default)]
    pub struct Seen {
        pub(crate) jobs: Vec<(crate::job::ShardEntry, Option<JobDetails>)>,
        /// The run's status once every job has ended.
        pub(crate) status: Option<JobStatus>,
    }

    /// A finished run's jobs with their final details.
    #[derive(Debug, Clone)]
    pub struct Ended {
        pub(crate) jobs: Arc<Vec<(crate::job::ShardEntry, Option<JobDetails>)>>,
        pub(crate) status: JobStatus,
    }
}
pub(crate) use data::{Ended, Seen};

/// The status of a run from its jobs' statuses: the job's own for a run of one; for more, the
/// status they share, else the one that asks most attention (`Failed`, `Stopped`, `Expired`,
/// `PartiallyCompleted`, in that order). A job never created (cancelled run) counts as
/// `Stopped`.
pub(crate) fn run_status<'a>(statuses: impl Iterator<Item = Option<&'a JobStatus>>) -> JobStatus {
    let statuses: Vec<JobStatus> = statuses
        .map(|s| s.cloned().unwrap_or(JobStatus::Stopped))
        .collect();
    let first = statuses.first().cloned().unwrap_or(JobStatus::Completed);
    if statuses.iter().all(|s| *s == first) {
        return first;
    }
    [
        JobStatus::Failed,
        JobStatus::Stopped,
        JobStatus::Expired,
        JobStatus::PartiallyCompleted,
    ]
    .into_iter()
    .find(|worst| statuses.contains(worst))
    .unwrap_or(first)
}

/// A state from `Uploaded` on: the run's input and record are in S3.
#[diagnostic::on_unimplemented(
    message = "a `{Self}` run has nothing in S3 yet",
    label = "the requests are only prepared",
    note = "call `push_requests_to_s3().await?` on the `Prepared` run first"
)]
pub trait RunInS3: State {}
impl RunInS3 for Uploaded {}
impl RunInS3 for Submitted {}
impl RunInS3 for Finished {}
impl RunInS3 for Downloaded {}

/// A state the run can be followed from to its results (`stream`, `finish`).
#[diagnostic::on_unimplemented(
    message = "a `{Self}` run cannot be followed to its results",
    label = "followed from `Uploaded`, `Submitted` or `Finished` only",
    note = "a `Prepared` run needs `push_requests_to_s3().await?`; a `Downloaded` run has `load_results()`"
)]
pub trait RunFollowable: RunInS3 {}
impl RunFollowable for Uploaded {}
impl RunFollowable for Submitted {}
impl RunFollowable for Finished {}
