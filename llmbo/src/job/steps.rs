//! The typestate front: every step on the one state it belongs to (so a step called in the
//! wrong state is rustc's short "no method named …"), each a few calls into the engine and the
//! scheduler; the first step is `prepare.rs`, the last two `download.rs`. A single job is a run of one: `prepare_requests` plans exactly one job,
//! `prepare_run` as many as the run needs, and from there the steps are the same.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::engine::ShardOutput;
use super::record::{RunRecord, ShardEntry, differences};
use super::schedule::{self, JobsNow};
use super::state::{
    Downloaded, Ended, Finished, Prepared, RunInS3, Seen, State, Submitted, Uploaded, run_status,
};
use super::upload;
use super::{Inferer, OutputMode};
use crate::error::Error;
use crate::status::{JobDetails, JobFailure, JobStatus};

impl<O: OutputMode> Inferer<O, Prepared> {
    /// Streams each job's requests from the spool as JSONL to
    /// `s3://<bucket>/input/<job name>.jsonl` (multipart, one 8 MiB part in memory at a time;
    /// also to `output_dir` when one is set), and writes the run record next to them. No job
    /// is created yet.
    ///
    /// A job name is a run's identity: when a run of this name exists already with the same
    /// settings and the same inputs, this handle adopts it (inputs already in S3 are not
    /// uploaded again, and `create` creates no second job); with other settings or inputs it
    /// is [`Error::RunExists`], before anything is uploaded: the name is reserved (the record
    /// created with `If-None-Match`) before the first byte of input, so the first run stays
    /// intact even when both start at once.
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
        // One job's input is the whole spool, hashed as it was written, unless its records'
        // S3 media are pointed at copies in its folder as it is uploaded.
        let folders: Vec<Option<String>> = this
            .run
            .snapshot()
            .shards
            .into_iter()
            .map(|shard| shard.input_folder)
            .collect();
        let (file, hashes) = if data.ranges.len() == 1 && folders.iter().all(Option::is_none) {
            (data.spool.file, vec![data.spool.hash])
        } else {
            upload::hash_spool(data.spool.file, data.ranges, folders).await?
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
        // The name is reserved before the first byte of input: the record is created with
        // `If-None-Match`, so of two processes starting one name at once, the one that loses
        // with other inputs gets `RunExists` before it uploads anything, and the winner's jobs
        // run on exactly its own requests.
        let adopted = match this.run.create(&this.config).await? {
            None => false,
            Some((existing, etag)) => {
                this.adopt(existing, etag)?;
                true
            }
        };
        // A run adopted (the same inputs and settings) may have been left before its inputs
        // were all uploaded: the ones missing are uploaded from this spool, the same bytes.
        let entries = this.run.snapshot().shards;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        // The jobs `create` makes at once have their requests written as they go up; the
        // others' are read back from the store when a slot frees (hours later, perhaps), so a
        // run of many jobs holds no second copy of its input on local disk meanwhile.
        let at_once = this.config.settings.max_concurrent_jobs.max(1);
        for (index, entry) in entries.iter().enumerate() {
            if adopted
                && this
                    .config
                    .backend
                    .version(&entry.input_uri)
                    .await?
                    .is_some()
            {
                reader = upload::skip_job(entry, reader).await?;
            } else {
                reader = upload::upload_job(&this.config, entry, reader, index < at_once).await?;
            }
        }
        Ok(this)
    }
}

impl<O: OutputMode, S: State> Inferer<O, S> {
    fn adopt(&self, existing: RunRecord, etag: String) -> Result<(), Error> {
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
    /// records become [`RecordError::JobFailed`](crate::error::RecordError::JobFailed) when the
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
    /// [`RecordError::JobFailed`](crate::error::RecordError::JobFailed)), and stops every running
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

/// `job_arn`, `job_id` and `job_status` on the states that have a job.
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
            #[doc(alias = "unique_id_from_arn")]
            pub fn job_id(&self) -> &str {
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
    #[doc(alias = "unique_id_from_arn")]
    pub fn job_id(&self) -> &str {
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
