//! Speed per batch API: N typed records (default 50,000) through Bedrock, Anthropic's Message
//! Batches, OpenAI's Batch API and Gemini's batch mode, all on llmbo-local in a process of its own, each step
//! against a floor measured in the same run on the same bytes:
//!
//! - **prepare and upload**: `prepare_run` → `push_requests_to_s3` → `create` (Anthropic's
//!   requests go inline with the create, OpenAI's input file is uploaded by it), against
//!   `serde_json` writing the job's input lines (parsed beforehand) plus one raw transfer of
//!   those bytes (one S3 `PutObject`);
//! - **download and load**: `download_results` → `load_results` into `Person`s, every record
//!   checked, against one raw GET of the provider's output bytes plus `serde_json` reading
//!   each of their lines (`IgnoredAny`: the least any reader must do).
//!
//! Each side is measured `ROUNDS` times (default 7: the machine this runs on varies by a
//! third from one round to the next), in turns, and the best kept.
//! `cargo run --release -p llmbo --features anthropic,openai,gemini --example providers_speed [N]`.

use std::time::{Duration, Instant};

#[path = "../support/local.rs"]
mod local;
#[path = "../support/mod.rs"]
mod support;

use llmbo::model::Provider;
use llmbo::{Inferer, mode::Structured};
use support::Person;

type Failure = Box<dyn std::error::Error>;

/// llmbo-local, and a client of its batch APIs.
struct Server {
    local: local::Server,
    http: reqwest::Client,
}

impl Server {
    async fn get(&self, url: &str, provider: Provider) -> Result<bytes::Bytes, Failure> {
        let request = self.authed(self.http.get(url), provider);
        Ok(request.send().await?.error_for_status()?.bytes().await?)
    }

    fn authed(
        &self,
        request: reqwest::RequestBuilder,
        provider: Provider,
    ) -> reqwest::RequestBuilder {
        match provider {
            Provider::Anthropic => request
                .header("x-api-key", "test")
                .header("anthropic-version", "2023-06-01"),
            Provider::Gemini => request.header("x-goog-api-key", "test"),
            _ => request.bearer_auth("test"),
        }
    }

