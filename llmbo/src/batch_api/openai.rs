//! OpenAI's Batch API as a [`Backend`] (OpenAI, "Batch API",
//! <https://platform.openai.com/docs/guides/batch>, and the API reference,
//! <https://platform.openai.com/docs/api-reference/batch>).
//!
//! A job's input is kept in the run's store as Bedrock's JSONL. Creating the job uploads it
//! as OpenAI's JSONL (`POST /v1/files`, `purpose=batch`), one `{"custom_id", "method",
//! "url", "body"}` a line, the body the chat completions request the adapter wrote with the
//! model named in it, and creates a batch over the file with llmbo's job name and request
//! token in its `metadata`, by which a create interrupted before its id was recorded finds
//! its batch again. The output and error files are read as Bedrock's output lines: a 200
//! response is a `modelOutput` (the chat completion), any other status or error an `error`
//! with OpenAI's code and message, and a `batch_expired` line none, so those records are
//! missing and `retry_failed` sends them again.

use std::path::Path;
use std::sync::Arc;

use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::http::{ApiClient, ApiKey, Auth, Payload, Source};
use super::{BatchEntry, Register};
use crate::backend::{
    Answered, Backend, BackendFuture, InputWriter, JobRequest, LineMap, Lines, OutputFiles,
};
use crate::error::Error;
use crate::model::Provider;
use crate::settings::RunSettings;
use crate::status::{JobDetails, JobStatus};
use crate::store::FileStore;

/// The API's address when neither the builder nor `OPENAI_BASE_URL` names another (the
/// official SDKs' default, version included).
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The endpoint every request of a run's batches goes to: embeddings for an embedding run,
/// else the run's choice (chat completions or responses).
fn endpoint(settings: &RunSettings) -> &'static str {
    if settings.embedding.is_some() {
        "/v1/embeddings"
    } else {
        settings.openai_endpoint.path()
    }
}

/// Requests and bytes an input file takes at most (OpenAI, "Batch API": 50,000 requests and
/// 200 MB). Data: the shard plan reads them from here.
pub(crate) const MAX_REQUESTS: usize = 50_000;
/// See [`MAX_REQUESTS`].
pub(crate) const MAX_BYTES: u64 = 200 * 1000 * 1000;

/// OpenAI's batch API, and the run store its inputs and register are kept in.
#[derive(Debug, Clone)]
pub(crate) struct OpenAi {
    api: ApiClient,
    store: Arc<dyn FileStore>,
    register: Register,
}

impl OpenAi {
    /// The API at `base_url` (with its version, `…/v1`) with `key`, keeping inputs in `store`.
    pub(crate) fn new(
        base_url: &str,
        key: ApiKey,
        store: Arc<dyn FileStore>,
    ) -> Result<Self, Error> {
        let api = ApiClient::new("OpenAI", base_url, key, Auth::Bearer, Vec::new())?;
        Ok(OpenAi {
            api,
            register: Register {
                store: store.clone(),
            },
            store,
        })
    }

    async fn get_batch(&self, batch_id: &str) -> Result<Value, Error> {
        self.api
            .get_job(&format!("/batches/{batch_id}"), batch_id)
            .await
    }

    async fn cancel_batch(&self, batch_id: &str) -> Result<(), Error> {
        self.api
            .json(
                "cancel batch",
                Method::POST,
                &format!("/batches/{batch_id}/cancel"),
                &Payload::Empty,
                true,
            )
            .await
            .map(drop)
    }

