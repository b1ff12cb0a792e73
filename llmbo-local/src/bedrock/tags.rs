//! Tags on jobs: ListTagsForResource, TagResource and UntagResource.

use super::*;

/// `[{"key","value"}]` as pairs, a key given twice keeping its last value.
pub(super) fn tags_of(tags: Option<&Value>) -> Vec<(String, String)> {
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
pub(super) fn tag_operation(shared: &Arc<Shared>, operation: &str, body: &[u8]) -> Reply {
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
        if let Some(refused) = check_tags(list) {
            return refused;
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

/// Bedrock's refusal of the first tag whose key or value breaks the service model's pattern
/// or length, or `None` when every tag is valid.
pub(super) fn check_tags(tags: &[Value]) -> Option<Reply> {
    tags.iter().find_map(|tag| {
        let key = tag.get("key").and_then(Value::as_str).unwrap_or_default();
        let value = tag.get("value").and_then(Value::as_str).unwrap_or_default();
        let valid = !key.is_empty()
            && key.len() <= 128
            && value.len() <= 256
            && is_tag(key)
            && is_tag(value);
        (!valid).then(|| {
            constraint(
                "tags.member.key",
                key,
                &format!("Member must satisfy regular expression pattern: {TAG}"),
            )
        })
    })
}
