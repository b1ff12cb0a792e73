//! On demand: records that go through `bedrock-runtime` InvokeModel (Converse for a
//! Converse-type run) instead of a batch job, with the very same bodies, adapters and parsers,
//! so they come back as the same `RecordResult`s. For runs under `on_demand_below`, and retries and re-asks under the job
//! minimum with `RetryOptions::on_demand` (AWS, "InvokeModel",
//! <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InvokeModel.html>). On-demand prices apply.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::OutputMode;
use super::config::JobConfig;
use super::schedule::PollPace;
use crate::backend::Answered;
use crate::error::{Error, RecordError};
use crate::store::Expected;

/// One record's outcome and its usage.
pub(crate) type Outcome<V> = (Result<V, RecordError>, Option<crate::adapter::Usage>);

/// The runtime's body limit (`InvokeModel`'s `body`, 25,000,000 bytes).
const MAX_BODY: usize = 25_000_000;

/// An on-demand progress report every this many records answered (and at the last).
const ON_DEMAND_REPORT_EVERY: u64 = 10;

/// The first wait after a throttled call; it doubles, with jitter, up to `PollConfig`'s
/// longest wait.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Answers `records` (`(record id, modelInput)`) on demand, at most `concurrency` calls at a
/// time; the outcomes in the same order. Throttling, `ModelNotReadyException`, 5xx and lost
/// connections back off with jitter, per record, up to the polling outage window
/// (`PollConfig::failure_tolerance` failures in a row); past it the whole call is an error that
/// says how many records are still unanswered. Model errors, timeouts and validation errors are
/// the record's own [`RecordError::Bedrock`], with the service's code and message.
pub(crate) async fn answer<O: OutputMode>(
    config: &Arc<JobConfig>,
    records: Vec<(String, Value)>,
    concurrency: usize,
    record_to: Option<String>,
) -> Result<Vec<(String, Outcome<O::Value>)>, Error> {
    let total = records.len();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    // Dropped first (before the tasks): a retry dropped mid-way starts no call after that
    // moment, while the tasks are aborted one by one.
    let _stop = CloseOnDrop(Arc::clone(&semaphore));
    for (index, (record_id, body)) in records.into_iter().enumerate() {
        let config = Arc::clone(config);
        let semaphore = Arc::clone(&semaphore);
        let record_to = record_to.clone();
        tasks.spawn(async move {
            let Ok(_permit) = semaphore.acquire_owned().await else {
                let stopped = Error::Internal {
                    what: "an on-demand call",
                    reason: "the calls were stopped".into(),
                };
                return (index, record_id, Err(stopped));
            };
            let outcome = answer_one::<O>(&config, &record_id, &body, record_to.as_ref()).await;
            (index, record_id, outcome)
        });
    }
    let mut answered: Vec<Option<(String, Outcome<O::Value>)>> = (0..total).map(|_| None).collect();
    let mut outage = None;
    let mut progress =
        crate::progress::Progress::transfer(crate::status::Stage::OnDemand, config.job_name(), "");
    progress.total = Some(total as u64);
    config.report(&progress);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, record_id, Ok(outcome))) => {
                progress.processed += 1;
                if outcome.0.is_ok() {
                    progress.succeeded += 1;
                } else {
                    progress.failed += 1;
                }
                if progress.processed.is_multiple_of(ON_DEMAND_REPORT_EVERY)
                    || progress.processed == total as u64
                {
                    config.report(&progress);
                }
                if let Some(slot) = answered.get_mut(index) {
                    *slot = Some((record_id, outcome));
                }
            }
            Ok((_, _, Err(err))) => {
                // Past the outage window: stop sending, keep nothing half-done.
                outage.get_or_insert(err);
                tasks.abort_all();
            }
            Err(join) if join.is_cancelled() => {}
            Err(join) => {
                outage.get_or_insert(Error::Internal {
                    what: "an on-demand call",
                    reason: join.to_string(),
                });
            }
        }
    }
    if let Some(err) = outage {
        let left = answered.iter().filter(|a| a.is_none()).count();
        return Err(
            err.explained(|| format!("{left} of {total} on-demand records still unanswered"))
        );
    }
    Ok(answered.into_iter().flatten().collect())
}

