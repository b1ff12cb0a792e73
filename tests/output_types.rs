//! Several output types in one batch: a `tool_per_variant` enum gives one tool per variant;
//! the model may answer through any, a record may ask for one, and an answer of the wrong
//! type (or through a tool no type has) is a record error of its own. Through llmbo-local,
//! under every strategy.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use llmbo::input::ToolChoice;
use llmbo::{BatchOutput, Error, ModelInput, OutputStrategy, RecordError, StructuredBatchInferer};
use llmbo_local::LocalBedrock;
use llmbo_workspace::{Person, sample_text};
use serde::Deserialize;

const POLL: Duration = Duration::from_millis(20);
const SONNET: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

/// A bill.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema, BatchOutput)]
struct Invoice {
    /// The amount due.
    total: f64,
    /// Who pays.
    payer: String,
}

/// What the text holds.
#[derive(Debug, BatchOutput)]
#[batch_output(tool_per_variant)]
enum Extraction {
    /// A person named in the text.
    Person(Person),
    Invoice(Invoice),
}

/// 100 records; every fifth asks for an invoice.
fn inputs() -> Vec<(String, ModelInput)> {
    (0..100)
        .map(|i| {
            let mut input = ModelInput::new().user(sample_text(i)).max_tokens(400);
            if i % 5 == 0 {
                input = input.tool_choice(ToolChoice::Tool {
                    name: "Invoice".into(),
                });
            }
            (format!("{i:05}"), input)
        })
        .collect()
}

async fn inferer(
    local: &LocalBedrock,
    model: &str,
    strategy: OutputStrategy,
    job: &str,
) -> llmbo::Inferer<llmbo::mode::Structured<Extraction>> {
    StructuredBatchInferer::<Extraction>::builder()
        .model_name(model)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(job)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .output_strategy(strategy)
        .build()
        .await
        .unwrap_or_else(|e| panic!("{model} {strategy}: {e}"))
}

#[tokio::test]
async fn two_types_in_one_batch_under_every_strategy() {
    use OutputStrategy::*;
    let local = LocalBedrock::start().await.unwrap();
    let cases = [
        (SONNET, ForcedTool),
        (SONNET, StrictTool),
        (SONNET, JsonSchema),
        (SONNET, JsonInPrompt),
        ("amazon.nova-lite-v1:0", ForcedTool),
        ("openai.gpt-oss-20b-1:0", ForcedTool),
        ("qwen.qwen3-32b-v1:0", JsonSchema),
        ("meta.llama3-1-8b-instruct-v1:0", JsonInPrompt),
    ];
    for (n, (model, strategy)) in cases.into_iter().enumerate() {
        let results = inferer(&local, model, strategy, &format!("types-{n}"))
            .await
            .auto(inputs(), POLL)
            .await
            .unwrap();
        let (mut people, mut invoices) = (0, 0);
        for (i, record) in results.records.iter().enumerate() {
            assert_eq!(record.record_id, format!("{i:05}"));
            match &record.outcome {
                Ok(Extraction::Invoice(invoice)) => {
                    assert!(invoice.total.is_finite());
                    invoices += 1;
                }
                Ok(Extraction::Person(person)) => {
                    assert!(!person.name.is_empty(), "{model} {strategy}: record {i}");
                    assert!(
                        i % 5 != 0,
                        "{model} {strategy}: record {i} asked for an invoice"
                    );
                    people += 1;
                }
                Err(err) => panic!("{model} {strategy}: record {i}: {err}"),
            }
        }
        // The free records went both ways: the model chose.
        assert!(
            people > 10 && invoices > 20,
            "{model} {strategy}: {people} people, {invoices} invoices"
        );
    }
}

#[tokio::test]
async fn a_record_asking_for_a_type_there_is_not_is_refused_before_upload() {
    let local = LocalBedrock::start().await.unwrap();
    let mut records = inputs();
    records[7].1 = records[7].1.clone().tool_choice(ToolChoice::Tool {
        name: "Receipt".into(),
    });
    let err = inferer(&local, SONNET, OutputStrategy::ForcedTool, "no-such-type")
        .await
        .prepare_requests(records)
        .unwrap_err();
    match &err {
        Error::InvalidInput {
            record_id: Some(id),
            problem: llmbo::input::InputProblem::Request(reason),
        } => {
            assert_eq!(id, "00007");
            assert!(
                reason.contains("Receipt") && reason.contains("Person, Invoice"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// Rewrites a finished job's output through S3: `change` maps each line.
async fn rewrite_output(
    local: &LocalBedrock,
    job_id: &str,
    job: &str,
    change: impl Fn(&str) -> String,
) {
    let s3 = llmbo_workspace::s3_client(&local.sdk_config());
    let key = format!("output/{job_id}/{job}.jsonl.out");
    let body = s3
        .get_object()
        .bucket(local.bucket())
        .key(&key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let changed: String = text.lines().map(|l| change(l) + "\n").collect();
    s3.put_object()
        .bucket(local.bucket())
        .key(&key)
        .body(ByteStream::from(changed.into_bytes()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_wrong_type_and_an_unknown_tool_are_each_their_own_record_error() {
    let local = LocalBedrock::start().await.unwrap();
    for (n, strategy) in [OutputStrategy::ForcedTool, OutputStrategy::JsonSchema]
        .into_iter()
        .enumerate()
    {
        let job = format!("wrong-{n}");
        let finished = inferer(&local, SONNET, strategy, &job)
            .await
            .prepare_requests(inputs())
            .unwrap()
            .push_requests_to_s3()
            .await
            .unwrap()
            .create()
            .await
            .unwrap()
            .poll_progress(POLL)
            .await
            .unwrap();
        let job_id = finished.unique_id_from_arn().to_owned();
        // Record 00000 asked for an invoice and gets a person; 00001 calls a tool no type has.
        rewrite_output(&local, &job_id, &job, |line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            let person = serde_json::json!({"name": "Ada", "age": 36, "roles": []});
            match (value["recordId"].as_str(), strategy.uses_tools()) {
                (Some("00000"), true) => {
                    value["modelOutput"]["content"] = serde_json::json!([
                        {"type": "tool_use", "id": "t", "name": "Person", "input": person}]);
                }
                (Some("00000"), false) => {
                    value["modelOutput"]["content"] = serde_json::json!([
                        {"type": "text", "text": serde_json::json!({"Person": person}).to_string()}]);
                }
                (Some("00001"), true) => {
                    value["modelOutput"]["content"] = serde_json::json!([
                        {"type": "tool_use", "id": "t", "name": "Receipt", "input": {}}]);
                }
                (Some("00001"), false) => {
                    value["modelOutput"]["content"] = serde_json::json!([
                        {"type": "text", "text": "{\"Receipt\": {}}"}]);
                }
                _ => {}
            }
            value.to_string()
        })
        .await;
        let results = finished
            .download_results()
            .await
            .unwrap()
            .load_results()
            .unwrap();
        assert_eq!(
            results.records[0].outcome.as_ref().unwrap_err(),
            &RecordError::WrongTool {
                expected: "Invoice".into(),
                found: "Person".into()
            },
            "{strategy}"
        );
        let unknown = results.records[1].outcome.as_ref().unwrap_err();
        assert_eq!(unknown.reason(), "unknown_tool", "{strategy}: {unknown}");
        assert!(unknown.to_string().contains("Receipt"), "{unknown}");
        assert_eq!(results.successes().count(), 98, "{strategy}");
    }
}
