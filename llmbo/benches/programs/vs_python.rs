//! llmbo's side of the comparison with the Python original (`benches/vs_python/run.sh`): one
//! 50,000-record structured Claude job through the single-job steps against the llmbo-local at
//! `AWS_ENDPOINT_URL`, timing prepare+push and download+load. Prints one JSON line.

use std::time::{Duration, Instant};

use llmbo::{ModelInput, StructuredBatchInferer};

/// A person named in the text.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)]
struct Person {
    /// Full name as written.
    name: String,
    /// Age in years, if given.
    age: Option<u32>,
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let records: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(50_000);
    let endpoint = std::env::var("AWS_ENDPOINT_URL")?;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "bench",
        ))
        .load()
        .await;
    // Built before the clock starts, as the original's side builds its dict of inputs.
    let inputs: Vec<(String, ModelInput)> = (0..records)
        .map(|i| {
            let input = ModelInput::new()
                .system("Extract the person the text is about.")
                .user(format!("Article {i}: Ada Lovelace, aged {}.", 20 + i % 60))
                .max_tokens(2000);
            (format!("{i:05}"), input)
        })
        .collect();
    let ready = StructuredBatchInferer::<Person>::builder()
        .model_name("anthropic.claude-3-haiku-20240307-v1:0")
        .bucket_name("llmbo-local")
        .region("us-east-1")
        .job_name(format!("vs-python-rust-{}", std::process::id()))
        .role_arn("arn:aws:iam::000000000000:role/llmbo-local")
        .sdk_config(sdk)
        .build()
        .await?;
    let started = Instant::now();
    let prepared = ready.prepare_requests(inputs)?;
    let prepare = started.elapsed().as_secs_f64();
    let uploaded = prepared.push_requests_to_s3().await?;
    let prepare_push = started.elapsed().as_secs_f64();
    let finished = uploaded
        .create()
        .await?
        .poll_progress(Duration::from_millis(200))
        .await?;
    let started = Instant::now();
    let downloaded = finished.download_results().await?;
    let download = started.elapsed().as_secs_f64();
    let results = downloaded.load_results()?;
    let download_load = started.elapsed().as_secs_f64();
    let valid = results.successes().count();
    let ages = results
        .successes()
        .filter(|(_, p)| p.age.is_some() && !p.name.is_empty())
        .count();
    println!(
        "{{\"side\": \"llmbo\", \"records\": {records}, \"valid\": {valid}, \"with_age\": {ages}, \"prepare_s\": {prepare:.3}, \"prepare_push_s\": {prepare_push:.3}, \"download_s\": {download:.3}, \"download_load_s\": {download_load:.3}, \"peak_rss_kib\": {}}}",
        peak_rss_kib().unwrap_or(0)
    );
    Ok(())
}