/// Closes the semaphore of a set of calls when dropped, so no waiting call starts.
struct CloseOnDrop(Arc<tokio::sync::Semaphore>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// One record on demand (InvokeModel, or Converse for a Converse-type run): the call, backed off while the service is busy, then its answer as
/// a batch output line (`{"recordId", "modelInput", "modelOutput" | "error"}`), written to
/// `record_to` (a prefix of the run store) first when the run keeps on-demand answers, and read as a
/// batch line is.
async fn answer_one<O: OutputMode>(
    config: &JobConfig,
    record_id: &str,
    body: &Value,
    record_to: Option<&String>,
) -> Result<Outcome<O::Value>, Error> {
    let error_line = |code: &str, message: String| {
        json!({"recordId": record_id, "modelInput": body,
               "error": {"errorCode": code, "errorMessage": message}})
    };
    let bytes = match serde_json::to_vec(body) {
        Ok(bytes) => bytes,
        Err(err) => {
            return Ok((
                Err(RecordError::MalformedOutput {
                    message: format!("the request cannot be written: {err}"),
                }),
                None,
            ));
        }
    };
    let line = if bytes.len() > MAX_BODY {
        // Not sent: the runtime would refuse it.
        error_line(
            "ValidationException",
            format!(
                "the request body is {} bytes, above the runtime's limit of {MAX_BODY}; not sent",
                bytes.len()
            ),
        )
    } else {
        call(config, record_id, body).await?
    };
    let text = line.to_string();
    // Only answers are kept: an error (a model error, a timeout, a refusal) must never stand
    // in for a later ask.
    if let Some(prefix) = record_to
        && line.get("modelOutput").is_some()
    {
        let key = answer_key(prefix, record_id);
        // Put::Conflict: another process answered it first; its answer stands, read from
        // there later.
        config
            .store
            .put(&key, text.clone().into_bytes(), Expected::Absent)
            .await?;
    }
    Ok(parse_line::<O>(config, &text, record_id))
}

/// The key of a record's kept answer: a fixed-length digest of its id, so that any id (up to
/// 256 characters of any script) makes a key well under S3's 1,024 bytes.
fn answer_key(prefix: &str, record_id: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "{prefix}{}.json",
        super::engine::hex(&Sha256::digest(record_id.as_bytes()))
    )
}

/// The call itself: the answer line, or the record's error line; `Err` past the outage window.
async fn call(config: &JobConfig, record_id: &str, body: &Value) -> Result<Value, Error> {
    let mut pace = PollPace::new(FIRST_BACKOFF, config.poll);
    loop {
        match config.backend.answer(&config.settings, body).await {
            Ok(Answered::Output(answer)) => {
                return Ok(match serde_json::from_slice::<Value>(&answer) {
                    Ok(output) => {
                        json!({"recordId": record_id, "modelInput": body, "modelOutput": output})
                    }
                    Err(err) => json!({"recordId": record_id, "modelInput": body,
                        "error": {"errorCode": "MalformedOutput",
                                  "errorMessage": format!("the on-demand answer is not JSON: {err}")}}),
                });
            }
            Ok(Answered::Refused { code, message }) => {
                return Ok(json!({"recordId": record_id, "modelInput": body,
                                 "error": {"errorCode": code, "errorMessage": message}}));
            }
            Err(err) => {
                if !err.is_retryable() {
                    return Err(err);
                }
                pace.failed(err, "records answered so far are kept")?;
                pace.sleep().await;
            }
        }
    }
}

/// An on-demand answer line, read as a batch output line is.
fn parse_line<O: OutputMode>(config: &JobConfig, line: &str, record_id: &str) -> Outcome<O::Value> {
    let spec = match config.output_spec::<O>() {
        Ok(spec) => spec,
        Err(err) => {
            return (
                Err(RecordError::MalformedOutput {
                    message: err.to_string(),
                }),
                None,
            );
        }
    };
    match super::line::read_line::<O>(
        config.adapter.as_ref(),
        spec.as_ref(),
        config.output_check.as_ref(),
        line,
        false,
    ) {
        super::line::LineRead::Record { outcome, .. } => outcome,
        super::line::LineRead::Unreadable(message) => (
            Err(RecordError::MalformedOutput {
                message: format!("the on-demand answer of {record_id}: {message}"),
            }),
            None,
        ),
    }
}

