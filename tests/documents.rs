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

/// Puts each invoice in the bucket `media` (`invoices/inv-NNNN.pdf|png`); their URIs.
async fn invoices_in_s3(local: &LocalBedrock, n: usize) -> Vec<String> {
    let s3 = aws_sdk_s3::Client::new(&local.sdk_config());
    let _ = s3.create_bucket().bucket("media").send().await;
    let mut uris = Vec::with_capacity(n);
    for i in 0..n {
        let lines = facts(i);
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (bytes, ext) = if i.is_multiple_of(2) {
            (fixtures::pdf(&lines), "pdf")
        } else {
            (fixtures::png(&lines, 24, 8), "png")
        };
        let key = format!("invoices/inv-{i:04}.{ext}");
        s3.put_object()
            .bucket("media")
            .key(&key)
            .body(bytes.into())
            .send()
            .await
            .unwrap();
        uris.push(format!("s3://media/{key}"));
    }
    uris
}

fn s3_inputs(uris: &[String]) -> Vec<(String, ModelInput)> {
    uris.iter()
        .enumerate()
        .map(|(i, uri)| {
            let part = if uri.ends_with(".pdf") {
                Part::document_s3(uri)
            } else {
                Part::image_s3(uri)
            };
            let input = ModelInput::new()
                .user_parts([Part::text("Extract the invoice."), part])
                .max_tokens(512);
            (format!("inv-{i:04}"), input)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_media_outside_the_input_folder_are_copied_in_and_read_from_there() {
    let local = LocalBedrock::start().await.unwrap();
    let uris = invoices_in_s3(&local, 150).await;
    let mut inputs = s3_inputs(&uris);
    // Two records name one object: one copy serves both.
    inputs[149].1 = inputs[148].1.clone();
    let results = builder(&local, "amazon.nova-lite-v1:0", "s3media")
        .build()
        .await
        .unwrap()
        .auto(inputs, POLL)
        .await
        .unwrap();
    assert_eq!(results.records.len(), 150);
    for (i, record) in results.records.iter().enumerate().take(149) {
        assert_eq!(record.record_id, format!("inv-{i:04}"));
        let invoice = record.outcome.as_ref().unwrap();
        assert_eq!(invoice.invoice_number, format!("INV-{i:05}"), "record {i}");
    }
    let last = results.records[149].outcome.as_ref().unwrap();
    assert_eq!(last.invoice_number, "INV-00148");
    // The job names its folder; the folder holds its JSONL and one copy of each object.
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    let jobs = bedrock.list_model_invocation_jobs().send().await.unwrap();
    let job = &jobs.invocation_job_summaries()[0];
    let input = match job.input_data_config() {
        Some(aws_sdk_bedrock::types::ModelInvocationJobInputDataConfig::S3InputDataConfig(c)) => {
            c.s3_uri().to_owned()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(input, format!("s3://{}/input/s3media/", local.bucket()));
    let s3 = aws_sdk_s3::Client::new(&local.sdk_config());
    let listed = s3
        .list_objects_v2()
        .bucket(local.bucket())
        .prefix("input/s3media/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(
        keys.iter().filter(|k| k.contains("/m-")).count(),
        149,
        "{keys:?}"
    );
    assert!(keys.contains(&"input/s3media/s3media.jsonl"), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_media_are_refused_under_the_other_setting_and_a_missing_one_stops_before_any_job() {
    let local = LocalBedrock::start().await.unwrap();
    let uris = invoices_in_s3(&local, 120).await;
    // Refused before anything is uploaded, naming the record and the object.
    let err = builder(&local, "amazon.nova-lite-v1:0", "refuse")
        .s3_media(llmbo::input::S3Media::Refuse)
        .build()
        .await
        .unwrap()
        .prepare_run(s3_inputs(&uris))
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("inv-0000") && text.contains(&uris[0]),
        "{text}"
    );
    assert!(text.contains("outside the job's input folder"), "{text}");
    // Claude takes media as bytes only.
    let err = builder(
        &local,
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "claude",
    )
    .build()
    .await
    .unwrap()
    .prepare_run(s3_inputs(&uris))
    .err()
    .unwrap();
    assert!(err.to_string().contains("bytes only"), "{err}");

    // A record names an object that is not there: the copy fails, naming it, and no job is made.
    let mut inputs = s3_inputs(&uris);
    inputs[42].1 = ModelInput::new()
        .user_parts([
            Part::text("Extract."),
            Part::document_s3("s3://media/late/inv-0042.pdf"),
        ])
        .max_tokens(512);
    let first = builder(&local, "amazon.nova-lite-v1:0", "late")
        .build()
        .await
        .unwrap()
        .auto(inputs.clone(), POLL)
        .await
        .err()
        .unwrap();
    let text = first.to_string();
    assert!(
        text.contains("inv-0042") && text.contains("late/inv-0042.pdf"),
        "{text}"
    );
    assert!(text.contains("does not exist"), "{text}");
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    let jobs = bedrock.list_model_invocation_jobs().send().await.unwrap();
    assert!(jobs.invocation_job_summaries().is_empty());
    // Once it is there, the same run goes on: every record answered from its own invoice.
    let lines = facts(42);
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    aws_sdk_s3::Client::new(&local.sdk_config())
        .put_object()
        .bucket("media")
        .key("late/inv-0042.pdf")
        .body(fixtures::pdf(&lines).into())
        .send()
        .await
        .unwrap();
    let results = builder(&local, "amazon.nova-lite-v1:0", "late")
        .build()
        .await
        .unwrap()
        .auto(inputs, POLL)
        .await
        .unwrap();
    assert_eq!(results.records.len(), 120);
    for (i, record) in results.records.iter().enumerate() {
        let invoice = record.outcome.as_ref().unwrap();
        assert_eq!(invoice.invoice_number, format!("INV-{i:05}"), "record {i}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn llmbo_local_holds_a_job_to_the_folder_rule_record_by_record() {
    // A job made without llmbo: its input a file, or a folder that does not hold the medium.
    let local = LocalBedrock::start().await.unwrap();
    let uris = invoices_in_s3(&local, 1).await;
    let s3 = aws_sdk_s3::Client::new(&local.sdk_config());
    let inside = format!("s3://{}/in/folder/inv.pdf", local.bucket());
    let lines = facts(7);
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    s3.put_object()
        .bucket(local.bucket())
        .key("in/folder/inv.pdf")
        .body(fixtures::pdf(&lines).into())
        .send()
        .await
        .unwrap();
    let record = |id: &str, uri: &str| {
        serde_json::json!({"recordId": id, "modelInput": {"messages": [{"role": "user", "content": [
            {"text": "Extract."},
            {"document": {"format": "pdf", "name": "inv", "source": {"s3Location": {"uri": uri}}}}
        ]}]}})
        .to_string()
    };
    let mut jsonl = String::new();
    for i in 0..100 {
        let uri = match i {
            0 => uris[0].clone(),
            1 => format!("s3://{}/in/folder/missing.pdf", local.bucket()),
            _ => inside.clone(),
        };
        jsonl.push_str(&record(&format!("r{i:03}"), &uri));
        jsonl.push('\n');
    }
    s3.put_object()
        .bucket(local.bucket())
        .key("in/folder/records.jsonl")
        .body(jsonl.into_bytes().into())
        .send()
        .await
        .unwrap();
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    let out = |input: &str| {
        aws_sdk_bedrock::types::ModelInvocationJobInputDataConfig::S3InputDataConfig(
            aws_sdk_bedrock::types::ModelInvocationJobS3InputDataConfig::builder()
                .s3_uri(input)
                .build()
                .unwrap(),
        )
    };
    let output = aws_sdk_bedrock::types::ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
        aws_sdk_bedrock::types::ModelInvocationJobS3OutputDataConfig::builder()
            .s3_uri(format!("s3://{}/out/", local.bucket()))
            .build()
            .unwrap(),
    );
    let mut errors = Vec::new();
    for (name, input) in [
        ("by-folder", format!("s3://{}/in/folder/", local.bucket())),
        (
            "by-file",
            format!("s3://{}/in/folder/records.jsonl", local.bucket()),
        ),
    ] {
        let arn = bedrock
            .create_model_invocation_job()
            .job_name(name)
            .model_id("amazon.nova-lite-v1:0")
            .role_arn(local.role_arn())
            .input_data_config(out(&input))
            .output_data_config(output.clone())
            .send()
            .await
            .unwrap()
            .job_arn()
            .to_owned();
        let job = loop {
            let job = bedrock
                .get_model_invocation_job()
                .job_identifier(&arn)
                .send()
                .await
                .unwrap();
            if job.status().is_some_and(|s| s.as_str() == "Completed") {
                break job;
            }
            tokio::time::sleep(POLL).await;
        };
        let (_, id) = arn.rsplit_once('/').unwrap();
        let key = format!("out/{id}/records.jsonl.out");
        let body = s3
            .get_object()
            .bucket(local.bucket())
            .key(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?} ({:?})", job.message()))
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let mut by_id = std::collections::BTreeMap::new();
        for line in String::from_utf8_lossy(&body).lines() {
            let line: serde_json::Value = serde_json::from_str(line).unwrap();
            let id = line["recordId"].as_str().unwrap().to_owned();
            by_id.insert(id, line);
        }
        errors.push(
            by_id
                .iter()
                .filter(|(_, l)| l.get("error").is_some())
                .map(|(id, l)| (id.clone(), l["error"]["errorMessage"].to_string()))
                .collect::<Vec<_>>(),
        );
        // The medium in the folder is read: the answer holds its facts.
        if name == "by-folder" {
            let text = by_id["r050"]["modelOutput"].to_string();
            assert!(text.contains("INV-00007"), "{text}");
        }
    }
    // In the folder: only the medium elsewhere and the missing one fail, each its own way.
    assert_eq!(errors[0].len(), 2, "{:?}", errors[0]);
    assert!(
        errors[0][0].1.contains("not in the input data folder"),
        "{:?}",
        errors[0]
    );
    assert!(errors[0][1].1.contains("does not exist"), "{:?}", errors[0]);
    // By file: every record names S3 media, and the input names no folder.
    assert_eq!(errors[1].len(), 100);
    assert!(
        errors[1][0].1.contains("must name the folder"),
        "{:?}",
        errors[1][0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_batch_apis_read_each_invoice_from_its_own_document_too() {
    let local = LocalBedrock::start().await.unwrap();
    let store = tempfile::tempdir().unwrap();
    type Structured = llmbo::mode::Structured<Invoice>;
    let apis = [
        (
            llmbo::Inferer::<Structured>::anthropic(),
            "claude-sonnet-4-5",
            local.endpoint_url(),
        ),
        (
            llmbo::Inferer::<Structured>::openai(),
            "gpt-4o-mini",
            format!("{}/v1", local.endpoint_url()),
        ),
        (
            llmbo::Inferer::<Structured>::gemini(),
            "gemini-2.5-flash",
            local.endpoint_url(),
        ),
    ];
    for (builder, model, base_url) in apis {
        let results = builder
            .model_name(model)
            .job_name(format!("docs-{}", model.split('-').next().unwrap_or(model)))
            .store(store.path().to_str().unwrap())
            .base_url(base_url)
            .api_key("test")
            .build()
            .await
            .unwrap()
            .auto(inputs(100, false), POLL)
            .await
            .unwrap_or_else(|err| panic!("{model}: {err}"));
        check_own_facts(&results, 100);
    }
}

mod example {
    include!("../examples/documents.rs");

    #[test]
    fn the_documents_example_reads_every_invoice() {
        if let Err(err) = main() {
            panic!("examples/documents.rs failed: {err}");
        }
    }
}

#[tokio::test]
async fn the_estimate_counts_pages_and_pixels_not_base64() {
    let local = LocalBedrock::start().await.unwrap();
    let prepared = builder(
        &local,
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "estimate",
    )
    .build()
    .await
    .unwrap()
    .prepare_run(inputs(200, false))
    .unwrap();
    let estimate = prepared.run_record().estimate.unwrap();
    // 100 one-page PDFs at 2,250 tokens a page, 100 PNGs of 24 × 8 px at one token each.
    assert_eq!(estimate.media_tokens, 100 * 2_250 + 100);
    // The base64 is not counted as text: the whole is within the media's margin, plus a
    // little text per record.
    assert!(
        estimate.input_high < (estimate.media_tokens as f64 * 1.3) as u64 + 200 * 300,
        "{estimate:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_preflight_reads_the_first_bytes_of_each_s3_medium() {
    let local = LocalBedrock::start().await.unwrap();
    let uris = invoices_in_s3(&local, 110).await;
    let mut inputs = s3_inputs(&uris);
    // A PNG under a .pdf name, and an object that is not there.
    let s3 = aws_sdk_s3::Client::new(&local.sdk_config());
    s3.put_object()
        .bucket("media")
        .key("odd/scan.pdf")
        .body(fixtures::png(&["x: 1"], 4, 4).into())
        .send()
        .await
        .unwrap();
    inputs[3].1 = ModelInput::new().user_parts([
        Part::text("Extract."),
        Part::document_s3("s3://media/odd/scan.pdf"),
    ]);
    inputs[9].1 = ModelInput::new().user_parts([
        Part::text("Extract."),
        Part::image_s3("s3://media/gone/x.png"),
    ]);
    let report = builder(&local, "amazon.nova-lite-v1:0", "preflight-media")
        .build()
        .await
        .unwrap()
        .preflight(inputs)
        .await
        .unwrap();
    let media: Vec<_> = report
        .findings
        .groups
        .iter()
        .filter(|g| g.rule == "media-object")
        .collect();
    assert_eq!(media.len(), 2, "{:?}", report.findings.groups);
    let said = |id: &str| {
        media
            .iter()
            .find(|g| g.first.iter().any(|at| at.record_id == id))
            .map(|g| g.message.clone())
            .unwrap_or_default()
    };
    assert!(
        said("inv-0003").contains("its bytes are png"),
        "{}",
        said("inv-0003")
    );
    assert!(
        said("inv-0009").contains("does not exist"),
        "{}",
        said("inv-0009")
    );
    assert!(report.findings.has_errors());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_handle_reads_a_run_whose_media_were_copied_into_its_folder() {
    let local = LocalBedrock::start().await.unwrap();
    let uris = invoices_in_s3(&local, 120).await;
    let run = builder(&local, "amazon.nova-lite-v1:0", "two-handles")
        .build()
        .await
        .unwrap()
        .start_run(s3_inputs(&uris))
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    // Another process, with the run's URI only: it reads the job's input from S3 (its lines
    // name the copies) and must take it for the run's own.
    let resumed = llmbo::BatchRun::<llmbo::mode::Structured<Invoice>>::resume(
        &run.run_uri(),
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap();
    let results = resumed.finish(POLL).await.unwrap();
    assert_eq!(results.records.len(), 120);
    for (i, record) in results.records.iter().enumerate() {
        assert_eq!(record.record_id, format!("inv-{i:04}"));
        let invoice = record.outcome.as_ref().unwrap();
        assert_eq!(invoice.invoice_number, format!("INV-{i:05}"), "record {i}");
    }
    // The first handle reads the same.
    let first = run.finish(POLL).await.unwrap();
    assert_eq!(first.records, results.records);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_of_a_run_with_s3_media_is_followed_by_a_second_handle() {
    let local = LocalBedrock::builder()
        .faults(llmbo_local::FaultConfig {
            // The run's job stops after 60% of its records; the retry answers the rest.
            job_fault: Some(llmbo_local::JobFault::PartiallyComplete {
                processed_fraction: 0.6,
            }),
            job_fault_jobs: Some(0..1),
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let uris = invoices_in_s3(&local, 120).await;
    let run = builder(&local, "amazon.nova-lite-v1:0", "media-retry")
        .build()
        .await
        .unwrap()
        .start_run(s3_inputs(&uris))
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    let options = llmbo::RetryOptions {
        pad_to_minimum: true,
        poll_interval: POLL,
        ..Default::default()
    };
    let mut first = run.finish_detailed(POLL).await.unwrap();
    let failed = first.results.failures().count();
    assert!(failed > 0, "the stopped job left records unanswered");
    let retried = run.retry_failed(&mut first, &options).await.unwrap();
    let llmbo::run::RetryOutcome::Retried { job_arn, .. } = retried else {
        panic!("{retried:?}")
    };
    // Another process, with the run's URI only, retries the same records: it follows the
    // job the first made (reading its input from S3, whose lines name the copies in the
    // retry's own folder) instead of sending a second, and reads the same answers.
    let resumed = llmbo::BatchRun::<llmbo::mode::Structured<Invoice>>::resume(
        &run.run_uri(),
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap();
    let mut second = resumed.finish_detailed(POLL).await.unwrap();
    let again = resumed.retry_failed(&mut second, &options).await.unwrap();
    let llmbo::run::RetryOutcome::Retried { job_arn: same, .. } = again else {
        panic!("{again:?}")
    };
    assert_eq!(same, job_arn, "one retry job, never two");
    assert_eq!(second.results.records, first.results.records);
    for (i, record) in second.results.records.iter().enumerate() {
        assert_eq!(record.record_id, format!("inv-{i:04}"));
        let invoice = record.outcome.as_ref().unwrap();
        assert_eq!(invoice.invoice_number, format!("INV-{i:05}"), "record {i}");
    }
    let left: Vec<String> = second
        .results
        .failures()
        .map(|r| format!("{}: {:?}", r.record_id, r.outcome.as_ref().err()))
        .collect();
    assert!(left.is_empty(), "{failed} failed, then {left:?}");
}
