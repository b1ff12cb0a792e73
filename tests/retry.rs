//! Retrying the records a run could not answer, token usage per record and a cost estimate.

use std::time::Duration;

use llmbo::cost::{Price, PriceTable};
use llmbo::mode::Structured;
use llmbo::run::RetryOutcome;
use llmbo::{BatchRun, RecordError, RetryOptions, StructuredBatchInferer};
use llmbo_local::{FaultConfig, JobFault, LocalBedrock};
use llmbo_workspace::{Person, person_inputs};

const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";

#[tokio::test]
async fn unprocessed_records_are_retried_and_merged_back_in_place() {
    // The second job of the run stops halfway; the retry job is not affected.
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            job_fault: Some(JobFault::PartiallyComplete {
                processed_fraction: 0.5,
            }),
            job_fault_name_contains: Some("rt-2".into()),
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let run = StructuredBatchInferer::<Person>::builder()
        .model_name(CLAUDE)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("rt")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .max_records_per_job(150)
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(300))
        .await
        .unwrap();
    let poll = Duration::from_millis(20);
    let mut results = run.finish_detailed(poll).await.unwrap();
    let missing: Vec<usize> = results
        .results
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.outcome == Err(RecordError::Missing))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(missing.len(), 75, "half of the second job");
    assert!(missing.iter().all(|&i| i >= 150));
    assert_eq!(results.info.len(), 300);
    assert!(results.info.iter().all(|i| i.attempts == 1));
    let usage_before = results.usage();
    assert!(usage_before.input_tokens > 0 && usage_before.output_tokens > 0);

    // 75 records cannot make a job (minimum 100): reported, nothing sent.
    let mut options = RetryOptions {
        poll_interval: poll,
        ..RetryOptions::default()
    };
    let outcome = run.retry_failed(&mut results, &options).await.unwrap();
    assert_eq!(
        outcome,
        RetryOutcome::TooFew {
            records: 75,
            minimum: 100
        }
    );
    assert_eq!(results.results.failures().count(), 75);

    // With consent, the job is padded to 100 and the answers merged where they belong.
    options.pad_to_minimum = true;
    let outcome = run.retry_failed(&mut results, &options).await.unwrap();
    let RetryOutcome::Retried {
        records,
        padding,
        recovered,
        ..
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!((records, padding, recovered), (75, 25, 75));
    assert_eq!(results.results.failures().count(), 0);
    let ids: Vec<String> = (0..300).map(|i| format!("{i:05}")).collect();
    let got: Vec<&str> = results
        .results
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    assert_eq!(got, ids, "same order, no padding record merged");
    for (index, info) in results.info.iter().enumerate() {
        let expected = if missing.contains(&index) { 2 } else { 1 };
        assert_eq!(info.attempts, expected, "record {index}");
        assert!(info.usage.is_some(), "record {index} has usage");
    }
    assert!(results.usage().input_tokens > usage_before.input_tokens);
    assert_eq!(
        run.retry_failed(&mut results, &options).await.unwrap(),
        RetryOutcome::NothingToRetry
    );

    // A cost estimate from a user-supplied price table.
    let prices = PriceTable::new().with(
        CLAUDE,
        Price {
            input_per_1k: 0.125,
            output_per_1k: 0.625,
        },
    );
    let usage = results.usage();
    let cost = results.estimated_cost(&prices, CLAUDE).unwrap();
    let expected =
        usage.input_tokens as f64 * 0.125 / 1000.0 + usage.output_tokens as f64 * 0.625 / 1000.0;
    assert!((cost - expected).abs() < 1e-9, "{cost} vs {expected}");
    assert_eq!(
        results.estimated_cost(&prices, "amazon.nova-lite-v1:0"),
        None
    );

    // The same run, resumed elsewhere, reads the same first answers (the retry is not part of
    // the run's manifest: it is an operation on results).
    let resumed = BatchRun::<Structured<Person>>::resume(
        &run.run_uri(),
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap()
    .finish(poll)
    .await
    .unwrap();
    assert_eq!(resumed.failures().count(), 75);
}
