//! # llmbo — typed AWS Bedrock batch inference
//!
//! Bedrock batch jobs cost about half of on-demand inference. llmbo turns thousands to
//! millions of prompts into Bedrock batch jobs and gives back one result per record, parsed
//! into your own Rust type: it writes the JSONL, uploads it, creates the job(s), follows them,
//! downloads the output and joins it back to your records in input order.
//!
//! ## The output type
//!
//! A struct that derives [`BatchOutput`] beside serde's `Deserialize` and schemars'
//! `JsonSchema` becomes a tool the model is forced to call (its doc comments become the
//! descriptions), and the tool's input is parsed back into the struct.
//!
//! ```
//! use llmbo::{BatchOutput, ModelInput};
//!
//! /// A person named in the text.
//! #[derive(Debug, serde::Deserialize, schemars::JsonSchema, BatchOutput)]
//! struct Person {
//!     /// Full name as written.
//!     name: String,
//!     age: Option<u32>,
//! }
//!
//! let tool = Person::tool_definition();
//! assert_eq!(tool.name, "Person");
//! assert_eq!(tool.description, "A person named in the text.");
//! assert_eq!(tool.input_schema["properties"]["name"]["description"], "Full name as written.");
//! let input = ModelInput::new().user("Ada Lovelace was 36.");
//! assert!(input.validate().is_ok());
//! ```
//!
//! ## One call
//!
//! [`Inferer::auto`] runs every step. The examples here run against
//! [`llmbo-local`](https://docs.rs/llmbo-local), an offline Bedrock; on AWS, leave out
//! `sdk_config` (the usual credential chain is used) and give your own bucket and role.
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # #[derive(Debug, serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)]
//! # struct Person { name: String, age: Option<u32> }
//! use std::time::Duration;
//! use llmbo::{ModelInput, StructuredBatchInferer};
//!
//! let local = llmbo_local::LocalBedrock::start().await?;
//! let inputs = (0..100).map(|i| (format!("r{i:03}"), ModelInput::new().user(format!("Ada Lovelace, {i}."))));
//! let results = StructuredBatchInferer::<Person>::builder()
//!     .model_name("anthropic.claude-3-haiku-20240307-v1:0")
//!     .bucket_name(local.bucket())
//!     .region(local.region())
//!     .job_name("people")
//!     .role_arn(local.role_arn())
//!     .sdk_config(local.sdk_config())
//!     .build()
//!     .await?
//!     .auto(inputs, Duration::from_millis(20))
//!     .await?;
//! assert_eq!(results.len(), 100);
//! for record in &results.records {
//!     match &record.outcome {
//!         Ok(person) => assert!(!person.name.is_empty()),
//!         Err(why) => println!("{}: {why}", record.record_id),
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! ## The lifecycle, step by step
//!
//! An [`Inferer`] carries its step in its type; each step consumes it and returns the next,
//! so a step called out of order, or twice, does not compile. The table of states and steps
//! is in [`state`], each state with a runnable example.
//!
//! A process that dies after `create` loses nothing: the job's ARN is enough to rebuild the
//! inferer, with its records read back from the input in S3
//! ([`Inferer::recover`]; the Python llmbo's `recover_structured_job` and
//! `recover_details_from_job_arn`).
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # #[derive(Debug, serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)]
//! # struct Person { name: String }
//! # let local = llmbo_local::LocalBedrock::start().await?;
//! # let inputs = (0..100).map(|i| (format!("r{i:03}"), llmbo::ModelInput::new().user(format!("Ada Lovelace, {i}."))));
//! use std::time::Duration;
//! use llmbo::{Recovered, StructuredBatchInferer};
//!
//! let submitted = StructuredBatchInferer::<Person>::builder()
//!     .model_name("anthropic.claude-3-haiku-20240307-v1:0")
//!     .bucket_name(local.bucket())
//!     .region(local.region())
//!     .job_name("people-steps")
//!     .role_arn(local.role_arn())
//!     .sdk_config(local.sdk_config())
//!     .build().await?
//!     .prepare_requests(inputs)?
//!     .push_requests_to_s3().await?
//!     .create().await?;
//! let arn = submitted.job_arn().to_owned();
//! drop(submitted); // the process "dies"
//!
//! let finished = match StructuredBatchInferer::<Person>::recover(&arn, local.region(), Some(local.sdk_config())).await? {
//!     Recovered::Running(job) => job.poll_progress(Duration::from_millis(20)).await?,
//!     Recovered::Finished(job) => job,
//! };
//! let results = finished.download_results().await?.load_results()?;
//! assert_eq!(results.len(), 100);
//! # Ok(()) }
//! ```
//!
//! ## Runs larger than one job
//!
//! A Bedrock job holds at most 50,000 records and about 1 GB (default quotas). `auto` splits a
//! larger run into even jobs (`max_records_per_job`, `max_input_bytes_per_job`), runs at most
//! `max_concurrent_jobs` at once and merges the results in input order. Its
//! [`BatchRun`] record ([`run::RunRecord`]) is kept in S3, so [`BatchRun::resume`] finishes a run from another
//! process without creating any job twice.
//!
//! Step by step, a run goes through the same states, with the same step names, as one job:
//! `prepare_run(inputs)?` → `BatchRun<_, Prepared>`, then `push_requests_to_s3`, `create`,
//! `poll_progress` (or `cancel_batch`), `download_results`, `load_results`.
//! [`BatchRun::stream`] reads a run of any size record by record in constant memory.
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let local = llmbo_local::LocalBedrock::start().await?;
//! # #[derive(Debug, serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)]
//! # struct Person { name: String }
//! # let inputs = (0..300).map(|i| (format!("r{i:03}"), llmbo::ModelInput::new().user(format!("Ada Lovelace, {i}."))));
//! use std::time::Duration;
//! use llmbo::mode::Structured;
//! use llmbo::{BatchRun, StructuredBatchInferer, state::Prepared};
//!
//! let prepared: BatchRun<Structured<Person>, Prepared> = StructuredBatchInferer::<Person>::builder()
//!     .model_name("anthropic.claude-3-haiku-20240307-v1:0")
//!     .bucket_name(local.bucket())
//!     .region(local.region())
//!     .job_name("people-run")
//!     .role_arn(local.role_arn())
//!     .sdk_config(local.sdk_config())
//!     .max_records_per_job(100)
//!     .build().await?
//!     .prepare_run(inputs)?;
//! assert_eq!(prepared.run_record().shards.len(), 3); // people-run-1, -2, -3
//! let results = prepared
//!     .push_requests_to_s3().await?
//!     .create().await?
//!     .poll_progress(Duration::from_millis(20)).await?
//!     .download_results().await?
//!     .load_results()?;
//! assert_eq!(results.len(), 300);
//! # Ok(()) }
//! ```
//!
//! ## Progress
//!
//! The builder's `on_progress` callback gets a [`Progress`] report while requests upload
//! (records and bytes), at every poll (Bedrock's counters) and while outputs download; the
//! same numbers go to `tracing`.
//!
//! ## Model families
//!
//! One [`ModelInput`] works for every family: Anthropic Claude, Amazon Nova, Mistral (prompt
//! and chat), Meta Llama, OpenAI gpt-oss and the Converse invocation type; the
//! [`adapter`] module has one adapter per family, and [`ModelAdapterRegistry`] takes yours
//! (a [`ModelProviderAdapter`]: a [`RequestWriter`](adapter::RequestWriter) and an
//! [`AnswerReader`](adapter::AnswerReader)).
//!
//! ## Command line
//!
//! The `llmbo` binary (crate `llmbo-cli`) submits a JSONL file, watches jobs with a progress
//! bar and downloads results: `llmbo submit`, `status`, `list`, `cancel`, `watch`, `download`.
//! [`input_file::read_input_file`] is its input reader, with every bad line named by file and line.
//!
//! ## The names of the Python llmbo
//!
//! The Python llmbo's names are kept, so code and habits carry over: each of these is an alias
//! of the Rust-style name and does exactly what it does (rustdoc marks each "the name in the
//! Python llmbo", and a search for it finds the Rust name). The lifecycle's steps
//! (`prepare_requests`, `push_requests_to_s3`, `create`, `check_complete`, `poll_progress`,
//! `cancel_batch`, `download_results`, `load_results`, `auto`) and the builder's required
//! settings have the Python names as their only names: they are the vocabulary of both.
//!
//! | the name in the Python llmbo | the Rust name |
//! |---|---|
//! | `time_out_duration_hours(h)` | [`timeout_hours`](builder::InfererBuilder::timeout_hours) |
//! | `BatchInferer::recover_details_from_job_arn(arn, region, sdk)` | [`BatchInferer::recover`](Inferer::recover) |
//! | `StructuredBatchInferer::recover_structured_job(arn, region, sdk)` | [`StructuredBatchInferer::recover`](Inferer::recover) |
//! | `BatchInferer::check_for_existing_job(arn, region, sdk)` | [`describe_job`](Inferer::describe_job) |
//! | `unique_id_from_arn()` | `job_id()`, on a submitted, finished or downloaded inferer |
//!
//! ## Where things are
//!
//! The root holds what a typed-extraction program needs: the inferers and the run, the input,
//! the output type and its results, the errors, and the adapter registry. [`prelude`] imports
//! them with the derive. Everything else lives in the module of its concern, at one path:
//!
//! | module | what is in it |
//! |---|---|
//! | [`state`] | the lifecycle's states and the table of steps |
//! | [`builder`] | the builder, its required-setting markers and what it takes (SDK config, retry and poll policies) |
//! | [`run`] | a run's record in S3, its jobs, results and summary, streaming, retries and re-asks, the shard plan |
//! | [`input`] | a record's messages, roles and tool choice; JSONL input files |
//! | [`mode`] | what a record becomes: untyped, structured or an embedding; reading one output line |
//! | [`adapter`] | one adapter per model family, the output strategies' model table |
//! | [`model`] | what a model id says: its family and request rules |
//! | [`schema`] | the strict JSON-schema form and its limits |
//! | [`embedding`] | embeddings and their settings |
//! | [`status`] | a job's status and details, and progress stages |
//! | [`settings`] | every creation setting a run keeps |
//! | [`cost`] | prices, and the token and cost estimate |
//! | [`preflight`] | the checks before anything is billed |
//! | [`jsonl`] | the batch line formats, as pure functions |
//!
//! ### Paths that moved in 0.2
//!
//! The old root paths still resolve for one release (hidden from these docs):
//!
//! | 0.1 | 0.2 |
//! |---|---|
//! | `llmbo::RunManifest`, `BatchRun::manifest()` | [`run::RunRecord`], [`BatchRun::run_record`] |
//! | `llmbo::{RunResults, RunSummary, RecordInfo, RecordStream, ShardEntry, ReaskRound, RetryOutcome, Jobs, ShardLimits, MODEL_MAX_RECORDS, plan_shards}` | [`llmbo::run`](run) |
//! | `llmbo::{InfererBuilder, PollConfig, PollPace, SdkConfig, RetryConfig}` | [`llmbo::builder`](builder) |
//! | `llmbo::{Message, Role, ToolChoice, InputProblem}`, `llmbo::jsonl::{read_input_file, read_input, InputFile, InputProblems, LineProblem}` | [`llmbo::input`](input) |
//! | `llmbo::{OutputMode, OutputCheck, Structured, Untyped}`, `llmbo::jsonl::parse_output_line_as` (now with the output request, so every strategy reads as in a run) | [`llmbo::mode`](mode) |
//! | `llmbo::{JobStatus, JobDetails, Stage}` | [`llmbo::status`](status) |
//! | `llmbo::{RunSettings, VpcSettings, SERVICE_TIERS}` | [`llmbo::settings`](settings) |
//! | `llmbo::{Price, PriceTable, CostEstimate}`, `llmbo::preflight::{TokenEstimate, TokenEstimator, CostRange, CHARS_PER_TOKEN, DEFAULT_OUTPUT_BOUND, chars_per_token}` | [`llmbo::cost`](cost) |
//! | `llmbo::{Embedding, EmbeddingPurpose, EmbeddingSettings, Truncation, is_embedding_model}` | [`llmbo::embedding`](embedding) |
//! | `llmbo::{strict_schema, strict_schema_with, StrictLimits, StrictSchemaError}` | [`llmbo::schema`](schema) |
//! | `llmbo::{InvocationType, Usage}`, `llmbo::adapter::{ModelProviderAdapter, ModelAdapterRegistry, OutputStrategy}` | [`llmbo::adapter`](adapter); the last three at the root |
//! | `llmbo::adapter::normalize_model_id`, `llmbo::preflight::RequestFamily` | [`llmbo::model`](model) |
//! | `ModelProviderAdapter`'s 18 methods | [`RequestWriter`](adapter::RequestWriter), [`AnswerReader`](adapter::AnswerReader), [`EmbeddingReader`](adapter::EmbeddingReader); `build_tool` is an inherent method of each built-in adapter |
//!
//! ## Features
//!
//! - `aws` (default): the job lifecycle against AWS. Without it, only the typed core
//!   (the derive, schemas, adapters, JSONL) is built.
//! - `service-quotas` (default, implies `aws`): per-model batch quotas read from Service
//!   Quotas for the shard plan and the preflight; without it, Bedrock's documented defaults
//!   are used.
#![warn(missing_docs)]

