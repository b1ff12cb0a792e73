//! On demand: records that go through `bedrock-runtime` InvokeModel instead of a batch job,
//! with the very same bodies, adapters and parsers, so they come back as the same
//! `RecordResult`s. For runs under `on_demand_below`, and retries and re-asks under the job
//! minimum with `RetryOptions::on_demand` (`bedrock-facts-2026.md` §2). On-demand prices apply.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::OutputMode;
use super::config::JobConfig;
use super::schedule::PollPace;
use crate::error::{Error, RecordError};

/// One record's outcome and its usage.
pub(crate) type Outcome<V> = (Result<V, RecordError>, Option<crate::Usage>);

/// The runtime's body limit (`InvokeModel`'s `body`, 25,000,000 bytes).
const MAX_BODY: usize = 25_000_000;

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
) -> Result<Vec<(String, Outcome<O::Value>)>, Error> {
    if config.settings.converse {
        return Err(Error::InvalidConfig {
            field: "on_demand_below",
            reason: "on demand takes InvokeModel-type runs; a Converse run's bodies are not \
                     InvokeModel bodies"
                .into(),
        });
    }
    let total = records.len();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (record_id, body)) in records.into_iter().enumerate() {
        let config = Arc::clone(config);
        let semaphore = Arc::clone(&semaphore);
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            let outcome = answer_one::<O>(&config, &body).await;
            (index, record_id, outcome)
        });
    }
    let mut answered: Vec<Option<(String, Outcome<O::Value>)>> = (0..total).map(|_| None).collect();
    let mut outage = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, record_id, Ok(outcome))) => {
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
        return Err(match err {
            Error::Aws {
                operation,
                kind,
                code,
                message,
                source,
            } => Error::Aws {
                operation,
                kind,
                code,
                message: format!(
                    "{message} ({left} of {total} on-demand records still unanswered)"
                ),
                source,
            },
            other => other,
        });
    }
    Ok(answered.into_iter().flatten().collect())
}

/// One record on demand: the call, backed off while the service is busy, then parsed as a
/// batch record's `modelOutput` is.
async fn answer_one<O: OutputMode>(
    config: &JobConfig,
    body: &Value,
) -> Result<Outcome<O::Value>, Error> {
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
    if bytes.len() > MAX_BODY {
        return Ok((
            Err(RecordError::Bedrock {
                code: "ValidationException".into(),
                message: format!(
                    "the request body is {} bytes, above the runtime's limit of {MAX_BODY}; not sent",
                    bytes.len()
                ),
            }),
            None,
        ));
    }
    let tier = config.settings.service_tier.as_deref();
    let mut pace = PollPace::new(FIRST_BACKOFF, config.poll);
    let answer = loop {
        match config
            .aws
            .invoke(&config.settings.model_name, bytes.clone(), tier)
            .await
        {
            Ok(answer) => {
                pace.answered();
                break answer;
            }
            Err(Error::Aws { code, message, .. })
                if matches!(
                    code.as_str(),
                    "ModelErrorException"
                        | "ModelTimeoutException"
                        | "ValidationException"
                        | "AccessDeniedException"
                        | "ResourceNotFoundException"
                        | "ServiceQuotaExceededException"
                ) =>
            {
                return Ok((
                    Err(RecordError::Bedrock {
                        code,
                        message: with_profile_hint(&config.settings.model_name, message),
                    }),
                    None,
                ));
            }
            Err(err) => {
                let retryable = err.is_retryable()
                    || matches!(&err, Error::Aws { code, .. } if code == "ModelNotReadyException");
                if !retryable {
                    return Err(err);
                }
                pace.failed(err, "records answered so far are kept")?;
                pace.sleep().await;
            }
        }
    };
    let output: Value = match serde_json::from_slice(&answer) {
        Ok(output) => output,
        Err(err) => {
            return Ok((
                Err(RecordError::MalformedOutput {
                    message: format!("the on-demand answer is not JSON: {err}"),
                }),
                None,
            ));
        }
    };
    let adapter = config.adapter.as_ref();
    let usage = adapter.usage(&output);
    let spec = config.output_spec::<O>()?;
    let expected = spec.as_ref().and_then(|spec| spec.expected_of(body));
    let request = spec.as_ref().map(|spec| crate::adapter::OutputRequest {
        expected: expected.as_deref(),
        ..spec.request()
    });
    let outcome = O::checked(
        O::parse(adapter, output, request),
        config.output_check.as_ref(),
    );
    Ok((outcome, usage))
}

/// The runtime's "use an inference profile" refusal, with the profile to use where one is
/// known: the model's `us.` profile (`bedrock-facts-2026.md` §2 and §6).
fn with_profile_hint(model_id: &str, message: String) -> String {
    let bare = crate::adapter::normalize_model_id(model_id);
    if message.contains("inference profile") && bare == model_id {
        format!(
            "{message} (try the inference profile `us.{bare}`, or `eu.`/`global.` as your region needs)"
        )
    } else {
        message
    }
}
