//! The typestate front: every step on the one state it belongs to (so a step called in the
//! wrong state is rustc's short "no method named …"), each a few calls into the engine and the
//! scheduler. A single job is a run of one: `prepare_requests` plans exactly one job,
//! `prepare_run` as many as the run needs, and from there the steps are the same.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;

use super::config::{JobConfig, RunSettings};
use super::engine::{self, DownloadedRun, ShardOutput};
use super::record::{
    RECORD_VERSION, RunManifest, RunShared, ShardEntry, differences, parse_record,
};
use super::results::{
    Detailed, RunResults, RunSummary, failed_records, loaded_records, run_results,
};
use super::schedule::{self, JobsNow};
use super::spool::{JobCount, Spool, Spooler, plan};
use super::state::{
    Downloaded, Ended, Finished, Prepared, Ready, RunFollowable, RunInS3, Seen, State, Submitted,
    Uploaded, run_status,
};
use super::{Inferer, OutputMode, Recovered, Structured, Untyped, names};
use crate::aws::{Aws, sdk_config_or_default};
use crate::error::Error;
use crate::input::ModelInput;
use crate::output::{BatchOutput, BatchResults, RecordResult};
use crate::status::{JobDetails, JobFailure, JobStatus};

impl<O: OutputMode> Inferer<O, Ready> {
    /// Turns each `(record id, input)` into the model's request body, with the output tool of
    /// a structured job, for **one** Bedrock job. Every record is checked first (ids, requests,
    /// the minimum and maximum sizes of a job), so a job that cannot be made fails here, before
    /// anything is uploaded; for more records than one job holds, use
    /// [`prepare_run`](Self::prepare_run). The requests go to a private spool file, not memory.
    pub fn prepare_requests<I, K>(self, inputs: I) -> Result<Inferer<O, Prepared>, Error>
    where
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        let spool = self.spool(inputs)?;
        self.planned(spool, JobCount::One)
    }

    /// Prepares every request of a run and plans its jobs; nothing is uploaded. Every record
    /// is checked first (ids, requests, the minimum and maximum sizes), so a run that cannot
    /// be made fails here.
    ///
    /// Memory stays flat in the number of records: `inputs` is read once, each request is
    /// written to a private spool file as it is prepared (only its size and a 64-bit hash of
    /// its id are kept, to plan the jobs and refuse duplicate ids); each job's JSONL is then
    /// streamed from the spool to S3 in 8 MiB parts by
    /// [`push_requests_to_s3`](Inferer::push_requests_to_s3).
    pub fn prepare_run<I, K>(self, inputs: I) -> Result<Inferer<O, Prepared>, Error>
    where
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        let spool = self.spool(inputs)?;
        self.planned(spool, JobCount::Any)
    }

    /// As [`prepare_run`](Self::prepare_run), with the inputs from an async
    /// [`Stream`](futures_core::Stream) (a database cursor, a channel, a file read line by
    /// line): each record is prepared and spooled as it arrives, so the inputs are never all
    /// in memory either.
    pub async fn prepare_run_stream<St, K>(self, inputs: St) -> Result<Inferer<O, Prepared>, Error>
    where
        St: futures_core::Stream<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        let mut inputs = std::pin::pin!(inputs);
        let mut spooler = Spooler::new::<O>(&self.config)?;
        while let Some((record_id, input)) =
            std::future::poll_fn(|cx| inputs.as_mut().poll_next(cx)).await
        {
            spooler.push(record_id.into(), &input)?;
        }
        let spool = spooler.finish()?;
        self.planned(spool, JobCount::Any)
    }

    /// Prepares and uploads every job of the run and records it in S3, without creating the
    /// jobs yet: [`prepare_run`](Self::prepare_run) then
    /// [`push_requests_to_s3`](Inferer::push_requests_to_s3).
    pub async fn start_run<I, K>(self, inputs: I) -> Result<Inferer<O, Uploaded>, Error>
    where
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        self.prepare_run(inputs)?.push_requests_to_s3().await
    }

    /// Runs every step: prepare, upload, create, poll every `poll_interval`, download, load.
    ///
    /// A run larger than one job allows (`max_records_per_job`, `max_input_bytes_per_job`) is
    /// split into jobs `<job name>-1`, `-2`, … of even size, at most `max_concurrent_jobs` in
    /// flight, and merged back: one result per input record, in input order, and one combined
    /// manifest. The records of a job that fails become
    /// [`RecordError::JobFailed`](crate::RecordError::JobFailed) while the other jobs' results
    /// are returned; when every job failed, the failure is the error, as with the steps. The
    /// run record is kept in S3, so a run whose process died can be finished with
    /// [`BatchRun::resume`](Inferer::resume).
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

    fn spool<I, K>(&self, inputs: I) -> Result<Spool, Error>
    where
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        let mut spooler = Spooler::new::<O>(&self.config)?;
        for (record_id, input) in inputs {
            spooler.push(record_id.into(), &input)?;
        }
        spooler.finish()
    }

    fn planned(self, spool: Spool, jobs: JobCount) -> Result<Inferer<O, Prepared>, Error> {
        let (record, planned) = plan(&self.config, spool, jobs)?;
        tracing::debug!(records = planned.spool.sizes.len(), jobs = record.shards.len(), job_name = %self.job_name(), "requests prepared");
        Ok(Inferer {
            config: self.config,
            run: Arc::new(RunShared::new(record)),
            data: planned,
            _mode: PhantomData,
        })
    }
}

