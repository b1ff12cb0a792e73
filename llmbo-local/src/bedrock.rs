//! The Bedrock control plane for batch jobs (REST-JSON): create, get, list and stop model
//! invocation jobs, with Bedrock's validation, error shapes and idempotency.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use regex::Regex;
use serde_json::{Value, json};

use crate::http_util::Reply;
use crate::jobs::{Job, JobStatus};
use crate::state::{Shared, lock};

const JOB_NAME: &str = r"[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}";
const ROLE_ARN: &str = r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+";
const S3_URI: &str =
    r"s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?";
const TOKEN: &str = r"[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}";
const TAG: &str = r"[a-zA-Z0-9\s._:/=+@-]*";
const JOB_IDENTIFIER: &str =
    r"((arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-invocation-job/)?[a-z0-9]{12})";

fn full_match(pattern: &'static str, cell: &'static OnceLock<Option<Regex>>, value: &str) -> bool {
    cell.get_or_init(|| Regex::new(&format!("^(?:{pattern})$")).ok())
        .as_ref()
        .is_some_and(|re| re.is_match(value))
}

macro_rules! matcher {
    ($name:ident, $pattern:expr) => {
        fn $name(value: &str) -> bool {
            static CELL: OnceLock<Option<Regex>> = OnceLock::new();
            full_match($pattern, &CELL, value)
        }
    };
}

matcher!(is_job_name, JOB_NAME);
matcher!(is_role_arn, ROLE_ARN);
matcher!(is_s3_uri, S3_URI);
matcher!(is_token, TOKEN);
matcher!(is_tag, TAG);
matcher!(is_job_identifier, JOB_IDENTIFIER);

fn validation(message: String) -> Reply {
    Reply::json_error(400, "ValidationException", &message)
}

fn constraint(field: &str, value: &str, rule: &str) -> Reply {
    validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {rule}"
    ))
}

fn not_found(message: String) -> Reply {
    Reply::json_error(404, "ResourceNotFoundException", &message)
}

/// Routes one Bedrock request (already authenticated).
pub(crate) fn handle(
    shared: &Arc<Shared>,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Reply {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let operation = match (method, segments.as_slice()) {
        ("POST", ["model-invocation-job"]) => "CreateModelInvocationJob",
        ("GET", ["model-invocation-jobs"]) => "ListModelInvocationJobs",
        ("GET", ["model-invocation-job", _]) => "GetModelInvocationJob",
        ("POST", ["model-invocation-job", _, "stop"]) => "StopModelInvocationJob",
        ("POST", ["listTagsForResource"]) => "ListTagsForResource",
        ("POST", ["tagResource"]) => "TagResource",
        ("POST", ["untagResource"]) => "UntagResource",
        ("GET", ["foundation-models"]) => "ListFoundationModels",
        ("GET", ["foundation-models", _]) => "GetFoundationModel",
        ("GET", ["inference-profiles"]) => "ListInferenceProfiles",
        ("GET", ["inference-profiles", _]) => "GetInferenceProfile",
        _ => "",
    };
    if shared.faults.next_call_throttled(operation) {
        return Reply::json_error(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        );
    }
    if let Some(kind) = shared.faults.next_control_fault(operation) {
        return control_fault(shared, kind, operation, body);
    }
    match (method, segments.as_slice()) {
        ("POST", ["model-invocation-job"]) => create(shared, body),
        ("GET", ["model-invocation-jobs"]) => list(shared, query),
        ("GET", ["model-invocation-job", id]) => with_identifier(id, |id| get(shared, id)),
        ("POST", ["model-invocation-job", id, "stop"]) => {
            with_identifier(id, |id| stop(shared, id))
        }
        ("POST", ["listTagsForResource" | "tagResource" | "untagResource"]) => {
            tag_operation(shared, operation, body)
        }
        ("GET", ["foundation-models"]) => crate::catalog::list_models(shared, query),
        ("GET", ["foundation-models", id]) => crate::catalog::get_model(shared, id),
        ("GET", ["inference-profiles"]) => crate::catalog::list_profiles(shared, query),
        ("GET", ["inference-profiles", id]) => crate::catalog::get_profile(shared, id),
        _ => Reply::json_error(
            404,
            "UnknownOperationException",
            "The requested operation is not supported by llmbo-local",
        ),
    }
}

/// The reply of an injected control-plane failure, in Bedrock's words.
pub(crate) fn control_fault(
    shared: &Arc<Shared>,
    kind: crate::faults::ControlFaultKind,
    operation: &str,
    body: &[u8],
) -> Reply {
    use crate::faults::ControlFaultKind;
    match kind {
        ControlFaultKind::AccessDenied => {
            let caller = format!(
                "arn:aws:iam::{}:user/llmbo-local",
                shared.settings.account_id
            );
            let role = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|b| b.get("roleArn").and_then(Value::as_str).map(str::to_owned));
            let message = match (operation, role) {
                ("CreateModelInvocationJob", Some(role)) => format!(
                    "User: {caller} is not authorized to perform: iam:PassRole on resource: {role} because no identity-based policy allows the iam:PassRole action"
                ),
                _ => format!(
                    "User: {caller} is not authorized to perform: bedrock:{operation} because no identity-based policy allows the bedrock:{operation} action"
                ),
            };
            Reply::json_error(403, "AccessDeniedException", &message)
        }
        ControlFaultKind::ServiceQuotaExceeded => Reply::json_error(
            400,
            "ServiceQuotaExceededException",
            "The number of submitted and in-progress batch inference jobs for this model has reached the quota.",
        ),
        ControlFaultKind::InternalServer => Reply::json_error(
            500,
            "InternalServerException",
            "An internal server error occurred. Retry your request.",
        ),
        ControlFaultKind::ModelError => Reply::json_error(
            424,
            "ModelErrorException",
            "The model failed to process the request.",
        ),
    }
}

