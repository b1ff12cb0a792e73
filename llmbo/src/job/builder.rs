//! The builder: required settings tracked in the type, so `build()` only exists once all five
//! are given.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

use aws_config::SdkConfig;

use super::config::JobConfig;
use super::mode::{Embeddings, OutputMode, Untyped};
use super::state::Ready;
use super::{Inferer, PollConfig, names};
use crate::adapter::{
    InvocationType, ModelAdapterRegistry, ModelProviderAdapter, OutputStrategy, resolve_output,
};
use crate::aws::Aws;
use crate::embedding::{EmbeddingPurpose, EmbeddingSettings, Truncation};
use crate::error::Error;
use crate::output::ToolDefinition;
use crate::settings::{RunSettings, VpcSettings};
use crate::status::Progress;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Set {}
}

/// A required setting not given yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unset;
/// A required setting given.
#[derive(Debug, Clone, Copy, Default)]
pub struct Set;

/// Whether `model_name` was given.
#[diagnostic::on_unimplemented(
    message = "`build()` needs `model_name`: call `.model_name(..)` first",
    label = "`model_name` is not set",
    note = "the required settings are model_name, bucket_name, region, job_name and role_arn"
)]
pub trait ModelNameIsSet: sealed::Sealed {}
impl ModelNameIsSet for Set {}

/// Whether `bucket_name` was given.
#[diagnostic::on_unimplemented(
    message = "`build()` needs `bucket_name`: call `.bucket_name(..)` first",
    label = "`bucket_name` is not set",
    note = "the required settings are model_name, bucket_name, region, job_name and role_arn"
)]
pub trait BucketNameIsSet: sealed::Sealed {}
impl BucketNameIsSet for Set {}

/// Whether `region` was given.
#[diagnostic::on_unimplemented(
    message = "`build()` needs `region`: call `.region(..)` first",
    label = "`region` is not set",
    note = "the required settings are model_name, bucket_name, region, job_name and role_arn"
)]
pub trait RegionIsSet: sealed::Sealed {}
impl RegionIsSet for Set {}

/// Whether `job_name` was given.
#[diagnostic::on_unimplemented(
    message = "`build()` needs `job_name`: call `.job_name(..)` first",
    label = "`job_name` is not set",
    note = "the required settings are model_name, bucket_name, region, job_name and role_arn"
)]
pub trait JobNameIsSet: sealed::Sealed {}
impl JobNameIsSet for Set {}

/// Whether `role_arn` was given.
#[diagnostic::on_unimplemented(
    message = "`build()` needs `role_arn`: call `.role_arn(..)` first",
    label = "`role_arn` is not set",
    note = "the required settings are model_name, bucket_name, region, job_name and role_arn"
)]
pub trait RoleArnIsSet: sealed::Sealed {}
impl RoleArnIsSet for Set {}

/// Progress reports while a job is polled.
pub type ProgressCallback = Arc<dyn Fn(&Progress) + Send + Sync>;

#[derive(Default, Clone)]
pub(crate) struct Settings {
    /// What the run record persists: every setting its jobs are created and read with.
    pub(crate) run: RunSettings,
    pub(crate) region: String,
    pub(crate) sdk_config: Option<SdkConfig>,
    pub(crate) output_dir: Option<PathBuf>,
    pub(crate) s3_force_path_style: Option<bool>,
    pub(crate) adapter: Option<Arc<dyn ModelProviderAdapter>>,
    pub(crate) progress: Option<ProgressCallback>,
    pub(crate) retry: Option<aws_config::retry::RetryConfig>,
    pub(crate) poll: PollConfig,
    /// Which per-job limits were given; the others come from the model's quotas.
    pub(crate) given: LimitsGiven,
    pub(crate) strict: bool,
    pub(crate) skip_checks: bool,
    pub(crate) preflight_only: bool,
    pub(crate) prices: Option<super::PriceTable>,
    pub(crate) max_estimated_cost: Option<f64>,
}

/// Which per-job limits the caller set (each wins over a quota read from Service Quotas).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LimitsGiven {
    pub(crate) min_records: bool,
    pub(crate) max_records: bool,
    pub(crate) max_bytes: bool,
    pub(crate) concurrent: bool,
}

impl LimitsGiven {
    fn any(self) -> bool {
        self.min_records || self.max_records || self.max_bytes || self.concurrent
    }
}

/// The type-level record of which required settings were given.
type Markers<O, M, B, R, J, A> = fn() -> (O, M, B, R, J, A);

/// Settings of an inferer; see [`Inferer::builder`].
///
/// `model_name`, `bucket_name`, `region`, `job_name` and `role_arn` are required: `build()`
/// does not compile until each is given.
#[must_use = "call `.build().await?` to get an inferer"]
pub struct InfererBuilder<O, M = Unset, B = Unset, R = Unset, J = Unset, A = Unset> {
    settings: Settings,
    _types: PhantomData<Markers<O, M, B, R, J, A>>,
}

