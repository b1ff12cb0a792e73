//! Bedrock batch jobs through the real `aws-sdk-bedrock` client.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_bedrock::types::ModelInvocationJobStatus;
use common::*;
use llmbo_local::{LocalBedrock, Quotas, Speed};
use serde_json::{Value, json};

#[tokio::test]
async fn a_150_record_claude_job_with_a_forced_tool_completes() {
    let local = LocalBedrock::start().await.unwrap();
    put(
        &local,
        "input/people.jsonl",
        jsonl((0..150).map(claude_record)),
    )
    .await;
    let arn = create_job(&local, "people-150", CLAUDE, "input/people.jsonl")
        .await
        .unwrap();
    assert!(
        arn.starts_with("arn:aws:bedrock:us-east-1:000000000000:model-invocation-job/"),
        "{arn}"
    );
    let job = wait(&local, &arn).await;
    assert_eq!(job.status(), Some(&ModelInvocationJobStatus::Completed));
    assert_eq!(job.total_record_count(), Some(150));
    assert_eq!(job.processed_record_count(), Some(150));
    assert_eq!(job.success_record_count(), Some(150));
    assert_eq!(job.job_name(), Some("people-150"));
    assert_eq!(job.model_id(), CLAUDE);
    assert!(job.end_time().is_some());

    let lines = output_lines(&local, &arn, "people.jsonl").await;
    assert_eq!(lines.len(), 150);
    let schema = person_schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut ids = HashSet::new();
    for line in &lines {
        ids.insert(line["recordId"].as_str().unwrap().to_owned());
        assert!(
            line["modelInput"]["messages"].is_array(),
            "modelInput is echoed"
        );
        let output = &line["modelOutput"];
        assert_eq!(output["stop_reason"], "tool_use");
        assert_eq!(output["content"][0]["type"], "tool_use");
        assert_eq!(output["content"][0]["name"], "record_person");
        let input = &output["content"][0]["input"];
        assert!(
            validator.is_valid(input),
            "{input} breaks the schema: {:?}",
            validator
                .iter_errors(input)
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
        );
    }
    assert_eq!(ids.len(), 150, "every record exactly once");
    let order: Vec<&str> = lines
        .iter()
        .map(|l| l["recordId"].as_str().unwrap())
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_ne!(order, sorted, "output order is not input order");

    let manifest = manifest(&local, &arn).await;
    assert_eq!(manifest["totalRecordCount"], 150);
    assert_eq!(manifest["processedRecordCount"], 150);
    assert_eq!(manifest["successRecordCount"], 150);
    assert_eq!(manifest["errorRecordCount"], 0);
    let input_tokens: u64 = lines
        .iter()
        .map(|l| l["modelOutput"]["usage"]["input_tokens"].as_u64().unwrap())
        .sum();
    let output_tokens: u64 = lines
        .iter()
        .map(|l| l["modelOutput"]["usage"]["output_tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(manifest["inputTokenCount"], input_tokens);
    assert_eq!(manifest["outputTokenCount"], output_tokens);
    assert!(input_tokens > 150 && output_tokens > 150);
}

#[tokio::test]
async fn progress_counters_move_while_the_job_runs() {
    let speed = Speed {
        per_record: Duration::from_millis(3),
        ..Speed::fast()
    };
    let local = LocalBedrock::builder().speed(speed).start().await.unwrap();
    put(
        &local,
        "input/slow.jsonl",
        jsonl((0..200).map(claude_record)),
    )
    .await;
    let arn = create_job(&local, "slow", CLAUDE, "input/slow.jsonl")
        .await
        .unwrap();
    let client = bedrock(&local);
    let mut statuses = Vec::new();
    let mut partial_progress = false;
    loop {
        let job = client
            .get_model_invocation_job()
            .job_identifier(&arn)
            .send()
            .await
            .unwrap();
        let status = job.status().cloned().unwrap();
        if statuses.last() != Some(&status) {
            statuses.push(status.clone());
        }
        let processed = job.processed_record_count().unwrap_or(0);
        if status == ModelInvocationJobStatus::InProgress && processed > 0 && processed < 200 {
            partial_progress = true;
        }
        if status == ModelInvocationJobStatus::Completed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(partial_progress, "never saw 0 < processed < total");
    use ModelInvocationJobStatus::*;
    assert_eq!(
        statuses,
        vec![Submitted, Validating, Scheduled, InProgress, Completed]
    );
}

#[tokio::test]
async fn jobs_are_found_by_arn_or_id_listed_and_stopped() {
    let speed = Speed {
        per_record: Duration::from_millis(20),
        ..Speed::fast()
    };
    let local = LocalBedrock::builder().speed(speed).start().await.unwrap();
    put(&local, "input/a.jsonl", jsonl((0..100).map(claude_record))).await;
    let client = bedrock(&local);
    let mut arns = Vec::new();
    for name in ["alpha-1", "alpha-2", "beta-1"] {
        arns.push(
            create_job(&local, name, CLAUDE, "input/a.jsonl")
                .await
                .unwrap(),
        );
    }
    let by_id = client
        .get_model_invocation_job()
        .job_identifier(job_id(&arns[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.job_arn(), arns[0]);

    let listed = client
        .list_model_invocation_jobs()
        .name_contains("alpha")
        .send()
        .await
        .unwrap();
    let names: Vec<_> = listed
        .invocation_job_summaries()
        .iter()
        .map(|s| s.job_name().to_owned())
        .collect();
    assert_eq!(names, ["alpha-2", "alpha-1"], "newest first by default");
    let page = client
        .list_model_invocation_jobs()
        .max_results(2)
        .sort_order(aws_sdk_bedrock::types::SortOrder::Ascending)
        .send()
        .await
        .unwrap();
    assert_eq!(page.invocation_job_summaries().len(), 2);
    assert_eq!(page.invocation_job_summaries()[0].job_name(), "alpha-1");
    let next = page.next_token().expect("a second page").to_owned();
    let rest = client
        .list_model_invocation_jobs()
        .max_results(2)
        .sort_order(aws_sdk_bedrock::types::SortOrder::Ascending)
        .next_token(next)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.invocation_job_summaries().len(), 1);
    assert_eq!(rest.invocation_job_summaries()[0].job_name(), "beta-1");
    assert!(rest.next_token().is_none());

    client
        .stop_model_invocation_job()
        .job_identifier(&arns[2])
        .send()
        .await
        .unwrap();
    let stopped = wait(&local, &arns[2]).await;
    assert_eq!(stopped.status(), Some(&ModelInvocationJobStatus::Stopped));
    let again = client
        .stop_model_invocation_job()
        .job_identifier(&arns[2])
        .send()
        .await
        .unwrap_err();
    assert!(again.into_service_error().is_validation_exception());
    let filtered = client
        .list_model_invocation_jobs()
        .status_equals(ModelInvocationJobStatus::Stopped)
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.invocation_job_summaries().len(), 1);

    let missing = client
        .get_model_invocation_job()
        .job_identifier("zzzzzzzzzzzz")
        .send()
        .await
        .unwrap_err();
    assert!(
        missing
            .into_service_error()
            .is_resource_not_found_exception()
    );
    let malformed = client
        .get_model_invocation_job()
        .job_identifier("not-an-id")
        .send()
        .await
        .unwrap_err();
    assert!(malformed.into_service_error().is_validation_exception());
}

#[tokio::test]
async fn the_same_token_and_name_never_creates_a_second_job() {
    let local = LocalBedrock::start().await.unwrap();
    put(&local, "input/a.jsonl", jsonl((0..100).map(claude_record))).await;
    let client = bedrock(&local);
    let create = |name: &'static str, token: &'static str| {
        let client = client.clone();
        let bucket = local.bucket().to_owned();
        let role = local.role_arn().to_owned();
        async move {
            client
                .create_model_invocation_job()
                .job_name(name)
                .client_request_token(token)
                .role_arn(role)
                .model_id(CLAUDE)
                .input_data_config(
                    aws_sdk_bedrock::types::ModelInvocationJobInputDataConfig::S3InputDataConfig(
                        aws_sdk_bedrock::types::ModelInvocationJobS3InputDataConfig::builder()
                            .s3_uri(format!("s3://{bucket}/input/a.jsonl"))
                            .build()
                            .unwrap(),
                    ),
                )
                .output_data_config(
                    aws_sdk_bedrock::types::ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
                        aws_sdk_bedrock::types::ModelInvocationJobS3OutputDataConfig::builder()
                            .s3_uri(format!("s3://{bucket}/output/"))
                            .build()
                            .unwrap(),
                    ),
                )
                .send()
                .await
                .map(|created| created.job_arn().to_owned())
        }
    };
    let first = create("same", "token1").await.unwrap();
    let second = create("same", "token1").await.unwrap();
    assert_eq!(first, second);
    // Older clients send one constant token for every job: the token alone must not merge jobs.
    let other = create("other", "token1").await.unwrap();
    assert_ne!(first, other);
    // The same name with another token is another request: Bedrock refuses a name in use.
    let in_use = create("same", "token2").await.unwrap_err();
    let in_use = in_use.into_service_error();
    assert!(in_use.is_validation_exception(), "{in_use:?}");
    assert_eq!(
        in_use.meta().message(),
        Some("The provided job name is currently in use.")
    );
    let all = client.list_model_invocation_jobs().send().await.unwrap();
    assert_eq!(all.invocation_job_summaries().len(), 2);
}

#[tokio::test]
async fn create_validates_like_bedrock() {
    let local = LocalBedrock::builder()
        .quotas(Quotas {
            max_concurrent_jobs_per_model: 1,
            ..Quotas::default()
        })
        .speed(Speed {
            per_record: Duration::from_millis(10),
            ..Speed::fast()
        })
        .start()
        .await
        .unwrap();
    put(&local, "input/a.jsonl", jsonl((0..100).map(claude_record))).await;
    let err = create_job(&local, "bad name", CLAUDE, "input/a.jsonl")
        .await
        .unwrap_err();
    assert!(
        err.contains("ValidationException") && err.contains("jobName"),
        "{err}"
    );
    let err = create_job(&local, "ok", CLAUDE, "input/has space.jsonl")
        .await
        .unwrap_err();
    assert!(
        err.contains("ValidationException") && err.contains("s3Uri"),
        "{err}"
    );
    let err = create_job(&local, "ok", "acme.unknown-model-v1", "input/a.jsonl")
        .await
        .unwrap_err();
    assert!(
        err.contains("ValidationException") && err.contains("model identifier"),
        "{err}"
    );

    let client = bedrock(&local);
    let base = |name: &str| {
        client
            .create_model_invocation_job()
            .job_name(name)
            .role_arn(local.role_arn())
            .model_id(CLAUDE)
            .input_data_config(
                aws_sdk_bedrock::types::ModelInvocationJobInputDataConfig::S3InputDataConfig(
                    aws_sdk_bedrock::types::ModelInvocationJobS3InputDataConfig::builder()
                        .s3_uri("s3://llmbo-local/input/a.jsonl")
                        .build()
                        .unwrap(),
                ),
            )
            .output_data_config(
                aws_sdk_bedrock::types::ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
                    aws_sdk_bedrock::types::ModelInvocationJobS3OutputDataConfig::builder()
                        .s3_uri("s3://llmbo-local/output/")
                        .build()
                        .unwrap(),
                ),
            )
    };
    for hours in [23, 169] {
        let err = base("timeout")
            .timeout_duration_in_hours(hours)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_validation_exception(), "{err:?}");
        assert!(format!("{err:?}").contains("timeoutDurationInHours"));
    }
    let err = base("role")
        .role_arn("arn:aws:iam::000000000000:role/nobody")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    let err = base("bucket")
        .output_data_config(
            aws_sdk_bedrock::types::ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
                aws_sdk_bedrock::types::ModelInvocationJobS3OutputDataConfig::builder()
                    .s3_uri("s3://no-such-bucket/out/")
                    .build()
                    .unwrap(),
            ),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    // As real create: a validation error (it cannot validate the permissions), not a 404.
    assert!(err.is_validation_exception(), "{err:?}");

    base("first").send().await.unwrap();
    let err = base("second")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_service_quota_exceeded_exception(), "{err:?}");
}

