//! The job lifecycle end to end: llmbo's typed API driving the real AWS SDK clients over HTTP
//! against llmbo-local.

use std::time::Duration;

use llmbo::status::{JobStatus, Stage};
use llmbo::{BatchInferer, Error, RecordError, Recovered, StructuredBatchInferer};
use llmbo_local::{FaultConfig, JobFault, LocalBedrock, Speed};
use llmbo_workspace::{Person, person_inputs};

const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const POLL: Duration = Duration::from_millis(20);

async fn inferer(local: &LocalBedrock, job_name: &str) -> StructuredBatchInferer<Person> {
    StructuredBatchInferer::<Person>::builder()
        .model_name(CLAUDE)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(job_name)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .build()
        .await
        .expect("preflight passes")
}

#[tokio::test]
async fn auto_returns_one_typed_value_per_record() {
    let local = LocalBedrock::start().await.unwrap();
    let results = inferer(&local, "people-auto")
        .await
        .auto(person_inputs(200), POLL)
        .await
        .unwrap();
    assert_eq!(results.len(), 200);
    assert_eq!(results.manifest.total_record_count, 200);
    assert_eq!(results.manifest.success_record_count, 200);
    assert_eq!(results.failures().count(), 0);
    let ids: Vec<&str> = results
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    let expected: Vec<String> = (0..200).map(|i| format!("{i:05}")).collect();
    assert_eq!(
        ids, expected,
        "input order, although Bedrock's output is not in order"
    );
    let people: Vec<Person> = results.into_values();
    assert_eq!(people.len(), 200);
    assert!(people.iter().all(|p| !p.name.is_empty()));
}

#[tokio::test]
async fn every_step_by_hand_gives_the_same_as_auto() {
    let local = LocalBedrock::start().await.unwrap();
    let dir = tempfile_dir();
    let inferer = StructuredBatchInferer::<Person>::builder()
        .model_name(CLAUDE)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("people-steps")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .time_out_duration_hours(48)
        .output_dir(&dir)
        .build()
        .await
        .unwrap();
    let prepared = inferer.prepare_requests(person_inputs(150)).unwrap();
    let uploaded = prepared.push_requests_to_s3().await.unwrap();
    let mut submitted = uploaded.create().await.unwrap();
    assert!(
        submitted
            .job_arn()
            .starts_with("arn:aws:bedrock:us-east-1:000000000000:model-invocation-job/")
    );
    assert_eq!(submitted.unique_id_from_arn().len(), 12);
    let mut status = None;
    for _ in 0..500 {
        status = submitted.check_complete().await.unwrap();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(status, Some(JobStatus::Completed));
    assert_eq!(submitted.job_status(), Some(&JobStatus::Completed));
    let finished = submitted.poll_progress(POLL).await.unwrap();
    let downloaded = finished.download_results().await.unwrap();
    let results = downloaded.load_results().unwrap();
    assert_eq!(results.into_values().len(), 150);
    for file in [
        "people-steps.jsonl",
        "people-steps_out.jsonl",
        "people-steps_manifest.json",
    ] {
        let path = dir.join(file);
        let meta = std::fs::metadata(&path).unwrap_or_else(|_| panic!("{file} was written"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                meta.permissions().mode() & 0o777,
                0o600,
                "{file} is private"
            );
        }
        assert!(meta.len() > 0);
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "llmbo-test-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[tokio::test]
async fn preflight_failures_say_what_is_wrong() {
    let local = LocalBedrock::start().await.unwrap();
    local.add_bucket("london-data", "eu-west-2").unwrap();
    let base = || {
        BatchInferer::builder()
            .model_name(CLAUDE)
            .region(local.region())
            .role_arn(local.role_arn())
            .sdk_config(local.sdk_config())
    };
    let missing = base()
        .bucket_name("no-such-bucket")
        .job_name("j")
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(missing, Error::BucketNotFound { ref bucket } if bucket == "no-such-bucket"),
        "{missing:?}"
    );
    let elsewhere = base()
        .bucket_name("london-data")
        .job_name("j")
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(elsewhere, Error::BucketInWrongRegion { ref bucket_region, .. } if bucket_region == "eu-west-2"),
        "{elsewhere:?}"
    );
    assert!(
        elsewhere
            .to_string()
            .contains("is in eu-west-2 but the job runs in us-east-1"),
        "{elsewhere}"
    );
    let no_role = BatchInferer::builder()
        .model_name(CLAUDE)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("j")
        .role_arn("arn:aws:iam::000000000000:role/nobody")
        .sdk_config(local.sdk_config())
        .build()
        .await
        .unwrap_err();
    assert!(matches!(no_role, Error::RoleNotFound { .. }), "{no_role:?}");
    let bad_name = base()
        .bucket_name(local.bucket())
        .job_name("bad name")
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            bad_name,
            Error::InvalidConfig {
                field: "job_name",
                ..
            }
        ),
        "{bad_name:?}"
    );
    let bad_timeout = base()
        .bucket_name(local.bucket())
        .job_name("j")
        .time_out_duration_hours(10)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            bad_timeout,
            Error::InvalidConfig {
                field: "time_out_duration_hours",
                ..
            }
        ),
        "{bad_timeout:?}"
    );
}

