//! The one scheduler: every poll of a run asks Bedrock about each created job, creates the
//! jobs still waiting while slots are free (unless the run was cancelled), and says whether
//! every job has ended. `poll_progress`, `check_complete` and `stream` all go through [`tick`].

use std::time::Duration;

use super::config::JobConfig;
use super::engine;
use super::record::{RunShared, ShardEntry};
use crate::error::Error;
use crate::progress::Progress;
use crate::status::JobDetails;

/// Every job of a run with what Bedrock said about it; `None` for a job not created yet.
pub(crate) type JobsNow = Vec<(ShardEntry, Option<JobDetails>)>;

/// How polling paces itself and how long it rides out failures.
///
/// Polls come every `interval` (the argument of `poll_progress`, `stream` or `finish`). A poll
/// that fails for a reason worth retrying — throttled, a service error, no answer — doubles
/// the wait (up to `max_interval`); `failure_tolerance` such polls in a row end the wait with
/// the last error, saying that the jobs still run and how to pick them up. Any other error
/// ends it at once.
///
/// ```
/// use std::time::Duration;
/// let poll = llmbo::builder::PollConfig::default()
///     .with_max_interval(Duration::from_secs(600))
///     .with_failure_tolerance(30);
/// assert_eq!(poll.failure_tolerance, 30);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct PollConfig {
    /// The longest wait between two polls while backing off (default 5 minutes).
    pub max_interval: Duration,
    /// The random share of each wait, 0 to 1 (default 0.1), so that many followers of many
    /// runs do not poll in step.
    pub jitter: f64,
    /// How many polls in a row may fail for a retryable reason before polling gives up
    /// (default 10: with a minute's interval, about 40 minutes of outage).
    pub failure_tolerance: u32,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            max_interval: Duration::from_secs(300),
            jitter: 0.1,
            failure_tolerance: 10,
        }
    }
}

impl PollConfig {
    /// These settings made safe to compute with, whatever the public fields were set to: the
    /// jitter a finite share in 0..=1 (0 when NaN), at least one failed poll tolerated.
    pub(crate) fn checked(self) -> Self {
        PollConfig {
            max_interval: self.max_interval,
            ..PollConfig::default()
        }
        .with_jitter(self.jitter)
        .with_failure_tolerance(self.failure_tolerance)
    }

    /// A pace that polls every `interval` by these settings.
    pub fn pace(self, interval: Duration) -> PollPace {
        PollPace::new(interval, self)
    }

    /// With another longest wait.
    #[must_use]
    pub fn with_max_interval(mut self, max: Duration) -> Self {
        self.max_interval = max;
        self
    }

    /// With another random share of each wait (clamped to 0..=1).
    #[must_use]
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// With another number of failed polls in a row tolerated (at least 1).
    #[must_use]
    pub fn with_failure_tolerance(mut self, polls: u32) -> Self {
        self.failure_tolerance = polls.max(1);
        self
    }
}

/// The pace of one follower of a job or run, by a [`PollConfig`]: every `interval`, slower
/// after each failed poll. What `poll_progress` and `stream` use, public for programs (and the
/// command line) that poll on their own.
///
/// ```
/// # async fn demo(jobs: llmbo::run::Jobs, arn: &str) -> Result<(), llmbo::Error> {
/// let mut pace = llmbo::builder::PollConfig::default().pace(std::time::Duration::from_secs(60));
/// loop {
///     match jobs.describe(arn).await {
///         Ok(job) if job.status.is_finished() => break,
///         Ok(_) => pace.answered(),
///         Err(err) => pace.failed(err, "the job still runs")?,
///     }
///     pace.sleep().await;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PollPace {
    config: PollConfig,
    interval: Duration,
    wait: Duration,
    failed: u32,
}

impl PollPace {
    pub(crate) fn new(interval: Duration, config: PollConfig) -> Self {
        PollPace {
            config: config.checked(),
            interval,
            wait: interval,
            failed: 0,
        }
    }

    /// A poll was answered: back to the normal pace.
    pub fn answered(&mut self) {
        self.wait = self.interval;
        self.failed = 0;
    }

    /// A poll failed. A retryable failure (the SDK already retried it) slows polling down
    /// rather than lose what runs, but not forever; any other error, or one failed poll too
    /// many, is returned. `still_running` says what runs on and how to pick it up.
    pub fn failed(&mut self, err: Error, still_running: &str) -> Result<(), Error> {
        if !err.is_retryable() {
            return Err(err);
        }
        self.failed += 1;
        if self.failed >= self.config.failure_tolerance {
            let failed = self.failed;
            let how = if err.aws_kind() == Some(crate::error::AwsErrorKind::Throttled) {
                "throttled"
            } else {
                "failed"
            };
            return Err(err.explained(|| format!("{failed} polls in a row {how}; {still_running}")));
        }
        self.wait = self
            .wait
            .saturating_mul(2)
            .min(self.config.max_interval.max(self.interval));
        tracing::warn!(
            failed = self.failed,
            error = %err,
            "a poll failed; backing off ({still_running})"
        );
        Ok(())
    }