// Modules that define a name of the root live privately; the root re-exports the name, so each
// name has one path. Modules named after a concern are public and define their names.
pub mod adapter;
#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "aws")]
mod backend;
#[cfg(feature = "_http")]
mod batch_api;
pub mod cost;
#[doc(hidden)]
pub mod __private {
    pub use crate::derive_support::*;
}
mod derive_support;
pub mod embedding;
mod error;
#[cfg(feature = "aws")]
mod files;
mod findings;
mod input_file;
#[cfg(feature = "aws")]
mod job;
pub mod jsonl;
#[cfg(feature = "aws")]
mod layout;
mod manifest;
mod media;
pub mod mode;
pub mod model;
mod model_input;
mod output;
pub mod preflight;
#[cfg(feature = "aws")]
mod progress;
pub mod schema;
#[cfg(feature = "aws")]
pub mod settings;
#[cfg(feature = "aws")]
mod shards;
#[cfg(feature = "aws")]
pub mod status;
#[cfg(feature = "aws")]
mod store;
mod strict_json;
#[cfg(feature = "tables")]
pub mod table;

pub use adapter::ModelProviderAdapter;
pub use adapter::registry::ModelAdapterRegistry;
pub use error::{AwsErrorKind, Error, RecordError};
#[cfg(feature = "aws")]
pub use job::{
    BatchInferer, BatchRun, EmbeddingBatchInferer, Inferer, Recovered, RetryOptions,
    StructuredBatchInferer, state,
};
/// Derives [`BatchOutput`](trait@BatchOutput); see the trait for the attributes.
pub use llmbo_derive::BatchOutput;
pub use manifest::Manifest;
pub use model_input::ModelInput;
pub use output::{BatchOutput, BatchResults, OutputStrategy, RecordResult, ToolDefinition};
#[cfg(feature = "aws")]
pub use progress::Progress;

