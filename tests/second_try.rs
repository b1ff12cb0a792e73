//! The paths a user takes after something went wrong: a retry after a failed retry, a retry
//! in another process, a re-ask after an on-demand round, a retry after a cancel, a follow-up
//! of a run whose name leaves no room, an id of llmbo's own. Each test runs the second try
//! for real against llmbo-local and checks every record.

use std::time::Duration;

use llmbo::mode::Structured;
use llmbo::run::{RetryOutcome, RunResults};
use llmbo::{BatchRun, Error, RecordError, RetryOptions, StructuredBatchInferer};
use llmbo_local::{ControlFault, ControlFaultKind, FaultConfig, JobFault, LocalBedrock};
use llmbo_workspace::{Person, person_inputs};
use serde_json::Value;

const POLL: Duration = Duration::from_millis(20);
const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn builder(local: &LocalBedrock, job: &str) -> llmbo::builder::Configured<Structured<Person>> {
    StructuredBatchInferer::<Person>::builder()
        .model_name(CLAUDE)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(job)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
}

/// A run of `records` people under `job`, uploaded and recorded.
async fn started(
    local: &LocalBedrock,
    job: &str,
    records: usize,
) -> BatchRun<Structured<Person>, llmbo::state::Uploaded> {
    builder(local, job)
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(records))
        .await
        .unwrap()
}

/// llmbo-local with these faults.
async fn local_with(faults: FaultConfig) -> LocalBedrock {
    LocalBedrock::builder()
        .faults(faults)
        .start()
        .await
        .unwrap()
}

fn options() -> RetryOptions {
    RetryOptions {
        poll_interval: POLL,
        ..RetryOptions::default()
    }
}

async fn job_names(local: &LocalBedrock) -> Vec<String> {
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    let mut names: Vec<String> = bedrock
        .list_model_invocation_jobs()
        .send()
        .await
        .unwrap()
        .invocation_job_summaries()
        .iter()
        .map(|job| job.job_name().to_owned())
        .collect();
    names.sort();
    names
}

/// Every record in input order, exactly once, each with a value.
fn assert_all_answered(results: &RunResults<Person>, count: usize) {
    let ids: Vec<String> = (0..count).map(|i| format!("{i:05}")).collect();
    let got: Vec<&str> = results
        .results
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    assert_eq!(got, ids, "every record once, in input order");
    assert_eq!(results.info.len(), count);
    for (i, record) in results.results.records.iter().enumerate() {
        assert!(record.outcome.is_ok(), "record {i}: {:?}", record.outcome);
    }
}

