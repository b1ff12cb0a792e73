//! The lifecycle: one type whose state parameter says where the job or run is.
//!
//! A single job is a run of one. [`Inferer`] and [`BatchRun`] are one type: the single job's
//! steps (`prepare_requests` …) and a run's (`prepare_run` …) reach the same states, and every
//! step of every job goes through one per-job engine (`engine.rs`) and one scheduler
//! (`schedule.rs`). [`BatchInferer`] returns each record's raw `modelOutput`;
//! [`StructuredBatchInferer<T>`] forces the tool of `T` and returns parsed `T`s.
//!
//! | file | what it holds |
//! |---|---|
//! | `config.rs` | the one configuration path, and the persisted settings |
//! | `record.rs` | the run record in S3 |
//! | `spool.rs` | preparing and planning |
//! | `engine.rs` | one job: upload, create, download |
//! | `download.rs` | `download_results`, `load_results`, `records` |
//! | `read.rs` | one job's output parsed, as bytes, line by line |
//! | `schedule.rs` | polling, filling slots, cancelling |
//! | `steps.rs` | the typestate front: every step, on the state it belongs to |
//! | `stream.rs` | results handed out one job at a time (`stream`, `finish`) |
//! | `recover.rs` | resume from the run record, or a job's ARN as a run of one |
//! | `retry.rs` | retrying failed records |
//! | `preflight.rs` | the preflight report, the budget |
//! | `results.rs`, `cost.rs` | results with usage, prices |

mod builder;
mod config;
mod connect;
mod download;
mod engine;
mod follow_up;
mod jobs;
mod landing;
mod line;
mod media;
pub(crate) mod names;
mod on_demand;
mod options;
mod preflight;
mod prepare;
mod python_names;
mod read;
mod reask;
mod record;
mod recover;
mod results;
mod retry;
mod schedule;
mod spool;
pub mod state;
mod steps;
mod stream;
mod stretch;
mod upload;

use std::marker::PhantomData;
use std::sync::Arc;

use crate::mode::{Embeddings, OutputMode, Structured, Untyped};
pub use builder::{
    ApiBuilder, BucketNameIsSet, Configured, InfererBuilder, JobNameIsSet, ModelNameIsSet,
    ProgressCallback, RegionIsSet, RoleArnIsSet, Set, Unset,
};
pub use jobs::Jobs;
pub use reask::ReaskRound;
pub use record::{RunRecord, ShardEntry};
pub use results::{RecordInfo, RunResults, RunSummary};
pub use retry::{RetryOptions, RetryOutcome};
pub use schedule::{PollConfig, PollPace};
pub use stream::RecordStream;

use crate::progress::Progress;

use crate::adapter::object::ModelProviderAdapter;
use config::JobConfig;
use record::RunShared;
use state::{Ready, State, Submitted};

/// A batch inference job, or a run of several, at one step of its lifecycle.
///
/// Use it through its names: [`BatchInferer`] (untyped results),
/// [`StructuredBatchInferer<T>`] (results parsed into `T`) and [`BatchRun`] (the same type,
/// named for a run). Each step consumes the value and returns the next state, so steps cannot
/// be called out of order: the table of states and steps is in [`state`](crate::state).
///
/// `auto(inputs, interval)` runs every step. The run record
/// (`s3://<bucket>/input/<job name>.run.json`) is written from `Uploaded` on, so any run,
/// a single job included, can be resumed from another process.
#[must_use = "a job does nothing until its next step is called, and a submitted one runs (and is billed) until it ends"]
pub struct Inferer<O: OutputMode, S: State = Ready> {
    pub(crate) config: Arc<JobConfig>,
    pub(crate) run: Arc<RunShared>,
    pub(crate) data: S::Data,
    pub(crate) _mode: PhantomData<fn() -> O>,
}

/// An inferer whose results are the raw model outputs (`serde_json::Value`).
pub type BatchInferer<S = Ready> = Inferer<Untyped, S>;

/// An inferer whose results are parsed into `T`, through a tool the model is forced to call.
pub type StructuredBatchInferer<T, S = Ready> = Inferer<Structured<T>, S>;

/// An inferer whose records are texts and whose results are their [`Embedding`](crate::embedding::Embedding)s,
/// in input order (Titan Text Embeddings V2, Nova 2 multimodal embeddings).
pub type EmbeddingBatchInferer<S = Ready> = Inferer<Embeddings, S>;

