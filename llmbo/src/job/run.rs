//! `auto` and [`BatchRun`]: every step, over as many Bedrock jobs as the run needs, with a run
//! manifest in S3 so a run can be resumed from another process.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_config::SdkConfig;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::mode::OutputMode;
use super::state::{Prepared, PreparedRecord, Ready, Submitted, Uploaded};
use super::status::{JobDetails, JobStatus};
use super::{Inferer, JobConfig, ShardLimits, names, plan_shards};
use crate::adapter::{InvocationType, ModelAdapterRegistry};
use crate::aws::Aws;
use crate::error::{Error, RecordError};
use crate::input::ModelInput;
use crate::jsonl;
use crate::manifest::Manifest;
use crate::output::{BatchResults, RecordResult};

/// What a run is made of, stored as JSON next to its input
/// (`s3://<bucket>/input/<job name>.run.json`) so that [`BatchRun::resume`] can pick it up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunManifest {
    /// Format version.
    pub version: u32,
    /// The run's job name (its jobs are this, or this with `-1`, `-2`, … when split).
    pub job_name: String,
    /// The model id.
    pub model_name: String,
    /// The bucket of input and output.
    pub bucket: String,
    /// The role Bedrock assumes.
    pub role_arn: String,
    /// The jobs' timeout.
    pub timeout_hours: u32,
    /// Whether the jobs use the Converse invocation type.
    pub converse: bool,
    /// How many jobs may be in flight at once.
    pub max_concurrent_jobs: usize,
    /// The KMS key of the output, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// The jobs, in input order.
    pub shards: Vec<ShardEntry>,
    /// The output tool of an untyped job structured at run time, so a resumed run parses the
    /// same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<crate::output::ToolDefinition>,
    /// Set by [`BatchRun::cancel`]: jobs not created by then never will be.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
}

/// One job of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardEntry {
    /// The job's name.
    pub job_name: String,
    /// `s3://…` of its input.
    pub input_uri: String,
    /// SHA-256 of its input, which with the name makes the idempotency token.
    pub input_hash: String,
    /// How many records it holds.
    pub records: usize,
    /// Its ARN, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_arn: Option<String>,
}

/// A run of one or more jobs, resumable from its manifest in S3.
pub struct BatchRun<O: OutputMode> {
    config: Arc<JobConfig>,
    manifest: Arc<Mutex<RunManifest>>,
    /// Record ids per shard when this process uploaded them; read back from S3 otherwise.
    record_ids: Vec<Option<Arc<Vec<String>>>>,
    _mode: PhantomData<fn() -> O>,
}

impl<O: OutputMode> std::fmt::Debug for BatchRun<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchRun")
            .field("run_uri", &self.run_uri())
            .finish_non_exhaustive()
    }
}

fn run_key(job_name: &str) -> String {
    format!("input/{job_name}.run.json")
}