/// The `schemars` this crate generates schemas with; derive `JsonSchema` from it if you
/// prefer not to depend on `schemars` yourself.
pub use schemars;
/// The `serde_json` this crate's values come from.
pub use serde_json;

/// The derive and the traits a program using llmbo calls methods of, for a glob import.
///
/// ```
/// use llmbo::prelude::*;
///
/// #[derive(Debug, serde::Deserialize, schemars::JsonSchema, BatchOutput)]
/// struct Person { name: String }
///
/// assert_eq!(Person::tool_definition().name, "Person");
/// let _input = ModelInput::new().user("Ada");
/// ```
pub mod prelude {
    pub use crate::adapter::{AnswerReader, EmbeddingReader, RequestWriter};
    #[cfg(feature = "aws")]
    pub use crate::{BatchInferer, BatchRun, EmbeddingBatchInferer, StructuredBatchInferer};
    pub use crate::{BatchOutput, ModelInput, ModelProviderAdapter};
}

/// The builder and what it takes: the markers of its required settings (so a function can take
/// a [`Configured`](builder::Configured) builder), the AWS SDK's configuration and retry policy, and the poll policy.
#[cfg(feature = "aws")]
pub mod builder {
    pub use crate::job::{
        ApiBuilder, BucketNameIsSet, Configured, InfererBuilder, JobNameIsSet, ModelNameIsSet,
        PollConfig, PollPace, ProgressCallback, RegionIsSet, RoleArnIsSet, Set, Unset,
    };
    /// The AWS SDK configuration type the builder takes.
    pub use aws_config::SdkConfig;
    /// The AWS SDK's retry policy, for the builder's `retry_config`.
    pub use aws_config::retry::RetryConfig;
}

