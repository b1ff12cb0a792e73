//! The names of the Python llmbo (PyPI `llmbo-bedrock`), kept so code and habits carry over:
//! each is an alias of the Rust-style name it documents, and does exactly what that one does.
//! The table is in the crate docs ("The names of the Python llmbo").

use aws_config::SdkConfig;

use super::builder::InfererBuilder;
use super::state::{Downloaded, Finished, Ready, Submitted};
use super::{Inferer, Recovered};
use crate::error::Error;
use crate::mode::{OutputMode, Structured, Untyped};
use crate::output::BatchOutput;
use crate::status::JobDetails;

/// The names in the Python llmbo.
impl<O, M, B, R, J, A> InfererBuilder<O, M, B, R, J, A> {
    /// The name in the Python llmbo for [`timeout_hours`](Self::timeout_hours).
    pub fn time_out_duration_hours(self, hours: u32) -> Self {
        self.timeout_hours(hours)
    }
}

/// The names in the Python llmbo.
impl Inferer<Untyped, Ready> {
    /// The name in the Python llmbo for [`recover`](Self::recover) of an untyped inferer.
    pub async fn recover_details_from_job_arn(
        job_arn: &str,
        region: &str,
        sdk_config: Option<SdkConfig>,
    ) -> Result<Recovered<Untyped>, Error> {
        Self::recover(job_arn, region, sdk_config).await
    }

    /// The name in the Python llmbo for [`describe_job`](Self::describe_job).
    pub async fn check_for_existing_job(
        job_arn: &str,
        region: &str,
        sdk_config: Option<SdkConfig>,
    ) -> Result<JobDetails, Error> {
        Self::describe_job(job_arn, region, sdk_config).await
    }
}

/// The names in the Python llmbo.
impl<T: BatchOutput + Send + 'static> Inferer<Structured<T>, Ready> {
    /// The name in the Python llmbo for [`recover`](Self::recover) of a structured inferer.
    pub async fn recover_structured_job(
        job_arn: &str,
        region: &str,
        sdk_config: Option<SdkConfig>,
    ) -> Result<Recovered<Structured<T>>, Error> {
        Self::recover(job_arn, region, sdk_config).await
    }
}

macro_rules! unique_id_from_arn {
    ($($state:ident),*) => {$(
        /// The names in the Python llmbo.
        impl<O: OutputMode> Inferer<O, $state> {
            /// The name in the Python llmbo for `job_id`.
            pub fn unique_id_from_arn(&self) -> &str {
                self.job_id()
            }
        }
    )*};
}

unique_id_from_arn!(Submitted, Finished, Downloaded);