    /// Waits until the next poll, with jitter.
    pub async fn sleep(&self) {
        tokio::time::sleep(self.next_wait(unit_random())).await;
    }

    /// The wait before the next poll, less its random share (`unit` in 0..1).
    fn next_wait(&self, unit: f64) -> Duration {
        let share = self.config.jitter * unit;
        let jitter =
            Duration::try_from_secs_f64(self.wait.as_secs_f64() * share).unwrap_or(Duration::ZERO);
        self.wait.saturating_sub(jitter)
    }
}

/// A number in 0..1 that differs from call to call (for jitter only).
fn unit_random() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Every job of the run with what Bedrock says about it now.
pub(crate) async fn observe(config: &JobConfig, run: &RunShared) -> Result<JobsNow, Error> {
    let mut out = Vec::new();
    for entry in run.snapshot().shards {
        let details = match &entry.job_arn {
            Some(arn) => Some(config.backend.describe(arn).await?),
            None => None,
        };
        out.push((entry, details));
    }
    Ok(out)
}

/// Creates one job of the run (idempotently) and records its ARN in the run record, unless
/// the record, read again just before, says the run was cancelled or the job exists already
/// (another process created it). A cancel that lands while the job is created is honoured
/// too: the job is stopped at once. Returns the ARN created, if any.
pub(crate) async fn create_shard(
    config: &JobConfig,
    run: &RunShared,
    index: usize,
    entry: &ShardEntry,
) -> Result<Option<String>, Error> {
    let record = run.refresh(config).await?;
    if record.cancelled {
        return Ok(None);
    }
    let mut entry = entry.clone();
    if let Some(fresh) = record.shards.get(index) {
        if fresh.job_arn.is_some() {
            return Ok(None);
        }
        entry.clone_from(fresh);
    }
    let arn = engine::create_job(config, &entry).await?;
    let record = run
        .modify(config, |record| {
            if let Some(shard) = record.shards.get_mut(index)
                && shard.job_arn.is_none()
            {
                shard.job_arn = Some(arn.clone());
            }
        })
        .await?;
    if record.cancelled {
        tracing::warn!(job_arn = %arn, "the run was cancelled while this job was created: stopping it");
        super::Jobs::of(std::sync::Arc::clone(&config.backend))
            .stop(&arn)
            .await?;
    }
    Ok(Some(arn))
}

/// Creates jobs not created yet while fewer than `max_concurrent_jobs` of `jobs` are
/// unfinished, unless the run was cancelled; returns the ARNs created.
pub(crate) async fn fill_slots(
    config: &JobConfig,
    run: &RunShared,
    jobs: &JobsNow,
) -> Result<Vec<String>, Error> {
    if run.snapshot().cancelled {
        return Ok(Vec::new());
    }
    let mut running = jobs
        .iter()
        .filter(|(_, details)| details.as_ref().is_some_and(|d| !d.status.is_finished()))
        .count();
    let mut created = Vec::new();
    for (index, (entry, _)) in jobs.iter().enumerate() {
        if running >= config.settings.max_concurrent_jobs.max(1) {
            break;
        }
        if entry.job_arn.is_none() {
            match create_shard(config, run, index, entry).await {
                Ok(Some(arn)) => created.push(arn),
                // Cancelled, or created by another process: the next poll sees it.
                Ok(None) => return Ok(created),
                // The account's job quota is full (other runs, other processes): wait for a
                // slot instead of ending the run; the next poll tries again.
                Err(err) if err.aws_kind() == Some(crate::error::AwsErrorKind::QuotaExceeded) => {
                    tracing::warn!(job_name = %entry.job_name, error = %err, "no free job slot in the account; waiting for one");
                    return Ok(created);
                }
                Err(err) => return Err(err),
            }
            running += 1;
        }
    }
    Ok(created)
}

/// Whether every job has ended (a job never created counts as ended once the run is
/// cancelled).
pub(crate) fn all_ended(jobs: &JobsNow, cancelled: bool) -> bool {
    jobs.iter().all(|(_, details)| match details {
        Some(details) => details.status.is_finished(),
        None => cancelled,
    })
}

/// One poll of the run: describe every job, report progress, fill free slots. Returns the
/// jobs as seen and whether all have ended.
pub(crate) async fn tick(config: &JobConfig, run: &RunShared) -> Result<(JobsNow, bool), Error> {
    // What other processes did since: jobs they created, a cancel.
    run.refresh(config).await?;
    let jobs = observe(config, run).await?;
    for details in jobs.iter().filter_map(|(_, details)| details.as_ref()) {
        config.report(&Progress::of(details));
    }
    if !fill_slots(config, run, &jobs).await?.is_empty() {
        return Ok((observe(config, run).await?, false));
    }
    let ended = all_ended(&jobs, run.snapshot().cancelled);
    Ok((jobs, ended))
}

