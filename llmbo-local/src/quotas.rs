//! Service Quotas (`ServiceQuotasV20190624`, awsJson1_1) for the batch quotas llmbo-local
//! enforces, one set per catalog model, named as Bedrock names them
//! (AWS, "Amazon Bedrock endpoints and quotas", <https://docs.aws.amazon.com/general/latest/gr/bedrock.html>), and STS `GetCallerIdentity` (query protocol, XML).

use serde_json::{Value, json};

use crate::catalog::MODELS;
use crate::http_util::{Reply, xml_escape};
use crate::state::Shared;

/// A Service Quotas error: awsJson1_1 puts the code in `__type`.
fn error(status: u16, code: &'static str, message: &str) -> Reply {
    let mut reply = Reply::json(status, &json!({"__type": code, "message": message}));
    reply.content_type = "application/x-amz-json-1.1";
    reply.error_type = Some(code);
    reply
}

fn ok(body: &Value) -> Reply {
    let mut reply = Reply::json(200, body);
    reply.content_type = "application/x-amz-json-1.1";
    reply
}

/// A quota code from its name, stable across restarts (`L-` and eight hex digits).
fn code_of(name: &str) -> String {
    format!(
        "L-{:08X}",
        crate::faults::mix(0, 17, name.as_bytes()) as u32
    )
}

/// Every batch quota: `(name, value, unit)`.
fn quotas(shared: &Shared) -> Vec<(String, f64, &'static str)> {
    let q = &shared.settings.quotas;
    let mut out = Vec::new();
    for model in MODELS {
        let name = model.name;
        let records = q.max_records_for(model.id) as f64;
        out.push((
            format!("Minimum number of records per batch inference job for {name}"),
            q.min_records as f64,
            "None",
        ));
        out.push((
            format!("Records per batch inference job for {name}"),
            records,
            "None",
        ));
        out.push((
            format!("Records per input file per batch inference job for {name}"),
            records,
            "None",
        ));
        out.push((
            format!("Batch inference input file size (in GB) for {name}"),
            q.max_input_file_bytes as f64 / 1e9,
            "None",
        ));
        out.push((
            format!(
                "Sum of in-progress and submitted batch inference jobs using a base model for {name}"
            ),
            q.max_concurrent_jobs_per_model as f64,
            "None",
        ));
    }
    out
}

fn quota_json(shared: &Shared, name: &str, value: f64, unit: &str) -> Value {
    let code = code_of(name);
    json!({
        "ServiceCode": "bedrock",
        "ServiceName": "Amazon Bedrock",
        "QuotaArn": format!("arn:aws:servicequotas:{}:{}:bedrock/{code}", shared.settings.region, shared.settings.account_id),
        "QuotaCode": code,
        "QuotaName": name,
        "Value": value,
        "Unit": unit,
        "Adjustable": !name.starts_with("Minimum"),
        "GlobalQuota": false,
    })
}

/// Answers one Service Quotas call, named by its `X-Amz-Target`.
pub(crate) fn handle(shared: &Shared, target: Option<&str>, body: &[u8]) -> Reply {
    let operation = target
        .and_then(|t| t.strip_prefix("ServiceQuotasV20190624."))
        .unwrap_or("");
    let Ok(request) = serde_json::from_slice::<Value>(if body.is_empty() { b"{}" } else { body })
    else {
        return error(
            400,
            "SerializationException",
            "The request body is not valid JSON",
        );
    };
    if !matches!(operation, "ListServiceQuotas" | "GetServiceQuota") {
        return error(
            400,
            "UnknownOperationException",
            &format!("The operation {operation} is not supported by llmbo-local"),
        );
    }
    let service = request.get("ServiceCode").and_then(Value::as_str);
    if service.is_none() {
        return error(400, "ValidationException", "ServiceCode is required");
    }
    if service != Some("bedrock") {
        return error(
            400,
            "NoSuchResourceException",
            &format!(
                "The request failed because the specified service {} does not exist.",
                service.unwrap_or_default()
            ),
        );
    }
    let all = quotas(shared);
    if operation == "GetServiceQuota" {
        let wanted = request
            .get("QuotaCode")
            .and_then(Value::as_str)
            .unwrap_or("");
        return match all.iter().find(|(name, ..)| code_of(name) == wanted) {
            Some((name, value, unit)) => {
                ok(&json!({"Quota": quota_json(shared, name, *value, unit)}))
            }
            None => error(
                400,
                "NoSuchResourceException",
                &format!("The request failed because the specified quota {wanted} does not exist."),
            ),
        };
    }
    let max = request
        .get("MaxResults")
        .and_then(Value::as_u64)
        .map_or(100, |n| n.clamp(1, 100) as usize);
    let start = match request.get("NextToken").and_then(Value::as_str) {
        None => 0,
        Some(token) => match token
            .strip_prefix("q")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => n,
            None => {
                return error(
                    400,
                    "InvalidPaginationTokenException",
                    "Invalid pagination token",
                );
            }
        },
    };
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|(name, value, unit)| quota_json(shared, name, *value, unit))
        .collect();
    let mut body = json!({"Quotas": page});
    if start + max < all.len() {
        body["NextToken"] = json!(format!("q{}", start + max));
    }
    ok(&body)
}

/// STS over the query protocol: `GetCallerIdentity` only.
pub(crate) fn sts(shared: &Shared, body: &[u8], request_id: &str) -> Reply {
    const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
    let form = crate::http_util::form_pairs(&String::from_utf8_lossy(body));
    let action = form
        .iter()
        .find_map(|(key, value)| (key == "Action").then_some(value.as_str()))
        .unwrap_or("");
    if action != "GetCallerIdentity" {
        return Reply::xml(
            400,
            format!(
                "<ErrorResponse xmlns=\"{NS}\"><Error><Type>Sender</Type><Code>InvalidAction</Code>\
                 <Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                xml_escape(&format!(
                    "Could not find operation {action} for version 2011-06-15"
                ))
            ),
        );
    }
    let account = &shared.settings.account_id;
    Reply::xml(
        200,
        format!(
            "<GetCallerIdentityResponse xmlns=\"{NS}\"><GetCallerIdentityResult>\
             <Arn>arn:aws:iam::{account}:user/llmbo-local</Arn><UserId>AIDALLMBOLOCAL0000000</UserId>\
             <Account>{account}</Account></GetCallerIdentityResult>\
             <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>\
             </GetCallerIdentityResponse>"
        ),
    )
}
