//! Bedrock as a [`Backend`]: batch jobs through the control plane, and Bedrock's own way of
//! making a create idempotent across processes and llmbo versions.

use std::path::Path;

use super::Aws;
use super::Upload;
use crate::backend::{
    Answered, Backend, BackendFuture, InputWriter, JobRequest, Lines, OutputFiles,
};
use crate::error::{AwsErrorKind, Error};
use crate::layout;
use crate::settings::RunSettings;
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

    fn check_id(&self, job_id: &str) -> Result<(), Error> {
        super::bedrock::check_job_arn(job_id)
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

    /// The `.jsonl.out` files under `<output>/<job id>/`, by key, and `manifest.json.out`.
    fn output_files<'a>(&'a self, job: &'a JobDetails) -> BackendFuture<'a, OutputFiles> {
        Box::pin(async move {
            let (bucket, folder) = layout::job_output_folder(&job.output_uri, &job.job_arn);
            let keys = self.list_keys(bucket, &folder).await?;
            let manifest = keys
                .iter()
                .find(|k| k.ends_with("manifest.json.out"))
                .map(|k| layout::s3_uri(bucket, k));
            let mut outputs: Vec<String> = keys
                .iter()
                .filter(|k| k.ends_with(".out") && !k.ends_with("manifest.json.out"))
                .map(|k| layout::s3_uri(bucket, k))
                .collect();
            outputs.sort();
            Ok(OutputFiles { outputs, manifest })
        })
    }

    fn download<'a>(&'a self, file: &'a str, path: &'a Path) -> BackendFuture<'a, (u64, u64)> {
        let (bucket, key) = layout::split_s3_uri(file);
        Box::pin(self.download_to(bucket, key, path))
    }

    /// The object `input` names, or every `.jsonl` object under it when it names a folder
    /// (ends with `/`), as Bedrock reads a job's input.
    fn input_files<'a>(&'a self, input: &'a str) -> BackendFuture<'a, Vec<String>> {
        Box::pin(async move {
            let (bucket, key) = layout::split_s3_uri(input);
            if !key.is_empty() && !key.ends_with('/') {
                return Ok(vec![input.to_owned()]);
            }
            Ok(self
                .list_keys(bucket, key)
                .await?
                .into_iter()
                .filter(|k| k.ends_with(".jsonl"))
                .map(|k| layout::s3_uri(bucket, &k))
                .collect())
        })
    }

    fn lines<'a>(&'a self, file: &'a str) -> BackendFuture<'a, Lines> {
        Box::pin(async move {
            let (bucket, key) = layout::split_s3_uri(file);
            let body = self.get(bucket, key).await?;
            Ok(Lines::new(
                Box::new(tokio::io::BufReader::with_capacity(
                    256 * 1024,
                    body.into_async_read(),
                )),
                file.to_owned(),
                |file, err| {
                    let (bucket, key) = layout::split_s3_uri(file);
                    super::s3::read_error(bucket, key, err)
                },
            ))
        })
    }

    fn version<'a>(&'a self, file: &'a str) -> BackendFuture<'a, Option<String>> {
        let (bucket, key) = layout::split_s3_uri(file);
        Box::pin(self.etag(bucket, key))
    }

    /// `InvokeModel`, or `Converse` for a Converse run, with the run's service tier (a header
    /// for InvokeModel, `serviceTier` in a Converse body).
    fn answer<'a>(
        &'a self,
        settings: &'a RunSettings,
        body: &'a serde_json::Value,
    ) -> BackendFuture<'a, Answered> {
        Box::pin(async move {
            let tier = settings.service_tier.as_deref();
            let model = settings.model_name.as_str();
            let answer = if settings.converse {
                let mut body = body.clone();
                if let (Some(tier), serde_json::Value::Object(map)) = (tier, &mut body)
                    && !map.contains_key("serviceTier")
                {
                    map.insert("serviceTier".into(), serde_json::json!({ "type": tier }));
                }
                self.converse(model, serde_json::to_vec(&body).unwrap_or_default())
                    .await
            } else {
                self.invoke(model, serde_json::to_vec(body).unwrap_or_default(), tier)
                    .await
            };
            match answer {
                Ok(bytes) => Ok(Answered::Output(bytes)),
                Err(Error::Aws { code, message, .. })
                    if matches!(
                        code.as_str(),
                        "ModelErrorException"
                            | "ModelTimeoutException"
                            | "ValidationException"
                            | "AccessDeniedException"
                            | "ResourceNotFoundException"
                            | "ServiceQuotaExceededException"
                    ) =>
                {
                    let message = with_profile_hint(model, message);
                    Ok(Answered::Refused { code, message })
                }
                // A model still loading answers later: as throttling is, it is waited for.
                Err(Error::Aws {
                    operation,
                    code,
                    message,
                    source,
                    ..
                }) if code == "ModelNotReadyException" => Err(Error::Aws {
                    operation,
                    kind: AwsErrorKind::Throttled,
                    code,
                    message,
                    source,
                }),
                Err(err) => Err(err),
            }
        })
    }

    /// A streamed upload to the object `input` names (one PutObject, or a multipart upload
    /// aborted if dropped unfinished).
    fn put_input<'a>(&'a self, input: &'a str) -> Box<dyn InputWriter<'a> + 'a> {
        let (bucket, key) = layout::split_s3_uri(input);
        Box::new(self.upload(bucket, key))
    }

    fn fetch<'a>(&'a self, file: &'a str, max: u64) -> BackendFuture<'a, Option<Vec<u8>>> {
        let (bucket, key) = layout::split_s3_uri(file);
        Box::pin(self.fetch_object(bucket, key, max))
    }

    fn read_from<'a>(
        &'a self,
        file: &'a str,
        offset: u64,
        limit: u64,
    ) -> BackendFuture<'a, Option<crate::backend::Tail>> {
        let (bucket, key) = layout::split_s3_uri(file);
        Box::pin(self.get_range(bucket, key, offset, limit))
    }

    fn copy_media<'a>(
        &'a self,
        from: &'a str,
        owner: Option<&'a str>,
        to: &'a str,
    ) -> BackendFuture<'a, ()> {
        let (bucket, key) = layout::split_s3_uri(to);
        Box::pin(self.copy(from, owner, bucket, key))
    }
}

impl<'a> InputWriter<'a> for Upload<'a> {
    fn write<'b>(&'b mut self, bytes: &'b [u8]) -> BackendFuture<'b, ()> {
        Box::pin(Upload::write(self, bytes))
    }

    fn finish(self: Box<Self>) -> BackendFuture<'a, String> {
        Box::pin(Upload::finish(*self))
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

/// The runtime's "use an inference profile" refusal, with the profile to use where one is
/// known: the model's `us.` profile (AWS, "Supported Regions and models for batch inference",
/// <https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-supported.html>).
fn with_profile_hint(model_id: &str, message: String) -> String {
    let bare = crate::model::normalize_model_id(model_id);
    if message.contains("inference profile") && bare == model_id {
        format!(
            "{message} (try the inference profile `us.{bare}`, or `eu.`/`global.` as your region needs)"
        )
    } else {
        message
    }
}
