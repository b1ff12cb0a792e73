//! OpenAI's Files and Batch APIs, answered by the synthetic models: upload a JSONL file of
//! requests (`purpose=batch`), create a batch over it, follow, list and cancel batches, and
//! read the output and error files (OpenAI, "Batch API",
//! <https://platform.openai.com/docs/api-reference/batch>, and "Files",
//! <https://platform.openai.com/docs/api-reference/files>).
//!
//! Requests carry `Authorization: Bearer <the server's API key>`. A batch is validated line by
//! line as OpenAI validates it (a bad line fails the batch with the line's number), then its
//! requests are answered one at a time at the server's speed: answers go to the output file,
//! requests the model refused to the error file, each line naming its `custom_id`. A cancel
//! stops the answering; what was answered stays in the output file. What is not answered 24 of
//! the server's hours after the batch was made goes to the error file as `batch_expired`, and
//! the batch ends `expired`.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::batch_apis::{ApiRequest, base36, folder, key_ok, unix_now};
use crate::http_util::Reply;
use crate::state::{Shared, lock};
use crate::synth::{self, Answer, Family};

/// The most requests one batch's file takes.
pub const MAX_REQUESTS: usize = 50_000;

/// The largest file a batch takes, 200 MB.
pub const MAX_FILE_BYTES: usize = 200 * 1000 * 1000;

/// The endpoints a batch may name that llmbo-local answers.
const ENDPOINTS: &[&str] = &["/v1/chat/completions", "/v1/responses", "/v1/embeddings"];

/// The paths this module answers.
pub(crate) fn serves(path: &str) -> bool {
    ENDPOINTS.contains(&path)
        || ["/v1/files", "/v1/batches"]
            .iter()
            .any(|root| path == *root || path.starts_with(&format!("{root}/")))
}

/// An uploaded file.
#[derive(Debug, Clone)]
struct FileEntry {
    id: String,
    filename: String,
    purpose: String,
    bytes: u64,
    created_at: i64,
    path: PathBuf,
}

impl FileEntry {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id, "object": "file", "bytes": self.bytes,
            "created_at": self.created_at, "filename": self.filename,
            "purpose": self.purpose, "status": "processed",
        })
    }
}

/// One batch as the API shows it.
#[derive(Debug, Clone)]
struct BatchEntry {
    id: String,
    endpoint: String,
    input_file_id: String,
    status: &'static str,
    created_at: i64,
    times: Vec<(&'static str, i64)>,
    output_file_id: Option<String>,
    error_file_id: Option<String>,
    errors: Option<Value>,
    total: u64,
    completed: u64,
    failed: u64,
    metadata: Value,
    cancel_requested: bool,
}

impl BatchEntry {
    fn to_json(&self) -> Value {
        let mut batch = json!({
            "id": self.id, "object": "batch", "endpoint": self.endpoint,
            "errors": self.errors, "input_file_id": self.input_file_id,
            "completion_window": "24h", "status": self.status,
            "output_file_id": self.output_file_id, "error_file_id": self.error_file_id,
            "created_at": self.created_at, "expires_at": self.created_at + 86_400,
            "request_counts": {"total": self.total, "completed": self.completed, "failed": self.failed},
            "metadata": self.metadata,
        });
        for (name, at) in &self.times {
            batch[*name] = json!(at);
        }
        batch
    }

    fn set(&mut self, status: &'static str, time: &'static str) {
        self.status = status;
        self.times.push((time, unix_now()));
    }
}

/// The files and batches of this server.
#[derive(Debug, Default)]
pub(crate) struct State {
    files: Mutex<Vec<FileEntry>>,
    batches: Mutex<Vec<BatchEntry>>,
}

/// OpenAI's error body.
fn error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
    )
}

fn invalid(message: &str) -> Reply {
    error(400, "invalid_request_error", message)
}

fn not_found(what: &str, id: &str) -> Reply {
    error(
        404,
        "invalid_request_error",
        &format!("No {what} found with id '{id}'."),
    )
}

