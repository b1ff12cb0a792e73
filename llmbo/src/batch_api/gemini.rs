//! The Gemini API's batch mode as a [`Backend`] (Google, "Batch API",
//! <https://ai.google.dev/gemini-api/docs/batch-mode>, and the reference,
//! <https://ai.google.dev/api/batch-mode>).
//!
//! A job's input is kept in the run's store as Bedrock's JSONL. Creating the job uploads it
//! through the File API's resumable protocol as Gemini's JSONL, one `{"key", "request"}` a
//! line (the `GenerateContentRequest` the Gemini adapter wrote), in chunks, and creates a
//! batch over the file (`models/{model}:batchGenerateContent`) whose display name holds
//! llmbo's job name and request token, by which a create interrupted before its name was
//! recorded finds its batch again. The responses file is read as Bedrock's output lines: a
//! `response` is a `modelOutput`, an `error` an `error` with Google's status and message. A
//! batch that expired has no responses file: its records are missing, and `retry_failed`
//! sends them again.

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

/// The API's address when neither the builder nor `GEMINI_BASE_URL` names another.
pub(crate) const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// The API version of every path (batch mode is in `v1beta`).
const VERSION: &str = "v1beta";

/// Requests and bytes a batch's input file takes at most: Google documents 2 GB files and no
/// count; the count here keeps one job's results a size a run reads comfortably. Data.
pub(crate) const MAX_REQUESTS: usize = 1_000_000;
/// See [`MAX_REQUESTS`].
pub(crate) const MAX_BYTES: u64 = 2 * 1000 * 1000 * 1000;

/// The size of each chunk of a resumable upload (what the official SDK sends).
const CHUNK: u64 = 8 * 1024 * 1024;

/// The Gemini API's batch mode, and the run store its inputs and register are kept in.
#[derive(Debug, Clone)]
pub(crate) struct Gemini {
    api: ApiClient,
    store: Arc<dyn FileStore>,
    register: Register,
}

/// The display name of a job's batch: llmbo's job name and request token.
fn display_name(entry: &BatchEntry) -> String {
    format!("llmbo {} {}", entry.job_name, entry.token)
}

impl Gemini {
    /// The API at `base_url` with `key`, keeping inputs in `store`.
    pub(crate) fn new(
        base_url: &str,
        key: ApiKey,
        store: Arc<dyn FileStore>,
    ) -> Result<Self, Error> {
        let api = ApiClient::new("Gemini", base_url, key, Auth::GoogApiKey, Vec::new())?;
        Ok(Gemini {
            api,
            register: Register {
                store: store.clone(),
            },
            store,
        })
    }

    /// A batch (`batches/{id}`), as the API describes it.
    async fn get_batch(&self, name: &str) -> Result<Value, Error> {
        self.api.get_job(&format!("/{VERSION}/{name}"), name).await
    }

    async fn cancel_batch(&self, name: &str) -> Result<(), Error> {
        self.api
            .json(
                "cancel batch",
                Method::POST,
                &format!("/{VERSION}/{name}:cancel"),
                &Payload::Empty,
                true,
            )
            .await
            .map(drop)
    }

