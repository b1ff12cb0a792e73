//! Helpers for driving llmbo-local with the real AWS SDK clients.
#![allow(dead_code)] // each test file uses some of these

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_bedrock::types::{
    ModelInvocationJobInputDataConfig, ModelInvocationJobOutputDataConfig,
    ModelInvocationJobS3InputDataConfig, ModelInvocationJobS3OutputDataConfig,
    ModelInvocationJobStatus,
};
use llmbo_local::LocalBedrock;
use serde_json::{Value, json};

pub const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";

pub fn s3(local: &LocalBedrock) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&local.sdk_config())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

pub fn bedrock(local: &LocalBedrock) -> aws_sdk_bedrock::Client {
    aws_sdk_bedrock::Client::new(&local.sdk_config())
}

/// A Bedrock client that does not retry, so every throttled call is seen.
pub fn bedrock_no_retry(local: &LocalBedrock) -> aws_sdk_bedrock::Client {
    let config = aws_sdk_bedrock::config::Builder::from(&local.sdk_config())
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_bedrock::Client::from_conf(config)
}

pub fn iam(local: &LocalBedrock) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&local.sdk_config())
}

/// The tool every Claude test record forces.
pub fn person_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 2},
            "age": {"type": ["integer", "null"], "minimum": 0, "maximum": 130},
            "email": {"type": "string", "format": "email"},
            "roles": {"type": "array", "items": {"enum": ["author", "editor", "subject"]}, "minItems": 1},
            "address": {"$ref": "#/$defs/Address"}
        },
        "required": ["name", "roles", "address"],
        "$defs": {"Address": {"type": "object", "properties": {"city": {"type": "string"},
                  "zip": {"type": "string", "maxLength": 5}}, "required": ["city"]}}
    })
}

pub fn claude_record(i: usize) -> Value {
    json!({
        "recordId": format!("REC{i:08}"),
        "modelInput": {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 512,
            "messages": [{"role": "user", "content": [{"type": "text", "text": format!("Text number {i} about Ada.")}]}],
            "tools": [{"name": "record_person", "description": "A person.", "input_schema": person_schema()}],
            "tool_choice": {"type": "tool", "name": "record_person"}
        }
    })
}

pub fn jsonl(records: impl IntoIterator<Item = Value>) -> String {
    records.into_iter().map(|r| r.to_string() + "\n").collect()
}

pub async fn put(local: &LocalBedrock, key: &str, body: String) {
    s3(local)
        .put_object()
        .bucket(local.bucket())
        .key(key)
        .body(body.into_bytes().into())
        .send()
        .await
        .expect("upload");
}

pub async fn get_text(local: &LocalBedrock, key: &str) -> String {
    let object = s3(local)
        .get_object()
        .bucket(local.bucket())
        .key(key)
        .send()
        .await
        .expect("download");
    let bytes = object.body.collect().await.expect("read body").into_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

/// Creates a job on `model` over `s3://<bucket>/<input_key>`, writing to `output/`.
pub async fn create_job(
    local: &LocalBedrock,
    name: &str,
    model: &str,
    input_key: &str,
) -> Result<String, String> {
    let input = ModelInvocationJobInputDataConfig::S3InputDataConfig(
        ModelInvocationJobS3InputDataConfig::builder()
            .s3_uri(format!("s3://{}/{input_key}", local.bucket()))
            .build()
            .expect("input config"),
    );
    let output = ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
        ModelInvocationJobS3OutputDataConfig::builder()
            .s3_uri(format!("s3://{}/output/", local.bucket()))
            .build()
            .expect("output config"),
    );
    bedrock(local)
        .create_model_invocation_job()
        .job_name(name)
        .role_arn(local.role_arn())
        .model_id(model)
        .input_data_config(input)
        .output_data_config(output)
        .send()
        .await
        .map(|out| out.job_arn().to_owned())
        .map_err(|err| format!("{:?}", err.into_service_error()))
}

/// Polls until the job ends; returns its final description.
pub async fn wait(
    local: &LocalBedrock,
    arn: &str,
) -> aws_sdk_bedrock::operation::get_model_invocation_job::GetModelInvocationJobOutput {
    let client = bedrock(local);
    for _ in 0..3000 {
        let job = client
            .get_model_invocation_job()
            .job_identifier(arn)
            .send()
            .await
            .expect("get job");
        match job.status() {
            Some(
                ModelInvocationJobStatus::Completed
                | ModelInvocationJobStatus::PartiallyCompleted
                | ModelInvocationJobStatus::Failed
                | ModelInvocationJobStatus::Stopped
                | ModelInvocationJobStatus::Expired,
            ) => return job,
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    panic!("job {arn} did not end within 30 s");
}

pub fn job_id(arn: &str) -> &str {
    arn.rsplit('/').next().expect("arn")
}

/// The `.out` lines of a job, parsed.
pub async fn output_lines(local: &LocalBedrock, arn: &str, input_file: &str) -> Vec<Value> {
    let text = get_text(local, &format!("output/{}/{input_file}.out", job_id(arn))).await;
    text.lines()
        .map(|l| serde_json::from_str(l).expect("output line is JSON"))
        .collect()
}

pub async fn manifest(local: &LocalBedrock, arn: &str) -> Value {
    let text = get_text(local, &format!("output/{}/manifest.json.out", job_id(arn))).await;
    serde_json::from_str(&text).expect("manifest is JSON")
}
