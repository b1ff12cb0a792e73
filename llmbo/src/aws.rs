//! Every call to S3, IAM and Bedrock. Nothing else in the crate does I/O against AWS; the
//! lifecycle calls these and stays a sequence of typed steps.

use std::path::Path;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_sdk_bedrock::error::ProvideErrorMetadata;
use aws_sdk_bedrock::types::{
    ModelInvocationJobInputDataConfig, ModelInvocationJobOutputDataConfig,
    ModelInvocationJobS3InputDataConfig, ModelInvocationJobS3OutputDataConfig, ModelInvocationType,
    Tag, VpcConfig,
};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use tokio::io::AsyncWriteExt;

use crate::error::{AwsErrorKind, Error};
use crate::settings::RunSettings;
use crate::status::{JobDetails, JobStatus};

/// S3 parts are at least 5 MiB except the last; 8 MiB keeps the part count low for 1 GB inputs.
pub(crate) const PART_SIZE: usize = 8 * 1024 * 1024;

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

/// `JobDetails` from a `GetModelInvocationJob` answer or a `ListModelInvocationJobs` summary:
/// the two SDK types have the same getters but no common trait.
macro_rules! job_details {
    ($job:expr) => {{
        let job = $job;
        let input_uri = match job.input_data_config() {
            Some(ModelInvocationJobInputDataConfig::S3InputDataConfig(c)) => c.s3_uri().to_owned(),
            _ => String::new(),
        };
        let output_uri = match job.output_data_config() {
            Some(ModelInvocationJobOutputDataConfig::S3OutputDataConfig(c)) => {
                c.s3_uri().to_owned()
            }
            _ => String::new(),
        };
        let count = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok());
        JobDetails {
            job_arn: job.job_arn().to_owned(),
            // `            job_name: job.job_name().to_owned(),str` in summaries, `Option<&str>` in GetModelInvocationJob.
            job_name: Option::<&str>::from(job.job_name()).unwrap_or_default().to_owned(),
            model_id: job.model_id().to_owned(),
            role_arn: job.role_arn().to_owned(),
            status: job.status().map_or(JobStatus::Unknown(String::new()), |s| {
                JobStatus::from_wire(s.as_str())
            }),
            message: job.message().map(str::to_owned),
            input_uri,
            output_uri,
            converse: job.model_invocation_type() == Some(&ModelInvocationType::Converse),
            timeout_hours: job.timeout_duration_in_hours(),
            total_record_count: count(job.total_record_count()),
            processed_record_count: count(job.processed_record_count()),
            success_record_count: count(job.success_record_count()),
            error_record_count: count(job.error_record_count()),
        }
    }};
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

    /// The region the bucket is in: HeadBucket's `x-amz-bucket-region`, else
    /// GetBucketLocation (empty means us-east-1, `EU` means eu-west-1).
    pub(crate) async fn bucket_region(&self, bucket: &str) -> Result<String, Error> {
        let head = self
            .s3
            .head_bucket()
            .bucket(bucket)
            .set_expected_bucket_owner(self.bucket_owner.clone())
            .send()
            .await;
        match head {
            Ok(out) => {
                if let Some(region) = out.bucket_region() {
                    return Ok(region.to_owned());
                }
            }
            Err(err) => {
                // A bucket in another region answers 301 with its region in the header.
                let header = err
                    .raw_response()
                    .and_then(|r| r.headers().get("x-amz-bucket-region"))
                    .map(str::to_owned);
                if let Some(region) = header {
                    return Ok(region);
                }
                let status = err.raw_response().map(|r| r.status().as_u16());
                return match status {
                    Some(404 | 403 | 400) => Err(Error::BucketNotFound {
                        bucket: bucket.to_owned(),
                    }),
                    _ => Err(aws_error("HeadBucket", err)),
                };
            }
        }
        let location = self
            .s3
            .get_bucket_location()
            .bucket(bucket)
            .set_expected_bucket_owner(self.bucket_owner.clone())
            .send()
            .await
            .map_err(|e| aws_error("GetBucketLocation", e))?;
        Ok(match location.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_owned(),
            Some("EU") => "eu-west-1".to_owned(),
            Some(region) => region.to_owned(),
        })
    }

    /// Checks the role exists (IAM GetRole takes the role's name, not its ARN). A caller not
    /// allowed to read roles cannot check; that is logged, not fatal.
    pub(crate) async fn check_role(&self, role_arn: &str) -> Result<(), Error> {
        let name = role_arn.rsplit('/').next().unwrap_or(role_arn);
        match self.iam.get_role().role_name(name).send().await {
            Ok(_) => Ok(()),
            Err(err) => {
                let service = err.as_service_error();
                if service.is_some_and(|e| e.is_no_such_entity_exception()) {
                    Err(Error::RoleNotFound {
                        role_arn: role_arn.to_owned(),
                    })
                } else if err.code() == Some("AccessDenied") {
                    tracing::warn!(
                        role_arn,
                        "not allowed to call iam:GetRole; the role was not checked"
                    );
                    Ok(())
                } else {
                    Err(aws_error("GetRole", err))
                }
            }
        }
    }

    /// Starts a streamed upload of one object.
    pub(crate) fn upload<'a>(&'a self, bucket: &'a str, key: &'a str) -> Upload<'a> {
        Upload {
            aws: self,
            bucket,
            key,
            buffer: Vec::with_capacity(PART_SIZE),
            upload_id: None,
            parts: Vec::new(),
            in_flight: std::collections::VecDeque::new(),
        }
    }

    /// Keys under `prefix`, all pages.
    pub(crate) async fn list_keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, Error> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .set_expected_bucket_owner(self.bucket_owner.clone())
                .send()
                .await
                .map_err(|e| aws_error("ListObjectsV2", e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .map(str::to_owned),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => return Ok(keys),
            }
        }
    }

    /// An object's body as a stream.
    pub(crate) async fn get(&self, bucket: &str, key: &str) -> Result<ByteStream, Error> {
        let object = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_expected_bucket_owner(self.bucket_owner.clone())
            .send()
            .await
            .map_err(|e| aws_error("GetObject", e))?;
        Ok(object.body)
    }

    /// A small object whole with its ETag, or `None` when there is no such object: what a
    /// read-modify-write starts from.
    pub(crate) async fn get_versioned(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(Vec<u8>, String)>, Error> {
        let object = match self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_expected_bucket_owner(self.bucket_owner.clone())
            .send()
            .await
        {
            Ok(object) => object,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(err) => return Err(aws_error("GetObject", err)),
        };
        let etag = object.e_tag().unwrap_or_default().to_owned();
        let data = object
            .body
            .collect()
            .await
            .map_err(|e| read_error(bucket, key, &e))?;
        Ok(Some((data.into_bytes().to_vec(), etag)))
    }

    /// Writes a small object only if it is as expected: new (`If-None-Match: *`), or unchanged
    /// since it had `etag` (`If-Match`). Returns the new ETag; a lost race is an
    /// [`AwsErrorKind::Conflict`] error (S3's 412 `PreconditionFailed` or 409
    /// `ConditionalRequestConflict`).
    pub(crate) async fn put_conditional(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        expected: Expected<'_>,
    ) -> Result<String, Error> {
        let request = self
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body))
            .set_expected_bucket_owner(self.bucket_owner.clone());
        let request = match expected {
            Expected::Absent => request.if_none_match("*"),
            Expected::Unchanged(etag) => request.if_match(etag),
        };
        let put = request.send().await.map_err(|err| {
            // If-Match on an object deleted meanwhile is S3's 404: a conflict here too.
            let missing = err
                .raw_response()
                .is_some_and(|r| r.status().as_u16() == 404);
            let mut err = aws_error("PutObject", err);
            if missing && let Error::Aws { kind, .. } = &mut err {
                *kind = AwsErrorKind::Conflict;
            }
            err
        })?;
        Ok(put.e_tag().unwrap_or_default().to_owned())
    }

    /// An object's ETag, `None` when there is no such object.
    pub(crate) async fn etag(&self, bucket: &str, key: &str) -> Result<Option<String>, Error> {
        match self
            .s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .set_expected_bucket_owner(self.bucket_owner.clone())
            .send()
            .await
        {
            Ok(head) => Ok(Some(head.e_tag().unwrap_or_default().to_owned())),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(aws_error("HeadObject", err)),
        }
    }

    /// Downloads an object into memory.
    pub(crate) async fn get_bytes(&self, bucket: &str, key: &str) -> Result<Vec<u8>, Error> {
        let body = self.get(bucket, key).await?;
        let data = body
            .collect()
            .await
            .map_err(|e| read_error(bucket, key, &e))?;
        Ok(data.into_bytes().to_vec())
    }

    /// An object read line by line, one line in memory at a time.
    pub(crate) async fn lines(&self, bucket: &str, key: &str) -> Result<Lines, Error> {
        let body = self.get(bucket, key).await?;
        Ok(Lines {
            reader: Box::new(tokio::io::BufReader::new(body.into_async_read())),
            object: (bucket.to_owned(), key.to_owned()),
        })
    }

    /// Streams an object into a new private file (mode 0600); returns the bytes and lines
    /// written.
    pub(crate) async fn download_to(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
    ) -> Result<(u64, u64), Error> {
        let mut body = self.get(bucket, key).await?;
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        // Written in large pieces: each write of a tokio file is a hand-off to a blocking
        // thread, and the body comes in small chunks.
        let mut file = tokio::io::BufWriter::with_capacity(
            2 << 20,
            crate::files::create_private(path).await.map_err(io)?,
        );
        let (mut bytes, mut lines) = (0u64, 0u64);
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| read_error(bucket, key, &e))?
        {
            file.write_all(&chunk).await.map_err(io)?;
            bytes += chunk.len() as u64;
            lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        file.flush().await.map_err(io)?;
        Ok((bytes, lines))
    }

    pub(crate) async fn create_job(&self, job: &CreateJob<'_>) -> Result<String, Error> {
        let settings = job.settings;
        let input = ModelInvocationJobS3InputDataConfig::builder()
            .s3_uri(job.input_uri)
            .set_s3_bucket_owner(settings.bucket_owner.clone())
            .build()
            .map_err(|e| Error::InvalidConfig {
                field: "input",
                reason: e.to_string(),
            })?;
        let output = ModelInvocationJobS3OutputDataConfig::builder()
            .s3_uri(job.output_uri)
            .set_s3_encryption_key_id(settings.kms_key_id.clone())
            .set_s3_bucket_owner(settings.bucket_owner.clone())
            .build()
            .map_err(|e| Error::InvalidConfig {
                field: "output",
                reason: e.to_string(),
            })?;
        let tags = job
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::InvalidConfig {
                field: "tags",
                reason: e.to_string(),
            })?;
        let vpc = match &settings.vpc {
            Some(vpc) => Some(
                VpcConfig::builder()
                    .set_subnet_ids(Some(vpc.subnet_ids.clone()))
                    .set_security_group_ids(Some(vpc.security_group_ids.clone()))
                    .build()
                    .map_err(|e| Error::InvalidConfig {
                        field: "vpc_config",
                        reason: e.to_string(),
                    })?,
            ),
            None => None,
        };
        let created = self
            .bedrock
            .create_model_invocation_job()
            .job_name(job.job_name)
            .role_arn(&settings.role_arn)
            .model_id(&settings.model_name)
            .client_request_token(job.client_request_token)
            .input_data_config(ModelInvocationJobInputDataConfig::S3InputDataConfig(input))
            .output_data_config(ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
                output,
            ))
            .timeout_duration_in_hours(i32::try_from(settings.timeout_hours).unwrap_or(168))
            .set_tags(Some(tags))
            .set_vpc_config(vpc)
            .set_model_invocation_type(settings.converse.then_some(ModelInvocationType::Converse))
            .send()
            .await
            .map_err(|e| aws_error("CreateModelInvocationJob", e))?;
        Ok(created.job_arn().to_owned())
    }

    /// One on-demand `InvokeModel` call with `body` (a batch record's `modelInput`): the
    /// response body. `service_tier` goes in `X-Amzn-Bedrock-Service-Tier`.
    pub(crate) async fn invoke(
        &self,
        model_id: &str,
        body: Vec<u8>,
        service_tier: Option<&str>,
    ) -> Result<Vec<u8>, Error> {
        let mut call = self
            .runtime
            .invoke_model()
            .model_id(model_id)
            .content_type("application/json")
            .accept("application/json")
            .body(aws_sdk_bedrockruntime::primitives::Blob::new(body));
        if let Some(tier) = service_tier {
            call = call.service_tier(aws_sdk_bedrockruntime::types::ServiceTierType::from(tier));
        }
        let answer = call.send().await.map_err(|e| aws_error("InvokeModel", e))?;
        Ok(answer.body.into_inner())
    }

    /// One on-demand `Converse` call with `body`, a Converse-type batch record's `modelInput`
    /// (which is a Converse request without the model id, service tier included), sent as it
    /// is: the response body, which is what a Converse batch job writes as `modelOutput`.
    ///
    /// The SDK's Converse takes typed input and returns typed output; the record's JSON is put
    /// in place of the serialized (empty) request just before signing, and the response's bytes
    /// are kept as the SDK read them, so no field the SDK's types lack is lost either way.
    pub(crate) async fn converse(&self, model_id: &str, body: Vec<u8>) -> Result<Vec<u8>, Error> {
        let answer = Arc::new(std::sync::Mutex::new(None));
        let length = body.len().to_string();
        self.runtime
            .converse()
            .model_id(model_id)
            .customize()
            .mutate_request(move |request| {
                *request.body_mut() = aws_sdk_s3::primitives::SdkBody::from(body.clone());
                request
                    .headers_mut()
                    .insert("content-length", length.clone());
            })
            .interceptor(KeepResponse(Arc::clone(&answer)))
            .send()
            .await
            .map_err(|e| aws_error("Converse", e))?;
        let kept = answer.lock().ok().and_then(|mut kept| kept.take());
        kept.ok_or_else(|| Error::Internal {
            what: "an on-demand Converse call",
            reason: "the response body was not kept".into(),
        })
    }

    /// The input tokens of one InvokeModel body, by the runtime's `CountTokens`.
    pub(crate) async fn count_tokens(
        &self,
        model_id: &str,
        body: &serde_json::Value,
    ) -> Result<u64, Error> {
        use aws_sdk_bedrockruntime::types::{CountTokensInput, InvokeModelTokensRequest};
        let request = InvokeModelTokensRequest::builder()
            .body(aws_sdk_bedrockruntime::primitives::Blob::new(
                serde_json::to_vec(body).unwrap_or_default(),
            ))
            .build()
            .map_err(|err| Error::Internal {
                what: "building a CountTokens request",
                reason: err.to_string(),
            })?;
        let answer = self
            .runtime
            .count_tokens()
            .model_id(model_id)
            .input(CountTokensInput::InvokeModel(request))
            .send()
            .await
            .map_err(|e| aws_error("CountTokens", e))?;
        Ok(u64::try_from(answer.input_tokens()).unwrap_or(0))
    }

    /// Bedrock's batch quotas for the model named `model_name` in the catalog: `(quota name,
    /// value)` for each quota whose name ends with `for <model name>`.
    #[cfg(feature = "service-quotas")]
    pub(crate) async fn batch_quotas(&self, model_name: &str) -> Result<Vec<(String, f64)>, Error> {
        let suffix = format!(" for {model_name}");
        let mut found = Vec::new();
        let mut token = None;
        // Bedrock has a few thousand quotas; 100 a page.
        for _ in 0..60 {
            let page = self
                .quotas
                .list_service_quotas()
                .service_code("bedrock")
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| aws_error("ListServiceQuotas", e))?;
            for quota in page.quotas() {
                if let (Some(name), Some(value)) = (quota.quota_name(), quota.value())
                    && name.ends_with(&suffix)
                {
                    found.push((name.to_owned(), value));
                }
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(found)
    }

    pub(crate) async fn describe_job(&self, job_arn: &str) -> Result<JobDetails, Error> {
        let job = self
            .bedrock
            .get_model_invocation_job()
            .job_identifier(job_arn)
            .send()
            .await
            .map_err(|err| {
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception())
                {
                    Error::JobNotFound {
                        job_arn: job_arn.to_owned(),
                    }
                } else {
                    aws_error("GetModelInvocationJob", err)
                }
            })?;
        Ok(job_details!(job))
    }

    /// What a job was created with beyond its summary: the KMS key of its output, the bucket
    /// owner it names, its VPC, and its tags (without llmbo's `created-by`), from
    /// GetModelInvocationJob and ListTagsForResource, so a retry of a recovered job runs with
    /// the settings the job was created with.
    pub(crate) async fn creation_settings(&self, job_arn: &str) -> Result<CreationSettings, Error> {
        let job = self
            .bedrock
            .get_model_invocation_job()
            .job_identifier(job_arn)
            .send()
            .await
            .map_err(|e| aws_error("GetModelInvocationJob", e))?;
        let mut settings = CreationSettings::default();
        if let Some(ModelInvocationJobOutputDataConfig::S3OutputDataConfig(output)) =
            job.output_data_config()
        {
            settings.kms_key_id = output.s3_encryption_key_id().map(str::to_owned);
            settings.bucket_owner = output.s3_bucket_owner().map(str::to_owned);
        }
        if let Some(ModelInvocationJobInputDataConfig::S3InputDataConfig(input)) =
            job.input_data_config()
            && settings.bucket_owner.is_none()
        {
            settings.bucket_owner = input.s3_bucket_owner().map(str::to_owned);
        }
        settings.vpc = job.vpc_config().map(|vpc| crate::settings::VpcSettings {
            subnet_ids: vpc.subnet_ids().to_vec(),
            security_group_ids: vpc.security_group_ids().to_vec(),
        });
        let tags = match self
            .bedrock
            .list_tags_for_resource()
            .resource_arn(job_arn)
            .send()
            .await
            .map_err(|e| aws_error("ListTagsForResource", e))
        {
            Ok(tags) => tags,
            // A policy without bedrock:ListTagsForResource: the job is still usable, its tags
            // are not known.
            Err(err) if err.aws_kind() == Some(crate::error::AwsErrorKind::AccessDenied) => {
                tracing::warn!(job_arn, error = %err, "the job's tags cannot be read: a retry of it runs without them");
                return Ok(settings);
            }
            Err(err) => return Err(err),
        };
        settings.llmbo_created = tags.tags().iter().any(|tag| {
            tag.key() == crate::settings::CREATED_BY_TAG && tag.value().starts_with("llmbo-")
        });
        settings.tags = tags
            .tags()
            .iter()
            .filter(|tag| tag.key() != crate::settings::CREATED_BY_TAG)
            .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
            .collect();
        Ok(settings)
    }

    /// Jobs in the account and region, newest first, optionally filtered by Bedrock's status
    /// name and a part of the job name; all pages.
    pub(crate) async fn list_jobs(
        &self,
        status: Option<&str>,
        name_contains: Option<&str>,
    ) -> Result<Vec<JobDetails>, Error> {
        let mut jobs = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .bedrock
                .list_model_invocation_jobs()
                .set_status_equals(
                    status.map(aws_sdk_bedrock::types::ModelInvocationJobStatus::from),
                )
                .set_name_contains(name_contains.map(str::to_owned))
                .sort_by(aws_sdk_bedrock::types::SortJobsBy::CreationTime)
                .sort_order(aws_sdk_bedrock::types::SortOrder::Descending)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| aws_error("ListModelInvocationJobs", e))?;
            for job in page.invocation_job_summaries() {
                jobs.push(job_details!(job));
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(jobs),
            }
        }
    }

    /// The catalog entry of a bare model id: its name, if the catalog has one.
    pub(crate) async fn foundation_model(&self, model_id: &str) -> CatalogAnswer<Option<String>> {
        match self
            .bedrock
            .get_foundation_model()
            .model_identifier(model_id)
            .send()
            .await
        {
            Ok(answer) => CatalogAnswer::Found(
                answer
                    .model_details()
                    .and_then(|d| d.model_name())
                    .map(str::to_owned),
            ),
            Err(err) => CatalogAnswer::from_error("GetFoundationModel", err),
        }
    }

    /// Whether an inference profile exists here.
    pub(crate) async fn inference_profile(&self, profile_id: &str) -> CatalogAnswer<()> {
        match self
            .bedrock
            .get_inference_profile()
            .inference_profile_identifier(profile_id)
            .send()
            .await
        {
            Ok(_) => CatalogAnswer::Found(()),
            Err(err) => CatalogAnswer::from_error("GetInferenceProfile", err),
        }
    }

    /// The system-defined inference profiles that route to a bare model id (empty when they
    /// cannot be listed).
    pub(crate) async fn profiles_of(&self, model_id: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut token = None;
        for _ in 0..20 {
            let Ok(page) = self
                .bedrock
                .list_inference_profiles()
                .type_equals(aws_sdk_bedrock::types::InferenceProfileType::SystemDefined)
                .set_next_token(token)
                .send()
                .await
            else {
                break;
            };
            for profile in page.inference_profile_summaries() {
                let routes_here = profile.models().iter().any(|m| {
                    m.model_arn()
                        .is_some_and(|arn| arn.ends_with(&format!("/{model_id}")))
                });
                if routes_here {
                    found.push(profile.inference_profile_id().to_owned());
                }
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        found
    }

    pub(crate) async fn stop_job(&self, job_arn: &str) -> Result<(), Error> {
        self.bedrock
            .stop_model_invocation_job()
            .job_identifier(job_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("StopModelInvocationJob", e))
    }
}

/// What a catalog read found: the entry, that there is none, or that it could not be read
/// (permissions, the network), which a preflight reports as a warning.
#[derive(Debug)]
pub(crate) enum CatalogAnswer<T> {
    Found(T),
    Missing,
    Unknown(String),
}

impl<T> CatalogAnswer<T> {
    fn from_error<E>(
        operation: &'static str,
        err: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match aws_error(operation, err) {
            Error::Aws {
                kind: AwsErrorKind::NotFound,
                ..
            } => CatalogAnswer::Missing,
            Error::Aws {
                operation,
                code,
                message,
                ..
            } if code.is_empty() => CatalogAnswer::Unknown(format!("{operation}: {message}")),
            Error::Aws {
                operation,
                code,
                message,
                ..
            } => CatalogAnswer::Unknown(format!("{operation}: {code} {message}")),
            other => CatalogAnswer::Unknown(other.to_string()),
        }
    }
}

/// Keeps a successful response's body as the SDK read it (see [`Aws::converse`]).
#[derive(Debug)]
struct KeepResponse(Arc<std::sync::Mutex<Option<Vec<u8>>>>);

impl aws_sdk_bedrockruntime::config::Intercept for KeepResponse {
    fn name(&self) -> &'static str {
        "llmbo::KeepResponse"
    }

    fn read_after_deserialization(
        &self,
        context: &aws_sdk_bedrockruntime::config::interceptors::AfterDeserializationInterceptorContextRef<'_>,
        _components: &aws_sdk_bedrockruntime::config::RuntimeComponents,
        _cfg: &mut aws_sdk_bedrockruntime::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let response = context.response();
        if response.status().is_success()
            && let Some(bytes) = response.body().bytes()
            && let Ok(mut kept) = self.0.lock()
        {
            *kept = Some(bytes.to_vec());
        }
        Ok(())
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

/// A failure while an object's body arrives, naming the object and every cause (the SDK's
/// "streaming error" alone says nothing).
fn read_error(bucket: &str, key: &str, err: &(dyn std::error::Error + 'static)) -> Error {
    let mut message = format!("s3://{bucket}/{key}: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    Error::Aws {
        operation: "GetObject",
        kind: AwsErrorKind::Network,
        code: String::new(),
        message,
        source: None,
    }
}

/// The lines of an S3 object, read as they arrive.
pub(crate) struct Lines {
    reader: Box<dyn tokio::io::AsyncBufRead + Unpin + Send>,
    /// Bucket and key, for errors.
    object: (String, String),
}

impl Lines {
    /// The next line with its newline (the last may have none); `None` at the end.
    pub(crate) async fn next_line(&mut self) -> Result<Option<Vec<u8>>, Error> {
        use tokio::io::AsyncBufReadExt;
        let mut line = Vec::new();
        let read = self
            .reader
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| read_error(&self.object.0, &self.object.1, &e))?;
        Ok((read > 0).then_some(line))
    }
}

/// What a conditional write expects of the object it replaces.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expected<'a> {
    /// There is no such object yet.
    Absent,
    /// The object still has this ETag.
    Unchanged(&'a str),
}

/// The settings of one CreateModelInvocationJob call.
pub(crate) struct CreateJob<'a> {
    /// The run's settings: model, role, timeout, KMS key, bucket owner, VPC, invocation type.
    pub(crate) settings: &'a RunSettings,
    pub(crate) job_name: &'a str,
    pub(crate) client_request_token: &'a str,
    pub(crate) input_uri: &'a str,
    pub(crate) output_uri: &'a str,
    /// The user's tags with llmbo's own.
    pub(crate) tags: &'a [(String, String)],
}

/// An object written in pieces: one PutObject when it fits one part, a multipart upload when
/// it does not. At most [`PARTS_IN_FLIGHT`] parts are held in memory (and sent) at a time, so
/// the next part is read and hashed while the last one travels.
///
/// Bodies are sent with `UNSIGNED-PAYLOAD` and the SDK's CRC32 checksum, as the SDKs send
/// streamed uploads: S3 still checks every byte (the checksum), and the SHA-256 that a signed
/// payload needs is not computed a second time next to the run's own hash of the input.
pub(crate) struct Upload<'a> {
    aws: &'a Aws,
    bucket: &'a str,
    key: &'a str,
    buffer: Vec<u8>,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    in_flight: std::collections::VecDeque<tokio::task::JoinHandle<Result<CompletedPart, Error>>>,
}

