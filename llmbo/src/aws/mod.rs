//! Every call to S3, IAM and Bedrock. Nothing else in the crate does I/O against AWS; the
//! lifecycle calls these and stays a sequence of typed steps.

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_sdk_bedrock::error::ProvideErrorMetadata;
use aws_sdk_s3::error::DisplayErrorContext;

use crate::error::{AwsErrorKind, Error};

mod backend;
mod bedrock;
mod iam;
#[cfg(feature = "service-quotas")]
mod quotas;
mod runtime;
mod s3;
mod store;
mod upload;

pub(crate) use bedrock::{CatalogAnswer, check_job_arn};
#[cfg(feature = "tables")]
pub(crate) use s3::download_to_temp;
pub(crate) use store::{S3FileStore, S3Store};
pub(crate) use upload::{PART_SIZE, Upload};

/// The three clients of a run, configured alike.
#[derive(Clone, Debug)]
pub(crate) struct Aws {
    s3: aws_sdk_s3::Client,
    iam: aws_sdk_iam::Client,
    bedrock: aws_sdk_bedrock::Client,
    /// On-demand calls (`bedrock-runtime`), for records under a job's minimum.
    runtime: aws_sdk_bedrockruntime::Client,
    /// The per-model batch quotas.
    #[cfg(feature = "service-quotas")]
    quotas: aws_sdk_servicequotas::Client,
    /// Sent as `x-amz-expected-bucket-owner` on S3 calls.
    bucket_owner: Option<String>,
}

/// Whether an endpoint URL is one of AWS's own (virtual-hosted S3 works there).
fn is_aws_endpoint(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    host.ends_with(".amazonaws.com")
        || host.ends_with(".amazonaws.com.cn")
        || host.ends_with(".api.aws")
}

/// The error of a failed AWS call: its kind (from the code, the HTTP status, or no answer at
/// all), the service's code and message, and the SDK's error as the source.
fn aws_error<E>(
    operation: &'static str,
    err: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_s3::error::SdkError;
    let code = err.code().unwrap_or("").to_owned();
    let message = match err.message() {
        Some(message) => message.to_owned(),
        // No answer from the service: the cause in one line; the whole chain stays in
        // `source` (and at `RUST_LOG=debug`).
        None => {
            tracing::debug!(operation, error = %DisplayErrorContext(&err), "an AWS call got no answer");
            no_answer_cause(&err)
        }
    };
    let kind = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => AwsErrorKind::Network,
        SdkError::ResponseError(_) => AwsErrorKind::Service,
        SdkError::ServiceError(service) => {
            AwsErrorKind::classify(&code, Some(service.raw().status().as_u16()))
        }
        _ => AwsErrorKind::classify(&code, None),
    };
    Error::Aws {
        operation,
        kind,
        code,
        message,
        source: Some(Box::new(err)),
    }
}

/// Why a call got no answer from the service, in one line a person can act on: missing
/// credentials named as such, else the innermost cause (a refused connection, a timeout).
fn no_answer_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut chain: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(level) = next {
        chain.push(level.to_string());
        next = level.source();
    }
    let all = chain.join(": ").to_lowercase();
    if all.contains("credentials") {
        return "no AWS credentials found (environment, profile, SSO, IMDS); set them, or use AWS_PROFILE".into();
    }
    let innermost = chain
        .iter()
        .rev()
        .find(|level| !level.trim().is_empty())
        .cloned()
        .unwrap_or_default();
    let head = chain.first().cloned().unwrap_or_default();
    if all.contains("timed out") || all.contains("timeout") {
        format!("no answer in time ({innermost})")
    } else if head == innermost {
        head
    } else {
        format!("{head}: {innermost}")
    }
}

impl Aws {
    /// Clients for `region`. S3 uses path-style addressing when the endpoint is not AWS's own
    /// (llmbo-local, MinIO, LocalStack), unless `force_path_style` says otherwise.
    pub(crate) fn new(
        sdk: &SdkConfig,
        region: &str,
        force_path_style: Option<bool>,
        bucket_owner: Option<String>,
    ) -> Self {
        Self::with_retry(sdk, region, force_path_style, bucket_owner, None)
    }

    /// As [`Aws::new`], with the caller's retry policy for every client instead of llmbo's
    /// (5 attempts for S3, 8 for Bedrock).
    pub(crate) fn with_retry(
        sdk: &SdkConfig,
        region: &str,
        force_path_style: Option<bool>,
        bucket_owner: Option<String>,
        retry: Option<&RetryConfig>,
    ) -> Self {
        #[cfg(feature = "service-quotas")]
        let region_name = region.to_owned();
        let region = aws_config::Region::new(region.to_owned());
        let path_style = force_path_style
            .unwrap_or_else(|| sdk.endpoint_url().is_some_and(|url| !is_aws_endpoint(url)));
        let s3_config = aws_sdk_s3::config::Builder::from(sdk)
            .region(region.clone())
            .force_path_style(path_style)
            .retry_config(
                retry
                    .cloned()
                    .unwrap_or_else(|| RetryConfig::standard().with_max_attempts(5)),
            )
            .build();
        // Throttling on the control plane is normal when many jobs are polled; the SDK's
        // standard mode backs off with jitter.
        // On demand, llmbo backs off on throttling itself (per record, with the polling
        // outage window); the SDK makes a few quick attempts first.
        let runtime_config = aws_sdk_bedrockruntime::config::Builder::from(sdk)
            .region(region.clone())
            .retry_config(
                retry
                    .cloned()
                    .unwrap_or_else(|| RetryConfig::standard().with_max_attempts(3)),
            )
            .build();
        let bedrock_config = aws_sdk_bedrock::config::Builder::from(sdk)
            .region(region)
            .retry_config(
                retry
                    .cloned()
                    .unwrap_or_else(|| RetryConfig::standard().with_max_attempts(8)),
            )
            .build();
        Aws {
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            iam: match retry {
                Some(retry) => aws_sdk_iam::Client::from_conf(
                    aws_sdk_iam::config::Builder::from(sdk)
                        .retry_config(retry.clone())
                        .build(),
                ),
                None => aws_sdk_iam::Client::new(sdk),
            },
            bedrock: aws_sdk_bedrock::Client::from_conf(bedrock_config),
            runtime: aws_sdk_bedrockruntime::Client::from_conf(runtime_config),
            #[cfg(feature = "service-quotas")]
            quotas: aws_sdk_servicequotas::Client::from_conf(
                aws_sdk_servicequotas::config::Builder::from(sdk)
                    .region(aws_config::Region::new(region_name.clone()))
                    .retry_config(
                        retry
                            .cloned()
                            .unwrap_or_else(|| RetryConfig::standard().with_max_attempts(3)),
                    )
                    .build(),
            ),
            bucket_owner,
        }
    }
}

/// The caller's AWS configuration, or the default chain (environment, profile, SSO, instance
/// role) when there is none.
pub(crate) async fn sdk_config_or_default(sdk_config: Option<SdkConfig>) -> SdkConfig {
    match sdk_config {
        Some(config) => config,
        None => aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
    }
}

#[cfg(test)]
mod tests {
    use super::is_aws_endpoint;

    #[test]
    fn tells_aws_endpoints_from_local_ones() {
        assert!(is_aws_endpoint("https://s3.eu-west-2.amazonaws.com"));
        assert!(is_aws_endpoint("https://bedrock.us-east-1.amazonaws.com/"));
        assert!(!is_aws_endpoint("http://127.0.0.1:4566"));
        assert!(!is_aws_endpoint("http://localhost:9000/"));
        assert!(!is_aws_endpoint("http://amazonaws.com.evil.example"));
    }
}
