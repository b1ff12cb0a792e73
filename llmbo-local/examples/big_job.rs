//! Measures one large job through the fast profile: wall time and peak memory.
//!
//! `cargo run --release -p llmbo-local --example big_job -- 50000` prints the figures; run it
//! with 5000 too and compare the peak RSS: the job streams its input and output, so memory
//! does not grow with the record count.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::time::{Duration, Instant};

use aws_sdk_bedrock::types::{
    ModelInvocationJobInputDataConfig, ModelInvocationJobOutputDataConfig,
    ModelInvocationJobS3InputDataConfig, ModelInvocationJobS3OutputDataConfig,
    ModelInvocationJobStatus,
};
use llmbo_local::{LocalBedrock, Quotas};
use serde_json::json;

/// Peak resident memory of this process so far, in MiB (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let records: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000);
    let local = LocalBedrock::builder()
        .quotas(Quotas {
            max_records: records.max(50_000),
            ..Quotas::default()
        })
        .start()
        .await?;
    // Written straight into the bucket's folder, line by line, so the measurement is the job's.
    let input_dir = local.s3_root().join(local.bucket()).join("input");
    std::fs::create_dir_all(&input_dir)?;
    let mut file = BufWriter::new(std::fs::File::create(input_dir.join("big.jsonl"))?);
    for i in 0..records {
        let record = json!({"recordId": format!("R{i:09}"), "modelInput": {
            "anthropic_version": "bedrock-2023-05-31", "max_tokens": 256,
            "messages": [{"role": "user", "content": [{"type": "text", "text": format!("Document {i}: Ada Lovelace wrote notes.")}]}],
            "tools": [{"name": "person", "description": "A person.", "input_schema": {"type": "object",
                "properties": {"name": {"type": "string"}, "age": {"type": ["integer", "null"]}}, "required": ["name"]}}],
            "tool_choice": {"type": "tool", "name": "person"}}});
        serde_json::to_writer(&mut file, &record)?;
        file.write_all(b"\n")?;
    }
    file.flush()?;
    drop(file);
    let before = peak_rss_mib();

    let client = aws_sdk_bedrock::Client::new(&local.sdk_config());
    let started = Instant::now();
    let arn = client
        .create_model_invocation_job()
        .job_name("big")
        .role_arn(local.role_arn())
        .model_id("anthropic.claude-3-haiku-20240307-v1:0")
        .input_data_config(ModelInvocationJobInputDataConfig::S3InputDataConfig(
            ModelInvocationJobS3InputDataConfig::builder()
                .s3_uri("s3://llmbo-local/input/big.jsonl")
                .build()?,
        ))
        .output_data_config(ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
            ModelInvocationJobS3OutputDataConfig::builder()
                .s3_uri("s3://llmbo-local/output/")
                .build()?,
        ))
        .send()
        .await?
        .job_arn()
        .to_owned();
    let status = loop {
        let job = client
            .get_model_invocation_job()
            .job_identifier(&arn)
            .send()
            .await?;
        let status = job.status().cloned();
        if matches!(
            status,
            Some(ModelInvocationJobStatus::Completed | ModelInvocationJobStatus::Failed)
        ) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let elapsed = started.elapsed();
    let id = arn.rsplit('/').next().unwrap_or_default();
    let out = local
        .s3_root()
        .join(local.bucket())
        .join("output")
        .join(id)
        .join("big.jsonl.out");
    let lines = BufReader::new(std::fs::File::open(out)?).lines().count();
    println!(
        "records={records} status={status:?} output_lines={lines} wall={:.2}s peak_rss_before_job={:.1}MiB peak_rss_after_job={:.1}MiB",
        elapsed.as_secs_f64(),
        before.unwrap_or(f64::NAN),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    Ok(())
}
