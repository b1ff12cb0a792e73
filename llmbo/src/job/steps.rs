//! The typestate front: every step on the one state it belongs to (so a step called in the
//! wrong state is rustc's short "no method named …"), each a few calls into the engine and the
//! scheduler. A single job is a run of one: `prepare_requests` plans exactly one job,
//! `prepare_run` as many as the run needs, and from there the steps are the same.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::engine::ShardOutput;
use super::record::{RunManifest, RunShared, ShardEntry, differences};
use super::schedule::{self, JobsNow};
use super::spool::{JobCount, Spool, Spooler, plan};
use super::state::{
    Downloaded, Ended, Finished, Prepared, Ready, RunInS3, Seen, State, Submitted, Uploaded,
    run_status,
};
use super::upload;
use super::{Inferer, OutputMode};
use crate::error::Error;
use crate::input::ModelInput;
use crate::output::BatchResults;
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
        let spool = spooler.finish()?.checked(self.config.skip_checks)?;
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
        if let Some(below) = self.config.settings.on_demand_below {
            let spool = self.spool(inputs)?;
            if spool.sizes.len() < below {
                super::preflight::check_budget(&self.config, &spool)?;
                return self.on_demand(spool).await;
            }
            return self
                .planned(spool, JobCount::Any)?
                .push_requests_to_s3()
                .await?
                .create()
                .await?
                .finish(poll_interval)
                .await;
        }
        self.start_run(inputs).await?.finish(poll_interval).await
    }

    /// A run under `on_demand_below`: every record through `bedrock-runtime`, in input order.
    async fn on_demand(self, spool: Spool) -> Result<BatchResults<O::Value>, Error> {
        let records =
            crate::files::off_runtime("reading the spooled requests", move || read_spooled(spool))
                .await??;
        let count = records.len();
        tracing::info!(records = count, job_name = %self.job_name(), "answering on demand");
        let concurrency = self.config.settings.on_demand_concurrency.unwrap_or(8);
        let answered = super::on_demand::answer_recorded::<O>(
            &self.config,
            &self.run,
            "ondemand",
            records,
            concurrency,
        )
        .await?;
        let mut manifest = crate::Manifest {
            total_record_count: count as u64,
            processed_record_count: count as u64,
            ..crate::Manifest::default()
        };
        let (mut input_tokens, mut output_tokens) = (0, 0);
        let records = answered
            .into_iter()
            .map(|(record_id, (outcome, usage))| {
                if let Some(usage) = usage {
                    input_tokens += usage.input_tokens;
                    output_tokens += usage.output_tokens;
                }
                match &outcome {
                    Err(crate::RecordError::Bedrock { .. }) => manifest.error_record_count += 1,
                    _ => manifest.success_record_count += 1,
                }
                crate::RecordResult { record_id, outcome }
            })
            .collect();
        manifest.input_token_count = Some(input_tokens);
        manifest.output_token_count = Some(output_tokens);
        Ok(BatchResults { manifest, records })
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
        spooler.finish()?.checked(self.config.skip_checks)
    }

    fn planned(self, spool: Spool, jobs: JobCount) -> Result<Inferer<O, Prepared>, Error> {
        super::preflight::check_budget(&self.config, &spool)?;
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
        // One job's input is the whole spool, hashed as it was written.
        let (file, hashes) = if data.ranges.len() == 1 {
            (data.spool.file, vec![data.spool.hash])
        } else {
            upload::hash_spool(data.spool.file, data.ranges).await?
        };
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
            reader = upload::upload_job(&this.config, entry, reader).await?;
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

impl<O: OutputMode, S: RunInS3> Inferer<O, S> {
    /// Every job of the run with what Bedrock says about it now; `None` for a job not created
    /// yet.
    pub async fn jobs(&self) -> Result<Vec<(ShardEntry, Option<JobDetails>)>, Error> {
        schedule::observe(&self.config, &self.run).await
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

/// The spooled requests as `(record id, modelInput)`, in input order.
fn read_spooled(spool: Spool) -> Result<Vec<(String, serde_json::Value)>, Error> {
    use std::io::{BufRead, Seek};
    let mut file = spool.file;
    let io = |source| Error::Io {
        path: std::env::temp_dir(),
        source,
    };
    file.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
    let mut records = Vec::with_capacity(spool.sizes.len());
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = line.map_err(io)?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut value: serde_json::Value =
            serde_json::from_slice(&line).map_err(|err| Error::Internal {
                what: "reading the spooled requests",
                reason: err.to_string(),
            })?;
        let record_id = value
            .get("recordId")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let body = value
            .get_mut("modelInput")
            .map(serde_json::Value::take)
            .unwrap_or_default();
        records.push((record_id, body));
    }
    Ok(records)
}
