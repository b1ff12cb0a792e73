//! End to end through llmbo-local's fast profile: N records are generated lazily, prepared,
//! spooled, uploaded, run as Bedrock jobs (50,000 records each at most), and read back as a
//! stream of typed results in input order. Prints wall time and peak RSS.
//!
//! llmbo-local runs in a separate process (this program started with `--serve`), as Bedrock
//! would, so the peak RSS is llmbo's alone.
//!
//! `cargo run --release -p llmbo --example e2e_run` runs 50,000 and then 500,000 records, each
//! in its own process (peak RSS is per process), and prints the ratio of the two peaks;
//! `cargo run --release -p llmbo --example e2e_run -- 120000` runs one size. `E2E_JOBS`
//! sets how many jobs run at once (default 10).

use std::time::{Duration, Instant};

#[path = "../support/local.rs"]
mod local;
#[path = "../support/mod.rs"]
mod support;

use llmbo::StructuredBatchInferer;
use support::Person;

async fn run(records: usize) -> Result<(), Box<dyn std::error::Error>> {
    let server = local::Server::start().await?;
    let sdk = server.sdk.clone();
    // llmbo-local's defaults: bucket and role `llmbo-local` in account 000000000000.
    let (bucket, role) = ("llmbo-local", "arn:aws:iam::000000000000:role/llmbo-local");
    let started = Instant::now();
    let inputs = (0..records).map(|i| {
        let input = llmbo::ModelInput::new()
            .system("Extract the person the text is about.")
            .user(format!(
                "Article {i}: Ada Lovelace gave a talk about programming to {} people.",
                20 + i % 80
            ))
            .max_tokens(512);
        (format!("{i:07}"), input)
    });
    let run = StructuredBatchInferer::<Person>::builder()
        .model_name("anthropic.claude-3-haiku-20240307-v1:0")
        .bucket_name(bucket)
        .region("us-east-1")
        .job_name(format!("e2e-{records}"))
        .role_arn(role)
        .sdk_config(sdk)
        .max_concurrent_jobs(
            std::env::var("E2E_JOBS")
                .ok()
                .and_then(|k| k.parse().ok())
                .unwrap_or(10),
        )
        .build()
        .await?
        .start_run(inputs)
        .await?;
    let jobs = run.run_record().shards.len();
    if std::env::var_os("E2E_DEBUG").is_some() {
        eprintln!("after upload: peak_rss_kib={:?}", local::peak_rss_kib());
    }
    let mut stream = run.stream(Duration::from_millis(100));
    let (mut seen, mut ok, mut in_order) = (0usize, 0usize, true);
    while let Some(record) = stream.next().await {
        let record = record?;
        in_order &= record.record_id == format!("{seen:07}");
        ok += usize::from(record.outcome.is_ok());
        seen += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rss = local::peak_rss_kib().unwrap_or(0);
    println!(
        "records={records} jobs={jobs} results={seen} ok={ok} in_order={in_order} wall_s={elapsed:.1} peak_rss_kib={rss}"
    );
    server.stop()?;
    if seen != records || !in_order {
        return Err("not every record came back once, in order".into());
    }
    Ok(())
}

fn child(records: usize) -> Result<(f64, u64), Box<dyn std::error::Error>> {
    let records = records.to_string();
    let (_, wall, rss) = local::measured_child(&[records.as_ref()])?;
    Ok((wall, rss))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if local::serve_if_asked()? {
        return Ok(());
    }
    let args: Vec<String> = std::env::args().collect();
    if let Some(records) = args.get(1) {
        let records: usize = records.parse()?;
        return tokio::runtime::Runtime::new()?.block_on(run(records));
    }
    let (small_wall, small_rss) = child(50_000)?;
    let (big_wall, big_rss) = child(500_000)?;
    println!(
        "10x the records: wall time x{:.1}, peak RSS x{:.2} ({} MiB -> {} MiB)",
        big_wall / small_wall,
        big_rss as f64 / small_rss as f64,
        small_rss / 1024,
        big_rss / 1024
    );
    Ok(())
}
