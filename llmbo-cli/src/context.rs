//! What every command needs: the AWS configuration, the region, how to fail.

use llmbo::builder::SdkConfig;
use llmbo::mode::Untyped;
use llmbo::run::Jobs;
use llmbo::{BatchRun, Error};

use crate::args::Global;

/// Why the command failed, and so its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage or input: exit 2.
    Usage(String),
    /// A job failed, too many records failed, or AWS refused: exit 1.
    Failed(String),
}

impl Failure {
    pub fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Failed(_) => 1,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Failure::Usage(message) | Failure::Failed(message) => message,
        }
    }
}

/// The whole cause chain of the last library error that became a [`Failure`]: printed at
/// `RUST_LOG=debug` and given as `detail` with `--json`, never in the one line a person reads.
static DETAIL: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// The chain of `err`, each cause's Display then its Debug (the SDK's own error in full).
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut next = err.source();
    while let Some(cause) = next {
        parts.push(format!("{cause} ({cause:?})"));
        next = cause.source();
    }
    parts.join(": ")
}

/// The detail of the failure being reported, if the library gave one.
pub fn take_detail() -> Option<String> {
    DETAIL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        let detail = chain(&err);
        tracing::debug!(error = %detail, "the command failed");
        *DETAIL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(detail);
        let message = err.to_string();
        match err {
            Error::InvalidConfig { .. }
            | Error::InvalidInput { .. }
            | Error::Refused { .. }
            | Error::OverBudget { .. }
            | Error::TooFewRecords { .. }
            | Error::Table { .. } => Failure::Usage(message),
            // Everything else, local I/O of llmbo's own files included, is not the user's
            // usage: exit 1.
            _ => Failure::Failed(message),
        }
    }
}

/// A job ARN or a run manifest URI.
pub enum Target<'a> {
    Job(&'a str),
    Run(&'a str),
}

impl<'a> Target<'a> {
    pub fn parse(text: &'a str) -> Result<Self, Failure> {
        if text.starts_with("arn:") {
            Ok(Target::Job(text))
        } else if text.ends_with(".run.json") {
            Ok(Target::Run(text))
        } else {
            Err(Failure::Usage(format!(
                "`{text}` is neither a job ARN (arn:aws:bedrock:…:model-invocation-job/…) nor a run's record (s3://…/input/<name>.run.json, or <store>/input/<name>.run.json)"
            )))
        }
    }

    /// The region an ARN names (`arn:aws:bedrock:<region>:…`).
    fn region(&self) -> Option<&'a str> {
        match self {
            Target::Job(arn) => arn.split(':').nth(3).filter(|r| !r.is_empty()),
            Target::Run(_) => None,
        }
    }
}

/// What a command that needs a region says without one.
pub const NO_REGION: &str = "no region: pass --region or set AWS_REGION";

pub struct Context {
    global: Global,
}

impl Context {
    pub fn new(global: Global) -> Self {
        Context { global }
    }

    pub fn json(&self) -> bool {
        self.global.json
    }

    /// The AWS configuration: the usual chain, with `--endpoint-url` and `--region`.
    pub async fn sdk(&self, target: Option<&Target<'_>>) -> Result<(SdkConfig, String), Failure> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(url) = &self.global.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let explicit = self
            .global
            .region
            .clone()
            .or_else(|| target.and_then(Target::region).map(str::to_owned));
        if let Some(region) = &explicit {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let sdk = loader.load().await;
        let region = explicit
            .or_else(|| sdk.region().map(|r| r.as_ref().to_owned()))
            .ok_or_else(|| Failure::Usage(NO_REGION.into()))?;
        Ok((sdk, region))
    }

    /// As [`sdk`](Self::sdk), for a command that can do without a region (`lint`): `None`
    /// when no region is given or configured.
    pub async fn sdk_if_region(&self) -> (SdkConfig, Option<String>) {
        match self.sdk(None).await {
            Ok((sdk, region)) => (sdk, Some(region)),
            Err(_) => {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
                if let Some(url) = &self.global.endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                (loader.load().await, None)
            }
        }
    }

    /// The AWS configuration of a run store in S3 (`s3://…`), `None` for a local folder.
    pub async fn store_sdk(&self, store: &str) -> Result<Option<SdkConfig>, Failure> {
        if store.starts_with("s3://") {
            Ok(Some(self.sdk(None).await?.0))
        } else {
            Ok(None)
        }
    }

    pub async fn jobs(&self, target: Option<&Target<'_>>) -> Result<Jobs, Failure> {
        let (sdk, region) = self.sdk(target).await?;
        Ok(Jobs::connect(&region, Some(sdk)).await)
    }

    /// The run a target names: a run record, or a bare job ARN as a run of one.
    pub async fn run(&self, target: &Target<'_>) -> Result<BatchRun<Untyped>, Failure> {
        self.run_as::<Untyped>(target).await
    }

    /// The run (or the run of one job) with its results read as `O`.
    pub async fn run_as<O: llmbo::mode::OutputMode>(
        &self,
        target: &Target<'_>,
    ) -> Result<BatchRun<O>, Failure> {
        if let Target::Run(uri) = target
            && !uri.starts_with("s3://")
        {
            // A run on a batch API other than Bedrock: its folder, and the provider's key.
            return Ok(BatchRun::resume_with_key(uri, None).await?);
        }
        let (sdk, region) = self.sdk(Some(target)).await?;
        Ok(match target {
            Target::Job(arn) => BatchRun::from_job_arn(arn, &region, Some(sdk)).await?,
            Target::Run(uri) => BatchRun::resume(uri, &region, Some(sdk)).await?,
        })
    }
}