/// Issue item 1: an on-demand call that ended in a model error is not kept, so the same
/// records asked again, from another process, are called again and recovered.
#[tokio::test]
async fn an_on_demand_error_never_answers_a_later_ask() {
    // The job stops after 90% of its records; every on-demand call of the first retry of the
    // rest ends in a model error.
    let failing = 15;
    let failing_ids: Vec<String> = (150 - failing..150).map(|i| format!("{i:05}")).collect();
    let faults = FaultConfig {
        job_fault: Some(JobFault::PartiallyComplete {
            processed_fraction: 0.9,
        }),
        control_faults: vec![ControlFault {
            operation: "InvokeModel".into(),
            kind: ControlFaultKind::ModelError,
            times: failing as u64,
        }],
        ..Default::default()
    };
    let local = LocalBedrock::builder()
        .faults(faults)
        .start()
        .await
        .unwrap();
    let run = started(&local, "od-err", 150).await;
    let mut results = run.finish_detailed(POLL).await.unwrap();
    let failed: Vec<&str> = results
        .results
        .failures()
        .map(|r| r.record_id.as_str())
        .collect();
    assert_eq!(failed, failing_ids);
    let retry = RetryOptions {
        on_demand: true,
        ..options()
    };
    let outcome = run.retry_failed(&mut results, &retry).await.unwrap();
    assert_eq!(
        outcome,
        RetryOutcome::OnDemand {
            records: failing,
            recovered: 0
        }
    );
    for record in results.results.failures() {
        assert!(
            matches!(&record.outcome, Err(RecordError::Bedrock { code, .. }) if code.contains("ModelError")),
            "{:?}",
            record.outcome
        );
    }

    // Another process resumes the run: its results are the first pass's, so it asks the very
    // same set again. The kept errors must not answer it.
    let resumed = BatchRun::<Structured<Person>>::resume(
        &run.run_uri(),
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap();
    let mut again = resumed.finish_detailed(POLL).await.unwrap();
    assert_eq!(again.results.failures().count(), failing);
    let calls_before = local.runtime_calls();
    let outcome = resumed.retry_failed(&mut again, &retry).await.unwrap();
    assert_eq!(
        outcome,
        RetryOutcome::OnDemand {
            records: failing,
            recovered: failing
        }
    );
    assert_eq!(local.runtime_calls() - calls_before, failing as u64);
    assert_all_answered(&again, 150);
    // The records asked on demand are exactly the ones that failed, each asked a second time by this process.
    for (info, record) in again.info.iter().zip(&again.results.records) {
        let failed = failing_ids.contains(&record.record_id);
        assert_eq!(info.on_demand, failed, "{}", record.record_id);
        assert_eq!(
            info.attempts,
            if failed { 2 } else { 1 },
            "{}",
            record.record_id
        );
    }
    // Still one batch job: both retries went on demand.
    assert_eq!(job_names(&local).await, vec!["od-err".to_owned()]);
}

/// Issue item 2: a retry job that ended Failed is history; the next retry of the same records
/// sends a new job under a new name, and the one after that has nothing left to do.
#[tokio::test]
async fn a_retry_after_a_failed_retry_job_sends_a_new_job() {
    // Of the run's two jobs the second fails, and so does the first retry of its records;
    // the second retry runs.
    let local = local_with(FaultConfig {
        job_fault: Some(JobFault::Fail {
            message: "injected".into(),
        }),
        job_fault_jobs: Some(1..3),
        ..Default::default()
    })
    .await;
    let run = builder(&local, "failed-twice")
        .max_records_per_job(120)
        .max_concurrent_jobs(1)
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(240))
        .await
        .unwrap();
    let mut results = run.finish_detailed(POLL).await.unwrap();
    for (i, record) in results.results.records.iter().enumerate() {
        assert_eq!(
            matches!(record.outcome, Err(RecordError::JobFailed { .. })),
            i >= 120,
            "record {i}: {:?}",
            record.outcome
        );
    }
    let first = run.retry_failed(&mut results, &options()).await;
    assert!(
        matches!(&first, Err(Error::JobFailed { status, .. }) if status == "Failed"),
        "{first:?}"
    );
    assert_eq!(results.results.failures().count(), 120, "nothing merged");
    assert!(results.info.iter().all(|info| info.attempts == 1));

    let outcome = run.retry_failed(&mut results, &options()).await.unwrap();
    let RetryOutcome::Retried {
        records, recovered, ..
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!((records, recovered), (120, 120));
    assert_all_answered(&results, 240);
    for (i, info) in results.info.iter().enumerate() {
        assert_eq!(info.attempts, if i >= 120 { 2 } else { 1 }, "record {i}");
    }
    assert_eq!(
        job_names(&local).await,
        vec![
            "failed-twice-1".to_owned(),
            "failed-twice-2".to_owned(),
            "failed-twice-retry1".to_owned(),
            "failed-twice-retry1-2".to_owned()
        ]
    );
    assert_eq!(
        run.retry_failed(&mut results, &options()).await.unwrap(),
        RetryOutcome::NothingToRetry
    );
    assert_eq!(job_names(&local).await.len(), 4, "no fifth job");
}

/// Issue item 3: the second re-ask round shows the model the answer it gave in the first,
/// also when the first went on demand.
#[tokio::test]
async fn a_reask_round_on_demand_is_seen_by_the_next_round() {
    let local = local_with(FaultConfig {
        seed: 3,
        malformed_output_rate: 0.6,
        malformed_kinds: vec![llmbo_local::Malformed::SchemaViolation],
        malformed_follow_ups: true,
        ..Default::default()
    })
    .await;
    let run = started(&local, "reask-od", 120).await;
    let mut results = run.finish_detailed(POLL).await.unwrap();
    let bad = results.results.failures().count();
    assert!((40..100).contains(&bad), "{bad}");
    let retry = RetryOptions {
        on_demand: true,
        reask: 2,
        ..options()
    };
    // Under the minimum of 100 once the first answers are in: both rounds go on demand.
    let outcome = run.retry_failed(&mut results, &retry).await.unwrap();
    let RetryOutcome::Reasked { rounds, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(rounds.len(), 2, "{outcome:?}");
    assert!(rounds.iter().all(|r| r.on_demand), "{outcome:?}");

    // What each round sent and got, as kept in S3.
    let kept = |round: u32| {
        let s3 = aws_sdk_s3::Client::new(&local.sdk_config());
        let bucket = local.bucket().to_owned();
        async move {
            let prefix = format!("on-demand/reask-od-reask{round}-");
            let listed = s3
                .list_objects_v2()
                .bucket(&bucket)
                .prefix(&prefix)
                .send()
                .await
                .unwrap();
            let mut lines = std::collections::HashMap::new();
            for object in listed.contents() {
                let body = s3
                    .get_object()
                    .bucket(&bucket)
                    .key(object.key().unwrap())
                    .send()
                    .await
                    .unwrap()
                    .body
                    .collect()
                    .await
                    .unwrap()
                    .into_bytes();
                let line: Value = serde_json::from_slice(&body).unwrap();
                lines.insert(line["recordId"].as_str().unwrap().to_owned(), line);
            }
            lines
        }
    };
    let first = kept(1).await;
    let second = kept(2).await;
    assert_eq!(first.len(), rounds[0].records);
    assert_eq!(second.len(), rounds[1].records);
    assert!(!second.is_empty());
    for (id, line) in &second {
        let messages = line["modelInput"]["messages"].as_array().unwrap();
        assert_eq!(
            messages.len(),
            5,
            "record {id}: two answers and two problems"
        );
        let earlier = &first[id];
        assert_eq!(
            messages[3],
            serde_json::json!({"role": "assistant", "content": earlier["modelOutput"]["content"]}),
            "record {id}: round 2 shows round 1's own answer"
        );
    }
}

/// Issue item 4: after a cancel, from another process, a retry or re-ask creates nothing and
/// calls nothing, and says the run was cancelled.
#[tokio::test]
async fn a_cancelled_run_is_not_retried() {
    let local = local_with(FaultConfig {
        seed: 9,
        record_error_rate: 0.1,
        ..Default::default()
    })
    .await;
    let run = started(&local, "cancelled-rt", 150).await;
    let mut results = run.finish_detailed(POLL).await.unwrap();
    let failing = results.results.failures().count();
    assert!(failing > 0);
    let other = BatchRun::<Structured<Person>>::resume(
        &run.run_uri(),
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap();
    other.cancel().await.unwrap();
    for retry in [
        RetryOptions {
            on_demand: true,
            ..options()
        },
        RetryOptions {
            pad_to_minimum: true,
            ..options()
        },
        RetryOptions {
            on_demand: true,
            include_parse_failures: true,
            reask: 2,
            ..options()
        },
    ] {
        let outcome = run.retry_failed(&mut results, &retry).await;
        let Err(err @ Error::Cancelled { .. }) = &outcome else {
            panic!("{outcome:?}");
        };
        assert!(err.to_string().contains("cancelled"), "{err}");
    }
    assert_eq!(local.runtime_calls(), 0);
    assert_eq!(job_names(&local).await, vec!["cancelled-rt".to_owned()]);
    assert_eq!(
        results.results.failures().count(),
        failing,
        "nothing merged"
    );
}

/// Issue item 5: follow-up names always fit Bedrock's 63 characters, at both ends.
#[tokio::test]
async fn follow_ups_of_the_longest_and_shortest_names_run() {
    let longest = format!("L{}", "o".repeat(62));
    for name in [longest.as_str(), "s"] {
        // The run's job stops halfway; its retry runs.
        let local = LocalBedrock::builder()
            .faults(FaultConfig {
                job_fault: Some(JobFault::PartiallyComplete {
                    processed_fraction: 0.5,
                }),
                job_fault_jobs: Some(0..1),
                ..Default::default()
            })
            .start()
            .await
            .unwrap();
        let run = builder(&local, name)
            .build()
            .await
            .unwrap()
            .start_run(person_inputs(200))
            .await
            .unwrap();
        let mut results = run.finish_detailed(POLL).await.unwrap();
        assert_eq!(results.results.failures().count(), 100, "{name}");
        let outcome = run.retry_failed(&mut results, &options()).await.unwrap();
        assert!(
            matches!(
                outcome,
                RetryOutcome::Retried {
                    records: 100,
                    recovered: 100,
                    ..
                }
            ),
            "{name}: {outcome:?}"
        );
        assert_all_answered(&results, 200);
        let names = job_names(&local).await;
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().all(|n| n.len() <= 63), "{names:?}");
        let retry = names.iter().find(|n| *n != name).unwrap();
        if name == "s" {
            assert_eq!(retry, "s-retry1");
        } else {
            assert!(
                retry.starts_with(&longest[..34]) && retry.ends_with("-retry1"),
                "{retry}"
            );
        }
    }
}

/// Issue item 9: ids of llmbo's own padding are refused at prepare, before anything is sent.
#[tokio::test]
async fn a_padding_id_is_refused_at_prepare() {
    let local = LocalBedrock::start().await.unwrap();
    let mut inputs = person_inputs(120);
    inputs[7].0 = "llmbo-pad-0".into();
    let refused = builder(&local, "pad-id")
        .build()
        .await
        .unwrap()
        .start_run(inputs)
        .await;
    let Err(err) = refused else {
        panic!("accepted");
    };
    assert!(
        matches!(&err, Error::InvalidInput { record_id: Some(id), .. } if id == "llmbo-pad-0"),
        "{err:?}"
    );
    assert!(err.to_string().contains("llmbo's own"), "{err}");
    assert!(job_names(&local).await.is_empty());
}

async fn get_text(local: &LocalBedrock, key: &str) -> String {
    let body = llmbo_workspace::s3_client(&local.sdk_config())
        .get_object()
        .bucket(local.bucket())
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

async fn put_text(local: &LocalBedrock, key: &str, text: String) {
    llmbo_workspace::s3_client(&local.sdk_config())
        .put_object()
        .bucket(local.bucket())
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(text.into_bytes()))
        .send()
        .await
        .unwrap();
}

/// A job created outside llmbo from a folder of two input files, as Bedrock allows.
async fn create_folder_job(local: &LocalBedrock, name: &str, folder: &str) -> String {
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    use aws_sdk_bedrock::types::{
        ModelInvocationJobInputDataConfig, ModelInvocationJobOutputDataConfig,
        ModelInvocationJobS3InputDataConfig, ModelInvocationJobS3OutputDataConfig,
    };
    bedrock
        .create_model_invocation_job()
        .job_name(name)
        .role_arn(local.role_arn())
        .model_id(CLAUDE)
        .input_data_config(ModelInvocationJobInputDataConfig::S3InputDataConfig(
            ModelInvocationJobS3InputDataConfig::builder()
                .s3_uri(format!("s3://{}/{folder}", local.bucket()))
                .build()
                .unwrap(),
        ))
        .output_data_config(ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
            ModelInvocationJobS3OutputDataConfig::builder()
                .s3_uri(format!("s3://{}/output/", local.bucket()))
                .build()
                .unwrap(),
        ))
        .send()
        .await
        .unwrap()
        .job_arn()
        .to_owned()
}

/// Issue item 6: a job recovered from its ARN whose input is an S3 folder is retried from
/// that folder's files.
#[tokio::test]
async fn a_recovered_job_with_a_folder_input_is_retried() {
    // The second job (the folder job) stops halfway.
    let local = local_with(FaultConfig {
        job_fault: Some(JobFault::PartiallyComplete {
            processed_fraction: 0.5,
        }),
        job_fault_jobs: Some(1..2),
        ..Default::default()
    })
    .await;
    // A run of llmbo's writes the requests; they are split into a folder of two files.
    builder(&local, "source")
        .build()
        .await
        .unwrap()
        .auto(person_inputs(200), POLL)
        .await
        .unwrap();
    let text = get_text(&local, "input/source.jsonl").await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 200);
    put_text(&local, "folder-in/a.jsonl", lines[..120].join("\n") + "\n").await;
    put_text(&local, "folder-in/b.jsonl", lines[120..].join("\n") + "\n").await;
    let arn = create_folder_job(&local, "from-folder", "folder-in/").await;

    let run = BatchRun::<Structured<Person>>::from_job_arn(
        &arn,
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap();
    let mut results = run.finish_detailed(POLL).await.unwrap();
    assert_eq!(results.results.records.len(), 200);
    assert_eq!(results.results.failures().count(), 100);
    let outcome = run.retry_failed(&mut results, &options()).await.unwrap();
    assert!(
        matches!(
            outcome,
            RetryOutcome::Retried {
                records: 100,
                recovered: 100,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_all_answered(&results, 200);
}

/// Issue item 7: a retry of a job recovered from its ARN runs with the settings the job was
/// created with: KMS key, bucket owner, VPC and tags.
#[tokio::test]
async fn a_recovered_job_is_retried_with_its_creation_settings() {
    let local = local_with(FaultConfig {
        job_fault: Some(JobFault::PartiallyComplete {
            processed_fraction: 0.5,
        }),
        job_fault_jobs: Some(0..1),
        ..Default::default()
    })
    .await;
    let kms = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let started = builder(&local, "settings")
        .kms_key_id(kms)
        .expected_bucket_owner(local.account_id())
        .vpc_config(vec!["subnet-0a1b".into()], vec!["sg-0c2d".into()])
        .tag("team", "extraction")
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(200))
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    let first_arn = started.run_record().shards[0].job_arn.clone();
    let first_arn = first_arn.unwrap_or_else(|| panic!("{:?}", started.run_record()));
    // Another process knows the ARN only.
    let run = BatchRun::<Structured<Person>>::from_job_arn(
        &first_arn,
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap();
    let mut results = run.finish_detailed(POLL).await.unwrap();
    assert_eq!(results.results.failures().count(), 100);
    let RetryOutcome::Retried { job_arn, .. } =
        run.retry_failed(&mut results, &options()).await.unwrap()
    else {
        panic!("a retry job");
    };
    assert_all_answered(&results, 200);
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    let settings_of = |arn: String| {
        let bedrock = bedrock.clone();
        async move {
            let job = bedrock
                .get_model_invocation_job()
                .job_identifier(&arn)
                .send()
                .await
                .unwrap();
            let output = match job.output_data_config().unwrap() {
                aws_sdk_bedrock::types::ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
                    c,
                ) => c.clone(),
                _ => panic!(),
            };
            let input = match job.input_data_config().unwrap() {
                aws_sdk_bedrock::types::ModelInvocationJobInputDataConfig::S3InputDataConfig(c) => {
                    c.clone()
                }
                _ => panic!(),
            };
            let vpc = job.vpc_config().cloned();
            let mut tags: Vec<(String, String)> = bedrock
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send()
                .await
                .unwrap()
                .tags()
                .iter()
                .filter(|t| t.key() != "created-by")
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect();
            tags.sort();
            (
                output.s3_encryption_key_id().map(str::to_owned),
                output.s3_bucket_owner().map(str::to_owned),
                input.s3_bucket_owner().map(str::to_owned),
                vpc,
                tags,
            )
        }
    };
    let original = settings_of(first_arn).await;
    assert_eq!(original.0.as_deref(), Some(kms));
    assert!(original.3.is_some());
    assert_eq!(
        original.4,
        vec![("team".to_owned(), "extraction".to_owned())]
    );
    assert_eq!(settings_of(job_arn).await, original, "the retry's settings");
}

/// Issue item 8: a process died between creating a job and recording its ARN, and the run is
/// resumed by an llmbo whose token differs (here: a job created with another token and an
/// older `created-by`). The same-name job with the record's request is adopted, not refused,
/// and no second job is created; a same-name job with another input is still refused.
#[tokio::test]
async fn a_same_request_job_made_with_another_token_is_adopted() {
    use aws_sdk_bedrock::types::{
        ModelInvocationJobInputDataConfig, ModelInvocationJobOutputDataConfig,
        ModelInvocationJobS3InputDataConfig, ModelInvocationJobS3OutputDataConfig, Tag,
    };
    let local = LocalBedrock::start().await.unwrap();
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    let create_outside = |name: &str, input: &str, created_by: Option<&str>| {
        let bedrock = bedrock.clone();
        let (name, input) = (name.to_owned(), input.to_owned());
        let bucket = local.bucket().to_owned();
        let role = local.role_arn().to_owned();
        let tags: Vec<Tag> = created_by
            .map(|v| Tag::builder().key("created-by").value(v).build().unwrap())
            .into_iter()
            .collect();
        async move {
            bedrock
                .create_model_invocation_job()
                .job_name(name)
                .role_arn(role)
                .model_id(CLAUDE)
                .client_request_token("a-token-of-an-older-llmbo")
                .timeout_duration_in_hours(24)
                .set_tags(Some(tags))
                .input_data_config(ModelInvocationJobInputDataConfig::S3InputDataConfig(
                    ModelInvocationJobS3InputDataConfig::builder()
                        .s3_uri(format!("s3://{bucket}/{input}"))
                        .build()
                        .unwrap(),
                ))
                .output_data_config(ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
                    ModelInvocationJobS3OutputDataConfig::builder()
                        .s3_uri(format!("s3://{bucket}/output/"))
                        .build()
                        .unwrap(),
                ))
                .send()
                .await
                .unwrap()
                .job_arn()
                .to_owned()
        }
    };
    // The run is uploaded; the older llmbo created its job and died before recording it.
    let uploaded = builder(&local, "adopt")
        .build()
        .await
        .unwrap()
        .prepare_requests(person_inputs(120))
        .unwrap()
        .push_requests_to_s3()
        .await
        .unwrap();
    let outside = create_outside("adopt", "input/adopt.jsonl", Some("llmbo-0.0.9")).await;
    let results = uploaded
        .create()
        .await
        .unwrap()
        .poll_progress(POLL)
        .await
        .unwrap()
        .download_results()
        .await
        .unwrap()
        .load_results()
        .unwrap();
    assert_eq!(results.records.len(), 120);
    assert_eq!(results.failures().count(), 0);
    assert_eq!(job_names(&local).await, vec!["adopt".to_owned()], "one job");
    let resumed = BatchRun::<Structured<Person>>::resume(
        &format!("s3://{}/input/adopt.run.json", local.bucket()),
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap();
    assert_eq!(
        resumed.run_record().shards[0].job_arn.as_deref(),
        Some(outside.as_str())
    );

    // A job of the name that is not this request (another input, or not llmbo's) is refused.
    put_text(
        &local,
        "input/elsewhere.jsonl",
        get_text(&local, "input/adopt.jsonl").await,
    )
    .await;
    for (name, input, tag) in [
        ("other-input", "input/elsewhere.jsonl", Some("llmbo-0.0.9")),
        ("not-llmbo", "input/not-llmbo.jsonl", None),
    ] {
        let uploaded = builder(&local, name)
            .build()
            .await
            .unwrap()
            .prepare_requests(person_inputs(120))
            .unwrap()
            .push_requests_to_s3()
            .await
            .unwrap();
        create_outside(name, input, tag).await;
        let refused = uploaded.create().await;
        assert!(
            matches!(
                &refused,
                Err(Error::InvalidConfig {
                    field: "job_name",
                    ..
                })
            ),
            "{name}: {:?}",
            refused.err()
        );
    }
}

/// Issue item 13: a job of a cancelled run never created, whose input cannot be read (here:
/// deleted), is an error naming the object, not records that silently drop out; with its
/// input there, its records are JobFailed, each once.
#[tokio::test]
async fn an_unreadable_input_of_a_job_never_created_is_an_error() {
    let local = LocalBedrock::start().await.unwrap();
    let run = builder(&local, "never")
        .max_records_per_job(120)
        .max_concurrent_jobs(1)
        .build()
        .await
        .unwrap()
        .prepare_run(person_inputs(240))
        .unwrap()
        .push_requests_to_s3()
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    let run_uri = run.run_uri();
    let _cancelled = run.cancel_batch().await.unwrap();
    let finished =
        BatchRun::<Structured<Person>>::resume(&run_uri, local.region(), Some(local.sdk_config()))
            .await
            .unwrap();
    let results = finished.finish(POLL).await.unwrap();
    assert_eq!(results.records.len(), 240, "every record once");
    let never: Vec<usize> = results
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.outcome, Err(RecordError::JobFailed { .. })))
        .map(|(i, _)| i)
        .collect();
    assert!(never.len() >= 120, "{}", never.len());

    llmbo_workspace::s3_client(&local.sdk_config())
        .delete_object()
        .bucket(local.bucket())
        .key("input/never-2.jsonl")
        .send()
        .await
        .unwrap();
    let again =
        BatchRun::<Structured<Person>>::resume(&run_uri, local.region(), Some(local.sdk_config()))
            .await
            .unwrap()
            .finish(POLL)
            .await;
    let err = match again {
        Err(err) => err,
        Ok(results) => panic!(
            "records dropped out silently: {} results, {} failures",
            results.records.len(),
            results.failures().count()
        ),
    };
    let message = err.to_string();
    assert!(
        message.contains("input/never-2.jsonl") && message.contains("120 records"),
        "{message}"
    );
}

/// Issue item 10: two processes start one job name with different inputs at the same moment.
/// The name is reserved before any upload, so exactly one run wins, the other is refused
/// before it uploads a byte, and the winner's job runs on exactly its own prompts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_racing_for_one_name_never_mix_inputs() {
    let local = LocalBedrock::start().await.unwrap();
    let inputs = |side: &str| {
        (0..4000)
            .map(|i| {
                (
                    format!("{i:05}"),
                    llmbo::ModelInput::new()
                        .user(format!("side {side}: article {i} names a person"))
                        .max_tokens(256),
                )
            })
            .collect::<Vec<_>>()
    };
    let start = |side: &'static str| {
        let local_builder = builder(&local, "raced");
        let inputs = inputs(side);
        async move {
            local_builder
                .build()
                .await
                .unwrap()
                .start_run(inputs)
                .await
                .map(|run| (side, run))
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(start("a")), tokio::spawn(start("b")));
    let outcomes = [a.unwrap(), b.unwrap()];
    let winners: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one run wins the name");
    let (side, _) = winners[0];
    let loser = outcomes.iter().find_map(|o| o.as_ref().err()).unwrap();
    assert!(matches!(loser, Error::RunExists { .. }), "{loser:?}");
    // The input in S3 is the winner's, line for line.
    let text = get_text(&local, "input/raced.jsonl").await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4000);
    for (i, line) in lines.iter().enumerate() {
        assert!(
            line.contains(&format!("side {side}: article {i} names")),
            "line {i} is not the winner's: {line}"
        );
    }
    // And the job answers the winner's prompts, record by record.
    let (_, run) = outcomes.into_iter().find_map(Result::ok).unwrap();
    let results = run.finish_detailed(POLL).await.unwrap();
    assert_all_answered(&results, 4000);
}

