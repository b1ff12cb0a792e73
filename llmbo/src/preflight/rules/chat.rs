//! Chat completions (gpt-oss, DeepSeek, Qwen, Mistral chat).

use serde_json::{Map, Value};

use super::{
    EXTRA_FIELD, FIELD_TYPE, ROOT, STREAM, Sink, TOOL_CHOICE, TOOL_DEFINITION, fields, in_range,
    index, messages, path, positive_int,
};

pub(super) const CHAT_FIELDS: &[&str] = &[
    "messages",
    "model",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "stream",
    "tools",
    "tool_choice",
    "response_format",
    "reasoning_effort",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "n",
    "system",
];

pub(super) fn chat(map: &Map<String, Value>, sink: &mut Sink<'_>) {
    fields(map, CHAT_FIELDS, EXTRA_FIELD, sink);
    messages(map, &["user", "assistant", "tool"], true, sink);
    for key in ["max_tokens", "max_completion_tokens"] {
        positive_int(map, key, ROOT, sink);
    }
    in_range(map, "temperature", ROOT, 2.0, sink);
    in_range(map, "top_p", ROOT, 1.0, sink);
    if map.get("stream").and_then(Value::as_bool) == Some(true) {
        sink.add(
            STREAM,
            path(ROOT, "stream"),
            "`stream` must be false in a batch record",
        );
    }
    let at = path(ROOT, "tools");
    let mut names = Vec::new();
    if let Some(tools) = map.get("tools") {
        for (i, tool) in tools
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            match tool
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
            {
                Some(name) if tool.get("type").and_then(Value::as_str) == Some("function") => {
                    names.push(name)
                }
                _ => sink.add(
                    TOOL_DEFINITION,
                    index(&at, i),
                    "a tool must be `{type: \"function\", function: {name, parameters}}`",
                ),
            }
        }
        if !tools.is_array() {
            sink.add(FIELD_TYPE, at, "`tools` must be an array");
        }
    }
    let choice_at = path(ROOT, "tool_choice");
    match map.get("tool_choice") {
        Some(Value::String(choice))
            if matches!(choice.as_str(), "any" | "required") && names.is_empty() =>
        {
            sink.add(
                TOOL_CHOICE,
                choice_at,
                format!("`tool_choice` is `{choice}` with no `tools`"),
            );
        }
        Some(Value::Object(choice)) => {
            if let Some(name) = choice
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                && !names.contains(&name)
            {
                sink.add(
                    TOOL_CHOICE,
                    choice_at,
                    format!("`tool_choice` names `{name}`, which is not in `tools`"),
                );
            }
        }
        _ => {}
    }
}
