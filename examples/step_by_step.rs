//! The lifecycle one step at a time, then recovery: the process that created the job "dies",
//! and a new inferer rebuilt from the job's ARN alone finishes the work.
//!
//! `cargo run --example step_by_step` (on an embedded llmbo-local)

use std::time::Duration;

use llmbo::{Recovered, StructuredBatchInferer};
use llmbo_local::LocalBedrock;
use llmbo_workspace::{Person, person_inputs};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let local = LocalBedrock::start().await?;
    let ready = StructuredBatchInferer::<Person>::builder()
        .model_name("anthropic.claude-3-haiku-20240307-v1:0")
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("people-steps")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .build()
        .await?;

    // Each step consumes the inferer and returns the next state.
    let prepared = ready.prepare_requests(person_inputs(150))?;
    let uploaded = prepared.push_requests_to_s3().await?;
    let mut submitted = uploaded.create().await?;
    let job_arn = submitted.job_arn().to_owned();
    println!("created {job_arn} (job id {})", submitted.job_id());
    let status = submitted.check_complete().await?;
    println!("first check: {status:?} (None while it runs)");

    // The process dies here: everything in memory is gone but the ARN.
    drop(submitted);

    let recovered = StructuredBatchInferer::<Person>::recover(
        &job_arn,
        local.region(),
        Some(local.sdk_config()),
    )
    .await?;
    let finished = match recovered {
        Recovered::Running(job) => {
            println!("recovered a running job; polling it");
            job.poll_progress(Duration::from_millis(50)).await?
        }
        Recovered::Finished(job) => {
            println!("recovered a finished job");
            job
        }
    };
    println!("ended {:?}", finished.job_status());
    let results = finished.download_results().await?.load_results()?;
    println!(
        "{} records (read back from the input in S3), {} succeeded; first: {:?}",
        results.len(),
        results.successes().count(),
        results.records.first().map(|r| &r.outcome)
    );
    Ok(())
}