/// A run: its record in S3 (the single source of truth any process resumes from), its jobs and
/// the plan that split the records into them, its results and summary, the record stream, and
/// what retries and re-asks did.
#[cfg(feature = "aws")]
pub mod run {
    pub use crate::job::{
        Jobs, ReaskRound, RecordInfo, RecordStream, RetryOutcome, RunRecord, RunResults,
        RunSummary, ShardEntry,
    };
    pub use crate::shards::{MODEL_MAX_RECORDS, ShardLimits, plan_shards};

    /// The run record's name before 0.2.
    #[deprecated(since = "0.2.0", note = "renamed `llmbo::run::RunRecord`")]
    #[doc(hidden)]
    pub type RunManifest = RunRecord;
}

/// What goes in: a record's messages, their roles and the tool choice (the record itself is
/// [`ModelInput`]), why a record is refused, and JSONL input files written by
/// a person or another tool, every bad line named by file and line.
pub mod input {
    pub use crate::error::{InputProblem, RowProblems, TableProblems};
    pub use crate::input_file::{
        InputFile, InputProblems, LineProblem, read_input, read_input_file,
    };
    pub use crate::media::{
        MEDIA_MODELS, Measure, Media, MediaFormat, MediaKind, MediaSource, MediaSupport, Part,
        S3Media, measure, media_support, media_tokens,
    };
    pub use crate::model_input::{Message, Role, ToolChoice};
}

