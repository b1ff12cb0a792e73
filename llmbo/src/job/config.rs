//! One configuration path: the builder, a resumed run and a job recovered from its ARN all end
//! in a [`JobConfig`] built by [`JobConfig::assemble`] from [`RunSettings`] (`settings.rs`),
//! the part that is persisted in the run record.

use std::path::PathBuf;
use std::sync::Arc;

use super::builder::ProgressCallback;
use crate::adapter::object::ModelProviderAdapter;
use crate::adapter::{OutputSpec, legacy_strategy};
use crate::aws::{Aws, S3Store};
use crate::backend::Backend;
use crate::error::Error;
use crate::output::ToolDefinition;
use crate::progress::Progress;
pub(crate) use crate::settings::RunSettings;
use crate::shards::ShardLimits;
use crate::status::{JobStatus, Stage};
use crate::store::RunStore;

/// What a run needs from start to end; shared by every state.
#[derive(Clone)]
pub(crate) struct JobConfig {
    /// The persisted settings.
    pub(crate) settings: RunSettings,
    pub(crate) region: String,
    pub(crate) output_dir: Option<PathBuf>,
    /// The AWS clients of a Bedrock run (the preflight's catalog and token counts); `None`
    /// on the other batch APIs.
    pub(crate) aws: Option<Aws>,
    /// The batch API the run's jobs are on.
    pub(crate) backend: Arc<dyn Backend>,
    /// Where the run record is kept (for Bedrock runs, the run's bucket).
    pub(crate) store: Arc<dyn RunStore>,
    pub(crate) adapter: Arc<dyn ModelProviderAdapter>,
    pub(crate) progress: Option<ProgressCallback>,
    pub(crate) poll: super::PollConfig,
    /// The record ids of the jobs this process uploaded, in private temp files, so reading
    /// results back needs no second download of the input.
    pub(crate) local_ids: LocalIds,
    /// The requests of the jobs this process uploaded, written in their batch API's form as
    /// they were uploaded, so that creating them reads nothing back.
    pub(crate) local_requests: LocalRequests,
    /// The check each answer of a run-time output tool is held to (see
    /// [`Inferer::check_outputs`](super::Inferer::check_outputs)).
    pub(crate) output_check: Option<crate::mode::OutputCheck>,
    /// Whether a request-rule warning refuses the run too.
    pub(crate) strict: bool,
    /// Whether the request rules only warn (`skip_preflight_checks`).
    pub(crate) skip_checks: bool,
    /// Built for a preflight only: nothing may be uploaded or sent.
    pub(crate) preflight_only: bool,
    /// Why the preflight reads nothing from AWS, when it does not.
    pub(crate) offline: Option<String>,
    /// The user's prices, for the cost estimate and the budget.
    pub(crate) prices: Option<crate::cost::PriceTable>,
    /// The most the run may cost by its upper estimate.
    pub(crate) max_estimated_cost: Option<f64>,
    /// Where the per-job limits came from, and why not Service Quotas.
    pub(crate) quota_source: (crate::preflight::QuotaSource, Option<String>),
}

/// Job name → (input SHA-256, the input object's ETag, a private temp file of its record ids,
/// one a line).
pub(crate) type LocalIds = std::sync::Arc<
    std::sync::Mutex<std::collections::HashMap<String, (String, String, std::fs::File)>>,
>;

/// Job name → (input SHA-256, the input's version as uploaded, the job's requests in its
/// batch API's form).
pub(crate) type LocalRequests = std::sync::Arc<
    std::sync::Mutex<
        std::collections::HashMap<String, (String, String, Arc<crate::backend::Requests>)>,
    >,
>;

impl JobConfig {
    /// A Bedrock run's configuration: its jobs on Bedrock, its record in its bucket.
    pub(crate) fn assemble(
        settings: RunSettings,
        region: &str,
        aws: Aws,
        adapter: Option<Arc<dyn ModelProviderAdapter>>,
    ) -> Self {
        let store: Arc<dyn RunStore> = Arc::new(S3Store::new(aws.clone(), &settings.bucket));
        let backend: Arc<dyn Backend> = Arc::new(aws.clone());
        let mut config = Self::assemble_on(settings, region, backend, store, adapter);
        config.aws = Some(aws);
        config
    }

    /// The one constructor: the settings, the batch API and the store, and the adapter (the
    /// caller's, else the registry's for the model and invocation type).
    pub(crate) fn assemble_on(
        settings: RunSettings,
        region: &str,
        backend: Arc<dyn Backend>,
        store: Arc<dyn RunStore>,
        adapter: Option<Arc<dyn ModelProviderAdapter>>,
    ) -> Self {
        let adapter = adapter.unwrap_or_else(|| settings.adapter());
        JobConfig {
            settings,
            region: region.to_owned(),
            output_dir: None,
            backend,
            store,
            aws: None,
            adapter,
            progress: None,
            poll: super::PollConfig::default(),
            local_ids: LocalIds::default(),
            local_requests: LocalRequests::default(),
            output_check: None,
            strict: false,
            skip_checks: false,
            preflight_only: false,
            offline: None,
            prices: None,
            max_estimated_cost: None,
            quota_source: (crate::preflight::QuotaSource::Defaults, None),
        }
    }

    /// The run's (base) job name.
    pub(crate) fn job_name(&self) -> &str {
        &self.settings.job_name
    }

    /// Where `key` of the run's store is (`s3://<bucket>/<key>` on Bedrock).
    pub(crate) fn url(&self, key: &str) -> String {
        self.store.url(key)
    }

    /// The output location given to every job of the run.
    pub(crate) fn output_uri(&self) -> String {
        self.store.url(crate::layout::OUTPUT_PREFIX)
    }

    /// The per-job limits.
    pub(crate) fn limits(&self) -> ShardLimits {
        self.settings.limits
    }

    /// The tool the model is forced to call, if any: the run-time one, else the type's.
    pub(crate) fn output_tool<O: super::OutputMode>(&self) -> Option<ToolDefinition> {
        self.settings.tool.clone().or_else(O::tool)
    }

    /// What a structured job asks each record for: the output tool under the run's strategy
    /// (a run recorded before strategies existed uses the adapter's old one). `None` for an
    /// untyped job without an output tool.
    pub(crate) fn output_spec<O: super::OutputMode>(&self) -> Result<Option<OutputSpec>, Error> {
        let Some(tool) = self.output_tool::<O>() else {
            return Ok(None);
        };
        let strategy = self
            .settings
            .output_strategy
            .unwrap_or_else(|| legacy_strategy(self.adapter.as_ref()));
        let tools = match &self.settings.tool {
            Some(_) => Vec::new(),
            None => O::tools(),
        };
        OutputSpec::new(&self.settings.model_name, strategy, tool, tools).map(Some)
    }

    /// Sends one progress report to `tracing` and to the `on_progress` callback.
    pub(crate) fn report(&self, progress: &Progress) {
        let message = match progress.stage {
            Stage::Uploading => "upload progress",
            Stage::Running => "job progress",
            Stage::Downloading => "download progress",
            Stage::OnDemand => "on-demand progress",
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
