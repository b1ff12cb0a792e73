//! The Gemini API's batch mode (Google, "Batch API", <https://ai.google.dev/gemini-api/docs/batch-mode>,
//! and the reference, <https://ai.google.dev/api/batch-mode>), answered by the synthetic Gemini:
//! `models/{model}:batchGenerateContent` with inline requests or an uploaded JSONL file,
//! `models/{model}:asyncBatchEmbedContent` (the embedding models' batches, `batches.
//! create_embeddings` in Google's SDK), get,
//! list, cancel and delete of `batches/{id}`, and the File API's resumable uploads and
//! downloads. Calls carry the server's API key in `x-goog-api-key` (or `?key=`); paths are
//! under `v1beta` or `v1` (the `google-genai` SDK's default).

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::batch_apis::{ApiRequest, folder};
use crate::http_util::Reply;
use crate::state::{Shared, lock};
use crate::synth::{self, Answer, Family};

/// The most inline requests may weigh, 20 MB (Google, "Batch API").
pub const MAX_INLINE_BYTES: usize = 20 * 1000 * 1000;

/// The largest file the File API takes here, 2 GB.
pub const MAX_FILE_BYTES: usize = 2 * 1000 * 1000 * 1000;

/// The largest chunk of a resumable upload taken in one request (the `google-genai` SDK
/// sends 8 MiB chunks), so a 2 GB upload never sits in memory whole.
pub const MAX_CHUNK_BYTES: usize = 64 * 1024 * 1024;

/// Whether an unsigned request is the Gemini API's: its key (header or `?key=`), or a chunk
/// of a resumable upload (its command header, sent to the upload URL without the key).
pub(crate) fn serves(path: &str, query: Option<&str>, headers: &http::HeaderMap) -> bool {
    headers.contains_key("x-goog-api-key")
        || query.is_some_and(|q| q.split('&').any(|pair| pair.starts_with("key=")))
        || (path.starts_with("/upload/") && headers.contains_key("x-goog-upload-command"))
}

/// The Gemini API's state.
#[derive(Default)]
pub(crate) struct State {
    files: Mutex<Vec<FileEntry>>,
    uploads: Mutex<HashMap<String, Upload>>,
    batches: Mutex<Vec<Batch>>,
}

struct FileEntry {
    id: String,
    display_name: Option<String>,
    mime: String,
    size: u64,
    path: PathBuf,
    created: DateTime<Utc>,
    /// `UPLOADED`, or `GENERATED` for a batch's responses file.
    source: &'static str,
}

impl FileEntry {
    fn to_json(&self, base_url: &str) -> Value {
        let time = self.created.to_rfc3339_opts(SecondsFormat::Micros, true);
        let mut file = json!({
            "name": format!("files/{}", self.id),
            "mimeType": self.mime,
            "sizeBytes": self.size.to_string(),
            "createTime": time,
            "updateTime": time,
            "uri": format!("{base_url}/v1beta/files/{}", self.id),
            "state": "ACTIVE",
            "source": self.source,
        });
        if let Some(name) = &self.display_name {
            file["displayName"] = json!(name);
        }
        if self.source == "GENERATED" {
            file["downloadUri"] = json!(format!(
                "{base_url}/download/v1beta/files/{}:download?alt=media",
                self.id
            ));
        }
        file
    }
}

struct Upload {
    display_name: Option<String>,
    mime: String,
    declared: u64,
    path: PathBuf,
    written: u64,
}

struct Batch {
    id: String,
    model: String,
    display_name: String,
    state: &'static str,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    ended: Option<DateTime<Utc>>,
    total: u64,
    succeeded: u64,
    failed: u64,
    /// Whether the requests came inline (the results go back inline) or in a file.
    inline: bool,
    /// An embedding batch (`asyncBatchEmbedContent`).
    embed: bool,
    requests: PathBuf,
    results: PathBuf,
    /// The responses file of a file batch, once it has ended.
    output_file: Option<String>,
    cancel_requested: bool,
}

impl Batch {
    fn done(&self) -> bool {
        !matches!(self.state, "BATCH_STATE_PENDING" | "BATCH_STATE_RUNNING")
    }

