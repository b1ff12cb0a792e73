//! Retrying the records that failed: one follow-up job, read back from the run's input in S3,
//! merged in place.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use std::io::{Seek, Write};

use sha2::{Digest, Sha256};

use super::download::output_dir;
use super::engine::{self, hex};
use super::read;
use super::reask::{ReaskRound, is_reaskable};
use super::record::ShardEntry;
use super::results::RunResults;
use super::schedule::PollPace;
use super::spool::read_lines;
use super::state::RunInS3;
use super::{Inferer, OutputMode, names};
use crate::error::{Error, RecordError};
use crate::status::JobFailure;
use crate::{jsonl, layout};

/// What [`BatchRun::retry_failed`] retries and how.
#[derive(Debug, Clone)]
pub struct RetryOptions {
    /// Also retry records whose answer did not parse (no tool call, invalid tool input, …);
    /// worth it with sampling, pointless at temperature 0.
    pub include_parse_failures: bool,
    /// Fill a follow-up job below Bedrock's minimum with copies of a failed request (billed,
    /// answers discarded) instead of not sending it.
    pub pad_to_minimum: bool,
    /// How often the follow-up job is polled.
    pub poll_interval: Duration,
    /// Send a set under the job minimum on demand (`bedrock-runtime`, at the on-demand
    /// price) instead of padding it or not sending it; re-ask rounds too.
    pub on_demand: bool,
    /// Re-ask rounds, at most: records whose answer did not fit the output type (no tool
    /// call, an invalid tool input, invalid JSON, a wrong type) are sent again as a
    /// conversation of the request, the model's own answer and the exact error, up to this
    /// many times. 0 (the default): no re-ask.
    pub reask: u32,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            include_parse_failures: false,
            pad_to_minimum: false,
            poll_interval: Duration::from_secs(60),
            on_demand: false,
            reask: 0,
        }
    }
}

/// What [`BatchRun::retry_failed`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryOutcome {
    /// No record needed retrying.
    NothingToRetry,
    /// Too few records to make a job, and padding was not allowed: nothing was sent.
    TooFew {
        /// Records that would be retried.
        records: usize,
        /// The per-job minimum.
        minimum: usize,
    },
    /// With [`RetryOptions::reask`]: the plain retry, then the re-ask rounds that ran.
    Reasked {
        /// What the plain retry of error records and unprocessed records did.
        retry: Box<RetryOutcome>,
        /// Each re-ask round sent, in order.
        rounds: Vec<ReaskRound>,
        /// Records whose answer still does not fit after the rounds.
        left: usize,
        /// Records not re-asked for being too few for a job (without padding).
        too_few: usize,
    },
    /// Too few for a job, the records went on demand (`RetryOptions::on_demand`) and their
    /// answers were merged.
    OnDemand {
        /// Records sent on demand.
        records: usize,
        /// Of them, records that now have a value.
        recovered: usize,
    },
    /// A follow-up job ran and its answers were merged.
    Retried {
        /// The follow-up job.
        job_arn: String,
        /// Records retried.
        records: usize,
        /// Padding records added to reach the minimum.
        padding: usize,
        /// Retried records that now have a value.
        recovered: usize,
    },
}

/// The requests of a follow-up job, spooled.
pub(super) struct FollowUp {
    pub(super) spool: std::io::BufWriter<std::fs::File>,
    pub(super) hasher: Sha256,
    pub(super) written: usize,
    pub(super) first_body: Option<serde_json::Value>,
}

/// What a follow-up job did.
pub(super) struct Sent {
    pub(super) job_arn: String,
    pub(super) records: usize,
    pub(super) padding: usize,
    pub(super) recovered: usize,
}

pub(super) fn spool_io(source: std::io::Error) -> Error {
    Error::Io {
        path: std::env::temp_dir(),
        source,
    }
}

