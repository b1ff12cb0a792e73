//! [`Jobs`]: the account's batch jobs, for looking at and stopping jobs this process did not
//! create (what a command line or a dashboard needs).

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::aws::Aws;
use crate::backend::Backend;
use crate::error::Error;
use crate::manifest::Manifest;
use crate::status::{JobDetails, JobStatus};

/// A client for the batch jobs of one region: describe, list, stop, and read a finished job's
/// `manifest.json.out`.
///
/// ```no_run
/// # async fn demo() -> Result<(), llmbo::Error> {
/// let jobs = llmbo::run::Jobs::connect("us-east-1", None).await;
/// for job in jobs.list(Some(&llmbo::status::JobStatus::InProgress), None).await? {
///     println!("{} {} {:?}/{:?}", job.job_name, job.status, job.processed_record_count, job.total_record_count);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Jobs {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs").finish_non_exhaustive()
    }
}

impl Jobs {
    /// A client for `region`, with `sdk_config` or the default AWS configuration (environment,
    /// profile, instance role).
    pub async fn connect(region: &str, sdk_config: Option<SdkConfig>) -> Self {
        let sdk = crate::aws::sdk_config_or_default(sdk_config).await;
        Jobs {
            backend: Arc::new(Aws::new(&sdk, region, None, None)),
        }
    }

    /// A client for the batches of a batch API other than Bedrock that runs kept in `store`
    /// made (the store's register: these APIs keep no job names), with the key given or the
    /// provider's environment variable, and the base URL given or the environment's.
    /// A store in S3 (`s3://bucket/prefix`) is read with `sdk_config` (`None`: the usual
    /// chain).
    pub async fn connect_api(
        provider: crate::model::Provider,
        store: &str,
        base_url: Option<&str>,
        api_key: Option<&str>,
        sdk_config: Option<SdkConfig>,
    ) -> Result<Self, Error> {
        let mut settings = crate::settings::RunSettings {
            provider,
            store: Some(store.to_owned()),
            ..crate::settings::RunSettings::default()
        };
        settings.base_url = super::connect::base_url(&settings, base_url);
        let store = super::connect::open_store(&settings, sdk_config, None).await?;
        let (backend, _) = super::connect::connect(&settings, api_key, store)?;
        Ok(Jobs { backend })
    }

    /// The jobs of the backend a run is on.
    pub(crate) fn of(backend: Arc<dyn Backend>) -> Self {
        Jobs { backend }
    }

    /// One job as Bedrock describes it; [`Error::JobNotFound`] when there is no such job.
    pub async fn describe(&self, job_arn: &str) -> Result<JobDetails, Error> {
        self.backend.check_id(job_arn)?;
        self.backend.describe(job_arn).await
    }

    /// The region's jobs, newest first: all of them, or those with `status` and/or whose name
    /// contains `name_contains`.
    pub async fn list(
        &self,
        status: Option<&JobStatus>,
        name_contains: Option<&str>,
    ) -> Result<Vec<JobDetails>, Error> {
        self.backend
            .find(status.map(JobStatus::as_str), name_contains)
            .await
    }

    /// Asks Bedrock to stop a job and returns without waiting. A job that has already ended is
    /// left as it is (`Ok(false)`); `Ok(true)` means a stop was requested.
    pub async fn stop(&self, job_arn: &str) -> Result<bool, Error> {
        let details = self.describe(job_arn).await?;
        if details.status.is_finished() || details.status == JobStatus::Stopping {
            return Ok(false);
        }
        match self.backend.stop(job_arn).await {
            Ok(()) => Ok(true),
            Err(err) => {
                // It may have ended between the two calls.
                if self.backend.describe(job_arn).await?.status.is_finished() {
                    Ok(false)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// The job's `manifest.json.out` (record and token counts), once Bedrock has written it;
    /// `None` before that or when the job ended without one.
    pub async fn output_manifest(&self, details: &JobDetails) -> Result<Option<Manifest>, Error> {
        let Some(file) = self.backend.output_files(details).await?.manifest else {
            return Ok(None);
        };
        let mut lines = self.backend.lines(&file).await?;
        let mut bytes = Vec::new();
        while let Some(line) = lines.next_line().await? {
            bytes.extend_from_slice(&line);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| Error::Corrupt {
                object: file.clone(),
                reason: err.to_string(),
            })
    }
}