/// Parts of one upload sent at once.
const PARTS_IN_FLIGHT: usize = 2;

impl Upload<'_> {
    /// Appends bytes, sending a part whenever a full one is buffered.
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= PART_SIZE {
            self.send_part().await?;
        }
        Ok(())
    }

    /// Waits for the oldest part in flight and records it.
    async fn land_one(&mut self) -> Result<(), Error> {
        if let Some(task) = self.in_flight.pop_front() {
            let part = task.await.map_err(|e| Error::Internal {
                what: "uploading a part",
                reason: e.to_string(),
            })??;
            self.parts.push(part);
        }
        Ok(())
    }

    async fn send_part(&mut self) -> Result<(), Error> {
        let s3 = &self.aws.s3;
        let owner = self.aws.bucket_owner.clone();
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let created = s3
                    .create_multipart_upload()
                    .bucket(self.bucket)
                    .key(self.key)
                    .content_type("application/jsonl")
                    .set_expected_bucket_owner(owner.clone())
                    .send()
                    .await
                    .map_err(|e| aws_error("CreateMultipartUpload", e))?;
                let id = created.upload_id().unwrap_or_default().to_owned();
                self.upload_id = Some(id.clone());
                id
            }
        };
        while self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.land_one().await?;
        }
        let number = (self.parts.len() + self.in_flight.len()) as i32 + 1;
        let body = std::mem::replace(&mut self.buffer, Vec::with_capacity(PART_SIZE));
        let request = s3
            .upload_part()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .set_expected_bucket_owner(owner);
        self.in_flight.push_back(tokio::spawn(async move {
            let part = request
                .customize()
                .disable_payload_signing()
                .send()
                .await
                .map_err(|e| aws_error("UploadPart", e))?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag().map(str::to_owned))
                .build())
        }));
        Ok(())
    }

    /// Sends what is left and completes the object; returns its ETag.
    pub(crate) async fn finish(mut self) -> Result<String, Error> {
        let s3 = &self.aws.s3;
        let owner = self.aws.bucket_owner.clone();
        if self.upload_id.is_none() {
            let body = std::mem::take(&mut self.buffer);
            let put = s3
                .put_object()
                .bucket(self.bucket)
                .key(self.key)
                .content_type("application/jsonl")
                .body(ByteStream::from(body))
                .set_expected_bucket_owner(owner)
                .customize()
                .disable_payload_signing()
                .send()
                .await
                .map_err(|e| aws_error("PutObject", e))?;
            return Ok(put.e_tag().unwrap_or_default().to_owned());
        }
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        while !self.in_flight.is_empty() {
            self.land_one().await?;
        }
        let upload_id = self.upload_id.clone().unwrap_or_default();
        let completed = s3
            .complete_multipart_upload()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut self.parts)))
                    .build(),
            )
            .set_expected_bucket_owner(owner)
            .send()
            .await
            .map_err(|e| aws_error("CompleteMultipartUpload", e))?;
        self.upload_id = None;
        Ok(completed.e_tag().unwrap_or_default().to_owned())
    }
}