    fn to_json(&self) -> Value {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
        let pending = self.total - self.succeeded - self.failed;
        let kind = if self.embed {
            "EmbedContentBatch"
        } else {
            "GenerateContentBatch"
        };
        let mut metadata = json!({
            "@type": format!("type.googleapis.com/google.ai.generativelanguage.v1main.{kind}"),
            "model": self.model,
            "displayName": self.display_name,
            "state": self.state,
            "createTime": time(&self.created),
            "updateTime": time(&self.updated),
            "batchStats": {
                "requestCount": self.total.to_string(),
                "successfulRequestCount": self.succeeded.to_string(),
                "failedRequestCount": self.failed.to_string(),
                "pendingRequestCount": if self.done() { "0".to_owned() } else { pending.to_string() },
            },
        });
        if let Some(ended) = &self.ended {
            metadata["endTime"] = json!(time(ended));
        }
        // Results exist once the batch ended, unless it expired (no results then).
        let output = if !self.done() || self.state == "BATCH_STATE_EXPIRED" {
            None
        } else if self.inline {
            let mut responses = Vec::new();
            if let Ok(file) = std::fs::File::open(&self.results) {
                for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
                    if let Ok(value) = serde_json::from_str::<Value>(&line) {
                        responses.push(value);
                    }
                }
            }
            let member = if self.embed {
                "inlinedEmbedContentResponses"
            } else {
                "inlinedResponses"
            };
            Some(json!({member: {"inlinedResponses": responses}}))
        } else {
            self.output_file
                .as_ref()
                .map(|f| json!({"responsesFile": format!("files/{f}")}))
        };
        let mut operation = json!({
            "name": format!("batches/{}", self.id),
            "metadata": metadata,
            "done": self.done(),
        });
        if let Some(output) = output {
            operation["metadata"]["output"] = output.clone();
            let mut response = output;
            response["@type"] = json!(format!(
                "type.googleapis.com/google.ai.generativelanguage.v1main.{kind}Output"
            ));
            operation["response"] = response;
        }
        operation
    }
}

/// Google's error body.
fn error(status: u16, kind: &'static str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": {"code": status, "message": message, "status": kind}}),
    )
}

fn invalid(message: &str) -> Reply {
    error(400, "INVALID_ARGUMENT", message)
}

fn not_found(what: &str) -> Reply {
    error(404, "NOT_FOUND", &format!("{what} is not found."))
}

/// The path without its version (`v1beta`, `v1`) and the prefix of uploads and downloads.
fn route_of(path: &str) -> (Option<&'static str>, Vec<&str>) {
    let mut segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let prefix = match segments.first() {
        Some(&"upload") => Some("upload"),
        Some(&"download") => Some("download"),
        _ => None,
    };
    if prefix.is_some() {
        segments.remove(0);
    }
    if matches!(segments.first(), Some(&"v1beta" | &"v1" | &"v1alpha")) {
        segments.remove(0);
    }
    (prefix, segments)
}

