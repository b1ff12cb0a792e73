//! The Anthropic Message Batches API, answered by the synthetic Claude: create a batch of
//! Messages requests, follow it, list, cancel and delete batches, and stream its results as
//! JSONL (Anthropic, "Message Batches", <https://docs.anthropic.com/en/api/creating-message-batches>
//! and <https://docs.anthropic.com/en/api/retrieving-message-batch-results>).
//!
//! Requests carry the server's API key (`x-api-key`, or `Authorization: Bearer` as the SDK
//! sends it) and no SigV4 signature. A batch's
//! requests are spooled to a file as they arrive and answered one at a time, at the server's
//! speed; each result goes to the batch's results file, in the order answered (Anthropic does
//! not promise input order either). A cancel stops the answering: what was not answered is
//! `canceled`; what is not answered 24 of the server's hours after the batch was made is
//! `expired`.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::batch_apis::ApiRequest;
use crate::http_util::Reply;
use crate::state::{Shared, lock};
use crate::synth::{self, Answer, Family};

/// The most requests one batch takes.
pub const MAX_REQUESTS: usize = 100_000;

/// The largest create request, 256 MB.
pub const MAX_BATCH_BYTES: usize = 256 * 1000 * 1000;

/// The longest `custom_id`.
const MAX_CUSTOM_ID: usize = 64;

/// The paths this module answers.
pub(crate) fn serves(path: &str) -> bool {
    path == "/v1/messages"
        || path == "/v1/messages/batches"
        || path.starts_with("/v1/messages/batches/")
}

/// One batch, as the API shows it, with where its requests and results are.
#[derive(Debug)]
pub(crate) struct Batch {
    id: String,
    created_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    cancel_initiated_at: Option<DateTime<Utc>>,
    processing: u64,
    succeeded: u64,
    errored: u64,
    canceled: u64,
    expired: u64,
    results_url: Option<String>,
    requests: PathBuf,
    results: PathBuf,
}

impl Batch {
    fn to_json(&self) -> Value {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let status = if self.ended_at.is_some() {
            "ended"
        } else if self.cancel_initiated_at.is_some() {
            "canceling"
        } else {
            "in_progress"
        };
        json!({
            "id": self.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": {
                "processing": self.processing,
                "succeeded": self.succeeded,
                "errored": self.errored,
                "canceled": self.canceled,
                "expired": self.expired,
            },
            "ended_at": self.ended_at.as_ref().map(time),
            "created_at": time(&self.created_at),
            "expires_at": time(&(self.created_at + ChronoDuration::hours(24))),
            "archived_at": null,
            "cancel_initiated_at": self.cancel_initiated_at.as_ref().map(time),
            "results_url": self.results_url,
        })
    }
}

/// The batches of this server.
pub(crate) type Batches = Mutex<Vec<Batch>>;

/// Anthropic's error body.
fn error(status: u16, kind: &str, message: &str) -> Reply {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    Reply::json(status, &body)
}

fn invalid(message: &str) -> Reply {
    error(400, "invalid_request_error", message)
}

fn not_found(id: &str) -> Reply {
    error(
        404,
        "not_found_error",
        &format!("No message batch with id {id} was found."),
    )
}

