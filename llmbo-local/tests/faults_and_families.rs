//! Injected faults happen at their configured rates, and each model family is answered in
//! its own response format.

mod common;

use std::time::Duration;

use aws_sdk_bedrock::types::{
    ModelInvocationJobInputDataConfig, ModelInvocationJobOutputDataConfig,
    ModelInvocationJobS3InputDataConfig, ModelInvocationJobS3OutputDataConfig,
    ModelInvocationJobStatus, ModelInvocationType,
};
use common::*;
use llmbo_local::{FaultConfig, JobFault, LocalBedrock, Speed};
use serde_json::{Value, json};

async fn run_claude_job(local: &LocalBedrock, name: &str, records: usize) -> (String, Vec<Value>) {
    let key = format!("input/{name}.jsonl");
    put(local, &key, jsonl((0..records).map(claude_record))).await;
    let arn = create_job(local, name, CLAUDE, &key).await.unwrap();
    wait(local, &arn).await;
    let lines = output_lines(local, &arn, &format!("{name}.jsonl")).await;
    (arn, lines)
}

#[tokio::test]
async fn error_records_and_malformed_outputs_come_at_their_rates() {
    let faults = FaultConfig {
        seed: 42,
        record_error_rate: 0.1,
        malformed_output_rate: 0.2,
        ..Default::default()
    };
    let local = LocalBedrock::builder()
        .faults(faults)
        .start()
        .await
        .unwrap();
    let (arn, lines) = run_claude_job(&local, "faulty", 2000).await;
    let errors = lines.iter().filter(|l| l.get("error").is_some()).count();
    assert!(
        (150..250).contains(&errors),
        "{errors} error records of 2000 at rate 0.1"
    );
    for line in lines.iter().filter(|l| l.get("error").is_some()) {
        assert_eq!(line["error"]["errorCode"], 500);
        assert!(line.get("modelOutput").is_none());
    }
    let validator = jsonschema::validator_for(&person_schema()).unwrap();
    let malformed = lines
        .iter()
        .filter_map(|l| l.get("modelOutput"))
        .filter(|out| {
            out["stop_reason"] != "tool_use"
                || out["content"][0]["type"] != "tool_use"
                || !validator.is_valid(&out["content"][0]["input"])
        })
        .count();
    // 20% of the 90% that are not error records.
    assert!(
        (290..430).contains(&malformed),
        "{malformed} malformed of ~1800"
    );
    let job = bedrock(&local)
        .get_model_invocation_job()
        .job_identifier(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(job.status(), Some(&ModelInvocationJobStatus::Completed));
    assert_eq!(job.error_record_count(), Some(errors as i64));
    let manifest = manifest(&local, &arn).await;
    assert_eq!(manifest["errorRecordCount"], errors);
    assert_eq!(manifest["successRecordCount"], 2000 - errors);

    // The same seed gives the same faults.
    let again = LocalBedrock::builder()
        .faults(FaultConfig {
            seed: 42,
            record_error_rate: 0.1,
            malformed_output_rate: 0.2,
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let (_, lines_again) = run_claude_job(&again, "faulty", 2000).await;
    let error_ids = |lines: &[Value]| {
        let mut ids: Vec<String> = lines
            .iter()
            .filter(|l| l.get("error").is_some())
            .map(|l| l["recordId"].to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(error_ids(&lines), error_ids(&lines_again));
}

#[tokio::test]
async fn a_failing_job_fault_fails_with_its_message() {
    let faults = FaultConfig {
        job_fault: Some(JobFault::Fail {
            message: "Injected failure".into(),
        }),
        ..Default::default()
    };
    let local = LocalBedrock::builder()
        .faults(faults)
        .start()
        .await
        .unwrap();
    put(&local, "input/f.jsonl", jsonl((0..100).map(claude_record))).await;
    let arn = create_job(&local, "fails", CLAUDE, "input/f.jsonl")
        .await
        .unwrap();
    let job = wait(&local, &arn).await;
    assert_eq!(job.status(), Some(&ModelInvocationJobStatus::Failed));
    assert_eq!(job.message(), Some("Injected failure"));
}

#[tokio::test]
async fn an_expiring_job_never_starts_and_writes_nothing() {
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            job_fault: Some(JobFault::Expire),
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    put(&local, "input/e.jsonl", jsonl((0..100).map(claude_record))).await;
    let arn = create_job(&local, "expires", CLAUDE, "input/e.jsonl")
        .await
        .unwrap();
    let job = wait(&local, &arn).await;
    assert_eq!(job.status(), Some(&ModelInvocationJobStatus::Expired));
    assert_eq!(job.processed_record_count(), Some(0));
    let listing = s3(&local)
        .list_objects_v2()
        .bucket(local.bucket())
        .prefix("output/")
        .send()
        .await
        .unwrap();
    assert_eq!(listing.key_count(), Some(0));
}

#[tokio::test]
async fn a_partially_completed_job_processes_only_some_records() {
    let faults = FaultConfig {
        job_fault: Some(JobFault::PartiallyComplete {
            processed_fraction: 0.4,
        }),
        ..Default::default()
    };
    let local = LocalBedrock::builder()
        .faults(faults)
        .start()
        .await
        .unwrap();
    let (arn, lines) = run_claude_job(&local, "partial", 250).await;
    let job = bedrock(&local)
        .get_model_invocation_job()
        .job_identifier(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        job.status(),
        Some(&ModelInvocationJobStatus::PartiallyCompleted)
    );
    assert_eq!(lines.len(), 100);
    assert_eq!(job.total_record_count(), Some(250));
    assert_eq!(job.processed_record_count(), Some(100));
    let manifest = manifest(&local, &arn).await;
    assert_eq!(manifest["totalRecordCount"], 250);
    assert_eq!(manifest["processedRecordCount"], 100);
}

#[tokio::test]
async fn control_plane_calls_are_throttled_at_the_rate() {
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            seed: 3,
            throttle_rate: 0.3,
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let client = bedrock_no_retry(&local);
    let mut throttled = 0;
    for _ in 0..400 {
        if let Err(err) = client.list_model_invocation_jobs().send().await {
            let err = err.into_service_error();
            assert!(err.is_throttling_exception(), "{err:?}");
            throttled += 1;
        }
    }
    assert!(
        (90..150).contains(&throttled),
        "{throttled} of 400 at rate 0.3"
    );
    // With the SDK's standard retries, throttling is absorbed.
    assert!(
        bedrock(&local)
            .list_model_invocation_jobs()
            .send()
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn s3_uploads_fail_at_the_rate() {
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            seed: 5,
            s3_upload_error_rate: 0.25,
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let config = aws_sdk_s3::config::Builder::from(&local.sdk_config())
        .force_path_style(true)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    let mut failed = 0;
    for i in 0..200 {
        let put = client
            .put_object()
            .bucket(local.bucket())
            .key(format!("k{i}"))
            .body(b"x".to_vec().into())
            .send()
            .await;
        if let Err(err) = put {
            assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
            failed += 1;
        }
    }
    assert!((30..72).contains(&failed), "{failed} of 200 at rate 0.25");
}

/// Runs 100 records of `body` on `model` and returns the model outputs.
async fn family_outputs(model: &str, body: Value, converse: bool) -> Vec<Value> {
    let local = LocalBedrock::builder()
        .speed(Speed {
            step: Duration::from_millis(2),
            ..Speed::fast()
        })
        .start()
        .await
        .unwrap();
    let records = (0..100).map(|i| json!({"recordId": format!("r{i:03}"), "modelInput": body}));
    put(&local, "input/family.jsonl", jsonl(records)).await;
    let mut request = bedrock(&local)
        .create_model_invocation_job()
        .job_name("family")
        .role_arn(local.role_arn())
        .model_id(model)
        .input_data_config(ModelInvocationJobInputDataConfig::S3InputDataConfig(
            ModelInvocationJobS3InputDataConfig::builder()
                .s3_uri("s3://llmbo-local/input/family.jsonl")
                .build()
                .unwrap(),
        ))
        .output_data_config(ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
            ModelInvocationJobS3OutputDataConfig::builder()
                .s3_uri("s3://llmbo-local/output/")
                .build()
                .unwrap(),
        ));
    if converse {
        request = request.model_invocation_type(ModelInvocationType::Converse);
    }
    let arn = request.send().await.unwrap().job_arn().to_owned();
    let job = wait(&local, &arn).await;
    assert_eq!(job.status(), Some(&ModelInvocationJobStatus::Completed));
    output_lines(&local, &arn, "family.jsonl")
        .await
        .into_iter()
        .map(|line| {
            line.get("modelOutput")
                .cloned()
                .unwrap_or_else(|| json!({"error": line["error"]}))
        })
        .collect()
}

fn schema() -> Value {
    json!({"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer", "minimum": 1}},
           "required": ["city", "population"]})
}

fn assert_valid(value: &Value) {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    assert!(validator.is_valid(value), "{value}");
}

#[tokio::test]
async fn nova_answers_with_tool_use_blocks() {
    let body = json!({"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": "Paris"}]}],
        "inferenceConfig": {"max_new_tokens": 300},
        "toolConfig": {"tools": [{"toolSpec": {"name": "city", "description": "A city.", "inputSchema": {"json": schema()}}}],
                       "toolChoice": {"tool": {"name": "city"}}}});
    for out in family_outputs("us.amazon.nova-lite-v1:0", body, false).await {
        assert_eq!(out["stopReason"], "tool_use");
        assert_eq!(
            out["output"]["message"]["content"][0]["toolUse"]["name"],
            "city"
        );
        assert_valid(&out["output"]["message"]["content"][0]["toolUse"]["input"]);
        assert!(out["usage"]["inputTokens"].as_u64().unwrap() > 0);
    }
}

