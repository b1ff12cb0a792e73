//! Bedrock's control plane: batch jobs (create, describe, list, stop), the creation settings
//! of a job made elsewhere, and the model catalog.

use aws_sdk_bedrock::error::ProvideErrorMetadata;
use aws_sdk_bedrock::types::{
    ModelInvocationJobInputDataConfig, ModelInvocationJobOutputDataConfig,
    ModelInvocationJobS3InputDataConfig, ModelInvocationJobS3OutputDataConfig, ModelInvocationType,
    Tag, VpcConfig,
};

use super::{Aws, aws_error};
use crate::backend::JobRequest;
use crate::error::{AwsErrorKind, Error};
use crate::status::{JobDetails, JobStatus};

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
            // `&str` in summaries, `Option<&str>` in GetModelInvocationJob.
            job_name: Option::<&str>::from(job.job_name())
                .unwrap_or_default()
                .to_owned(),
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

impl Aws {
    pub(crate) async fn create_job(&self, job: &JobRequest<'_>) -> Result<String, Error> {
        let settings = job.settings;
        let input = ModelInvocationJobS3InputDataConfig::builder()
            .s3_uri(job.input)
            .set_s3_bucket_owner(settings.bucket_owner.clone())
            .build()
            .map_err(|e| Error::InvalidConfig {
                field: "input",
                reason: e.to_string(),
            })?;
        let output = ModelInvocationJobS3OutputDataConfig::builder()
            .s3_uri(job.output)
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
            .client_request_token(job.token)
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

/// A job ARN, as `GetModelInvocationJob` accepts it.
pub(crate) fn check_job_arn(arn: &str) -> Result<(), Error> {
    static CELL: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let pattern =
        r"^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-invocation-job/[a-z0-9]{12}$";
    let fits = CELL
        .get_or_init(|| regex::Regex::new(pattern).ok())
        .as_ref()
        .is_some_and(|re| re.is_match(arn));
    if fits {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            field: "job_arn",
            reason: format!(
                "`{arn}` is not a Bedrock batch job ARN (arn:aws:bedrock:<region>:<account>:model-invocation-job/<id>)"
            ),
        })
    }
}

#[cfg(test)]
mod arn_tests {
    use super::check_job_arn;

    #[test]
    fn job_arns_are_checked() {
        assert!(
            check_job_arn(
                "arn:aws:bedrock:us-east-1:000000000000:model-invocation-job/abcdef123456"
            )
            .is_ok()
        );
        assert!(check_job_arn("arn:aws:bedrock:us-east-1:000000000000:job/x").is_err());
    }
}
