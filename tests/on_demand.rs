//! Records under the job minimum go on demand (`bedrock-runtime` InvokeModel, or Converse for a
//! Converse-type run) through the same typed API: a 40-record run, a retry set, throttling on
//! the way; through llmbo-local.

use std::time::Duration;

use llmbo::{Error, StructuredBatchInferer};
use llmbo_local::{FaultConfig, LocalBedrock};
use llmbo_workspace::{Person, person_inputs};

const POLL: Duration = Duration::from_millis(20);
const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn builder(
    local: &LocalBedrock,
    model: &str,
    job: &str,
) -> llmbo::builder::Configured<llmbo::mode::Structured<Person>> {
    StructuredBatchInferer::<Person>::builder()
        .model_name(model)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(job)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
}

async fn bedrock_jobs(local: &LocalBedrock) -> usize {
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    bedrock
        .list_model_invocation_jobs()
        .send()
        .await
        .unwrap()
        .invocation_job_summaries()
        .len()
}

/// The positions of the records that failed.
fn failed_indices(results: &llmbo::run::RunResults<Person>) -> Vec<usize> {
    results
        .results
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.outcome.is_err())
        .map(|(i, _)| i)
        .collect()
}

/// Every record in input order; the `failed` ones asked a second time, on demand; the rest
/// untouched, asked once.
fn assert_retried_in_place(
    results: &llmbo::run::RunResults<Person>,
    before: &[llmbo::RecordResult<Person>],
    failed: &[usize],
) {
    for (i, (record, info)) in results
        .results
        .records
        .iter()
        .zip(&results.info)
        .enumerate()
    {
        assert_eq!(record.record_id, format!("{i:05}"));
        if failed.contains(&i) {
            assert_eq!(info.attempts, 2, "record {i}");
            assert!(info.on_demand, "record {i}");
        } else {
            assert_eq!(info.attempts, 1, "record {i}");
            assert_eq!(record, &before[i], "record {i} is untouched");
        }
    }
}

#[tokio::test]
async fn a_run_under_the_minimum_is_answered_on_demand_typed_and_in_order() {
    let local = LocalBedrock::start().await.unwrap();
    for (model, job) in [
        (CLAUDE, "small"),
        ("amazon.nova-lite-v1:0", "small-nova"),
        ("openai.gpt-oss-20b-1:0", "small-oss"),
    ] {
        let results = builder(&local, model, job)
            .on_demand_below(100)
            .build()
            .await
            .unwrap()
            .auto(person_inputs(40), POLL)
            .await
            .unwrap();
        assert_eq!(results.records.len(), 40, "{model}");
        for (i, record) in results.records.iter().enumerate() {
            assert_eq!(record.record_id, format!("{i:05}"), "{model}");
            assert!(
                record.outcome.as_ref().is_ok_and(|p| !p.name.is_empty()),
                "{model} {i}: {:?}",
                record.outcome
            );
        }
        assert_eq!(results.manifest.success_record_count, 40);
        assert!(results.manifest.input_token_count.is_some_and(|t| t > 0));
    }
    // Nothing went through a batch job.
    assert_eq!(bedrock_jobs(&local).await, 0);
    // At or over the threshold it is a batch job as ever.
    let results = builder(&local, CLAUDE, "big")
        .on_demand_below(100)
        .build()
        .await
        .unwrap()
        .auto(person_inputs(100), POLL)
        .await
        .unwrap();
    assert_eq!(results.successes().count(), 100);
    assert_eq!(bedrock_jobs(&local).await, 1);
}

