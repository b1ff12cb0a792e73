// Documents and images in, typed results out: 200 invoices, half of them PDFs on local disk
// and half PNG scans in an S3 archive bucket, extracted into a typed `Invoice` by Amazon Nova
// in one batch job, on an embedded llmbo-local.
//
// The example makes its own invoices (`llmbo_local::fixtures`: real PDFs and PNGs that carry
// their text, which llmbo-local's synthetic model reads), so it runs on a fresh clone. llmbo
// reads each file when it prepares the run, tells each format by its first bytes, and copies
// the scans from the archive into the job's input folder, the only place Bedrock reads a
// batch record's S3 media from.
//
// `cargo run --example documents`

use std::time::Duration;

use llmbo::input::Part;
use llmbo::{BatchOutput, ModelInput, StructuredBatchInferer};
use llmbo_local::fixtures;

const INVOICES: usize = 200;

/// An invoice, as printed on it.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema, BatchOutput)]
struct Invoice {
    /// The invoice's number, as printed.
    invoice_number: String,
    /// Who is billed.
    customer: String,
    /// The amount due, in euros.
    total: f64,
}

/// What invoice `i` says.
fn printed(i: usize) -> [String; 3] {
    [
        format!("invoice_number: INV-{i:05}"),
        format!("customer: Customer {}", i % 37),
        format!("total: {}.{:02}", 100 + i * 7, i % 100),
    ]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let local = llmbo_local::LocalBedrock::start().await?;
    let s3 = aws_sdk_s3::Client::new(&local.sdk_config());
    s3.create_bucket().bucket("invoices-archive").send().await?;
    let folder = tempfile::tempdir()?;

    // Even invoices: PDFs on disk. Odd ones: PNG scans in the archive bucket.
    let mut inputs = Vec::with_capacity(INVOICES);
    for i in 0..INVOICES {
        let lines = printed(i);
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let invoice = if i % 2 == 0 {
            let path = folder.path().join(format!("invoice-{i:04}.pdf"));
            std::fs::write(&path, fixtures::pdf(&lines))?;
            Part::document_file(path)
        } else {
            let key = format!("scans/2026/invoice-{i:04}.png");
            s3.put_object()
                .bucket("invoices-archive")
                .key(&key)
                .body(fixtures::png(&lines, 64, 32).into())
                .send()
                .await?;
            Part::image_s3(format!("s3://invoices-archive/{key}"))
        };
        let input = ModelInput::new()
            .system("You read invoices.")
            .user_parts([Part::text("Extract this invoice."), invoice])
            .max_tokens(512);
        inputs.push((format!("invoice-{i:04}"), input));
    }
    println!(
        "{INVOICES} invoices: {} PDFs in {}, {} PNG scans in s3://invoices-archive/scans/2026/",
        INVOICES / 2,
        folder.path().display(),
        INVOICES / 2
    );

    let results = StructuredBatchInferer::<Invoice>::builder()
        .model_name("amazon.nova-lite-v1:0")
        .bucket_name(local.bucket())
        .region(local.region())
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .job_name(format!("invoices-{}", std::process::id()))
        .build()
        .await?
        .auto(inputs, Duration::from_millis(50))
        .await?;

    let mut right = 0;
    for (i, record) in results.records.iter().enumerate() {
        match &record.outcome {
            Ok(invoice) => {
                if i < 3 {
                    println!("  {}: {invoice:?}", record.record_id);
                }
                let [number, customer, total] = printed(i);
                let same = number.ends_with(&invoice.invoice_number)
                    && customer.ends_with(&invoice.customer)
                    && total.trim_start_matches("total: ").parse::<f64>() == Ok(invoice.total);
                right += usize::from(same);
            }
            Err(err) => println!("  {}: {err}", record.record_id),
        }
    }
    println!(
        "{right} of {} invoices read, each from its own document.",
        results.len()
    );
    if right != INVOICES {
        return Err(format!("only {right} of {INVOICES} invoices were read right").into());
    }
    Ok(())
}