impl Drop for Upload<'_> {
    /// A multipart upload that did not complete (a part failed, the upload was dropped, the
    /// task was cancelled) is aborted, so S3 does not keep, and bill, its parts.
    fn drop(&mut self) {
        for task in self.in_flight.drain(..) {
            task.abort();
        }
        let Some(upload_id) = self.upload_id.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                key = self.key,
                "a multipart upload was left incomplete; abort it or set a lifecycle rule"
            );
            return;
        };
        let request = self
            .aws
            .s3
            .abort_multipart_upload()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(upload_id)
            .set_expected_bucket_owner(self.aws.bucket_owner.clone());
        let key = self.key.to_owned();
        runtime.spawn(async move {
            match request.send().await {
                Ok(_) => tracing::debug!(%key, "incomplete multipart upload aborted"),
                Err(err) => tracing::warn!(%key, error = %DisplayErrorContext(&err), "could not abort an incomplete multipart upload"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{Aws, PART_SIZE, is_aws_endpoint};

    /// A multipart upload dropped halfway is aborted: its parts are gone.
    #[tokio::test]
    async fn a_dropped_multipart_upload_is_aborted() -> Result<(), Box<dyn std::error::Error>> {
        let local = llmbo_local::LocalBedrock::start().await?;
        let aws = Aws::new(&local.sdk_config(), local.region(), None, None);
        let mut upload = aws.upload(local.bucket(), "input/dropped.jsonl");
        upload.write(&vec![b'x'; PART_SIZE + 1]).await?;
        let upload_id = upload.upload_id.clone().ok_or("a multipart upload")?;
        // The part is sent while the next is read: it lands on its own.
        let mut landed = 0;
        for _ in 0..200 {
            let parts = aws
                .s3
                .list_parts()
                .bucket(local.bucket())
                .key("input/dropped.jsonl")
                .upload_id(&upload_id)
                .send()
                .await?;
            landed = parts.parts().len();
            if landed == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(landed, 1);
        drop(upload);
        let mut gone = false;
        for _ in 0..200 {
            let listed = aws
                .s3
                .list_parts()
                .bucket(local.bucket())
                .key("input/dropped.jsonl")
                .upload_id(&upload_id)
                .send()
                .await;
            // S3 answers NoSuchUpload; llmbo-local's s3s-fs lists no parts.
            if listed.map_or(true, |parts| parts.parts().is_empty()) {
                gone = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(gone, "the upload was aborted");
        Ok(())
    }

    #[test]
    fn tells_aws_endpoints_from_local_ones() {
        assert!(is_aws_endpoint("https://s3.eu-west-2.amazonaws.com"));
        assert!(is_aws_endpoint("https://bedrock.us-east-1.amazonaws.com/"));
        assert!(!is_aws_endpoint("http://127.0.0.1:4566"));
        assert!(!is_aws_endpoint("http://localhost:9000/"));
        assert!(!is_aws_endpoint("http://amazonaws.com.evil.example"));
    }
}

/// The creation settings of a job that its summary does not carry ([`Aws::creation_settings`]).
#[derive(Debug, Default)]
pub(crate) struct CreationSettings {
    pub(crate) kms_key_id: Option<String>,
    pub(crate) bucket_owner: Option<String>,
    pub(crate) vpc: Option<crate::settings::VpcSettings>,
    pub(crate) tags: Vec<(String, String)>,
    /// Whether llmbo created it (its `created-by` tag).
    pub(crate) llmbo_created: bool,
}
