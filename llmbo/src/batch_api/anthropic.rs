//! Anthropic's Message Batches API as a [`Backend`] (Anthropic, "Batch processing",
//! <https://docs.claude.com/en/docs/build-with-claude/batch-processing>, and the API reference,
//! <https://docs.claude.com/en/api/creating-message-batches>).
//!
//! A job's input is kept in the run's store as Bedrock's JSONL (`recordId`, `modelInput`), so
//! everything above the seam reads it as on Bedrock. Creating the job sends its lines inline,
//! each as `{"custom_id", "params"}`: the Claude body the adapter wrote, with the model named
//! in it and Bedrock's `anthropic_version` left out (the API takes the version as a header).
//! The results come back as Bedrock's output lines: a `succeeded` result is a `modelOutput`
//! (the Messages response is the body Bedrock's Claude answers with), an `errored` one an
//! `error` with the API's error type and message; `canceled` and `expired` results have no
//! line, so those records are missing and `retry_failed` sends them again.

use std::path::Path;
use std::sync::Arc;

use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::http::{ApiClient, ApiKey, Auth, Payload, Source};
use super::{BatchEntry, Register, rfc3339};
use crate::backend::{
    Answered, Backend, BackendFuture, InputWriter, JobRequest, LineMap, Lines, OutputFiles,
};
use crate::error::Error;
use crate::model::Provider;
use crate::settings::RunSettings;
use crate::status::{JobDetails, JobStatus};
use crate::store::FileStore;

/// The API's address when neither the builder nor `ANTHROPIC_BASE_URL` names another.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// The API version every call names (`anthropic-version`).
const API_VERSION: &str = "2023-06-01";

/// Requests and bytes a batch takes at most (Anthropic, "Batch processing": 100,000 requests
/// or 256 MB, whichever comes first). Data: the shard plan reads them from here.
pub(crate) const MAX_REQUESTS: usize = 100_000;
/// See [`MAX_REQUESTS`].
pub(crate) const MAX_BYTES: u64 = 256 * 1000 * 1000;

/// Anthropic's batch API, and the run store its inputs and register are kept in.
#[derive(Debug, Clone)]
pub(crate) struct Anthropic {
    api: ApiClient,
    store: Arc<dyn FileStore>,
    register: Register,
}

impl Anthropic {
    /// The API at `base_url` with `key`, keeping inputs in `store`.
    pub(crate) fn new(
        base_url: &str,
        key: ApiKey,
        store: Arc<dyn FileStore>,
    ) -> Result<Self, Error> {
        let api = ApiClient::new(
            "Anthropic",
            base_url,
            key,
            Auth::XApiKey,
            vec![("anthropic-version", API_VERSION.to_owned())],
        )?;
        Ok(Anthropic {
            api,
            register: Register {
                store: store.clone(),
            },
            store,
        })
    }

