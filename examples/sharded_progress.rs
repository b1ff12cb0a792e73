//! A run larger than one job: 12,000 records, at most 5,000 per job, so three jobs run side
//! by side, each with its own progress bar drawn from llmbo's progress reports (uploads,
//! polls and downloads). Results come back merged, in input order.
//!
//! `cargo run --example sharded_progress` (on an embedded llmbo-local)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use llmbo::StructuredBatchInferer;
use llmbo::status::Stage;
use llmbo_local::{LocalBedrock, Speed};
use llmbo_workspace::{Person, person_inputs};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let local = LocalBedrock::builder()
        .speed(Speed {
            step: Duration::from_millis(300),
            per_record: Duration::from_micros(300),
            hour: Duration::from_secs(60),
        })
        .start()
        .await?;

    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:<12} {msg:<12} [{bar:40}] {pos}/{len}")?
        .progress_chars("=> ");
    let by_job: Arc<Mutex<HashMap<String, ProgressBar>>> = Arc::default();
    let on_progress = {
        let by_job = Arc::clone(&by_job);
        move |p: &llmbo::Progress| {
            let mut by_job = by_job.lock().unwrap_or_else(|e| e.into_inner());
            let bar = by_job.entry(p.job_name.clone()).or_insert_with(|| {
                let bar = bars.add(ProgressBar::new(0));
                bar.set_style(style.clone());
                bar.set_prefix(p.job_name.clone());
                bar
            });
            let step = match (&p.stage, &p.status) {
                (Stage::Uploading, _) => "uploading".to_owned(),
                (Stage::Downloading, _) => "downloading".to_owned(),
                (_, Some(status)) => status.to_string(),
                _ => String::new(),
            };
            bar.set_message(step);
            if let Some(total) = p.total {
                bar.set_length(total);
            }
            bar.set_position(p.processed);
        }
    };

    let results = StructuredBatchInferer::<Person>::builder()
        .model_name("anthropic.claude-3-haiku-20240307-v1:0")
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("people-sharded")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .max_records_per_job(5_000)
        .max_concurrent_jobs(3)
        .on_progress(on_progress)
        .build()
        .await?
        .auto(person_inputs(12_000), Duration::from_millis(200))
        .await?;
    for bar in by_job.lock().unwrap_or_else(|e| e.into_inner()).values() {
        bar.finish();
    }

    let in_order = results
        .records
        .iter()
        .enumerate()
        .all(|(i, r)| r.record_id == format!("{i:05}"));
    println!(
        "{} records from 3 jobs, in input order: {in_order}; {} succeeded; {} input tokens",
        results.len(),
        results.successes().count(),
        results.manifest.input_token_count.unwrap_or(0)
    );
    Ok(())
}