// The root paths of 0.1, kept for one release; the crate docs' table says where each went.
#[doc(hidden)]
pub use {
    adapter::{InvocationType, Usage},
    cost::{CostEstimate, Price, PriceTable},
    embedding::{Embedding, EmbeddingPurpose, EmbeddingSettings, Truncation},
    error::InputProblem,
    model_input::{Message, Role, ToolChoice},
    schema::{StrictLimits, StrictSchemaError, strict_schema, strict_schema_with},
};
#[cfg(feature = "aws")]
#[doc(hidden)]
pub use {
    aws_config::SdkConfig,
    aws_config::retry::RetryConfig,
    embedding::is_embedding_model,
    job::{
        InfererBuilder, Jobs, PollConfig, PollPace, ReaskRound, RecordInfo, RecordStream,
        RetryOutcome, RunResults, RunSummary, ShardEntry,
    },
    mode::{OutputCheck, OutputMode, Structured, Untyped},
    settings::{RunSettings, SERVICE_TIERS, VpcSettings},
    shards::{MODEL_MAX_RECORDS, ShardLimits, plan_shards},
    status::{JobDetails, JobStatus, Stage},
};
/// The run record's name before 0.2.
#[cfg(feature = "aws")]
#[deprecated(since = "0.2.0", note = "renamed `llmbo::run::RunRecord`")]
#[doc(hidden)]
pub type RunManifest = job::RunRecord;