    /// POSTs `body` (JSON) to `path`, the answer as JSON.
    async fn post(
        &self,
        provider: Provider,
        url: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<serde_json::Value, Failure> {
        let request = self
            .authed(self.http.post(url), provider)
            .header("content-type", content_type)
            .body(body);
        Ok(serde_json::from_slice(
            &request.send().await?.error_for_status()?.bytes().await?,
        )?)
    }

    /// The API floor of a job's input: `serde_json` writing the requests the provider takes
    /// (built beforehand from the job's Bedrock lines) and the calls a hand-written client
    /// makes to have them accepted as a batch: Anthropic's create with the requests inline,
    /// OpenAI's file upload and create, Gemini's resumable upload and create. The batch is
    /// cancelled after the clock stops. Bedrock: `None` (its floor is the `PutObject`).
    async fn api_floor(
        &self,
        provider: Provider,
        lines: &[serde_json::Value],
    ) -> Result<Option<f64>, Failure> {
        use serde_json::{Value, json};
        let requests: Vec<Value> = lines
            .iter()
            .map(|line| {
                let id = line["recordId"].clone();
                let mut body = line["modelInput"].clone();
                match provider {
                    Provider::Anthropic => {
                        if let Some(b) = body.as_object_mut() {
                            b.remove("anthropic_version");
                            b.insert("model".into(), json!("claude-3-haiku-20240307"));
                        }
                        json!({"custom_id": id, "params": body})
                    }
                    Provider::OpenAi => {
                        if let Some(b) = body.as_object_mut() {
                            b.insert("model".into(), json!("gpt-4o-mini"));
                        }
                        json!({"custom_id": id, "method": "POST", "url": "/v1/chat/completions", "body": body})
                    }
                    _ => json!({"key": id, "request": body}),
                }
            })
            .collect();
        let endpoint = &self.local.endpoint;
        let started = Instant::now();
        let cancel = match provider {
            Provider::Anthropic => {
                let mut body = Vec::with_capacity(64 << 20);
                body.extend_from_slice(b"{\"requests\":[");
                for (i, request) in requests.iter().enumerate() {
                    if i > 0 {
                        body.push(b',');
                    }
                    serde_json::to_writer(&mut body, request)?;
                }
                body.extend_from_slice(b"]}");
                let batch = self
                    .post(
                        provider,
                        &format!("{endpoint}/v1/messages/batches"),
                        body,
                        "application/json",
                    )
                    .await?;
                format!(
                    "{endpoint}/v1/messages/batches/{}/cancel",
                    batch["id"].as_str().ok_or("no id")?
                )
            }
            Provider::OpenAi => {
                let boundary = "llmbo-floor-boundary";
                let mut body = Vec::with_capacity(64 << 20);
                body.extend_from_slice(
                    format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
                         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"floor.jsonl\"\r\n\
                         Content-Type: application/jsonl\r\n\r\n"
                    )
                    .as_bytes(),
                );
                for request in &requests {
                    serde_json::to_writer(&mut body, request)?;
                    body.push(b'\n');
                }
                body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
                let file = self
                    .post(
                        provider,
                        &format!("{endpoint}/v1/files"),
                        body,
                        &format!("multipart/form-data; boundary={boundary}"),
                    )
                    .await?;
                let create = json!({"input_file_id": file["id"], "endpoint": "/v1/chat/completions",
                                    "completion_window": "24h"});
                let batch = self
                    .post(
                        provider,
                        &format!("{endpoint}/v1/batches"),
                        serde_json::to_vec(&create)?,
                        "application/json",
                    )
                    .await?;
                format!(
                    "{endpoint}/v1/batches/{}/cancel",
                    batch["id"].as_str().ok_or("no id")?
                )
            }
            Provider::Gemini => {
                let mut body = Vec::with_capacity(64 << 20);
                for request in &requests {
                    serde_json::to_writer(&mut body, request)?;
                    body.push(b'\n');
                }
                let start = self
                    .authed(
                        self.http.post(format!("{endpoint}/upload/v1beta/files")),
                        provider,
                    )
                    .header("x-goog-upload-protocol", "resumable")
                    .header("x-goog-upload-command", "start")
                    .header(
                        "x-goog-upload-header-content-length",
                        body.len().to_string(),
                    )
                    .header("x-goog-upload-header-content-type", "application/jsonl")
                    .header("content-type", "application/json")
                    .body(r#"{"file": {"displayName": "floor"}}"#)
                    .send()
                    .await?
                    .error_for_status()?;
                let url = start
                    .headers()
                    .get("x-goog-upload-url")
                    .and_then(|v| v.to_str().ok())
                    .ok_or("no upload URL")?
                    .to_owned();
                let file: Value = serde_json::from_slice(
                    &self
                        .authed(self.http.post(url), provider)
                        .header("x-goog-upload-command", "upload, finalize")
                        .header("x-goog-upload-offset", "0")
                        .body(body)
                        .send()
                        .await?
                        .error_for_status()?
                        .bytes()
                        .await?,
                )?;
                let create = json!({"batch": {"displayName": "floor",
                                              "inputConfig": {"fileName": file["file"]["name"]}}});
                let batch = self
                    .post(
                        provider,
                        &format!("{endpoint}/v1beta/models/gemini-2.5-flash:batchGenerateContent"),
                        serde_json::to_vec(&create)?,
                        "application/json",
                    )
                    .await?;
                format!(
                    "{endpoint}/v1beta/{}:cancel",
                    batch["name"].as_str().ok_or("no name")?
                )
            }
            _ => return Ok(None),
        };
        let elapsed = started.elapsed().as_secs_f64();
        self.authed(self.http.post(cancel), provider)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await?
            .error_for_status()?;
        Ok(Some(elapsed))
    }

    /// The bytes of a finished job's output as the provider serves them.
    async fn output_bytes(&self, provider: Provider, job: &str) -> Result<Vec<u8>, Failure> {
        match provider {
            Provider::Anthropic => {
                let url = format!("{}/v1/messages/batches/{job}", self.local.endpoint);
                let batch: serde_json::Value =
                    serde_json::from_slice(&self.get(&url, provider).await?)?;
                let results = batch["results_url"].as_str().ok_or("no results URL")?;
                Ok(self.get(results, provider).await?.to_vec())
            }
            Provider::Gemini => {
                let url = format!("{}/v1beta/{job}", self.local.endpoint);
                let batch: serde_json::Value =
                    serde_json::from_slice(&self.get(&url, provider).await?)?;
                let file = batch["metadata"]["output"]["responsesFile"]
                    .as_str()
                    .ok_or("no responses file")?;
                let id = file.trim_start_matches("files/");
                let url = format!(
                    "{}/download/v1beta/files/{id}:download?alt=media",
                    self.local.endpoint
                );
                Ok(self.get(&url, provider).await?.to_vec())
            }
            Provider::OpenAi => {
                let url = format!("{}/v1/batches/{job}", self.local.endpoint);
                let batch: serde_json::Value =
                    serde_json::from_slice(&self.get(&url, provider).await?)?;
                let file = batch["output_file_id"].as_str().ok_or("no output file")?;
                let url = format!("{}/v1/files/{file}/content", self.local.endpoint);
                Ok(self.get(&url, provider).await?.to_vec())
            }
            _ => {
                let s3 = aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::config::Builder::from(&self.local.sdk)
                        .force_path_style(true)
                        .build(),
                );
                let id = job.rsplit('/').next().unwrap_or(job);
                let listed = s3
                    .list_objects_v2()
                    .bucket("llmbo-local")
                    .prefix(format!("output/{id}/"))
                    .send()
                    .await?;
                let mut bytes = Vec::new();
                for object in listed.contents() {
                    let key = object.key().unwrap_or_default();
                    if key.ends_with(".jsonl.out") {
                        let body = s3
                            .get_object()
                            .bucket("llmbo-local")
                            .key(key)
                            .send()
                            .await?;
                        bytes.extend_from_slice(&body.body.collect().await?.into_bytes());
                    }
                }
                Ok(bytes)
            }
        }
    }

