//! One configuration path: the builder, a resumed run and a job recovered from its ARN all end
//! in a [`JobConfig`] built by [`JobConfig::assemble`] from [`RunSettings`], the part that is
//! persisted in the run record.
//!
//! A new `CreateModelInvocationJob` setting touches three places: a field of [`RunSettings`]
//! (persisted and restored with the run, and part of the idempotency token), its builder
//! method, and [`crate::aws::CreateJob`] with the call in `aws.rs`.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::ShardLimits;
use super::builder::ProgressCallback;
use crate::adapter::{InvocationType, ModelAdapterRegistry, ModelProviderAdapter};
use crate::aws::Aws;
use crate::output::ToolDefinition;
use crate::status::{JobDetails, JobStatus, Progress, Stage};

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
}

impl RunSettings {
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
        }
    }
}

/// What a run needs from start to end; shared by every state.
#[derive(Clone)]
pub(crate) struct JobConfig {
    /// The persisted settings.
    pub(crate) settings: RunSettings,
    pub(crate) region: String,
    pub(crate) output_dir: Option<PathBuf>,
    pub(crate) aws: Aws,
    pub(crate) adapter: Arc<dyn ModelProviderAdapter>,
    pub(crate) progress: Option<ProgressCallback>,
    pub(crate) poll: super::PollConfig,
}

impl JobConfig {
    /// The one constructor: the settings, the clients, and the adapter (the caller's, else the
    /// registry's for the model and invocation type).
    pub(crate) fn assemble(
        settings: RunSettings,
        region: &str,
        aws: Aws,
        adapter: Option<Arc<dyn ModelProviderAdapter>>,
    ) -> Self {
        let adapter = adapter.unwrap_or_else(|| {
            ModelAdapterRegistry::adapter_for(&settings.model_name, settings.invocation_type())
        });
        JobConfig {
            settings,
            region: region.to_owned(),
            output_dir: None,
            aws,
            adapter,
            progress: None,
            poll: super::PollConfig::default(),
        }
    }

    /// The run's (base) job name.
    pub(crate) fn job_name(&self) -> &str {
        &self.settings.job_name
    }

    /// The bucket.
    pub(crate) fn bucket(&self) -> &str {
        &self.settings.bucket
    }

    /// The per-job limits.
    pub(crate) fn limits(&self) -> ShardLimits {
        self.settings.limits
    }

    /// The tool the model is forced to call, if any: the run-time one, else the type's.
    pub(crate) fn output_tool<O: super::OutputMode>(&self) -> Option<ToolDefinition> {
        self.settings.tool.clone().or_else(O::tool)
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