async fn failed_message(local: &LocalBedrock, name: &str, body: String) -> String {
    let key = format!("input/{name}.jsonl");
    put(local, &key, body).await;
    let arn = create_job(local, name, CLAUDE, &key).await.unwrap();
    let job = wait(local, &arn).await;
    assert_eq!(
        job.status(),
        Some(&ModelInvocationJobStatus::Failed),
        "{name}"
    );
    job.message().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn input_problems_fail_the_job_while_validating() {
    let local = LocalBedrock::builder()
        .quotas(Quotas {
            max_records: 120,
            max_input_file_bytes: 200_000,
            ..Quotas::default()
        })
        .start()
        .await
        .unwrap();
    let few = failed_message(&local, "few", jsonl((0..99).map(claude_record))).await;
    assert!(
        few.contains("99 records") && few.contains("minimum of 100"),
        "{few}"
    );
    let many = failed_message(&local, "many", jsonl((0..121).map(claude_record))).await;
    assert!(many.contains("maximum of 120"), "{many}");
    let mut lines: Vec<String> = (0..110).map(|i| claude_record(i).to_string()).collect();
    lines[7] = "[1, 2, 3]".into();
    let not_object = failed_message(&local, "notobject", lines.join("\n")).await;
    assert!(
        not_object.contains("Line 8") && not_object.contains("not a valid JSON object"),
        "{not_object}"
    );
    let mut duplicated: Vec<Value> = (0..110).map(claude_record).collect();
    duplicated[50]["recordId"] = json!("REC00000003");
    let duplicate = failed_message(&local, "duplicate", jsonl(duplicated)).await;
    assert!(
        duplicate.contains("Duplicate recordId REC00000003"),
        "{duplicate}"
    );
    let big: Vec<Value> = (0..110)
        .map(|i| {
            let mut r = claude_record(i);
            r["modelInput"]["messages"][0]["content"][0]["text"] = json!("x".repeat(3000));
            r
        })
        .collect();
    let too_big = failed_message(&local, "big", jsonl(big)).await;
    assert!(
        too_big.contains("above the quota of 200000 bytes"),
        "{too_big}"
    );
}

#[tokio::test]
async fn records_without_an_id_get_one() {
    let local = LocalBedrock::start().await.unwrap();
    let records = (0..100).map(|i| {
        let mut r = claude_record(i);
        if i % 2 == 0 {
            r.as_object_mut().unwrap().remove("recordId");
        }
        r
    });
    put(&local, "input/noid.jsonl", jsonl(records)).await;
    let arn = create_job(&local, "noid", CLAUDE, "input/noid.jsonl")
        .await
        .unwrap();
    assert_eq!(
        wait(&local, &arn).await.status(),
        Some(&ModelInvocationJobStatus::Completed)
    );
    let lines = output_lines(&local, &arn, "noid.jsonl").await;
    let ids: HashSet<String> = lines
        .iter()
        .map(|l| l["recordId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 100);
    let assigned = ids.iter().filter(|id| !id.starts_with("REC")).count();
    assert_eq!(assigned, 50);
    assert!(
        ids.iter()
            .filter(|id| !id.starts_with("REC"))
            .all(|id| id.len() == 11 && id.chars().all(|c| c.is_ascii_alphanumeric()))
    );
}

/// Stopping a finished job says its state, as AWS does; a server restarted on a kept data
/// folder mints new job ids, so a new job never writes into an old job's output folder.
#[tokio::test]
async fn stop_says_the_state_and_ids_stay_unique_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut ids = HashSet::new();
    for _ in 0..2 {
        let local = LocalBedrock::builder()
            .data_dir(dir.path())
            .start()
            .await
            .unwrap();
        put(
            &local,
            "input/same.jsonl",
            jsonl((0..100).map(claude_record)),
        )
        .await;
        let arn = create_job(
            &local,
            "same",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "input/same.jsonl",
        )
        .await
        .unwrap();
        wait(&local, &arn).await;
        assert!(ids.insert(job_id(&arn).to_owned()), "{arn} minted twice");
        let err = bedrock(&local)
            .stop_model_invocation_job()
            .job_identifier(&arn)
            .send()
            .await
            .expect_err("a completed job cannot be stopped")
            .into_service_error();
        assert!(
            format!("{err:?}").contains("State was: Completed"),
            "{err:?}"
        );
    }
}

/// Create checks S3 as real create does: a missing bucket, a missing input and a bucket owner
/// that is not the bucket's are validation errors at create, not a 404 or a job failure later.
#[tokio::test]
async fn create_checks_the_buckets_the_owner_and_the_input() {
    use aws_sdk_bedrock::types::{
        ModelInvocationJobInputDataConfig, ModelInvocationJobOutputDataConfig,
        ModelInvocationJobS3InputDataConfig, ModelInvocationJobS3OutputDataConfig,
    };
    let local = LocalBedrock::start().await.unwrap();
    put(
        &local,
        "input/there.jsonl",
        jsonl((0..100).map(claude_record)),
    )
    .await;
    let create = |input: String, owner: Option<&str>| {
        let input = ModelInvocationJobInputDataConfig::S3InputDataConfig(
            ModelInvocationJobS3InputDataConfig::builder()
                .s3_uri(input)
                .set_s3_bucket_owner(owner.map(str::to_owned))
                .build()
                .unwrap(),
        );
        let output = ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
            ModelInvocationJobS3OutputDataConfig::builder()
                .s3_uri(format!("s3://{}/output/", local.bucket()))
                .build()
                .unwrap(),
        );
        bedrock(&local)
            .create_model_invocation_job()
            .job_name(format!("s3check{}", owner.unwrap_or("x").len()))
            .role_arn(local.role_arn())
            .model_id("anthropic.claude-3-haiku-20240307-v1:0")
            .input_data_config(input)
            .output_data_config(output)
            .send()
    };
    let refused = |result: Result<_, aws_sdk_bedrock::error::SdkError<_, _>>| {
        let err = result.expect_err("refused");
        let err: aws_sdk_bedrock::operation::create_model_invocation_job::CreateModelInvocationJobError =
            err.into_service_error();
        assert!(err.is_validation_exception(), "{err:?}");
        format!("{err:?}")
    };
    let message = refused(create("s3://no-such-bucket/input/a.jsonl".into(), None).await);
    assert!(
        message.contains("no-such-bucket does not exist"),
        "{message}"
    );
    let message =
        refused(create(format!("s3://{}/input/absent.jsonl", local.bucket()), None).await);
    assert!(message.contains("GetObject"), "{message}");
    let there = format!("s3://{}/input/there.jsonl", local.bucket());
    let message = refused(create(there.clone(), Some("111122223333")).await);
    assert!(
        message.contains("not owned by account 111122223333"),
        "{message}"
    );
    let created = create(there, Some(local.account_id())).await;
    assert!(created.is_ok(), "{created:?}");
}

/// Job names page by page, `per_page` at a time, in `order`; `between` runs between pages.
async fn page_through(
    local: &LocalBedrock,
    per_page: i32,
    order: aws_sdk_bedrock::types::SortOrder,
    mut between: impl AsyncFnMut(),
) -> Vec<String> {
    let client = bedrock(local);
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_model_invocation_jobs()
            .max_results(per_page)
            .sort_order(order.clone())
            .set_next_token(token.clone())
            .send()
            .await
            .unwrap();
        seen.extend(
            page.invocation_job_summaries()
                .iter()
                .map(|j| j.job_name().to_owned()),
        );
        match page.next_token() {
            Some(next) => token = Some(next.to_owned()),
            None => return seen,
        }
        between().await;
    }
}

#[tokio::test]
async fn paging_through_jobs_sees_each_once_while_jobs_are_created() {
    use aws_sdk_bedrock::types::SortOrder;
    let local = LocalBedrock::start().await.unwrap();
    put(&local, "input/p.jsonl", jsonl((0..100).map(claude_record))).await;
    for i in 0..5 {
        create_job(&local, &format!("page-{i}"), CLAUDE, "input/p.jsonl")
            .await
            .unwrap();
    }
    // Newest first, two a page; a job created between pages must not push one already
    // seen onto the next page.
    let mut created = 5;
    let seen = page_through(&local, 2, SortOrder::Descending, async || {
        create_job(&local, &format!("page-{created}"), CLAUDE, "input/p.jsonl")
            .await
            .unwrap();
        created += 1;
    })
    .await;
    assert_eq!(seen, ["page-4", "page-3", "page-2", "page-1", "page-0"]);
    // Oldest first, the new ones come at the end, each once.
    let seen = page_through(&local, 3, SortOrder::Ascending, async || {}).await;
    let expected: Vec<String> = (0..created).map(|i| format!("page-{i}")).collect();
    assert_eq!(seen, expected);
}
