//! A single job is a run of one: the steps and `auto` give the same result for the same inputs,
//! a failed job included, and the steps refuse what one job cannot hold before any upload.

use std::time::Duration;

use llmbo::{BatchInferer, Error, RecordError, RecordResult, StructuredBatchInferer};
use llmbo_local::{FaultConfig, JobFault, LocalBedrock};
use llmbo_workspace::{Person, person_inputs};

const POLL: Duration = Duration::from_millis(20);
const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";

async fn inferer(local: &LocalBedrock, name: &str) -> StructuredBatchInferer<Person> {
    StructuredBatchInferer::<Person>::builder()
        .model_name(CLAUDE)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(name)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .max_records_per_job(250)
        .max_concurrent_jobs(2)
        .build()
        .await
        .unwrap()
}

/// A record's outcome without the ARN of the job that failed it (two runs have two jobs).
fn comparable(record: &RecordResult<Person>) -> (String, Result<Person, RecordError>) {
    let outcome = match &record.outcome {
        Err(RecordError::JobFailed { message, .. }) => Err(RecordError::JobFailed {
            job_arn: String::new(),
            message: message.clone(),
        }),
        other => other.clone(),
    };
    (record.record_id.clone(), outcome)
}

#[tokio::test]
async fn the_steps_and_auto_give_the_same_results_with_a_failing_job() {
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            job_fault: Some(JobFault::Fail {
                message: "Shard input unreadable".into(),
            }),
            job_fault_name_contains: Some("-2".into()),
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let automatic = inferer(&local, "same-auto")
        .await
        .auto(person_inputs(650), POLL)
        .await
        .unwrap();
    let stepped = inferer(&local, "same-steps")
        .await
        .prepare_run(person_inputs(650))
        .unwrap()
        .push_requests_to_s3()
        .await
        .unwrap()
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

    // Every input id once, in input order, in both.
    let expected: Vec<String> = (0..650).map(|i| format!("{i:05}")).collect();
    for results in [&automatic, &stepped] {
        let ids: Vec<&str> = results
            .records
            .iter()
            .map(|r| r.record_id.as_str())
            .collect();
        assert_eq!(ids, expected);
    }
    // The same outcome for every record: values from the same record's answer, the failed
    // job's records failed with Bedrock's message in both.
    let a: Vec<_> = automatic.records.iter().map(comparable).collect();
    let b: Vec<_> = stepped.records.iter().map(comparable).collect();
    assert_eq!(a, b);
    let failed: Vec<usize> = (0..650)
        .filter(|&i| matches!(&a[i].1, Err(RecordError::JobFailed { message, .. }) if message == "Shard input unreadable"))
        .collect();
    assert_eq!(
        failed,
        (217..434).collect::<Vec<_>>(),
        "the second job's records"
    );
    assert!((0..217).chain(434..650).all(|i| a[i].1.is_ok()));
    assert_eq!(automatic.manifest, stepped.manifest);
    assert_eq!(stepped.manifest.total_record_count, 650);
    assert_eq!(stepped.manifest.success_record_count, 433);
}

#[tokio::test]
async fn a_single_failed_job_is_the_same_error_from_the_steps_and_auto() {
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            job_fault: Some(JobFault::Fail {
                message: "Role cannot read bucket".into(),
            }),
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let automatic = inferer(&local, "one-auto")
        .await
        .auto(person_inputs(120), POLL)
        .await
        .unwrap_err();
    let stepped = inferer(&local, "one-steps")
        .await
        .prepare_requests(person_inputs(120))
        .unwrap()
        .push_requests_to_s3()
        .await
        .unwrap()
        .create()
        .await
        .unwrap()
        .poll_progress(POLL)
        .await
        .unwrap_err();
    for err in [&automatic, &stepped] {
        assert!(
            matches!(err, Error::JobFailed { status, message, .. } if status == "Failed" && message == "Role cannot read bucket"),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn a_single_job_over_the_limit_is_refused_before_upload() {
    let local = LocalBedrock::start().await.unwrap();
    let err = StructuredBatchInferer::<Person>::builder()
        .model_name(CLAUDE)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("too-big")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .build()
        .await
        .unwrap()
        .prepare_requests(person_inputs(60_000))
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                field: "max_records_per_job",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(message.contains("60000 records"), "{message}");
    assert!(message.contains("at most 50000 records"), "{message}");
    assert!(message.contains("prepare_run"), "{message}");
    let listing = llmbo_workspace::s3_client(&local.sdk_config())
        .list_objects_v2()
        .bucket(local.bucket())
        .send()
        .await
        .unwrap();
    assert!(listing.contents().is_empty(), "nothing uploaded");
}

#[tokio::test]
async fn a_single_job_writes_a_run_record_and_each_answer_names_its_record() {
    let local = LocalBedrock::start().await.unwrap();
    let submitted = BatchInferer::builder()
        .model_name(CLAUDE)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("one-record")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .build()
        .await
        .unwrap()
        .prepare_requests(person_inputs(110))
        .unwrap()
        .push_requests_to_s3()
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    assert_eq!(
        submitted.run_uri(),
        "s3://llmbo-local/input/one-record.run.json"
    );
    let record = submitted.run_record();
    assert_eq!(record.shards.len(), 1);
    assert_eq!(
        record.shards[0].job_arn.as_deref(),
        Some(submitted.job_arn())
    );
    // The run of one can be resumed like any run, from its record alone.
    let arn = submitted.job_arn().to_owned();
    drop(submitted);
    let resumed = llmbo::BatchRun::<llmbo::mode::Untyped>::resume(
        "s3://llmbo-local/input/one-record.run.json",
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap();
    assert_eq!(resumed.job_arn(), arn);
    let results = resumed.finish(POLL).await.unwrap();
    assert_eq!(results.len(), 110);
    for (i, record) in results.records.iter().enumerate() {
        let id = format!("{i:05}");
        assert_eq!(record.record_id, id);
        let answer = record.outcome.as_ref().unwrap();
        assert_eq!(
            answer["id"],
            format!("msg_bdrk_{id}"),
            "the answer of its own record"
        );
    }
}