/// Answers one request of the APIs: the key checked, then routed by method and path.
pub(crate) fn handle(shared: &Arc<Shared>, request: &ApiRequest<'_>) -> Reply {
    let (method, path) = (request.method, request.path);
    if !key_ok(request.headers, &shared.settings.api_key) {
        return error(401, "invalid_request_error", "Incorrect API key provided.");
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let operation = match (method, segments.as_slice()) {
        ("POST", [_, "files"]) => "UploadFile",
        ("GET", [_, "files"]) => "ListFiles",
        ("GET", [_, "files", _]) => "RetrieveFile",
        ("GET", [_, "files", _, "content"]) => "GetFileContent",
        ("DELETE", [_, "files", _]) => "DeleteFile",
        ("POST", [_, "batches"]) => "CreateBatch",
        ("GET", [_, "batches"]) => "ListBatches",
        ("GET", [_, "batches", _]) => "RetrieveBatch",
        ("POST", [_, "batches", _, "cancel"]) => "CancelBatch",
        ("POST", [_, "chat", "completions"]) => "CreateChatCompletion",
        ("POST", [_, "responses"]) => "CreateResponse",
        ("POST", [_, "embeddings"]) => "CreateEmbedding",
        _ => "Unknown",
    };
    let types = [
        "rate_limit_exceeded",
        "server_error",
        "invalid_request_error",
    ];
    let lost = match crate::batch_apis::call_fault(shared, operation) {
        Some(crate::batch_apis::CallFault::AnswerLost) => true,
        Some(fault) => return crate::batch_apis::fault_reply(&fault, error, types),
        None => false,
    };
    let reply = match (method, segments.as_slice()) {
        ("POST", ["v1", "files"]) => upload(shared, request.headers, request.body),
        ("GET", ["v1", "files"]) => {
            let files = lock(&shared.openai.files);
            let data: Vec<Value> = files.iter().rev().map(FileEntry::to_json).collect();
            Reply::json(
                200,
                &json!({"object": "list", "data": data, "has_more": false}),
            )
        }
        ("GET", ["v1", "files", id]) => match file(shared, id) {
            Some(file) => Reply::json(200, &file.to_json()),
            None => not_found("file", id),
        },
        ("GET", ["v1", "files", id, "content"]) => match file(shared, id) {
            Some(file) => match std::fs::read(&file.path) {
                Ok(bytes) => Reply::bytes(200, "application/octet-stream", bytes),
                Err(err) => error(
                    500,
                    "server_error",
                    &format!("the file is unreadable: {err}"),
                ),
            },
            None => not_found("file", id),
        },
        ("DELETE", ["v1", "files", id]) => {
            let mut files = lock(&shared.openai.files);
            match files.iter().position(|f| f.id == *id) {
                Some(at) => {
                    let gone = files.remove(at);
                    let _ = std::fs::remove_file(gone.path);
                    Reply::json(200, &json!({"id": id, "object": "file", "deleted": true}))
                }
                None => not_found("file", id),
            }
        }
        ("POST", ["v1", "batches"]) => create(shared, request.body),
        ("GET", ["v1", "batches"]) => list(shared, request.query),
        ("GET", ["v1", "batches", id]) => match batch(shared, id) {
            Some(batch) => Reply::json(200, &batch.to_json()),
            None => not_found("batch", id),
        },
        ("POST", ["v1", "batches", id, "cancel"]) => cancel(shared, id),
        ("POST", ["v1", ..]) if ENDPOINTS.contains(&path) => answer_now(shared, path, request.body),
        _ => error(404, "invalid_request_error", "Unknown request URL."),
    };
    if lost && reply.status < 300 {
        let fault = crate::batch_apis::CallFault::ServerError;
        return crate::batch_apis::fault_reply(&fault, error, types);
    }
    reply
}

fn file(shared: &Shared, id: &str) -> Option<FileEntry> {
    lock(&shared.openai.files)
        .iter()
        .find(|f| f.id == id)
        .cloned()
}

fn batch(shared: &Shared, id: &str) -> Option<BatchEntry> {
    lock(&shared.openai.batches)
        .iter()
        .find(|b| b.id == id)
        .cloned()
}

/// Keeps a file's bytes under a new id.
fn keep_file(
    shared: &Shared,
    filename: &str,
    purpose: &str,
    bytes: &[u8],
) -> std::io::Result<FileEntry> {
    let id = format!("file-{}", base36(shared.next_number(), 24));
    let dir = folder(shared, "openai");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(&id);
    std::fs::write(&path, bytes)?;
    let entry = FileEntry {
        id,
        filename: filename.to_owned(),
        purpose: purpose.to_owned(),
        bytes: bytes.len() as u64,
        created_at: unix_now(),
        path,
    };
    lock(&shared.openai.files).push(entry.clone());
    Ok(entry)
}

/// `POST /v1/files`: a multipart form with `purpose` and `file`.
fn upload(shared: &Shared, headers: &http::HeaderMap, body: &[u8]) -> Reply {
    let boundary = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.starts_with("multipart/form-data"))
        .and_then(|v| v.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_owned());
    let Some(boundary) = boundary else {
        return invalid("The request must be multipart/form-data with a file and a purpose.");
    };
    let parts = crate::http_util::form_parts(body, &boundary);
    let purpose = parts
        .iter()
        .find(|p| p.name == "purpose")
        .map(|p| String::from_utf8_lossy(&p.body).trim().to_owned());
    let Some(file) = parts.iter().find(|p| p.name == "file") else {
        return invalid("'file' is a required property");
    };
    let Some(purpose) = purpose else {
        return invalid("'purpose' is a required property");
    };
    if file.body.len() > MAX_FILE_BYTES {
        return invalid(&format!(
            "The file is {} bytes; batch files take at most {MAX_FILE_BYTES}.",
            file.body.len()
        ));
    }
    let filename = file.filename.clone().unwrap_or_else(|| "upload".into());
    match keep_file(shared, &filename, &purpose, &file.body) {
        Ok(entry) => Reply::json(200, &entry.to_json()),
        Err(err) => error(
            500,
            "server_error",
            &format!("the file could not be kept: {err}"),
        ),
    }
}

