//! The job lifecycle: one inferer type whose state parameter says where the job is.
//!
//! [`BatchInferer`] returns each record's raw `modelOutput`; [`StructuredBatchInferer<T>`]
//! forces the tool of `T` and returns parsed `T`s. Both are [`Inferer`] with a different
//! [`OutputMode`], so the lifecycle is written once.

mod builder;
mod jobs;
mod lifecycle;
mod mode;
pub(crate) mod names;
mod run;
mod shards;
pub mod state;
mod status;

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

pub use builder::{
    BucketNameIsSet, InfererBuilder, JobNameIsSet, ModelNameIsSet, ProgressCallback, RegionIsSet,
    RoleArnIsSet, Set, Unset,
};
pub use jobs::Jobs;
pub use mode::{OutputMode, Structured, Untyped};
pub use run::{
    BatchRun, Price, PriceTable, RecordInfo, RecordStream, RetryOptions, RetryOutcome, RunManifest,
    RunResults, RunSummary, ShardEntry,
};
pub use shards::{ShardLimits, plan_shards};
pub use status::{JobDetails, JobStatus, Progress, Stage};

use crate::adapter::{InvocationType, ModelProviderAdapter};
use crate::aws::Aws;
use crate::output::ToolDefinition;
use state::{HasJob, Ready, State};

/// A batch inference job at one step of its lifecycle.
///
/// Use it through its two names: [`BatchInferer`] (untyped results) and
/// [`StructuredBatchInferer<T>`] (results parsed into `T`). Each step consumes the value and
/// returns the next state, so steps cannot be called out of order:
///
/// ```text
/// Ready      .prepare_requests(inputs)?      -> Prepared
/// Prepared   .push_requests_to_s3().await?   -> Uploaded
/// Uploaded   .create().await?                -> Submitted   (.job_arn())
/// Submitted  .check_complete().await?        -> Option<JobStatus>   (&mut self)
/// Submitted  .poll_progress(interval).await? -> Finished
/// Submitted  .cancel_batch().await?          -> Finished
/// Finished   .download_results().await?      -> Downloaded
/// Downloaded .load_results()?                -> BatchResults
/// ```
///
/// `auto(inputs, interval)` runs every step.
#[must_use = "an inferer does nothing until its next step is called"]
pub struct Inferer<O: OutputMode, S: State = Ready> {
    pub(crate) config: Arc<JobConfig>,
    pub(crate) state: S,
    pub(crate) _mode: PhantomData<fn() -> O>,
}

/// An inferer whose results are the raw model outputs (`serde_json::Value`).
pub type BatchInferer<S = Ready> = Inferer<Untyped, S>;

/// An inferer whose results are parsed into `T`, through a tool the model is forced to call.
pub type StructuredBatchInferer<T, S = Ready> = Inferer<Structured<T>, S>;

/// What a job needs from start to end; shared by every state.
#[derive(Clone)]
pub(crate) struct JobConfig {
    pub(crate) model_name: String,
    pub(crate) bucket: String,
    pub(crate) region: String,
    pub(crate) job_name: String,
    pub(crate) role_arn: String,
    pub(crate) timeout_hours: u32,
    pub(crate) output_dir: Option<PathBuf>,
    pub(crate) aws: Aws,
    pub(crate) adapter: Arc<dyn ModelProviderAdapter>,
    pub(crate) invocation_type: InvocationType,
    pub(crate) limits: ShardLimits,
    pub(crate) max_concurrent_jobs: usize,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) kms_key_id: Option<String>,
    pub(crate) vpc: Option<(Vec<String>, Vec<String>)>,
    pub(crate) progress: Option<ProgressCallback>,
    /// The output tool of an untyped job structured at run time ([`InfererBuilder::output_tool`]).
    pub(crate) tool: Option<ToolDefinition>,
}

impl JobConfig {
    /// The tool the model is forced to call, if any: the run-time one, else the type's.
    pub(crate) fn output_tool<O: OutputMode>(&self) -> Option<ToolDefinition> {
        self.tool.clone().or_else(O::tool)
    }

