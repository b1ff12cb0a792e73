//! Retrying the records that failed: one follow-up job, read back from the run's input in S3,
//! merged in place.

use std::collections::HashMap;
use std::time::Duration;

use std::io::Write;

use sha2::{Digest, Sha256};

use super::follow_up::{FollowUp, spool_io};
use super::reask::{ReaskRound, is_reaskable};
use super::results::RunResults;
use super::state::RunInS3;
use super::{Inferer, OutputMode};
use crate::error::{Error, RecordError};
use crate::jsonl;

/// What [`BatchRun::retry_failed`](crate::BatchRun::retry_failed) retries and how.
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

/// What [`BatchRun::retry_failed`](crate::BatchRun::retry_failed) did.
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
        // A cancelled run creates nothing more, from any process.
        if self.run.refresh(&self.config).await?.cancelled {
            return Err(self.cancelled());
        }
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
        let mut unnamed = UnnamedLines::new(&results.results.records);
        for entry in self.run.snapshot().shards {
            // Read as the engine reads it: one object, or every `.jsonl` of a folder.
            let files = super::engine::input_files(&self.config, &entry).await?;
            for file in &files {
                let mut lines = self.config.backend.lines(file).await?;
                while let Some(line) = lines.next_line().await? {
                    let Some((id, line)) = unnamed.name(line) else {
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
        }
        if on_demand {
            let records = bodies.len();
            let recovered = self
                .merge_on_demand(&format!("retry{round}"), bodies, &positions, results)
                .await?;
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
}

/// Names the input lines a retry reads again. A line without a `recordId` (optional on
/// Bedrock, which names it in its output) stands in the results under the id Bedrock gave it,
/// at its own position: the retry sends it under that id, so its new answer joins its record.
/// The positions count the lines as the download counted them; if a named line is not where
/// the results have it (results of another run), unnamed lines are passed over as before.
struct UnnamedLines<'a, T> {
    records: &'a [crate::output::RecordResult<T>],
    position: usize,
    aligned: bool,
}

impl<'a, T> UnnamedLines<'a, T> {
    fn new(records: &'a [crate::output::RecordResult<T>]) -> Self {
        UnnamedLines {
            records,
            position: 0,
            aligned: true,
        }
    }

    /// The id of an input line, and the line to send (with its id written in when it had
    /// none); `None` for a line that stands for no record.
    fn name(&mut self, line: Vec<u8>) -> Option<(String, Vec<u8>)> {
        let at = self.position;
        if let Some(id) = jsonl::record_id_of_input_line(&line) {
            self.position += 1;
            let here = self.records.get(at).map(|r| r.record_id.as_str());
            self.aligned &= here == Some(id.as_str());
            return Some((id, line));
        }
        // A blank or unreadable line is no record, as the download counts.
        super::engine::model_input_digest(&line)?;
        self.position += 1;
        if !self.aligned {
            return None;
        }
        let id = self.records.get(at)?.record_id.clone();
        let mut object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&line).ok()?;
        object.insert("recordId".into(), serde_json::Value::String(id.clone()));
        let named = serde_json::to_vec(&object).ok()?;
        Some((id, named))
    }
}