/// `POST /v1/batches`: the input file checked, the batch made, its answering started.
fn create(shared: &Arc<Shared>, body: &[u8]) -> Reply {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return invalid("We could not parse the JSON body of your request.");
    };
    let text = |key: &str| request.get(key).and_then(Value::as_str).map(str::to_owned);
    let Some(input_file_id) = text("input_file_id") else {
        return invalid("Missing required parameter: 'input_file_id'.");
    };
    let Some(endpoint) = text("endpoint") else {
        return invalid("Missing required parameter: 'endpoint'.");
    };
    if !ENDPOINTS.contains(&endpoint.as_str()) {
        return invalid(&format!(
            "Invalid value for 'endpoint': llmbo-local answers {ENDPOINTS:?}."
        ));
    }
    if text("completion_window").as_deref() != Some("24h") {
        return invalid("Invalid value for 'completion_window': only '24h' is supported.");
    }
    let metadata = request.get("metadata").cloned().unwrap_or(Value::Null);
    if metadata.as_object().is_some_and(|m| m.len() > 16) {
        return invalid("Invalid 'metadata': at most 16 pairs.");
    }
    let Some(input) = file(shared, &input_file_id) else {
        return not_found("file", &input_file_id);
    };
    if input.purpose != "batch" {
        return invalid("The input file must be uploaded with purpose 'batch'.");
    }
    let mut batch = BatchEntry {
        id: format!("batch_{}", base36(shared.next_number(), 24)),
        endpoint: endpoint.clone(),
        input_file_id,
        status: "validating",
        created_at: unix_now(),
        times: Vec::new(),
        output_file_id: None,
        error_file_id: None,
        errors: None,
        total: 0,
        completed: 0,
        failed: 0,
        metadata,
        cancel_requested: false,
    };
    match validate(&input, &endpoint) {
        Ok(total) => batch.total = total,
        Err((line, code, message)) => {
            batch.errors = Some(json!({"object": "list",
                "data": [{"code": code, "message": message, "line": line, "param": null}]}));
            batch.set("failed", "failed_at");
        }
    }
    let shown = batch.to_json();
    let starts = batch.status == "validating";
    let id = batch.id.clone();
    lock(&shared.openai.batches).push(batch);
    if starts {
        let answering = Arc::clone(shared);
        crate::batch_apis::start(shared, move || answer_batch(&answering, &id, &input.path));
    }
    Reply::json(200, &shown)
}

