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
//! Each side is measured `ROUNDS` times (default 3), in turns, and the best kept.
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
        let request = self.http.get(url);
        let request = match provider {
            Provider::Anthropic => request
                .header("x-api-key", "test")
                .header("anthropic-version", "2023-06-01"),
            Provider::Gemini => request.header("x-goog-api-key", "test"),
            _ => request.bearer_auth("test"),
        };
        Ok(request.send().await?.error_for_status()?.bytes().await?)
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
    /// Bedrock: one GET plus each line into the typed mirror of its answer.
    typed_floor: f64,
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
    let pushed = built.prepare_run(inputs)?.push_requests_to_s3().await?;
    let push = started.elapsed().as_secs_f64();
    let run = pushed.create().await?;
    let upload = started.elapsed().as_secs_f64();
    if std::env::var_os("SPEED_DEBUG").is_some() {
        eprintln!(
            "{provider:?}: prepare+push {push:.3} s, create {:.3} s",
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
    // The typed floor (Bedrock's lines are Claude's answers): the same GET, each line read
    // into the same type, `Person`, through serde_json alone.
    let mut typed_floor = 0.0;
    if provider == Provider::Bedrock {
        let started = Instant::now();
        let output = server.output_bytes(provider, &job).await?;
        let typed = support::serde_parse_bytes(&output);
        typed_floor = started.elapsed().as_secs_f64();
        if typed != n {
            return Err(format!("typed floor: {typed} of {n} lines read").into());
        }
    }
    let keep = |best: &mut f64, now: f64| {
        if *best == 0.0 || now < *best {
            *best = now;
        }
    };
    keep(&mut best.upload, upload);
    keep(&mut best.upload_floor, upload_floor);
    keep(&mut best.load, load);
    keep(&mut best.load_floor, load_floor);
    if typed_floor > 0.0 {
        keep(&mut best.typed_floor, typed_floor);
    }
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
        if best.typed_floor > 0.0 {
            println!(
                "{:<9} download+load {:.3} s / typed floor {:.3} s = {:.2}   (one GET, each line into Person by serde_json)",
                "",
                best.load,
                best.typed_floor,
                best.load / best.typed_floor,
            );
        }
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
        .unwrap_or(3);
    tokio::runtime::Runtime::new()?.block_on(run(n, rounds))
}
