//! Anthropic Claude's Messages body: its fields, the sampling parameters a model refuses
//! together, tools and tool choice, and content blocks.

use serde_json::{Map, Value};

use super::{
    CONTENT_BLOCK, EMPTY_CONTENT, FIELD_TYPE, FIELD_VALUE, FORMAT_WITH_FORCED_TOOL, MEDIA_FORMAT,
    REQUIRED_FIELD, ROOT, SAMPLING_COMBINATION, SAMPLING_COMBINATION_UNCERTAIN, Sink, TOOL_CHOICE,
    TOOL_DEFINITION, TRAILING_WHITESPACE, UNKNOWN_FIELD, fields, in_range, index, messages, path,
    positive_int, required,
};

/// Claude models that refuse `temperature` and `top_p` in one request, and those known to take
/// both (by id fragment). Anything else Claude gets a warning. Data, to correct as models come.
pub const CLAUDE_ONE_SAMPLING_PARAMETER: &[&str] = &[
    "claude-opus-4-1",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
    "claude-opus-4-5",
    "claude-sonnet-4-6",
    "claude-opus-4-6",
    "claude-opus-4-7",
    "claude-opus-4-8",
    "claude-opus-5",
    "claude-sonnet-5",
    "claude-haiku-5",
];

/// Claude models known to take `temperature` and `top_p` together.
pub const CLAUDE_BOTH_SAMPLING_PARAMETERS: &[&str] = &[
    "claude-3",
    "claude-instant",
    "claude-v2",
    "claude-sonnet-4-2025",
    "claude-opus-4-2025",
];

pub(super) const CLAUDE_FIELDS: &[&str] = &[
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
];

pub(super) const CLAUDE_IMAGES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

pub(super) const CLAUDE_DOCUMENTS: &[&str] = &["application/pdf", "text/plain"];

pub(super) fn sampling(model: &str, sink: &mut Sink<'_>) {
    let at = path(ROOT, "top_p");
    if CLAUDE_ONE_SAMPLING_PARAMETER
        .iter()
        .any(|id| model.contains(id))
    {
        sink.add(
            SAMPLING_COMBINATION,
            at,
            "`temperature` and `top_p` cannot both be specified for this model; use only one",
        );
    } else if !CLAUDE_BOTH_SAMPLING_PARAMETERS
        .iter()
        .any(|id| model.contains(id))
    {
        sink.add(
            SAMPLING_COMBINATION_UNCERTAIN,
            at,
            "`temperature` and `top_p` together: newer Claude models refuse both; use only one",
        );
    }
}

pub(super) fn claude(model: &str, map: &Map<String, Value>, sink: &mut Sink<'_>) {
    fields(map, CLAUDE_FIELDS, UNKNOWN_FIELD, sink);
    match required(map, "anthropic_version", sink) {
        Some(Value::String(v)) if v == "bedrock-2023-05-31" => {}
        Some(Value::String(_)) => sink.add(
            FIELD_VALUE,
            path(ROOT, "anthropic_version"),
            "`anthropic_version` is not `bedrock-2023-05-31`",
        ),
        Some(_) => sink.add(
            FIELD_TYPE,
            path(ROOT, "anthropic_version"),
            "`anthropic_version` must be a string",
        ),
        None => {}
    }
    if required(map, "max_tokens", sink).is_some() {
        positive_int(map, "max_tokens", ROOT, sink);
    }
    in_range(map, "temperature", ROOT, 1.0, sink);
    in_range(map, "top_p", ROOT, 1.0, sink);
    if map.contains_key("temperature") && map.contains_key("top_p") {
        sampling(model, sink);
    }
    let list = messages(map, &["user", "assistant"], false, sink);
    let at = path(ROOT, "messages");
    for (i, message) in list.iter().enumerate() {
        let here = path(&index(&at, i), "content");
        match message.get("content") {
            Some(Value::String(text)) if text.is_empty() => {
                sink.add(EMPTY_CONTENT, here, "a message has no text");
            }
            Some(Value::Array(blocks)) => claude_blocks(blocks, &here, sink),
            Some(Value::String(_)) | None => {}
            Some(_) => sink.add(FIELD_TYPE, here, "`content` must be a string or an array"),
        }
    }
    if let Some(last) = list.last()
        && last.get("role").and_then(Value::as_str) == Some("assistant")
    {
        let text = match last.get("content") {
            Some(Value::String(text)) => Some(text.as_str()),
            Some(Value::Array(blocks)) => blocks
                .last()
                .and_then(|b| b.get("text"))
                .and_then(Value::as_str),
            _ => None,
        };
        if text.is_some_and(|t| t.ends_with(char::is_whitespace)) {
            sink.add(
                TRAILING_WHITESPACE,
                index(&at, list.len() - 1),
                "final assistant content cannot end with trailing whitespace",
            );
        }
    }
    if let Some(system) = map.get("system")
        && !(system.is_string() || system.is_array())
    {
        sink.add(
            FIELD_TYPE,
            path(ROOT, "system"),
            "`system` must be a string or an array of text blocks",
        );
    }
    let tools = claude_tools(map, sink);
    let choice_at = path(ROOT, "tool_choice");
    let mut forced = false;
    if let Some(choice) = map.get("tool_choice") {
        match choice.get("type").and_then(Value::as_str) {
            Some("auto" | "none") => {}
            Some("any") if tools.is_empty() => {
                sink.add(
                    TOOL_CHOICE,
                    choice_at,
                    "`tool_choice` is `any` with no `tools`",
                );
            }
            Some("any") => forced = true,
            Some("tool") => {
                forced = true;
                match choice.get("name").and_then(Value::as_str) {
                    Some(name) if tools.contains(&name) => {}
                    Some(name) => sink.add(
                        TOOL_CHOICE,
                        path(&choice_at, "name"),
                        format!("`tool_choice` names `{name}`, which is not in `tools`"),
                    ),
                    None => sink.add(
                        REQUIRED_FIELD,
                        path(&choice_at, "name"),
                        "`tool_choice` of type `tool` has no `name`",
                    ),
                }
            }
            _ => sink.add(
                FIELD_VALUE,
                path(&choice_at, "type"),
                "`tool_choice.type` must be auto, any, tool or none",
            ),
        }
    }
    if forced
        && map
            .get("output_config")
            .and_then(|c| c.get("format"))
            .is_some()
    {
        sink.add(
            FORMAT_WITH_FORCED_TOOL,
            path(ROOT, "output_config"),
            "`output_config.format` cannot be combined with a forced `tool_choice`",
        );
    }
}