/// A run of one or more jobs, resumable from its record in S3: the same type as
/// [`Inferer`], named for a run, by default `Submitted` (a run in flight).
///
/// | state | step | next |
/// |---|---|---|
/// | `Ready` | [`prepare_run(inputs)?`](Inferer::prepare_run) | `Prepared` |
/// | `Prepared` | [`push_requests_to_s3().await?`](Inferer::push_requests_to_s3) | `Uploaded` |
/// | `Uploaded` | [`create().await?`](Inferer::create) | `Submitted` |
/// | `Submitted` | [`poll_progress(interval).await?`](Inferer::poll_progress) or [`cancel_batch().await?`](Inferer::cancel_batch) | `Finished` |
/// | `Finished` | [`download_results().await?`](Inferer::download_results) | `Downloaded` |
/// | `Downloaded` | [`load_results()?`](Inferer::load_results) | [`BatchResults`](crate::BatchResults) |
///
/// From `Uploaded`, `Submitted` or `Finished`, [`stream`](Inferer::stream) and
/// [`finish`](Inferer::finish) do the rest at once, downloading each job as it ends.
/// [`BatchRun::resume`](Inferer::resume) picks a run up in another process as `Submitted`.
pub type BatchRun<O, S = Submitted> = Inferer<O, S>;

impl<O: OutputMode, S: State> Clone for Inferer<O, S>
where
    S::Data: Clone,
{
    /// Another handle on the same job or run (the run record is shared).
    fn clone(&self) -> Self {
        Inferer {
            config: Arc::clone(&self.config),
            run: Arc::clone(&self.run),
            data: self.data.clone(),
            _mode: PhantomData,
        }
    }
}

impl<O: OutputMode, S: State> std::fmt::Debug for Inferer<O, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.config;
        f.debug_struct("Inferer")
            .field("model_name", &c.settings.model_name)
            .field("bucket", &c.settings.bucket)
            .field("region", &c.region)
            .field("job_name", &c.settings.job_name)
            .field("adapter", &c.adapter.name())
            .field("state", &std::any::type_name::<S>())
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

    /// Settings for a run on Anthropic's Message Batches API: `model_name` (Anthropic's name,
    /// e.g. `claude-haiku-4-5`) and `job_name` are required; the key is `ANTHROPIC_API_KEY`
    /// or [`api_key`](InfererBuilder::api_key), and the run is kept in a local folder
    /// ([`store`](InfererBuilder::store), default `./llmbo-runs`). After `build()` the steps
    /// are the same as on Bedrock.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), llmbo::Error> {
    /// # #[derive(serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)] struct Person { name: String }
    /// let inferer = llmbo::StructuredBatchInferer::<Person>::anthropic()
    ///     .model_name("claude-haiku-4-5")
    ///     .job_name("people-2026-12")
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "anthropic")]
    pub fn anthropic() -> ApiBuilder<O> {
        ApiBuilder::for_provider(crate::model::Provider::Anthropic)
    }

    /// Settings for a run on OpenAI's Batch API (chat completions): `model_name` (OpenAI's
    /// name, e.g. `gpt-4o-mini`) and `job_name` are required; the key is `OPENAI_API_KEY` or
    /// [`api_key`](InfererBuilder::api_key), the base URL `OPENAI_BASE_URL` (with its `/v1`)
    /// or [`base_url`](InfererBuilder::base_url), and the run is kept in a local folder
    /// ([`store`](InfererBuilder::store), default `./llmbo-runs`). After `build()` the steps
    /// are the same as on Bedrock.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), llmbo::Error> {
    /// # #[derive(serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)] struct Person { name: String }
    /// let inferer = llmbo::StructuredBatchInferer::<Person>::openai()
    ///     .model_name("gpt-4o-mini")
    ///     .job_name("people-2026-12")
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "openai")]
    pub fn openai() -> ApiBuilder<O> {
        ApiBuilder::for_provider(crate::model::Provider::OpenAi)
    }

    /// Settings for a run on the Gemini API's batch mode: `model_name` (Google's name, e.g.
    /// `gemini-2.5-flash`) and `job_name` are required; the key is `GEMINI_API_KEY` or
    /// [`api_key`](InfererBuilder::api_key), the base URL `GEMINI_BASE_URL` (or the SDK's
    /// `GOOGLE_GEMINI_BASE_URL`) or [`base_url`](InfererBuilder::base_url), and the run is
    /// kept in a local folder ([`store`](InfererBuilder::store), default `./llmbo-runs`).
    /// After `build()` the steps are the same as on Bedrock.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), llmbo::Error> {
    /// # #[derive(serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)] struct Person { name: String }
    /// let inferer = llmbo::StructuredBatchInferer::<Person>::gemini()
    ///     .model_name("gemini-2.5-flash")
    ///     .job_name("people-2026-12")
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "gemini")]
    pub fn gemini() -> ApiBuilder<O> {
        ApiBuilder::for_provider(crate::model::Provider::Gemini)
    }

    pub(crate) fn from_config(config: JobConfig) -> Self {
        let run = Arc::new(RunShared::empty(&config));
        Inferer {
            config: Arc::new(config),
            run,
            data: (),
            _mode: PhantomData,
        }
    }
}