    /// Sends one progress report to `tracing` and to the `on_progress` callback.
    pub(crate) fn report(&self, progress: &Progress) {
        let message = match progress.stage {
            Stage::Uploading => "upload progress",
            Stage::Running => "job progress",
            Stage::Downloading => "download progress",
        };
        tracing::info!(
            job_name = %progress.job_name,
            job_arn = %progress.job_arn,
            status = progress.status.as_ref().map(JobStatus::as_str),
            total = progress.total,
            processed = progress.processed,
            succeeded = progress.succeeded,
            failed = progress.failed,
            bytes = progress.bytes,
            "{message}"
        );
        if let Some(callback) = &self.progress {
            callback(progress);
        }
    }
}

impl<O: OutputMode, S: State + std::fmt::Debug> std::fmt::Debug for Inferer<O, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.config;
        f.debug_struct("Inferer")
            .field("model_name", &c.model_name)
            .field("bucket", &c.bucket)
            .field("region", &c.region)
            .field("job_name", &c.job_name)
            .field("adapter", &c.adapter.name())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<O: OutputMode> Inferer<O, Ready> {
    /// Settings for a new job; `build().await` checks them against AWS.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), llmbo::Error> {
    /// # #[derive(serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)] struct Person { name: String }
    /// let inferer = llmbo::StructuredBatchInferer::<Person>::builder()
    ///     .model_name("anthropic.claude-3-haiku-20240307-v1:0")
    ///     .bucket_name("my-bucket")
    ///     .region("eu-west-2")
    ///     .job_name("people-2026-11")
    ///     .role_arn("arn:aws:iam::123456789012:role/BedrockBatch")
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> InfererBuilder<O> {
        InfererBuilder::new()
    }

    pub(crate) fn from_config(config: JobConfig) -> Self {
        Inferer {
            config: Arc::new(config),
            state: Ready,
            _mode: PhantomData,
        }
    }
}

impl<O: OutputMode, S: State> Inferer<O, S> {
    pub(crate) fn with_state<S2: State>(self, state: S2) -> Inferer<O, S2> {
        Inferer {
            config: self.config,
            state,
            _mode: PhantomData,
        }
    }

    /// The model id.
    pub fn model_name(&self) -> &str {
        &self.config.model_name
    }

    /// The job name.
    pub fn job_name(&self) -> &str {
        &self.config.job_name
    }

    /// The bucket.
    pub fn bucket_name(&self) -> &str {
        &self.config.bucket
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.config.region
    }

    /// The adapter that writes and reads this job's bodies.
    pub fn adapter(&self) -> &Arc<dyn ModelProviderAdapter> {
        &self.config.adapter
    }

    /// The state itself, for code that stores inferers.
    pub fn state(&self) -> &S {
        &self.state
    }
}

impl<O: OutputMode, S: State> Inferer<O, S> {
    /// The Bedrock job's ARN.
    pub fn job_arn(&self) -> &str
    where
        S: HasJob,
    {
        self.state.arn()
    }

    /// The job id: the last part of the ARN, also the output folder's name.
    pub fn unique_id_from_arn(&self) -> &str
    where
        S: HasJob,
    {
        let arn = self.state.arn();
        arn.rsplit('/').next().unwrap_or(arn)
    }

    /// The status last seen (none before the first check of a just-created job).
    pub fn job_status(&self) -> Option<&JobStatus>
    where
        S: HasJob,
    {
        self.state.status()
    }
}

/// A job rebuilt from its ARN: still running, or ended.
pub enum Recovered<O: OutputMode> {
    /// The job is still running: poll it.
    Running(Inferer<O, state::Submitted>),
    /// The job has ended: download it.
    Finished(Inferer<O, state::Finished>),
}

impl<O: OutputMode> std::fmt::Debug for Recovered<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recovered::Running(job) => f.debug_tuple("Running").field(&job.job_arn()).finish(),
            Recovered::Finished(job) => f.debug_tuple("Finished").field(&job.job_arn()).finish(),
        }
    }
}