/// Answers one request of the API: `x-api-key` checked, then routed by method and path.
pub(crate) fn handle(shared: &Arc<Shared>, request: &ApiRequest<'_>) -> Reply {
    let (method, path) = (request.method, request.path);
    let known = crate::batch_apis::key_ok(request.headers, &shared.settings.api_key);
    if !known {
        return error(401, "authentication_error", "invalid x-api-key");
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let operation = match (method, segments.as_slice()) {
        ("POST", [_, "messages"]) => "CreateMessage",
        ("POST", [_, _, _]) => "CreateMessageBatch",
        ("GET", [_, _, _]) => "ListMessageBatches",
        ("GET", [_, _, _, _]) => "RetrieveMessageBatch",
        ("POST", [_, _, _, _, "cancel"]) => "CancelMessageBatch",
        ("DELETE", [_, _, _, _]) => "DeleteMessageBatch",
        ("GET", [_, _, _, _, "results"]) => "GetMessageBatchResults",
        _ => "Unknown",
    };
    let types = ["rate_limit_error", "api_error", "invalid_request_error"];
    let lost = match crate::batch_apis::call_fault(shared, operation) {
        Some(crate::batch_apis::CallFault::AnswerLost) => true,
        Some(fault) => return crate::batch_apis::fault_reply(&fault, error, types),
        None => false,
    };
    let reply = match (method, segments.as_slice()) {
        ("POST", ["v1", "messages"]) => message(shared, request.body),
        ("POST", ["v1", "messages", "batches"]) => create(shared, request.headers, request.body),
        ("GET", ["v1", "messages", "batches"]) => list(shared, request.query),
        ("GET", ["v1", "messages", "batches", id]) => with_batch(shared, id, Batch::to_json),
        ("POST", ["v1", "messages", "batches", id, "cancel"]) => cancel(shared, id),
        ("DELETE", ["v1", "messages", "batches", id]) => delete(shared, id),
        ("GET", ["v1", "messages", "batches", id, "results"]) => results(shared, id),
        _ => error(404, "not_found_error", "Not found"),
    };
    if lost && reply.status < 300 {
        let fault = crate::batch_apis::CallFault::ServerError;
        return crate::batch_apis::fault_reply(&fault, error, types);
    }
    reply
}

fn with_batch(shared: &Shared, id: &str, f: impl FnOnce(&Batch) -> Value) -> Reply {
    let batches = lock(&shared.anthropic_batches);
    match batches.iter().find(|b| b.id == id) {
        Some(batch) => Reply::json(200, &f(batch)),
        None => not_found(id),
    }
}

/// Checks every request, spools them, and starts answering.
fn create(shared: &Arc<Shared>, headers: &http::HeaderMap, body: &[u8]) -> Reply {
    // Each request is checked by the members the API requires and kept as the text it came
    // in: no tree is built of a body of up to 256 MB.
    #[derive(serde::Deserialize)]
    struct Create<'a> {
        #[serde(borrow, default)]
        requests: Option<Vec<&'a serde_json::value::RawValue>>,
    }
    #[derive(serde::Deserialize)]
    struct Item<'a> {
        #[serde(default)]
        custom_id: Option<Value>,
        #[serde(borrow, default)]
        params: Option<&'a serde_json::value::RawValue>,
    }
    #[derive(serde::Deserialize)]
    struct Params {
        model: Option<serde::de::IgnoredAny>,
        max_tokens: Option<serde::de::IgnoredAny>,
        messages: Option<serde::de::IgnoredAny>,
    }
    let Ok(request) = serde_json::from_slice::<Create<'_>>(body) else {
        return invalid("The request body is not valid JSON.");
    };
    let Some(requests) = request.requests else {
        return invalid("requests: Field required");
    };
    if requests.is_empty() || requests.len() > MAX_REQUESTS {
        return invalid(&format!(
            "requests: a batch holds 1 to {MAX_REQUESTS} requests, not {}",
            requests.len()
        ));
    }
    let mut seen = HashSet::new();
    let mut ids = Vec::with_capacity(requests.len());
    for (index, raw) in requests.iter().enumerate() {
        let Ok(item) = serde_json::from_str::<Item<'_>>(raw.get()) else {
            return invalid(&format!("requests.{index}: Input should be an object"));
        };
        ids.push(item.custom_id);
        let custom_id = ids
            .last()
            .and_then(Option::as_ref)
            .and_then(Value::as_str)
            .unwrap_or("");
        let valid_id = !custom_id.is_empty()
            && custom_id.len() <= MAX_CUSTOM_ID
            && custom_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_id {
            return invalid(&format!(
                "requests.{index}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
            ));
        }
        if !seen.insert(custom_id.to_owned()) {
            return invalid(&format!(
                "requests.{index}.custom_id: duplicate custom_id `{custom_id}`; each request in a batch needs a unique custom_id"
            ));
        }
        let params = item
            .params
            .and_then(|p| serde_json::from_str::<Params>(p.get()).ok());
        let missing = match &params {
            None => Some("model"),
            Some(p) if p.model.is_none() => Some("model"),
            Some(p) if p.max_tokens.is_none() => Some("max_tokens"),
            Some(p) if p.messages.is_none() => Some("messages"),
            Some(_) => None,
        };
        if let Some(field) = missing {
            return invalid(&format!("requests.{index}.params.{field}: Field required"));
        }
    }
    let n = shared.next_number();
    let id = format!("msgbatch_{}", crate::batch_apis::base36(n, 24));
    let folder = crate::batch_apis::folder(shared, "anthropic");
    let requests_path = folder.join(format!("{id}.requests.jsonl"));
    let results_path = folder.join(format!("{id}.results.jsonl"));
    let spooled = std::fs::create_dir_all(&folder).and_then(|()| {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&requests_path)?);
        for item in &requests {
            let text = item.get();
            if text.contains('\n') {
                // A request written over several lines: one line of it.
                let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                writeln!(out, "{value}")?;
            } else {
                writeln!(out, "{text}")?;
            }
        }
        out.flush()?;
        std::fs::File::create(&results_path).map(|_| ())
    });
    if let Err(err) = spooled {
        return error(
            500,
            "api_error",
            &format!("the batch could not be kept: {err}"),
        );
    }
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let batch = Batch {
        id: id.clone(),
        created_at: Utc::now(),
        ended_at: None,
        cancel_initiated_at: None,
        processing: requests.len() as u64,
        succeeded: 0,
        errored: 0,
        canceled: 0,
        expired: 0,
        results_url: None,
        requests: requests_path,
        results: results_path,
    };
    let shown = batch.to_json();
    lock(&shared.anthropic_batches).push(batch);
    let (answering, base_url) = (Arc::clone(shared), format!("http://{host}"));
    crate::batch_apis::start(shared, move || answer_batch(&answering, &id, &base_url));
    Reply::json(200, &shown)
}