/// Checks every line of a batch's file; the number of requests, or the first bad line's
/// number, code and message.
fn validate(input: &FileEntry, endpoint: &str) -> Result<u64, (usize, &'static str, String)> {
    let file =
        std::fs::File::open(&input.path).map_err(|e| (0, "file_unreadable", e.to_string()))?;
    let mut seen = HashSet::new();
    let mut total = 0u64;
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|_| (number, "invalid_json_line", "not UTF-8".to_owned()))?;
        if line.trim().is_empty() {
            continue;
        }
        // The members checked, the body only scanned: a file of 50,000 requests is checked
        // without building each one.
        #[derive(serde::Deserialize)]
        struct Line<'a> {
            #[serde(default)]
            custom_id: Option<Value>,
            #[serde(default)]
            url: Option<Value>,
            #[serde(borrow, default)]
            body: Option<&'a serde_json::value::RawValue>,
        }
        let Ok(request) = serde_json::from_str::<Line<'_>>(&line) else {
            return Err((
                number,
                "invalid_json_line",
                format!("This line is not parseable as valid JSON: line {number}."),
            ));
        };
        let Some(custom_id) = request.custom_id.as_ref().and_then(Value::as_str) else {
            return Err((
                number,
                "missing_required_parameter",
                "custom_id is required.".into(),
            ));
        };
        if !seen.insert(custom_id.to_owned()) {
            return Err((
                number,
                "duplicate_custom_id",
                format!(
                    "The custom_id for this request is a duplicate of another request: {custom_id}."
                ),
            ));
        }
        if request.url.as_ref().and_then(Value::as_str) != Some(endpoint) {
            return Err((
                number,
                "mismatched_endpoint",
                format!("The url of this request does not match the batch's endpoint {endpoint}."),
            ));
        }
        if !request
            .body
            .is_some_and(|body| body.get().trim_start().starts_with('{'))
        {
            return Err((
                number,
                "missing_required_parameter",
                "body is required.".into(),
            ));
        }
        total += 1;
    }
    if total == 0 {
        return Err((0, "empty_file", "The batch input file is empty.".into()));
    }
    if total > MAX_REQUESTS as u64 {
        return Err((
            0,
            "too_many_requests",
            format!("The batch input file has {total} requests; the most is {MAX_REQUESTS}."),
        ));
    }
    Ok(total)
}