pub(super) fn claude_tools<'a>(map: &'a Map<String, Value>, sink: &mut Sink<'_>) -> Vec<&'a str> {
    let at = path(ROOT, "tools");
    let Some(value) = map.get("tools") else {
        return Vec::new();
    };
    let Some(list) = value.as_array() else {
        sink.add(FIELD_TYPE, at, "`tools` must be an array");
        return Vec::new();
    };
    let mut names = Vec::new();
    for (i, tool) in list.iter().enumerate() {
        let here = index(&at, i);
        if tool.get("type").and_then(Value::as_str) == Some("function")
            || tool.get("function").is_some()
        {
            sink.add(
                TOOL_DEFINITION,
                here,
                "an OpenAI-style `function` tool; Claude takes `{name, description, input_schema}`",
            );
            continue;
        }
        match tool.get("name").and_then(Value::as_str) {
            Some(name) => names.push(name),
            None => sink.add(TOOL_DEFINITION, path(&here, "name"), "a tool has no `name`"),
        }
        let schema_type = tool
            .get("input_schema")
            .and_then(|s| s.get("type"))
            .and_then(Value::as_str);
        if schema_type != Some("object") {
            sink.add(
                TOOL_DEFINITION,
                path(&here, "input_schema"),
                "a tool's `input_schema` must be a JSON schema of type object",
            );
        }
    }
    names
}

pub(super) fn claude_blocks(blocks: &[Value], at: &str, sink: &mut Sink<'_>) {
    for (i, block) in blocks.iter().enumerate() {
        let here = index(at, i);
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                if block
                    .get("text")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    sink.add(EMPTY_CONTENT, here, "text content blocks must be non-empty");
                }
            }
            Some(kind @ ("image" | "document")) => {
                let allowed = if kind == "image" {
                    CLAUDE_IMAGES
                } else {
                    CLAUDE_DOCUMENTS
                };
                let source = block.get("source");
                let media = source
                    .and_then(|s| s.get("media_type"))
                    .and_then(Value::as_str);
                let by_reference = source
                    .and_then(|s| s.get("type"))
                    .and_then(Value::as_str)
                    .is_some_and(|t| t != "base64");
                match media {
                    Some(media) if allowed.contains(&media) => {}
                    _ if by_reference => {}
                    Some(media) => sink.add(
                        MEDIA_FORMAT,
                        path(&path(&here, "source"), "media_type"),
                        format!(
                            "{kind} media type `{media}` is not one of {}",
                            allowed.join(", ")
                        ),
                    ),
                    None => sink.add(
                        REQUIRED_FIELD,
                        path(&here, "source"),
                        format!(
                            "an {kind} block needs `source.media_type` ({})",
                            allowed.join(", ")
                        ),
                    ),
                }
            }
            Some("tool_use" | "tool_result" | "thinking" | "redacted_thinking") => {}
            Some(other) => sink.add(
                CONTENT_BLOCK,
                path(&here, "type"),
                format!("content block type `{other}` is not one Claude documents"),
            ),
            None => sink.add(
                REQUIRED_FIELD,
                path(&here, "type"),
                "a content block has no `type`",
            ),
        }
    }
}