impl<O, M, B, R, J, A> std::fmt::Debug for InfererBuilder<O, M, B, R, J, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.settings;
        f.debug_struct("InfererBuilder")
            .field("model_name", &s.run.model_name)
            .field("bucket_name", &s.run.bucket)
            .field("region", &s.region)
            .field("job_name", &s.run.job_name)
            .field("role_arn", &s.run.role_arn)
            .field("timeout_hours", &s.run.timeout_hours)
            .field("output_dir", &s.output_dir)
            .finish_non_exhaustive()
    }
}

impl<O> InfererBuilder<O> {
    pub(crate) fn new() -> Self {
        InfererBuilder {
            settings: Settings::default(),
            _types: PhantomData,
        }
    }
}

// Each required setting is a method of the builder that lacks it, so giving one twice is a
// compile error ("no method named `model_name` found for `InfererBuilder<_, Set, …>`").
impl<O, B, R, J, A> InfererBuilder<O, Unset, B, R, J, A> {
    /// The Bedrock model id: bare, a cross-region profile (`us.…`) or an ARN. Required.
    pub fn model_name(mut self, model: impl Into<String>) -> InfererBuilder<O, Set, B, R, J, A> {
        self.settings.run.model_name = model.into();
        self.retype()
    }
}

impl<O, M, R, J, A> InfererBuilder<O, M, Unset, R, J, A> {
    /// The S3 bucket for input and output, in the job's region. Required.
    pub fn bucket_name(mut self, bucket: impl Into<String>) -> InfererBuilder<O, M, Set, R, J, A> {
        self.settings.run.bucket = bucket.into();
        self.retype()
    }
}

impl<O, M, B, J, A> InfererBuilder<O, M, B, Unset, J, A> {
    /// The region the job runs in. Required.
    pub fn region(mut self, region: impl Into<String>) -> InfererBuilder<O, M, B, Set, J, A> {
        self.settings.region = region.into();
        self.retype()
    }
}

impl<O, M, B, R, A> InfererBuilder<O, M, B, R, Unset, A> {
    /// The job's name, also the input file's name (`input/<job name>.jsonl`). Required.
    pub fn job_name(mut self, name: impl Into<String>) -> InfererBuilder<O, M, B, R, Set, A> {
        self.settings.run.job_name = name.into();
        self.retype()
    }
}

impl<O, M, B, R, J> InfererBuilder<O, M, B, R, J, Unset> {
    /// The IAM role Bedrock assumes to read and write the bucket. Required.
    pub fn role_arn(mut self, arn: impl Into<String>) -> InfererBuilder<O, M, B, R, J, Set> {
        self.settings.run.role_arn = arn.into();
        self.retype()
    }
}

impl<O, M, B, R, J, A> InfererBuilder<O, M, B, R, J, A> {
    fn retype<M2, B2, R2, J2, A2>(self) -> InfererBuilder<O, M2, B2, R2, J2, A2> {
        InfererBuilder {
            settings: self.settings,
            _types: PhantomData,
        }
    }

    /// The AWS configuration (credentials, endpoint); default: `aws_config`'s defaults.
    pub fn sdk_config(mut self, config: SdkConfig) -> Self {
        self.settings.sdk_config = Some(config);
        self
    }