impl<O: OutputMode> Inferer<O, Ready> {
    /// Runs every step: prepare, upload, create, poll every `poll_interval`, download, load.
    ///
    /// A run larger than one job allows (`max_records_per_job`, `max_input_bytes_per_job`) is
    /// split into jobs `<job name>-1`, `-2`, … of even size, at most `max_concurrent_jobs` in
    /// flight, and merged back: one result per input record, in input order, and one combined
    /// manifest. The records of a job that fails become [`RecordError::JobFailed`] while the
    /// other jobs' results are returned. The run's manifest is kept in S3, so a run whose
    /// process died can be finished with [`BatchRun::resume`].
    pub async fn auto<I, K>(
        self,
        inputs: I,
        poll_interval: Duration,
    ) -> Result<BatchResults<O::Value>, Error>
    where
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        self.start_run(inputs).await?.finish(poll_interval).await
    }

    /// Prepares and uploads every job of the run and records it in S3, without creating the
    /// jobs yet; [`BatchRun::finish`] creates, follows and collects them.
    pub async fn start_run<I, K>(self, inputs: I) -> Result<BatchRun<O>, Error>
    where
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        let prepared = self.prepare_requests(inputs)?;
        let sizes: Vec<u64> = prepared.state.records.iter().map(line_len).collect();
        let ranges = plan_shards(&sizes, prepared.config.limits)?;
        let base = prepared.config.job_name.clone();
        let shard_name = |index: usize| {
            if ranges.len() == 1 {
                base.clone()
            } else {
                format!("{base}-{}", index + 1)
            }
        };
        for index in [0, ranges.len() - 1] {
            names::check_job_name(&shard_name(index))?;
        }
        if ranges.len() > 1 {
            tracing::info!(
                jobs = ranges.len(),
                records = sizes.len(),
                "splitting the run into several jobs"
            );
        }
        let Inferer {
            config,
            state: Prepared { records },
            ..
        } = prepared;
        let mut remaining = records.into_iter();
        let mut shards = Vec::with_capacity(ranges.len());
        let mut record_ids = Vec::with_capacity(ranges.len());
        for (index, range) in ranges.iter().enumerate() {
            let mut shard_config = (*config).clone();
            shard_config.job_name = shard_name(index);
            let shard: Inferer<O, Prepared> = Inferer {
                config: Arc::new(shard_config),
                state: Prepared {
                    records: remaining.by_ref().take(range.len()).collect(),
                },
                _mode: PhantomData,
            };
            let uploaded = shard.push_requests_to_s3().await?;
            let Uploaded {
                input_uri,
                input_hash,
                record_ids: ids,
            } = uploaded.state;
            shards.push(ShardEntry {
                job_name: uploaded.config.job_name.clone(),
                input_uri,
                input_hash,
                records: ids.len(),
                job_arn: None,
            });
            record_ids.push(Some(ids));
        }
        let manifest = RunManifest {
            version: 1,
            job_name: base,
            model_name: config.model_name.clone(),
            bucket: config.bucket.clone(),
            role_arn: config.role_arn.clone(),
            timeout_hours: config.timeout_hours,
            converse: config.invocation_type == InvocationType::Converse,
            max_concurrent_jobs: config.max_concurrent_jobs,
            kms_key_id: config.kms_key_id.clone(),
            shards,
            tool: config.tool.clone(),
            cancelled: false,
        };
        let run = BatchRun {
            config,
            manifest: Arc::new(Mutex::new(manifest)),
            record_ids,
            _mode: PhantomData,
        };
        run.save().await?;
        Ok(run)
    }
}

impl<O: OutputMode> BatchRun<O> {
    /// Where the run's manifest is: `s3://<bucket>/input/<job name>.run.json`.
    pub fn run_uri(&self) -> String {
        format!(
            "s3://{}/{}",
            self.config.bucket,
            run_key(&self.config.job_name)
        )
    }

