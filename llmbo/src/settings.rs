//! Every setting that decides how a run's jobs are created and read: what the run record
//! persists and the idempotency token covers.
//!
//! A new `CreateModelInvocationJob` setting touches three places: a field of [`RunSettings`]
//! here (persisted and restored with the run, and part of the idempotency token, which hashes
//! the whole struct), its builder method (`job/builder.rs`), and the create call in `aws.rs`.

use serde::{Deserialize, Serialize};

use crate::adapter::InvocationType;
use crate::model::Provider;
use crate::output::OutputStrategy;
use crate::output::ToolDefinition;
use crate::shards::ShardLimits;
use crate::status::JobDetails;

/// A job's VPC: the subnets and security groups Bedrock runs it in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VpcSettings {
    /// Subnet ids.
    pub subnet_ids: Vec<String>,
    /// Security group ids.
    pub security_group_ids: Vec<String>,
}

/// Every setting that decides how a run's jobs are created and read: what the run record
/// persists, so that a resumed run creates its later jobs exactly as the first process would
/// have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RunSettings {
    /// The run's job name (its jobs are this, or this with `-1`, `-2`, … when split).
    pub job_name: String,
    /// The model id.
    pub model_name: String,
    /// The bucket of input and output.
    pub bucket: String,
    /// The role Bedrock assumes.
    pub role_arn: String,
    /// The jobs' timeout.
    pub timeout_hours: u32,
    /// Whether the jobs use the Converse invocation type.
    #[serde(default)]
    pub converse: bool,
    /// How many jobs may be in flight at once.
    pub max_concurrent_jobs: usize,
    /// The KMS key of the output, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// The account that must own the bucket (`s3BucketOwner`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_owner: Option<String>,
    /// The VPC the jobs run in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<VpcSettings>,
    /// The user's tags, given to every job (llmbo adds `created-by`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// The per-job limits the run was planned with.
    #[serde(default)]
    pub limits: ShardLimits,
    /// The output tool of an untyped job structured at run time, so a resumed run parses the
    /// same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<ToolDefinition>,
    /// How a structured run asks for its answers; `None` in records written before there was
    /// a choice, which used each adapter's one way (ForcedTool where the
    /// adapter writes it, else the adapter's first strategy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_strategy: Option<OutputStrategy>,
    /// The settings of an embedding run; `None` for any other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<crate::embedding::EmbeddingSettings>,
    /// A run of fewer records than this goes on demand (`bedrock-runtime`), not in a batch
    /// job; `None`: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_demand_below: Option<usize>,
    /// On-demand calls in flight at once (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_demand_concurrency: Option<usize>,
    /// The on-demand service tier (`flex`, `priority`, `default`); `None`: the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// The batch API the run's jobs are on (Bedrock in records written before there was a
    /// choice).
    #[serde(default, skip_serializing_if = "Provider::is_bedrock")]
    pub provider: Provider,
    /// Where a run on a batch API other than Bedrock keeps its record and its jobs' inputs: a
    /// local folder. Bedrock runs keep them in `bucket`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// The API's base URL, when not the provider's own (a proxy, or llmbo-local).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// What becomes of media a record names in S3 outside its job's input folder.
    #[serde(default, skip_serializing_if = "crate::media::S3Media::is_copy")]
    pub s3_media: crate::media::S3Media,
    /// The OpenAI API a run on OpenAI's Batch API sends its requests to (chat completions
    /// in records written before there was a choice).
    #[serde(
        default,
        skip_serializing_if = "crate::model::OpenAiEndpoint::is_default"
    )]
    pub openai_endpoint: crate::model::OpenAiEndpoint,
}

impl Default for RunSettings {
    /// The builder's starting point: Bedrock's usual quotas, a 24-hour timeout, ten jobs in
    /// flight; the five required settings empty until given.
    fn default() -> Self {
        RunSettings {
            job_name: String::new(),
            model_name: String::new(),
            bucket: String::new(),
            role_arn: String::new(),
            timeout_hours: 24,
            converse: false,
            max_concurrent_jobs: 10,
            kms_key_id: None,
            bucket_owner: None,
            vpc: None,
            tags: Vec::new(),
            limits: ShardLimits::default(),
            tool: None,
            output_strategy: None,
            embedding: None,
            on_demand_below: None,
            on_demand_concurrency: None,
            service_tier: None,
            provider: Provider::Bedrock,
            store: None,
            base_url: None,
            s3_media: crate::media::S3Media::Copy,
            openai_endpoint: crate::model::OpenAiEndpoint::ChatCompletions,
        }
    }
}

