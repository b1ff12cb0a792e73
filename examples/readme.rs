// src/main.rs of a new crate (in this repository: `cargo run --example readme`)
use std::time::Duration;

use llmbo::{BatchOutput, ModelInput, StructuredBatchInferer};

/// A person named in the text.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema, BatchOutput)]
struct Person {
    /// Full name as written.
    name: String,
    /// Age in years, if the text says.
    age: Option<u32>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // An offline Bedrock on a free port. On AWS, leave out `sdk_config` (the usual credential
    // chain is used) and give your own bucket and role.
    let local = llmbo_local::LocalBedrock::start().await?;
    let inputs = (0..200).map(|i| {
        let text = format!("Ada Lovelace was {i} when she wrote it.");
        (format!("r{i:03}"), ModelInput::new().user(text))
    });
    let results = StructuredBatchInferer::<Person>::builder()
        .model_name("anthropic.claude-3-haiku-20240307-v1:0")
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("people")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .build() // compiles only once the five required settings are given
        .await? // checks the bucket, its region and the role
        .auto(inputs, Duration::from_millis(50))
        .await?;
    for record in results.records.iter().take(3) {
        match &record.outcome {
            Ok(person) => println!("{}: {} ({:?})", record.record_id, person.name, person.age),
            Err(why) => println!("{}: {why}", record.record_id),
        }
    }
    let parsed = results.records.iter().filter(|r| r.outcome.is_ok()).count();
    println!("{parsed} of {} records parsed", results.len());
    Ok(())
}
