//! Amazon Nova's body and the Converse body.

use serde_json::{Map, Value};

use super::super::Request;
use super::{
    ToolTurns, check_tool_turns, collect_text, extraneous, is_follow_up, messages_of, strict_flag,
    strict_schema_at,
};

/// The forced tool of a `toolConfig`, and every tool when the choice is `any` over several.
#[allow(clippy::type_complexity)] // a tool, or the tools to pick from
pub(super) fn read_tool_config(
    config: Option<&Value>,
) -> Result<(Option<(String, Value)>, Vec<(String, Value)>), String> {
    let Some(config) = config else {
        return Ok((None, Vec::new()));
    };
    let mut tools = Vec::new();
    for (i, tool) in config
        .get("tools")
        .and_then(Value::as_array)
        .ok_or("#/toolConfig: required key [tools] not found")?
        .iter()
        .enumerate()
    {
        let spec = tool.get("toolSpec").ok_or(format!(
            "#/toolConfig/tools/{i}: required key [toolSpec] not found"
        ))?;
        let name = spec.get("name").and_then(Value::as_str).ok_or(format!(
            "#/toolConfig/tools/{i}/toolSpec: required key [name] not found"
        ))?;
        let schema = spec
            .get("inputSchema")
            .and_then(|s| s.get("json"))
            .filter(|s| s.is_object())
            .ok_or(format!(
                "#/toolConfig/tools/{i}/toolSpec: required key [inputSchema.json] not found"
            ))?;
        if let Some(spec) = spec.as_object() {
            strict_flag(
                spec,
                schema,
                &format!("toolConfig.tools.{i}.toolSpec.inputSchema"),
            )?;
        }
        tools.push((name.to_owned(), schema.clone()));
    }
    let forced = match config.get("toolChoice") {
        Some(choice) if choice.get("tool").is_some() => {
            let name = choice["tool"]
                .get("name")
                .and_then(Value::as_str)
                .ok_or("#/toolConfig/toolChoice/tool: required key [name] not found")?;
            Some(
                tools
                    .iter()
                    .find(|(n, _)| n == name)
                    .cloned()
                    .ok_or(format!("#/toolConfig/toolChoice: tool {name} not found"))?,
            )
        }
        Some(choice) if choice.get("any").is_some() => tools.first().cloned(),
        _ => None,
    };
    let any_of = match config.get("toolChoice") {
        Some(choice) if choice.get("any").is_some() && tools.len() > 1 => tools.clone(),
        _ => Vec::new(),
    };
    Ok((forced, any_of))
}

pub(super) fn read_nova(body: &Map<String, Value>) -> Result<Request, String> {
    extraneous(
        body,
        &[
            "schemaVersion",
            "system",
            "messages",
            "inferenceConfig",
            "toolConfig",
        ],
        "#",
    )?;
    let messages = messages_of(body)?;
    check_tool_turns(messages, ToolTurns::Converse)?;
    for (i, m) in messages.iter().enumerate() {
        if !m.get("content").is_some_and(Value::is_array) {
            return Err(format!("#/messages/{i}/content: expected type: JSONArray"));
        }
    }
    let (forced_tool, any_of) = read_tool_config(body.get("toolConfig"))?;
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
        json_format: None,
    })
}

/// Converse's `outputConfig.textFormat` (SM-rt `OutputFormat`): `type` `json_schema` and
/// `structure.jsonSchema.schema`, a *string* of JSON.
pub(super) fn read_converse_output(config: Option<&Value>) -> Result<Option<Value>, String> {
    let Some(config) = config else {
        return Ok(None);
    };
    let config = config
        .as_object()
        .ok_or("outputConfig: expected a structure")?;
    extraneous(config, &["textFormat", "effort"], "outputConfig")?;
    let Some(format) = config.get("textFormat") else {
        return Ok(None);
    };
    if format.get("type").and_then(Value::as_str) != Some("json_schema") {
        return Err("outputConfig.textFormat.type: Value at 'outputConfig.textFormat.type' failed to satisfy constraint: Member must satisfy enum value set: [json_schema]".into());
    }
    let definition = format
        .get("structure")
        .and_then(|s| s.get("jsonSchema"))
        .and_then(Value::as_object)
        .ok_or("outputConfig.textFormat.structure: required member jsonSchema not found")?;
    extraneous(
        definition,
        &["schema", "name", "description"],
        "outputConfig.textFormat.structure.jsonSchema",
    )?;
    let text = definition
        .get("schema")
        .and_then(Value::as_str)
        .ok_or("outputConfig.textFormat.structure.jsonSchema.schema: expected a string")?;
    let schema: Value = serde_json::from_str(text).map_err(|err| {
        format!("outputConfig.textFormat.structure.jsonSchema.schema: not valid JSON: {err}")
    })?;
    strict_schema_at(
        &schema,
        "outputConfig.textFormat.structure.jsonSchema.schema",
    )?;
    Ok(Some(schema))
}

pub(super) fn read_converse(body: &Map<String, Value>, runtime: bool) -> Result<Request, String> {
    extraneous(
        body,
        &[
            "messages",
            "system",
            "inferenceConfig",
            "toolConfig",
            "guardrailConfig",
            "additionalModelRequestFields",
            "additionalModelResponseFieldPaths",
            "promptVariables",
            "requestMetadata",
            "performanceConfig",
            "serviceTier",
            "outputConfig",
        ],
        "#",
    )?;
    if !runtime && body.contains_key("toolConfig") {
        return Err("toolConfig is not supported for batch inference jobs that use the Converse invocation type".into());
    }
    let json_format = read_converse_output(body.get("outputConfig"))?;
    // On demand, Converse takes tools (`toolConfig`, the Nova shape).
    let request = read_nova(
        &body
            .iter()
            .filter(|(k, _)| {
                matches!(k.as_str(), "messages" | "system" | "inferenceConfig")
                    || (runtime && k.as_str() == "toolConfig")
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )?;
    Ok(Request {
        json_format,
        ..request
    })
}