impl<O: OutputMode, S: RunInS3> Inferer<O, S> {
    /// Sends the records that failed again, as one follow-up job, and merges the answers back
    /// into `results` in place (each retried record's `attempts` goes up by one).
    ///
    /// Retried: records Bedrock answered with an error record, records a job never processed
    /// (partially completed, expired, stopped: [`RecordError::Missing`]), records of a failed
    /// job, and with `include_parse_failures` records whose answer did not parse. The requests
    /// are read back from the run's input in S3, so nothing needs to be kept in memory.
    ///
    /// Fewer failed records than a job's minimum cannot make a job on their own: with
    /// `pad_to_minimum` the job is filled up with copies of the first failed request (billed,
    /// and their answers discarded), otherwise nothing is sent and
    /// [`RetryOutcome::TooFew`] says so.
    ///
    /// With [`RetryOptions::reask`], the records whose answer did not fit are then re-asked
    /// (and not resent plainly): see [`RetryOutcome::Reasked`].
    pub async fn retry_failed(
        &self,
        results: &mut RunResults<O::Value>,
        options: &RetryOptions,
    ) -> Result<RetryOutcome, Error> {
        let retry = self.retry_plain(results, options).await?;
        if options.reask == 0 {
            return Ok(retry);
        }
        let mut rounds = Vec::new();
        let mut too_few = 0;
        for round in 1..=options.reask {
            match self.reask_round(results, round, options).await? {
                Ok(Some(sent)) => rounds.push(sent),
                Ok(None) => break,
                Err(count) => {
                    too_few = count;
                    break;
                }
            }
        }
        let left = results
            .results
            .records
            .iter()
            .filter(|r| r.outcome.as_ref().err().is_some_and(is_reaskable))
            .count();
        Ok(RetryOutcome::Reasked {
            retry: Box::new(retry),
            rounds,
            left,
            too_few,
        })
    }