    /// The batch an entry reserved with no id yet may have made before its process died:
    /// among the newest batches, one created since the reservation, of the entry's size,
    /// that no job of this store has (Anthropic's batches carry no name or metadata).
    async fn unrecorded_batch(&self, entry: &BatchEntry) -> Result<Option<String>, Error> {
        let since = rfc3339(entry.reserved_at.saturating_sub(60));
        let page = self
            .api
            .json(
                "list batches",
                Method::GET,
                "/v1/messages/batches?limit=100",
                &Payload::Empty,
                true,
            )
            .await?;
        let mut found = Vec::new();
        for batch in page
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(id), Some(created)) = (
                batch.get("id").and_then(Value::as_str),
                batch.get("created_at").and_then(Value::as_str),
            ) else {
                continue;
            };
            let size: u64 = ["processing", "succeeded", "errored", "canceled", "expired"]
                .iter()
                .filter_map(|k| batch.get("request_counts")?.get(*k)?.as_u64())
                .sum();
            let recent = created.get(..19) >= since.get(..19);
            if recent && size == entry.records && self.register.by_batch(id).await?.is_none() {
                found.push(id.to_owned());
            }
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(Error::InvalidConfig {
                field: "job_name",
                reason: format!(
                    "the create of job `{}` was interrupted and {} Anthropic batches ({}) could be it; \
                     cancel the ones that are not, then resume",
                    entry.job_name,
                    found.len(),
                    found.join(", ")
                ),
            }),
        }
    }

    async fn cancel_batch(&self, batch_id: &str) -> Result<(), Error> {
        self.api
            .json(
                "cancel batch",
                Method::POST,
                &format!("/v1/messages/batches/{batch_id}/cancel"),
                &Payload::Empty,
                true,
            )
            .await
            .map(drop)
    }

    async fn get_batch(&self, batch_id: &str) -> Result<Value, Error> {
        self.api
            .get_job(&format!("/v1/messages/batches/{batch_id}"), batch_id)
            .await
    }

    /// The results of a batch, from its results URL, as Bedrock's output lines.
    async fn results(&self, url: &str) -> Result<Lines, Error> {
        let batch_id = url
            .split("/messages/batches/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        let entry = self.register.by_batch(batch_id).await?;
        let table = self.register.table_of(entry).await?;
        let map = LineMap::new(crate::jsonl::Served::Anthropic, bedrock_line, table);
        self.api.lines("get results", url, map).await
    }

    /// A batch as llmbo describes a job.
    async fn details(&self, batch: &Value) -> Result<JobDetails, Error> {
        let id = batch
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let entry = self.register.by_batch(&id).await?;
        let count = |k: &str| {
            batch
                .get("request_counts")
                .and_then(|c| c.get(k))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        let (processing, succeeded, errored, canceled, expired) = (
            count("processing"),
            count("succeeded"),
            count("errored"),
            count("canceled"),
            count("expired"),
        );
        let total = processing + succeeded + errored + canceled + expired;
        let cancelled = batch
            .get("cancel_initiated_at")
            .is_some_and(|v| !v.is_null());
        let status = match batch.get("processing_status").and_then(Value::as_str) {
            Some("in_progress") => JobStatus::InProgress,
            Some("canceling") => JobStatus::Stopping,
            Some("ended") if cancelled => JobStatus::Stopped,
            Some("ended") if total > 0 && expired == total => JobStatus::Expired,
            Some("ended") if succeeded == total => JobStatus::Completed,
            Some("ended") => JobStatus::PartiallyCompleted,
            Some(other) => JobStatus::Unknown(other.to_owned()),
            None => JobStatus::Unknown(String::new()),
        };
        let message = match &status {
            JobStatus::Expired => Some("the batch expired before any request was answered".into()),
            _ => None,
        };
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
            total_record_count: Some(total),
            processed_record_count: Some(total - processing),
            success_record_count: Some(succeeded),
            error_record_count: Some(errored + canceled + expired),
        })
    }
}

/// A line of a batch's results.
#[derive(Deserialize)]
struct ResultLine<'a> {
    #[serde(borrow)]
    custom_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    result: ResultBody<'a>,
}

#[derive(Deserialize)]
struct ResultBody<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<Value>,
}

/// Appends a result line to `out` as Bedrock's output line; nothing for a canceled or expired
/// request (no line: the record is missing). A line that cannot be read is passed on as it
/// is, for the reader to report.
fn bedrock_line(line: &[u8], table: &std::collections::HashMap<String, String>, out: &mut Vec<u8>) {
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let Ok(result) = serde_json::from_slice::<ResultLine<'_>>(line) else {
        out.extend_from_slice(line);
        return;
    };
    let record_id = table
        .get(result.custom_id.as_ref())
        .map_or(result.custom_id.as_ref(), String::as_str);
    match (result.result.kind.as_ref(), result.result.message) {
        ("succeeded", Some(message)) => {
            out.extend_from_slice(b"{\"recordId\":");
            serde_json::to_writer(&mut *out, record_id).unwrap_or_default();
            out.extend_from_slice(b",\"modelOutput\":");
            out.extend_from_slice(message.get().as_bytes());
            out.extend_from_slice(b"}\n");
        }
        ("errored", _) => {
            // `error` is an error response: `{"type": "error", "error": {"type", "message"}}`.
            let error = result.result.error.unwrap_or(Value::Null);
            let inner = error.get("error").unwrap_or(&error);
            let code = inner
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("errored");
            let message = inner
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
        ("canceled" | "expired", _) => {}
        (other, _) => {
            let line = serde_json::json!({
                "recordId": record_id,
                "error": {
                    "errorCode": other,
                    "errorMessage": format!("the result is `{other}` with no message"),
                },
            });
            serde_json::to_writer(&mut *out, &line).unwrap_or_default();
            out.push(b'\n');
        }
    }
}

