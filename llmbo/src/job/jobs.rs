//! [`Jobs`]: the account's batch jobs, for looking at and stopping jobs this process did not
//! create (what a command line or a dashboard needs).

use aws_config::SdkConfig;

use super::names;
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
    aws: Aws,
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
            aws: Aws::new(&sdk, region, None, None),
        }
    }

    pub(crate) fn from_aws(aws: Aws) -> Self {
        Jobs { aws }
    }

    /// One job as Bedrock describes it; [`Error::JobNotFound`] when there is no such job.
    pub async fn describe(&self, job_arn: &str) -> Result<JobDetails, Error> {
        names::check_job_arn(job_arn)?;
        self.aws.describe(job_arn).await
    }

    /// The region's jobs, newest first: all of them, or those with `status` and/or whose name
    /// contains `name_contains`.
    pub async fn list(
        &self,
        status: Option<&JobStatus>,
        name_contains: Option<&str>,
    ) -> Result<Vec<JobDetails>, Error> {
        self.aws
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
        match Backend::stop(&self.aws, job_arn).await {
            Ok(()) => Ok(true),
            Err(err) => {
                // It may have ended between the two calls.
                if self.aws.describe(job_arn).await?.status.is_finished() {
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
        let Some(file) = self.aws.output_files(details).await?.manifest else {
            return Ok(None);
        };
        let (bucket, key) = crate::layout::split_s3_uri(&file);
        let bytes = self.aws.get_bytes(bucket, key).await?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| Error::Corrupt {
                object: file.clone(),
                reason: err.to_string(),
            })
    }
}
