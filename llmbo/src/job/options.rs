//! The builder's optional settings: each has a default, so they may be given in any order,
//! any number of times (the last one wins), or not at all.

use std::path::PathBuf;
use std::sync::Arc;

use aws_config::SdkConfig;

use super::PollConfig;
use super::builder::InfererBuilder;
use crate::adapter::InvocationType;
use crate::adapter::object::ModelProviderAdapter;
use crate::embedding::{EmbeddingPurpose, EmbeddingSettings, Truncation};
use crate::mode::{Embeddings, Untyped};
use crate::output::OutputStrategy;
use crate::output::ToolDefinition;
use crate::progress::Progress;
use crate::settings::VpcSettings;

impl<O, M, B, R, J, A> InfererBuilder<O, M, B, R, J, A> {
    /// Where a run on a batch API other than Bedrock is kept (its record, its jobs'
    /// inputs and the register of its batches): a local folder, made if need be, or
    /// `s3://bucket/prefix` (read and written with [`sdk_config`](Self::sdk_config), else
    /// the usual AWS chain, with S3's conditional writes); default `./llmbo-runs`. Any
    /// process that can read the folder or the bucket can resume or cancel the run.
    pub fn store(mut self, folder: impl Into<String>) -> Self {
        self.settings.run.store = Some(folder.into());
        self
    }