    /// Uploads the requests through the resumable protocol, in chunks; the file's name.
    async fn upload(&self, job_name: &str, requests: &Source) -> Result<String, Error> {
        let size = requests.len().await?;
        let start = serde_json::json!({"file": {"displayName": job_name}});
        let started = self
            .api
            .send_with(
                "upload file",
                Method::POST,
                &format!("/upload/{VERSION}/files"),
                &Payload::Json(serde_json::to_vec(&start).unwrap_or_default().into()),
                true,
                &[
                    ("x-goog-upload-protocol", "resumable".into()),
                    ("x-goog-upload-command", "start".into()),
                    ("x-goog-upload-header-content-length", size.to_string()),
                    (
                        "x-goog-upload-header-content-type",
                        "application/jsonl".into(),
                    ),
                ],
            )
            .await?;
        let Some(url) = started
            .headers()
            .get("x-goog-upload-url")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
        else {
            return Err(self
                .api
                .unreadable("upload file", "the start answered no upload URL"));
        };
        let mut offset = 0;
        loop {
            let len = CHUNK.min(size - offset);
            let last = offset + len >= size;
            let command = if last { "upload, finalize" } else { "upload" };
            let response = self
                .api
                .send_with(
                    "upload file",
                    Method::POST,
                    &url,
                    &Payload::Chunk {
                        body: requests.clone(),
                        offset,
                        len,
                    },
                    // A chunk at its offset is the same chunk when sent again.
                    true,
                    &[
                        ("x-goog-upload-command", command.into()),
                        ("x-goog-upload-offset", offset.to_string()),
                    ],
                )
                .await?;
            offset += len;
            if last {
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| self.api.no_answer("upload file", &e))?;
                let file: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| self.api.unreadable("upload file", &e.to_string()))?;
                return file
                    .get("file")
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        self.api
                            .unreadable("upload file", "the answer names no file")
                    });
            }
        }
    }

    /// The responses file's lines as Bedrock's output lines.
    async fn file_lines(&self, url: &str) -> Result<Lines, Error> {
        let file_id = url
            .rsplit("/files/")
            .next()
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_default();
        let entry = self.register.by_file(file_id).await?;
        let table = self.register.table_of(entry).await?;
        let map = LineMap::new(crate::jsonl::Served::Gemini, bedrock_line, table);
        self.api.lines("download file", url, map).await
    }

    /// A batch as llmbo describes a job.
    async fn details(&self, batch: &Value) -> Result<JobDetails, Error> {
        let name = batch
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let meta = batch.get("metadata");
        let entry = self.register.by_batch(&name).await?;
        // Counts are int64, which the API writes as strings.
        let count = |k: &str| {
            meta.and_then(|m| m.get("batchStats"))
                .and_then(|s| s.get(k))
                .and_then(|v| match v {
                    Value::String(s) => s.parse::<u64>().ok(),
                    other => other.as_u64(),
                })
        };
        let (total, succeeded, failed) = (
            count("requestCount"),
            count("successfulRequestCount").unwrap_or(0),
            count("failedRequestCount").unwrap_or(0),
        );
        let state = meta.and_then(|m| m.get("state")).and_then(Value::as_str);
        let status = match state {
            Some("BATCH_STATE_PENDING" | "JOB_STATE_PENDING") => JobStatus::Scheduled,
            Some("BATCH_STATE_RUNNING" | "JOB_STATE_RUNNING") => JobStatus::InProgress,
            Some("BATCH_STATE_SUCCEEDED" | "JOB_STATE_SUCCEEDED") if failed > 0 => {
                JobStatus::PartiallyCompleted
            }
            Some("BATCH_STATE_SUCCEEDED" | "JOB_STATE_SUCCEEDED") => JobStatus::Completed,
            Some("BATCH_STATE_FAILED" | "JOB_STATE_FAILED") => JobStatus::Failed,
            Some("BATCH_STATE_CANCELLED" | "JOB_STATE_CANCELLED") => JobStatus::Stopped,
            Some("BATCH_STATE_EXPIRED" | "JOB_STATE_EXPIRED") => JobStatus::Expired,
            Some(other) => JobStatus::Unknown(other.to_owned()),
            None => JobStatus::Unknown(String::new()),
        };
        let message = batch
            .get("error")
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                (status == JobStatus::Expired)
                    .then(|| "the batch expired before it was answered; it has no results".into())
            });
        let (job_name, model_id, input_uri, output_uri) = match entry {
            Some(e) => (e.job_name, e.model, e.input, e.output),
            None => (name.clone(), String::new(), String::new(), String::new()),
        };
        Ok(JobDetails {
            job_arn: name,
            job_name,
            model_id,
            role_arn: String::new(),
            status,
            message,
            input_uri,
            output_uri,
            converse: false,
            timeout_hours: Some(48),
            total_record_count: total,
            processed_record_count: Some(succeeded + failed),
            success_record_count: Some(succeeded),
            error_record_count: Some(failed),
        })
    }
}

/// A line of a responses file.
#[derive(Deserialize)]
struct OutputLine<'a> {
    #[serde(borrow)]
    key: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    response: Option<&'a RawValue>,
    /// An embedding batch's answer where it stands beside the key rather than in `response`
    /// (the form of its lines is not documented; both are read).
    #[serde(borrow, default)]
    embedding: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<Value>,
}

