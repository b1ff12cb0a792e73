//! # llmbo — typed AWS Bedrock batch inference
//!
//! Bedrock batch jobs cost about half of on-demand inference. llmbo turns thousands to
//! millions of prompts into Bedrock batch jobs and gives back one result per record, parsed
//! into your own Rust type.
//!
//! The output type is a struct that derives [`BatchOutput`] beside serde's `Deserialize` and
//! schemars' `JsonSchema`: it becomes a tool the model is forced to call, and the tool's input
//! is parsed back into the struct.
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
//! assert_eq!(tool.input_schema["type"], "object");
//! let input = ModelInput::new().user("Ada Lovelace was 36.");
//! assert!(input.validate().is_ok());
//! ```
#![warn(missing_docs)]

pub mod adapter;
#[cfg(feature = "aws")]
mod aws;
mod error;
#[cfg(feature = "aws")]
mod files;
mod input;
mod input_file;
#[cfg(feature = "aws")]
mod job;
pub mod jsonl;
mod manifest;
mod output;

#[doc(hidden)]
pub mod __private {
    pub use crate::derive_support::*;
}
mod derive_support;
mod strict_json;

pub use adapter::{InvocationType, ModelAdapterRegistry, ModelProviderAdapter, Usage};
pub use error::{Error, RecordError};
#[cfg(feature = "aws")]
pub use job::{
    BatchInferer, BatchRun, Inferer, InfererBuilder, JobDetails, JobStatus, Jobs, OutputMode,
    Progress, Recovered, RunManifest, ShardEntry, ShardLimits, Stage, Structured,
    StructuredBatchInferer, Untyped, plan_shards, state,
};
/// The builder's type-level markers for required settings.
#[cfg(feature = "aws")]
pub mod builder {
    pub use crate::job::{
        BucketNameIsSet, JobNameIsSet, ModelNameIsSet, ProgressCallback, RegionIsSet, RoleArnIsSet,
        Set, Unset,
    };
}
/// The AWS SDK configuration type the builder takes.
#[cfg(feature = "aws")]
pub use aws_config::SdkConfig;
pub use input::{Message, ModelInput, Role, ToolChoice};
/// Derives [`BatchOutput`](trait@BatchOutput); see the trait for the attributes.
pub use llmbo_derive::BatchOutput;
pub use manifest::Manifest;
pub use output::{BatchOutput, BatchResults, RecordResult, ToolDefinition};

/// The `schemars` this crate generates schemas with; derive `JsonSchema` from it if you
/// prefer not to depend on `schemars` yourself.
pub use schemars;
/// The `serde_json` this crate's values come from.
pub use serde_json;