/// Polls every `interval` until every job has ended.
pub(crate) async fn follow(
    config: &JobConfig,
    run: &RunShared,
    interval: Duration,
    run_uri: &str,
) -> Result<JobsNow, Error> {
    let mut pace = PollPace::new(interval, config.poll);
    loop {
        match tick(config, run).await {
            Ok((jobs, true)) => return Ok(jobs),
            Ok((_, false)) => pace.answered(),
            Err(err) => pace.failed(err, &still_running(run, run_uri))?,
        }
        pace.sleep().await;
    }
}

/// What still runs after polling gave up, and how to pick it up.
pub(crate) fn still_running(run: &RunShared, run_uri: &str) -> String {
    let arns: Vec<String> = run
        .snapshot()
        .shards
        .into_iter()
        .filter_map(|s| s.job_arn)
        .collect();
    format!(
        "the jobs still run ({}): resume the run from {run_uri} later",
        arns.join(", ")
    )
}

/// Marks the run cancelled in its record (so no process creates a job from now on), then
/// stops every job the record names. Jobs that carry one of the run's job names but are not
/// in the record (a process died between creating one and recording it) are recorded and
/// stopped too. Returns the ARNs asked to stop; a job that ended meanwhile is not an error.
pub(crate) async fn cancel(config: &JobConfig, run: &RunShared) -> Result<Vec<String>, Error> {
    let record = run.modify(config, |record| record.cancelled = true).await?;
    let jobs = super::Jobs::of(std::sync::Arc::clone(&config.backend));
    let names: Vec<String> = record
        .shards
        .iter()
        .chain(&record.retries)
        .map(|s| s.job_name.clone())
        .collect();
    let recorded: Vec<String> = record
        .shards
        .iter()
        .chain(&record.retries)
        .filter_map(|s| s.job_arn.clone())
        .collect();
    let strays: Vec<(String, String)> = jobs
        .list(None, Some(config.job_name()))
        .await?
        .into_iter()
        .filter(|job| names.contains(&job.job_name) && !recorded.contains(&job.job_arn))
        .filter(|job| {
            job.model_id == config.settings.model_name
                || job.model_id.ends_with(&config.settings.model_name)
        })
        .map(|job| (job.job_name, job.job_arn))
        .collect();
    if !strays.is_empty() {
        tracing::warn!(
            count = strays.len(),
            "found jobs of this run that its record did not name; recording and stopping them"
        );
        run.modify(config, |record| {
            for (name, arn) in &strays {
                for shard in record.shards.iter_mut().chain(record.retries.iter_mut()) {
                    if &shard.job_name == name && shard.job_arn.is_none() {
                        shard.job_arn = Some(arn.clone());
                    }
                }
            }
        })
        .await?;
    }
    let mut stopped = Vec::new();
    for arn in recorded
        .into_iter()
        .chain(strays.into_iter().map(|(_, arn)| arn))
    {
        if jobs.stop(&arn).await? {
            stopped.push(arn);
        }
    }
    Ok(stopped)
}

/// Waits until every job has ended, after a cancel.
pub(crate) async fn wait_ended(config: &JobConfig, run: &RunShared) -> Result<JobsNow, Error> {
    loop {
        let jobs = observe(config, run).await?;
        if all_ended(&jobs, true) {
            return Ok(jobs);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttled() -> Error {
        Error::Aws {
            operation: "GetModelInvocationJob",
            kind: crate::error::AwsErrorKind::Throttled,
            code: "ThrottlingException".into(),
            message: "slow down".into(),
            source: None,
        }
    }

    /// Any value of the public fields, and any interval, paces without a panic.
    #[test]
    fn any_poll_config_paces_without_panicking() {
        for jitter in [
            f64::NAN,
            -1.0,
            0.0,
            0.5,
            1.0,
            7.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            for interval in [Duration::ZERO, Duration::from_secs(60), Duration::MAX] {
                for max_interval in [Duration::ZERO, Duration::MAX] {
                    let config = PollConfig {
                        max_interval,
                        jitter,
                        failure_tolerance: 0,
                    };
                    let mut pace = PollPace::new(interval, config);
                    for unit in [0.0, 0.5, 0.999_999_999_999] {
                        assert!(pace.next_wait(unit) <= interval.max(max_interval));
                    }
                    // A tolerance of 0 is taken as 1: the first failure is the error.
                    assert!(pace.failed(throttled(), "it runs").is_err());
                    let mut pace = PollPace::new(interval, config.with_failure_tolerance(100));
                    for _ in 0..70 {
                        assert!(pace.failed(throttled(), "it runs").is_ok());
                        let _ = pace.next_wait(0.999_999_999_999);
                    }
                }
            }
        }
    }
}