/// Answers `records` on demand and keeps each answer in S3 as it arrives, under a set named by
/// the kind of ask (`stem`: `ondemand` for a run's first pass, `retry1`, `reask2`, …) and the
/// hash of its requests, noted in the run record ([`RunRecord::on_demand`](crate::RunRecord))
/// before the first call. Answers already there, from this or an earlier process, are read, not
/// asked again: after a crash only the records in flight when it died are sent once more.
/// Errors are never kept, so a later ask of the same records calls again. A cancelled run asks
/// nothing.
pub(crate) async fn answer_recorded<O: OutputMode>(
    config: &Arc<JobConfig>,
    run: &super::record::RunShared,
    stem: &str,
    records: Vec<(String, Value)>,
    concurrency: usize,
) -> Result<Vec<(String, Outcome<O::Value>)>, Error> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut line = Vec::new();
    for (id, body) in &records {
        line.clear();
        crate::jsonl::encode_input_line(id, body, &mut line);
        hasher.update(&line);
    }
    let hash = super::engine::hex(&hasher.finalize());
    let set_name = |stem: &str| format!("{}-{stem}-{}", config.job_name(), &hash[..12]);
    let name = set_name(stem);
    let prefix = format!("on-demand/{name}/");
    let entry = super::record::ShardEntry {
        job_name: name,
        input_uri: config.url(&prefix),
        input_hash: hash.clone(),
        records: records.len(),
        job_arn: None,
        input_folder: None,
    };
    let record = run
        .modify(config, |record| {
            if !record.cancelled
                && !record
                    .on_demand
                    .iter()
                    .any(|e| e.job_name == entry.job_name)
            {
                record.on_demand.push(entry.clone());
            }
        })
        .await?;
    if record.cancelled {
        return Err(Error::Cancelled {
            job_name: config.job_name().to_owned(),
            run_uri: config.url(&crate::layout::run_key(config.job_name())),
        });
    }
    // Before llmbo named a retry's or a re-ask's set by its kind, every set was `ondemand`:
    // a run resumed with this version reads the answers kept there too.
    let legacy = set_name("ondemand");
    let mut prefixes = vec![prefix.clone()];
    if legacy != entry.job_name && record.on_demand.iter().any(|e| e.job_name == legacy) {
        prefixes.push(format!("on-demand/{legacy}/"));
    }
    let mut done: std::collections::HashMap<String, Outcome<O::Value>> = Default::default();
    let wanted: std::collections::HashSet<&str> =
        records.iter().map(|(id, _)| id.as_str()).collect();
    for kept in &prefixes {
        for (id, text) in kept_answers(config, kept).await? {
            if wanted.contains(id.as_str()) && !done.contains_key(&id) {
                let outcome = parse_line::<O>(config, &text, &id);
                done.insert(id, outcome);
            }
        }
    }
    let kept = done.len();
    let todo: Vec<(String, Value)> = records
        .iter()
        .filter(|(id, _)| !done.contains_key(id))
        .cloned()
        .collect();
    if kept > 0 {
        tracing::info!(
            kept,
            asking = todo.len(),
            "on-demand answers kept from before are read, not asked again"
        );
    }
    let answered = answer::<O>(config, todo, concurrency, Some(prefix)).await?;
    done.extend(answered);
    Ok(records
        .into_iter()
        .filter_map(|(id, _)| done.remove(&id).map(|outcome| (id, outcome)))
        .collect())
}

/// The answers kept under `prefix`, `(record id, line)`; lines that hold no answer (an error
/// kept by an older llmbo, an unreadable object) are passed over, so they are asked again.
pub(crate) async fn kept_answers(
    config: &JobConfig,
    prefix: &str,
) -> Result<Vec<(String, String)>, Error> {
    let mut kept = Vec::new();
    for key in config.store.list(prefix).await? {
        let Some((bytes, _)) = config.store.get(&key).await? else {
            continue; // removed since it was listed
        };
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        let Ok(line) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let (Some(id), true) = (
            line.get("recordId").and_then(Value::as_str),
            line.get("modelOutput").is_some(),
        ) else {
            continue;
        };
        kept.push((id.to_owned(), text));
    }
    Ok(kept)
}