/// Answers one request of the API: the key checked, then routed by method and path.
pub(crate) fn handle(shared: &Arc<Shared>, request: &ApiRequest<'_>) -> Reply {
    let query: HashMap<String, String> = crate::http_util::form_pairs(request.query.unwrap_or(""))
        .into_iter()
        .collect();
    let key = request
        .headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .or(query.get("key").map(String::as_str));
    // A chunk of a resumable upload is sent to the URL the start gave, without the key: the
    // upload id stands for it, as on Google's servers.
    let chunk = request.path.starts_with("/upload/") && query.contains_key("upload_id");
    if !chunk && !key.is_some_and(|k| crate::batch_apis::same_key(k, &shared.settings.api_key)) {
        return error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
        );
    }
    let (prefix, segments) = route_of(request.path);
    let method = request.method;
    let operation = match (method, prefix, segments.as_slice()) {
        ("POST", None, ["models", call]) if call.ends_with(":generateContent") => "GenerateContent",
        ("POST", None, ["models", _]) => "BatchGenerateContent",
        ("GET", None, ["batches"]) => "ListGenerateContentBatches",
        ("GET", None, ["batches", _]) => "GetGenerateContentBatch",
        ("POST", None, ["batches", _]) => "CancelGenerateContentBatch",
        ("DELETE", None, ["batches", _]) => "DeleteGenerateContentBatch",
        ("POST", Some("upload"), ["files"]) => "CreateFile",
        ("GET", _, ["files", id]) if id.ends_with(":download") => "DownloadFile",
        ("GET", None, ["files", _]) => "GetFile",
        _ => "Unknown",
    };
    let types = ["RESOURCE_EXHAUSTED", "INTERNAL", "INVALID_ARGUMENT"];
    let fault_error = |status: u16, kind: &'static str, message: &str| error(status, kind, message);
    let lost = match crate::batch_apis::call_fault(shared, operation) {
        Some(crate::batch_apis::CallFault::AnswerLost) => true,
        Some(fault) => return crate::batch_apis::fault_reply(&fault, fault_error, types),
        None => false,
    };
    let base = base_url(request.headers);
    let reply = match (method, prefix, segments.as_slice()) {
        ("POST", None, ["models", call]) => {
            if let Some(model) = call.strip_suffix(":batchGenerateContent") {
                create(shared, model, request.body, false)
            } else if let Some(model) = call.strip_suffix(":asyncBatchEmbedContent") {
                create(shared, model, request.body, true)
            } else if let Some(model) = call.strip_suffix(":generateContent") {
                generate(shared, model, request.body)
            } else {
                not_found(&format!("models/{call}"))
            }
        }
        ("GET", None, ["batches"]) => list(shared, &query),
        ("GET", None, ["batches", id]) => match batch_json(shared, id) {
            Some(batch) => Reply::json(200, &batch),
            None => not_found(&format!("batches/{id}")),
        },
        ("POST", None, ["batches", call]) => match call.strip_suffix(":cancel") {
            Some(id) => cancel(shared, id),
            None => not_found(&format!("batches/{call}")),
        },
        ("DELETE", None, ["batches", id]) => delete(shared, id),
        ("POST", Some("upload"), ["files"]) => upload(shared, request, &query, &base),
        ("GET", _, ["files", id]) if id.ends_with(":download") => {
            download(shared, id.trim_end_matches(":download"))
        }
        ("GET", None, ["files", id]) => {
            match lock(&shared.gemini.files).iter().find(|f| f.id == *id) {
                Some(file) => Reply::json(200, &file.to_json(&base)),
                None => not_found(&format!("files/{id}")),
            }
        }
        ("GET", None, ["files"]) => {
            let files: Vec<Value> = lock(&shared.gemini.files)
                .iter()
                .rev()
                .map(|f| f.to_json(&base))
                .collect();
            Reply::json(200, &json!({"files": files}))
        }
        _ => not_found(request.path),
    };
    if lost && reply.status < 300 {
        let fault = crate::batch_apis::CallFault::ServerError;
        return crate::batch_apis::fault_reply(&fault, fault_error, types);
    }
    reply
}

