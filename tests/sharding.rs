//! Runs larger than one Bedrock job: split, run within the concurrency limit, merged back in
//! input order.

use std::time::Duration;

use llmbo::{RecordError, StructuredBatchInferer};
use llmbo_local::{FaultConfig, JobFault, LocalBedrock, Quotas};
use llmbo_workspace::{Person, person_inputs};

const POLL: Duration = Duration::from_millis(20);

fn builder(
    local: &LocalBedrock,
    name: &str,
) -> llmbo::builder::Configured<llmbo::mode::Structured<Person>> {
    StructuredBatchInferer::<Person>::builder()
        .model_name("anthropic.claude-3-haiku-20240307-v1:0")
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(name)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
}

#[tokio::test]
async fn a_run_over_the_job_limit_is_split_and_merged_in_order() {
    // The account allows one running job per model, so the run must keep to one at a time.
    let local = LocalBedrock::builder()
        .quotas(Quotas {
            max_records: 500,
            max_concurrent_jobs_per_model: 1,
            ..Quotas::default()
        })
        .start()
        .await
        .unwrap();
    let results = builder(&local, "split")
        .max_records_per_job(500)
        .max_concurrent_jobs(1)
        .build()
        .await
        .unwrap()
        .auto(person_inputs(1_201), POLL)
        .await
        .unwrap();
    assert_eq!(results.len(), 1_201);
    let ids: Vec<&str> = results
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    let expected: Vec<String> = (0..1_201).map(|i| format!("{i:05}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(results.failures().count(), 0);
    assert_eq!(results.manifest.total_record_count, 1_201);
    assert_eq!(results.manifest.success_record_count, 1_201);
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    let jobs = bedrock
        .list_model_invocation_jobs()
        .sort_order(aws_sdk_bedrock::types::SortOrder::Ascending)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = jobs
        .invocation_job_summaries()
        .iter()
        .map(|j| j.job_name())
        .collect();
    assert_eq!(names, ["split-1", "split-2", "split-3"]);
    let totals: Vec<i64> = jobs
        .invocation_job_summaries()
        .iter()
        .filter_map(|j| j.total_record_count())
        .collect();
    assert_eq!(
        totals,
        [401, 400, 400],
        "the remainder is spread, not left as a small job"
    );
}

#[tokio::test]
async fn a_failed_job_marks_only_its_records() {
    let faults = FaultConfig {
        job_fault: Some(JobFault::Fail {
            message: "Shard input unreadable".into(),
        }),
        job_fault_name_contains: Some("-2".into()),
        ..Default::default()
    };
    let local = LocalBedrock::builder()
        .faults(faults)
        .start()
        .await
        .unwrap();
    let results = builder(&local, "shards")
        .max_records_per_job(200)
        .build()
        .await
        .unwrap()
        .auto(person_inputs(600), POLL)
        .await
        .unwrap();
    assert_eq!(results.len(), 600);
    for (i, record) in results.records.iter().enumerate() {
        if (200..400).contains(&i) {
            assert!(
                matches!(&record.outcome, Err(RecordError::JobFailed { message, .. }) if message == "Shard input unreadable"),
                "{i}: {:?}",
                record.outcome
            );
        } else {
            assert!(record.outcome.is_ok(), "{i}");
        }
    }
    assert_eq!(results.manifest.total_record_count, 600);
    assert_eq!(results.manifest.success_record_count, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_of_120_001_records_is_three_jobs_at_bedrocks_default_quotas() {
    // Bedrock's default quotas (50,000 records per job) and llmbo's defaults: three jobs of
    // 40,001 / 40,000 / 40,000 records, all results back in input order.
    let local = LocalBedrock::start().await.unwrap();
    let inputs = (0..120_001).map(|i| {
        let input = llmbo::ModelInput::new()
            .user(format!("Ada Lovelace, {i}."))
            .max_tokens(200);
        (format!("{i:06}"), input)
    });
    let run = builder(&local, "full")
        .build()
        .await
        .unwrap()
        .start_run(inputs)
        .await
        .unwrap();
    let sizes: Vec<usize> = run.run_record().shards.iter().map(|s| s.records).collect();
    assert_eq!(sizes, [40_001, 40_000, 40_000]);
    let mut stream = run.stream(POLL);
    let mut next = 0usize;
    while let Some(record) = stream.next().await {
        let record = record.unwrap();
        assert_eq!(record.record_id, format!("{next:06}"));
        assert!(record.outcome.is_ok(), "{record:?}");
        next += 1;
    }
    assert_eq!(next, 120_001);
    let summary = stream.summary().unwrap();
    assert_eq!(summary.manifest.total_record_count, 120_001);
    assert_eq!(summary.manifest.success_record_count, 120_001);
}

/// The keys under `prefix` in the local bucket.
async fn keys(local: &LocalBedrock, prefix: &str) -> Vec<String> {
    let s3 = llmbo_workspace::s3_client(&local.sdk_config());
    let listed = s3
        .list_objects_v2()
        .bucket(local.bucket())
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_run_goes_through_the_states_of_a_job_step_by_step() {
    use llmbo::state::{Downloaded, Finished, Prepared, Submitted, Uploaded};
    let local = LocalBedrock::start().await.unwrap();
    let prepared: llmbo::BatchRun<_, Prepared> = builder(&local, "steps")
        .max_records_per_job(250)
        .max_concurrent_jobs(1)
        .build()
        .await
        .unwrap()
        .prepare_run(person_inputs(650))
        .unwrap();
    // Planned, nothing uploaded.
    let plan = prepared.run_record();
    let sizes: Vec<usize> = plan.shards.iter().map(|s| s.records).collect();
    assert_eq!(sizes, [217, 217, 216]);
    assert!(plan.shards.iter().all(|s| s.job_arn.is_none()));
    assert!(keys(&local, "input/").await.is_empty());

    let uploaded: llmbo::BatchRun<_, Uploaded> = prepared.push_requests_to_s3().await.unwrap();
    let mut stored = keys(&local, "input/").await;
    stored.sort();
    assert_eq!(
        stored,
        [
            "input/steps-1.jsonl",
            "input/steps-2.jsonl",
            "input/steps-3.jsonl",
            "input/steps.run.json"
        ]
    );
    assert!(
        uploaded
            .run_record()
            .shards
            .iter()
            .all(|s| s.input_hash.len() == 64)
    );

    // One job at a time: the first is created, the others wait for its slot.
    let mut submitted: llmbo::BatchRun<_, Submitted> = uploaded.create().await.unwrap();
    let arns: Vec<bool> = submitted
        .run_record()
        .shards
        .iter()
        .map(|s| s.job_arn.is_some())
        .collect();
    assert_eq!(arns, [true, false, false]);
    let mut checks = 0;
    while submitted.check_complete().await.unwrap().is_none() {
        checks += 1;
        assert!(checks < 2_000, "the run never ended");
        tokio::time::sleep(POLL).await;
    }
    assert!(
        submitted
            .run_record()
            .shards
            .iter()
            .all(|s| s.job_arn.is_some())
    );

    let finished: llmbo::BatchRun<_, Finished> = submitted.poll_progress(POLL).await.unwrap();
    let statuses: Vec<_> = finished
        .job_details()
        .iter()
        .map(|(_, d)| d.as_ref().map(|d| d.status.clone()))
        .collect();
    assert_eq!(statuses, vec![Some(llmbo::status::JobStatus::Completed); 3]);

    let downloaded: llmbo::BatchRun<_, Downloaded> = finished.download_results().await.unwrap();
    let detailed = downloaded.load_results_detailed().unwrap();
    assert!(
        detailed
            .info
            .iter()
            .all(|i| i.usage.is_some() && i.attempts == 1)
    );
    let results = downloaded.load_results().unwrap();
    let ids: Vec<String> = results
        .records
        .iter()
        .map(|r| r.record_id.clone())
        .collect();
    let expected: Vec<String> = (0..650).map(|i| format!("{i:05}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(results.failures().count(), 0);
    assert_eq!(results.manifest.total_record_count, 650);
    assert_eq!(results.manifest.success_record_count, 650);
}

#[tokio::test]
async fn cancel_batch_ends_a_run_and_keeps_every_record() {
    let local = LocalBedrock::builder()
        .speed(llmbo_local::Speed {
            step: Duration::from_millis(10),
            per_record: Duration::from_millis(20),
            hour: Duration::from_secs(60),
        })
        .start()
        .await
        .unwrap();
    let submitted = builder(&local, "stopped")
        .max_records_per_job(250)
        .max_concurrent_jobs(1)
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(650))
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    let finished = submitted.cancel_batch().await.unwrap();
    let details = finished.job_details();
    assert!(
        matches!(&details[0].1, Some(d) if d.status.is_finished()),
        "{:?}",
        details[0].1
    );
    assert!(details[1].1.is_none() && details[2].1.is_none());
    assert!(finished.run_record().cancelled);
    let results = finished
        .download_results()
        .await
        .unwrap()
        .load_results()
        .unwrap();
    assert_eq!(results.len(), 650);
    for (i, record) in results.records.iter().enumerate() {
        assert_eq!(record.record_id, format!("{i:05}"));
        if i >= 217 {
            assert!(
                matches!(&record.outcome, Err(RecordError::JobFailed { message, .. }) if message.contains("cancelled")),
                "{i}: {:?}",
                record.outcome
            );
        }
    }
    // Never created, and never will be.
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    let jobs = bedrock.list_model_invocation_jobs().send().await.unwrap();
    assert_eq!(jobs.invocation_job_summaries().len(), 1);
}

/// Inputs arriving on a channel, as an async stream.
struct Incoming(tokio::sync::mpsc::Receiver<(String, llmbo::ModelInput)>);

impl futures_core::Stream for Incoming {
    type Item = (String, llmbo::ModelInput);

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[tokio::test]
async fn a_run_prepared_from_an_async_stream_keeps_its_order() {
    let local = LocalBedrock::start().await.unwrap();
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    let producer = tokio::spawn(async move {
        for input in person_inputs(450) {
            if sender.send(input).await.is_err() {
                break;
            }
            tokio::task::yield_now().await;
        }
    });
    let prepared = builder(&local, "streamed")
        .max_records_per_job(200)
        .build()
        .await
        .unwrap()
        .prepare_run_stream(Incoming(receiver))
        .await
        .unwrap();
    producer.await.unwrap();
    assert_eq!(prepared.run_record().shards.len(), 3);
    let results = prepared
        .push_requests_to_s3()
        .await
        .unwrap()
        .finish(POLL)
        .await
        .unwrap();
    let ids: Vec<String> = results
        .records
        .iter()
        .map(|r| r.record_id.clone())
        .collect();
    let expected: Vec<String> = (0..450).map(|i| format!("{i:05}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(results.failures().count(), 0);

    // A stream with a repeated id is refused before anything is uploaded.
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        for input in person_inputs(150).into_iter().chain(person_inputs(1)) {
            if sender.send(input).await.is_err() {
                break;
            }
        }
    });
    let refused = builder(&local, "streamed-twice")
        .build()
        .await
        .unwrap()
        .prepare_run_stream(Incoming(receiver))
        .await;
    assert!(
        matches!(&refused, Err(llmbo::Error::InvalidInput { record_id: Some(record_id), problem: llmbo::input::InputProblem::DuplicateId }) if record_id == "00000"),
        "{refused:?}"
    );
}