impl<O: OutputMode> Inferer<O, Prepared> {
    /// Streams each job's requests from the spool as JSONL to
    /// `s3://<bucket>/input/<job name>.jsonl` (multipart, one 8 MiB part in memory at a time;
    /// also to `output_dir` when one is set), and writes the run record next to them. No job
    /// is created yet.
    ///
    /// A job name is a run's identity: when a run of this name exists already with the same
    /// settings and the same inputs, this handle adopts it (nothing is uploaded, and `create`
    /// creates no second job); with other settings or inputs it is
    /// [`Error::RunExists`], before anything is uploaded, so the first run stays intact.
    pub async fn push_requests_to_s3(self) -> Result<Inferer<O, Uploaded>, Error> {
        let Inferer {
            config, run, data, ..
        } = self;
        let this = Inferer::<O, Uploaded> {
            config,
            run,
            data: (),
            _mode: PhantomData,
        };
        let (file, hashes) = engine::hash_spool(data.spool.file, data.ranges).await?;
        this.run.hold(
            {
                let mut record = this.run.snapshot();
                for (shard, hash) in record.shards.iter_mut().zip(&hashes) {
                    shard.input_hash.clone_from(hash);
                }
                record
            },
            None,
        );
        if this.adopt_existing().await? {
            return Ok(this);
        }
        let entries = this.run.snapshot().shards;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        for entry in &entries {
            let (back, hash) = engine::upload_job(&this.config, entry, reader).await?;
            reader = back;
            if hash != entry.input_hash {
                return Err(Error::Internal {
                    what: "uploading the spooled requests",
                    reason: format!("{} changed while it was uploaded", entry.input_uri),
                });
            }
        }
        if let Some((existing, etag)) = this.run.create(&this.config).await? {
            // Another process started the same run meanwhile.
            this.adopt(existing, etag)?;
        }
        Ok(this)
    }
}

impl<O: OutputMode, S: State> Inferer<O, S> {
    /// Adopts the run record of this name if there is one with the same settings and inputs;
    /// refuses one that differs.
    async fn adopt_existing(&self) -> Result<bool, Error> {
        match RunShared::read(&self.config, self.job_name()).await? {
            Some((existing, etag)) => self.adopt(existing, etag).map(|()| true),
            None => Ok(false),
        }
    }

    fn adopt(&self, existing: RunManifest, etag: String) -> Result<(), Error> {
        let differs = differences(&self.run.snapshot(), &existing);
        if !differs.is_empty() {
            return Err(Error::RunExists {
                job_name: self.job_name().to_owned(),
                run_uri: self.run_uri(),
                differs,
            });
        }
        tracing::info!(run = %self.run_uri(), "a run with these inputs and settings exists: adopting it");
        self.run.hold(existing, Some(etag));
        Ok(())
    }
}