    /// Uploads the requests as a batch input file; its id.
    async fn upload(&self, job_name: &str, requests: &Source) -> Result<String, Error> {
        let boundary = format!("llmbo-{:016x}", super::http::random());
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{job_name}.jsonl\"\r\n\
             Content-Type: application/jsonl\r\n\r\n"
        );
        let tail = format!("\n\r\n--{boundary}--\r\n");
        let payload = Payload::File {
            head: head.into_bytes().into(),
            body: requests.clone(),
            tail: tail.into_bytes().into(),
            content_type: format!("multipart/form-data; boundary={boundary}"),
        };
        // A file uploaded twice is a spare file, never a second batch: safe to try again.
        let file = self
            .api
            .json("upload file", Method::POST, "/files", &payload, true)
            .await?;
        file.get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                self.api
                    .unreadable("upload file", "the answer has no file id")
            })
    }

    /// An output or error file as Bedrock's output lines.
    async fn file_lines(&self, url: &str) -> Result<Lines, Error> {
        let file_id = url
            .rsplit("/files/")
            .next()
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        let batch = self.register.by_file(file_id).await?;
        let table = self.register.table_of(batch).await?;
        let map = LineMap::new(crate::jsonl::Served::OpenAi, bedrock_line, table);
        self.api.lines("get file content", url, map).await
    }

    /// A batch as llmbo describes a job.
    async fn details(&self, batch: &Value) -> Result<JobDetails, Error> {
        let text = |k: &str| batch.get(k).and_then(Value::as_str);
        let id = text("id").unwrap_or_default().to_owned();
        let entry = self.register.by_batch(&id).await?;
        let count = |k: &str| {
            batch
                .get("request_counts")
                .and_then(|c| c.get(k))
                .and_then(Value::as_u64)
        };
        let (total, completed, failed) = (count("total"), count("completed"), count("failed"));
        let status = match text("status") {
            Some("validating") => JobStatus::Validating,
            Some("in_progress" | "finalizing") => JobStatus::InProgress,
            Some("completed") if failed.unwrap_or(0) > 0 => JobStatus::PartiallyCompleted,
            Some("completed") => JobStatus::Completed,
            Some("failed") => JobStatus::Failed,
            Some("expired") => JobStatus::Expired,
            Some("cancelling") => JobStatus::Stopping,
            Some("cancelled") => JobStatus::Stopped,
            Some(other) => JobStatus::Unknown(other.to_owned()),
            None => JobStatus::Unknown(String::new()),
        };
        let errors: Vec<&str> = batch
            .get("errors")
            .and_then(|e| e.get("data"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("message").and_then(Value::as_str))
            .collect();
        let message = (!errors.is_empty()).then(|| errors.join("; "));
        let (job_name, model_id, input_uri, output_uri) = match entry {
            Some(e) => (e.job_name, e.model, e.input, e.output),
            None => (id.clone(), String::new(), String::new(), String::new()),
        };
        Ok(JobDetails {
            job_arn: id,
            job_name,
            model_id,
            role_arn: String::new(),
            status,
            message,
            input_uri,
            output_uri,
            converse: false,
            timeout_hours: Some(24),
            total_record_count: total,
            processed_record_count: match (completed, failed) {
                (Some(c), Some(f)) => Some(c + f),
                _ => None,
            },
            success_record_count: completed,
            error_record_count: failed,
        })
    }
}

/// A line of an output or error file.
#[derive(Deserialize)]
struct OutputLine<'a> {
    #[serde(borrow)]
    custom_id: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    response: Option<Response<'a>>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Response<'a> {
    status_code: u16,
    #[serde(borrow, default)]
    body: Option<&'a RawValue>,
}

/// Appends the error line of a record, in Bedrock's shape.
fn error_line(record_id: &str, code: &str, message: &str, out: &mut Vec<u8>) {
    let line = serde_json::json!({
        "recordId": record_id,
        "error": { "errorCode": code, "errorMessage": message },
    });
    serde_json::to_writer(&mut *out, &line).unwrap_or_default();
    out.push(b'\n');
}

