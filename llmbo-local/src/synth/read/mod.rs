//! Reading a request body as its family's model does: what the model reads and what it is
//! asked, or the 400 a body the family refuses gets.

pub(super) mod anthropic;
mod chat;
mod gemini;
pub(crate) mod media;
mod nova;
mod responses;

use serde_json::{Map, Value};

use super::{Family, Request};
use anthropic::{ONE_SAMPLING_PARAMETER, read_anthropic};
use chat::{read_chat, read_prompt};
use gemini::read_gemini;
use nova::{read_converse, read_nova};
use responses::read_responses;

/// Checks a schema sent for constrained decoding; the error carries `at`, the field, as
/// Bedrock's 400s do (`output_config.format.schema: For 'array' type, …`).
pub(super) fn strict_schema_at(schema: &Value, at: &str) -> Result<(), String> {
    crate::strict::check(schema).map_err(|err| format!("{at}: {err}"))
}

/// A tool's `strict` flag: a boolean, and when true its schema must be in the subset.
pub(super) fn strict_flag(
    tool: &Map<String, Value>,
    schema: &Value,
    at: &str,
) -> Result<(), String> {
    match tool.get("strict") {
        None | Some(Value::Bool(false)) => Ok(()),
        Some(Value::Bool(true)) => strict_schema_at(schema, at),
        Some(_) => Err(format!("{at}: strict must be a boolean")),
    }
}

pub(super) fn extraneous(
    body: &Map<String, Value>,
    allowed: &[&str],
    at: &str,
) -> Result<(), String> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(format!("{at}: extraneous key [{key}] is not permitted")),
        None => Ok(()),
    }
}

pub(super) fn collect_text(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(items) => items.iter().for_each(|v| collect_text(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_text(v, out)),
        _ => {}
    }
}

pub(super) fn positive_int(
    body: &Map<String, Value>,
    key: &str,
    required: bool,
) -> Result<(), String> {
    match body.get(key) {
        None if required => Err(format!("#: required key [{key}] not found")),
        None => Ok(()),
        Some(v) if v.as_u64().is_some_and(|n| n > 0) => Ok(()),
        Some(_) => Err(format!("#/{key}: expected a positive integer")),
    }
}

pub(super) fn messages_of(body: &Map<String, Value>) -> Result<&Vec<Value>, String> {
    let messages = body
        .get("messages")
        .ok_or("#: required key [messages] not found")?
        .as_array()
        .ok_or("#/messages: expected type: JSONArray")?;
    if messages.is_empty() {
        return Err("#/messages: expected minimum item count: 1".into());
    }
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str);
        if !matches!(role, Some("user" | "assistant" | "system" | "tool")) {
            return Err(format!("#/messages/{i}/role: invalid role"));
        }
        if m.get("content").is_none() {
            return Err(format!("#/messages/{i}: required key [content] not found"));
        }
    }
    Ok(messages)
}

/// How a family links a tool call to its result, for [`check_tool_turns`].
#[derive(Clone, Copy)]
pub(super) enum ToolTurns {
    /// Claude: `tool_use` blocks, answered by `tool_result` blocks in the next user message.
    Anthropic,
    /// Nova and Converse: `toolUse` blocks, answered by `toolResult` blocks.
    Converse,
    /// Chat completions: `tool_calls`, answered by the `tool` messages that follow.
    Chat,
}

/// A tool call of the model's must be answered in the next turn, as every family's API
/// requires (Claude: "`tool_use` ids were found without `tool_result` blocks immediately
/// after"), and a result must answer a call.
pub(super) fn check_tool_turns(messages: &[Value], turns: ToolTurns) -> Result<(), String> {
    let strings = |value: Option<&Value>, path: &[&str]| -> Vec<String> {
        let mut out = Vec::new();
        for item in value.and_then(Value::as_array).into_iter().flatten() {
            let mut at = Some(item);
            for key in path {
                at = at.and_then(|v| v.get(*key));
            }
            if let Some(id) = at.and_then(Value::as_str) {
                out.push(id.to_owned());
            }
        }
        out
    };
    let calls_of = |m: &Value| match turns {
        ToolTurns::Anthropic => m
            .get("content")
            .and_then(Value::as_array)
            .map(|blocks| {
                blocks
                    .iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
                    .filter_map(|b| b.get("id").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        ToolTurns::Converse => strings(m.get("content"), &["toolUse", "toolUseId"]),
        ToolTurns::Chat => strings(m.get("tool_calls"), &["id"]),
    };
    let results_after = |i: usize| -> Vec<String> {
        match turns {
            ToolTurns::Anthropic => messages
                .get(i + 1)
                .and_then(|m| m.get("content"))
                .and_then(Value::as_array)
                .map(|blocks| {
                    blocks
                        .iter()
                        .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
                        .filter_map(|b| {
                            b.get("tool_use_id")
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                        })
                        .collect()
                })
                .unwrap_or_default(),
            ToolTurns::Converse => messages
                .get(i + 1)
                .map(|m| strings(m.get("content"), &["toolResult", "toolUseId"]))
                .unwrap_or_default(),
            ToolTurns::Chat => messages[i + 1..]
                .iter()
                .take_while(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
                .filter_map(|m| {
                    m.get("tool_call_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect(),
        }
    };
    for (i, message) in messages.iter().enumerate() {
        if message.get("role").and_then(Value::as_str) != Some("assistant")
            || i + 1 == messages.len()
        {
            continue;
        }
        let calls = calls_of(message);
        let results = results_after(i);
        let missing: Vec<&str> = calls
            .iter()
            .filter(|id| !results.contains(id))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                i + 1,
                missing.join(", ")
            ));
        }
        if let Some(stray) = results.iter().find(|id| !calls.contains(id)) {
            return Err(format!(
                "messages.{}: unexpected `tool_use_id` found in `tool_result` blocks: {stray}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.",
                i + 1
            ));
        }
    }
    Ok(())
}

/// Reads a body as its family's request (the text the model reads, and what it is asked).
pub(super) fn read_request(
    runtime: bool,
    model_id: &str,
    family: Option<Family>,
    converse: bool,
    body: &Map<String, Value>,
) -> Result<Request, String> {
    if converse {
        return read_converse(body, runtime);
    }
    match family {
        Some(Family::Anthropic) => {
            if body.contains_key("temperature")
                && body.contains_key("top_p")
                && ONE_SAMPLING_PARAMETER.iter().any(|m| model_id.contains(m))
            {
                return Err("`temperature` and `top_p` cannot both be specified for this model. Please use only one.".into());
            }
            read_anthropic(body)
        }
        Some(Family::Nova) => read_nova(body),
        Some(Family::Mistral) if body.contains_key("prompt") => read_prompt(body, "prompt"),
        Some(Family::Mistral | Family::OpenAi | Family::DeepSeek | Family::Qwen) => read_chat(body),
        Some(Family::Llama) => read_prompt(body, "prompt"),
        Some(Family::Gemini) => read_gemini(body),
        Some(Family::OpenAiResponses) => read_responses(body),
        Some(Family::TitanText | Family::TitanEmbed | Family::NovaEmbed) => {
            read_prompt(body, "inputText")
        }
        None => Err(format!("model {model_id} is not served by llmbo-local")),
    }
}

/// Whether a conversation is a follow-up: a turn of the model's with a turn after it.
pub(super) fn is_follow_up(messages: &[Value]) -> bool {
    messages
        .iter()
        .position(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
        .is_some_and(|at| at + 1 < messages.len())
}
