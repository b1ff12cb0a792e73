//! Re-ask: records whose answer did not fit are asked again, shown their own answer and the
//! exact error, and merged in place with attempts counted. llmbo-local's model answers a
//! follow-up right, as a model that reads the error would, so re-ask converges.

use std::time::Duration;

use llmbo::mode::Structured;
use llmbo::run::RetryOutcome;
use llmbo::{BatchRun, OutputStrategy, RecordError, RetryOptions, StructuredBatchInferer};
use llmbo_local::{FaultConfig, LocalBedrock, Malformed, Quotas, RecordFault};
use llmbo_workspace::{Person, person_inputs};

const POLL: Duration = Duration::from_millis(20);
const RECORDS: usize = 1000;

async fn local_with_violations(kinds: Vec<Malformed>) -> (LocalBedrock, FaultConfig) {
    let faults = FaultConfig {
        seed: 21,
        malformed_output_rate: 0.1,
        malformed_kinds: kinds,
        ..Default::default()
    };
    let local = LocalBedrock::builder()
        .faults(faults.clone())
        .quotas(Quotas {
            min_records: 10,
            ..Quotas::default()
        })
        .start()
        .await
        .unwrap();
    (local, faults)
}

async fn run_on(
    local: &LocalBedrock,
    model: &str,
    strategy: OutputStrategy,
    job: &str,
) -> BatchRun<Structured<Person>> {
    StructuredBatchInferer::<Person>::builder()
        .model_name(model)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(job)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .min_records(10)
        .output_strategy(strategy)
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(RECORDS))
        .await
        .unwrap()
        .create()
        .await
        .unwrap()
}

#[tokio::test]
async fn ten_percent_schema_violations_converge_to_none_after_one_round() {
    let (local, faults) = local_with_violations(vec![Malformed::SchemaViolation]).await;
    let cases = [
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            OutputStrategy::ForcedTool,
        ),
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            OutputStrategy::JsonSchema,
        ),
        ("amazon.nova-lite-v1:0", OutputStrategy::ForcedTool),
        ("openai.gpt-oss-20b-1:0", OutputStrategy::ForcedTool),
        (
            "meta.llama3-1-8b-instruct-v1:0",
            OutputStrategy::JsonInPrompt,
        ),
    ];
    for (n, (model, strategy)) in cases.into_iter().enumerate() {
        let run = run_on(&local, model, strategy, &format!("reask-{n}")).await;
        let mut results = run.finish_detailed(POLL).await.unwrap();
        let violated: Vec<usize> = (0..RECORDS)
            .filter(|i| {
                faults.record_fault(&format!("{i:05}"))
                    == Some(RecordFault::Malformed(Malformed::SchemaViolation))
            })
            .collect();
        assert!((60..140).contains(&violated.len()), "{}", violated.len());
        for (i, record) in results.results.records.iter().enumerate() {
            let expected_bad = violated.binary_search(&i).is_ok();
            assert_eq!(
                record.outcome.is_err(),
                expected_bad,
                "{model} {strategy}: record {i}"
            );
            if expected_bad {
                assert!(
                    matches!(record.outcome, Err(RecordError::ToolInputInvalid { .. })),
                    "{model} {strategy}: {:?}",
                    record.outcome
                );
            }
        }
        let options = RetryOptions {
            reask: 3,
            poll_interval: POLL,
            ..RetryOptions::default()
        };
        let outcome = run.retry_failed(&mut results, &options).await.unwrap();
        match &outcome {
            RetryOutcome::Reasked {
                retry,
                rounds,
                left,
                too_few,
            } => {
                assert_eq!(**retry, RetryOutcome::NothingToRetry, "{model} {strategy}");
                assert_eq!(rounds.len(), 1, "{model} {strategy}: one round is enough");
                assert_eq!(rounds[0].records, violated.len());
                assert_eq!(rounds[0].recovered, violated.len());
                assert_eq!((*left, *too_few), (0, 0));
            }
            other => panic!("{model} {strategy}: {other:?}"),
        }
        for (i, (record, info)) in results
            .results
            .records
            .iter()
            .zip(&results.info)
            .enumerate()
        {
            assert_eq!(record.record_id, format!("{i:05}"));
            assert!(
                record.is_ok(),
                "{model} {strategy}: record {i}: {:?}",
                record.outcome
            );
            let expected = if violated.binary_search(&i).is_ok() {
                2
            } else {
                1
            };
            assert_eq!(info.attempts, expected, "{model} {strategy}: record {i}");
        }
    }
}

