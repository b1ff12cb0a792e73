//! Bedrock as a [`Backend`]: batch jobs through the control plane, and Bedrock's own way of
//! making a create idempotent across processes and llmbo versions.

use super::Aws;
use crate::backend::{Backend, BackendFuture, JobRequest};
use crate::error::Error;
use crate::status::JobDetails;

impl Backend for Aws {
    /// Bedrock refuses a name in use by a job created with another token. When that job is
    /// this request's own (created by llmbo with the same model, role, input, output,
    /// invocation type and timeout, by a process that died before recording its ARN, or by an
    /// llmbo whose token was made otherwise), it is adopted; any other is an error naming the
    /// job.
    fn create<'a>(&'a self, job: JobRequest<'a>) -> BackendFuture<'a, String> {
        Box::pin(async move {
            match self.create_job(&job).await {
                Ok(arn) => Ok(arn),
                Err(Error::Aws { message, .. })
                    if message.contains("job name is currently in use") =>
                {
                    match self.same_request_job(&job).await? {
                        Some(arn) => {
                            tracing::info!(job_arn = %arn, job_name = %job.job_name, "a job of this name and request exists: adopting it");
                            Ok(arn)
                        }
                        None => Err(Error::InvalidConfig {
                            field: "job_name",
                            reason: format!(
                                "Bedrock has a job named `{}` already, created with other settings or inputs; \
                                 choose another job name, or resume the run that created it",
                                job.job_name
                            ),
                        }),
                    }
                }
                Err(other) => Err(other),
            }
        })
    }

    fn describe<'a>(&'a self, job_id: &'a str) -> BackendFuture<'a, JobDetails> {
        Box::pin(self.describe_job(job_id))
    }

    fn find<'a>(
        &'a self,
        status: Option<&'a str>,
        name_contains: Option<&'a str>,
    ) -> BackendFuture<'a, Vec<JobDetails>> {
        Box::pin(self.list_jobs(status, name_contains))
    }

    fn stop<'a>(&'a self, job_id: &'a str) -> BackendFuture<'a, ()> {
        Box::pin(self.stop_job(job_id))
    }
}

impl Aws {
    /// The ARN of the job named `job.job_name` when it is this request: made by llmbo (its
    /// `created-by` tag), with the same model, role, input, output location, invocation type
    /// and timeout.
    async fn same_request_job(&self, job: &JobRequest<'_>) -> Result<Option<String>, Error> {
        let settings = job.settings;
        let found = self.list_jobs(None, Some(job.job_name)).await?;
        for summary in found.into_iter().filter(|j| j.job_name == job.job_name) {
            let details = self.describe_job(&summary.job_arn).await?;
            let same = details.model_id == settings.model_name
                && details.role_arn == settings.role_arn
                && details.input_uri == job.input
                && details.output_uri.trim_end_matches('/') == job.output.trim_end_matches('/')
                && details.converse == settings.converse
                && details
                    .timeout_hours
                    .is_none_or(|h| i64::from(h) == i64::from(settings.timeout_hours));
            if same
                && self
                    .creation_settings(&summary.job_arn)
                    .await?
                    .llmbo_created
            {
                return Ok(Some(summary.job_arn));
            }
        }
        Ok(None)
    }
}