    /// The API key of a batch API other than Bedrock; default: the provider's environment
    /// variable (`ANTHROPIC_API_KEY`). Never written to the run's record or printed.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.settings.api_key = Some(key.into());
        self
    }

    /// The base URL of a batch API other than Bedrock (a proxy, or llmbo-local); default: the
    /// provider's environment variable (`ANTHROPIC_BASE_URL`), else the provider's own.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.settings.run.base_url = Some(url.into());
        self
    }

    /// The OpenAI API a run on OpenAI's Batch API sends its requests to: chat completions
    /// (the default) or [`OpenAiEndpoint::Responses`](crate::model::OpenAiEndpoint). Kept in
    /// the run's record, so a resumed or retried run asks the same API.
    pub fn openai_endpoint(mut self, endpoint: crate::model::OpenAiEndpoint) -> Self {
        self.settings.run.openai_endpoint = endpoint;
        self
    }

    /// The AWS configuration (credentials, endpoint); default: `aws_config`'s defaults. On
    /// a batch API other than Bedrock, for a [`store`](Self::store) in S3 only.
    pub fn sdk_config(mut self, config: SdkConfig) -> Self {
        self.settings.sdk_config = Some(config);
        self
    }

    /// Hours before Bedrock ends the job, 24 to 168; default 24.
    #[doc(alias = "time_out_duration_hours")]
    pub fn timeout_hours(mut self, hours: u32) -> Self {
        self.settings.run.timeout_hours = hours;
        self
    }

    /// A folder that keeps a copy of the input JSONL and the downloaded output (files are
    /// created readable by you only); default: output is kept in memory.
    pub fn output_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.settings.output_dir = Some(dir.into());
        self
    }

    /// Path-style S3 addressing; default: on for endpoints that are not AWS's own.
    pub fn s3_force_path_style(mut self, on: bool) -> Self {
        self.settings.s3_force_path_style = Some(on);
        self
    }

    /// The adapter for this inferer only, instead of the registry's.
    pub fn adapter(mut self, adapter: Arc<dyn ModelProviderAdapter>) -> Self {
        self.settings.adapter = Some(adapter);
        self
    }

    /// How a structured job asks for its answers: a forced tool, a `strict` tool, native
    /// structured output (a JSON schema) or the schema in the prompt. Default: the model's
    /// best, from the table in [`STRUCTURED_OUTPUT_MODELS`](crate::adapter::STRUCTURED_OUTPUT_MODELS)
    /// (JsonSchema where the model is known to take it, else ForcedTool, else JsonInPrompt).
    /// `build()` refuses a strategy the model cannot take, naming the ones it can, and a
    /// strict strategy for a schema without a strict form (a recursive type), naming the field.
    pub fn output_strategy(mut self, strategy: OutputStrategy) -> Self {
        self.settings.run.output_strategy = Some(strategy);
        self
    }

    /// Lets a run of fewer than `n` records go on demand (`bedrock-runtime` InvokeModel, at
    /// the on-demand price) instead of a batch job, which Bedrock refuses under its minimum.
    /// Off by default, so nothing is billed at on-demand prices unless asked for. Through
    /// [`auto`](crate::Inferer::auto).
    pub fn on_demand_below(mut self, n: usize) -> Self {
        self.settings.run.on_demand_below = Some(n);
        self
    }

    /// What becomes of documents, images and video a record names in S3 outside its job's
    /// input folder, which is the only place Bedrock reads them from: copied there
    /// server-side before the job is created ([`S3Media::Copy`](crate::input::S3Media::Copy),
    /// the default), or refused before anything is uploaded.
    pub fn s3_media(mut self, rule: crate::media::S3Media) -> Self {
        self.settings.run.s3_media = rule;
        self
    }

    /// On-demand calls in flight at once (default 8).
    pub fn on_demand_concurrency(mut self, n: usize) -> Self {
        self.settings.run.on_demand_concurrency = Some(n.max(1));
        self
    }

    /// The service tier of on-demand calls: `default`, `priority` or `flex` (cheaper,
    /// slower). `build()` refuses a tier the model does not have, from the table
    /// [`SERVICE_TIERS`](crate::SERVICE_TIERS).
    pub fn service_tier(mut self, tier: impl Into<String>) -> Self {
        self.settings.run.service_tier = Some(tier.into());
        self
    }

    /// InvokeModel (default) or Converse request bodies.
    pub fn invocation_type(mut self, kind: InvocationType) -> Self {
        self.settings.run.converse = kind == InvocationType::Converse;
        self
    }

    /// The fewest records a job may have; default 100, Bedrock's usual quota.
    pub fn min_records(mut self, n: usize) -> Self {
        self.settings.run.limits.min_records = n;
        self.settings.given.min_records = true;
        self
    }

    /// The most records one Bedrock job may have; larger runs are split into several jobs
    /// (`<job name>-1`, `-2`, …) by `auto`. Default: the model's quota,
    /// [`ShardLimits::for_model`](crate::ShardLimits::for_model) (50,000, Bedrock's usual one;
    /// 100,000 for Titan Text Embeddings V2).
    pub fn max_records_per_job(mut self, n: usize) -> Self {
        self.settings.run.limits.max_records = n.max(1);
        self.settings.given.max_records = true;
        self
    }

    /// The largest input file one job may have, in bytes; default 1 GB.
    pub fn max_input_bytes_per_job(mut self, bytes: u64) -> Self {
        self.settings.run.limits.max_bytes = bytes.max(1);
        self.settings.given.max_bytes = true;
        self
    }

    /// How many jobs of a split run are in flight at once; default 10, Bedrock's usual
    /// per-model quota of submitted and running jobs.
    pub fn max_concurrent_jobs(mut self, k: usize) -> Self {
        self.settings.run.max_concurrent_jobs = k.max(1);
        self.settings.given.concurrent = true;
        self
    }

    /// A tag for the job.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.run.tags.push((key.into(), value.into()));
        self
    }

    /// The KMS key that encrypts the output (`s3EncryptionKeyId`).
    pub fn kms_key_id(mut self, key: impl Into<String>) -> Self {
        self.settings.run.kms_key_id = Some(key.into());
        self
    }

    /// The account that must own the bucket (`s3BucketOwner`, `x-amz-expected-bucket-owner`).
    pub fn expected_bucket_owner(mut self, account_id: impl Into<String>) -> Self {
        self.settings.run.bucket_owner = Some(account_id.into());
        self
    }

    /// Runs the job in a VPC.
    pub fn vpc_config(mut self, subnet_ids: Vec<String>, security_group_ids: Vec<String>) -> Self {
        self.settings.run.vpc = Some(VpcSettings {
            subnet_ids,
            security_group_ids,
        });
        self
    }

    /// The retry policy of every AWS call (attempts, backoff), instead of llmbo's: 5 attempts for
    /// S3 and 8 for Bedrock, the SDK's standard mode with jittered exponential backoff.
    pub fn retry_config(mut self, retry: aws_config::retry::RetryConfig) -> Self {
        self.settings.retry = Some(retry);
        self
    }

    /// How polling backs off and how long it rides out throttling and outages; see
    /// [`PollConfig`].
    pub fn poll_config(mut self, poll: PollConfig) -> Self {
        self.settings.poll = poll.checked();
        self
    }

    /// Strict checks: a request-rule warning (an unknown extra field, an uncertain parameter
    /// combination) refuses the run as an error does. Default off.
    pub fn strict(mut self, on: bool) -> Self {
        self.settings.strict = on;
        self
    }

    /// Sends what the preflight would refuse: the request rules' errors are logged as
    /// warnings, and a model llmbo's batch table says takes no batch jobs (or only through a
    /// profile) is sent as named. For a model or body llmbo's data is wrong about; Bedrock
    /// still refuses what it refuses. [`Inferer::preflight`](crate::Inferer::preflight) reports the same findings.
    pub fn skip_preflight_checks(mut self) -> Self {
        self.settings.skip_checks = true;
        self
    }

    /// An inferer for [`Inferer::preflight`](crate::Inferer::preflight) only: `build()` does not check the bucket and
    /// the role (they may be placeholders, as for `llmbo lint`), and every step that would
    /// upload or send records refuses.
    pub fn preflight_only(mut self) -> Self {
        self.settings.preflight_only = true;
        self
    }

    /// An inferer for an [`Inferer::preflight`](crate::Inferer::preflight) that reads nothing
    /// from AWS (as [`preflight_only`](Self::preflight_only), and more): every record check,
    /// the plan and the estimate run; the catalog and inference-profile checks, the Service
    /// Quotas read and the `CountTokens` calibration are skipped, and the report says so with
    /// `why` (for example "no region"). For `llmbo lint` without a region or credentials.
    pub fn preflight_offline(mut self, why: impl Into<String>) -> Self {
        self.settings.preflight_only = true;
        self.settings.offline = Some(why.into());
        self
    }

    /// Your prices, for the cost range of [`Inferer::preflight`](crate::Inferer::preflight) and the budget of
    /// [`max_estimated_cost`](Self::max_estimated_cost). llmbo ships none.
    pub fn prices(mut self, prices: crate::cost::PriceTable) -> Self {
        self.settings.prices = Some(prices);
        self
    }

    /// Refuses a run whose upper cost estimate (every input token at the high end of the
    /// estimate, every record's `max_tokens` of output) exceeds `max`, before anything is
    /// uploaded ([`Error::OverBudget`](crate::error::Error::OverBudget)). Needs [`prices`](Self::prices) with the model's price.
    pub fn max_estimated_cost(mut self, max: f64) -> Self {
        self.settings.max_estimated_cost = Some(max);
        self
    }

    /// Called with each progress report while the job is polled.
    pub fn on_progress(mut self, callback: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.settings.progress = Some(Arc::new(callback));
        self
    }
}

