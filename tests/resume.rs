//! A run picked up from its manifest in S3 by a new process: no job created twice, no record
//! lost or duplicated.

use std::time::Duration;

use llmbo::mode::Structured;
use llmbo::{BatchRun, StructuredBatchInferer};
use llmbo_local::{LocalBedrock, Quotas, Speed};
use llmbo_workspace::{Person, person_inputs};

const POLL: Duration = Duration::from_millis(20);

async fn inferer(local: &LocalBedrock, name: &str) -> StructuredBatchInferer<Person> {
    StructuredBatchInferer::<Person>::builder()
        .model_name("anthropic.claude-3-haiku-20240307-v1:0")
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(name)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .max_records_per_job(400)
        .max_concurrent_jobs(1)
        .build()
        .await
        .unwrap()
}

async fn job_names(local: &LocalBedrock) -> Vec<String> {
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    let jobs = bedrock
        .list_model_invocation_jobs()
        .sort_order(aws_sdk_bedrock::types::SortOrder::Ascending)
        .send()
        .await
        .unwrap();
    jobs.invocation_job_summaries()
        .iter()
        .map(|j| j.job_name().to_owned())
        .collect()
}

fn assert_complete(results: &llmbo::BatchResults<Person>, n: usize) {
    assert_eq!(results.len(), n);
    let ids: Vec<&str> = results
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    let expected: Vec<String> = (0..n).map(|i| format!("{i:05}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(results.failures().count(), 0);
}

#[tokio::test]
async fn a_run_killed_after_upload_is_finished_from_its_manifest() {
    let local = LocalBedrock::builder()
        .quotas(Quotas {
            max_records: 400,
            ..Quotas::default()
        })
        .start()
        .await
        .unwrap();
    let run_uri = {
        let run = inferer(&local, "resume-upload")
            .await
            .start_run(person_inputs(1_000))
            .await
            .unwrap();
        assert_eq!(run.run_record().shards.len(), 3);
        run.run_uri()
        // The process dies here: inputs uploaded, no job created.
    };
    assert_eq!(run_uri, "s3://llmbo-local/input/resume-upload.run.json");
    assert!(job_names(&local).await.is_empty());
    let run =
        BatchRun::<Structured<Person>>::resume(&run_uri, local.region(), Some(local.sdk_config()))
            .await
            .unwrap();
    let results = run.finish(POLL).await.unwrap();
    assert_complete(&results, 1_000);
    assert_eq!(
        job_names(&local).await,
        ["resume-upload-1", "resume-upload-2", "resume-upload-3"]
    );
}

#[tokio::test]
async fn a_run_killed_while_its_jobs_run_creates_none_twice() {
    let speed = Speed {
        per_record: Duration::from_millis(2),
        ..Speed::fast()
    };
    let local = LocalBedrock::builder()
        .speed(speed)
        .quotas(Quotas {
            max_records: 400,
            ..Quotas::default()
        })
        .start()
        .await
        .unwrap();
    let run = inferer(&local, "resume-running")
        .await
        .start_run(person_inputs(1_000))
        .await
        .unwrap();
    let run_uri = run.run_uri();
    let first = tokio::spawn(run.finish(POLL));
    // Kill the process once the first job is created and recorded.
    let s3_manifest = local
        .s3_root()
        .join("llmbo-local/input/resume-running.run.json");
    loop {
        let text = std::fs::read_to_string(&s3_manifest).unwrap_or_default();
        if text.contains("jobArn") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.abort();
    let _ = first.await;
    assert_eq!(job_names(&local).await, ["resume-running-1"]);

    // The killed process's last manifest write may still be landing: llmbo-local, like S3,
    // serves either the old object or the new one whole.
    let run =
        BatchRun::<Structured<Person>>::resume(&run_uri, local.region(), Some(local.sdk_config()))
            .await
            .unwrap();
    assert!(run.run_record().shards[0].job_arn.is_some());
    let results = run.finish(POLL).await.unwrap();
    assert_complete(&results, 1_000);
    assert_eq!(
        job_names(&local).await,
        ["resume-running-1", "resume-running-2", "resume-running-3"]
    );

    // Resuming a finished run collects the same results again, creating nothing.
    let again =
        BatchRun::<Structured<Person>>::resume(&run_uri, local.region(), Some(local.sdk_config()))
            .await
            .unwrap()
            .finish(POLL)
            .await
            .unwrap();
    assert_complete(&again, 1_000);
    assert_eq!(job_names(&local).await.len(), 3);
}

#[tokio::test]
async fn a_missing_or_foreign_manifest_is_a_clear_error() {
    let local = LocalBedrock::start().await.unwrap();
    let missing = BatchRun::<Structured<Person>>::resume(
        "s3://llmbo-local/input/none.run.json",
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap_err();
    assert!(missing.to_string().contains("GetObject"), "{missing}");
    let not_s3 = BatchRun::<Structured<Person>>::resume(
        "/tmp/run.json",
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            not_s3,
            llmbo::Error::InvalidConfig {
                field: "run_uri",
                ..
            }
        ),
        "{not_s3:?}"
    );
}

#[tokio::test]
async fn a_run_killed_while_its_results_stream_is_read_gives_them_all_on_resume() {
    let local = LocalBedrock::builder()
        .quotas(Quotas {
            max_records: 400,
            ..Quotas::default()
        })
        .start()
        .await
        .unwrap();
    let run = inferer(&local, "resume-stream")
        .await
        .start_run(person_inputs(1_000))
        .await
        .unwrap();
    let run_uri = run.run_uri();
    // Read the first 450 records (all of job 1, part of job 2), then the process dies.
    let mut stream = run.stream(POLL);
    let mut first = Vec::new();
    while first.len() < 450 {
        let record = stream.next().await.expect("more records").unwrap();
        first.push(record.record_id);
    }
    drop(stream);
    let expected: Vec<String> = (0..450).map(|i| format!("{i:05}")).collect();
    assert_eq!(first, expected, "streamed in input order");

    let mut resumed =
        BatchRun::<Structured<Person>>::resume(&run_uri, local.region(), Some(local.sdk_config()))
            .await
            .unwrap()
            .stream(POLL);
    let mut all = Vec::new();
    while let Some(record) = resumed.next().await {
        let record = record.unwrap();
        assert!(record.outcome.is_ok(), "{record:?}");
        all.push(record.record_id);
    }
    let summary = resumed.summary().expect("a summary once the stream ends");
    assert_eq!(all.len(), 1_000);
    assert_eq!(all[..450], expected[..]);
    assert_eq!(summary.manifest.total_record_count, 1_000);
    assert_eq!((summary.jobs, summary.failed_jobs.len()), (3, 0));
    // Three jobs, each created once, whatever the first process had done.
    assert_eq!(
        job_names(&local).await,
        ["resume-stream-1", "resume-stream-2", "resume-stream-3"]
    );
}