#[tokio::test]
async fn mistral_chat_answers_with_tool_call_argument_strings() {
    let body = json!({"messages": [{"role": "user", "content": "Paris"}],
        "tools": [{"type": "function", "function": {"name": "city", "description": "A city.", "parameters": schema()}}],
        "tool_choice": "any", "max_tokens": 300});
    for out in family_outputs("mistral.mistral-large-2407-v1:0", body, false).await {
        let call = &out["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "city");
        let arguments: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_valid(&arguments);
    }
}

#[tokio::test]
async fn prompt_families_answer_with_json_in_text() {
    let prompt = format!(
        "<s>[INST] Answer with one JSON object that follows this JSON schema, and nothing else:\n{}\n\nParis [/INST]",
        schema()
    );
    for out in family_outputs(
        "mistral.mistral-7b-instruct-v0:2",
        json!({"prompt": prompt, "max_tokens": 300}),
        false,
    )
    .await
    {
        let text = out["outputs"][0]["text"].as_str().unwrap();
        let start = text.find('{').unwrap();
        let value: Value = serde_json::Deserializer::from_str(&text[start..])
            .into_iter()
            .next()
            .unwrap()
            .unwrap();
        assert_valid(&value);
    }
    let llama_prompt = format!(
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nAnswer with one JSON object that follows this JSON schema, and nothing else:\n{}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nParis<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
        schema()
    );
    for out in family_outputs(
        "meta.llama3-1-8b-instruct-v1:0",
        json!({"prompt": llama_prompt, "max_gen_len": 300}),
        false,
    )
    .await
    {
        assert_eq!(out["stop_reason"], "stop");
        assert!(out["generation_token_count"].as_u64().unwrap() > 0);
        let text = out["generation"].as_str().unwrap();
        let start = text.find('{').unwrap();
        let value: Value = serde_json::Deserializer::from_str(&text[start..])
            .into_iter()
            .next()
            .unwrap()
            .unwrap();
        assert_valid(&value);
    }
}

#[tokio::test]
async fn openai_answers_chat_completions() {
    let body = json!({"messages": [{"role": "user", "content": "Paris"}], "max_completion_tokens": 300,
        "tools": [{"type": "function", "function": {"name": "city", "parameters": schema()}}],
        "tool_choice": {"type": "function", "function": {"name": "city"}}});
    for out in family_outputs("openai.gpt-oss-20b-1:0", body, false).await {
        assert_eq!(out["object"], "chat.completion");
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
        let arguments: Value = serde_json::from_str(
            out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_valid(&arguments);
        assert!(out["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    }
}

#[tokio::test]
async fn converse_jobs_answer_converse_responses_and_refuse_tools() {
    let body = json!({"messages": [{"role": "user", "content": [{"text": "Summarize."}]}], "inferenceConfig": {"maxTokens": 100}});
    for out in family_outputs("anthropic.claude-3-haiku-20240307-v1:0", body, true).await {
        assert_eq!(out["stopReason"], "end_turn");
        assert!(
            out["output"]["message"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("Synthetic answer")
        );
        assert!(out["metrics"]["latencyMs"].as_u64().is_some());
    }
    let with_tools = json!({"messages": [{"role": "user", "content": [{"text": "x"}]}],
        "toolConfig": {"tools": [{"toolSpec": {"name": "t", "inputSchema": {"json": {"type": "object"}}}}]}});
    for out in family_outputs("amazon.nova-lite-v1:0", with_tools, true).await {
        assert_eq!(out["error"]["errorCode"], 400);
    }
}