    /// One raw transfer of `bytes` to the server: one S3 `PutObject`.
    async fn put(&self, bytes: Vec<u8>) -> Result<(), Failure> {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.local.sdk)
                .force_path_style(true)
                .build(),
        );
        s3.put_object()
            .bucket("llmbo-local")
            .key("floor/input.jsonl")
            .body(bytes.into())
            .send()
            .await?;
        Ok(())
    }
}

/// The typed mirrors of each provider's output line, for the typed floor: each line read
/// into `Person` by serde_json alone (a JSON-schema answer's text read a second time, as
/// any reader must).
mod typed {
    use super::Person;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct AnthropicLine {
        #[serde(rename = "custom_id")]
        _custom_id: String,
        result: AnthropicResult,
    }
    #[derive(Deserialize)]
    struct AnthropicResult {
        message: Option<AnthropicMessage>,
    }
    #[derive(Deserialize)]
    struct AnthropicMessage {
        content: Vec<AnthropicBlock>,
    }
    #[derive(Deserialize)]
    struct AnthropicBlock {
        input: Option<Person>,
    }

    #[derive(Deserialize)]
    struct OpenAiLine {
        #[serde(rename = "custom_id")]
        _custom_id: String,
        response: OpenAiResponse,
    }
    #[derive(Deserialize)]
    struct OpenAiResponse {
        body: OpenAiBody,
    }
    #[derive(Deserialize)]
    struct OpenAiBody {
        choices: Vec<OpenAiChoice>,
    }
    #[derive(Deserialize)]
    struct OpenAiChoice {
        message: OpenAiMessage,
    }
    #[derive(Deserialize)]
    struct OpenAiMessage {
        content: Option<String>,
    }

    #[derive(Deserialize)]
    struct GeminiLine {
        #[serde(rename = "key")]
        _key: String,
        response: GeminiResponse,
    }
    #[derive(Deserialize)]
    struct GeminiResponse {
        candidates: Vec<GeminiCandidate>,
    }
    #[derive(Deserialize)]
    struct GeminiCandidate {
        content: GeminiContent,
    }
    #[derive(Deserialize)]
    struct GeminiContent {
        parts: Vec<GeminiPart>,
    }
    #[derive(Deserialize)]
    struct GeminiPart {
        text: Option<String>,
    }

    fn person(text: Option<&str>) -> bool {
        text.is_some_and(|t| serde_json::from_str::<Person>(t).is_ok())
    }

    /// The lines of `bytes` that came through as a `Person`.
    pub fn count(provider: llmbo::model::Provider, bytes: &[u8]) -> usize {
        use llmbo::model::Provider;
        let lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty());
        match provider {
            Provider::Anthropic => lines
                .filter_map(|l| serde_json::from_slice::<AnthropicLine>(l).ok())
                .filter(|l| {
                    l.result
                        .message
                        .as_ref()
                        .is_some_and(|m| m.content.iter().any(|b| b.input.is_some()))
                })
                .count(),
            Provider::OpenAi => lines
                .filter_map(|l| serde_json::from_slice::<OpenAiLine>(l).ok())
                .filter(|l| {
                    person(
                        l.response
                            .body
                            .choices
                            .first()
                            .and_then(|c| c.message.content.as_deref()),
                    )
                })
                .count(),
            Provider::Gemini => lines
                .filter_map(|l| serde_json::from_slice::<GeminiLine>(l).ok())
                .filter(|l| {
                    person(
                        l.response
                            .candidates
                            .first()
                            .and_then(|c| c.content.parts.first())
                            .and_then(|p| p.text.as_deref()),
                    )
                })
                .count(),
            _ => super::support::serde_parse_bytes(bytes),
        }
    }
}

