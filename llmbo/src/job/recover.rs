//! Picking a run up elsewhere: [`resume`](Inferer::resume) from its record, or a job's ARN
//! alone as a run of one ([`from_job_arn`](Inferer::from_job_arn), and the contract's
//! `recover_*`), all through the one configuration path.

use std::marker::PhantomData;
use std::sync::Arc;

use aws_config::SdkConfig;

use super::config::{JobConfig, RunSettings};
use super::record::{RECORD_VERSION, RunRecord, RunShared, ShardEntry, parse_record};
use super::state::{Ended, Ready, Seen, Submitted};
use super::{Inferer, OutputMode, Recovered};
use crate::adapter::detect_strategy;
use crate::aws::{Aws, sdk_config_or_default};
use crate::error::Error;
use crate::status::JobDetails;

impl<O: OutputMode> Inferer<O, Submitted> {
    /// Picks up a run from its record, in a new process if need be, as `Submitted` whatever
    /// it had reached: from there jobs never created are created (idempotently: a job created
    /// just before a crash is found again, not duplicated) with every setting the first
    /// process had, running ones are followed and finished ones are collected, by
    /// [`poll_progress`](Self::poll_progress) or [`stream`](Inferer::stream).
    ///
    /// A run on a batch API other than Bedrock is resumed from its record's path in its
    /// store folder (what [`run_uri`](Inferer::run_uri) gave); `region` and `sdk_config` are
    /// not used, and the key is the provider's environment variable (or see
    /// [`resume_with_key`](Self::resume_with_key)).
    pub async fn resume(
        run_uri: &str,
        region: &str,
        sdk_config: Option<SdkConfig>,
    ) -> Result<Self, Error> {
        if !run_uri.starts_with("s3://") {
            return Self::resume_with_key(run_uri, None).await;
        }
        let rest = run_uri
            .strip_prefix("s3://")
            .ok_or_else(|| Error::InvalidConfig {
                field: "run_uri",
                reason: format!("`{run_uri}` is not an s3:// URI"),
            })?;
        let (bucket, key) = rest.split_once('/').ok_or_else(|| Error::InvalidConfig {
            field: "run_uri",
            reason: format!("`{run_uri}` names no object"),
        })?;
        let sdk = sdk_config_or_default(sdk_config).await;
        let aws = Aws::new(&sdk, region, None, None);
        let Some((bytes, etag)) = aws.get_versioned(bucket, key).await? else {
            return Err(Error::InvalidConfig {
                field: "run_uri",
                reason: format!("there is no run record at {run_uri} (GetObject: NoSuchKey)"),
            });
        };
        let record = parse_record(run_uri, &bytes)?;
        if record.settings.provider != crate::model::Provider::Bedrock {
            // A run on another batch API kept in S3: its store is the bucket's prefix.
            return Self::resume_api(run_uri, None, Some(sdk)).await;
        }
        let aws = Aws::new(&sdk, region, None, record.settings.bucket_owner.clone());
        let config = JobConfig::assemble(record.settings.clone(), region, aws, None);
        let jobs = record.shards.iter().cloned().map(|e| (e, None)).collect();
        let run = RunShared::new(record);
        run.hold(run.snapshot(), Some(etag));
        Ok(Inferer {
            config: Arc::new(config),
            run: Arc::new(run),
            data: Seen { jobs, status: None },
            _mode: PhantomData,
        })
    }
}

impl<O: OutputMode> Inferer<O, Submitted> {
    /// [`resume`](Self::resume) of a run on a batch API other than Bedrock, with its API key
    /// (`None`: the provider's environment variable). `run_uri` is the record's path,
    /// `<store>/input/<job name>.run.json`.
    pub async fn resume_with_key(run_uri: &str, api_key: Option<&str>) -> Result<Self, Error> {
        Self::resume_api(run_uri, api_key, None).await
    }

    /// [`resume_with_key`](Self::resume_with_key) of a run kept in S3
    /// (`s3://bucket/prefix/input/<job name>.run.json`), with the AWS configuration to read
    /// it (`None`: the usual chain); a run in a folder needs none.
    pub async fn resume_api(
        run_uri: &str,
        api_key: Option<&str>,
        sdk_config: Option<SdkConfig>,
    ) -> Result<Self, Error> {
        let path = run_uri.strip_prefix("file://").unwrap_or(run_uri);
        let Some((root, name)) = path.rsplit_once("/input/") else {
            return Err(Error::InvalidConfig {
                field: "run_uri",
                reason: format!(
                    "`{run_uri}` is neither an s3:// URI nor a run record's path (<store>/input/<job name>.run.json)"
                ),
            });
        };
        let located = crate::settings::RunSettings {
            store: Some(root.to_owned()),
            ..crate::settings::RunSettings::default()
        };
        let store = super::connect::open_store(&located, sdk_config, None).await?;
        let key = format!("input/{name}");
        let Some((bytes, version)) = store.get(&key).await? else {
            return Err(Error::InvalidConfig {
                field: "run_uri",
                reason: format!("there is no run record at {run_uri}"),
            });
        };
        let record = parse_record(run_uri, &bytes)?;
        let mut settings = record.settings.clone();
        // The store is where the record was found, wherever the folder is now.
        settings.store = Some(store.root());
        settings.base_url = super::connect::base_url(&settings, None);
        let (backend, store) = super::connect::connect(&settings, api_key, store)?;
        let config = JobConfig::assemble_on(settings, "", backend, store, None);
        let jobs = record.shards.iter().cloned().map(|e| (e, None)).collect();
        let run = RunShared::new(record);
        run.hold(run.snapshot(), Some(version));
        Ok(Inferer {
            config: Arc::new(config),
            run: Arc::new(run),
            data: Seen { jobs, status: None },
            _mode: PhantomData,
        })
    }
}

