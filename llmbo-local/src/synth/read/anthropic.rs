//! Anthropic Claude's Messages body.

use serde_json::{Map, Value};

use super::super::Request;
use super::{
    ToolTurns, check_tool_turns, collect_text, extraneous, is_follow_up, messages_of, positive_int,
    strict_flag, strict_schema_at,
};

pub(super) fn read_anthropic(body: &Map<String, Value>) -> Result<Request, String> {
    extraneous(
        body,
        &[
            "anthropic_version",
            "anthropic_beta",
            "max_tokens",
            "messages",
            "system",
            "temperature",
            "top_p",
            "top_k",
            "stop_sequences",
            "tools",
            "tool_choice",
            "thinking",
            "metadata",
            "output_config",
        ],
        "#",
    )?;
    if !body.get("anthropic_version").is_some_and(Value::is_string) {
        return Err("#: required key [anthropic_version] not found".into());
    }
    positive_int(body, "max_tokens", true)?;
    let messages = messages_of(body)?;
    if let Some(i) = messages
        .iter()
        .position(|m| m.get("role").and_then(Value::as_str) == Some("system"))
    {
        return Err(format!(
            "messages.{i}.role: Input should be 'user' or 'assistant'"
        ));
    }
    check_tool_turns(messages, ToolTurns::Anthropic)?;
    if messages[0].get("role").and_then(Value::as_str) != Some("user") {
        return Err("#/messages/0: the first message must use the user role".into());
    }
    let mut tools: Vec<(String, Value)> = Vec::new();
    if let Some(list) = body.get("tools") {
        for (i, tool) in list
            .as_array()
            .ok_or("#/tools: expected type: JSONArray")?
            .iter()
            .enumerate()
        {
            let tool = tool
                .as_object()
                .ok_or(format!("#/tools/{i}: expected type: JSONObject"))?;
            extraneous(
                tool,
                &[
                    "type",
                    "name",
                    "description",
                    "input_schema",
                    "cache_control",
                    "strict",
                ],
                &format!("#/tools/{i}"),
            )?;
            let name = tool
                .get("name")
                .and_then(Value::as_str)
                .ok_or(format!("#/tools/{i}: required key [name] not found"))?;
            let schema = tool
                .get("input_schema")
                .filter(|s| s.is_object())
                .ok_or(format!(
                    "#/tools/{i}: required key [input_schema] not found"
                ))?;
            if schema.get("type").and_then(Value::as_str) != Some("object") {
                return Err(format!("#/tools/{i}/input_schema: type must be object"));
            }
            strict_flag(tool, schema, &format!("tools.{i}.input_schema"))?;
            tools.push((name.to_owned(), schema.clone()));
        }
    }
    let forced_tool = match body.get("tool_choice") {
        None => None,
        Some(choice) => match choice.get("type").and_then(Value::as_str) {
            Some("auto" | "none") => None,
            Some("any") => Some(
                tools
                    .first()
                    .cloned()
                    .ok_or("#/tool_choice: requires tools")?,
            ),
            Some("tool") => {
                let name = choice
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or("#/tool_choice: required key [name] not found")?;
                Some(
                    tools
                        .iter()
                        .find(|(n, _)| n == name)
                        .cloned()
                        .ok_or(format!("#/tool_choice: tool {name} not found in tools"))?,
                )
            }
            _ => return Err("#/tool_choice/type: must be one of auto, any, tool, none".into()),
        },
    };
    let any_of = match body
        .get("tool_choice")
        .and_then(|c| c.get("type"))
        .and_then(Value::as_str)
    {
        Some("any") if tools.len() > 1 => tools.clone(),
        _ => Vec::new(),
    };
    let json_format = read_output_config(body.get("output_config"))?;
    if json_format.is_some() && forced_tool.is_some() {
        return Err("output_config.format: cannot be combined with a forced tool_choice".into());
    }
    let mut text = String::new();
    let mut read = super::media::Read::default();
    super::media::read(&Value::Array(messages.clone()), "#/messages", &mut read)?;
    text.push_str(&read.text);
    if let Some(system) = body.get("system") {
        collect_text(system, &mut text);
    }
    Ok(Request {
        text,
        media_text: read.media,
        forced_tool,
        any_of,
        follow_up: is_follow_up(messages),
        json_format,
    })
}

/// Claude models that refuse `temperature` and `top_p` in one request (Anthropic: Opus 4.1,
/// the 4.5 models and later).
pub const ONE_SAMPLING_PARAMETER: &[&str] = &[
    "claude-opus-4-1",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
    "claude-opus-4-5",
    "claude-sonnet-4-6",
    "claude-opus-4-6",
    "claude-opus-4-7",
    "claude-opus-5",
];

/// Claude's `output_config`: `effort` and `format: {type: "json_schema", schema: {…}}`
/// (AWS, "Structured outputs", <https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html>); the schema, if one is asked for.
pub(super) fn read_output_config(config: Option<&Value>) -> Result<Option<Value>, String> {
    let Some(config) = config else {
        return Ok(None);
    };
    let config = config
        .as_object()
        .ok_or("#/output_config: expected type: JSONObject")?;
    extraneous(config, &["format", "effort"], "#/output_config")?;
    if let Some(effort) = config.get("effort")
        && !matches!(
            effort.as_str(),
            Some("low" | "medium" | "high" | "xhigh" | "max")
        )
    {
        return Err("output_config.effort: must be one of low, medium, high, xhigh, max".into());
    }
    let Some(format) = config.get("format") else {
        return Ok(None);
    };
    let format = format
        .as_object()
        .ok_or("output_config.format: expected type: JSONObject")?;
    extraneous(format, &["type", "schema"], "output_config.format")?;
    if format.get("type").and_then(Value::as_str) != Some("json_schema") {
        return Err("output_config.format.type: Input should be 'json_schema'".into());
    }
    let schema = format
        .get("schema")
        .filter(|s| s.is_object())
        .ok_or("output_config.format.schema: Field required (a JSON object)")?;
    strict_schema_at(schema, "output_config.format.schema")?;
    Ok(Some(schema.clone()))
}