/// The builder of one run on `provider`.
fn inferer(
    server: &Server,
    provider: Provider,
    name: &str,
    store: &std::path::Path,
) -> llmbo::builder::Configured<Structured<Person>> {
    match provider {
        Provider::Anthropic => Inferer::<Structured<Person>>::anthropic()
            .model_name("claude-3-haiku-20240307")
            .job_name(name)
            .store(store.display().to_string())
            .base_url(server.local.endpoint.clone())
            .api_key("test"),
        Provider::Gemini => Inferer::<Structured<Person>>::gemini()
            .model_name("gemini-2.5-flash")
            .job_name(name)
            .store(store.display().to_string())
            .base_url(server.local.endpoint.clone())
            .api_key("test"),
        Provider::OpenAi => Inferer::<Structured<Person>>::openai()
            .model_name("gpt-4o-mini")
            .job_name(name)
            .store(store.display().to_string())
            .base_url(format!("{}/v1", server.local.endpoint))
            .api_key("test"),
        _ => Inferer::<Structured<Person>>::builder()
            .model_name("anthropic.claude-3-haiku-20240307-v1:0")
            .bucket_name("llmbo-local")
            .region("us-east-1")
            .job_name(name)
            .role_arn("arn:aws:iam::000000000000:role/llmbo-local")
            .sdk_config(server.local.sdk.clone()),
    }
}

/// The job's input as llmbo wrote it (the lines the floor serializes).
async fn input_bytes(
    server: &Server,
    provider: Provider,
    store: &std::path::Path,
    name: &str,
) -> Result<Vec<u8>, Failure> {
    match provider {
        Provider::Bedrock => {
            let s3 = aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&server.local.sdk)
                    .force_path_style(true)
                    .build(),
            );
            let object = s3
                .get_object()
                .bucket("llmbo-local")
                .key(format!("input/{name}.jsonl"))
                .send()
                .await?;
            Ok(object.body.collect().await?.into_bytes().to_vec())
        }
        _ => Ok(std::fs::read(store.join(format!("input/{name}.jsonl")))?),
    }
}

#[derive(Default)]
struct Best {
    upload: f64,
    upload_floor: f64,
    load: f64,
    load_floor: f64,
    /// One GET plus each line into the typed mirror of the provider's line.
    typed_floor: f64,
    /// The provider's own calls taking the same requests (none on Bedrock).
    api_floor: f64,
    /// Each round's own ratios, llmbo against the floor measured right after it: prepare and
    /// upload against the API floor (Bedrock: the `PutObject` floor), and download and load
    /// against the typed floor.
    upload_ratios: Vec<f64>,
    load_ratios: Vec<f64>,
}