    /// Hours before Bedrock ends the job, 24 to 168; default 24.
    pub fn time_out_duration_hours(mut self, hours: u32) -> Self {
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
    pub fn retry_config(mut self, retry: crate::RetryConfig) -> Self {
        self.settings.retry = Some(retry);
        self
    }

    /// How polling backs off and how long it rides out throttling and outages; see
    /// [`PollConfig`].
    pub fn poll_config(mut self, poll: PollConfig) -> Self {
        self.settings.poll = poll;
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
    /// still refuses what it refuses. [`Inferer::preflight`] reports the same findings.
    pub fn skip_preflight_checks(mut self) -> Self {
        self.settings.skip_checks = true;
        self
    }

    /// An inferer for [`Inferer::preflight`] only: `build()` does not check the bucket and
    /// the role (they may be placeholders, as for `llmbo lint`), and every step that would
    /// upload or send records refuses.
    pub fn preflight_only(mut self) -> Self {
        self.settings.preflight_only = true;
        self
    }

    /// Your prices, for the cost range of [`Inferer::preflight`] and the budget of
    /// [`max_estimated_cost`](Self::max_estimated_cost). llmbo ships none.
    pub fn prices(mut self, prices: super::PriceTable) -> Self {
        self.settings.prices = Some(prices);
        self
    }

    /// Refuses a run whose upper cost estimate (every input token at the high end of the
    /// estimate, every record's `max_tokens` of output) exceeds `max`, before anything is
    /// uploaded ([`Error::OverBudget`]). Needs [`prices`](Self::prices) with the model's price.
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

impl<O: OutputMode, M, B, R, J, A> InfererBuilder<O, M, B, R, J, A> {
    /// Checks the settings and the account, as the original did, done right: the job name
    /// and keys fit Bedrock's patterns, the bucket exists and is in `region`, the role exists.
    pub async fn build(self) -> Result<Inferer<O, Ready>, Error>
    where
        M: ModelNameIsSet,
        B: BucketNameIsSet,
        R: RegionIsSet,
        J: JobNameIsSet,
        A: RoleArnIsSet,
    {
        let s = self.settings;
        let mut run = s.run;
        if !s.given.max_records {
            run.limits.max_records =
                crate::shards::ShardLimits::for_model(&run.model_name).max_records;
        }
        // The output is settled before anything is asked of AWS: a strategy the model cannot
        // take, or a schema with no strict form, is a setting to fix, not a job to pay for.
        let tool = run.tool.clone().or_else(O::tool);
        // The builder's choice, else the type's own (`#[batch_output(strategy = "...")]`).
        let chosen = run.output_strategy.take().or_else(O::strategy);
        if let Some(tool) = &tool {
            let adapter = s.adapter.clone().unwrap_or_else(|| {
                ModelAdapterRegistry::adapter_for(&run.model_name, run.invocation_type())
            });
            let tools = if run.tool.is_some() {
                Vec::new()
            } else {
                O::tools()
            };
            let spec = resolve_output(
                &run.model_name,
                run.invocation_type(),
                adapter.as_ref(),
                tool,
                &tools,
                chosen,
            )?;
            run.output_strategy = Some(spec.strategy);
        }
        if O::embeddings() {
            let settings = run.embedding.get_or_insert_with(EmbeddingSettings::default);
            crate::embedding::check_settings(&run.model_name, settings).map_err(|reason| {
                Error::InvalidConfig {
                    field: "embedding",
                    reason,
                }
            })?;
        } else if run.embedding.is_some() {
            run.embedding = None;
        }
        if let Some(tier) = &run.service_tier {
            crate::settings::check_service_tier(&run.model_name, tier).map_err(|reason| {
                Error::InvalidConfig {
                    field: "service_tier",
                    reason,
                }
            })?;
        }
        if let Some(max) = s.max_estimated_cost {
            let priced = s
                .prices
                .as_ref()
                .is_some_and(|p| p.price(&run.model_name).is_some());
            if !priced || !max.is_finite() || max < 0.0 {
                return Err(Error::InvalidConfig {
                    field: "max_estimated_cost",
                    reason: if priced {
                        format!("{max} is not a cost of 0 or more")
                    } else {
                        format!(
                            "a budget needs the price of {}: give `prices` a PriceTable with it",
                            run.model_name
                        )
                    },
                });
            }
        }
        names::check_job_name(&run.job_name)?;
        names::check_role_arn(&run.role_arn)?;
        names::check_bucket(&run.bucket)?;
        if !(24..=168).contains(&run.timeout_hours) {
            return Err(Error::InvalidConfig {
                field: "time_out_duration_hours",
                reason: format!("{} is outside Bedrock's 24 to 168 hours", run.timeout_hours),
            });
        }
        if s.region.is_empty() {
            return Err(Error::InvalidConfig {
                field: "region",
                reason: "it is empty".into(),
            });
        }
        // The model must take batch jobs as named: the table says what the catalog cannot.
        if !s.skip_checks {
            crate::preflight::refuse_unbatchable(&run.model_name, &s.region)?;
        }
        let sdk = crate::aws::sdk_config_or_default(s.sdk_config).await;
        let aws = Aws::with_retry(
            &sdk,
            &s.region,
            s.s3_force_path_style,
            run.bucket_owner.clone(),
            s.retry.as_ref(),
        );
        if !s.preflight_only {
            let bucket_region = aws.bucket_region(&run.bucket).await?;
            if bucket_region != s.region {
                return Err(Error::BucketInWrongRegion {
                    bucket: run.bucket,
                    bucket_region,
                    region: s.region,
                });
            }
            aws.check_role(&run.role_arn).await?;
        }
        #[cfg(feature = "service-quotas")]
        let quota_source = crate::preflight::quotas::apply(
            &aws,
            &mut run,
            crate::preflight::quotas::Kept {
                min_records: s.given.min_records,
                max_records: s.given.max_records,
                max_bytes: s.given.max_bytes,
                concurrent: s.given.concurrent,
            },
        )
        .await;
        let mut config = JobConfig::assemble(run, &s.region, aws, s.adapter);
        config.output_dir = s.output_dir;
        config.strict = s.strict;
        config.skip_checks = s.skip_checks;
        config.preflight_only = s.preflight_only;
        config.prices = s.prices;
        config.max_estimated_cost = s.max_estimated_cost;
        if s.given.any() {
            config.quota_source.0 = crate::preflight::QuotaSource::Builder;
        }
        #[cfg(feature = "service-quotas")]
        {
            config.quota_source = quota_source;
        }
        config.progress = s.progress;
        config.poll = s.poll;
        Ok(Inferer::from_config(config))
    }
}
