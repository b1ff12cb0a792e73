//! `bedrock-runtime` InvokeModel and Converse (`POST /model/{modelId}/invoke`, `/converse`),
//! answered by the same synthetic models as batch records (AWS, "InvokeModel", <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InvokeModel.html>).
//!
//! - A record's error becomes the runtime's error: a 400 record is `ValidationException`, a
//!   model's internal error `ModelErrorException` (424, with `originalStatusCode`).
//! - Throttling is per call (`FaultConfig::throttle_rate`, operations `InvokeModel` and
//!   `Converse`); each call waits `Speed::per_record`.
//! - The service tier (InvokeModel's `X-Amzn-Bedrock-Service-Tier` header, Converse's
//!   `serviceTier: {type}`) is checked and echoed: `reserved` has no reservation here, `flex`
//!   and `priority` are for the models AWS launched them with.
//! - The same body gets the same answer: faults and the synthetic model are keyed by a hash
//!   of the body, as a record is by its id.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::http_util::Reply;
use crate::state::Shared;
use crate::synth::{self, Answer};

/// The largest body InvokeModel takes.
pub(crate) const MAX_BODY: usize = 25_000_000;

/// Models that take the `flex` and `priority` tiers (AWS's launch list, 2025-11-18).
const TIERED: &[&str] = &[
    "openai.gpt-oss",
    "deepseek.v3",
    "qwen.qwen3",
    "amazon.nova-pro",
    "amazon.nova-premier",
    "amazon.nova-2-lite",
];

fn validation(message: &str) -> Reply {
    Reply::json_error(400, "ValidationException", message)
}

/// The model id without ARN and geography, for the tier table.
fn bare(model_id: &str) -> &str {
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    match id.split_once('.') {
        Some((geo, rest)) if ["us", "eu", "apac", "global", "jp", "au", "ca"].contains(&geo) => {
            rest
        }
        _ => id,
    }
}

/// Checks a service tier; `Err` is the reply.
fn check_tier(model_id: &str, tier: &str) -> Result<(), Reply> {
    match tier {
        "default" => Ok(()),
        "reserved" => Err(validation("Reservation not found.")),
        "flex" | "priority" => {
            let id = bare(model_id);
            if TIERED.iter().any(|prefix| id.starts_with(prefix)) {
                Ok(())
            } else {
                Err(validation(&format!(
                    "The service tier {tier} is not supported for model {model_id}."
                )))
            }
        }
        _ => Err(validation("service tier provided is invalid")),
    }
}

/// A stable key for a body: what a record id is to a batch record.
fn key_of(body: &[u8]) -> String {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for b in body {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("rt{hash:016x}")
}

/// The reply of one runtime call, or `None` when the path is not a runtime operation.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    method: &str,
    path: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Option<Reply> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (model_raw, operation) = match (method, segments.as_slice()) {
        ("POST", ["model", model, "invoke"]) => (*model, "InvokeModel"),
        ("POST", ["model", model, "converse"]) => (*model, "Converse"),
        ("POST", ["model", model, "count-tokens"]) => {
            return Some(count_tokens(shared, model, body));
        }
        _ => return None,
    };
    Some(call(shared, model_raw, operation, headers, body).await)
}

/// `CountTokens`: `{"input": {"invokeModel": {"body": <base64>}}}` or `{"input": {"converse":
/// {messages, system, …}}}` → `{"inputTokens": n}`, counted as the synthetic models count.
fn count_tokens(shared: &Arc<Shared>, model_raw: &str, body: &[u8]) -> Reply {
    let Some(model_id) = crate::http_util::decode_segment(model_raw) else {
        return validation("The provided model identifier is invalid.");
    };
    if shared.faults.next_call_throttled("CountTokens") {
        return Reply::json_error(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        );
    }
    let Some(family) = shared.family_of(&model_id) else {
        return validation("The provided model identifier is invalid.");
    };
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(body) else {
        return validation("The request body is not valid JSON.");
    };
    let input = request.get("input");
    let counted = if let Some(invoke) = input.and_then(|i| i.get("invokeModel")) {
        let Some(decoded) = invoke
            .get("body")
            .and_then(serde_json::Value::as_str)
            .and_then(base64_decode)
        else {
            return validation("input.invokeModel.body must be a base64-encoded blob.");
        };
        let Ok(model_input) = serde_json::from_slice::<serde_json::Value>(&decoded) else {
            return validation("input.invokeModel.body is not valid JSON.");
        };
        crate::synth::count_tokens(&model_id, Some(family), false, &model_input)
    } else if let Some(converse) = input.and_then(|i| i.get("converse")) {
        crate::synth::count_tokens(&model_id, Some(family), true, converse)
    } else {
        return validation("input must have exactly one of invokeModel or converse.");
    };
    match counted {
        Ok(n) => Reply::json(200, &serde_json::json!({"inputTokens": n})),
        Err(message) => validation(&message),
    }
}

