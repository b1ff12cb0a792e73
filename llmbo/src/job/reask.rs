//! Re-ask: the records whose answer did not fit the output type are asked again, as a
//! follow-up job whose conversation is the request, the model's own answer and a turn with the
//! exact validation error. The answers are read back from the run's job outputs in S3, so a
//! resumed run re-asks as well as the process that made it.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::follow_up::{FollowUp, spool_io};
use super::record::ShardEntry;
use super::results::RunResults;
use super::retry::RetryOptions;
use super::state::RunInS3;
use super::{Inferer, OutputMode, names};
use crate::error::{Error, RecordError};
use crate::jsonl;

/// One re-ask round of [`BatchRun::retry_failed`](crate::BatchRun::retry_failed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReaskRound {
    /// The follow-up job.
    pub job_arn: String,
    /// Records re-asked.
    pub records: usize,
    /// Padding records added to reach the job minimum.
    pub padding: usize,
    /// Re-asked records that now have a value.
    pub recovered: usize,
    /// Whether the round went on demand (too few for a job, `RetryOptions::on_demand`); then
    /// `job_arn` is empty.
    pub on_demand: bool,
}

/// Whether a record's error is an answer that did not fit, which the model can fix when told.
/// Cut answers (`Truncated`) need a larger `max_tokens`, not words; Bedrock's error records and
/// records never processed go to the plain retry.
pub(crate) fn is_reaskable(error: &RecordError) -> bool {
    matches!(
        error,
        RecordError::NoToolCall { .. }
            | RecordError::MultipleToolCalls { .. }
            | RecordError::WrongTool { .. }
            | RecordError::UnknownTool { .. }
            | RecordError::ToolInputNotJson { .. }
            | RecordError::ToolInputInvalid { .. }
    )
}