/// A run reserved by a process that died before its inputs were all uploaded: the same run
/// started again (same inputs and settings) adopts the record and uploads what is missing.
#[tokio::test]
async fn a_run_left_before_its_uploads_is_completed_by_the_next_start() {
    let local = LocalBedrock::start().await.unwrap();
    let first = builder(&local, "half-up")
        .max_records_per_job(120)
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(240))
        .await
        .unwrap();
    drop(first);
    // What a process that died after its first upload leaves.
    llmbo_workspace::s3_client(&local.sdk_config())
        .delete_object()
        .bucket(local.bucket())
        .key("input/half-up-2.jsonl")
        .send()
        .await
        .unwrap();
    let again = builder(&local, "half-up")
        .max_records_per_job(120)
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(240))
        .await
        .unwrap();
    let results = again.finish_detailed(POLL).await.unwrap();
    assert_all_answered(&results, 240);
    assert_eq!(job_names(&local).await.len(), 2);
}

/// Issue item 17: an on-demand answer is kept under a fixed-length digest of its record's
/// id, so the longest ids (256 characters of a two-byte script: 512 bytes, 1,024 in hex) are
/// kept, read back by a resumed run, and never asked twice.
#[tokio::test]
async fn on_demand_answers_of_the_longest_ids_are_kept() {
    let local = LocalBedrock::start().await.unwrap();
    let ids: Vec<String> = (0..30)
        .map(|i| format!("{i:02}{}", "é".repeat(254)))
        .collect();
    assert!(ids.iter().all(|id| id.chars().count() == 256));
    let inputs = |ids: &[String]| {
        ids.iter()
            .zip(person_inputs(ids.len()))
            .map(|(id, (_, input))| (id.clone(), input))
            .collect::<Vec<_>>()
    };
    let results = builder(&local, "long-ids")
        .on_demand_below(100)
        .build()
        .await
        .unwrap()
        .auto(inputs(&ids), POLL)
        .await
        .unwrap();
    let got: Vec<&str> = results
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(results.failures().count(), 0);
    assert_eq!(local.runtime_calls(), 30);
    // Each answer is kept under a short key.
    let listed = llmbo_workspace::s3_client(&local.sdk_config())
        .list_objects_v2()
        .bucket(local.bucket())
        .prefix("on-demand/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents().len(), 30);
    assert!(
        listed
            .contents()
            .iter()
            .all(|o| o.key().is_some_and(|k| k.len() < 200))
    );
    // The same run again reads them: no call is made twice.
    let again = builder(&local, "long-ids")
        .on_demand_below(100)
        .build()
        .await
        .unwrap()
        .auto(inputs(&ids), POLL)
        .await
        .unwrap();
    assert_eq!(again.failures().count(), 0);
    assert_eq!(local.runtime_calls(), 30, "nothing asked twice");
}

/// Issue item 14: a job whose input lines carry no `recordId` (optional on Bedrock, which
/// adds one in its output) is read as Bedrock answers it: every record once, the unnamed ones
/// under the ids Bedrock gave them, each at its own input position with its own answer.
#[tokio::test]
async fn input_lines_without_a_record_id_are_read_as_bedrock_names_them() {
    let local = LocalBedrock::start().await.unwrap();
    let (arn, run, lines, unnamed) = partly_named_job(&local).await;
    let results = run.finish_detailed(POLL).await.unwrap();
    let records = &results.results.records;
    assert_eq!(records.len(), 120, "every record once");
    assert_eq!(results.results.failures().count(), 0);
    let ids: Vec<&str> = records.iter().map(|r| r.record_id.as_str()).collect();
    let unique: std::collections::HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), 120, "no record twice");
    // The named ones where they were; the unnamed ones under Bedrock's ids.
    let job_id = arn.rsplit('/').next().unwrap();
    let output = get_text(&local, &format!("output/{job_id}/in.jsonl.out")).await;
    let echoed: std::collections::HashMap<String, Value> = output
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|l| {
            (
                l["recordId"].as_str().unwrap().to_owned(),
                l["modelInput"].clone(),
            )
        })
        .collect();
    for (i, record) in records.iter().enumerate() {
        if unnamed.contains(&i) {
            assert_ne!(record.record_id, format!("{i:05}"));
            // Its answer is the one to its own request.
            assert_eq!(
                echoed[&record.record_id], lines[i]["modelInput"],
                "record {i} ({})",
                record.record_id
            );
        } else {
            assert_eq!(record.record_id, format!("{i:05}"));
        }
    }
}