/// Decodes and checks a `jobIdentifier` label (a full ARN, percent-encoded, or the job id).
fn with_identifier(raw: &str, f: impl FnOnce(&str) -> Reply) -> Reply {
    let Some(decoded) = crate::http_util::decode_segment(raw) else {
        return constraint("jobIdentifier", raw, "Member must be valid UTF-8");
    };
    if !is_job_identifier(&decoded) {
        return constraint(
            "jobIdentifier",
            &decoded,
            &format!("Member must satisfy regular expression pattern: {JOB_IDENTIFIER}"),
        );
    }
    let id = decoded.rsplit('/').next().unwrap_or(&decoded).to_owned();
    f(&id)
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, key| v.get(key))?.as_str()
}

fn create(shared: &Arc<Shared>, body: &[u8]) -> Reply {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return validation("The request body is not valid JSON".into());
    };
    if !request.is_object() {
        return validation("The request body must be a JSON object".into());
    }
    for member in [
        "jobName",
        "roleArn",
        "modelId",
        "inputDataConfig",
        "outputDataConfig",
    ] {
        if request.get(member).is_none_or(Value::is_null) {
            return validation(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(member)
            ));
        }
    }
    let name = request["jobName"].as_str().unwrap_or_default();
    if name.len() > 63 || !is_job_name(name) {
        return constraint(
            "jobName",
            name,
            &format!("Member must satisfy regular expression pattern: {JOB_NAME}"),
        );
    }
    let role_arn = request["roleArn"].as_str().unwrap_or_default();
    if role_arn.len() > 2048 || !is_role_arn(role_arn) {
        return constraint(
            "roleArn",
            role_arn,
            &format!("Member must satisfy regular expression pattern: {ROLE_ARN}"),
        );
    }
    let model_id = request["modelId"].as_str().unwrap_or_default();
    if model_id.is_empty() || model_id.len() > 2048 {
        return constraint(
            "modelId",
            model_id,
            "Member must have length between 1 and 2048",
        );
    }
    let token = request.get("clientRequestToken").and_then(Value::as_str);
    if let Some(token) = token
        && !is_token(token)
    {
        return constraint(
            "clientRequestToken",
            token,
            &format!("Member must satisfy regular expression pattern: {TOKEN}"),
        );
    }
    let Some(input_uri) = str_at(&request, &["inputDataConfig", "s3InputDataConfig", "s3Uri"])
    else {
        return validation("inputDataConfig must contain s3InputDataConfig with an s3Uri".into());
    };
    let Some(output_uri) = str_at(
        &request,
        &["outputDataConfig", "s3OutputDataConfig", "s3Uri"],
    ) else {
        return validation("outputDataConfig must contain s3OutputDataConfig with an s3Uri".into());
    };
    for (field, uri) in [
        ("inputDataConfig.s3InputDataConfig.s3Uri", input_uri),
        ("outputDataConfig.s3OutputDataConfig.s3Uri", output_uri),
    ] {
        // S3 takes `..` as part of a key's name; llmbo-local refuses such keys (a known
        // difference).
        if crate::runner::steps_out(uri) {
            return validation(format!(
                "{field} {uri} has a `.` or `..` path segment, which llmbo-local does not serve"
            ));
        }
        if uri.len() > 1024 || !is_s3_uri(uri) {
            return constraint(
                field,
                uri,
                &format!("Member must satisfy regular expression pattern: {S3_URI}"),
            );
        }
    }
    if let Some(format) = str_at(
        &request,
        &["inputDataConfig", "s3InputDataConfig", "s3InputFormat"],
    ) && format != "JSONL"
    {
        return constraint(
            "inputDataConfig.s3InputDataConfig.s3InputFormat",
            format,
            "Member must satisfy enum value set: [JSONL]",
        );
    }
    let timeout_hours = match request.get("timeoutDurationInHours") {
        None | Some(Value::Null) => 24,
        Some(value) => match value.as_u64() {
            Some(hours @ 24..=168) => hours as u32,
            _ => {
                return constraint(
                    "timeoutDurationInHours",
                    &value.to_string(),
                    "Member must have value between 24 and 168",
                );
            }
        },
    };
    let invocation_type = match request.get("modelInvocationType").and_then(Value::as_str) {
        None => None,
        Some(kind @ ("InvokeModel" | "Converse")) => Some(kind.to_owned()),
        Some(other) => {
            return constraint(
                "modelInvocationType",
                other,
                "Member must satisfy enum value set: [InvokeModel, Converse]",
            );
        }
    };
    if let Some(tags) = request.get("tags") {
        let Some(tags) = tags.as_array().filter(|t| t.len() <= 200) else {
            return validation("tags must be a list of at most 200 tags".into());
        };
        for tag in tags {
            let key = tag.get("key").and_then(Value::as_str).unwrap_or_default();
            let value = tag.get("value").and_then(Value::as_str).unwrap_or_default();
            if key.is_empty()
                || key.len() > 128
                || value.len() > 256
                || !is_tag(key)
                || !is_tag(value)
            {
                return constraint(
                    "tags.member.key",
                    key,
                    &format!("Member must satisfy regular expression pattern: {TAG}"),
                );
            }
        }
    }
    if let Some(vpc) = request.get("vpcConfig") {
        let subnets = vpc
            .get("subnetIds")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let groups = vpc
            .get("securityGroupIds")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if !(1..=16).contains(&subnets) || !(1..=5).contains(&groups) {
            return validation(
                "vpcConfig needs 1 to 16 subnetIds and 1 to 5 securityGroupIds".into(),
            );
        }
    }
    if let Some(refusal) = crate::catalog::batch_refusal(model_id) {
        return validation(refusal);
    }
    if !shared.serves(model_id) {
        return validation(format!(
            "The provided model identifier {model_id} is invalid or does not support batch inference."
        ));
    }
    let role_known = shared
        .roles
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains_key(role_arn);
    if !role_known {
        return validation(format!(
            "The provided role {role_arn} could not be assumed by Amazon Bedrock; check that it exists and trusts bedrock.amazonaws.com."
        ));
    }
    // What real create checks of S3 (with the service role's permissions): the buckets exist
    // and belong to the owner named, and the input is there. It refuses otherwise with a
    // validation error, not a 404 (the exact sentences are UNCERTAIN).
    for (config, uri, access) in [
        ("inputDataConfig", input_uri, "GetObject"),
        ("outputDataConfig", output_uri, "PutObject"),
    ] {
        let bucket = bucket_of(uri);
        if !shared.bucket_exists(bucket) {
            return validation(format!(
                "Unable to validate {access} permissions for {uri}: the S3 bucket {bucket} does not exist."
            ));
        }
        let member = if config == "inputDataConfig" {
            "s3InputDataConfig"
        } else {
            "s3OutputDataConfig"
        };
        if let Some(owner) = str_at(&request, &[config, member, "s3BucketOwner"])
            && owner != shared.settings.account_id
        {
            return validation(format!(
                "Unable to validate {access} permissions for {uri}: the bucket is not owned by account {owner}."
            ));
        }
    }
    if !crate::runner::input_exists(&shared.objects, input_uri) {
        return validation(format!(
            "Unable to validate GetObject permissions for {input_uri}: no object or prefix exists at that location."
        ));
    }

    let now = Utc::now();
    let mut jobs = lock(&shared.jobs);
    // The same token and job name is the same request: answer it again, start nothing.
    if let Some(token) = token
        && let Some(existing) = jobs
            .iter()
            .find(|j| j.client_request_token.as_deref() == Some(token) && j.name == name)
    {
        return Reply::json(200, &json!({"jobArn": existing.arn}));
    }
    // Any other request with a name an existing job has is refused, as Bedrock refuses it
    // (the exception's type is not documented for batch jobs; Bedrock's other job kinds send
    // a ValidationException with this message).
    if jobs.iter().any(|j| j.name == name) {
        return validation("The provided job name is currently in use.".into());
    }
    let running = jobs
        .iter()
        .filter(|j| j.model_id == model_id && !j.status.is_terminal())
        .count();
    if running >= shared.settings.quotas.max_concurrent_jobs_per_model {
        return Reply::json_error(
            400,
            "ServiceQuotaExceededException",
            &format!(
                "The number of submitted and in-progress batch inference jobs for {model_id} has reached the quota of {}.",
                shared.settings.quotas.max_concurrent_jobs_per_model
            ),
        );
    }
    let id = job_id(shared.next_number(), name);
    let arn = format!(
        "arn:aws:bedrock:{}:{}:model-invocation-job/{id}",
        shared.settings.region, shared.settings.account_id
    );
    let mut input_data_config = request["inputDataConfig"].clone();
    if let Some(config) = input_data_config
        .get_mut("s3InputDataConfig")
        .and_then(Value::as_object_mut)
    {
        config.entry("s3InputFormat").or_insert(json!("JSONL"));
    }
    let job = Job {
        id: id.clone(),
        arn: arn.clone(),
        name: name.to_owned(),
        model_id: model_id.to_owned(),
        role_arn: role_arn.to_owned(),
        client_request_token: token.map(str::to_owned),
        input_data_config,
        output_data_config: request["outputDataConfig"].clone(),
        input_uri: input_uri.to_owned(),
        output_uri: output_uri.to_owned(),
        vpc_config: request.get("vpcConfig").cloned(),
        tags: tags_of(request.get("tags")),
        timeout_hours,
        invocation_type,
        status: JobStatus::Submitted,
        message: None,
        submit_time: now,
        last_modified: now,
        end_time: None,
        expiration_time: now + ChronoDuration::hours(i64::from(timeout_hours)),
        counts: None,
    };
    jobs.push(job);
    drop(jobs);
    crate::runner::spawn(shared, id);
    Reply::json(200, &json!({ "jobArn": arn }))
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_ascii_lowercase().to_string() + chars.as_str()
    })
}