#[tokio::test]
async fn bad_inputs_are_refused_before_anything_is_uploaded() {
    let local = LocalBedrock::start().await.unwrap();
    let few = inferer(&local, "few")
        .await
        .prepare_requests(person_inputs(99))
        .unwrap_err();
    assert!(
        matches!(
            few,
            Error::TooFewRecords {
                count: 99,
                minimum: 100
            }
        ),
        "{few:?}"
    );
    let mut inputs = person_inputs(120);
    inputs[7].0 = "00003".into();
    let duplicate = inferer(&local, "dup")
        .await
        .prepare_requests(inputs)
        .unwrap_err();
    assert!(
        matches!(duplicate, Error::InvalidInput { record_id: Some(ref record_id), problem: llmbo::input::InputProblem::DuplicateId } if record_id == "00003"),
        "{duplicate:?}"
    );
    // The same through a run, which spools the requests: the repeated id is named and nothing
    // reaches the bucket.
    let mut inputs = person_inputs(300);
    inputs[250].0 = "00011".into();
    let duplicate = inferer(&local, "dup-run")
        .await
        .start_run(inputs)
        .await
        .unwrap_err();
    assert!(
        matches!(duplicate, Error::InvalidInput { record_id: Some(ref record_id), problem: llmbo::input::InputProblem::DuplicateId } if record_id == "00011"),
        "{duplicate:?}"
    );
    assert!(
        !local
            .s3_root()
            .join(local.bucket())
            .join("input/dup-run.jsonl")
            .exists()
    );
    let mut empty = person_inputs(120);
    empty[5].1 = llmbo::ModelInput::new();
    let invalid = inferer(&local, "empty")
        .await
        .prepare_requests(empty)
        .unwrap_err();
    assert!(
        matches!(invalid, Error::InvalidInput { record_id: Some(ref record_id), problem: llmbo::input::InputProblem::Request(_) } if record_id == "00005"),
        "{invalid:?}"
    );
    let listing = llmbo_local_keys(&local).await;
    assert!(listing.is_empty(), "nothing uploaded: {listing:?}");
}