impl<O: OutputMode> Inferer<O, Uploaded> {
    /// Creates the first jobs, as many as `max_concurrent_jobs` allows (a single job: the
    /// job); the others are created as those end, by
    /// [`poll_progress`](Inferer::poll_progress), [`check_complete`](Inferer::check_complete)
    /// or [`submit`](Inferer::submit). Idempotent: the token covers the whole request, so
    /// calling it again, or after a crash, returns the same job.
    pub async fn create(self) -> Result<Inferer<O, Submitted>, Error> {
        let jobs = schedule::observe(&self.config, &self.run).await?;
        schedule::fill_slots(&self.config, &self.run, &jobs).await?;
        let jobs = self
            .run
            .snapshot()
            .shards
            .into_iter()
            .map(|e| (e, None))
            .collect();
        Ok(self.with_data(Seen { jobs, status: None }))
    }
}

impl<O: OutputMode> Inferer<O, Submitted> {
    /// Asks Bedrock once about every job, creating jobs not created yet as slots free:
    /// `Some(status)` once every job has ended (a run of several: the status they share, else
    /// the one that needs attention most), `None` while any still runs or waits.
    pub async fn check_complete(&mut self) -> Result<Option<JobStatus>, Error> {
        let (jobs, ended) = schedule::tick(&self.config, &self.run).await?;
        let status = ended.then(|| status_of(&jobs));
        self.data = Seen {
            jobs,
            status: status.clone(),
        };
        Ok(status)
    }

    /// Polls every `interval` until every job has ended, creating jobs as slots free and
    /// reporting each job's progress through `tracing` and the `on_progress` callback.
    ///
    /// When every job failed (a single job: the job failed), the failure is the error, with
    /// Bedrock's message. A job that failed in a run of several does not stop the run: its
    /// records become [`RecordError::JobFailed`](crate::RecordError::JobFailed) when the
    /// results are loaded. Polls that fail for a retryable reason back off (see
    /// [`PollConfig`](crate::PollConfig)); too many in a row are an error that says the jobs
    /// still run.
    pub async fn poll_progress(self, interval: Duration) -> Result<Inferer<O, Finished>, Error> {
        let jobs = schedule::follow(&self.config, &self.run, interval, &self.run_uri()).await?;
        let failures: Vec<JobFailure> = jobs
            .iter()
            .filter_map(|(_, details)| details.as_ref().and_then(JobFailure::of))
            .collect();
        if !jobs.is_empty()
            && failures.len() == jobs.len()
            && let Some(failure) = failures.into_iter().next()
        {
            return Err(failure.into_error());
        }
        Ok(self.finished(jobs))
    }

    /// Cancels the run ([`cancel`](Self::cancel): running jobs are stopped, jobs not created
    /// never will be), waits until Bedrock says every job ended, and returns the run finished:
    /// what the jobs processed before stopping can still be downloaded.
    pub async fn cancel_batch(self) -> Result<Inferer<O, Finished>, Error> {
        self.cancel().await?;
        let jobs = schedule::wait_ended(&self.config, &self.run).await?;
        Ok(self.finished(jobs))
    }

    /// Marks the run cancelled, so that no job is created from now on (their records end as
    /// [`RecordError::JobFailed`](crate::RecordError::JobFailed)), and stops every running
    /// job; returns the ARNs asked to stop. What they processed can still be downloaded.
    pub async fn cancel(&self) -> Result<Vec<String>, Error> {
        schedule::cancel(&self.config, &self.run).await
    }

    /// Creates jobs not created yet, as long as fewer than `max_concurrent_jobs` of the run's
    /// jobs are unfinished; returns the ARNs created. Call it again as jobs end (the command
    /// line's `watch` does) or let [`finish`](Inferer::finish) do it. Does nothing once
    /// cancelled.
    pub async fn submit(&self) -> Result<Vec<String>, Error> {
        let jobs = schedule::observe(&self.config, &self.run).await?;
        schedule::fill_slots(&self.config, &self.run, &jobs).await
    }