/// Twelve lower-case alphanumerics, unique per server.
fn job_id(n: u64, name: &str) -> String {
    let mut x = crate::faults::mix(n, 11, name.as_bytes());
    (0..12)
        .map(|_| {
            let digit = (x % 36) as u32;
            x /= 36;
            char::from_digit(digit, 36).unwrap_or('0')
        })
        .collect()
}

/// The bucket of an `s3://bucket/key` URI.
pub(crate) fn bucket_of(uri: &str) -> &str {
    let rest = uri.strip_prefix("s3://").unwrap_or(uri);
    rest.split('/').next().unwrap_or(rest)
}

/// `[{"key","value"}]` as pairs, a key given twice keeping its last value.
fn tags_of(tags: Option<&Value>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for tag in tags.and_then(Value::as_array).into_iter().flatten() {
        let key = tag.get("key").and_then(Value::as_str).unwrap_or_default();
        let value = tag.get("value").and_then(Value::as_str).unwrap_or_default();
        out.retain(|(k, _)| k != key);
        out.push((key.to_owned(), value.to_owned()));
    }
    out
}

/// ListTagsForResource, TagResource and UntagResource on a job's ARN (the only taggable
/// resource llmbo-local has). The body names the resource as `resourceARN`.
fn tag_operation(shared: &Arc<Shared>, operation: &str, body: &[u8]) -> Reply {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return validation("The request body is not valid JSON.".into());
    };
    let Some(arn) = request.get("resourceARN").and_then(Value::as_str) else {
        return validation("1 validation error detected: Value null at 'resourceARN' failed to satisfy constraint: Member must not be null".into());
    };
    let Some(id) = arn
        .strip_prefix(&format!(
            "arn:aws:bedrock:{}:{}:model-invocation-job/",
            shared.settings.region, shared.settings.account_id
        ))
        .filter(|id| !id.is_empty() && !id.contains('/'))
    else {
        return not_found(format!(
            "The specified resource ARN {arn} could not be found."
        ));
    };
    let tags = request.get("tags");
    if operation == "TagResource" {
        let Some(list) = tags.and_then(Value::as_array) else {
            return validation("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null".into());
        };
        for tag in list {
            let key = tag.get("key").and_then(Value::as_str).unwrap_or_default();
            let value = tag.get("value").and_then(Value::as_str).unwrap_or_default();
            if key.is_empty()
                || key.len() > 128
                || value.len() > 256
                || !is_tag(key)
                || !is_tag(value)
            {
                return constraint(
                    "tags.member.key",
                    key,
                    &format!("Member must satisfy regular expression pattern: {TAG}"),
                );
            }
        }
    }
    let keys: Vec<String> = request
        .get("tagKeys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let outcome = shared.with_job(id, |job| match operation {
        "TagResource" => {
            for (key, value) in tags_of(tags) {
                job.tags.retain(|(k, _)| *k != key);
                job.tags.push((key, value));
            }
            if job.tags.len() > 200 {
                return Err("A resource can have at most 200 tags.".to_owned());
            }
            Ok(json!({}))
        }
        "UntagResource" => {
            job.tags.retain(|(k, _)| !keys.contains(k));
            Ok(json!({}))
        }
        _ => Ok(json!({
            "tags": job.tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()
        })),
    });
    match outcome {
        None => not_found(format!(
            "The specified resource ARN {arn} could not be found."
        )),
        Some(Err(message)) => validation(message),
        Some(Ok(body)) => Reply::json(200, &body),
    }
}