/// Appends a line of OpenAI's output or error file to `out` as Bedrock's output line;
/// nothing for a request the batch expired before (no line: the record is missing). A line
/// that cannot be read is passed on as it is, for the reader to report.
fn bedrock_line(line: &[u8], table: &std::collections::HashMap<String, String>, out: &mut Vec<u8>) {
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let Ok(parsed) = serde_json::from_slice::<OutputLine<'_>>(line) else {
        out.extend_from_slice(line);
        return;
    };
    let record_id = table
        .get(parsed.custom_id.as_ref())
        .map_or(parsed.custom_id.as_ref(), String::as_str);
    if let Some(error) = parsed.error.filter(|e| !e.is_null()) {
        let code = error.get("code").and_then(Value::as_str).unwrap_or("error");
        if code == "batch_expired" {
            return;
        }
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the request failed");
        return error_line(record_id, code, message, out);
    }
    let Some(response) = parsed.response else {
        return error_line(
            record_id,
            "no_response",
            "the line has neither a response nor an error",
            out,
        );
    };
    let body = response.body.map(RawValue::get).unwrap_or("null");
    if response.status_code == 200 {
        out.extend_from_slice(b"{\"recordId\":");
        serde_json::to_writer(&mut *out, record_id).unwrap_or_default();
        out.extend_from_slice(b",\"modelOutput\":");
        out.extend_from_slice(body.as_bytes());
        out.extend_from_slice(b"}\n");
        return;
    }
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let error = body.get("error").unwrap_or(&body);
    let status = response.status_code.to_string();
    let code = error
        .get("code")
        .and_then(Value::as_str)
        .or_else(|| error.get("type").and_then(Value::as_str))
        .unwrap_or(&status);
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the request failed");
    error_line(record_id, code, message, out);
}

impl super::create::Sender for OpenAi {
    fn provider(&self) -> &'static str {
        "OpenAI"
    }

    /// `{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}` (or
    /// `/v1/embeddings`), the body naming the model.
    fn request(
        &self,
        settings: &RunSettings,
        custom_id: &str,
        mut body: Map<String, Value>,
        model: &str,
    ) -> Value {
        body.insert("model".into(), Value::String(model.to_owned()));
        serde_json::json!({
            "custom_id": custom_id,
            "method": "POST",
            "url": endpoint(settings),
            "body": body,
        })
    }

    fn write_request(
        &self,
        settings: &RunSettings,
        custom_id: &str,
        body: &str,
        model: &str,
        out: &mut Vec<u8>,
    ) -> bool {
        let written = (|| {
            out.extend_from_slice(b"{\"custom_id\":");
            serde_json::to_writer(&mut *out, custom_id).ok()?;
            out.extend_from_slice(b",\"method\":\"POST\",\"url\":");
            serde_json::to_writer(&mut *out, endpoint(settings)).ok()?;
            out.extend_from_slice(b",\"body\":");
            super::create::with_model(body, model, out)?;
            out.push(b'}');
            Some(())
        })();
        written.is_some()
    }

    fn separator(&self) -> &'static [u8] {
        b"\n"
    }

    /// Uploads the input file, then creates the batch with llmbo's job name and token in its
    /// metadata.
    async fn send(
        &self,
        job: &JobRequest<'_>,
        requests: &Source,
        entry: &BatchEntry,
    ) -> Result<String, Error> {
        let file_id = self.upload(job.job_name, requests).await?;
        let body = serde_json::json!({
            "input_file_id": file_id,
            "endpoint": endpoint(job.settings),
            "completion_window": "24h",
            "metadata": {
                "llmbo_job": entry.job_name,
                "llmbo_token": entry.token,
            },
        });
        let batch = self
            .api
            .json(
                "create batch",
                Method::POST,
                "/batches",
                &Payload::Json(serde_json::to_vec(&body).unwrap_or_default().into()),
                false,
            )
            .await?;
        batch
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                self.api
                    .unreadable("create batch", "the answer has no batch id")
            })
    }

    /// The newest batch whose metadata names this job and token.
    async fn unrecorded(&self, entry: &BatchEntry) -> Result<Option<String>, Error> {
        let page = self
            .api
            .json(
                "list batches",
                Method::GET,
                "/batches?limit=100",
                &Payload::Empty,
                true,
            )
            .await?;
        Ok(page
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|batch| {
                let meta = |k: &str| batch.get("metadata")?.get(k)?.as_str();
                meta("llmbo_token") == Some(entry.token.as_str())
                    && meta("llmbo_job") == Some(entry.job_name.as_str())
            })
            .and_then(|batch| batch.get("id")?.as_str().map(str::to_owned)))
    }

    async fn cancel(&self, batch_id: &str) -> Result<(), Error> {
        self.cancel_batch(batch_id).await
    }
}