/// Standard base64 (with or without padding); `None` for anything else.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT
        .decode(text)
        .ok()
}

async fn call(
    shared: &Arc<Shared>,
    model_raw: &str,
    operation: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Reply {
    let Some(model_id) = crate::http_util::decode_segment(model_raw) else {
        return validation("The provided model identifier is invalid.");
    };
    if shared.faults.next_call_throttled(operation) {
        return Reply::json_error(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        );
    }
    if let Some(kind) = shared.faults.next_control_fault(operation) {
        return crate::bedrock::control_fault(shared, kind, operation, body);
    }
    let Some(family) = shared.family_of(&model_id) else {
        return validation("The provided model identifier is invalid.");
    };
    // A bare id (not a profile, not an ARN) of a model served through profiles only.
    if !model_id.starts_with("arn:")
        && bare(&model_id) == model_id
        && crate::catalog::PROFILE_ONLY
            .iter()
            .any(|p| model_id.starts_with(p))
    {
        return validation(&format!(
            "Invocation of model ID {model_id} with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model."
        ));
    }
    if body.len() > MAX_BODY {
        return validation(&format!(
            "The request body is {} bytes, above the limit of {MAX_BODY}.",
            body.len()
        ));
    }
    let converse = operation == "Converse";
    if !converse
        && let Some(kind) = headers.get(http::header::CONTENT_TYPE)
        && !kind
            .to_str()
            .is_ok_and(|k| k.starts_with("application/json"))
    {
        return validation("The content type must be application/json.");
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return validation("Malformed input request, please reformat your input and try again.");
    };
    let tier = if converse {
        match request.get("serviceTier") {
            None => None,
            Some(tier) => match tier.get("type").and_then(Value::as_str) {
                Some(kind) => Some(kind.to_owned()),
                None => return validation("serviceTier.type: a tier name is required"),
            },
        }
    } else {
        headers
            .get("x-amzn-bedrock-service-tier")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(tier) = &tier
        && let Err(reply) = check_tier(&model_id, tier)
    {
        return reply;
    }
    let per_call = shared.settings.speed.per_record;
    if !per_call.is_zero() {
        tokio::time::sleep(per_call).await;
    }
    let key = key_of(body);
    shared
        .runtime_calls
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let fault = shared.faults.for_record(&key);
    // On demand, a medium by S3 location is read from wherever it is.
    let resolved = match crate::media_objects::resolve(
        &shared.objects,
        &request,
        crate::media_objects::Allowed::Anywhere,
    ) {
        Ok(resolved) => resolved,
        Err(message) => return validation(&message),
    };
    let answer = synth::answer_runtime(
        &model_id,
        Some(family),
        converse,
        resolved.as_ref().unwrap_or(&request),
        &key,
        shared.faults.config.seed,
        fault,
        shared.settings.mistral_stop_key,
    );
    match answer {
        Answer::Output {
            mut body,
            input_tokens,
            output_tokens,
        } => {
            if converse && let (Some(tier), Some(map)) = (&tier, body.as_object_mut()) {
                map.insert("serviceTier".into(), json!({"type": tier}));
            }
            let mut reply = Reply::json(200, &body);
            reply.headers = vec![
                ("x-amzn-bedrock-input-token-count", input_tokens.to_string()),
                (
                    "x-amzn-bedrock-output-token-count",
                    output_tokens.to_string(),
                ),
                (
                    "x-amzn-bedrock-invocation-latency",
                    (100 + output_tokens).to_string(),
                ),
            ];
            if !converse && let Some(tier) = tier {
                reply.headers.push(("x-amzn-bedrock-service-tier", tier));
            }
            reply
        }
        Answer::Error { code: 400, message } => validation(&message),
        Answer::Error { code, message } => {
            let mut reply = Reply::json_error(424, "ModelErrorException", &message);
            reply.body = json!({
                "message": message,
                "originalStatusCode": code,
                "resourceName": model_id,
            })
            .to_string()
            .into();
            reply
        }
    }
}

#[cfg(test)]
mod tests {
    use super::base64_decode;

    #[test]
    fn base64_decodes_what_the_sdks_send() {
        assert_eq!(
            base64_decode("eyJhIjoxfQ==").as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        assert_eq!(
            base64_decode("eyJhIjoxfQ").as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        assert_eq!(base64_decode("").as_deref(), Some(&b""[..]));
        assert_eq!(base64_decode("e$"), None);
    }
}
