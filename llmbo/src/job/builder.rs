//! The builder: required settings tracked in the type, so `build()` only exists once all five
//! are given.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

use aws_config::SdkConfig;

use super::config::JobConfig;
use super::state::Ready;
use super::{Inferer, PollConfig, names};
use crate::adapter::object::ModelProviderAdapter;
use crate::adapter::resolve_output;
use crate::aws::Aws;
use crate::embedding::EmbeddingSettings;
use crate::error::Error;
use crate::mode::OutputMode;
use crate::model::Provider;
use crate::progress::Progress;
use crate::settings::RunSettings;

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
    pub(crate) given: crate::shards::LimitsGiven,
    pub(crate) strict: bool,
    pub(crate) skip_checks: bool,
    pub(crate) preflight_only: bool,
    /// Why the preflight reads nothing from AWS, when it does not (`preflight_offline`).
    pub(crate) offline: Option<String>,
    pub(crate) prices: Option<crate::cost::PriceTable>,
    pub(crate) max_estimated_cost: Option<f64>,
    /// The API key of a provider other than Bedrock (never persisted, never printed).
    pub(crate) api_key: Option<String>,
}

/// A builder with all five required settings given: what `build()` takes, named so a
/// function can take or return one.
///
/// ```
/// use llmbo::StructuredBatchInferer;
/// use llmbo::mode::Structured;
/// # #[derive(serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)]
/// # struct Person { name: String }
/// fn people(job: &str) -> llmbo::builder::Configured<Structured<Person>> {
///     StructuredBatchInferer::<Person>::builder()
///         .model_name("anthropic.claude-3-haiku-20240307-v1:0")
///         .bucket_name("my-bucket")
///         .region("eu-west-2")
///         .job_name(job)
///         .role_arn("arn:aws:iam::123456789012:role/BedrockBatch")
/// }
/// let _ = people("people-2026-12").max_concurrent_jobs(4);
/// ```
pub type Configured<O> = InfererBuilder<O, Set, Set, Set, Set, Set>;

/// The type-level record of which required settings were given.
type Markers<O, M, B, R, J, A> = fn() -> (O, M, B, R, J, A);