#[tokio::test]
async fn throttling_at_thirty_percent_backs_off_and_every_record_is_answered_once() {
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            seed: 9,
            throttle_rate: 0.3,
            throttle_operations: vec!["InvokeModel".into()],
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let results = builder(&local, CLAUDE, "throttled")
        .on_demand_below(100)
        .on_demand_concurrency(4)
        .build()
        .await
        .unwrap()
        .auto(person_inputs(60), POLL)
        .await
        .unwrap();
    let ids: Vec<&str> = results
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    let expected: Vec<String> = (0..60).map(|i| format!("{i:05}")).collect();
    assert_eq!(ids, expected.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(results.successes().count(), 60);
}

/// The on-demand answers a run kept in S3: `(record id, modelInput, modelOutput)`, by id.
async fn kept_answers(local: &LocalBedrock) -> Vec<(String, serde_json::Value, serde_json::Value)> {
    let s3 = aws_sdk_s3::Client::new(&local.sdk_config());
    let listed = s3
        .list_objects_v2()
        .bucket(local.bucket())
        .prefix("on-demand/")
        .send()
        .await
        .unwrap();
    let mut kept = Vec::new();
    for object in listed.contents() {
        let body = s3
            .get_object()
            .bucket(local.bucket())
            .key(object.key().unwrap())
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let line: serde_json::Value = serde_json::from_slice(&body).unwrap();
        kept.push((
            line["recordId"].as_str().unwrap().to_owned(),
            line["modelInput"].clone(),
            line["modelOutput"].clone(),
        ));
    }
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    kept
}

#[tokio::test]
async fn a_converse_run_under_the_minimum_goes_on_demand_through_converse() {
    let local = LocalBedrock::start().await.unwrap();
    let results = builder(&local, "amazon.nova-pro-v1:0", "converse-small")
        .invocation_type(llmbo::adapter::InvocationType::Converse)
        .service_tier("flex")
        .on_demand_below(100)
        .build()
        .await
        .unwrap()
        .auto(person_inputs(40), POLL)
        .await
        .unwrap();
    assert_eq!(bedrock_jobs(&local).await, 0);
    assert_eq!(local.runtime_calls(), 40);
    assert_eq!(results.manifest.success_record_count, 40);
    // Each answer was asked with its own record's Converse body (the tier in it), and each
    // typed value is the one its own Converse response holds.
    let kept = kept_answers(&local).await;
    assert_eq!(kept.len(), 40);
    for (i, (record, (id, input, output))) in results.records.iter().zip(&kept).enumerate() {
        let want = format!("{i:05}");
        assert_eq!(record.record_id, want);
        assert_eq!(id, &want);
        assert!(
            input["messages"][0]["content"]
                .to_string()
                .contains(&llmbo_workspace::sample_text(i)),
            "{input}"
        );
        assert!(
            input["inferenceConfig"]["maxTokens"].is_u64(),
            "a Converse body: {input}"
        );
        assert_eq!(output["serviceTier"]["type"], "flex", "{output}");
        let text = output["output"]["message"]["content"][0]["text"]
            .as_str()
            .unwrap();
        let start = text.find('{').unwrap();
        let end = text.rfind('}').unwrap();
        let person: Person = serde_json::from_str(&text[start..=end]).unwrap();
        assert_eq!(record.outcome.as_ref().unwrap(), &person, "record {i}");
    }
}

#[tokio::test]
async fn model_errors_are_record_errors_and_bad_tiers_are_refused_before_sending() {
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            seed: 2,
            record_error_rate: 0.25,
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let results = builder(&local, CLAUDE, "errors")
        .on_demand_below(100)
        .build()
        .await
        .unwrap()
        .auto(person_inputs(80), POLL)
        .await
        .unwrap();
    let errors: Vec<_> = results.failures().collect();
    assert!((8..35).contains(&errors.len()), "{}", errors.len());
    for failure in &errors {
        match failure.outcome.as_ref().unwrap_err() {
            llmbo::RecordError::Bedrock { code, .. } => assert_eq!(code, "ModelErrorException"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(results.manifest.error_record_count, errors.len() as u64);
    // Claude has no flex tier: refused at build, nothing sent.
    let err = builder(&local, CLAUDE, "flex")
        .service_tier("flex")
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field: "service_tier", reason } if reason.contains("only `default`")),
        "{err:?}"
    );
    // gpt-oss has it, and llmbo-local checks and echoes it.
    let results = builder(&local, "openai.gpt-oss-20b-1:0", "flex-oss")
        .service_tier("flex")
        .on_demand_below(100)
        .build()
        .await
        .unwrap()
        .auto(person_inputs(10), POLL)
        .await
        .unwrap();
    assert_eq!(results.records.len(), 10);
}

#[tokio::test]
async fn thirty_failed_records_of_250_are_retried_on_demand_and_merged_in_place() {
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            seed: 17,
            record_error_rate: 0.12,
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let run = builder(&local, CLAUDE, "retry-od")
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(250))
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    let mut results = run.finish_detailed(POLL).await.unwrap();
    let failed = failed_indices(&results);
    assert!((15..50).contains(&failed.len()), "{}", failed.len());
    let before: Vec<_> = results.results.records.clone();
    // Too few for a job: without on demand nothing is sent.
    let mut options = llmbo::RetryOptions {
        poll_interval: POLL,
        ..llmbo::RetryOptions::default()
    };
    assert!(matches!(
        run.retry_failed(&mut results, &options).await.unwrap(),
        llmbo::run::RetryOutcome::TooFew { .. }
    ));
    options.on_demand = true;
    let outcome = run.retry_failed(&mut results, &options).await.unwrap();
    let llmbo::run::RetryOutcome::OnDemand { records, recovered } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(records, failed.len());
    assert!(recovered > records / 2, "{recovered} of {records}");
    assert_retried_in_place(&results, &before, &failed);
    assert_eq!(
        results.results.successes().count(),
        250 - failed.len() + recovered
    );
    // Still one batch job: the retry went on demand.
    assert_eq!(bedrock_jobs(&local).await, 1);
    // Usage and cost name the on-demand part apart, at its own price.
    assert!(
        results
            .info
            .iter()
            .enumerate()
            .all(|(i, info)| info.on_demand == failed.contains(&i))
    );
    let (batch, on_demand) = results.usage_by_kind();
    assert!(batch.input_tokens > 0 && on_demand.input_tokens > 0);
    let price = llmbo::cost::Price {
        input_per_1k: 1.0,
        output_per_1k: 2.0,
    };
    let batch_only = llmbo::cost::PriceTable::new().with(CLAUDE, price);
    assert_eq!(
        results.estimated_cost(&batch_only, CLAUDE),
        None,
        "no on-demand price: no total"
    );
    let both = batch_only.with_on_demand(
        CLAUDE,
        llmbo::cost::Price {
            input_per_1k: 2.0,
            output_per_1k: 4.0,
        },
    );
    let costs = results.estimated_costs(&both, CLAUDE);
    let expected = on_demand.input_tokens as f64 / 1000.0 * 2.0
        + on_demand.output_tokens as f64 / 1000.0 * 4.0;
    assert!((costs.on_demand.unwrap_or_default() - expected).abs() < 1e-9);
    assert!(costs.batch.is_some_and(|c| c > 0.0));
    assert_eq!(results.estimated_cost(&both, CLAUDE), costs.total());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_killed_during_an_on_demand_retry_resumes_without_asking_twice() {
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            seed: 17,
            record_error_rate: 0.12,
            ..Default::default()
        })
        .speed(llmbo_local::Speed {
            per_record: Duration::from_millis(15),
            ..llmbo_local::Speed::fast()
        })
        .start()
        .await
        .unwrap();
    let run = builder(&local, CLAUDE, "killed")
        .on_demand_concurrency(2)
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(250))
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    let run_uri = run.run_uri();
    let mut results = run.finish_detailed(POLL).await.unwrap();
    let failed = failed_indices(&results);
    assert!(failed.len() > 15, "{}", failed.len());
    let options = llmbo::RetryOptions {
        poll_interval: POLL,
        on_demand: true,
        ..llmbo::RetryOptions::default()
    };
    // The first process dies a third of the way through its on-demand retry.
    let first = tokio::spawn({
        let options = options.clone();
        async move { run.retry_failed(&mut results, &options).await }
    });
    while local.runtime_calls() < failed.len() as u64 / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.abort();
    let _ = first.await;
    let asked_before = local.runtime_calls();
    assert!(
        asked_before < failed.len() as u64,
        "the kill came too late to test anything"
    );

    // Another process, with the run's URI only.
    let resumed = llmbo::BatchRun::<llmbo::mode::Structured<Person>>::resume(
        &run_uri,
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap();
    let mut results = resumed.finish_detailed(POLL).await.unwrap();
    let outcome = resumed.retry_failed(&mut results, &options).await.unwrap();
    let llmbo::run::RetryOutcome::OnDemand { records, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(records, failed.len());
    // No record answered before the kill was asked again; those in flight (2 at most) may be,
    // and so may those whose on-demand answer was a model error (12% here): an error is never
    // kept in place of a later ask.
    let asked = local.runtime_calls();
    let still_failed = failed_indices(&results).len() as u64;
    assert!(
        asked >= failed.len() as u64 && asked <= failed.len() as u64 + 2 + still_failed,
        "{asked} calls for {} records, {still_failed} of them failed again",
        failed.len()
    );
    for (i, (record, info)) in results
        .results
        .records
        .iter()
        .zip(&results.info)
        .enumerate()
    {
        assert_eq!(record.record_id, format!("{i:05}"));
        let expected = if failed.contains(&i) { 2 } else { 1 };
        assert_eq!(info.attempts, expected, "record {i}");
    }
    // The run record names the one on-demand set, whichever process asked.
    assert_eq!(resumed.run_record().on_demand.len(), 1);
}

#[tokio::test]
async fn a_model_served_through_profiles_only_names_the_profile_to_use() {
    let local = LocalBedrock::start().await.unwrap();
    let bare = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    // llmbo's table knows: refused at build, the profile named.
    match builder(&local, bare, "profile").build().await {
        Err(llmbo::Error::InvalidConfig { reason, .. }) => {
            assert!(reason.contains(&format!("`us.{bare}`")), "{reason}");
        }
        other => panic!("not refused: {other:?}"),
    }
    // Past the checks, the runtime refuses it, and each record's error names the profile.
    let results = builder(&local, bare, "profile")
        .on_demand_below(100)
        .output_strategy(llmbo::OutputStrategy::ForcedTool)
        .skip_preflight_checks()
        .build()
        .await
        .unwrap()
        .auto(person_inputs(3), POLL)
        .await
        .unwrap();
    for record in &results.records {
        match record.outcome.as_ref().unwrap_err() {
            llmbo::RecordError::Bedrock { code, message } => {
                assert_eq!(code, "ValidationException");
                assert!(message.contains("on-demand throughput"), "{message}");
                assert!(message.contains(&format!("`us.{bare}`")), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
    // Through the profile it is answered.
    let results = builder(&local, &format!("us.{bare}"), "profile-us")
        .on_demand_below(100)
        .build()
        .await
        .unwrap()
        .auto(person_inputs(3), POLL)
        .await
        .unwrap();
    assert_eq!(results.successes().count(), 3);
}

#[tokio::test]
async fn a_body_over_the_runtime_limit_is_that_records_error_before_any_call() {
    let local = LocalBedrock::start().await.unwrap();
    let mut inputs = person_inputs(3);
    inputs[1].1 = llmbo::ModelInput::new()
        .user("x".repeat(25_000_001))
        .max_tokens(10);
    let results = builder(&local, CLAUDE, "too-big")
        .on_demand_below(100)
        .build()
        .await
        .unwrap()
        .auto(inputs, POLL)
        .await
        .unwrap();
    assert!(results.records[0].is_ok() && results.records[2].is_ok());
    match results.records[1].outcome.as_ref().unwrap_err() {
        llmbo::RecordError::Bedrock { code, message } => {
            assert_eq!(code, "ValidationException");
            assert!(message.contains("not sent"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(local.runtime_calls(), 2, "the big one was never sent");
}

#[tokio::test]
async fn a_retry_set_throttled_at_thirty_percent_is_answered_once_each() {
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            seed: 23,
            record_error_rate: 0.15,
            throttle_rate: 0.3,
            throttle_operations: vec!["InvokeModel".into()],
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let run = builder(&local, CLAUDE, "retry-throttled")
        .on_demand_concurrency(4)
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(150))
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    let mut results = run.finish_detailed(POLL).await.unwrap();
    let failed = failed_indices(&results);
    assert!((8..45).contains(&failed.len()), "{}", failed.len());
    let before = results.results.records.clone();
    let options = llmbo::RetryOptions {
        poll_interval: POLL,
        on_demand: true,
        ..llmbo::RetryOptions::default()
    };
    let outcome = run.retry_failed(&mut results, &options).await.unwrap();
    let llmbo::run::RetryOutcome::OnDemand { records, recovered } = outcome else {
        panic!("{outcome:?}")
    };
    // Throttled calls were sent again; none is lost, and none counts twice.
    assert_eq!(records, failed.len());
    assert!(recovered > records / 2, "{recovered} of {records}");
    // Calls were throttled, and sent again; a throttled call never reaches the model, so
    // each record was answered by one call.
    assert!(local.throttled_calls() > 0, "throttling happened");
    assert_eq!(local.runtime_calls(), records as u64);
    assert_retried_in_place(&results, &before, &failed);
    assert_eq!(
        results.results.successes().count(),
        150 - failed.len() + recovered
    );
}

#[tokio::test]
async fn an_on_demand_set_reports_its_progress() {
    let local = LocalBedrock::start().await.unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&seen);
    let results = builder(&local, CLAUDE, "od-progress")
        .on_demand_below(100)
        .on_progress(move |p| {
            if let Ok(mut seen) = sink.lock() {
                seen.push(p.clone());
            }
        })
        .build()
        .await
        .unwrap()
        .auto(person_inputs(45), POLL)
        .await
        .unwrap();
    assert_eq!(results.successes().count(), 45);
    let seen = seen.lock().unwrap();
    let on_demand: Vec<(u64, u64, Option<u64>)> = seen
        .iter()
        .filter(|p| p.stage == llmbo::status::Stage::OnDemand)
        .map(|p| (p.processed, p.succeeded, p.total))
        .collect();
    // A first report with nothing answered, one every ten, and the last with every record.
    assert_eq!(on_demand.first(), Some(&(0, 0, Some(45))));
    assert_eq!(on_demand.last(), Some(&(45, 45, Some(45))));
    let counts: Vec<u64> = on_demand.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(counts, [0, 10, 20, 30, 40, 45]);
    assert!(
        seen.iter()
            .all(|p| p.stage != llmbo::status::Stage::Running),
        "no job ran"
    );
}
