//! The control-plane failures users really hit, injected by llmbo-local, and what llmbo does
//! with each: an `iam:PassRole` refusal at create (a clear error; the run resumes once fixed),
//! a quota refusal (the job waits for a slot), internal errors (retried), a job that ends
//! Completed with every record an error, and a job that overruns its timeout.

use std::time::Duration;

use llmbo::mode::Structured;
use llmbo::{AwsErrorKind, BatchRun, Error, RecordError, StructuredBatchInferer};
use llmbo_local::{
    ControlFault, ControlFaultKind, FaultConfig, JobFault, JobStatus, LocalBedrock, Speed,
};
use llmbo_workspace::{Person, person_inputs};

const POLL: Duration = Duration::from_millis(20);
const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn on_create(kind: ControlFaultKind, times: u64) -> FaultConfig {
    FaultConfig {
        control_faults: vec![ControlFault {
            operation: "CreateModelInvocationJob".into(),
            kind,
            times,
        }],
        ..FaultConfig::default()
    }
}

async fn inferer(local: &LocalBedrock, job: &str) -> llmbo::Inferer<Structured<Person>> {
    StructuredBatchInferer::<Person>::builder()
        .model_name(CLAUDE)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(job)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .build()
        .await
        .unwrap()
}

async fn jobs_created(local: &LocalBedrock) -> Vec<String> {
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    let listed = bedrock.list_model_invocation_jobs().send().await.unwrap();
    listed
        .invocation_job_summaries()
        .iter()
        .map(|j| j.job_name().to_owned())
        .collect()
}

fn assert_every_person(results: &llmbo::BatchResults<Person>, n: usize) {
    assert_eq!(results.records.len(), n);
    for (i, record) in results.records.iter().enumerate() {
        assert_eq!(record.record_id, format!("{i:05}"));
        let person = record.outcome.as_ref().expect("answered");
        assert!(!person.name.is_empty());
    }
}

#[tokio::test]
async fn a_pass_role_refusal_is_a_clear_error_and_the_run_resumes_once_fixed() {
    let local = LocalBedrock::builder()
        .faults(on_create(ControlFaultKind::AccessDenied, 1))
        .start()
        .await
        .unwrap();
    let err = inferer(&local, "passrole")
        .await
        .auto(person_inputs(150), POLL)
        .await
        .expect_err("refused");
    match &err {
        Error::Aws { kind, message, .. } => {
            assert_eq!(*kind, AwsErrorKind::AccessDenied);
            assert!(message.contains("iam:PassRole"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(jobs_created(&local).await.is_empty(), "nothing billed");
    // The permission is granted (the fault fired once); another process resumes the run.
    let run = BatchRun::<Structured<Person>>::resume(
        "s3://llmbo-local/input/passrole.run.json",
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap();
    // The second handle reads the whole record from S3, the estimate made by the first too.
    let estimate = run.run_record().estimate.expect("kept in the run record");
    assert_eq!(estimate.records, 150);
    let results = run.finish(POLL).await.unwrap();
    assert_every_person(&results, 150);
    assert_eq!(jobs_created(&local).await, ["passrole"]);
}

#[tokio::test]
async fn internal_errors_and_quota_refusals_at_create_are_waited_out_with_one_job() {
    for (kind, times) in [
        (ControlFaultKind::InternalServer, 3),
        (ControlFaultKind::ServiceQuotaExceeded, 4),
    ] {
        let local = LocalBedrock::builder()
            .faults(on_create(kind, times))
            .start()
            .await
            .unwrap();
        let results = inferer(&local, "flaky")
            .await
            .auto(person_inputs(150), POLL)
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_every_person(&results, 150);
        assert_eq!(
            jobs_created(&local).await,
            ["flaky"],
            "{kind:?}: one job, never two"
        );
    }
}

#[tokio::test]
async fn a_completed_job_of_error_records_gives_each_record_its_error() {
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            job_fault: Some(JobFault::AllRecordsFail),
            ..FaultConfig::default()
        })
        .start()
        .await
        .unwrap();
    let results = inferer(&local, "allfail")
        .await
        .auto(person_inputs(120), POLL)
        .await
        .unwrap();
    assert_eq!(results.manifest.success_record_count, 0);
    assert_eq!(results.manifest.error_record_count, 120);
    assert_eq!(results.records.len(), 120);
    for (i, record) in results.records.iter().enumerate() {
        assert_eq!(record.record_id, format!("{i:05}"));
        match &record.outcome {
            Err(RecordError::Bedrock { code, message }) => {
                assert_eq!(code, "400");
                assert!(message.contains("anthropic_version"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn a_job_that_overruns_its_timeout_ends_partially_completed() {
    // 24 timeout hours of 30 ms each: 720 ms, of which 3 steps of 10 ms; 2 ms a record.
    let local = LocalBedrock::builder()
        .speed(Speed {
            step: Duration::from_millis(10),
            per_record: Duration::from_millis(2),
            hour: Duration::from_millis(30),
        })
        .start()
        .await
        .unwrap();
    let results = inferer(&local, "slow")
        .await
        .auto(person_inputs(500), POLL)
        .await
        .unwrap();
    let answered = (720 - 30) / 2;
    assert_eq!(results.manifest.processed_record_count, answered);
    let missing = results
        .records
        .iter()
        .filter(|r| matches!(r.outcome, Err(RecordError::Missing)))
        .count();
    assert_eq!(missing, 500 - answered as usize);
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    let job = &bedrock
        .list_model_invocation_jobs()
        .send()
        .await
        .unwrap()
        .invocation_job_summaries()[0]
        .clone();
    assert_eq!(
        job.status().map(|s| s.as_str()),
        Some(JobStatus::PartiallyCompleted.as_str())
    );
    assert!(
        job.message().unwrap_or_default().contains("timed out"),
        "{job:?}"
    );
}