/// Answers a batch's requests one by one into its output and error files.
fn answer_batch(shared: &Shared, id: &str, input: &std::path::Path) {
    let per_record = shared.settings.speed.per_record;
    update(shared, id, |b| {
        if b.status == "validating" {
            b.set("in_progress", "in_progress_at");
        }
    });
    let dir = folder(shared, "openai");
    let (output_path, errors_path) = (
        dir.join(format!("{id}.output.jsonl")),
        dir.join(format!("{id}.errors.jsonl")),
    );
    let opened = std::fs::File::open(input).and_then(|input| {
        Ok((
            input,
            std::fs::File::create(&output_path)?,
            std::fs::File::create(&errors_path)?,
        ))
    });
    let Ok((input, output, errors)) = opened else {
        update(shared, id, |b| b.set("failed", "failed_at"));
        return;
    };
    let (mut output, mut errors) = (
        std::io::BufWriter::new(output),
        std::io::BufWriter::new(errors),
    );
    let mut cancelled = false;
    let mut expired = false;
    let expires = std::time::Instant::now() + crate::batch_apis::lifetime(shared);
    for line in std::io::BufReader::new(input).lines() {
        let Ok(line) = line else { break };
        let Ok(request) = serde_json::from_str::<Value>(&line) else {
            continue; // blank: validated before
        };
        if batch(shared, id).is_some_and(|b| b.cancel_requested) {
            cancelled = true;
            break;
        }
        let custom_id = request
            .get("custom_id")
            .and_then(Value::as_str)
            .unwrap_or("");
        if expired || std::time::Instant::now() >= expires {
            // Unanswered at expiry: in the error file, as OpenAI writes them.
            expired = true;
            let n = shared.next_number();
            let line = json!({
                "id": format!("batch_req_{}", base36(n, 24)),
                "custom_id": custom_id,
                "response": null,
                "error": {"code": "batch_expired",
                          "message": "This request could not be executed before the completion window expired."},
            });
            if writeln!(errors, "{line}").is_err() {
                break;
            }
            update(shared, id, |b| b.failed += 1);
            continue;
        }
        if !per_record.is_zero() {
            std::thread::sleep(per_record);
        }
        let n = shared.next_number();
        let (status, body) = match request.get("url").and_then(Value::as_str) {
            Some("/v1/embeddings") => embed_one(custom_id, request.get("body")),
            Some("/v1/responses") => answer_one(
                shared,
                Family::OpenAiResponses,
                custom_id,
                request.get("body"),
            ),
            _ => answer_one(shared, Family::OpenAi, custom_id, request.get("body")),
        };
        let line = json!({
            "id": format!("batch_req_{}", base36(n, 24)),
            "custom_id": custom_id,
            "response": {"status_code": status, "request_id": format!("req_{}", base36(n ^ 1, 24)), "body": body},
            "error": null,
        });
        let ok = status == 200;
        let written = if ok {
            writeln!(output, "{line}")
        } else {
            writeln!(errors, "{line}")
        };
        if written.is_err() {
            break;
        }
        update(shared, id, |b| {
            if ok {
                b.completed += 1;
            } else {
                b.failed += 1;
            }
        });
    }
    let _ = (output.flush(), errors.flush());
    if !cancelled && !expired {
        update(shared, id, |b| b.set("finalizing", "finalizing_at"));
    }
    let keep = |path: &PathBuf, name: &str| -> Option<String> {
        let bytes = std::fs::read(path).ok().filter(|b| !b.is_empty())?;
        let _ = std::fs::remove_file(path);
        keep_file(shared, name, "batch_output", &bytes)
            .ok()
            .map(|f| f.id)
    };
    let output_id = keep(&output_path, &format!("{id}_output.jsonl"));
    let error_id = keep(&errors_path, &format!("{id}_error.jsonl"));
    update(shared, id, |b| {
        b.output_file_id = output_id;
        b.error_file_id = error_id;
        if cancelled {
            b.set("cancelled", "cancelled_at");
        } else if expired {
            b.set("expired", "expired_at");
        } else {
            b.set("completed", "completed_at");
        }
    });
}

fn update(shared: &Shared, id: &str, change: impl FnOnce(&mut BatchEntry)) {
    if let Some(batch) = lock(&shared.openai.batches).iter_mut().find(|b| b.id == id) {
        change(batch);
    }
}

/// A request to one of the endpoints answered now, as a batch line of it would be (the
/// on-demand call of a run's small tail).
fn answer_now(shared: &Shared, path: &str, body: &[u8]) -> Reply {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return invalid("We could not parse the JSON body of your request.");
    };
    let key = format!("call-{}", shared.next_number());
    let (status, answer) = match path {
        "/v1/embeddings" => embed_one(&key, Some(&body)),
        "/v1/responses" => answer_one(shared, Family::OpenAiResponses, &key, Some(&body)),
        _ => answer_one(shared, Family::OpenAi, &key, Some(&body)),
    };
    Reply::json(status, &answer)
}