impl<O: OutputMode, S: RunInS3> Inferer<O, S> {
    /// One re-ask round: `Ok(None)` when no record needs it (or none can carry a
    /// conversation), `Err(n)` when the `n` records to re-ask are too few for a job and
    /// padding was not allowed (nothing is sent).
    pub(crate) async fn reask_round(
        &self,
        results: &mut RunResults<O::Value>,
        round: u32,
        options: &RetryOptions,
    ) -> Result<Result<Option<ReaskRound>, usize>, Error> {
        let mut positions: HashMap<String, usize> = results
            .results
            .records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.outcome.as_ref().err().is_some_and(is_reaskable))
            .map(|(index, r)| (r.record_id.clone(), index))
            .collect();
        if positions.is_empty() {
            return Ok(Ok(None));
        }
        let wanted: HashSet<String> = positions.keys().cloned().collect();
        let answers = self.last_answers(&wanted, round).await?;
        let spec = self.config.output_spec::<O>()?;
        let how = match &spec {
            Some(spec) if spec.strategy.uses_tools() && spec.is_multi() => {
                " by calling one of the tools, with input that fits its schema".to_owned()
            }
            Some(spec) if spec.strategy.uses_tools() => format!(
                " by calling the tool `{}` with input that fits its schema",
                spec.one.full.name
            ),
            _ => " with one JSON object that fits the schema, and nothing else".to_owned(),
        };
        let mut spool = std::io::BufWriter::new(tempfile::tempfile().map_err(spool_io)?);
        let mut hasher = Sha256::new();
        let mut first_body = None;
        let mut written = 0usize;
        let mut line = Vec::new();
        // Kept while the round may be too small for a job, in case it goes on demand.
        let minimum = self.config.limits().min_records;
        let mut small: Vec<(String, Value)> = Vec::new();
        // In input order, so the same round of the same run writes the same bytes.
        let mut order: Vec<(usize, String)> =
            positions.iter().map(|(id, i)| (*i, id.clone())).collect();
        order.sort_unstable();
        for (index, id) in order {
            let error = results
                .results
                .records
                .get(index)
                .and_then(|r| r.outcome.as_ref().err())
                .map(ToString::to_string)
                .unwrap_or_default();
            let problem = format!("Your answer could not be used: {error}. Answer again{how}.");
            let body = answers.get(&id).and_then(|(request, answer)| {
                self.config.adapter.reask_body(request, answer, &problem)
            });
            let Some(body) = body else {
                // No answer to show (or the family has no conversation): left as it is.
                positions.remove(&id);
                continue;
            };
            if options.on_demand && written < minimum {
                small.push((id.clone(), body.clone()));
            } else {
                small.clear();
            }
            line.clear();
            jsonl::encode_input_line(&id, &body, &mut line);
            hasher.update(&line);
            spool.write_all(&line).map_err(spool_io)?;
            first_body.get_or_insert(body);
            written += 1;
        }
        if written == 0 {
            return Ok(Ok(None));
        }
        if written < minimum && options.on_demand {
            let records = small.len();
            let recovered = self
                .merge_on_demand(&format!("reask{round}"), small, &positions, results)
                .await?;
            return Ok(Ok(Some(ReaskRound {
                job_arn: String::new(),
                records,
                padding: 0,
                recovered,
                on_demand: true,
            })));
        }
        if written < minimum && !options.pad_to_minimum {
            return Ok(Err(written));
        }
        let sent = self
            .send_follow_up(
                FollowUp {
                    spool,
                    hasher,
                    written,
                    first_body,
                },
                &format!("reask{round}"),
                if options.pad_to_minimum { minimum } else { 0 },
                positions,
                results,
                options.poll_interval,
            )
            .await?;
        Ok(Ok(Some(ReaskRound {
            job_arn: sent.job_arn,
            records: sent.records,
            padding: sent.padding,
            recovered: sent.recovered,
            on_demand: false,
        })))
    }

    /// The last answer of each of `ids` before re-ask round `round`, `(request, modelOutput)`
    /// as Bedrock echoed them, from the output of the run's jobs, its retries and its earlier
    /// re-ask rounds, in the order the run record lists them, a later answer replacing an
    /// earlier one. Round `round`'s own job (or a later one) is not read: a round asked again,
    /// from any process, writes the same requests, so it is the recorded job, never a second.
    async fn last_answers(
        &self,
        ids: &HashSet<String>,
        round: u32,
    ) -> Result<HashMap<String, (Value, Value)>, Error> {
        let record = self.run.refresh(&self.config).await?;
        let run = self.job_name();
        let round_of = |entry: &ShardEntry| names::follow_up_round(run, "reask", &entry.job_name);
        // Jobs and on-demand sets before this round, earlier rounds first: a later answer
        // replaces an earlier one.
        let mut entries: Vec<(bool, ShardEntry)> = record
            .shards
            .into_iter()
            .chain(record.retries)
            .filter(|e| e.job_arn.is_some())
            .map(|e| (false, e))
            .chain(record.on_demand.into_iter().map(|e| (true, e)))
            .filter(|(_, e)| round_of(e).is_none_or(|r| r < round))
            .collect();
        entries.sort_by_key(|(_, e)| round_of(e).unwrap_or(0));
        let mut answers = HashMap::new();
        // An answer with the request it answered where the line echoes it (Bedrock's do; the
        // other APIs' do not, and the request is read from the job's input).
        let take = |line: &[u8], answers: &mut HashMap<String, (Option<Value>, Value)>| {
            let Some(id) = jsonl::record_id_of_input_line(line) else {
                return;
            };
            if !ids.contains(&id) {
                return;
            }
            let Ok(mut value) = serde_json::from_slice::<Value>(line) else {
                return;
            };
            if let Some(answer) = value.get_mut("modelOutput").map(Value::take) {
                let request = value.get_mut("modelInput").map(Value::take);
                answers.insert(id, (request, answer));
            }
        };
        for (on_demand, entry) in entries {
            if on_demand {
                let prefix = self
                    .config
                    .store
                    .key_of(&entry.input_uri)
                    .unwrap_or_default();
                for (_, text) in super::on_demand::kept_answers(&self.config, prefix).await? {
                    take(text.as_bytes(), &mut answers);
                }
                continue;
            }
            let Some(job_arn) = &entry.job_arn else {
                continue;
            };
            let mut details = self.config.backend.describe(job_arn).await?;
            // A job described without its output location writes to the run's bucket.
            if details.output_uri.is_empty() {
                details.output_uri = self.config.output_uri();
            }
            let mut job_answers = HashMap::new();
            for file in self.config.backend.output_files(&details).await?.outputs {
                let mut lines = self.config.backend.lines(&file).await?;
                while let Some(line) = lines.next_line().await? {
                    take(&line, &mut job_answers);
                }
            }
            self.requests_from_input(&entry.input_uri, &mut job_answers)
                .await?;
            answers.extend(job_answers);
        }
        Ok(answers
            .into_iter()
            .filter_map(|(id, (request, answer))| Some((id, (request?, answer))))
            .collect())
    }

    /// Fills in the requests of `answers` that their output lines did not echo, from the
    /// job's input (`input`, as the run keeps it: `{"recordId", "modelInput"}` lines).
    async fn requests_from_input(
        &self,
        input: &str,
        answers: &mut HashMap<String, (Option<Value>, Value)>,
    ) -> Result<(), Error> {
        let mut missing = answers.values().filter(|(r, _)| r.is_none()).count();
        if missing == 0 || input.is_empty() {
            return Ok(());
        }
        for file in self.config.backend.input_files(input).await? {
            let mut lines = self.config.backend.lines(&file).await?;
            while let Some(line) = lines.next_line().await? {
                let Some(id) = jsonl::record_id_of_input_line(&line) else {
                    continue;
                };
                let Some((request @ None, _)) = answers.get_mut(&id) else {
                    continue;
                };
                if let Ok(mut value) = serde_json::from_slice::<Value>(&line) {
                    *request = value.get_mut("modelInput").map(Value::take);
                    missing -= 1;
                    if missing == 0 {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }
}
