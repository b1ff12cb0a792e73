//! OpenAI's Responses API body (`POST /v1/responses`; OpenAI, "Create a model response",
//! <https://platform.openai.com/docs/api-reference/responses/create>).

use serde_json::{Map, Value};

use super::super::Request;
use super::{positive_int, strict_schema_at};

/// The members a response body may have; any other is refused as OpenAI refuses it
/// ("Unrecognized request argument supplied"), so a chat-completions body (`messages`,
/// `stop`, `response_format`) sent to this endpoint fails as it would there.
const MEMBERS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "max_output_tokens",
    "temperature",
    "top_p",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "text",
    "store",
    "metadata",
    "reasoning",
    "truncation",
    "user",
    "service_tier",
    "include",
    "max_tool_calls",
    "prompt_cache_key",
    "safety_identifier",
    "top_logprobs",
    "previous_response_id",
];

pub(super) fn read_responses(body: &Map<String, Value>) -> Result<Request, String> {
    if let Some(key) = body.keys().find(|k| !MEMBERS.contains(&k.as_str())) {
        return Err(format!("Unrecognized request argument supplied: {key}"));
    }
    let input = body
        .get("input")
        .ok_or("Missing required parameter: 'input'.")?;
    let mut read = super::media::Read::default();
    if let Some(instructions) = body.get("instructions") {
        let text = instructions
            .as_str()
            .ok_or("Invalid type for 'instructions': expected a string.")?;
        read.text.push_str(text);
        read.text.push('\n');
    }
    let mut follow_up = false;
    match input {
        Value::String(text) => {
            read.text.push_str(text);
            read.text.push('\n');
        }
        Value::Array(items) => {
            if items.is_empty() {
                return Err("Invalid 'input': empty array.".into());
            }
            let mut answered = false;
            for (i, item) in items.iter().enumerate() {
                let at = format!("input[{i}]");
                let kind = item
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("message");
                match kind {
                    "message" => {
                        let role = item.get("role").and_then(Value::as_str);
                        if !matches!(role, Some("user" | "assistant" | "system" | "developer")) {
                            return Err(format!(
                                "Invalid value for '{at}.role': expected one of 'user', 'assistant', 'system' or 'developer'."
                            ));
                        }
                        let content = item
                            .get("content")
                            .ok_or(format!("Missing required parameter: '{at}.content'."))?;
                        if answered && role == Some("user") {
                            follow_up = true;
                        }
                        if role == Some("assistant") {
                            answered = true;
                        }
                        super::media::read(content, &at, &mut read)?;
                    }
                    "function_call" => {
                        for key in ["call_id", "name", "arguments"] {
                            if item.get(key).and_then(Value::as_str).is_none() {
                                return Err(format!("Missing required parameter: '{at}.{key}'."));
                            }
                        }
                        answered = true;
                    }
                    "function_call_output" => {
                        let call_id = item
                            .get("call_id")
                            .and_then(Value::as_str)
                            .ok_or(format!("Missing required parameter: '{at}.call_id'."))?;
                        let called = items[..i].iter().any(|earlier| {
                            earlier.get("type").and_then(Value::as_str) == Some("function_call")
                                && earlier.get("call_id").and_then(Value::as_str) == Some(call_id)
                        });
                        if !called {
                            return Err(format!(
                                "No tool call found for function call output with call_id {call_id}."
                            ));
                        }
                        if let Some(output) = item.get("output").and_then(Value::as_str) {
                            read.text.push_str(output);
                            read.text.push('\n');
                        }
                        follow_up = true;
                    }
                    other => {
                        return Err(format!(
                            "Invalid value for '{at}.type': llmbo-local reads messages and function calls, not '{other}'."
                        ));
                    }
                }
            }
        }
        _ => return Err("Invalid type for 'input': expected a string or an array.".into()),
    }
    positive_int(body, "max_output_tokens", false)
        .map_err(|_| "Invalid 'max_output_tokens': expected a positive integer.".to_owned())?;
    let mut tools: Vec<(String, Value)> = Vec::new();
    if let Some(list) = body.get("tools") {
        let list = list
            .as_array()
            .ok_or("Invalid type for 'tools': expected an array.")?;
        for (i, tool) in list.iter().enumerate() {
            if tool.get("type").and_then(Value::as_str) != Some("function") {
                return Err(format!(
                    "Invalid value for 'tools[{i}].type': llmbo-local serves function tools."
                ));
            }
            // A chat-completions tool (`{type, function: {…}}`) has no name at the top.
            let name = tool
                .get("name")
                .and_then(Value::as_str)
                .ok_or(format!("Missing required parameter: 'tools[{i}].name'."))?;
            let schema = tool.get("parameters").cloned().ok_or(format!(
                "Missing required parameter: 'tools[{i}].parameters'."
            ))?;
            // A function tool is strict unless it says otherwise.
            match tool.get("strict") {
                None | Some(Value::Bool(true)) => {
                    strict_schema_at(&schema, &format!("tools[{i}].parameters"))?;
                }
                Some(Value::Bool(false)) => {}
                Some(_) => {
                    return Err(format!(
                        "Invalid type for 'tools[{i}].strict': expected a boolean."
                    ));
                }
            }
            tools.push((name.to_owned(), schema));
        }
    }
    let forced_tool = match body.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(choice)) => match choice.as_str() {
            "required" => Some(
                tools
                    .first()
                    .cloned()
                    .ok_or("Tool choice 'required' must be used with tools.")?,
            ),
            "auto" | "none" => None,
            other => {
                return Err(format!(
                    "Invalid value for 'tool_choice': '{other}' is not one of 'none', 'auto' or 'required'."
                ));
            }
        },
        Some(choice) => {
            let name = choice
                .get("name")
                .and_then(Value::as_str)
                .filter(|_| choice.get("type").and_then(Value::as_str) == Some("function"))
                .ok_or("Invalid 'tool_choice': expected {\"type\": \"function\", \"name\": …}.")?;
            Some(
                tools
                    .iter()
                    .find(|(n, _)| n == name)
                    .cloned()
                    .ok_or(format!(
                        "Tool choice '{name}' not found in 'tools' parameter."
                    ))?,
            )
        }
    };
    let any_of = match body.get("tool_choice").and_then(Value::as_str) {
        Some("required") if tools.len() > 1 => tools.clone(),
        _ => Vec::new(),
    };
    Ok(Request {
        text: read.text,
        media_text: read.media,
        forced_tool,
        any_of,
        follow_up,
        json_format: read_text_format(body.get("text"))?,
    })
}

/// `text.format`: `{type: "json_schema", name, schema, strict}`, `text` or `json_object`.
fn read_text_format(text: Option<&Value>) -> Result<Option<Value>, String> {
    let Some(format) = text.and_then(|t| t.get("format")) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text" | "json_object") => Ok(None),
        Some("json_schema") => {
            let name = format
                .get("name")
                .and_then(Value::as_str)
                .ok_or("Missing required parameter: 'text.format.name'.")?;
            if name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!(
                    "Invalid 'text.format.name': '{name}' must match ^[a-zA-Z0-9_-]{{1,64}}$."
                ));
            }
            let schema = format
                .get("schema")
                .filter(|s| s.is_object())
                .ok_or("Missing required parameter: 'text.format.schema'.")?;
            if format.get("strict").and_then(Value::as_bool) == Some(true) {
                strict_schema_at(schema, "text.format.schema")?;
            }
            Ok(Some(schema.clone()))
        }
        _ => Err(
            "Invalid value for 'text.format.type': expected 'text', 'json_object' or 'json_schema'."
                .into(),
        ),
    }
}
