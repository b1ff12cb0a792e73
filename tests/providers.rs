//! One derived type on every batch API: the same `#[derive(BatchOutput)]` type and the same
//! inputs through Bedrock and Anthropic's Message Batches, both served by llmbo-local, give
//! the same records; a run on Anthropic is resumed, cancelled and retried from other handles
//! as a Bedrock run is.

use std::time::Duration;

use llmbo::mode::Untyped;
use llmbo::{BatchInferer, BatchRun, Error, RecordError, StructuredBatchInferer};
use llmbo_local::{FaultConfig, LocalBedrock, RecordFault};
use llmbo_workspace::{Person, person_inputs};

const POLL: Duration = Duration::from_millis(20);
const BEDROCK_CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";
/// The same model by Anthropic's name.
const CLAUDE: &str = "claude-3-haiku-20240307-v1:0";

async fn on_bedrock(local: &LocalBedrock, name: &str) -> StructuredBatchInferer<Person> {
    StructuredBatchInferer::<Person>::builder()
        .model_name(BEDROCK_CLAUDE)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(name)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .build()
        .await
        .unwrap()
}

async fn on_anthropic(
    local: &LocalBedrock,
    store: &std::path::Path,
    name: &str,
) -> StructuredBatchInferer<Person> {
    StructuredBatchInferer::<Person>::anthropic()
        .model_name(CLAUDE)
        .job_name(name)
        .store(store.to_str().unwrap())
        .base_url(local.endpoint_url())
        .api_key("test")
        .build()
        .await
        .unwrap()
}

/// Every input id once, in input order.
fn ids_in_order<T>(results: &llmbo::BatchResults<T>, n: usize) {
    let ids: Vec<&str> = results
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    let expected: Vec<String> = (0..n).map(|i| format!("{i:05}")).collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn the_same_type_gives_the_same_records_on_bedrock_and_anthropic() {
    let faults = FaultConfig {
        seed: 7,
        record_error_rate: 0.05,
        malformed_output_rate: 0.05,
        ..Default::default()
    };
    let local = LocalBedrock::builder()
        .faults(faults.clone())
        .start()
        .await
        .unwrap();
    let store = tempfile::tempdir().unwrap();
    let bedrock = on_bedrock(&local, "same-type-bedrock")
        .await
        .auto(person_inputs(300), POLL)
        .await
        .unwrap();
    let anthropic = on_anthropic(&local, store.path(), "same-type-anthropic")
        .await
        .auto(person_inputs(300), POLL)
        .await
        .unwrap();
    ids_in_order(&bedrock, 300);
    ids_in_order(&anthropic, 300);
    let mut failed = 0;
    for (b, a) in bedrock.records.iter().zip(anthropic.records.iter()) {
        let fault = faults.record_fault(&b.record_id);
        assert_eq!(
            a.outcome.is_err(),
            fault.is_some(),
            "record {}: {:?} under {fault:?}",
            b.record_id,
            a.outcome
        );
        if let Some(RecordFault::Error) = fault {
            assert!(
                matches!(&a.outcome, Err(RecordError::Bedrock { .. })),
                "record {}: {:?}",
                b.record_id,
                a.outcome
            );
        }
        match (&b.outcome, &a.outcome) {
            (Ok(x), Ok(y)) => assert_eq!(x, y, "record {}", b.record_id),
            (Err(x), Err(y)) => {
                failed += 1;
                assert_eq!(
                    std::mem::discriminant(x),
                    std::mem::discriminant(y),
                    "record {}: {x} / {y}",
                    b.record_id
                );
            }
            (x, y) => panic!(
                "record {}: {x:?} on Bedrock, {y:?} on Anthropic",
                b.record_id
            ),
        }
    }
    let injected = (0..300)
        .filter(|i| faults.record_fault(&format!("{i:05}")).is_some())
        .count();
    assert!(injected > 10, "the faults are there to compare");
    assert_eq!(failed, injected, "the injected faults, and nothing else");
}

#[tokio::test]
async fn each_answer_is_its_own_records_and_the_run_resumes_from_its_folder() {
    let local = LocalBedrock::start().await.unwrap();
    let store = tempfile::tempdir().unwrap();
    let inferer = BatchInferer::anthropic()
        .model_name(CLAUDE)
        .job_name("own-answers")
        .store(store.path().to_str().unwrap())
        .base_url(local.endpoint_url())
        .api_key("test")
        .max_records_per_job(40)
        .build()
        .await
        .unwrap();
    let inputs = person_inputs(100);
    let run = inferer
        .start_run(inputs)
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    let run_uri = run.run_uri();
    assert!(
        run_uri.starts_with(store.path().to_str().unwrap()),
        "{run_uri}"
    );
    assert!(
        run_uri.ends_with("/input/own-answers.run.json"),
        "{run_uri}"
    );
    drop(run);
    // Another handle, from the record alone.
    let resumed = BatchRun::<Untyped>::resume_with_key(&run_uri, Some("test"))
        .await
        .unwrap();
    assert_eq!(
        resumed.run_record().shards.len(),
        3,
        "100 records in jobs of 40"
    );
    let results = resumed.finish(POLL).await.unwrap();
    ids_in_order(&results, 100);
    for record in results.records.iter() {
        let answer = record.outcome.as_ref().unwrap();
        let id = answer["id"].as_str().unwrap();
        assert!(
            id.ends_with(&record.record_id),
            "record {} has the answer {id}",
            record.record_id
        );
    }
}

#[tokio::test]
async fn a_missing_key_is_named() {
    let err = BatchInferer::anthropic()
        .model_name(CLAUDE)
        .job_name("no-key")
        .store(tempfile::tempdir().unwrap().path().to_str().unwrap())
        .api_key("")
        .build()
        .await;
    if std::env::var("ANTHROPIC_API_KEY").is_ok_and(|k| !k.is_empty()) {
        return;
    }
    let err = err.unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidConfig {
            field: "api_key",
            ..
        }
    ));
    assert!(err.to_string().contains("ANTHROPIC_API_KEY"), "{err}");
}
