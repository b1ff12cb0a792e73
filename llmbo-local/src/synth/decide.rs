//! What the synthetic model decides to answer, before it is put in its family's format.

use serde_json::Value;

use super::{Reply, Request, first_half};
use crate::faults::{Malformed, RecordFault, Rng};
use crate::schema_gen;

pub(super) fn complete(reply: &Reply) -> bool {
    match reply {
        Reply::Tool { complete, .. } | Reply::Text { complete, .. } => *complete,
    }
}

/// The reply as text, for families without tools (JSON of a tool input, or the text).
pub(super) fn reply_text(reply: &Reply) -> String {
    match reply {
        Reply::Tool { input, .. } => input.to_string(),
        Reply::Text { text, .. } => text.clone(),
    }
}

/// Decides the reply: the tool call or embedded JSON the request asks for, bent by a fault.
/// The reply to one request, or why it is refused (a schema too large to answer).
pub(super) fn decide(
    request: &Request,
    record_id: &str,
    rng: &mut Rng,
    fault: Option<RecordFault>,
) -> Result<Reply, String> {
    let malformed = match fault {
        Some(RecordFault::Malformed(kind) | RecordFault::Stubborn(kind)) => Some(kind),
        _ => None,
    };
    // A plain answer says what the media it read say, or some words.
    let plain_text = || Reply::Text {
        text: if request.media_text.trim().is_empty() {
            format!(
                "Synthetic answer for record {record_id}: {}.",
                lorem(rng_word(record_id))
            )
        } else {
            let said: Vec<&str> = request
                .media_text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            format!(
                "Synthetic answer for record {record_id}: {}.",
                said.join("; ")
            )
        },
        complete: true,
    };
    // `any` over several tools: the model picks one.
    let picked = match request.any_of.len() {
        0 | 1 => request.forced_tool.as_ref(),
        n => request.any_of.get(rng.below(n as u64) as usize),
    };
    if let Some((name, schema)) = picked {
        let input = match schema_gen::generate(schema, rng) {
            Ok(input) => with_facts(schema, input, &request.media_text),
            Err(err) => return Err(format!("tool input_schema: {err}")),
        };
        return Ok(match malformed {
            None => Reply::Tool {
                name: name.clone(),
                input,
                complete: true,
            },
            Some(Malformed::NoToolCall) => plain_text(),
            Some(Malformed::WrongStopReason) => Reply::Tool {
                name: name.clone(),
                input,
                complete: false,
            },
            Some(Malformed::SchemaViolation) => Reply::Tool {
                name: name.clone(),
                input: schema_gen::violate(schema, &input),
                complete: true,
            },
            Some(Malformed::TruncatedJson) => {
                let json = input.to_string();
                Reply::Text {
                    text: first_half(&json).to_owned(),
                    complete: false,
                }
            }
        });
    }
    if let Some(schema) = &request.json_format {
        // Constrained decoding: the text is the JSON and nothing else.
        let value = match schema_gen::generate(schema, rng) {
            Ok(value) => with_facts(schema, value, &request.media_text),
            Err(err) => return Err(format!("output schema: {err}")),
        };
        let json = match malformed {
            Some(Malformed::SchemaViolation) => schema_gen::violate(schema, &value).to_string(),
            _ => value.to_string(),
        };
        return Ok(match malformed {
            Some(Malformed::NoToolCall) => plain_text(),
            Some(Malformed::TruncatedJson | Malformed::WrongStopReason) => Reply::Text {
                text: first_half(&json).to_owned(),
                complete: false,
            },
            _ => Reply::Text {
                text: json,
                complete: true,
            },
        });
    }
    if let Some(schema) = embedded_schema(&request.text) {
        let value = match schema_gen::generate(&schema, rng) {
            Ok(value) => with_facts(&schema, value, &request.media_text),
            Err(err) => return Err(format!("the JSON schema in the prompt: {err}")),
        };
        let value = match malformed {
            Some(Malformed::SchemaViolation) => schema_gen::violate(&schema, &value),
            _ => value,
        };
        let json = value.to_string();
        return Ok(match malformed {
            Some(Malformed::NoToolCall) => plain_text(),
            Some(Malformed::TruncatedJson | Malformed::WrongStopReason) => Reply::Text {
                text: first_half(&json).to_owned(),
                complete: false,
            },
            // Models often wrap JSON in prose or a code fence; some records do too.
            _ => Reply::Text {
                text: match rng.below(3) {
                    0 => json,
                    1 => format!("Here is the extracted data:\n```json\n{json}\n```"),
                    _ => format!("{json}\nLet me know if you need anything else."),
                },
                complete: true,
            },
        });
    }
    Ok(match malformed {
        Some(Malformed::TruncatedJson | Malformed::WrongStopReason) => Reply::Text {
            text: format!("Synthetic answer for record {record_id}, cut"),
            complete: false,
        },
        _ => plain_text(),
    })
}

pub(super) fn rng_word(record_id: &str) -> usize {
    record_id.bytes().map(usize::from).sum()
}

pub(super) fn lorem(n: usize) -> String {
    const WORDS: [&str; 8] = [
        "the", "record", "mentions", "several", "facts", "about", "its", "subject",
    ];
    (0..6)
        .map(|i| WORDS[(n + i * 3) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

/// The JSON schema a prompt asks the answer to follow: the first JSON object in it that
/// describes an object (`"type": "object"` or `"properties"`), whatever words surround it.
pub(super) fn embedded_schema(text: &str) -> Option<Value> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let candidate = &rest[open..];
        let mut stream = serde_json::Deserializer::from_str(candidate).into_iter::<Value>();
        if let Some(Ok(value)) = stream.next()
            && (value.get("type").and_then(Value::as_str) == Some("object")
                || value.get("properties").is_some())
        {
            return Some(value);
        }
        rest = &candidate[1..];
    }
    None
}

/// The answer with each top-level field a document or image states as a `name: value` line
/// (the field's name, any case, spaces or hyphens for underscores) set to that value, as a
/// model reading the document would; fields the media do not state keep their generated value.
pub(super) fn with_facts(schema: &Value, mut value: Value, media_text: &str) -> Value {
    if media_text.is_empty() {
        return value;
    }
    let (Some(properties), Some(answer)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object_mut(),
    ) else {
        return value;
    };
    let key_of = |name: &str| name.trim().to_lowercase().replace([' ', '-'], "_");
    for line in media_text.lines() {
        let Some((name, stated)) = line.split_once(':') else {
            continue;
        };
        let name = key_of(name);
        let stated = stated.trim();
        let Some((field, field_schema)) = properties.iter().find(|(k, _)| key_of(k) == name) else {
            continue;
        };
        let typed = match base_type(field_schema) {
            Some("string") => Some(Value::String(stated.to_owned())),
            Some("integer") => stated.parse::<i64>().ok().map(Value::from),
            Some("number") => stated
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
            Some("boolean") => stated.parse::<bool>().ok().map(Value::Bool),
            _ => None,
        };
        if let Some(typed) = typed {
            answer.insert(field.clone(), typed);
        }
    }
    value
}

/// A field's type, past an optional's `null`: `"string"`, `["string", "null"]` or
/// `anyOf: [{type: string}, {type: null}]`.
fn base_type(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        _ => schema
            .get("anyOf")
            .and_then(Value::as_array)?
            .iter()
            .filter_map(base_type)
            .find(|t| *t != "null"),
    }
}