    fn finished(self, jobs: JobsNow) -> Inferer<O, Finished> {
        tracing::info!(run = %self.run_uri(), jobs = jobs.len(), "run finished");
        let status = status_of(&jobs);
        self.with_data(Ended {
            jobs: Arc::new(jobs),
            status,
        })
    }

    /// Picks up a run from its record, in a new process if need be, as `Submitted` whatever
    /// it had reached: from there jobs never created are created (idempotently: a job created
    /// just before a crash is found again, not duplicated) with every setting the first
    /// process had, running ones are followed and finished ones are collected, by
    /// [`poll_progress`](Self::poll_progress) or [`stream`](Inferer::stream).
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
        let sdk = sdk_config_or_default(sdk_config).await;
        let aws = Aws::new(&sdk, region, None, None);
        let Some((bytes, etag)) = aws.get_versioned(bucket, key).await? else {
            return Err(Error::InvalidConfig {
                field: "run_uri",
                reason: format!("there is no run record at {run_uri} (GetObject: NoSuchKey)"),
            });
        };
        let record = parse_record(run_uri, &bytes)?;
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

/// The status of a run from its jobs as seen.
fn status_of(jobs: &JobsNow) -> JobStatus {
    run_status(jobs.iter().map(|(_, d)| d.as_ref().map(|d| &d.status)))
}

/// `job_arn`, `unique_id_from_arn` and `job_status` on the states that have a job.
macro_rules! job_accessors {
    ($state:ident, $jobs:ident, $status:expr) => {
        impl<O: OutputMode> Inferer<O, $state> {
            /// The Bedrock job's ARN (a run of several: its first job's; empty while the run's
            /// first job was never created).
            pub fn job_arn(&self) -> &str {
                let $jobs = &self.data;
                $jobs
                    .jobs
                    .iter()
                    .find_map(|(entry, _)| entry.job_arn.as_deref())
                    .unwrap_or("")
            }

            /// The job id: the last part of the ARN, also the output folder's name.
            pub fn unique_id_from_arn(&self) -> &str {
                crate::layout::job_id(self.job_arn())
            }

            /// The status last seen: the job's (a run of several: the run's, once every job
            /// has ended); none before the first check of a just-created job.
            pub fn job_status(&self) -> Option<&JobStatus> {
                let $jobs = &self.data;
                $status
            }
        }
    };
}

job_accessors!(Submitted, seen, seen.status.as_ref());
job_accessors!(Finished, ended, Some(&ended.status));

impl<O: OutputMode> Inferer<O, Downloaded> {
    /// The ARN of the (first) job.
    pub fn job_arn(&self) -> &str {
        self.data
            .shards
            .iter()
            .find_map(|shard| match shard {
                ShardOutput::Downloaded(output) => Some(output.job_arn.as_str()),
                ShardOutput::Failed { failure, .. } if !failure.job_arn.is_empty() => {
                    Some(failure.job_arn.as_str())
                }
                ShardOutput::Failed { .. } => None,
            })
            .unwrap_or("")
    }

    /// The job id: the last part of the ARN, also the output folder's name.
    pub fn unique_id_from_arn(&self) -> &str {
        crate::layout::job_id(self.job_arn())
    }

    /// The final status (a run of several: the run's).
    pub fn job_status(&self) -> Option<&JobStatus> {
        Some(&self.data.status)
    }
}

impl<O: OutputMode> Inferer<O, Finished> {
    /// Every job with its final details (`None` for a job never created because the run was
    /// cancelled).
    pub fn job_details(&self) -> &[(ShardEntry, Option<JobDetails>)] {
        &self.data.jobs
    }

