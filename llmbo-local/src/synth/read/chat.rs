//! Chat completions and the prompt bodies (Llama, Mistral's text completion).

use serde_json::{Map, Value, json};

use super::super::Request;
use super::{
    ToolTurns, check_tool_turns, is_follow_up, messages_of, positive_int, strict_flag,
    strict_schema_at,
};

pub(super) fn read_prompt(body: &Map<String, Value>, key: &str) -> Result<Request, String> {
    let prompt = body
        .get(key)
        .ok_or(format!("#: required key [{key}] not found"))?
        .as_str()
        .ok_or(format!("#/{key}: expected type: String"))?;
    for limit in ["max_tokens", "max_gen_len"] {
        positive_int(body, limit, false)?;
    }
    let mut read = super::media::Read::default();
    if let Some(images) = body.get("images") {
        super::media::read_llama_images(images, prompt, &mut read)?;
    }
    Ok(Request {
        text: prompt.to_owned(),
        media_text: read.media,
        forced_tool: None,
        any_of: Vec::new(),
        // Llama: a second assistant header; Mistral: a second instruction.
        follow_up: prompt.matches("<|start_header_id|>assistant").count() > 1
            || prompt.matches("[INST]").count() > 1,
        json_format: None,
    })
}

pub(super) fn read_chat(body: &Map<String, Value>) -> Result<Request, String> {
    let messages = messages_of(body)?;
    check_tool_turns(messages, ToolTurns::Chat)?;
    let mut tools: Vec<(String, Value)> = Vec::new();
    if let Some(list) = body.get("tools") {
        for (i, tool) in list
            .as_array()
            .ok_or("#/tools: expected type: JSONArray")?
            .iter()
            .enumerate()
        {
            if tool.get("type").and_then(Value::as_str) != Some("function") {
                return Err(format!("#/tools/{i}/type: must be function"));
            }
            let function = tool
                .get("function")
                .ok_or(format!("#/tools/{i}: required key [function] not found"))?;
            let name = function.get("name").and_then(Value::as_str).ok_or(format!(
                "#/tools/{i}/function: required key [name] not found"
            ))?;
            let schema = function
                .get("parameters")
                .cloned()
                .unwrap_or(json!({"type": "object"}));
            if let Some(function) = function.as_object() {
                strict_flag(function, &schema, &format!("tools.{i}.function.parameters"))?;
            }
            tools.push((name.to_owned(), schema));
        }
    }
    let forced_tool = match body.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(choice)) => match choice.as_str() {
            "any" | "required" => Some(
                tools
                    .first()
                    .cloned()
                    .ok_or("#/tool_choice: requires tools")?,
            ),
            "auto" | "none" => None,
            other => return Err(format!("#/tool_choice: unknown value {other}")),
        },
        Some(choice) => {
            let name = choice
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or("#/tool_choice: expected a function name")?;
            Some(
                tools
                    .iter()
                    .find(|(n, _)| n == name)
                    .cloned()
                    .ok_or(format!("#/tool_choice: tool {name} not found"))?,
            )
        }
    };
    let any_of = match body.get("tool_choice").and_then(Value::as_str) {
        Some("any" | "required") if tools.len() > 1 => tools.clone(),
        _ => Vec::new(),
    };
    let json_format = read_response_format(body.get("response_format"))?;
    let mut text = String::new();
    let mut read = super::media::Read::default();
    super::media::read(&Value::Array(messages.clone()), "#/messages", &mut read)?;
    text.push_str(&read.text);
    Ok(Request {
        text,
        media_text: read.media,
        forced_tool,
        any_of,
        follow_up: is_follow_up(messages),
        json_format,
    })
}

/// The chat-completion `response_format`: `{type: "json_schema", json_schema: {name, schema,
/// strict}}` (the OpenAI convention; AWS, "OpenAI models",
/// <https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-openai.html>), or `text`.
pub(super) fn read_response_format(format: Option<&Value>) -> Result<Option<Value>, String> {
    let Some(format) = format else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_schema") => {
            let definition = format
                .get("json_schema")
                .and_then(Value::as_object)
                .ok_or("response_format.json_schema: Field required")?;
            let schema = definition
                .get("schema")
                .filter(|s| s.is_object())
                .ok_or("response_format.json_schema.schema: Field required (a JSON object)")?;
            strict_schema_at(schema, "response_format.json_schema.schema")?;
            Ok(Some(schema.clone()))
        }
        _ => Err("response_format.type: Input should be 'text' or 'json_schema'".into()),
    }
}
