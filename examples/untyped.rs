//! An untyped batch: free-text answers, one per record, as the raw `modelOutput` JSON, with
//! the text and token usage read through the model's adapter.
//!
//! `cargo run --example untyped` (on an embedded llmbo-local)

use std::time::Duration;

use llmbo::{BatchInferer, ModelInput};
use llmbo_local::LocalBedrock;
use llmbo_workspace::sample_text;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let local = LocalBedrock::start().await?;
    let inferer = BatchInferer::builder()
        .model_name("us.amazon.nova-lite-v1:0")
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("summaries")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .build()
        .await?;

    let inputs = (0..200).map(|i| {
        let input = ModelInput::new()
            .system("Summarise the text in one sentence.")
            .user(sample_text(i))
            .max_tokens(200)
            .temperature(0.2);
        (format!("doc-{i:03}"), input)
    });
    let adapter = inferer.adapter().clone();
    let results = inferer.auto(inputs, Duration::from_millis(50)).await?;

    let (mut input_tokens, mut output_tokens) = (0, 0);
    for record in results.records.iter().take(3) {
        match &record.outcome {
            Ok(output) => println!(
                "{}: {}",
                record.record_id,
                adapter
                    .answers()
                    .and_then(|reader| reader.output_text(output))
                    .unwrap_or_default()
            ),
            Err(err) => println!("{}: failed: {err}", record.record_id),
        }
    }
    for (_, output) in results.successes() {
        if let Some(usage) = adapter.usage(output) {
            input_tokens += usage.input_tokens;
            output_tokens += usage.output_tokens;
        }
    }
    println!(
        "{} records, {} failed; {input_tokens} input and {output_tokens} output tokens",
        results.len(),
        results.failures().count()
    );
    Ok(())
}