    /// Downloads every job's output and manifest to local disk: to the builder's `output_dir`
    /// when set (`<job name>_out.jsonl`, `<job name>_manifest.json`, mode 0600), else to a
    /// private temp directory deleted with the run. Nothing is parsed yet. A failed job (or
    /// one never created) has no output; the ids of its records are read back from its input.
    pub async fn download_results(self) -> Result<Inferer<O, Downloaded>, Error> {
        let (dir, temp) = output_dir(&self.config)?;
        let mut shards = Vec::with_capacity(self.data.jobs.len());
        for (entry, details) in self.data.jobs.iter() {
            shards.push(engine::download_shard(&self.config, entry, details.as_ref(), &dir).await?);
        }
        let status = self.data.status.clone();
        Ok(self.with_data(DownloadedRun {
            shards,
            status,
            _dir: temp,
        }))
    }
}

/// Where downloads go: `output_dir`, else a private temp directory kept while the run is.
pub(crate) fn output_dir(
    config: &JobConfig,
) -> Result<(std::path::PathBuf, Option<Arc<tempfile::TempDir>>), Error> {
    Ok(match &config.output_dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let temp = tempfile::tempdir().map_err(|source| Error::Io {
                path: std::env::temp_dir(),
                source,
            })?;
            (temp.path().to_owned(), Some(Arc::new(temp)))
        }
    })
}

impl<O: OutputMode> Inferer<O, Downloaded> {
    /// One result per input record, in input order, joined on `recordId` (Bedrock does not
    /// keep the order), and the combined manifest. A record absent from the output is
    /// [`RecordError::Missing`](crate::RecordError::Missing); error records, malformed lines
    /// and outputs that do not parse are their own `RecordError`s; the records of a job that
    /// failed are [`RecordError::JobFailed`](crate::RecordError::JobFailed). When every job
    /// failed, the failure itself is the error.
    pub fn load_results(self) -> Result<BatchResults<O::Value>, Error> {
        Ok(self.load_results_detailed()?.results)
    }

    /// As [`load_results`](Self::load_results), with each record's usage and attempts and the
    /// run's summary; the run stays usable, for [`retry_failed`](Inferer::retry_failed).
    pub fn load_results_detailed(&self) -> Result<RunResults<O::Value>, Error> {
        let mut summary = RunSummary {
            jobs: self.data.shards.len(),
            ..RunSummary::default()
        };
        let mut records = Vec::new();
        let mut info = Vec::new();
        for shard in &self.data.shards {
            for (record, record_info) in self.shard_records(shard, &mut summary)? {
                records.push(record);
                info.push(record_info);
            }
        }
        run_results(records, info, summary)
    }

    /// Every record in input order, read from disk one job at a time, so memory holds one
    /// job's results, not the run's: the step-by-step counterpart of
    /// [`stream`](Inferer::stream). An `Err` is a job whose output could not be read.
    pub fn records(&self) -> impl Iterator<Item = Result<RecordResult<O::Value>, Error>> + '_ {
        self.data.shards.iter().flat_map(move |shard| {
            let records: Box<dyn Iterator<Item = Result<RecordResult<O::Value>, Error>>> =
                match self.shard_records(shard, &mut RunSummary::default()) {
                    Ok(records) => Box::new(records.map(|(record, _)| Ok(record))),
                    Err(err) => Box::new(std::iter::once(Err(err))),
                };
            records
        })
    }

    /// One job's records, parsed from its downloaded output.
    fn shard_records(
        &self,
        shard: &ShardOutput,
        summary: &mut RunSummary,
    ) -> Result<Box<dyn Iterator<Item = Detailed<O::Value>>>, Error> {
        Ok(match shard {
            ShardOutput::Downloaded(output) => Box::new(loaded_records(
                engine::read_job::<O>(&self.config, output)?,
                summary,
            )),
            ShardOutput::Failed {
                record_ids,
                failure,
            } => Box::new(failed_records(record_ids.clone(), failure.clone(), summary)),
        })
    }
}

impl<O: OutputMode, S: RunInS3> Inferer<O, S> {
    /// Every job of the run with what Bedrock says about it now; `None` for a job not created
    /// yet.
    pub async fn jobs(&self) -> Result<Vec<(ShardEntry, Option<JobDetails>)>, Error> {
        schedule::observe(&self.config, &self.run).await
    }
}

impl<O: OutputMode, S: RunFollowable> Inferer<O, S> {
    /// Creates the jobs not created yet, follows them all (at most `max_concurrent_jobs` at a
    /// time), and merges their results in input order.
    ///
    /// The records of a job that failed are [`RecordError::JobFailed`](crate::RecordError::JobFailed)
    /// while the other jobs' results are returned; when every job failed, the failure itself
    /// is the error. For runs too large to hold in memory, use [`stream`](Inferer::stream).
    pub async fn finish(self, poll_interval: Duration) -> Result<BatchResults<O::Value>, Error> {
        Ok(self.finish_detailed(poll_interval).await?.results)
    }