impl RunSettings {
    /// The adapter that writes and reads the run's requests when the builder gave none: an
    /// embedding model's, the Responses API's on OpenAI when chosen, Converse's for a
    /// Converse run, else the registry's for the model.
    pub(crate) fn adapter(&self) -> std::sync::Arc<dyn crate::adapter::ModelProviderAdapter> {
        #[cfg(feature = "aws")]
        if let Some(adapter) = self
            .embedding
            .as_ref()
            .and_then(|embedding| crate::adapter::embedding_adapter(&self.model_name, embedding))
        {
            return adapter;
        }
        if self.provider == Provider::OpenAi
            && self.openai_endpoint == crate::model::OpenAiEndpoint::Responses
        {
            return std::sync::Arc::new(crate::adapter::OpenAiResponsesAdapter);
        }
        crate::adapter::ModelAdapterRegistry::adapter_for(&self.model_name, self.invocation_type())
    }

    /// The invocation type of the run's jobs.
    pub fn invocation_type(&self) -> InvocationType {
        if self.converse {
            InvocationType::Converse
        } else {
            InvocationType::InvokeModel
        }
    }

    /// What Bedrock itself keeps of a job's settings, for a job recovered from its ARN alone
    /// (limits and concurrency at their defaults: a recovered job is a run of one).
    pub(crate) fn of_job(details: &JobDetails) -> Self {
        let (bucket, _) = crate::layout::split_s3_uri(&details.output_uri);
        RunSettings {
            job_name: details.job_name.clone(),
            model_name: details.model_id.clone(),
            bucket: bucket.to_owned(),
            role_arn: details.role_arn.clone(),
            timeout_hours: details
                .timeout_hours
                .and_then(|h| u32::try_from(h).ok())
                .unwrap_or(24),
            converse: details.converse,
            max_concurrent_jobs: 1,
            kms_key_id: None,
            bucket_owner: None,
            vpc: None,
            tags: Vec::new(),
            limits: ShardLimits::default(),
            tool: None,
            output_strategy: None,
            embedding: None,
            on_demand_below: None,
            on_demand_concurrency: None,
            service_tier: None,
            provider: Provider::Bedrock,
            store: None,
            base_url: None,
            s3_media: crate::media::S3Media::Copy,
            openai_endpoint: crate::model::OpenAiEndpoint::ChatCompletions,
        }
    }
}

/// Models with the `flex` and `priority` service tiers on demand (AWS's launch list,
/// 2025-11-18; AWS, "Service tiers",
/// <https://docs.aws.amazon.com/bedrock/latest/userguide/service-tiers-inference.html>): model id prefixes. Data: correct it when AWS
/// changes. Every model has `default`.
pub const SERVICE_TIERS: &[&str] = &[
    "openai.gpt-oss",
    "deepseek.v3",
    "qwen.qwen3",
    "amazon.nova-pro",
    "amazon.nova-premier",
    "amazon.nova-2-lite",
];

/// Checks a service tier against [`SERVICE_TIERS`]; the error names what the model takes.
pub(crate) fn check_service_tier(model_id: &str, tier: &str) -> Result<(), String> {
    let id = crate::model::normalize_model_id(model_id);
    let tiered = SERVICE_TIERS.iter().any(|prefix| id.starts_with(prefix));
    match tier {
        "default" => Ok(()),
        "flex" | "priority" if tiered => Ok(()),
        "flex" | "priority" => Err(format!(
            "model `{model_id}` has no `{tier}` tier on demand (only `default`); the models with `flex` and `priority` are {}",
            SERVICE_TIERS.join(", ")
        )),
        "reserved" => Err("the `reserved` tier needs a reservation llmbo cannot check; use `default`, `priority` or `flex`".into()),
        other => Err(format!("`{other}` is not a service tier: use `default`, `priority` or `flex`")),
    }
}

/// The tag llmbo puts on every job it creates, `llmbo-<version>`: never part of a job's
/// identity (the idempotency token), so a run resumed by a newer llmbo is the same request.
pub(crate) const CREATED_BY_TAG: &str = "created-by";