/// The middle of `ratios` (the upper middle of an even number).
fn median(ratios: &[f64]) -> f64 {
    let mut sorted = ratios.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

async fn measure(
    server: &Server,
    provider: Provider,
    n: usize,
    round: usize,
    best: &mut Best,
) -> Result<(), Failure> {
    let store = tempfile::tempdir()?;
    let name = format!("speed-{}-{round}", provider.name().to_lowercase());
    let built = inferer(server, provider, &name, store.path())
        .build()
        .await?;
    let inputs = support::inputs(n);

    let started = Instant::now();
    let prepared = built.prepare_run(inputs)?;
    let prepare = started.elapsed().as_secs_f64();
    let pushed = prepared.push_requests_to_s3().await?;
    let push = started.elapsed().as_secs_f64();
    let run = pushed.create().await?;
    let upload = started.elapsed().as_secs_f64();
    if std::env::var_os("SPEED_DEBUG").is_some() {
        eprintln!(
            "{provider:?}: prepare {prepare:.3} s, push {:.3} s, create {:.3} s",
            push - prepare,
            upload - push
        );
    }

    // The floor of the same bytes: serde_json writing the lines, one raw transfer.
    let bytes = input_bytes(server, provider, store.path(), &name).await?;
    let lines: Vec<serde_json::Value> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(serde_json::from_slice)
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let mut written = Vec::with_capacity(bytes.len());
    for line in &lines {
        serde_json::to_writer(&mut written, line)?;
        written.push(b'\n');
    }
    server.put(written).await?;
    let upload_floor = started.elapsed().as_secs_f64();
    let api_floor = server.api_floor(provider, &lines).await?;

    let finished = run.poll_progress(Duration::from_millis(50)).await?;
    let job = finished.run_record().shards[0]
        .job_arn
        .clone()
        .ok_or("no job")?;
    let started = Instant::now();
    let downloaded = finished.download_results().await?;
    let fetched = started.elapsed().as_secs_f64();
    let results = downloaded.load_results()?;
    let load = started.elapsed().as_secs_f64();
    if std::env::var_os("SPEED_DEBUG").is_some() {
        eprintln!(
            "{provider:?}: download {fetched:.3} s, load {:.3} s",
            load - fetched
        );
    }
    let ok = results.records.iter().filter(|r| r.outcome.is_ok()).count();
    let in_order = results
        .records
        .iter()
        .enumerate()
        .all(|(i, r)| r.record_id == format!("{i:06}"));
    if ok != n || !in_order {
        return Err(format!("{provider:?}: {ok} of {n} parsed, in order: {in_order}").into());
    }

    let started = Instant::now();
    let output = server.output_bytes(provider, &job).await?;
    let mut count = 0usize;
    for line in output.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let _: serde::de::IgnoredAny = serde_json::from_slice(line)?;
        count += 1;
    }
    let load_floor = started.elapsed().as_secs_f64();
    if count != n {
        return Err(format!("{provider:?}: {count} output lines for {n} records").into());
    }
    // The typed floor: the same GET, each line read into the same type, `Person`, through
    // serde_json alone (a typed mirror of the provider's line).
    let started = Instant::now();
    let output = server.output_bytes(provider, &job).await?;
    let typed = typed::count(provider, &output);
    let typed_floor = started.elapsed().as_secs_f64();
    if typed != n {
        return Err(format!("{provider:?} typed floor: {typed} of {n} lines read").into());
    }
    let keep = |best: &mut f64, now: f64| {
        if *best == 0.0 || now < *best {
            *best = now;
        }
    };
    best.upload_ratios
        .push(upload / api_floor.unwrap_or(upload_floor));
    best.load_ratios.push(load / typed_floor);
    keep(&mut best.upload, upload);
    keep(&mut best.upload_floor, upload_floor);
    if let Some(api_floor) = api_floor {
        keep(&mut best.api_floor, api_floor);
    }
    keep(&mut best.load, load);
    keep(&mut best.load_floor, load_floor);
    keep(&mut best.typed_floor, typed_floor);
    Ok(())
}

async fn run(n: usize, rounds: usize) -> Result<(), Failure> {
    let server = Server {
        local: local::Server::start().await?,
        http: reqwest::Client::new(),
    };
    println!("{n} typed records a run, best of {rounds}; ratio = llmbo / floor (target <= 1.25)");
    // ONLY=bedrock (or anthropic, openai, gemini) measures one API.
    let only = std::env::var("ONLY").ok();
    for provider in [
        Provider::Bedrock,
        Provider::Anthropic,
        Provider::OpenAi,
        Provider::Gemini,
    ] {
        if only
            .as_deref()
            .is_some_and(|o| !o.eq_ignore_ascii_case(provider.name()))
        {
            continue;
        }
        let mut best = Best::default();
        for round in 0..rounds {
            measure(&server, provider, n, round, &mut best).await?;
        }
        println!(
            "{:<9} prepare+upload {:.3} s / floor {:.3} s = {:.2}   download+load {:.3} s / floor {:.3} s = {:.2}",
            provider.name(),
            best.upload,
            best.upload_floor,
            best.upload / best.upload_floor,
            best.load,
            best.load_floor,
            best.load / best.load_floor,
        );
        if best.api_floor > 0.0 {
            println!(
                "{:<9} prepare+upload {:.3} s / API floor {:.3} s = {:.2}   (the requests written, uploaded and created by hand)",
                "",
                best.upload,
                best.api_floor,
                best.upload / best.api_floor,
            );
        }
        println!(
            "{:<9} download+load {:.3} s / typed floor {:.3} s = {:.2}   (one GET, each line into Person by serde_json)",
            "",
            best.load,
            best.typed_floor,
            best.load / best.typed_floor,
        );
        println!(
            "{:<9} each round against its own floors, median of {}: prepare+upload {:.2}, download+load {:.2}",
            "",
            best.upload_ratios.len(),
            median(&best.upload_ratios),
            median(&best.load_ratios),
        );
    }
    server.local.stop()
}

fn main() -> Result<(), Failure> {
    if local::serve_if_asked()? {
        return Ok(());
    }
    let args: Vec<String> = std::env::args().collect();
    let n = args
        .get(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(support::RECORDS);
    let rounds = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    tokio::runtime::Runtime::new()?.block_on(run(n, rounds))
}