/// One embedding request (`/v1/embeddings`): `input` (a string), `dimensions` (default
/// 1,536), answered with llmbo-local's synthetic vector of the text, unit length as OpenAI's.
fn embed_one(custom_id: &str, body: Option<&Value>) -> (u16, Value) {
    let refuse = |message: &str| {
        (
            400,
            json!({"error": {"message": message, "type": "invalid_request_error", "param": "input", "code": null}}),
        )
    };
    let Some(body) = body else {
        return refuse("body is required");
    };
    let Some(text) = body.get("input").and_then(Value::as_str) else {
        return refuse("'input' must be a string (llmbo-local embeds one text a request)");
    };
    if text.trim().is_empty() {
        return refuse("'input' cannot be an empty string");
    }
    let dimensions = match body.get("dimensions") {
        None => 1536,
        Some(d) => match d.as_u64().filter(|d| (1..=3072).contains(d)) {
            Some(d) => d as usize,
            None => return refuse("'dimensions' must be an integer from 1 to 3072"),
        },
    };
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    let vector = crate::embed::vector(text, dimensions, true);
    let tokens = (text.chars().count() as u64).div_ceil(4).max(1);
    (
        200,
        json!({
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": vector}],
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            "id": format!("emb-{custom_id}"),
        }),
    )
}

/// One chat completions or responses request (as `family` says) answered by the synthetic
/// model: the status code and the body OpenAI would send.
fn answer_one(
    shared: &Shared,
    family: Family,
    custom_id: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let Some(body) = body else {
        return (
            400,
            json!({"error": {"message": "body is required", "type": "invalid_request_error"}}),
        );
    };
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    let answer = synth::answer_runtime(
        &format!("openai.{model}"),
        Some(family),
        false,
        body,
        custom_id,
        shared.faults.config.seed,
        shared.faults.for_record(custom_id),
        shared.settings.mistral_stop_key,
    );
    match answer {
        Answer::Output { mut body, .. } => {
            if let Value::Object(completion) = &mut body {
                completion.insert("model".into(), json!(model));
            }
            (200, body)
        }
        Answer::Error { code, message } => (
            code,
            json!({"error": {"message": message,
                "type": if code >= 500 { "server_error" } else { "invalid_request_error" }}}),
        ),
    }
}

/// Batches newest first, `limit` (20 by default, at most 100) after the `after` cursor.
fn list(shared: &Shared, query: Option<&str>) -> Reply {
    let Some((limit, params)) = crate::batch_apis::list_query(query, 100) else {
        return invalid("Invalid 'limit': it must be between 1 and 100.");
    };
    let after = params.get("after");
    let batches = lock(&shared.openai.batches);
    let (page, has_more) = match crate::batch_apis::newest_first_page(
        &batches,
        |b| b.id.as_str(),
        BatchEntry::to_json,
        (after.map(String::as_str), None),
        limit,
    ) {
        Ok(page) => page,
        Err(unknown) => return not_found("batch", &unknown),
    };
    let first_id = page.first().and_then(|b| b.get("id")).cloned();
    let last_id = page.last().and_then(|b| b.get("id")).cloned();
    Reply::json(
        200,
        &json!({"object": "list", "data": page, "first_id": first_id, "last_id": last_id,
                "has_more": has_more}),
    )
}

fn cancel(shared: &Shared, id: &str) -> Reply {
    let mut batches = lock(&shared.openai.batches);
    let Some(batch) = batches.iter_mut().find(|b| b.id == id) else {
        return not_found("batch", id);
    };
    if matches!(batch.status, "validating" | "in_progress" | "finalizing") {
        batch.cancel_requested = true;
        batch.set("cancelling", "cancelling_at");
    } else if batch.status != "cancelling" {
        return error(
            409,
            "invalid_request_error",
            &format!("Cannot cancel a batch with status '{}'.", batch.status),
        );
    }
    Reply::json(200, &batch.to_json())
}
