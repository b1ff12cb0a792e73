//! Documents and images in: generated invoices (PDFs and PNGs that carry their own facts)
//! extracted into a typed `Invoice` by each family that takes media, through llmbo-local,
//! which checks every media block as Bedrock does and reads each document's text. Each answer
//! must hold its own invoice's facts.

use std::time::Duration;

use llmbo::adapter::InvocationType;
use llmbo::input::{MediaFormat, Part};
use llmbo::{Error, ModelInput, StructuredBatchInferer};
use llmbo_local::{LocalBedrock, fixtures};

const POLL: Duration = Duration::from_millis(20);

/// An invoice, as printed.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)]
struct Invoice {
    /// The invoice's number, as printed.
    invoice_number: String,
    /// Who is billed.
    customer: String,
    /// The amount due.
    total: f64,
}

fn facts(i: usize) -> Vec<String> {
    vec![
        format!("invoice_number: INV-{i:05}"),
        format!("customer: Customer {i} (Ltd)"),
        format!("total: {i}.25"),
    ]
}

/// Record `i`'s invoice: a PDF for even `i` (unless `images_only`), else a PNG.
fn invoice_part(i: usize, images_only: bool) -> Part {
    let lines = facts(i);
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    if i.is_multiple_of(2) && !images_only {
        Part::document(fixtures::pdf(&lines)).named(format!("invoice {i}"))
    } else {
        Part::image(fixtures::png(&lines, 24, 8))
    }
}

fn inputs(n: usize, images_only: bool) -> Vec<(String, ModelInput)> {
    (0..n)
        .map(|i| {
            let input = ModelInput::new()
                .user_parts([
                    Part::text("Extract the invoice."),
                    invoice_part(i, images_only),
                ])
                .max_tokens(512);
            (format!("inv-{i:04}"), input)
        })
        .collect()
}

fn builder(
    local: &LocalBedrock,
    model: &str,
    job: &str,
) -> llmbo::builder::Configured<llmbo::mode::Structured<Invoice>> {
    StructuredBatchInferer::<Invoice>::builder()
        .model_name(model)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(job)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
}

/// Every record answered, in order, each with its own invoice's facts.
fn check_own_facts(results: &llmbo::BatchResults<Invoice>, n: usize) {
    assert_eq!(results.records.len(), n);
    for (i, record) in results.records.iter().enumerate() {
        assert_eq!(record.record_id, format!("inv-{i:04}"));
        let invoice = match &record.outcome {
            Ok(invoice) => invoice,
            Err(err) => panic!("record {i}: {err}"),
        };
        assert_eq!(invoice.invoice_number, format!("INV-{i:05}"), "record {i}");
        assert_eq!(
            invoice.customer,
            format!("Customer {i} (Ltd)"),
            "record {i}"
        );
        assert_eq!(invoice.total, i as f64 + 0.25, "record {i}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_invoices_are_read_each_from_its_own_document_by_every_media_family() {
    let local = LocalBedrock::start().await.unwrap();
    let cases: [(&str, &str, Option<InvocationType>, bool); 4] = [
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "claude",
            None,
            false,
        ),
        ("amazon.nova-lite-v1:0", "nova", None, false),
        (
            "amazon.nova-pro-v1:0",
            "converse",
            Some(InvocationType::Converse),
            false,
        ),
        (
            "us.meta.llama4-scout-17b-instruct-v1:0",
            "llama",
            None,
            true,
        ),
    ];
    for (model, job, invocation, images_only) in cases {
        let mut builder = builder(&local, model, job);
        if let Some(invocation) = invocation {
            builder = builder.invocation_type(invocation);
        }
        let results = builder
            .build()
            .await
            .unwrap()
            .auto(inputs(200, images_only), POLL)
            .await
            .unwrap_or_else(|err| panic!("{model}: {err}"));
        check_own_facts(&results, 200);
    }
}

#[tokio::test]
async fn a_model_without_documents_refuses_the_record_at_prepare_naming_it() {
    let local = LocalBedrock::start().await.unwrap();
    // Claude 3 Haiku reads images, not PDFs; Nova Micro reads neither.
    for (model, part, said) in [
        (
            "anthropic.claude-3-haiku-20240307-v1:0",
            invoice_part(0, false),
            "takes no documents",
        ),
        (
            "us.amazon.nova-micro-v1:0",
            invoice_part(1, false),
            "takes no images",
        ),
    ] {
        let mut all: Vec<(String, ModelInput)> = (0..150)
            .map(|i| {
                (
                    format!("inv-{i:04}"),
                    ModelInput::new().user(facts(i).join("\n")),
                )
            })
            .collect();
        all[7].1 = ModelInput::new().user_parts([Part::text("Extract."), part]);
        let err = builder(&local, model, "refused")
            .build()
            .await
            .unwrap()
            .prepare_run(all)
            .err()
            .unwrap_or_else(|| panic!("{model} took the media"));
        let text = err.to_string();
        assert!(text.contains("inv-0007"), "{text}");
        assert!(text.contains(model) && text.contains(said), "{text}");
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn media_that_is_not_what_it_says_is_refused_before_anything_is_sent() {
    let local = LocalBedrock::start().await.unwrap();
    let model = "amazon.nova-lite-v1:0";
    let dir = tempfile::tempdir().unwrap();
    // A PNG saved as .pdf, sent as a document: told by its bytes, refused by name.
    let path = dir.path().join("scan.pdf");
    std::fs::write(&path, fixtures::png(&["x: 1"], 2, 2)).unwrap();
    let missing = dir.path().join("missing.pdf");
    for (part, said) in [
        (Part::document_file(&path), "send it as Part::image"),
        (Part::document_file(&missing), "cannot be read"),
        (
            Part::image(fixtures::pdf(&["x"])).with_format(MediaFormat::Png),
            "declared png but its bytes are pdf",
        ),
    ] {
        let mut all = inputs(120, false);
        all[3].1 = ModelInput::new().user_parts([Part::text("Extract."), part]);
        let err = builder(&local, model, "lies")
            .build()
            .await
            .unwrap()
            .prepare_run(all)
            .err()
            .unwrap_or_else(|| panic!("{said}: taken"));
        assert!(err.to_string().contains("inv-0003"), "{err}");
        assert!(err.to_string().contains(said), "{err}");
    }
    // From a local file, the same invoice is read as from bytes.
    let good = dir.path().join("invoice.pdf");
    let lines = facts(5);
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    std::fs::write(&good, fixtures::pdf(&lines)).unwrap();
    let mut all = inputs(100, false);
    all[5].1 = ModelInput::new()
        .user_parts([Part::text("Extract."), Part::document_file(&good)])
        .max_tokens(512);
    let results = builder(&local, model, "files")
        .build()
        .await
        .unwrap()
        .auto(all, POLL)
        .await
        .unwrap();
    check_own_facts(&results, 100);
}