/// Appends a line of Gemini's responses file to `out` as Bedrock's output line. A line that
/// cannot be read is passed on as it is, for the reader to report.
fn bedrock_line(line: &[u8], table: &std::collections::HashMap<String, String>, out: &mut Vec<u8>) {
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let Ok(parsed) = serde_json::from_slice::<OutputLine<'_>>(line) else {
        out.extend_from_slice(line);
        return;
    };
    let record_id = table
        .get(parsed.key.as_ref())
        .map_or(parsed.key.as_ref(), String::as_str);
    match (parsed.response, parsed.embedding) {
        (Some(answer), _) | (None, Some(answer)) => {
            out.extend_from_slice(b"{\"recordId\":");
            serde_json::to_writer(&mut *out, record_id).unwrap_or_default();
            out.extend_from_slice(b",\"modelOutput\":");
            if parsed.response.is_some() {
                out.extend_from_slice(answer.get().as_bytes());
            } else {
                out.extend_from_slice(b"{\"embedding\":");
                out.extend_from_slice(answer.get().as_bytes());
                out.push(b'}');
            }
            out.extend_from_slice(b"}\n");
        }
        (None, None) => {
            let error = parsed.error.unwrap_or(Value::Null);
            let code = error
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| error.get("code").map(Value::to_string))
                .unwrap_or_else(|| "error".into());
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the request failed");
            let line = serde_json::json!({
                "recordId": record_id,
                "error": { "errorCode": code, "errorMessage": message },
            });
            serde_json::to_writer(&mut *out, &line).unwrap_or_default();
            out.push(b'\n');
        }
    }
}

impl super::create::Sender for Gemini {
    fn provider(&self) -> &'static str {
        "Gemini"
    }

    /// `{"key", "request"}`: the `GenerateContentRequest` as the adapter wrote it.
    fn request(
        &self,
        _settings: &RunSettings,
        custom_id: &str,
        body: Map<String, Value>,
        _model: &str,
    ) -> Value {
        serde_json::json!({ "key": custom_id, "request": body })
    }

    fn write_request(
        &self,
        _settings: &RunSettings,
        custom_id: &str,
        body: &str,
        _model: &str,
        out: &mut Vec<u8>,
    ) -> bool {
        out.extend_from_slice(b"{\"key\":");
        if serde_json::to_writer(&mut *out, custom_id).is_err() {
            return false;
        }
        out.extend_from_slice(b",\"request\":");
        out.extend_from_slice(body.trim().as_bytes());
        out.push(b'}');
        true
    }

    fn separator(&self) -> &'static [u8] {
        b"\n"
    }

    /// Uploads the input file, then creates the batch with llmbo's job name and token in its
    /// display name.
    async fn send(
        &self,
        job: &JobRequest<'_>,
        requests: &Source,
        entry: &BatchEntry,
    ) -> Result<String, Error> {
        let file = self.upload(job.job_name, requests).await?;
        let model = Provider::Gemini.api_model(&job.settings.model_name);
        // An embedding run's batch is made by its own call (`batches.create_embeddings` in
        // Google's SDK); its jobs are listed, read and cancelled as the others.
        let call = if job.settings.embedding.is_some() {
            "asyncBatchEmbedContent"
        } else {
            "batchGenerateContent"
        };
        let body = serde_json::json!({
            "batch": {
                "displayName": display_name(entry),
                "inputConfig": { "fileName": file },
            },
        });
        let batch = self
            .api
            .json(
                "create batch",
                Method::POST,
                &format!("/{VERSION}/models/{model}:{call}"),
                &Payload::Json(serde_json::to_vec(&body).unwrap_or_default().into()),
                false,
            )
            .await?;
        batch
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                self.api
                    .unreadable("create batch", "the answer has no batch name")
            })
    }

    /// The newest batch whose display name is this job's and token's.
    async fn unrecorded(&self, entry: &BatchEntry) -> Result<Option<String>, Error> {
        let page = self
            .api
            .json(
                "list batches",
                Method::GET,
                &format!("/{VERSION}/batches?pageSize=100"),
                &Payload::Empty,
                true,
            )
            .await?;
        let wanted = display_name(entry);
        Ok(page
            .get("operations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|batch| {
                batch
                    .get("metadata")
                    .and_then(|m| m.get("displayName"))
                    .and_then(Value::as_str)
                    == Some(wanted.as_str())
            })
            .and_then(|batch| batch.get("name")?.as_str().map(str::to_owned)))
    }

    async fn cancel(&self, batch_id: &str) -> Result<(), Error> {
        self.cancel_batch(batch_id).await
    }
}

impl Backend for Gemini {
    /// Sent once, through the store's register and the batch's display name (see
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