/// Settings of an inferer; see [`Inferer::builder`].
///
/// `model_name`, `bucket_name`, `region`, `job_name` and `role_arn` are required: `build()`
/// does not compile until each is given.
#[must_use = "call `.build().await?` to get an inferer"]
pub struct InfererBuilder<O, M = Unset, B = Unset, R = Unset, J = Unset, A = Unset> {
    pub(super) settings: Settings,
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

/// A builder of a run on a batch API other than Bedrock: `model_name` and `job_name` are
/// required; there is no bucket, region or role to give.
pub type ApiBuilder<O, M = Unset, J = Unset> = InfererBuilder<O, M, Set, Set, J, Set>;

#[cfg(any(feature = "anthropic", feature = "openai", feature = "gemini"))]
impl<O> ApiBuilder<O> {
    pub(crate) fn for_provider(provider: Provider) -> Self {
        let mut settings = Settings::default();
        settings.run.provider = provider;
        InfererBuilder {
            settings,
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
        openai_only(&s.run)?;
        if s.run.provider != Provider::Bedrock {
            return build_on_api::<O>(s).await;
        }
        let mut run = s.run.clone();
        if !s.given.max_records {
            run.limits.max_records =
                crate::shards::ShardLimits::for_model(&run.model_name).max_records;
        }
        // Everything that is a setting to fix is refused before anything is asked of AWS.
        settle_output::<O>(&mut run, s.adapter.as_ref())?;
        settle_embedding::<O>(&mut run)?;
        check_settings(&run, &s)?;
        if !s.skip_checks {
            // The model must take batch jobs as named: the table says what the catalog cannot.
            crate::preflight::refuse_unbatchable(&run.model_name, &s.region)?;
        }
        let sdk = crate::aws::sdk_config_or_default(s.sdk_config.clone()).await;
        let aws = Aws::with_retry(
            &sdk,
            &s.region,
            s.s3_force_path_style,
            run.bucket_owner.clone(),
            s.retry.as_ref(),
        );
        if !s.preflight_only {
            check_account(&aws, &run, &s.region).await?;
        }
        let quota_source = read_quotas(&aws, &mut run, &s).await;
        Ok(Inferer::from_config(assemble(s, run, aws, quota_source)))
    }
}

/// A run on a batch API other than Bedrock: the provider's limits where none were given, the
/// output settled as on Bedrock, the settings Bedrock alone takes refused, and the API and
/// the store connected (nothing is asked of the API before the first job).
/// `openai_endpoint` is refused on any other provider: a setting that would do nothing.
fn openai_only(run: &RunSettings) -> Result<(), Error> {
    if run.provider == Provider::OpenAi || run.openai_endpoint.is_default() {
        return Ok(());
    }
    Err(Error::InvalidConfig {
        field: "openai_endpoint",
        reason: format!(
            "`openai_endpoint` is an OpenAI setting; a run on {} has none",
            run.provider.name()
        ),
    })
}

async fn build_on_api<O: OutputMode>(s: Settings) -> Result<Inferer<O, Ready>, Error> {
    let mut run = s.run.clone();
    let provider = run.provider;
    run.model_name = provider.model_id(&run.model_name);
    let documented = super::connect::limits(provider);
    if !s.given.min_records {
        run.limits.min_records = documented.min_records;
    }
    if !s.given.max_records {
        run.limits.max_records = documented.max_records;
    }
    if !s.given.max_bytes {
        run.limits.max_bytes = documented.max_bytes;
    }
    settle_output::<O>(&mut run, s.adapter.as_ref())?;
    settle_embedding::<O>(&mut run)?;
    let in_s3 = run
        .store
        .as_deref()
        .is_some_and(|store| store.starts_with("s3://"));
    let bedrock_only = [
        ("kms_key_id", run.kms_key_id.is_some()),
        ("expected_bucket_owner", run.bucket_owner.is_some()),
        ("vpc_config", run.vpc.is_some()),
        ("service_tier", run.service_tier.is_some()),
        ("invocation_type", run.converse),
        // The AWS settings serve a store in S3.
        ("sdk_config", s.sdk_config.is_some() && !in_s3),
        (
            "s3_force_path_style",
            s.s3_force_path_style.is_some() && !in_s3,
        ),
        ("retry_config", s.retry.is_some()),
    ];
    openai_only(&run)?;
    if let Some((field, _)) = bedrock_only.iter().find(|(_, given)| *given) {
        return Err(Error::InvalidConfig {
            field,
            reason: format!(
                "`{field}` is a Bedrock setting; a run on {} has none",
                provider.name()
            ),
        });
    }
    check_budget(&run, &s)?;
    names::check_job_name(&run.job_name)?;
    let store =
        super::connect::open_store(&run, s.sdk_config.clone(), s.s3_force_path_style).await?;
    run.store = Some(store.root());
    run.base_url = super::connect::base_url(&run, run.base_url.as_deref());
    // A preflight sends nothing, so it needs no key.
    let key = s.api_key.clone().or_else(|| {
        s.preflight_only
            .then(|| "a-preflight-sends-nothing".to_owned())
    });
    let (backend, store) = super::connect::connect(&run, key.as_deref(), store)?;
    let source = if s.given.any() {
        crate::preflight::QuotaSource::Builder
    } else {
        crate::preflight::QuotaSource::Defaults
    };
    let region = s.region.clone();
    let mut config = JobConfig::assemble_on(run, &region, backend, store, s.adapter.clone());
    fill(&mut config, s, (source, None));
    Ok(Inferer::from_config(config))
}

/// The output: the tool (the type's, or the run-time one) and the strategy the model takes,
/// settled before anything is asked of AWS: a strategy the model cannot take, or a schema
/// with no strict form, is a setting to fix, not a job to pay for.
fn settle_output<O: OutputMode>(
    run: &mut RunSettings,
    adapter: Option<&Arc<dyn ModelProviderAdapter>>,
) -> Result<(), Error> {
    let tool = run.tool.clone().or_else(O::tool);
    // The builder's choice, else the type's own (`#[batch_output(strategy = "...")]`).
    let chosen = run.output_strategy.take().or_else(O::strategy);
    let Some(tool) = &tool else {
        return Ok(());
    };
    let adapter = adapter.cloned().unwrap_or_else(|| run.adapter());
    let tools = if run.tool.is_some() {
        Vec::new()
    } else {
        O::tools()
    };
    // Every family names a tool (and a JSON schema) by these characters alone: another name
    // would be refused for every record of a job already paid for.
    if let Some(name) = std::iter::once(&tool.name)
        .chain(tools.iter().map(|t| &t.name))
        .find(|name| !crate::output::is_tool_name(name))
    {
        return Err(Error::InvalidConfig {
            field: "output_tool",
            reason: format!(
                "the tool name `{name}` must be 1 to 64 letters, digits, `_` or `-`, as every model family takes"
            ),
        });
    }
    let spec = resolve_output(
        &run.model_name,
        run.invocation_type(),
        adapter.as_ref(),
        tool,
        &tools,
        chosen,
    )?;
    run.output_strategy = Some(spec.strategy);
    Ok(())
}

/// An embedding run's settings, held to what its model takes; other runs keep none.
fn settle_embedding<O: OutputMode>(run: &mut RunSettings) -> Result<(), Error> {
    if !O::embeddings() {
        run.embedding = None;
        return Ok(());
    }
    let settings = run.embedding.get_or_insert_with(EmbeddingSettings::default);
    crate::embedding::check_settings(&run.model_name, settings).map_err(|reason| {
        Error::InvalidConfig {
            field: "embedding",
            reason,
        }
    })
}

/// The settings Bedrock or llmbo would refuse later: the service tier, the budget, the names
/// and ARNs, the timeout and the region.
fn check_settings(run: &RunSettings, s: &Settings) -> Result<(), Error> {
    if let Some(tier) = &run.service_tier {
        crate::settings::check_service_tier(&run.model_name, tier).map_err(|reason| {
            Error::InvalidConfig {
                field: "service_tier",
                reason,
            }
        })?;
    }
    check_budget(run, s)?;
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
    Ok(())
}

/// A budget needs the model's price, and is a cost of 0 or more.
fn check_budget(run: &RunSettings, s: &Settings) -> Result<(), Error> {
    if let Some(max) = s.max_estimated_cost {
        let priced = s
            .prices
            .as_ref()
            .is_some_and(|p| p.price_on(run.provider, &run.model_name).is_some());
        if !priced || !max.is_finite() || max < 0.0 {
            return Err(Error::InvalidConfig {
                field: "max_estimated_cost",
                reason: if priced {
                    format!("{max} is not a cost of 0 or more")
                } else {
                    let key = match run.provider {
                        Provider::Bedrock => run.model_name.clone(),
                        other => format!(
                            "{}/{}",
                            other.name().to_lowercase(),
                            other.api_model(&run.model_name)
                        ),
                    };
                    format!("a budget needs the price of {key}: give `prices` a PriceTable with it")
                },
            });
        }
    }
    Ok(())
}

/// The account: the bucket exists and is in the job's region, and the role exists.
async fn check_account(aws: &Aws, run: &RunSettings, region: &str) -> Result<(), Error> {
    let bucket_region = aws.bucket_region(&run.bucket).await?;
    if bucket_region != region {
        return Err(Error::BucketInWrongRegion {
            bucket: run.bucket.clone(),
            bucket_region,
            region: region.to_owned(),
        });
    }
    aws.check_role(&run.role_arn).await
}

/// The per-job limits the caller did not give, from the model's quotas in Service Quotas (or
/// the documented defaults), and where the limits came from.
#[cfg_attr(not(feature = "service-quotas"), allow(unused_variables))]
async fn read_quotas(
    aws: &Aws,
    run: &mut RunSettings,
    s: &Settings,
) -> (crate::preflight::QuotaSource, Option<String>) {
    #[cfg(feature = "service-quotas")]
    {
        match &s.offline {
            Some(why) => (
                crate::preflight::QuotaSource::Defaults,
                Some(format!("Service Quotas not read: {why}")),
            ),
            None => crate::preflight::quotas::apply(aws, run, s.given).await,
        }
    }
    #[cfg(not(feature = "service-quotas"))]
    if s.given.any() {
        (crate::preflight::QuotaSource::Builder, None)
    } else {
        (crate::preflight::QuotaSource::Defaults, None)
    }
}

/// The one configuration every step reads, from the checked settings.
fn assemble(
    s: Settings,
    run: RunSettings,
    aws: Aws,
    quota_source: (crate::preflight::QuotaSource, Option<String>),
) -> JobConfig {
    let adapter = s.adapter.clone();
    let mut config = JobConfig::assemble(run, &s.region, aws, adapter);
    fill(&mut config, s, quota_source);
    config
}

/// The builder's settings every provider's configuration takes as they are.
fn fill(
    config: &mut JobConfig,
    s: Settings,
    quota_source: (crate::preflight::QuotaSource, Option<String>),
) {
    config.output_dir = s.output_dir;
    config.strict = s.strict;
    config.skip_checks = s.skip_checks;
    config.preflight_only = s.preflight_only;
    config.offline = s.offline;
    config.prices = s.prices;
    config.max_estimated_cost = s.max_estimated_cost;
    config.quota_source = quota_source;
    config.progress = s.progress;
    config.poll = s.poll;
}