impl Backend for OpenAi {
    /// Sent once, through the store's register and the batch's metadata (see
    /// [`super::create`]).
    fn create<'a>(&'a self, job: JobRequest<'a>) -> BackendFuture<'a, String> {
        Box::pin(async move { super::create::create_once(self, &self.register, &job).await })
    }

    /// The requests written as the input is uploaded, so that `create` sends them as they are.
    fn request_lines(
        self: std::sync::Arc<Self>,
        settings: &RunSettings,
    ) -> Option<Box<dyn crate::backend::RequestLines>> {
        let writer = super::create::RequestsWriter::of_spool(self, settings).ok()?;
        Some(Box::new(writer))
    }

    fn describe<'a>(&'a self, job_id: &'a str) -> BackendFuture<'a, JobDetails> {
        Box::pin(async move {
            let batch = self.get_batch(job_id).await?;
            self.details(&batch).await
        })
    }

    fn find<'a>(
        &'a self,
        status: Option<&'a str>,
        name_contains: Option<&'a str>,
    ) -> BackendFuture<'a, Vec<JobDetails>> {
        Box::pin(super::find(self, &self.register, status, name_contains))
    }

    fn stop<'a>(&'a self, job_id: &'a str) -> BackendFuture<'a, ()> {
        Box::pin(self.cancel_batch(job_id))
    }

    /// The batch's output file, then its error file, as they are now.
    fn output_files<'a>(&'a self, job: &'a JobDetails) -> BackendFuture<'a, OutputFiles> {
        Box::pin(async move {
            let batch = self.get_batch(&job.job_arn).await?;
            let mut outputs = Vec::new();
            for key in ["output_file_id", "error_file_id"] {
                if let Some(file_id) = batch.get(key).and_then(Value::as_str) {
                    self.register.index_file(file_id, &job.job_name).await?;
                    outputs.push(self.api.url(&format!("/files/{file_id}/content")));
                }
            }
            Ok(OutputFiles {
                outputs,
                manifest: None,
            })
        })
    }

    fn download<'a>(&'a self, file: &'a str, path: &'a Path) -> BackendFuture<'a, (u64, u64)> {
        Box::pin(super::download(self, file, path))
    }

    fn fetch<'a>(&'a self, file: &'a str, max: u64) -> BackendFuture<'a, Option<Vec<u8>>> {
        Box::pin(super::fetch(self, file, max))
    }

    fn fetch_served<'a>(
        &'a self,
        file: &'a str,
        max: u64,
    ) -> BackendFuture<'a, Option<(Vec<u8>, Option<LineMap>)>> {
        Box::pin(super::fetch_served(self, file, max))
    }

    fn input_files<'a>(&'a self, input: &'a str) -> BackendFuture<'a, Vec<String>> {
        Box::pin(self.store.input_files(input))
    }

    /// A file of the store, or a batch's output or error file (as Bedrock's output lines).
    fn lines<'a>(&'a self, file: &'a str) -> BackendFuture<'a, Lines> {
        Box::pin(async move {
            if self.store.key_of(file).is_some() {
                self.store.lines(file).await
            } else {
                self.file_lines(file).await
            }
        })
    }

    fn version<'a>(&'a self, file: &'a str) -> BackendFuture<'a, Option<String>> {
        Box::pin(self.store.version(file))
    }

    /// One chat completion (`POST /v1/chat/completions`), or embedding, with the record's
    /// body.
    fn answer<'a>(
        &'a self,
        settings: &'a RunSettings,
        body: &'a Value,
    ) -> BackendFuture<'a, Answered> {
        Box::pin(async move {
            let mut body = body.clone();
            if let Value::Object(map) = &mut body {
                map.insert(
                    "model".into(),
                    Value::String(Provider::OpenAi.api_model(&settings.model_name).to_owned()),
                );
            }
            let path = endpoint(settings).trim_start_matches("/v1");
            let operation = match path {
                "/responses" => "create response",
                "/embeddings" => "create embeddings",
                _ => "create chat completion",
            };
            self.api.answer(operation, path, &body).await
        })
    }

    fn put_input<'a>(&'a self, input: &'a str) -> Box<dyn InputWriter<'a> + 'a> {
        self.store.put_input(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonl::Served;

    /// The success lines are read as they stand, each exactly as its Bedrock line would be.
    #[test]
    fn success_lines_are_read_as_served_as_their_bedrock_lines_are() {
        let lines = [
            r#"{"id":"batch_req_1","custom_id":"r-1","response":{"status_code":200,"request_id":"q","body":{"choices":[]}},"error":null}"#,
            r#"{"response":{"status_code":200,"body":{"x":[1,2]}},"custom_id":"llmbo-h-abc"}"#,
            r#"{"custom_id":"r-2","response":{"status_code":400,"body":{"error":{"message":"bad","type":"invalid_request_error"}}},"error":null}"#,
            r#"{"custom_id":"r-3","response":null,"error":{"code":"batch_expired","message":"expired"}}"#,
            r#"{"custom_id":"r-4","response":{"status_code":200,"body":{"a":1}},"error":{"code":"x","message":"y"}}"#,
            r#"{"custom_id":"r-5","response":{"status_code":200}}"#,
            r#"{"custom_id":"r-6","response":{"status_code":200,"body":{}},"response":{"status_code":200,"body":{}}}"#,
            r#"{"key":"r-7","response":{"a":1}}"#,
            r#"{"custom_id":"r-8","result":{"type":"succeeded","message":{}}}"#,
            r#"{"recordId":"r-9","modelOutput":{"a":1}}"#,
        ];
        let fast = super::super::served_lines_agree(Served::OpenAi, bedrock_line, &lines);
        assert_eq!(fast, 3);
    }

    fn one_line(line: &[u8], table: &std::collections::HashMap<String, String>) -> Option<Vec<u8>> {
        super::super::one_line(bedrock_line, line, table)
    }

    #[test]
    fn output_lines_become_bedrock_lines() -> Result<(), Box<dyn std::error::Error>> {
        let table = std::collections::HashMap::new();
        let ok = br#"{"id":"batch_req_1","custom_id":"r-1","response":{"status_code":200,"request_id":"q","body":{"choices":[{"message":{"content":"hi"}}]}},"error":null}"#;
        assert_eq!(
            String::from_utf8(one_line(ok, &table).ok_or("a line")?)?,
            "{\"recordId\":\"r-1\",\"modelOutput\":{\"choices\":[{\"message\":{\"content\":\"hi\"}}]}}\n"
        );
        let refused = br#"{"id":"batch_req_2","custom_id":"r-2","response":{"status_code":400,"request_id":"q","body":{"error":{"message":"bad","type":"invalid_request_error","code":null}}},"error":null}"#;
        let line: Value = serde_json::from_slice(&one_line(refused, &table).ok_or("a line")?)?;
        assert_eq!(
            line,
            serde_json::json!({"recordId": "r-2", "error": {"errorCode": "invalid_request_error", "errorMessage": "bad"}})
        );
        let expired = br#"{"id":"batch_req_3","custom_id":"r-3","response":null,"error":{"code":"batch_expired","message":"This request could not be executed before the completion window expired."}}"#;
        assert_eq!(one_line(expired, &table), None);
        assert_eq!(one_line(b"garbage\n", &table), Some(b"garbage\n".to_vec()));
        Ok(())
    }
    /// The request written from the body's text is the one built from its value, and the
    /// requests written as the input goes up are the ones read back from it at create.
    #[test]
    fn the_requests_written_fast_and_ahead_are_the_general_ones()
    -> Result<(), Box<dyn std::error::Error>> {
        let (_dir, store) = super::super::create::test_store()?;
        let api = OpenAi::new("http://localhost:1", ApiKey::new("k"), Arc::clone(&store))?;
        super::super::create::fast_requests_agree(&api, 4)?;
        super::super::create::spooled_requests_agree(&api, store.as_ref())
    }
}
