//! Typed results as they land: llmbo-local publishes a job's output as it grows, and a
//! stream hands out records while the job still runs, each exactly once, in input order or as
//! they land; a second handle that joins mid-job hands out every record too.
//!
//! The job is paced as `Speed::realistic()` is in shape (status steps, then a steady rate a
//! record), at 10 ms a record instead of 50 so that 5,000 records take about a minute.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use llmbo::{BatchRun, StructuredBatchInferer, mode::Structured};
use llmbo_local::LocalBedrock;
use llmbo_workspace::{Person, person_inputs};

const POLL: Duration = Duration::from_millis(100);
const RECORDS: usize = 5_000;

/// Sets `ended` once the run's one job is Completed, as another client sees it.
fn watch_the_job(local: &LocalBedrock, ended: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    tokio::spawn(async move {
        loop {
            if let Ok(jobs) = bedrock.list_model_invocation_jobs().send().await
                && jobs
                    .invocation_job_summaries()
                    .iter()
                    .any(|j| j.status().is_some_and(|s| s.as_str() == "Completed"))
            {
                ended.store(true, Ordering::SeqCst);
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_job_streams_its_records_once_each_in_order_and_as_they_land() {
    let local = LocalBedrock::builder()
        .speed(llmbo_local::Speed {
            step: Duration::from_secs(2),
            per_record: Duration::from_millis(10),
            ..llmbo_local::Speed::realistic()
        })
        .start()
        .await
        .unwrap();
    let run = StructuredBatchInferer::<Person>::builder()
        .model_name("anthropic.claude-3-haiku-20240307-v1:0")
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("landing")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(RECORDS))
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    let run_uri = run.run_uri();
    let ended = Arc::new(AtomicBool::new(false));
    let watcher = watch_the_job(&local, Arc::clone(&ended));

    // In input order: record i comes i-th, and many come before the job has ended.
    let mut stream = run.stream(POLL);
    let mut in_order = Vec::with_capacity(RECORDS);
    let mut before_the_end = 0;
    let mut second = None;
    while let Some(record) = stream.next().await {
        let record = record.unwrap();
        assert_eq!(record.record_id, format!("{:05}", in_order.len()));
        if !ended.load(Ordering::SeqCst) {
            before_the_end += 1;
        }
        in_order.push(record);
        // Mid-job, a second handle joins with the run's URI only, as another process would.
        if in_order.len() == 1_000 {
            let resumed = BatchRun::<Structured<Person>>::resume(
                &run_uri,
                local.region(),
                Some(local.sdk_config()),
            )
            .await
            .unwrap();
            let ended = Arc::clone(&ended);
            second = Some(tokio::spawn(async move {
                let mut stream = resumed.stream_as_they_land(POLL);
                let mut seen = Vec::new();
                let mut early = 0;
                while let Some(record) = stream.next().await {
                    if !ended.load(Ordering::SeqCst) {
                        early += 1;
                    }
                    seen.push(record.unwrap());
                }
                (seen, early)
            }));
        }
    }
    watcher.await.unwrap();
    assert_eq!(in_order.len(), RECORDS);
    assert!(
        before_the_end >= RECORDS / 5,
        "only {before_the_end} records came before the job ended"
    );

    // As they land, from the second handle: every record once, some of them out of order
    // and many before the end.
    let (landed, early) = second.unwrap().await.unwrap();
    assert_eq!(landed.len(), RECORDS);
    let ids: HashSet<&str> = landed.iter().map(|r| r.record_id.as_str()).collect();
    assert_eq!(ids.len(), RECORDS, "a record came twice");
    assert!(
        early >= RECORDS / 5,
        "only {early} landed before the job ended"
    );
    assert!(
        landed
            .windows(2)
            .any(|pair| pair[0].record_id > pair[1].record_id),
        "as they land, yet in input order: Bedrock's output order is not the input's"
    );

    // Each record's value is its own: the same as a read of the ended job gives.
    let finished =
        BatchRun::<Structured<Person>>::resume(&run_uri, local.region(), Some(local.sdk_config()))
            .await
            .unwrap()
            .finish(POLL)
            .await
            .unwrap();
    for (i, (streamed, read)) in in_order.iter().zip(&finished.records).enumerate() {
        assert_eq!(streamed.record_id, read.record_id, "record {i}");
        assert_eq!(
            format!("{:?}", streamed.outcome),
            format!("{:?}", read.outcome),
            "record {i}"
        );
    }
    for record in &landed {
        let i: usize = record.record_id.parse().unwrap();
        assert_eq!(
            format!("{:?}", record.outcome),
            format!("{:?}", finished.records[i].outcome),
            "record {i}"
        );
    }
}