    /// As [`finish`](Self::finish), with each record's token usage and attempt count and the
    /// run's summary: what [`retry_failed`](Inferer::retry_failed) and cost estimates work on.
    pub async fn finish_detailed(
        &self,
        poll_interval: Duration,
    ) -> Result<RunResults<O::Value>, Error> {
        let mut stream = self.in_flight().stream(poll_interval);
        let mut records = Vec::new();
        let mut info = Vec::new();
        while let Some(item) = stream.next_detailed().await {
            let (record, record_info) = item?;
            records.push(record);
            info.push(record_info);
        }
        run_results(records, info, stream.summary().unwrap_or_default())
    }
}

impl<O: OutputMode, S: State> Inferer<O, S> {
    /// Another handle on the same run, as a run in flight (what following it needs).
    pub(crate) fn in_flight(&self) -> Inferer<O, Submitted> {
        let jobs = self
            .run
            .snapshot()
            .shards
            .into_iter()
            .map(|e| (e, None))
            .collect();
        self.handle(Seen { jobs, status: None })
    }
}

/// A run of one from a job's ARN: its settings from what Bedrock keeps, through the one
/// configuration path; its records from the input in S3. Its record is kept in memory only.
async fn run_of_job<O: OutputMode>(
    job_arn: &str,
    region: &str,
    sdk_config: Option<SdkConfig>,
) -> Result<(Inferer<O, Ready>, ShardEntry, JobDetails), Error> {
    names::check_job_arn(job_arn)?;
    let sdk = sdk_config_or_default(sdk_config).await;
    let aws = Aws::new(&sdk, region, None, None);
    let details = aws.describe_job(job_arn).await?;
    let settings = RunSettings::of_job(&details);
    let config = JobConfig::assemble(settings.clone(), region, aws, None);
    let entry = ShardEntry {
        job_name: details.job_name.clone(),
        input_uri: details.input_uri.clone(),
        input_hash: String::new(),
        records: details
            .total_record_count
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0),
        job_arn: Some(details.job_arn.clone()),
    };
    let record = RunManifest {
        version: RECORD_VERSION,
        settings,
        shards: vec![entry.clone()],
        cancelled: false,
        retries: Vec::new(),
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
    /// next to a job llmbo may not have created. The contract's
    /// [`recover_structured_job`](Inferer::recover_structured_job) and
    /// [`recover_details_from_job_arn`](Inferer::recover_details_from_job_arn) give the same
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

impl Inferer<Untyped, Ready> {
    /// Rebuilds an untyped inferer from a job's ARN after the process that created it died.
    /// Nothing local is needed: the job's settings come from Bedrock, its records from the
    /// input in S3.
    pub async fn recover_details_from_job_arn(
        job_arn: &str,
        region: &str,
        sdk_config: Option<SdkConfig>,
    ) -> Result<Recovered<Untyped>, Error> {
        recover(job_arn, region, sdk_config).await
    }

    /// The job as Bedrock describes it.
    pub async fn check_for_existing_job(
        job_arn: &str,
        region: &str,
        sdk_config: Option<SdkConfig>,
    ) -> Result<JobDetails, Error> {
        names::check_job_arn(job_arn)?;
        let sdk = sdk_config_or_default(sdk_config).await;
        Aws::new(&sdk, region, None, None)
            .describe_job(job_arn)
            .await
    }
}

impl<T: BatchOutput + Send + 'static> Inferer<Structured<T>, Ready> {
    /// Rebuilds a structured inferer from a job's ARN after the process that created it died;
    /// results are parsed into `T`.
    pub async fn recover_structured_job(
        job_arn: &str,
        region: &str,
        sdk_config: Option<SdkConfig>,
    ) -> Result<Recovered<Structured<T>>, Error> {
        recover(job_arn, region, sdk_config).await
    }
}