impl<M, B, R, J, A> InfererBuilder<Untyped, M, B, R, J, A> {
    /// Makes an untyped job structured by a schema known only at run time (a JSON schema read
    /// from a file, say): the model is forced to call `tool`, and each record's value is the
    /// tool input it wrote, as JSON. For a Rust type, use
    /// [`StructuredBatchInferer`](crate::StructuredBatchInferer) instead.
    pub fn output_tool(mut self, tool: ToolDefinition) -> Self {
        self.settings.run.tool = Some(tool);
        self
    }
}

impl<M, B, R, J, A> InfererBuilder<Embeddings, M, B, R, J, A> {
    fn embedding(&mut self) -> &mut EmbeddingSettings {
        self.settings
            .run
            .embedding
            .get_or_insert_with(EmbeddingSettings::default)
    }

    /// The vectors' length: Titan V2 takes 256, 512 or 1024 (its default); Nova 256, 384,
    /// 1024 or 3072. Another value is refused at `build()`, naming the allowed ones.
    pub fn dimensions(mut self, n: u32) -> Self {
        self.embedding().dimensions = Some(n);
        self
    }

    /// Unit-length vectors (Titan V2; its default is true).
    pub fn normalize(mut self, on: bool) -> Self {
        self.embedding().normalize = Some(on);
        self
    }

    /// Also the binary form of each vector (Titan V2).
    pub fn binary_embeddings(mut self, on: bool) -> Self {
        self.embedding().binary = on;
        self
    }

    /// What the vectors are for (Nova; default `GENERIC_INDEX`).
    pub fn embedding_purpose(mut self, purpose: EmbeddingPurpose) -> Self {
        self.embedding().purpose = Some(purpose);
        self
    }

    /// How a text over the limit is cut (Nova; default `END`).
    pub fn truncation(mut self, truncation: Truncation) -> Self {
        self.embedding().truncation = Some(truncation);
        self
    }
}
