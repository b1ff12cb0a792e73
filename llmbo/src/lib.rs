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
//! so a step called out of order, or twice, does not compile. Each state in [`state`] has a
//! runnable example.
//!
//! | state | step | next |
//! |---|---|---|
//! | [`state::Ready`] | `prepare_requests(inputs)?` | `Prepared` |
//! | [`state::Prepared`] | `push_requests_to_s3().await?` | `Uploaded` |
//! | [`state::Uploaded`] | `create().await?` | `Submitted` (`job_arn()`) |
//! | [`state::Submitted`] | `check_complete().await?` | `Option<JobStatus>` (by `&mut self`) |
//! | [`state::Submitted`] | `poll_progress(interval).await?` or `cancel_batch().await?` | `Finished` |
//! | [`state::Finished`] | `download_results().await?` | `Downloaded` |
//! | [`state::Downloaded`] | `load_results()?` | [`BatchResults`] |
//!
//! A process that dies after `create` loses nothing: the job's ARN is enough to rebuild the
//! inferer, with its records read back from the input in S3
//! ([`StructuredBatchInferer::recover_structured_job`],
//! [`BatchInferer::recover_details_from_job_arn`]).
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
//! let finished = match StructuredBatchInferer::<Person>::recover_structured_job(&arn, local.region(), Some(local.sdk_config())).await? {
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
//! [`BatchRun`] manifest is kept in S3, so [`BatchRun::resume`] finishes a run from another
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
//! use llmbo::{BatchRun, Structured, StructuredBatchInferer, state::Prepared};
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
//! assert_eq!(prepared.manifest().shards.len(), 3); // people-run-1, -2, -3
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
//! [`adapter`] module has one adapter per family, and [`ModelAdapterRegistry`] takes yours.
//!
//! ## Command line
//!
//! The `llmbo` binary (crate `llmbo-cli`) submits a JSONL file, watches jobs with a progress
//! bar and downloads results: `llmbo submit`, `status`, `list`, `cancel`, `watch`, `download`.
//! [`input_file::read_input_file`] is its input reader, with every bad line named by file and line.
//!
//! ## Features
//!
//! - `aws` (default): the job lifecycle against AWS. Without it, only the typed core
//!   (the derive, schemas, adapters, JSONL) is built.
//! - `service-quotas` (default, implies `aws`): per-model batch quotas read from Service
//!   Quotas for the shard plan and the preflight; without it, Bedrock's documented defaults
//!   are used.
#![warn(missing_docs)]

pub mod adapter;
#[cfg(feature = "aws")]
mod aws;
pub mod cost;
mod embedding;
mod error;
#[cfg(feature = "aws")]
mod files;
mod findings;
mod input;
pub mod input_file;
#[cfg(feature = "aws")]
mod job;
pub mod jsonl;
#[cfg(feature = "aws")]
mod layout;
mod manifest;
pub mod mode;
pub mod model;
mod output;
pub mod preflight;

#[doc(hidden)]
pub mod __private {
    pub use crate::derive_support::*;
}
mod derive_support;
#[cfg(feature = "aws")]
mod settings;
#[cfg(feature = "aws")]
mod shards;
#[cfg(feature = "aws")]
mod status;
mod strict_json;
mod strict_schema;

pub use adapter::{InvocationType, ModelAdapterRegistry, ModelProviderAdapter, Usage};
#[doc(hidden)]
pub use cost::{CostEstimate, Price, PriceTable};
#[cfg(feature = "aws")]
pub use embedding::is_embedding_model;
pub use embedding::{Embedding, EmbeddingPurpose, EmbeddingSettings, Truncation};
pub use error::{AwsErrorKind, Error, InputProblem, RecordError};
#[cfg(feature = "aws")]
pub use job::{
    BatchInferer, BatchRun, EmbeddingBatchInferer, Embeddings, Inferer, InfererBuilder, JobDetails,
    JobStatus, Jobs, MODEL_MAX_RECORDS, OutputCheck, OutputMode, PollConfig, PollPace, Progress,
    ReaskRound, RecordInfo, RecordStream, Recovered, RetryOptions, RetryOutcome, RunManifest,
    RunResults, RunSettings, RunSummary, ShardEntry, ShardLimits, Stage, Structured,
    StructuredBatchInferer, Untyped, VpcSettings, plan_shards, state,
};
pub use output::OutputStrategy;
/// The builder's type-level markers for required settings.
#[cfg(feature = "aws")]
pub mod builder {
    pub use crate::job::{
        BucketNameIsSet, Configured, JobNameIsSet, ModelNameIsSet, ProgressCallback, RegionIsSet,
        RoleArnIsSet, Set, Unset,
    };
}
/// The AWS SDK configuration type the builder takes.
#[cfg(feature = "aws")]
pub use aws_config::SdkConfig;
/// The AWS SDK's retry policy, for the builder's `retry_config`.
#[cfg(feature = "aws")]
pub use aws_config::retry::RetryConfig;
pub use input::{Message, ModelInput, Role, ToolChoice};
/// Derives [`BatchOutput`](trait@BatchOutput); see the trait for the attributes.
pub use llmbo_derive::BatchOutput;
pub use manifest::Manifest;
pub use output::{BatchOutput, BatchResults, RecordResult, ToolDefinition};
#[cfg(feature = "aws")]
pub use settings::SERVICE_TIERS;
pub use strict_schema::{StrictLimits, StrictSchemaError, strict_schema, strict_schema_with};

/// The `schemars` this crate generates schemas with; derive `JsonSchema` from it if you
/// prefer not to depend on `schemars` yourself.
pub use schemars;
/// The `serde_json` this crate's values come from.
pub use serde_json;