    /// The manifest as it stands.
    pub fn manifest(&self) -> RunManifest {
        self.manifest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn save(&self) -> Result<(), Error> {
        let json =
            serde_json::to_vec_pretty(&self.manifest()).map_err(|e| Error::InvalidConfig {
                field: "run manifest",
                reason: e.to_string(),
            })?;
        let key = run_key(&self.config.job_name);
        let mut upload = self.config.aws.upload(&self.config.bucket, &key);
        upload.write(&json).await?;
        upload.finish().await
    }

    /// Picks up a run from its manifest, in a new process if need be: jobs never created are
    /// created (idempotently: a job created just before a crash is found again, not
    /// duplicated), running ones are followed, finished ones are collected.
    pub async fn resume(
        run_uri: &str,
        region: &str,
        sdk_config: Option<SdkConfig>,
    ) -> Result<Self, Error> {
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
        let sdk = match sdk_config {
            Some(config) => config,
            None => aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
        };
        let aws = Aws::new(&sdk, region, None, None);
        let bytes = aws.get_bytes(bucket, key).await?;
        let manifest: RunManifest =
            serde_json::from_slice(&bytes).map_err(|e| Error::InvalidConfig {
                field: "run_uri",
                reason: format!("{run_uri} is not a run manifest: {e}"),
            })?;
        let invocation_type = if manifest.converse {
            InvocationType::Converse
        } else {
            InvocationType::InvokeModel
        };
        let config = JobConfig {
            model_name: manifest.model_name.clone(),
            bucket: manifest.bucket.clone(),
            region: region.to_owned(),
            job_name: manifest.job_name.clone(),
            role_arn: manifest.role_arn.clone(),
            timeout_hours: manifest.timeout_hours,
            output_dir: None,
            aws,
            adapter: ModelAdapterRegistry::adapter_for(&manifest.model_name, invocation_type),
            invocation_type,
            limits: ShardLimits::default(),
            max_concurrent_jobs: manifest.max_concurrent_jobs.max(1),
            tags: Vec::new(),
            kms_key_id: manifest.kms_key_id.clone(),
            vpc: None,
            progress: None,
            tool: manifest.tool.clone(),
        };
        let shards = manifest.shards.len();
        Ok(BatchRun {
            config: Arc::new(config),
            manifest: Arc::new(Mutex::new(manifest)),
            record_ids: vec![None; shards],
            _mode: PhantomData,
        })
    }

    /// Sends each progress report of the run's jobs (uploads, polls, downloads) to `callback`,
    /// as the builder's `on_progress` does; a resumed run has none until given one.
    #[must_use]
    pub fn on_progress(
        mut self,
        callback: impl Fn(&super::Progress) + Send + Sync + 'static,
    ) -> Self {
        Arc::make_mut(&mut self.config).progress = Some(Arc::new(callback));
        self
    }

    /// Every job of the run with what Bedrock says about it now; `None` for a job not created
    /// yet.
    pub async fn jobs(&self) -> Result<Vec<(ShardEntry, Option<JobDetails>)>, Error> {
        let mut out = Vec::new();
        for entry in self.manifest().shards {
            let details = match &entry.job_arn {
                Some(arn) => Some(self.config.aws.describe_job(arn).await?),
                None => None,
            };
            out.push((entry, details));
        }
        Ok(out)
    }

    /// Creates jobs not created yet, as long as fewer than `max_concurrent_jobs` of the run's
    /// jobs are unfinished; returns the ARNs created. Call it again as jobs end (the command
    /// line's `watch` does) or let [`BatchRun::finish`] do it. Does nothing once cancelled.
    pub async fn submit(&self) -> Result<Vec<String>, Error> {
        let manifest = self.manifest();
        if manifest.cancelled {
            return Ok(Vec::new());
        }
        let mut running = 0;
        for (_, details) in self.jobs().await? {
            if details.is_some_and(|d| !d.status.is_finished()) {
                running += 1;
            }
        }
        let mut created = Vec::new();
        for (index, entry) in manifest.shards.into_iter().enumerate() {
            if running >= self.config.max_concurrent_jobs {
                break;
            }
            if entry.job_arn.is_none() {
                created.push(self.create_shard(index, &entry).await?.job_arn().to_owned());
                running += 1;
            }
        }
        Ok(created)
    }

    /// Stops every running job of the run and marks the run cancelled, so that jobs not
    /// created yet never are (their records end as [`RecordError::JobFailed`]). Returns the ARNs
    /// of the jobs asked to stop; what they processed can still be downloaded.
    pub async fn cancel(&self) -> Result<Vec<String>, Error> {
        self.manifest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cancelled = true;
        self.save().await?;
        let jobs = super::Jobs::from_aws(self.config.aws.clone());
        let mut stopped = Vec::new();
        for entry in self.manifest().shards {
            if let Some(arn) = entry.job_arn
                && jobs.stop(&arn).await?
            {
                stopped.push(arn);
            }
        }
        Ok(stopped)
    }

    /// Creates the jobs not created yet, follows them all (at most `max_concurrent_jobs` at a
    /// time), and merges their results in input order.
    pub async fn finish(self, poll_interval: Duration) -> Result<BatchResults<O::Value>, Error> {
        let run = Arc::new(self);
        let entries = run.manifest().shards;
        let permits = Arc::new(Semaphore::new(run.config.max_concurrent_jobs));
        let mut tasks = JoinSet::new();
        for (index, entry) in entries.iter().cloned().enumerate() {
            let run = Arc::clone(&run);
            let permits = Arc::clone(&permits);
            tasks.spawn(async move {
                // The semaphore is never closed, so acquiring only waits.
                let _permit = permits.acquire_owned().await;
                let outcome = run.run_shard(index, entry, poll_interval).await;
                (index, outcome)
            });
        }
        let mut done: Vec<Option<Result<BatchResults<O::Value>, Error>>> =
            (0..entries.len()).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            let (index, outcome) = joined.map_err(|e| Error::Aws {
                operation: "auto",
                code: "TaskFailed".into(),
                message: e.to_string(),
            })?;
            done[index] = Some(outcome);
        }
        // When every job failed there is nothing to return but the failure itself.
        let all_failed = done
            .iter()
            .all(|d| matches!(d, Some(Err(Error::JobFailed { .. }))));
        if all_failed && let Some(Some(Err(err))) = done.first_mut().map(Option::take) {
            return Err(err);
        }
        let mut manifest = Manifest::default();
        let mut records = Vec::new();
        for (index, (entry, outcome)) in entries.iter().zip(done).enumerate() {
            match outcome {
                Some(Ok(shard)) => {
                    manifest.combine(&shard.manifest);
                    records.extend(shard.records);
                }
                Some(Err(Error::JobFailed {
                    job_arn, message, ..
                })) => {
                    let ids = run.shard_record_ids(index, entry).await?;
                    manifest.total_record_count += ids.len() as u64;
                    records.extend(ids.iter().map(|record_id| RecordResult {
                        record_id: record_id.clone(),
                        outcome: Err(RecordError::JobFailed {
                            job_arn: job_arn.clone(),
                            message: message.clone(),
                        }),
                    }));
                }
                Some(Err(other)) => return Err(other),
                None => {}
            }
        }
        Ok(BatchResults { manifest, records })
    }