/// A run of one from a job's ARN: its settings from what Bedrock keeps, through the one
/// configuration path; its records from the input in S3. Its record is kept in memory only.
async fn run_of_job<O: OutputMode>(
    job_arn: &str,
    region: &str,
    sdk_config: Option<SdkConfig>,
) -> Result<(Inferer<O, Ready>, ShardEntry, JobDetails), Error> {
    crate::aws::check_job_arn(job_arn)?;
    let sdk = sdk_config_or_default(sdk_config).await;
    let aws = Aws::new(&sdk, region, None, None);
    let details = aws.describe_job(job_arn).await?;
    let mut settings = RunSettings::of_job(&details);
    // What the summary lacks, so a retry runs with the settings the job was created with.
    let created = aws.creation_settings(job_arn).await?;
    settings.kms_key_id = created.kms_key_id;
    settings.vpc = created.vpc;
    settings.tags = created.tags;
    let aws = match &created.bucket_owner {
        Some(owner) => Aws::new(&sdk, region, None, Some(owner.clone())),
        None => aws,
    };
    settings.bucket_owner = created.bucket_owner;
    let mut config = JobConfig::assemble(settings.clone(), region, aws, None);
    let entry = ShardEntry {
        job_name: details.job_name.clone(),
        input_uri: details.input_uri.clone(),
        input_hash: String::new(),
        records: details
            .total_record_count
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0),
        job_arn: Some(details.job_arn.clone()),
        input_folder: None,
    };
    // Bedrock keeps no word of how the answers were asked for; the first request says it.
    if O::tool().is_some()
        && let Some(body) = super::engine::first_model_input(&config, &entry).await?
    {
        settings.output_strategy = Some(detect_strategy(&body));
        config.settings.output_strategy = settings.output_strategy;
    }
    let record = RunRecord {
        version: RECORD_VERSION,
        settings,
        shards: vec![entry.clone()],
        cancelled: false,
        retries: Vec::new(),
        on_demand: Vec::new(),
        estimate: None,
    };
    let ready = Inferer::<O, Ready> {
        config: Arc::new(config),
        run: Arc::new(RunShared::in_memory(record)),
        data: (),
        _mode: PhantomData,
    };
    Ok((ready, entry, details))
}

/// Rebuilds a job from its ARN as a run of one, running or ended.
async fn recover<O: OutputMode>(
    job_arn: &str,
    region: &str,
    sdk_config: Option<SdkConfig>,
) -> Result<Recovered<O>, Error> {
    let (ready, entry, details) = run_of_job::<O>(job_arn, region, sdk_config).await?;
    Ok(if details.status.is_finished() {
        let status = details.status.clone();
        Recovered::Finished(ready.with_data(Ended {
            jobs: Arc::new(vec![(entry, Some(details))]),
            status,
        }))
    } else {
        Recovered::Running(ready.with_data(Seen {
            jobs: vec![(entry, Some(details))],
            status: None,
        }))
    })
}

impl<O: OutputMode> Inferer<O, Submitted> {
    /// Any job, by its ARN alone, as a submitted run of one (whatever its status: a finished
    /// job's run ends at the first poll), so one code path follows, streams, cancels or
    /// retries a job and a run alike. Its record is kept in memory only: nothing is written
    /// next to a job llmbo may not have created. [`recover`](Inferer::recover) gives the same
    /// run as `Running` or `Finished`.
    pub async fn from_job_arn(
        job_arn: &str,
        region: &str,
        sdk_config: Option<SdkConfig>,
    ) -> Result<Self, Error> {
        let (ready, entry, details) = run_of_job::<O>(job_arn, region, sdk_config).await?;
        Ok(ready.with_data(Seen {
            jobs: vec![(entry, Some(details))],
            status: None,
        }))
    }
}

impl<O: OutputMode> Inferer<O, Ready> {
    /// Rebuilds an inferer from a job's ARN after the process that created it died, as
    /// `Running` or `Finished`. Nothing local is needed: the job's settings come from Bedrock,
    /// its records from the input in S3; results are read in the inferer's mode.
    #[doc(alias = "recover_details_from_job_arn")]
    #[doc(alias = "recover_structured_job")]
    pub async fn recover(
        job_arn: &str,
        region: &str,
        sdk_config: Option<SdkConfig>,
    ) -> Result<Recovered<O>, Error> {
        recover(job_arn, region, sdk_config).await
    }

    /// The job as Bedrock describes it.
    #[doc(alias = "check_for_existing_job")]
    pub async fn describe_job(
        job_arn: &str,
        region: &str,
        sdk_config: Option<SdkConfig>,
    ) -> Result<JobDetails, Error> {
        crate::aws::check_job_arn(job_arn)?;
        let sdk = sdk_config_or_default(sdk_config).await;
        Aws::new(&sdk, region, None, None)
            .describe_job(job_arn)
            .await
    }
}