impl<O: OutputMode, S: State> Inferer<O, S> {
    /// The same run in another state.
    pub(crate) fn with_data<S2: State>(self, data: S2::Data) -> Inferer<O, S2> {
        Inferer {
            config: self.config,
            run: self.run,
            data,
            _mode: PhantomData,
        }
    }

    /// Another handle on the same run in another state.
    pub(crate) fn handle<S2: State>(&self, data: S2::Data) -> Inferer<O, S2> {
        Inferer {
            config: Arc::clone(&self.config),
            run: Arc::clone(&self.run),
            data,
            _mode: PhantomData,
        }
    }

    /// The model id.
    pub fn model_name(&self) -> &str {
        &self.config.settings.model_name
    }

    /// The job name (a run's jobs are this, or this with `-1`, `-2`, … when split).
    pub fn job_name(&self) -> &str {
        &self.config.settings.job_name
    }

    /// The bucket.
    pub fn bucket_name(&self) -> &str {
        &self.config.settings.bucket
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.config.region
    }

    /// The adapter that writes and reads this job's bodies.
    pub fn adapter(&self) -> &Arc<dyn ModelProviderAdapter> {
        &self.config.adapter
    }

    /// How a structured job asks for its answers (chosen at `build()`, or read back from the
    /// run record); `None` for an untyped job without an output tool.
    pub fn output_strategy(&self) -> Option<crate::output::OutputStrategy> {
        let structured = self.config.settings.tool.is_some() || O::tool().is_some();
        structured.then(|| {
            self.config
                .settings
                .output_strategy
                .unwrap_or_else(|| crate::adapter::legacy_strategy(self.config.adapter.as_ref()))
        })
    }

    /// Where the run record is: `s3://<bucket>/input/<job name>.run.json` on Bedrock,
    /// `<store>/input/<job name>.run.json` on the other batch APIs.
    pub fn run_uri(&self) -> String {
        self.config.url(&crate::layout::run_key(self.job_name()))
    }

    /// A client for the jobs of the batch API this run is on: describe, list, stop, and
    /// read a job's counts, whichever provider it is.
    pub fn jobs_client(&self) -> Jobs {
        Jobs::of(Arc::clone(&self.config.backend))
    }

    /// The batch API the run's jobs are on.
    pub fn provider(&self) -> crate::model::Provider {
        self.config.settings.provider
    }

    /// The run record as this handle knows it (jobs planned from `Prepared` on).
    pub fn run_record(&self) -> RunRecord {
        self.run.snapshot()
    }

    /// The run record; renamed [`run_record`](Self::run_record) (the run's record is not a
    /// Bedrock [`Manifest`](crate::Manifest)).
    #[deprecated(since = "0.2.0", note = "renamed `run_record`")]
    #[doc(hidden)]
    pub fn manifest(&self) -> RunRecord {
        self.run_record()
    }

    /// Sends each progress report of the run's jobs (uploads, polls, downloads) to `callback`,
    /// as the builder's `on_progress` does; a resumed run has none until given one.
    pub fn on_progress(mut self, callback: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        Arc::make_mut(&mut self.config).progress = Some(Arc::new(callback));
        self
    }
}

impl<S: State> Inferer<Untyped, S> {
    /// Holds each answer of a run-time output tool ([`output_tool`](InfererBuilder::output_tool))
    /// to `check`, a JSON-schema validator say: an answer it refuses becomes that record's
    /// error (`RecordError::ToolInputInvalid` with the path is the usual one), which
    /// [`retry_failed`](Inferer::retry_failed) can re-ask. Not persisted: a resumed run has
    /// none until given one.
    pub fn check_outputs(
        mut self,
        check: impl Fn(&serde_json::Value) -> Result<(), crate::error::RecordError>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Arc::make_mut(&mut self.config).output_check = Some(Arc::new(check));
        self
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