fn get(shared: &Arc<Shared>, id: &str) -> Reply {
    match shared.with_job(id, |job| job.to_json()) {
        Some(body) => Reply::json(200, &body),
        None => not_found(format!(
            "The specified model invocation job {id} could not be found."
        )),
    }
}

fn stop(shared: &Arc<Shared>, id: &str) -> Reply {
    let outcome = shared.with_job(id, |job| {
        if job.status.is_terminal() || job.status == JobStatus::Stopping {
            Err(job.status)
        } else {
            job.set_status(JobStatus::Stopping);
            Ok(())
        }
    });
    match outcome {
        None => not_found(format!(
            "The specified model invocation job {id} could not be found."
        )),
        Some(Err(status)) => Reply::json_error(
            400,
            "ValidationException",
            &format!(
                "The model invocation job {id} cannot be stopped. State was: {}",
                status.as_str()
            ),
        ),
        Some(Ok(())) => Reply::json(200, &json!({})),
    }
}

fn list(shared: &Arc<Shared>, query: Option<&str>) -> Reply {
    let mut status = None;
    let mut name_contains = None;
    let mut max_results = 1000usize;
    let mut cursor: Option<usize> = None;
    let mut ascending = false;
    let mut after: Option<DateTime<Utc>> = None;
    let mut before: Option<DateTime<Utc>> = None;
    for (key, value) in crate::http_util::form_pairs(query.unwrap_or("")) {
        match key.as_str() {
            "statusEquals" => match JobStatus::parse(&value) {
                Some(s) => status = Some(s),
                None => {
                    return constraint(
                        "statusEquals",
                        &value,
                        "Member must satisfy enum value set",
                    );
                }
            },
            "nameContains" => name_contains = Some(value),
            "maxResults" => match value.parse::<usize>() {
                Ok(n @ 1..=1000) => max_results = n,
                _ => {
                    return constraint(
                        "maxResults",
                        &value,
                        "Member must have value between 1 and 1000",
                    );
                }
            },
            "nextToken" => match value
                .strip_prefix("llmbo-local-")
                .and_then(|n| n.parse().ok())
            {
                Some(n) => cursor = Some(n),
                None => return validation("The nextToken is invalid.".into()),
            },
            "sortBy" if value != "CreationTime" => {
                return constraint(
                    "sortBy",
                    &value,
                    "Member must satisfy enum value set: [CreationTime]",
                );
            }
            "sortOrder" => match value.as_str() {
                "Ascending" => ascending = true,
                "Descending" => ascending = false,
                _ => {
                    return constraint(
                        "sortOrder",
                        &value,
                        "Member must satisfy enum value set: [Ascending, Descending]",
                    );
                }
            },
            "submitTimeAfter" | "submitTimeBefore" => {
                let Ok(time) = DateTime::parse_from_rfc3339(&value) else {
                    return validation(format!("{key} is not a valid timestamp"));
                };
                let time = time.with_timezone(&Utc);
                if key == "submitTimeAfter" {
                    after = Some(time);
                } else {
                    before = Some(time);
                }
            }
            _ => {}
        }
    }
    let jobs = lock(&shared.jobs);
    // A page starts after the last job of the one before, by creation order (jobs are only
    // ever added): a job created between two pages never pushes one seen already onto the
    // next page, as an offset would.
    let mut matching: Vec<(usize, &Job)> = jobs
        .iter()
        .enumerate()
        .filter(|(_, j)| status.is_none_or(|s| j.status == s))
        .filter(|(_, j)| name_contains.as_deref().is_none_or(|n| j.name.contains(n)))
        .filter(|(_, j)| after.is_none_or(|t| j.submit_time > t))
        .filter(|(_, j)| before.is_none_or(|t| j.submit_time < t))
        .filter(|(index, _)| match cursor {
            None => true,
            Some(last) if ascending => *index > last,
            Some(last) => *index < last,
        })
        .collect();
    if !ascending {
        matching.reverse();
    }
    let page: Vec<Value> = matching
        .iter()
        .take(max_results)
        .map(|(_, j)| j.to_json())
        .collect();
    let mut body = json!({ "invocationJobSummaries": page });
    if matching.len() > max_results
        && let Some((last, _)) = matching.get(max_results - 1)
    {
        body["nextToken"] = json!(format!("llmbo-local-{last}"));
    }
    Reply::json(200, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_the_service_model() {
        assert!(is_job_name("people-2026-11"));
        assert!(is_job_name("a1.b+c"));
        assert!(!is_job_name("bad name"));
        assert!(!is_job_name("-leading"));
        assert!(is_s3_uri("s3://llmbo-local/input/job.jsonl"));
        assert!(is_s3_uri("s3://llmbo-local/output/"));
        assert!(!is_s3_uri("s3://llmbo-local/in put/job.jsonl"));
        assert!(!is_s3_uri("s3://Upper/x"));
        assert!(is_job_identifier("abcdefghij12"));
        assert!(is_job_identifier(
            "arn:aws:bedrock:us-east-1:000000000000:model-invocation-job/abcdefghij12"
        ));
        assert!(!is_job_identifier("abc"));
        assert!(is_role_arn("arn:aws:iam::000000000000:role/llmbo-local"));
        assert!(!is_token("has space"));
    }

    #[test]
    fn job_ids_are_twelve_lowercase_alphanumerics() {
        let id = job_id(1, "job");
        assert_eq!(id.len(), 12);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert_ne!(job_id(2, "job"), id);
    }
}