    /// The record ids of one job: known if this process uploaded them, else read from S3.
    async fn shard_record_ids(
        &self,
        index: usize,
        entry: &ShardEntry,
    ) -> Result<Arc<Vec<String>>, Error> {
        if let Some(Some(ids)) = self.record_ids.get(index) {
            return Ok(Arc::clone(ids));
        }
        let rest = entry
            .input_uri
            .strip_prefix("s3://")
            .unwrap_or(&entry.input_uri);
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let bytes = self.config.aws.get_bytes(bucket, key).await?;
        Ok(Arc::new(jsonl::record_ids_of_input(&bytes)))
    }

    /// Creates one job of the run (idempotently) and records its ARN in the run manifest.
    async fn create_shard(
        &self,
        index: usize,
        entry: &ShardEntry,
    ) -> Result<Inferer<O, Submitted>, Error> {
        let mut config = (*self.config).clone();
        config.job_name = entry.job_name.clone();
        let record_ids = self.shard_record_ids(index, entry).await?;
        let uploaded: Inferer<O, Uploaded> = Inferer {
            config: Arc::new(config),
            state: Uploaded {
                input_uri: entry.input_uri.clone(),
                input_hash: entry.input_hash.clone(),
                record_ids,
            },
            _mode: PhantomData,
        };
        let submitted = uploaded.create().await?;
        {
            let mut manifest = self.manifest.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(shard) = manifest.shards.get_mut(index) {
                shard.job_arn = Some(submitted.job_arn().to_owned());
            }
        }
        self.save().await?;
        Ok(submitted)
    }

    async fn run_shard(
        &self,
        index: usize,
        entry: ShardEntry,
        poll: Duration,
    ) -> Result<BatchResults<O::Value>, Error> {
        let mut config = (*self.config).clone();
        config.job_name = entry.job_name.clone();
        let config = Arc::new(config);
        let submitted: Inferer<O, Submitted> = match &entry.job_arn {
            Some(arn) => Inferer {
                config,
                state: Submitted {
                    job_arn: arn.clone(),
                    input_uri: entry.input_uri.clone(),
                    output_uri: format!("s3://{}/output/", self.config.bucket),
                    record_ids: self.record_ids.get(index).cloned().flatten(),
                    last: None,
                },
                _mode: PhantomData,
            },
            None if self.manifest().cancelled => {
                return Err(Error::JobFailed {
                    job_arn: String::new(),
                    status: JobStatus::Stopped.to_string(),
                    message: format!(
                        "the run was cancelled before job {} was created",
                        entry.job_name
                    ),
                });
            }
            None => self.create_shard(index, &entry).await?,
        };
        submitted
            .poll_progress(poll)
            .await?
            .download_results()
            .await?
            .load_results()
    }
}

/// The record's JSONL line length, as it will be uploaded.
fn line_len(record: &PreparedRecord) -> u64 {
    let mut line = Vec::new();
    jsonl::encode_input_line(&record.record_id, &record.model_input, &mut line);
    line.len() as u64
}