#[tokio::test]
async fn a_resumed_run_reasks_from_the_answers_in_s3_and_never_twice() {
    let (local, _) =
        local_with_violations(vec![Malformed::NoToolCall, Malformed::SchemaViolation]).await;
    let model = "anthropic.claude-3-haiku-20240307-v1:0";
    let run_uri = run_on(&local, model, OutputStrategy::ForcedTool, "resumed")
        .await
        .run_uri();
    // Another process, with nothing but the run's URI.
    let resumed =
        BatchRun::<Structured<Person>>::resume(&run_uri, local.region(), Some(local.sdk_config()))
            .await
            .unwrap();
    let mut results = resumed.finish_detailed(POLL).await.unwrap();
    let bad = results.results.failures().count();
    assert!(bad > 50, "{bad}");
    assert!(results.results.failures().all(|f| matches!(
        f.outcome,
        Err(RecordError::NoToolCall { .. } | RecordError::ToolInputInvalid { .. })
    )));
    let options = RetryOptions {
        reask: 2,
        poll_interval: POLL,
        ..RetryOptions::default()
    };
    let first = resumed.retry_failed(&mut results, &options).await.unwrap();
    let RetryOutcome::Reasked { rounds, left, .. } = &first else {
        panic!("{first:?}")
    };
    assert_eq!((rounds.len(), *left), (1, 0));
    assert_eq!(results.results.failures().count(), 0);
    // The same re-ask from a fresh view of the run is the recorded job, not a second one.
    let mut again = resumed.finish_detailed(POLL).await.unwrap();
    let second = resumed.retry_failed(&mut again, &options).await.unwrap();
    let RetryOutcome::Reasked {
        rounds: again_rounds,
        ..
    } = &second
    else {
        panic!("{second:?}")
    };
    assert_eq!(again_rounds[0].job_arn, rounds[0].job_arn);
    let manifest = resumed.run_record();
    assert_eq!(
        manifest
            .retries
            .iter()
            .filter(|r| r.job_name.contains("reask"))
            .count(),
        1
    );
}

/// A re-ask round under the job minimum goes on demand with `RetryOptions::on_demand`: no
/// second batch job, each re-asked record answered once by the runtime and merged in place.
#[tokio::test]
async fn a_reask_round_under_the_minimum_goes_on_demand() {
    let faults = FaultConfig {
        seed: 21,
        malformed_output_rate: 0.1,
        malformed_kinds: vec![Malformed::SchemaViolation],
        ..Default::default()
    };
    let local = LocalBedrock::builder()
        .faults(faults.clone())
        .start()
        .await
        .unwrap();
    let records = 250;
    let model = "anthropic.claude-3-haiku-20240307-v1:0";
    let run = StructuredBatchInferer::<Person>::builder()
        .model_name(model)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("reask-od")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(records))
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    let mut results = run.finish_detailed(POLL).await.unwrap();
    let violated: Vec<usize> = (0..records)
        .filter(|i| faults.record_fault(&format!("{i:05}")).is_some())
        .collect();
    assert!((10..50).contains(&violated.len()), "{}", violated.len());
    let before = results.results.records.clone();
    let options = RetryOptions {
        reask: 2,
        on_demand: true,
        poll_interval: POLL,
        ..RetryOptions::default()
    };
    let outcome = run.retry_failed(&mut results, &options).await.unwrap();
    let RetryOutcome::Reasked { rounds, left, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(rounds[0].on_demand, "{outcome:?}");
    assert_eq!(rounds[0].records, violated.len());
    assert_eq!(*left, results.results.failures().count());
    assert!(rounds.iter().all(|r| r.on_demand && r.job_arn.is_empty()));
    let asked: usize = rounds.iter().map(|r| r.records).sum();
    assert_eq!(local.runtime_calls(), asked as u64);
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    let jobs = bedrock.list_model_invocation_jobs().send().await.unwrap();
    assert_eq!(jobs.invocation_job_summaries().len(), 1, "no second job");
    for (i, (record, info)) in results
        .results
        .records
        .iter()
        .zip(&results.info)
        .enumerate()
    {
        assert_eq!(record.record_id, format!("{i:05}"));
        if violated.binary_search(&i).is_ok() {
            assert!(info.attempts >= 2 && info.on_demand, "record {i}: {info:?}");
        } else {
            assert_eq!(info.attempts, 1, "record {i}");
            assert_eq!(record, &before[i], "record {i} is untouched");
        }
    }
    assert!(results.results.successes().count() >= records - left);
}