impl super::create::Sender for Anthropic {
    fn provider(&self) -> &'static str {
        "Anthropic"
    }

    /// `{"custom_id", "params"}`: the Claude body with the model named in it, and without
    /// Bedrock's `anthropic_version` (the API takes the version as a header).
    fn request(
        &self,
        _settings: &RunSettings,
        custom_id: &str,
        mut body: Map<String, Value>,
        model: &str,
    ) -> Value {
        body.remove("anthropic_version");
        body.insert("model".into(), Value::String(model.to_owned()));
        serde_json::json!({ "custom_id": custom_id, "params": body })
    }

    /// The fast form where Bedrock's `anthropic_version` leads the body, as the Claude
    /// adapter writes it (any other body takes the general path).
    fn write_request(
        &self,
        _settings: &RunSettings,
        custom_id: &str,
        body: &str,
        model: &str,
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(rest) = body
            .trim()
            .strip_prefix("{\"anthropic_version\":\"bedrock-2023-05-31\",")
        else {
            return false;
        };
        // Another `anthropic_version` further on would be kept: the general path then.
        if rest.contains("\"anthropic_version\"") {
            return false;
        }
        out.extend_from_slice(b"{\"custom_id\":");
        if serde_json::to_writer(&mut *out, custom_id).is_err() {
            return false;
        }
        out.extend_from_slice(b",\"params\":{\"model\":");
        if serde_json::to_writer(&mut *out, model).is_err() {
            return false;
        }
        out.push(b',');
        out.extend_from_slice(rest.as_bytes());
        out.push(b'}');
        true
    }

    fn separator(&self) -> &'static [u8] {
        b","
    }

    /// `POST /v1/messages/batches` with the requests inline.
    async fn send(
        &self,
        _job: &JobRequest<'_>,
        requests: &Source,
        _entry: &BatchEntry,
    ) -> Result<String, Error> {
        let payload = Payload::File {
            head: bytes::Bytes::from_static(b"{\"requests\":["),
            body: requests.clone(),
            tail: bytes::Bytes::from_static(b"]}"),
            content_type: "application/json".into(),
        };
        let batch = self
            .api
            .json(
                "create batch",
                Method::POST,
                "/v1/messages/batches",
                &payload,
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

    async fn unrecorded(&self, entry: &BatchEntry) -> Result<Option<String>, Error> {
        self.unrecorded_batch(entry).await
    }

    async fn cancel(&self, batch_id: &str) -> Result<(), Error> {
        self.cancel_batch(batch_id).await
    }
}

impl Backend for Anthropic {
    /// Sent once, through the store's register (see [`super::create`]).
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

    /// The batches this store's register holds, newest first.
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

    /// The batch's results URL, once it has ended; no manifest.
    fn output_files<'a>(&'a self, job: &'a JobDetails) -> BackendFuture<'a, OutputFiles> {
        Box::pin(async move {
            let batch = self.get_batch(&job.job_arn).await?;
            let outputs = batch
                .get("results_url")
                .and_then(Value::as_str)
                .map(|url| vec![url.to_owned()])
                .unwrap_or_default();
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

    /// A file of the store, or a batch's results (as Bedrock's output lines).
    fn lines<'a>(&'a self, file: &'a str) -> BackendFuture<'a, Lines> {
        Box::pin(async move {
            if self.store.key_of(file).is_some() {
                self.store.lines(file).await
            } else {
                self.results(file).await
            }
        })
    }

    fn version<'a>(&'a self, file: &'a str) -> BackendFuture<'a, Option<String>> {
        Box::pin(self.store.version(file))
    }

    /// One Messages call (`POST /v1/messages`) with the record's body.
    fn answer<'a>(
        &'a self,
        settings: &'a RunSettings,
        body: &'a Value,
    ) -> BackendFuture<'a, Answered> {
        Box::pin(async move {
            let mut body = body.clone();
            if let Value::Object(map) = &mut body {
                map.remove("anthropic_version");
                map.insert(
                    "model".into(),
                    Value::String(
                        Provider::Anthropic
                            .api_model(&settings.model_name)
                            .to_owned(),
                    ),
                );
            }
            self.api
                .answer("create message", "/v1/messages", &body)
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
            r#"{"custom_id":"r-1","result":{"type":"succeeded","message":{"content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn"}}}"#,
            r#"{"result":{"type":"succeeded","message":{"content":[],"stop_reason":"end_turn"}},"custom_id":"llmbo-h-abc"}"#,
            r#"{"custom_id":"r-\"q\"","result":{"type":"succeeded","message":{"id":"m"}}}"#,
            r#"{"custom_id":"r-2","result":{"type":"errored","error":{"type":"error","error":{"type":"overloaded_error","message":"busy"}}}}"#,
            r#"{"custom_id":"r-3","result":{"type":"expired"}}"#,
            r#"{"custom_id":"r-4","result":{"type":"canceled"}}"#,
            r#"{"custom_id":"r-5","custom_id":"r-6","result":{"type":"succeeded","message":{}}}"#,
            r#"{"custom_id":"r-7","result":{"type":"succeeded"}}"#,
            r#"{"custom_id":"r-8","result":{"type":"succeeded","message":null}}"#,
            r#"{"key":"r-9","response":{"a":1}}"#,
            r#"{"recordId":"r-10","modelOutput":{"a":1}}"#,
        ];
        let fast = super::super::served_lines_agree(Served::Anthropic, bedrock_line, &lines);
        assert_eq!(fast, 4);
    }

    fn one_line(line: &[u8], table: &std::collections::HashMap<String, String>) -> Option<Vec<u8>> {
        super::super::one_line(bedrock_line, line, table)
    }

    #[test]
    fn results_become_bedrock_lines() -> Result<(), Box<dyn std::error::Error>> {
        let mut table = std::collections::HashMap::new();
        table.insert("llmbo-h-abc".to_owned(), "a/b".to_owned());
        let ok = br#"{"custom_id":"r-1","result":{"type":"succeeded","message":{"content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn"}}}"#;
        let line = one_line(ok, &table).ok_or("a line")?;
        assert_eq!(
            String::from_utf8(line)?,
            "{\"recordId\":\"r-1\",\"modelOutput\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"stop_reason\":\"end_turn\"}}\n"
        );
        let errored = br#"{"custom_id":"llmbo-h-abc","result":{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}}}"#;
        let line: Value = serde_json::from_slice(&one_line(errored, &table).ok_or("a line")?)?;
        assert_eq!(
            line,
            serde_json::json!({"recordId": "a/b", "error": {"errorCode": "invalid_request_error", "errorMessage": "bad"}})
        );
        for kind in ["canceled", "expired"] {
            let line = format!(r#"{{"custom_id":"r-2","result":{{"type":"{kind}"}}}}"#);
            assert_eq!(one_line(line.as_bytes(), &table), None);
        }
        assert_eq!(one_line(b"garbage\n", &table), Some(b"garbage\n".to_vec()));
        Ok(())
    }
    /// The request written from the body's text is the one built from its value, and the
    /// requests written as the input goes up are the ones read back from it at create.
    #[test]
    fn the_requests_written_fast_and_ahead_are_the_general_ones()
    -> Result<(), Box<dyn std::error::Error>> {
        let (_dir, store) = super::super::create::test_store()?;
        let api = Anthropic::new("http://localhost:1", ApiKey::new("k"), Arc::clone(&store))?;
        super::super::create::fast_requests_agree(&api, 1)?;
        super::super::create::spooled_requests_agree(&api, store.as_ref())
    }
}