/// What one request's result line says, and which count it adds to.
enum Outcome {
    Succeeded(Value),
    Errored { kind: &'static str, message: String },
    Canceled,
    Expired,
}

/// Answers a batch's requests one by one, until they are done or the batch is canceled.
fn answer_batch(shared: &Shared, id: &str, base_url: &str) {
    let paths = {
        let batches = lock(&shared.anthropic_batches);
        batches
            .iter()
            .find(|b| b.id == id)
            .map(|b| (b.requests.clone(), b.results.clone()))
    };
    let Some((requests, results)) = paths else {
        return;
    };
    let per_record = shared.settings.speed.per_record;
    let opened = std::fs::File::open(&requests).and_then(|input| {
        let output = std::fs::OpenOptions::new().append(true).open(&results)?;
        Ok((input, output))
    });
    let Ok((input, output)) = opened else {
        end(shared, id, base_url);
        return;
    };
    let mut output = std::io::BufWriter::new(output);
    let expires = std::time::Instant::now() + crate::batch_apis::lifetime(shared);
    for line in std::io::BufReader::new(input).lines() {
        let Ok(line) = line else { break };
        let Ok(item) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let custom_id = item.get("custom_id").and_then(Value::as_str).unwrap_or("");
        let cancelled = {
            let batches = lock(&shared.anthropic_batches);
            batches
                .iter()
                .any(|b| b.id == id && b.cancel_initiated_at.is_some())
        };
        let outcome = if cancelled {
            Outcome::Canceled
        } else if std::time::Instant::now() >= expires {
            Outcome::Expired
        } else {
            if !per_record.is_zero() {
                std::thread::sleep(per_record);
            }
            answer_one(shared, custom_id, item.get("params"))
        };
        let result = match &outcome {
            Outcome::Succeeded(message) => json!({"type": "succeeded", "message": message}),
            Outcome::Errored { kind, message } => json!({"type": "errored",
                "error": {"type": "error", "error": {"type": kind, "message": message}}}),
            Outcome::Canceled => json!({"type": "canceled"}),
            Outcome::Expired => json!({"type": "expired"}),
        };
        let written = writeln!(
            output,
            "{}",
            json!({"custom_id": custom_id, "result": result})
        );
        if written.is_err() {
            break;
        }
        let mut batches = lock(&shared.anthropic_batches);
        if let Some(batch) = batches.iter_mut().find(|b| b.id == id) {
            batch.processing = batch.processing.saturating_sub(1);
            match outcome {
                Outcome::Succeeded(_) => batch.succeeded += 1,
                Outcome::Errored { .. } => batch.errored += 1,
                Outcome::Canceled => batch.canceled += 1,
                Outcome::Expired => batch.expired += 1,
            }
        }
    }
    let _ = output.flush();
    end(shared, id, base_url);
}

/// The batch has ended: what is still processing (a read failed) expires.
fn end(shared: &Shared, id: &str, base_url: &str) {
    let mut batches = lock(&shared.anthropic_batches);
    if let Some(batch) = batches.iter_mut().find(|b| b.id == id) {
        batch.expired += batch.processing;
        batch.processing = 0;
        batch.ended_at = Some(Utc::now());
        batch.results_url = Some(format!("{base_url}/v1/messages/batches/{id}/results"));
    }
}

/// `POST /v1/messages`: one request answered now, as a batch would answer it (the
/// on-demand call of a run's small tail).
fn message(shared: &Shared, body: &[u8]) -> Reply {
    let Ok(params) = serde_json::from_slice::<Value>(body) else {
        return invalid("There was an error parsing the body of your request.");
    };
    let key = format!("call-{}", shared.next_number());
    match answer_one(shared, &key, Some(&params)) {
        Outcome::Succeeded(message) => Reply::json(200, &message),
        Outcome::Errored { kind, message } => {
            let status = match kind {
                "api_error" => 500,
                "not_found_error" => 404,
                _ => 400,
            };
            error(status, kind, &message)
        }
        Outcome::Canceled | Outcome::Expired => error(500, "api_error", "no answer"),
    }
}

/// One Messages request answered by the synthetic Claude, as the Messages API would.
fn answer_one(shared: &Shared, custom_id: &str, params: Option<&Value>) -> Outcome {
    let Some(Value::Object(params)) = params else {
        return Outcome::Errored {
            kind: "invalid_request_error",
            message: "params: Input should be an object".into(),
        };
    };
    let model = params.get("model").and_then(Value::as_str).unwrap_or("");
    let model_id = if model.starts_with("anthropic.") {
        model.to_owned()
    } else {
        format!("anthropic.{model}")
    };
    if synth::family_of(&model_id) != Some(Family::Anthropic) {
        return Outcome::Errored {
            kind: "not_found_error",
            message: format!("model: {model}"),
        };
    }
    // The Messages API's body is Bedrock's Claude body with the model named in it and the
    // version in a header.
    let mut body: Map<String, Value> = params.clone();
    body.remove("model");
    body.insert("anthropic_version".into(), json!("bedrock-2023-05-31"));
    let fault = shared.faults.for_record(custom_id);
    let answer = synth::answer_runtime(
        &model_id,
        Some(Family::Anthropic),
        false,
        &Value::Object(body),
        custom_id,
        shared.faults.config.seed,
        fault,
        shared.settings.mistral_stop_key,
    );
    match answer {
        Answer::Output { mut body, .. } => {
            if let Value::Object(message) = &mut body {
                message.insert("model".into(), json!(model));
            }
            Outcome::Succeeded(body)
        }
        Answer::Error { code, message } => Outcome::Errored {
            kind: if code >= 500 {
                "api_error"
            } else {
                "invalid_request_error"
            },
            message,
        },
    }
}

/// Batches newest first, a page at a time (`limit`, 20 by default, at most 1,000; `after_id`
/// and `before_id` as cursors).
fn list(shared: &Shared, query: Option<&str>) -> Reply {
    let Some((limit, params)) = crate::batch_apis::list_query(query, 1000) else {
        return invalid("limit: Input should be between 1 and 1000");
    };
    let (after_id, before_id) = (params.get("after_id"), params.get("before_id"));
    let batches = lock(&shared.anthropic_batches);
    let cursors = (after_id.map(String::as_str), before_id.map(String::as_str));
    let (page, has_more) = match crate::batch_apis::newest_first_page(
        &batches,
        |b| b.id.as_str(),
        Batch::to_json,
        cursors,
        limit,
    ) {
        Ok(page) => page,
        Err(unknown) => return not_found(&unknown),
    };
    let first_id = page.first().and_then(|b| b.get("id")).cloned();
    let last_id = page.last().and_then(|b| b.get("id")).cloned();
    Reply::json(
        200,
        &json!({"data": page, "has_more": has_more, "first_id": first_id, "last_id": last_id}),
    )
}

fn cancel(shared: &Shared, id: &str) -> Reply {
    let mut batches = lock(&shared.anthropic_batches);
    let Some(batch) = batches.iter_mut().find(|b| b.id == id) else {
        return not_found(id);
    };
    if batch.ended_at.is_none() && batch.cancel_initiated_at.is_none() {
        batch.cancel_initiated_at = Some(Utc::now());
    }
    Reply::json(200, &batch.to_json())
}

fn delete(shared: &Shared, id: &str) -> Reply {
    let mut batches = lock(&shared.anthropic_batches);
    let Some(at) = batches.iter().position(|b| b.id == id) else {
        return not_found(id);
    };
    if batches.get(at).is_some_and(|b| b.ended_at.is_none()) {
        return invalid(&format!(
            "Message batch {id} is still in progress; cancel it and wait for it to end before deleting it."
        ));
    }
    let batch = batches.remove(at);
    let _ = std::fs::remove_file(&batch.requests);
    let _ = std::fs::remove_file(&batch.results);
    Reply::json(200, &json!({"id": id, "type": "message_batch_deleted"}))
}

/// The results of an ended batch, one JSON line a request.
fn results(shared: &Shared, id: &str) -> Reply {
    let path = {
        let batches = lock(&shared.anthropic_batches);
        match batches.iter().find(|b| b.id == id) {
            None => return not_found(id),
            Some(batch) if batch.ended_at.is_none() => {
                return invalid(&format!(
                    "No batch results available for message batch {id}: it has not ended yet."
                ));
            }
            Some(batch) => batch.results.clone(),
        }
    };
    match std::fs::read(&path) {
        Ok(bytes) => Reply::bytes(200, "application/binary", bytes),
        Err(err) => error(
            500,
            "api_error",
            &format!("the results could not be read: {err}"),
        ),
    }
}
