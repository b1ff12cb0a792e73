//! A run is one durable record in S3: two handles (as two processes would) on one run never
//! bill a job twice or after a cancel, a resumed run creates its jobs with every setting, a
//! reused name never joins answers to other prompts, and one bad byte fails one record.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use llmbo::mode::Structured;
use llmbo::{BatchRun, Error, RecordError, StructuredBatchInferer};
use llmbo_local::{LocalBedrock, Speed};
use llmbo_workspace::{Person, person_inputs};

const POLL: Duration = Duration::from_millis(20);
const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn builder(local: &LocalBedrock, name: &str) -> llmbo::builder::Configured<Structured<Person>> {
    StructuredBatchInferer::<Person>::builder()
        .model_name(CLAUDE)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(name)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .max_records_per_job(250)
        .max_concurrent_jobs(1)
}

/// Every job llmbo-local has, oldest first: (name, ARN, status).
async fn all_jobs(local: &LocalBedrock) -> Vec<(String, String, String)> {
    let jobs = aws_sdk_bedrock::Client::new(&local.sdk_config())
        .list_model_invocation_jobs()
        .sort_order(aws_sdk_bedrock::types::SortOrder::Ascending)
        .send()
        .await
        .unwrap();
    jobs.invocation_job_summaries()
        .iter()
        .map(|j| {
            (
                j.job_name().to_owned(),
                j.job_arn().to_owned(),
                j.status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// A run of `records` records, created and followed to its end.
async fn finished_run(
    local: &LocalBedrock,
    name: &str,
    records: usize,
) -> llmbo::BatchRun<Structured<Person>, llmbo::state::Finished> {
    builder(local, name)
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(records))
        .await
        .unwrap()
        .create()
        .await
        .unwrap()
        .poll_progress(POLL)
        .await
        .unwrap()
}

fn slow() -> Speed {
    Speed {
        step: Duration::from_millis(10),
        per_record: Duration::from_millis(20),
        hour: Duration::from_secs(60),
    }
}

fn expected_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{i:05}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_from_another_handle_reaches_the_follower() {
    let local = LocalBedrock::builder().speed(slow()).start().await.unwrap();
    let uploaded = builder(&local, "follow-cancel")
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(650))
        .await
        .unwrap();
    let run_uri = uploaded.run_uri();
    // The canceller's handle is opened before the follower records its first ARN.
    let canceller =
        BatchRun::<Structured<Person>>::resume(&run_uri, local.region(), Some(local.sdk_config()))
            .await
            .unwrap();
    assert!(
        canceller
            .run_record()
            .shards
            .iter()
            .all(|s| s.job_arn.is_none())
    );
    let follower = tokio::spawn(uploaded.finish(POLL));
    // Wait until the follower created the first job, then cancel from the other handle.
    while all_jobs(&local).await.is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopped = canceller.cancel().await.unwrap();
    let results = follower.await.unwrap().unwrap();

    let jobs = all_jobs(&local).await;
    assert_eq!(jobs.len(), 1, "no job created after the cancel: {jobs:?}");
    // The canceller asked it to stop, or the follower did on seeing the cancel: stopped either
    // way, long before its 217 records could have been processed.
    assert!(
        stopped.is_empty() || stopped == [jobs[0].1.clone()],
        "{stopped:?}"
    );
    assert_eq!(
        jobs[0].2, "Stopped",
        "the follower's newest job was stopped"
    );
    let ids: Vec<&str> = results
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    assert_eq!(ids, expected_ids(650));
    for record in &results.records[217..] {
        assert!(
            matches!(&record.outcome, Err(RecordError::JobFailed { message, .. }) if message.contains("cancelled")),
            "{record:?}"
        );
    }
    // The record says cancelled, and a follower resumed now creates nothing either.
    let again =
        BatchRun::<Structured<Person>>::resume(&run_uri, local.region(), Some(local.sdk_config()))
            .await
            .unwrap();
    assert!(again.run_record().cancelled);
    assert!(again.submit().await.unwrap().is_empty());
    assert_eq!(all_jobs(&local).await.len(), 1);
}

#[tokio::test]
async fn a_crash_between_create_and_record_creates_no_second_job() {
    let local = LocalBedrock::start().await.unwrap();
    let submitted = builder(&local, "crash-create")
        .max_concurrent_jobs(3)
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(650))
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    let run_uri = submitted.run_uri();
    let first: Vec<String> = all_jobs(&local).await.into_iter().map(|j| j.1).collect();
    assert_eq!(first.len(), 3);
    drop(submitted);
    // As if the process died after creating the jobs and before recording them: the record
    // in S3 loses every ARN.
    let key = "input/crash-create.run.json";
    let client = llmbo_workspace::s3_client(&local.sdk_config());
    let bytes = client
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
    let mut record: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    for shard in record["shards"].as_array_mut().unwrap() {
        shard.as_object_mut().unwrap().remove("jobArn");
    }
    client
        .put_object()
        .bucket(local.bucket())
        .key(key)
        .body(ByteStream::from(serde_json::to_vec(&record).unwrap()))
        .send()
        .await
        .unwrap();

    let resumed =
        BatchRun::<Structured<Person>>::resume(&run_uri, local.region(), Some(local.sdk_config()))
            .await
            .unwrap();
    let results = resumed.finish(POLL).await.unwrap();
    let jobs: Vec<String> = all_jobs(&local).await.into_iter().map(|j| j.1).collect();
    assert_eq!(jobs, first, "exactly one job per shard");
    let ids: Vec<&str> = results
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    assert_eq!(ids, expected_ids(650));
    assert_eq!(results.failures().count(), 0);

    // Starting the same run again (same name, same inputs, same settings) adopts it.
    let again = builder(&local, "crash-create")
        .max_concurrent_jobs(3)
        .build()
        .await
        .unwrap()
        .auto(person_inputs(650), POLL)
        .await
        .unwrap();
    assert_eq!(
        all_jobs(&local).await.len(),
        3,
        "no job for the repeated start"
    );
    assert_eq!(again.records, results.records, "the same results");
}

#[tokio::test]
async fn the_same_name_with_other_inputs_is_refused_before_upload() {
    let local = LocalBedrock::start().await.unwrap();
    let first = builder(&local, "reused")
        .build()
        .await
        .unwrap()
        .auto(person_inputs(120), POLL)
        .await
        .unwrap();
    let input_before = llmbo_workspace::s3_client(&local.sdk_config())
        .get_object()
        .bucket(local.bucket())
        .key("input/reused.jsonl")
        .send()
        .await
        .unwrap()
        .e_tag()
        .map(str::to_owned);

    let mut other = person_inputs(120);
    other[7].1 = llmbo::ModelInput::new().user("Another text entirely.");
    let err = builder(&local, "reused")
        .build()
        .await
        .unwrap()
        .start_run(other)
        .await
        .unwrap_err();
    match &err {
        Error::RunExists {
            run_uri, differs, ..
        } => {
            assert_eq!(run_uri, "s3://llmbo-local/input/reused.run.json");
            assert_eq!(differs, &["inputs"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("resume it"), "{err}");
    let err = builder(&local, "reused")
        .time_out_duration_hours(48)
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(120))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::RunExists { differs, .. } if differs == &["timeoutHours"]),
        "{err:?}"
    );
    let input_after = llmbo_workspace::s3_client(&local.sdk_config())
        .get_object()
        .bucket(local.bucket())
        .key("input/reused.jsonl")
        .send()
        .await
        .unwrap()
        .e_tag()
        .map(str::to_owned);
    assert_eq!(
        input_before, input_after,
        "the first run's input is untouched"
    );
    let resumed = BatchRun::<Structured<Person>>::resume(
        "s3://llmbo-local/input/reused.run.json",
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap()
    .finish(POLL)
    .await
    .unwrap();
    assert_eq!(
        resumed.records, first.records,
        "the first run's results are intact"
    );
    assert_eq!(all_jobs(&local).await.len(), 1);
}

#[tokio::test]
async fn another_runs_prompts_under_the_same_key_are_refused_not_joined() {
    let local = LocalBedrock::start().await.unwrap();
    let finished = finished_run(&local, "overwritten", 120).await;
    // Someone writes other prompts under the run's input key.
    let mut body = Vec::new();
    for i in 0..120 {
        body.extend(format!("{{\"recordId\":\"x{i:04}\",\"modelInput\":{{}}}}\n").as_bytes());
    }
    llmbo_workspace::s3_client(&local.sdk_config())
        .put_object()
        .bucket(local.bucket())
        .key("input/overwritten.jsonl")
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
    let err = finished.download_results().await.unwrap_err();
    match &err {
        Error::Corrupt { object, reason } => {
            assert_eq!(object, "s3://llmbo-local/input/overwritten.jsonl");
            assert!(reason.contains("reused the job name"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_resumed_run_creates_its_later_jobs_with_every_setting() {
    let local = LocalBedrock::start().await.unwrap();
    let subnets = vec!["subnet-0123456789abcdef0".to_owned()];
    let groups = vec!["sg-0123456789abcdef0".to_owned()];
    let submitted = builder(&local, "settings-kept")
        .vpc_config(subnets.clone(), groups.clone())
        .tag("team", "extraction")
        .expected_bucket_owner(local.account_id())
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(500))
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    let run_uri = submitted.run_uri();
    drop(submitted); // the process dies with one of two jobs created
    let results =
        BatchRun::<Structured<Person>>::resume(&run_uri, local.region(), Some(local.sdk_config()))
            .await
            .unwrap()
            .finish(POLL)
            .await
            .unwrap();
    assert_eq!(results.len(), 500);
    let jobs = all_jobs(&local).await;
    assert_eq!(jobs.len(), 2);
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    for (name, arn, _) in &jobs {
        let job = bedrock
            .get_model_invocation_job()
            .job_identifier(arn)
            .send()
            .await
            .unwrap();
        let vpc = job.vpc_config().expect("a VPC config");
        assert_eq!(vpc.subnet_ids(), subnets.as_slice(), "{name}");
        assert_eq!(vpc.security_group_ids(), groups.as_slice(), "{name}");
        let Some(aws_sdk_bedrock::types::ModelInvocationJobInputDataConfig::S3InputDataConfig(
            input,
        )) = job.input_data_config()
        else {
            panic!("{name}: no S3 input");
        };
        assert_eq!(input.s3_bucket_owner(), Some(local.account_id()), "{name}");
        let tags = bedrock
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        assert!(
            tags.tags()
                .iter()
                .any(|t| t.key() == "team" && t.value() == "extraction"),
            "{name}: {:?}",
            tags.tags()
        );
    }
}

#[tokio::test]
async fn a_bad_utf8_byte_fails_one_record_and_the_rest_stream_on() {
    let local = LocalBedrock::start().await.unwrap();
    let finished = finished_run(&local, "bad-byte", 150).await;
    let key = format!(
        "output/{}/bad-byte.jsonl.out",
        finished.unique_id_from_arn()
    );
    let client = llmbo_workspace::s3_client(&local.sdk_config());
    let body = client
        .get_object()
        .bucket(local.bucket())
        .key(&key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec();
    // Cut a character of record 00042's answer in half: invalid UTF-8 on that line only.
    let mut damaged = Vec::new();
    for line in body.split_inclusive(|&b| b == b'\n') {
        if line.windows(17).any(|w| w == b"\"recordId\":\"00042") {
            let text = String::from_utf8(line.to_vec()).unwrap();
            let at = text.find("Article").unwrap_or(text.len() / 2);
            damaged.extend_from_slice(&line[..at]);
            damaged.push(0xC3); // the first byte of a two-byte character, alone
            damaged.extend_from_slice(&line[at..]);
        } else {
            damaged.extend_from_slice(line);
        }
    }
    client
        .put_object()
        .bucket(local.bucket())
        .key(&key)
        .body(ByteStream::from(damaged))
        .send()
        .await
        .unwrap();
    let results = finished
        .download_results()
        .await
        .unwrap()
        .load_results()
        .unwrap();
    let ids: Vec<&str> = results
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    assert_eq!(ids, expected_ids(150));
    for (i, record) in results.records.iter().enumerate() {
        if i == 42 {
            assert!(
                matches!(&record.outcome, Err(RecordError::MalformedOutput { .. })),
                "{:?}",
                record.outcome
            );
        } else {
            assert!(record.outcome.is_ok(), "{i}: {:?}", record.outcome);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_job_quota_waits_for_a_slot_instead_of_ending_the_run() {
    let local = LocalBedrock::builder()
        .speed(Speed {
            step: Duration::from_millis(10),
            per_record: Duration::from_millis(2),
            hour: Duration::from_secs(60),
        })
        .quotas(llmbo_local::Quotas {
            max_concurrent_jobs_per_model: 1,
            ..llmbo_local::Quotas::default()
        })
        .start()
        .await
        .unwrap();
    // Another run holds the account's only slot for this model.
    let other = builder(&local, "slot-holder")
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(200))
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    let waiting = builder(&local, "slot-waiter")
        .build()
        .await
        .unwrap()
        .auto(person_inputs(150), POLL);
    let (waited, held) = tokio::join!(waiting, other.finish(POLL));
    let (waited, held) = (waited.unwrap(), held.unwrap());
    assert_eq!(held.len(), 200);
    let ids: Vec<&str> = waited
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    assert_eq!(ids, expected_ids(150));
    assert_eq!(waited.failures().count(), 0);
    let names: Vec<String> = all_jobs(&local).await.into_iter().map(|j| j.0).collect();
    assert_eq!(names, ["slot-holder", "slot-waiter"]);
}
