//! The main job of llmbo: a typed extraction over 500 records, end to end.
//!
//! With no AWS settings it runs on an embedded llmbo-local (an offline Bedrock on 127.0.0.1),
//! so it works on a fresh clone. To run it on real AWS instead, set `LLMBO_BUCKET`,
//! `LLMBO_ROLE_ARN`, `LLMBO_REGION` and `LLMBO_MODEL` (credentials come from the usual AWS
//! chain: environment, profile, SSO).
//!
//! `cargo run --example quickstart`

use std::time::Duration;

use llmbo::status::Stage;
use llmbo::{BatchOutput, StructuredBatchInferer};
use llmbo_workspace::{Person, person_inputs};

const RECORDS: usize = 500;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tool = Person::tool_definition();
    println!(
        "The output type, as a tool definition:\n{}\n",
        serde_json::to_string_pretty(&tool)?
    );

    let real_aws = [
        "LLMBO_BUCKET",
        "LLMBO_ROLE_ARN",
        "LLMBO_REGION",
        "LLMBO_MODEL",
    ]
    .map(|name| std::env::var(name).ok());
    // Kept alive for the whole run when used: dropping it stops the server.
    let mut local = None;
    let (builder, poll) = match real_aws {
        [Some(bucket), Some(role), Some(region), Some(model)] => {
            println!("Running on AWS: model {model}, bucket {bucket}, region {region}.");
            let builder = StructuredBatchInferer::<Person>::builder()
                .model_name(model)
                .bucket_name(bucket)
                .region(region)
                .role_arn(role);
            (builder, Duration::from_secs(60))
        }
        _ => {
            let started = llmbo_local::LocalBedrock::start().await?;
            println!(
                "Running on an embedded llmbo-local at {} (set LLMBO_* to use AWS).",
                started.endpoint_url()
            );
            let builder = StructuredBatchInferer::<Person>::builder()
                .model_name("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
                .bucket_name(started.bucket())
                .region(started.region())
                .role_arn(started.role_arn())
                .sdk_config(started.sdk_config());
            local = Some(started);
            (builder, Duration::from_millis(50))
        }
    };
    let inferer = builder
        .job_name(format!("quickstart-{}", std::process::id()))
        .on_progress(|p| {
            let step = match (&p.stage, &p.status) {
                (Stage::Uploading, _) => "Uploading",
                (Stage::Downloading, _) => "Downloading",
                (_, Some(status)) => status.as_str(),
                (_, None) => "?",
            };
            println!(
                "  {:<12} {:>4}/{} records, {} failed",
                step,
                p.processed,
                p.total.map_or("?".to_owned(), |t| t.to_string()),
                p.failed
            )
        })
        .build()
        .await?;
    if let Some(strategy) = inferer.output_strategy() {
        println!(
            "Output strategy: {strategy} (the model's default; choose with .output_strategy(..)).\n"
        );
    }

    let results = inferer.auto(person_inputs(RECORDS), poll).await?;
    let m = &results.manifest;
    println!(
        "\n{} records: {} succeeded, {} failed; {} input and {} output tokens.",
        m.total_record_count,
        results.successes().count(),
        results.failures().count(),
        m.input_token_count.unwrap_or(0),
        m.output_token_count.unwrap_or(0),
    );
    for (id, person) in results.successes().take(3) {
        println!(
            "  {id}: {} (age {:?}) as {:?}",
            person.name, person.age, person.roles
        );
    }
    for failure in results.failures().take(3) {
        if let Err(reason) = &failure.outcome {
            println!("  {} failed: {reason}", failure.record_id);
        }
    }
    let people: Vec<Person> = results.into_values();
    println!("\n{} typed `Person` values, in input order.", people.len());

    // Under Bedrock's 100-record minimum a batch job is refused; with `on_demand_below` the
    // same typed call goes through bedrock-runtime instead (on-demand prices: about twice the
    // batch price), so it is only shown on llmbo-local.
    if let Some(local) = &local {
        let small = StructuredBatchInferer::<Person>::builder()
            .model_name("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
            .bucket_name(local.bucket())
            .region(local.region())
            .role_arn(local.role_arn())
            .sdk_config(local.sdk_config())
            .job_name(format!("quickstart-small-{}", std::process::id()))
            .on_demand_below(100)
            .build()
            .await?
            .auto(person_inputs(20), poll)
            .await?;
        println!(
            "20 records, under the job minimum, went on demand: {} typed values, in input order.",
            small.successes().count()
        );
    }
    Ok(())
}