/// A retry of a recovered job whose input lines had no `recordId`: every failed record is
/// sent again, the unnamed ones under the ids Bedrock gave them, and each record's new answer
/// is the one to its own request (it was: the unnamed ones were passed over and stayed
/// failed).
#[tokio::test]
async fn a_retry_resends_input_lines_without_a_record_id() {
    // The recovered job fails every record; the retry, the next job of that name, does not.
    let local = local_with(FaultConfig {
        job_fault: Some(JobFault::AllRecordsFail),
        job_fault_name_contains: Some("partly-named".into()),
        job_fault_jobs: Some(0..1),
        ..Default::default()
    })
    .await;
    let (_, run, lines, unnamed) = partly_named_job(&local).await;
    let mut results = run.finish_detailed(POLL).await.unwrap();
    assert_eq!(results.results.failures().count(), 120);
    let ids_before: Vec<String> = results
        .results
        .records
        .iter()
        .map(|r| r.record_id.clone())
        .collect();

    let outcome = run.retry_failed(&mut results, &options()).await.unwrap();
    let RetryOutcome::Retried {
        job_arn,
        records,
        recovered,
        ..
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!((records, recovered), (120, 120));
    assert_eq!(results.results.failures().count(), 0);
    let ids_after: Vec<&str> = results
        .results
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    assert_eq!(ids_after, ids_before, "the same records, in the same order");
    // Each answer is the retry's answer to the record's own request.
    let retry_id = job_arn.rsplit('/').next().unwrap();
    let keys = llmbo_workspace::s3_client(&local.sdk_config())
        .list_objects_v2()
        .bucket(local.bucket())
        .prefix(format!("output/{retry_id}/"))
        .send()
        .await
        .unwrap();
    let out_key = keys
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .find(|k| k.ends_with(".jsonl.out"))
        .unwrap()
        .to_owned();
    let echoed: std::collections::HashMap<String, Value> = get_text(&local, &out_key)
        .await
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|l| {
            (
                l["recordId"].as_str().unwrap().to_owned(),
                l["modelInput"].clone(),
            )
        })
        .collect();
    assert_eq!(echoed.len(), 120);
    for (i, record) in results.results.records.iter().enumerate() {
        assert_eq!(
            echoed[&record.record_id],
            lines[i]["modelInput"],
            "record {i} ({}, unnamed: {})",
            record.record_id,
            unnamed.contains(&i)
        );
    }
}

/// A job made outside llmbo on 120 requests of which every fifth has no `recordId`, and that
/// job recovered from its ARN: its ARN, the run, the input lines, and the unnamed positions.
async fn partly_named_job(
    local: &LocalBedrock,
) -> (String, BatchRun<Structured<Person>>, Vec<Value>, Vec<usize>) {
    builder(local, "named")
        .build()
        .await
        .unwrap()
        .auto(person_inputs(120), POLL)
        .await
        .unwrap();
    let text = get_text(local, "input/named.jsonl").await;
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let unnamed: Vec<usize> = (0..lines.len()).filter(|i| i % 5 == 2).collect();
    for &i in &unnamed {
        lines[i].as_object_mut().unwrap().remove("recordId");
    }
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    put_text(local, "partly-named/in.jsonl", body).await;
    let arn = create_folder_job(local, "partly-named", "partly-named/in.jsonl").await;
    let run = BatchRun::<Structured<Person>>::from_job_arn(
        &arn,
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap();
    (arn, run, lines, unnamed)
}