    /// The batch's responses file, once it has ended with one.
    fn output_files<'a>(&'a self, job: &'a JobDetails) -> BackendFuture<'a, OutputFiles> {
        Box::pin(async move {
            let batch = self.get_batch(&job.job_arn).await?;
            let file = batch
                .get("metadata")
                .and_then(|m| m.get("output"))
                .and_then(|o| o.get("responsesFile"))
                .and_then(Value::as_str);
            let mut outputs = Vec::new();
            if let Some(file) = file {
                let id = file.strip_prefix("files/").unwrap_or(file);
                self.register.index_file(id, &job.job_name).await?;
                outputs.push(self.api.url(&format!(
                    "/download/{VERSION}/files/{id}:download?alt=media"
                )));
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

    /// A file of the store, or a batch's responses file (as Bedrock's output lines).
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

    /// One `generateContent` call with the record's body.
    fn answer<'a>(
        &'a self,
        settings: &'a RunSettings,
        body: &'a Value,
    ) -> BackendFuture<'a, Answered> {
        Box::pin(async move {
            let model = Provider::Gemini.api_model(&settings.model_name);
            self.api
                .answer(
                    "generate content",
                    &format!("/{VERSION}/models/{model}:generateContent"),
                    body,
                )
                .await
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
            r#"{"key":"r-1","response":{"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":"STOP"}]}}"#,
            r#"{"response":{"candidates":[]},"key":"llmbo-h-abc"}"#,
            r#"{"key":"r-2","error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#,
            r#"{"key":"r-3","response":{"a":1},"error":{"code":1}}"#,
            r#"{"key":"r-4","embedding":{"values":[0.1]}}"#,
            r#"{"custom_id":"r-5","response":{"status_code":200,"body":{}}}"#,
            r#"{"key":"r-6","key":"r-7","response":{}}"#,
            r#"{"recordId":"r-8","modelOutput":{"a":1}}"#,
        ];
        let fast = super::super::served_lines_agree(Served::Gemini, bedrock_line, &lines);
        assert_eq!(fast, 4);
    }

    fn one_line(line: &[u8], table: &std::collections::HashMap<String, String>) -> Option<Vec<u8>> {
        super::super::one_line(bedrock_line, line, table)
    }

    #[test]
    fn responses_become_bedrock_lines() -> Result<(), Box<dyn std::error::Error>> {
        let table = std::collections::HashMap::new();
        let ok = br#"{"key":"r-1","response":{"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":"STOP"}]}}"#;
        assert_eq!(
            String::from_utf8(one_line(ok, &table).ok_or("a line")?)?,
            "{\"recordId\":\"r-1\",\"modelOutput\":{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}]},\"finishReason\":\"STOP\"}]}}\n"
        );
        let failed =
            br#"{"key":"r-2","error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#;
        let line: Value = serde_json::from_slice(&one_line(failed, &table).ok_or("a line")?)?;
        assert_eq!(
            line,
            serde_json::json!({"recordId": "r-2", "error": {"errorCode": "INVALID_ARGUMENT", "errorMessage": "bad"}})
        );
        assert_eq!(one_line(b"garbage\n", &table), Some(b"garbage\n".to_vec()));
        // An embedding batch's line, in `response` or beside the key: the same output.
        let expected =
            "{\"recordId\":\"r-3\",\"modelOutput\":{\"embedding\":{\"values\":[0.5,-0.5]}}}\n";
        for line in [
            &br#"{"key":"r-3","response":{"embedding":{"values":[0.5,-0.5]}}}"#[..],
            br#"{"key":"r-3","embedding":{"values":[0.5,-0.5]}}"#,
        ] {
            assert_eq!(
                String::from_utf8(one_line(line, &table).ok_or("a line")?)?,
                expected
            );
        }
        Ok(())
    }
    /// The request written from the body's text is the one built from its value, and the
    /// requests written as the input goes up are the ones read back from it at create.
    #[test]
    fn the_requests_written_fast_and_ahead_are_the_general_ones()
    -> Result<(), Box<dyn std::error::Error>> {
        let (_dir, store) = super::super::create::test_store()?;
        let api = Gemini::new("http://localhost:1", ApiKey::new("k"), Arc::clone(&store))?;
        super::super::create::fast_requests_agree(&api, 4)?;
        super::super::create::spooled_requests_agree(&api, store.as_ref())
    }
}