    /// The plain retry: the same requests again.
    async fn retry_plain(
        &self,
        results: &mut RunResults<O::Value>,
        options: &RetryOptions,
    ) -> Result<RetryOutcome, Error> {
        let retryable = |error: &RecordError| match error {
            RecordError::Bedrock { .. } | RecordError::Missing | RecordError::JobFailed { .. } => {
                true
            }
            // Re-asked instead, when re-ask is on.
            error if options.reask > 0 && is_reaskable(error) => false,
            _ => options.include_parse_failures,
        };
        let positions: HashMap<String, usize> = results
            .results
            .records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.outcome.as_ref().err().is_some_and(retryable))
            .map(|(index, r)| (r.record_id.clone(), index))
            .collect();
        if positions.is_empty() {
            return Ok(RetryOutcome::NothingToRetry);
        }
        let count = positions.len();
        let minimum = self.config.limits().min_records;
        let on_demand = count < minimum && options.on_demand;
        if count < minimum && !options.pad_to_minimum && !on_demand {
            return Ok(RetryOutcome::TooFew {
                records: count,
                minimum,
            });
        }
        let round = positions
            .values()
            .filter_map(|&i| results.info.get(i))
            .map(|info| info.attempts)
            .max()
            .unwrap_or(1);
        // The retry's requests, read back from the run's input, go to a private spool first:
        // their hash names the retry in the run record before anything is uploaded or created.
        let mut spool = std::io::BufWriter::new(tempfile::tempfile().map_err(spool_io)?);
        let mut hasher = Sha256::new();
        let mut first_body: Option<serde_json::Value> = None;
        let mut written = 0usize;
        let mut bodies: Vec<(String, serde_json::Value)> = Vec::new();
        for entry in self.run.snapshot().shards {
            let (bucket, input_key) = layout::split_s3_uri(&entry.input_uri);
            let mut lines = self.config.aws.lines(bucket, input_key).await?;
            while let Some(line) = lines.next_line().await? {
                let Some(id) = jsonl::record_id_of_input_line(&line) else {
                    continue;
                };
                if !positions.contains_key(&id) {
                    continue;
                }
                if on_demand {
                    let body = serde_json::from_slice::<serde_json::Value>(&line)
                        .ok()
                        .and_then(|mut v| v.get_mut("modelInput").map(serde_json::Value::take))
                        .unwrap_or_default();
                    bodies.push((id, body));
                    continue;
                }
                if first_body.is_none() {
                    first_body = serde_json::from_slice::<serde_json::Value>(&line)
                        .ok()
                        .and_then(|v| v.get("modelInput").cloned());
                }
                let mut line = line;
                if !line.ends_with(b"\n") {
                    line.push(b'\n');
                }
                hasher.update(&line);
                spool.write_all(&line).map_err(spool_io)?;
                written += 1;
            }
        }
        if on_demand {
            let records = bodies.len();
            let recovered = self.merge_on_demand(bodies, &positions, results).await?;
            return Ok(RetryOutcome::OnDemand { records, recovered });
        }
        let sent = self
            .send_follow_up(
                FollowUp {
                    spool,
                    hasher,
                    written,
                    first_body,
                },
                &format!("retry{round}"),
                if options.pad_to_minimum { minimum } else { 0 },
                positions,
                results,
                options.poll_interval,
            )
            .await?;
        Ok(RetryOutcome::Retried {
            job_arn: sent.job_arn,
            records: sent.records,
            padding: sent.padding,
            recovered: sent.recovered,
        })
    }

    /// Sends a follow-up job of the run (a retry, a re-ask round): its requests are in
    /// `follow.spool`, under the ids at `positions` of `results`. Filled up to `minimum` with
    /// copies of the first request (ids of llmbo's own, answers dropped) when it has fewer. The
    /// job is named `<run>-<stem>`, recorded in the run before it is created (the same requests
    /// again are the same job, never a second), followed, read, and its answers merged in place
    /// with each record's attempts counted.
    pub(super) async fn send_follow_up(
        &self,
        follow: FollowUp,
        stem: &str,
        minimum: usize,
        mut positions: HashMap<String, usize>,
        results: &mut RunResults<O::Value>,
        poll_interval: Duration,
    ) -> Result<Sent, Error> {
        let FollowUp {
            mut spool,
            mut hasher,
            written,
            first_body,
        } = follow;
        let bucket = self.config.bucket();
        // Padding, with the caller's consent: copies of one request under ids of our own.
        let mut padding = 0;
        if let Some(body) = &first_body {
            let mut line = Vec::new();
            while written + padding < minimum {
                line.clear();
                jsonl::encode_input_line(&format!("llmbo-pad-{padding}"), body, &mut line);
                hasher.update(&line);
                spool.write_all(&line).map_err(spool_io)?;
                padding += 1;
            }
        }
        let input_hash = hex(&hasher.finalize());
        // The same retry (same requests) as one recorded before is that one: never a second job.
        let record = self.run.refresh(&self.config).await?;
        let entry = match record.retries.iter().find(|e| e.input_hash == input_hash) {
            Some(existing) => existing.clone(),
            None => {
                let taken = |name: &str| record.retries.iter().any(|e| e.job_name == name);
                let mut job_name = format!("{}-{stem}", self.job_name());
                let mut n = 1;
                while taken(&job_name) {
                    n += 1;
                    job_name = format!("{}-{stem}-{n}", self.job_name());
                }
                names::check_job_name(&job_name)?;
                let key = layout::input_key(&job_name);
                ShardEntry {
                    input_uri: layout::s3_uri(bucket, &key),
                    job_name,
                    input_hash: input_hash.clone(),
                    records: written + padding,
                    job_arn: None,
                }
            }
        };
        let job_arn = match &entry.job_arn {
            Some(arn) => {
                tracing::info!(job_arn = %arn, "this retry was sent before: following that job");
                arn.clone()
            }
            None => {
                let mut file = spool.into_inner().map_err(|e| spool_io(e.into_error()))?;
                file.seek(std::io::SeekFrom::Start(0)).map_err(spool_io)?;
                let (_, key) = layout::split_s3_uri(&entry.input_uri);
                let mut upload = self.config.aws.upload(bucket, key);
                let mut reader = std::io::BufReader::new(file);
                let mut chunk = Vec::new();
                loop {
                    let (back, buffer, lines) =
                        read_lines(reader, chunk, usize::MAX, crate::aws::PART_SIZE).await?;
                    reader = back;
                    chunk = buffer;
                    if lines == 0 {
                        break;
                    }
                    upload.write(&chunk).await?;
                }
                upload.finish().await?;
                let recorded = entry.clone();
                self.run
                    .modify(&self.config, |record| {
                        if !record
                            .retries
                            .iter()
                            .any(|e| e.job_name == recorded.job_name)
                        {
                            record.retries.push(recorded.clone());
                        }
                    })
                    .await?;
                tracing::info!(job_name = %entry.job_name, records = written, padding, "retrying failed records");
                let arn = engine::create_job(&self.config, &entry).await?;
                self.run
                    .modify(&self.config, |record| {
                        if let Some(retry) = record
                            .retries
                            .iter_mut()
                            .find(|e| e.job_name == entry.job_name)
                            && retry.job_arn.is_none()
                        {
                            retry.job_arn = Some(arn.clone());
                        }
                    })
                    .await?;
                arn
            }
        };
        let details = self.follow_job(&job_arn, poll_interval).await?;
        if let Some(failure) = JobFailure::of(&details) {
            return Err(failure.into_error());
        }
        let (dir, _temp) = output_dir(None)?;
        let output = engine::download_job(&self.config, &entry, &details, &dir).await?;
        let mut loaded = read::read_job_async::<O>(Arc::clone(&self.config), output).await?;
        let mut recovered = 0;
        for (id, index) in positions.drain() {
            let (outcome, usage) = loaded
                .take(&id)
                .unwrap_or((Err(RecordError::Missing), None));
            recovered += usize::from(outcome.is_ok());
            if let Some(record) = results.results.records.get_mut(index) {
                record.outcome = outcome;
            }
            if let Some(info) = results.info.get_mut(index) {
                info.attempts += 1;
                if usage.is_some() {
                    info.usage = usage;
                }
            }
        }
        Ok(Sent {
            job_arn,
            records: written,
            padding,
            recovered,
        })
    }

    /// Answers `bodies` on demand and merges the answers at `positions` of `results`, each
    /// record's attempts counted; how many now have a value.
    pub(super) async fn merge_on_demand(
        &self,
        bodies: Vec<(String, serde_json::Value)>,
        positions: &HashMap<String, usize>,
        results: &mut RunResults<O::Value>,
    ) -> Result<usize, Error> {
        let concurrency = self.config.settings.on_demand_concurrency.unwrap_or(8);
        tracing::info!(records = bodies.len(), job_name = %self.job_name(), "answering on demand");
        let answered = super::on_demand::answer_recorded::<O>(
            &self.config,
            &self.run,
            "ondemand",
            bodies,
            concurrency,
        )
        .await?;
        let mut recovered = 0;
        for (id, (outcome, usage)) in answered {
            let Some(&index) = positions.get(&id) else {
                continue;
            };
            recovered += usize::from(outcome.is_ok());
            if let Some(record) = results.results.records.get_mut(index) {
                record.outcome = outcome;
            }
            if let Some(info) = results.info.get_mut(index) {
                info.attempts += 1;
                info.on_demand = true;
                if usage.is_some() {
                    info.usage = usage;
                }
            }
        }
        Ok(recovered)
    }

    /// Polls one job until it ends.
    async fn follow_job(
        &self,
        job_arn: &str,
        interval: Duration,
    ) -> Result<crate::JobDetails, Error> {
        let mut pace = PollPace::new(interval, self.config.poll);
        loop {
            match self.config.aws.describe_job(job_arn).await {
                Ok(details) => {
                    self.config.report(&crate::Progress::of(&details));
                    if details.status.is_finished() {
                        return Ok(details);
                    }
                    pace.answered();
                }
                Err(err) => pace.failed(
                    err,
                    &format!("the retry job {job_arn} still runs: recover it from its ARN later"),
                )?,
            }
            pace.sleep().await;
        }
    }
}