/// `http://<host>`, from the request.
fn base_url(headers: &http::HeaderMap) -> String {
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The File API's resumable upload: `start` (with the file's size and type), then `upload`
/// chunks at their offsets, the last with `finalize`.
fn upload(
    shared: &Shared,
    request: &ApiRequest<'_>,
    query: &HashMap<String, String>,
    base: &str,
) -> Reply {
    let command = header(request.headers, "x-goog-upload-command").unwrap_or("");
    let state = &shared.gemini;
    if command == "start" {
        if header(request.headers, "x-goog-upload-protocol") != Some("resumable") {
            return invalid("Only the resumable upload protocol is served.");
        }
        let declared = header(request.headers, "x-goog-upload-header-content-length")
            .and_then(|v| v.parse::<u64>().ok());
        let Some(declared) = declared.filter(|d| *d as usize <= MAX_FILE_BYTES) else {
            return invalid(
                "X-Goog-Upload-Header-Content-Length must be the file's size, at most 2 GB.",
            );
        };
        let meta: Value = serde_json::from_slice(request.body).unwrap_or(Value::Null);
        let file = meta.get("file");
        let mime = header(request.headers, "x-goog-upload-header-content-type")
            .map(str::to_owned)
            .or_else(|| {
                file.and_then(|f| f.get("mimeType"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "application/octet-stream".into());
        let display_name = file
            .and_then(|f| f.get("displayName"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let id = crate::batch_apis::base36(shared.next_number(), 16);
        let dir = folder(shared, "gemini");
        let path = dir.join(format!("upload-{id}"));
        let made = std::fs::create_dir_all(&dir).and_then(|()| std::fs::File::create(&path));
        if let Err(err) = made {
            return error(
                500,
                "INTERNAL",
                &format!("the upload could not be kept: {err}"),
            );
        }
        lock(&state.uploads).insert(
            id.clone(),
            Upload {
                display_name,
                mime,
                declared,
                path,
                written: 0,
            },
        );
        let mut reply = Reply::json(200, &json!({}));
        reply.headers.push((
            "x-goog-upload-url",
            format!("{base}/upload/v1beta/files?upload_id={id}"),
        ));
        reply
            .headers
            .push(("x-goog-upload-status", "active".into()));
        return reply;
    }
    let Some(id) = query.get("upload_id") else {
        return invalid(
            "X-Goog-Upload-Command must be start, or the request must name an upload_id.",
        );
    };
    let finalize = command.split(',').any(|c| c.trim() == "finalize");
    if !command.split(',').any(|c| c.trim() == "upload") && !finalize {
        return invalid("X-Goog-Upload-Command must be upload, or upload, finalize.");
    }
    let offset =
        header(request.headers, "x-goog-upload-offset").and_then(|v| v.parse::<u64>().ok());
    let mut uploads = lock(&state.uploads);
    let Some(upload) = uploads.get_mut(id) else {
        return not_found(&format!("upload {id}"));
    };
    if offset != Some(upload.written) {
        return invalid(&format!(
            "X-Goog-Upload-Offset must be {} (the bytes received so far).",
            upload.written
        ));
    }
    let appended = std::fs::OpenOptions::new()
        .append(true)
        .open(&upload.path)
        .and_then(|mut f| f.write_all(request.body));
    if let Err(err) = appended {
        return error(
            500,
            "INTERNAL",
            &format!("the upload could not be kept: {err}"),
        );
    }
    upload.written += request.body.len() as u64;
    if upload.written > upload.declared {
        uploads.remove(id);
        return invalid("The upload is longer than its declared size.");
    }
    if !finalize {
        let mut reply = Reply::bytes(200, "text/plain", Vec::new());
        reply
            .headers
            .push(("x-goog-upload-status", "active".into()));
        return reply;
    }
    let Some(upload) = uploads.remove(id) else {
        return not_found(&format!("upload {id}"));
    };
    drop(uploads);
    if upload.written != upload.declared {
        return invalid(&format!(
            "The upload has {} bytes, not the {} declared.",
            upload.written, upload.declared
        ));
    }
    let entry = FileEntry {
        id: id.clone(),
        display_name: upload.display_name,
        mime: upload.mime,
        size: upload.written,
        path: upload.path,
        created: Utc::now(),
        source: "UPLOADED",
    };
    let shown = entry.to_json(base);
    lock(&state.files).push(entry);
    let mut reply = Reply::json(200, &json!({"file": shown}));
    reply.headers.push(("x-goog-upload-status", "final".into()));
    reply
}

fn download(shared: &Shared, id: &str) -> Reply {
    let path = lock(&shared.gemini.files)
        .iter()
        .find(|f| f.id == id)
        .map(|f| f.path.clone());
    match path.map(std::fs::read) {
        Some(Ok(bytes)) => Reply::bytes(200, "application/octet-stream", bytes),
        Some(Err(err)) => error(500, "INTERNAL", &format!("the file is unreadable: {err}")),
        None => not_found(&format!("files/{id}")),
    }
}

/// Whether `model` (Google's name) is one of its embedding models.
fn is_embedding_model(model: &str) -> bool {
    model.starts_with("gemini-embedding") || model.starts_with("text-embedding")
}

/// `models/{model}:batchGenerateContent` (or, with `embed`, `:asyncBatchEmbedContent`): the
/// requests inline or in an uploaded file, kept as `{"key", "request"}` lines; the batch is
/// answered on a thread of its own.
fn create(shared: &Arc<Shared>, model: &str, body: &[u8], embed: bool) -> Reply {
    let model_id = format!("google.{model}");
    if synth::family_of(&model_id) != Some(Family::Gemini) && !is_embedding_model(model) {
        return not_found(&format!("models/{model}"));
    }
    if embed != is_embedding_model(model) {
        let call = if embed {
            "asyncBatchEmbedContent"
        } else {
            "batchGenerateContent"
        };
        return not_found(&format!(
            "models/{model} is not found for API version v1beta, or is not supported for {call}"
        ));
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return invalid("Invalid JSON payload received.");
    };
    let Some(batch) = request.get("batch") else {
        return invalid("* BatchGenerateContentRequest.batch: batch is required");
    };
    let display_name = batch
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let input = batch.get("inputConfig");
    let n = shared.next_number();
    let id = crate::batch_apis::base36(n, 20);
    let dir = folder(shared, "gemini");
    let requests_path = dir.join(format!("{id}.requests.jsonl"));
    let results_path = dir.join(format!("{id}.results.jsonl"));
    let inline = input.and_then(|i| i.get("requests"));
    // The API reads protobuf's JSON: `fileName` or `file_name` (the SDK sends the latter
    // for embedding batches).
    let file = input
        .and_then(|i| i.get("fileName").or_else(|| i.get("file_name")))
        .and_then(Value::as_str);
    let kept = match (inline, file) {
        (Some(requests), None) => {
            if body.len() > MAX_INLINE_BYTES {
                return invalid("Inline requests are limited to 20 MB; upload a file instead.");
            }
            let Some(items) = requests.get("requests").and_then(Value::as_array) else {
                return invalid(
                    "* BatchGenerateContentRequest.batch.input_config.requests.requests: requests are required",
                );
            };
            if items.is_empty() {
                return invalid(
                    "* BatchGenerateContentRequest.batch.input_config.requests.requests: at least one request is required",
                );
            }
            keep_inline(&dir, &requests_path, items)
        }
        (None, Some(name)) => {
            let id = name.strip_prefix("files/").unwrap_or(name);
            let path = lock(&shared.gemini.files)
                .iter()
                .find(|f| f.id == id && f.source == "UPLOADED")
                .map(|f| f.path.clone());
            let Some(path) = path else {
                return not_found(name);
            };
            keep_file(&dir, &requests_path, &path)
        }
        _ => {
            return invalid(
                "* BatchGenerateContentRequest.batch.input_config: exactly one of requests or file_name is required",
            );
        }
    };
    let total = match kept.and_then(|total| {
        std::fs::File::create(&results_path)?;
        Ok(total)
    }) {
        Ok(Ok(total)) => total,
        Ok(Err(message)) => return invalid(&message),
        Err(err) => {
            return error(
                500,
                "INTERNAL",
                &format!("the batch could not be kept: {err}"),
            );
        }
    };
    let now = Utc::now();
    let entry = Batch {
        id: id.clone(),
        model: format!("models/{model}"),
        display_name,
        state: "BATCH_STATE_PENDING",
        created: now,
        updated: now,
        ended: None,
        total,
        succeeded: 0,
        failed: 0,
        inline: inline.is_some(),
        embed,
        requests: requests_path,
        results: results_path,
        output_file: None,
        cancel_requested: false,
    };
    let shown = entry.to_json();
    lock(&shared.gemini.batches).push(entry);
    let answering = Arc::clone(shared);
    crate::batch_apis::start(shared, move || answer_batch(&answering, &id, &model_id));
    Reply::json(200, &shown)
}

/// `models/{model}:generateContent`: one request answered now, as the batch would.
fn generate(shared: &Shared, model: &str, body: &[u8]) -> Reply {
    let model_id = format!("google.{model}");
    if synth::family_of(&model_id) != Some(Family::Gemini) {
        return not_found(&format!("models/{model}"));
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return invalid("Invalid JSON payload received.");
    };
    let key = format!("call-{}", shared.next_number());
    let answer = synth::answer_runtime(
        &model_id,
        Some(Family::Gemini),
        false,
        &request,
        &key,
        shared.faults.config.seed,
        shared.faults.for_record(&key),
        shared.settings.mistral_stop_key,
    );
    match answer {
        Answer::Output { body, .. } => Reply::json(200, &body),
        Answer::Error { code, message } if code >= 500 => error(500, "INTERNAL", &message),
        Answer::Error { message, .. } => invalid(&message),
    }
}

/// Inline requests as `{"key", "request"}` lines: the key is `metadata.key`, else the
/// request's position.
fn keep_inline(
    dir: &std::path::Path,
    path: &std::path::Path,
    items: &[Value],
) -> std::io::Result<Result<u64, String>> {
    std::fs::create_dir_all(dir)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (i, item) in items.iter().enumerate() {
        let Some(request) = item.get("request").filter(|r| r.is_object()) else {
            return Ok(Err(format!(
                "* BatchGenerateContentRequest.batch.input_config.requests.requests[{i}].request: request is required"
            )));
        };
        let key = item
            .get("metadata")
            .and_then(|m| m.get("key"))
            .and_then(Value::as_str)
            .map_or_else(|| i.to_string(), str::to_owned);
        writeln!(out, "{}", json!({"key": key, "request": request}))?;
    }
    out.flush()?;
    Ok(Ok(items.len() as u64))
}

/// A file's requests, each line `{"key", "request"}`, checked and copied.
fn keep_file(
    dir: &std::path::Path,
    path: &std::path::Path,
    input: &std::path::Path,
) -> std::io::Result<Result<u64, String>> {
    std::fs::create_dir_all(dir)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut count = 0u64;
    let mut keys = std::collections::HashSet::new();
    for (i, line) in std::io::BufReader::new(std::fs::File::open(input)?)
        .lines()
        .enumerate()
    {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        // The key checked, the request only scanned and kept as its text.
        #[derive(serde::Deserialize)]
        struct Line<'a> {
            #[serde(default)]
            key: Option<Value>,
            #[serde(borrow, default)]
            request: Option<&'a serde_json::value::RawValue>,
        }
        let parsed: Option<Line<'_>> = serde_json::from_str(&line).ok();
        let key = parsed
            .as_ref()
            .and_then(|l| l.key.as_ref())
            .and_then(Value::as_str);
        let request = parsed
            .as_ref()
            .and_then(|l| l.request)
            .filter(|r| r.get().trim_start().starts_with('{'));
        let (Some(key), Some(request)) = (key, request) else {
            return Ok(Err(format!(
                "line {} of the input file is not {{\"key\": \"…\", \"request\": {{…}}}}",
                i + 1
            )));
        };
        if !keys.insert(key.to_owned()) {
            return Ok(Err(format!(
                "line {}: the key `{key}` is used twice",
                i + 1
            )));
        }
        writeln!(
            out,
            "{{\"key\":{},\"request\":{}}}",
            json!(key),
            request.get()
        )?;
        count += 1;
    }
    out.flush()?;
    if count == 0 {
        return Ok(Err("the input file has no requests".into()));
    }
    Ok(Ok(count))
}

fn update(shared: &Shared, id: &str, change: impl FnOnce(&mut Batch)) {
    if let Some(batch) = lock(&shared.gemini.batches).iter_mut().find(|b| b.id == id) {
        change(batch);
        batch.updated = Utc::now();
    }
}

/// How long a batch may be pending or running before it expires with no results: 48 of the
/// server's hours (Google, "Batch API").
fn lifetime(shared: &Shared) -> std::time::Duration {
    shared.settings.speed.hour * 48
}

/// Answers a batch's requests in order until they are done, it is cancelled, or it expires.
fn answer_batch(shared: &Shared, id: &str, model_id: &str) {
    let expires = std::time::Instant::now() + lifetime(shared);
    let Some((requests, results, inline, embed)) = lock(&shared.gemini.batches)
        .iter()
        .find(|b| b.id == id)
        .map(|b| (b.requests.clone(), b.results.clone(), b.inline, b.embed))
    else {
        return;
    };
    update(shared, id, |b| b.state = "BATCH_STATE_RUNNING");
    let opened = std::fs::File::open(&requests)
        .and_then(|input| Ok((input, std::fs::File::create(&results)?)));
    let Ok((input, output)) = opened else {
        update(shared, id, |b| {
            b.state = "BATCH_STATE_FAILED";
            b.ended = Some(Utc::now());
        });
        return;
    };
    let mut output = std::io::BufWriter::new(output);
    let mut end = "BATCH_STATE_SUCCEEDED";
    for line in std::io::BufReader::new(input).lines() {
        let Ok(line) = line else { break };
        let Ok(item) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let cancelled = lock(&shared.gemini.batches)
            .iter()
            .find(|b| b.id == id)
            .is_none_or(|b| b.cancel_requested);
        if cancelled {
            end = "BATCH_STATE_CANCELLED";
            break;
        }
        if std::time::Instant::now() >= expires {
            end = "BATCH_STATE_EXPIRED";
            break;
        }
        let key = item.get("key").and_then(Value::as_str).unwrap_or("");
        let request = item.get("request").cloned().unwrap_or(Value::Null);
        let answer = if embed {
            match shared.faults.for_record(key) {
                Some(crate::faults::RecordFault::Error) => Answer::Error {
                    code: 500,
                    message: "An internal error has occurred.".into(),
                },
                _ => match crate::embed::gemini(&request) {
                    Ok(body) => Answer::Output {
                        body,
                        input_tokens: 0,
                        output_tokens: 0,
                    },
                    Err(message) => Answer::Error { code: 400, message },
                },
            }
        } else {
            synth::answer_runtime(
                model_id,
                Some(Family::Gemini),
                false,
                &request,
                key,
                shared.faults.config.seed,
                shared.faults.for_record(key),
                shared.settings.mistral_stop_key,
            )
        };
        let (result, ok) = match answer {
            Answer::Output { body, .. } => (json!({"response": body}), true),
            Answer::Error { code, message } => {
                let status = if code >= 500 {
                    "INTERNAL"
                } else {
                    "INVALID_ARGUMENT"
                };
                (
                    json!({"error": {"code": code, "message": message, "status": status}}),
                    false,
                )
            }
        };
        let mut result = result;
        if inline {
            result["metadata"] = json!({"key": key});
        } else {
            result["key"] = json!(key);
        }
        if writeln!(output, "{result}").is_err() {
            end = "BATCH_STATE_FAILED";
            break;
        }
        update(shared, id, |b| {
            if ok {
                b.succeeded += 1;
            } else {
                b.failed += 1;
            }
        });
        let per_record = shared.settings.speed.per_record;
        if !per_record.is_zero() {
            std::thread::sleep(per_record);
        }
    }
    let _ = output.flush();
    drop(output);
    // A file batch's results are a generated file; an expired batch has none.
    let output_file = (!inline && end != "BATCH_STATE_EXPIRED" && end != "BATCH_STATE_FAILED")
        .then(|| {
            let file_id = format!("batch-{id}");
            let size = std::fs::metadata(&results).map_or(0, |m| m.len());
            lock(&shared.gemini.files).push(FileEntry {
                id: file_id.clone(),
                display_name: Some(format!("batch-{id}-responses")),
                mime: "application/jsonl".into(),
                size,
                path: results.clone(),
                created: Utc::now(),
                source: "GENERATED",
            });
            file_id
        });
    update(shared, id, |b| {
        b.state = end;
        b.ended = Some(Utc::now());
        b.output_file = output_file;
    });
}

fn batch_json(shared: &Shared, id: &str) -> Option<Value> {
    lock(&shared.gemini.batches)
        .iter()
        .find(|b| b.id == id)
        .map(Batch::to_json)
}

/// Batches newest first, `pageSize` (default 50, at most 1,000) from `pageToken` (the last
/// id of the page before).
fn list(shared: &Shared, query: &HashMap<String, String>) -> Reply {
    let size = match query.get("pageSize").map(|s| s.parse::<usize>()) {
        None => 50,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return invalid("pageSize must be from 1 to 1000."),
    };
    let batches = lock(&shared.gemini.batches);
    let newest_first: Vec<&Batch> = batches.iter().rev().collect();
    let start = match query.get("pageToken") {
        None => 0,
        Some(token) => match newest_first.iter().position(|b| &b.id == token) {
            Some(at) => at + 1,
            None => return invalid("pageToken is not a token this list gave."),
        },
    };
    let page: Vec<&&Batch> = newest_first.iter().skip(start).take(size).collect();
    let mut body = json!({"operations": page.iter().map(|b| b.to_json()).collect::<Vec<_>>()});
    if start + page.len() < newest_first.len()
        && let Some(last) = page.last()
    {
        body["nextPageToken"] = json!(last.id);
    }
    Reply::json(200, &body)
}

fn cancel(shared: &Shared, id: &str) -> Reply {
    let mut batches = lock(&shared.gemini.batches);
    let Some(batch) = batches.iter_mut().find(|b| b.id == id) else {
        return not_found(&format!("batches/{id}"));
    };
    if batch.done() {
        return error(
            400,
            "FAILED_PRECONDITION",
            &format!(
                "batches/{id} has ended ({}); it cannot be cancelled.",
                batch.state
            ),
        );
    }
    batch.cancel_requested = true;
    if batch.state == "BATCH_STATE_PENDING" {
        // Not started: nothing is answered.
        batch.state = "BATCH_STATE_CANCELLED";
        batch.ended = Some(Utc::now());
    }
    Reply::json(200, &json!({}))
}

fn delete(shared: &Shared, id: &str) -> Reply {
    let mut batches = lock(&shared.gemini.batches);
    let Some(at) = batches.iter().position(|b| b.id == id) else {
        return not_found(&format!("batches/{id}"));
    };
    if !batches[at].done() {
        batches[at].cancel_requested = true;
    }
    batches.remove(at);
    Reply::json(200, &json!({}))
}