async fn llmbo_local_keys(local: &LocalBedrock) -> Vec<String> {
    let mut keys = Vec::new();
    let root = local.s3_root().join(local.bucket());
    for entry in walk(&root) {
        keys.push(
            entry
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
    }
    keys
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

async fn faulty(faults: FaultConfig) -> LocalBedrock {
    LocalBedrock::builder()
        .faults(faults)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_failed_job_is_an_error_with_bedrocks_message() {
    let local = faulty(FaultConfig {
        job_fault: Some(JobFault::Fail {
            message: "Role cannot read bucket".into(),
        }),
        ..Default::default()
    })
    .await;
    let err = inferer(&local, "fails")
        .await
        .auto(person_inputs(100), POLL)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::JobFailed { message, .. } if message == "Role cannot read bucket"),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_expired_job_returns_every_record_as_missing() {
    let local = faulty(FaultConfig {
        job_fault: Some(JobFault::Expire),
        ..Default::default()
    })
    .await;
    let finished = inferer(&local, "expires")
        .await
        .prepare_requests(person_inputs(100))
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
    assert_eq!(finished.job_status(), Some(&JobStatus::Expired));
    let results = finished
        .download_results()
        .await
        .unwrap()
        .load_results()
        .unwrap();
    assert_eq!(results.len(), 100);
    assert!(
        results
            .records
            .iter()
            .all(|r| r.outcome == Err(RecordError::Missing))
    );
    assert_eq!(results.manifest.processed_record_count, 0);
}

#[tokio::test]
async fn a_partially_completed_job_keeps_what_it_processed() {
    let local = faulty(FaultConfig {
        job_fault: Some(JobFault::PartiallyComplete {
            processed_fraction: 0.4,
        }),
        ..Default::default()
    })
    .await;
    let results = inferer(&local, "partial")
        .await
        .auto(person_inputs(200), POLL)
        .await
        .unwrap();
    assert_eq!(results.len(), 200);
    assert_eq!(results.successes().count(), 80);
    assert_eq!(
        results
            .failures()
            .filter(|r| r.outcome == Err(RecordError::Missing))
            .count(),
        120
    );
    assert_eq!(results.manifest.processed_record_count, 80);
}

#[tokio::test]
async fn a_cancelled_job_returns_what_it_did() {
    let speed = Speed {
        per_record: Duration::from_millis(5),
        ..Speed::fast()
    };
    let local = LocalBedrock::builder().speed(speed).start().await.unwrap();
    let mut submitted = inferer(&local, "cancel")
        .await
        .prepare_requests(person_inputs(400))
        .unwrap()
        .push_requests_to_s3()
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    // Let it process some records first.
    while local
        .job_status(submitted.job_arn())
        .and_then(|(_, c)| c)
        .is_none_or(|c| c.processed < 20)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(submitted.check_complete().await.unwrap(), None);
    let finished = submitted.cancel_batch().await.unwrap();
    assert_eq!(finished.job_status(), Some(&JobStatus::Stopped));
    let results = finished
        .download_results()
        .await
        .unwrap()
        .load_results()
        .unwrap();
    let done = results.successes().count();
    assert!(
        (20..400).contains(&done),
        "{done} processed before the stop"
    );
    assert_eq!(results.failures().count(), 400 - done);
    assert!(
        results
            .failures()
            .all(|r| r.outcome == Err(RecordError::Missing))
    );
}

#[tokio::test]
async fn error_records_and_malformed_outputs_become_record_errors() {
    let local = faulty(FaultConfig {
        seed: 11,
        record_error_rate: 0.1,
        malformed_output_rate: 0.2,
        ..Default::default()
    })
    .await;
    let results = inferer(&local, "faults")
        .await
        .auto(person_inputs(500), POLL)
        .await
        .unwrap();
    assert_eq!(results.len(), 500);
    let mut bedrock = 0;
    let mut reasons = std::collections::HashSet::new();
    for failure in results.failures() {
        match failure.outcome.as_ref().unwrap_err() {
            RecordError::Bedrock { code, .. } => {
                assert_eq!(code, "500");
                bedrock += 1;
            }
            RecordError::Missing => panic!("no record may go missing in a completed job"),
            other => {
                reasons.insert(std::mem::discriminant(other));
            }
        }
    }
    assert_eq!(bedrock as u64, results.manifest.error_record_count);
    assert!((25..80).contains(&bedrock), "{bedrock}");
    // Wrong stop reason, no tool call, schema violation and truncated JSON: several reasons.
    assert!(
        reasons.len() >= 3,
        "{} distinct malformed-output reasons",
        reasons.len()
    );
    assert!(results.successes().count() > 300);
}

#[tokio::test]
async fn creating_twice_gives_one_job() {
    let local = LocalBedrock::start().await.unwrap();
    let uploaded = inferer(&local, "twice")
        .await
        .prepare_requests(person_inputs(100))
        .unwrap()
        .push_requests_to_s3()
        .await
        .unwrap();
    let again = uploaded.run_record();
    let first = uploaded.create().await.unwrap();
    let second = inferer(&local, "twice")
        .await
        .prepare_requests(person_inputs(100))
        .unwrap()
        .push_requests_to_s3()
        .await
        .unwrap();
    let adopted = second.run_record();
    assert_eq!(
        again.shards[0].input_hash, adopted.shards[0].input_hash,
        "same input, same upload"
    );
    // The second start adopted the first run: its record already names the first job.
    assert_eq!(adopted.shards[0].job_arn.as_deref(), Some(first.job_arn()));
    let second = second.create().await.unwrap();
    assert_eq!(first.job_arn(), second.job_arn());
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    let jobs = bedrock.list_model_invocation_jobs().send().await.unwrap();
    assert_eq!(jobs.invocation_job_summaries().len(), 1);
}

#[tokio::test]
async fn a_job_is_recovered_from_its_arn_while_running_and_after_it_finished() {
    let speed = Speed {
        per_record: Duration::from_millis(2),
        ..Speed::fast()
    };
    let local = LocalBedrock::builder().speed(speed).start().await.unwrap();
    let arn = {
        let submitted = inferer(&local, "recover")
            .await
            .prepare_requests(person_inputs(150))
            .unwrap()
            .push_requests_to_s3()
            .await
            .unwrap()
            .create()
            .await
            .unwrap();
        submitted.job_arn().to_owned()
        // The inferer is dropped here, as if the process died.
    };
    let recovered = StructuredBatchInferer::<Person>::recover_structured_job(
        &arn,
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap();
    let Recovered::Running(running) = recovered else {
        panic!("the job was still running")
    };
    assert_eq!(running.job_name(), "recover");
    assert_eq!(running.model_name(), CLAUDE);
    let results = running
        .poll_progress(POLL)
        .await
        .unwrap()
        .download_results()
        .await
        .unwrap()
        .load_results()
        .unwrap();
    assert_eq!(results.len(), 150);
    assert_eq!(results.records[0].record_id, "00000");
    assert_eq!(results.into_values().len(), 150);

    let again =
        BatchInferer::recover_details_from_job_arn(&arn, local.region(), Some(local.sdk_config()))
            .await
            .unwrap();
    let Recovered::Finished(finished) = again else {
        panic!("the job has finished")
    };
    let raw = finished
        .download_results()
        .await
        .unwrap()
        .load_results()
        .unwrap();
    assert_eq!(raw.successes().count(), 150);
    assert_eq!(
        raw.records[3].outcome.as_ref().unwrap()["stop_reason"],
        "tool_use"
    );

    let details =
        BatchInferer::check_for_existing_job(&arn, local.region(), Some(local.sdk_config()))
            .await
            .unwrap();
    assert_eq!(details.status, JobStatus::Completed);
    assert_eq!(details.total_record_count, Some(150));

    let malformed = BatchInferer::recover_details_from_job_arn(
        "arn:aws:bedrock:nope",
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            malformed,
            Error::InvalidConfig {
                field: "job_arn",
                ..
            }
        ),
        "{malformed:?}"
    );
    let unknown = "arn:aws:bedrock:us-east-1:000000000000:model-invocation-job/zzzzzzzzzzzz";
    let missing = BatchInferer::recover_details_from_job_arn(
        unknown,
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap_err();
    assert!(matches!(missing, Error::JobNotFound { .. }), "{missing:?}");
}

#[tokio::test]
async fn progress_is_reported_to_the_callback() {
    let speed = Speed {
        per_record: Duration::from_millis(1),
        ..Speed::fast()
    };
    let local = LocalBedrock::builder().speed(speed).start().await.unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&seen);
    let results = StructuredBatchInferer::<Person>::builder()
        .model_name(CLAUDE)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("progress")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .on_progress(move |p| sink.lock().unwrap().push(p.clone()))
        .build()
        .await
        .unwrap()
        .auto(person_inputs(150), Duration::from_millis(10))
        .await
        .unwrap();
    assert_eq!(results.len(), 150);
    let seen = seen.lock().unwrap();
    // Upload first: all records written, bytes counted, no job yet.
    let upload = seen.first().unwrap();
    assert_eq!(upload.stage, Stage::Uploading);
    assert_eq!((upload.processed, upload.total), (150, Some(150)));
    assert!(upload.bytes > 150 * 20 && upload.job_arn.is_empty() && upload.status.is_none());
    // Then the polls, with Bedrock's counters never going back, ending Completed.
    let running: Vec<(JobStatus, u64)> = seen
        .iter()
        .filter(|p| p.stage == Stage::Running)
        .map(|p| (p.status.clone().unwrap(), p.processed))
        .collect();
    assert_eq!(running.last(), Some(&(JobStatus::Completed, 150)));
    assert!(
        running.iter().any(|(s, _)| *s == JobStatus::InProgress),
        "{running:?}"
    );
    assert!(
        running.windows(2).all(|w| w[0].1 <= w[1].1),
        "processed never goes back"
    );
    // Then the download: every output line, and the bytes read.
    let download = seen.last().unwrap();
    assert_eq!(download.stage, Stage::Downloading);
    assert_eq!(download.processed, 150);
    assert!(download.bytes > upload.bytes, "outputs hold the inputs too");
    assert!(!download.job_arn.is_empty());
}

#[tokio::test]
async fn throttling_and_upload_errors_are_retried() {
    let local = faulty(FaultConfig {
        seed: 8,
        throttle_rate: 0.3,
        s3_upload_error_rate: 0.2,
        ..Default::default()
    })
    .await;
    let results = inferer(&local, "throttled")
        .await
        .auto(person_inputs(120), POLL)
        .await
        .unwrap();
    assert_eq!(results.into_values().len(), 120);
}

#[tokio::test]
async fn a_large_input_is_uploaded_in_parts_and_read_back_whole() {
    let local = LocalBedrock::start().await.unwrap();
    // 100 records of ~100 KB: about 10 MB, more than one 8 MiB part.
    let inputs = person_inputs(100).into_iter().map(|(id, input)| {
        let long = format!(
            "{}{}",
            "background ".repeat(9_000),
            llmbo_workspace::sample_text(1)
        );
        (id, input.user(long))
    });
    let uploaded = inferer(&local, "large")
        .await
        .prepare_requests(inputs)
        .unwrap()
        .push_requests_to_s3()
        .await
        .unwrap();
    let size = std::fs::metadata(
        local
            .s3_root()
            .join(local.bucket())
            .join("input/large.jsonl"),
    )
    .unwrap()
    .len();
    assert!(size > 8 * 1024 * 1024, "{size} bytes");
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
    assert_eq!(results.into_values().len(), 100);
}

#[tokio::test]
async fn throttling_that_does_not_stop_ends_in_a_clear_error() {
    let retry = llmbo::builder::RetryConfig::standard()
        .with_max_attempts(2)
        .with_initial_backoff(Duration::from_millis(5));
    let builder = |local: &LocalBedrock, name: &str| {
        StructuredBatchInferer::<Person>::builder()
            .model_name(CLAUDE)
            .bucket_name(local.bucket())
            .region(local.region())
            .job_name(name)
            .role_arn(local.role_arn())
            .sdk_config(local.sdk_config())
            .retry_config(retry.clone())
    };

    // Every CreateModelInvocationJob is throttled: retried, then the error, and no job.
    let local = faulty(FaultConfig {
        throttle_rate: 1.0,
        throttle_operations: vec!["CreateModelInvocationJob".into()],
        ..Default::default()
    })
    .await;
    let err = builder(&local, "throttled-create")
        .build()
        .await
        .unwrap()
        .prepare_requests(person_inputs(120))
        .unwrap()
        .push_requests_to_s3()
        .await
        .unwrap()
        .create()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Aws { operation: "CreateModelInvocationJob", code, .. } if code == "ThrottlingException"),
        "{err:?}"
    );
    let jobs = aws_sdk_bedrock::Client::new(&local.sdk_config())
        .list_model_invocation_jobs()
        .send()
        .await
        .unwrap();
    assert!(jobs.invocation_job_summaries().is_empty());

    // Every GetModelInvocationJob is throttled: polling backs off, then gives up, naming the job.
    let local = faulty(FaultConfig {
        throttle_rate: 1.0,
        throttle_operations: vec!["GetModelInvocationJob".into()],
        ..Default::default()
    })
    .await;
    let submitted = builder(&local, "throttled-poll")
        .build()
        .await
        .unwrap()
        .prepare_requests(person_inputs(120))
        .unwrap()
        .push_requests_to_s3()
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    let arn = submitted.job_arn().to_owned();
    let err = submitted
        .poll_progress(Duration::from_millis(1))
        .await
        .unwrap_err();
    match &err {
        Error::Aws {
            operation: "GetModelInvocationJob",
            kind,
            code,
            message,
            ..
        } => {
            assert_eq!(*kind, llmbo::AwsErrorKind::Throttled);
            assert!(err.is_retryable());
            assert_eq!(code, "ThrottlingException");
            assert!(message.contains("10 polls in a row throttled"), "{message}");
            assert!(message.contains(&arn), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
