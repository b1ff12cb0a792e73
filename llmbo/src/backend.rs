//! The seam between the lifecycle and a batch API: what the engine, the scheduler, retries
//! and re-asks need of a provider's jobs, and nothing of how it is asked.
//!
//! Bedrock is the one backend today ([`crate::aws::Aws`]); the lifecycle above this trait does
//! not name it. Where a run's record is kept is the other half of the seam,
//! [`crate::store::RunStore`].

use std::future::Future;
use std::pin::Pin;

use crate::error::Error;
use crate::settings::RunSettings;
use crate::status::JobDetails;

/// A backend's answer, boxed so that the lifecycle holds any backend as one object.
pub(crate) type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// One job to create: everything its request says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobRequest<'a> {
    /// The run's settings: model, role, timeout, KMS key, bucket owner, VPC, invocation type.
    pub(crate) settings: &'a RunSettings,
    pub(crate) job_name: &'a str,
    /// Names the request: the same token makes the same job, so a repeated or resumed create
    /// never starts a second one.
    pub(crate) token: &'a str,
    /// Where the job's input is (`s3://…` on Bedrock).
    pub(crate) input: &'a str,
    /// Where its output goes.
    pub(crate) output: &'a str,
    /// The user's tags with llmbo's own.
    pub(crate) tags: &'a [(String, String)],
}

/// What the lifecycle needs of a batch API's jobs.
pub(crate) trait Backend: Send + Sync + std::fmt::Debug {
    /// Creates the job, or finds the one this same request created before (a process that
    /// died before recording it); its id (an ARN on Bedrock). A job of that name made by
    /// another request is an error naming it.
    fn create<'a>(&'a self, job: JobRequest<'a>) -> BackendFuture<'a, String>;

    /// Where a job is: its status, counts and settings.
    fn describe<'a>(&'a self, job_id: &'a str) -> BackendFuture<'a, JobDetails>;

    /// Jobs, newest first, with this status (the provider's name for it) and a part of the
    /// name.
    fn find<'a>(
        &'a self,
        status: Option<&'a str>,
        name_contains: Option<&'a str>,
    ) -> BackendFuture<'a, Vec<JobDetails>>;

    /// Asks a job to stop.
    fn stop<'a>(&'a self, job_id: &'a str) -> BackendFuture<'a, ()>;
}
