//! The Bedrock control plane for batch jobs (REST-JSON): create, get, list and stop model
//! invocation jobs, with Bedrock's validation, error shapes and idempotency. This file routes
//! and holds what every operation shares (the service model's patterns, the error shapes);
//! [`create`], [`list`] and [`tags`] are the larger operations.

mod create;
mod list;
mod tags;

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
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
    let lost = match shared.faults.next_control_fault(operation) {
        Some(crate::faults::ControlFaultKind::AnswerLost) => true,
        Some(kind) => return control_fault(shared, kind, operation, body),
        None => false,
    };
    let reply = match (method, segments.as_slice()) {
        ("POST", ["model-invocation-job"]) => create::create(shared, body),
        ("GET", ["model-invocation-jobs"]) => list::list(shared, query),
        ("GET", ["model-invocation-job", id]) => with_identifier(id, |id| get(shared, id)),
        ("POST", ["model-invocation-job", id, "stop"]) => {
            with_identifier(id, |id| stop(shared, id))
        }
        ("POST", ["listTagsForResource" | "tagResource" | "untagResource"]) => {
            tags::tag_operation(shared, operation, body)
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
    };
    if lost && reply.status < 300 {
        let kind = crate::faults::ControlFaultKind::InternalServer;
        return control_fault(shared, kind, operation, body);
    }
    reply
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
        ControlFaultKind::InternalServer | ControlFaultKind::AnswerLost => Reply::json_error(
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

#[cfg(test)]
mod tests {
    use super::create::job_id;
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
