//! Amazon Nova's `messages-v1` body and the Converse body: fields, `toolConfig` and content
//! blocks.

use serde_json::{Map, Value};

use super::{
    CONTENT_BLOCK, CONVERSE_TOOLS, EMPTY_CONTENT, FIELD_TYPE, MEDIA_FORMAT, REQUIRED_FIELD, ROOT,
    Sink, TOOL_CHOICE, TOOL_DEFINITION, UNKNOWN_FIELD, fields, in_range, index, messages, path,
    positive_int,
};

pub(super) const NOVA_FIELDS: &[&str] = &[
    "schemaVersion",
    "system",
    "messages",
    "inferenceConfig",
    "toolConfig",
];

pub(super) const CONVERSE_FIELDS: &[&str] = &[
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
];

pub(super) const NOVA_IMAGES: &[&str] = &["png", "jpeg", "gif", "webp"];

pub(super) const NOVA_DOCUMENTS: &[&str] = &[
    "pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md",
];

pub(super) const NOVA_VIDEOS: &[&str] = &[
    "mkv", "mov", "mp4", "webm", "three_gp", "flv", "mpeg", "mpg", "wmv",
];

/// Nova's body, and (with `converse`) a Converse request: the same content blocks.
pub(super) fn nova(map: &Map<String, Value>, sink: &mut Sink<'_>, converse: bool) {
    if converse {
        fields(map, CONVERSE_FIELDS, UNKNOWN_FIELD, sink);
        if map.contains_key("toolConfig") {
            sink.add(
                CONVERSE_TOOLS,
                path(ROOT, "toolConfig"),
                "toolConfig is not supported for batch inference jobs that use the Converse invocation type",
            );
        }
    } else {
        fields(map, NOVA_FIELDS, UNKNOWN_FIELD, sink);
    }
    let list = messages(map, &["user", "assistant"], false, sink);
    let at = path(ROOT, "messages");
    for (i, message) in list.iter().enumerate() {
        let here = path(&index(&at, i), "content");
        match message.get("content") {
            Some(Value::Array(blocks)) => nova_blocks(blocks, &here, sink),
            None => {}
            Some(_) => sink.add(FIELD_TYPE, here, "`content` must be an array of blocks"),
        }
    }
    if let Some(system) = map.get("system")
        && !system.is_array()
    {
        sink.add(
            FIELD_TYPE,
            path(ROOT, "system"),
            "`system` must be an array of `{text}` blocks",
        );
    }
    if let Some(config) = map.get("inferenceConfig") {
        let at = path(ROOT, "inferenceConfig");
        match config.as_object() {
            Some(config) => {
                for key in ["maxTokens", "max_new_tokens"] {
                    positive_int(config, key, &at, sink);
                }
                in_range(config, "temperature", &at, 1.0, sink);
                for key in ["topP", "top_p"] {
                    in_range(config, key, &at, 1.0, sink);
                }
            }
            None => sink.add(FIELD_TYPE, at, "`inferenceConfig` must be an object"),
        }
    }
    if let Some(config) = map.get("toolConfig")
        && !converse
    {
        tool_config(config, sink);
    }
}

pub(super) fn tool_config(config: &Value, sink: &mut Sink<'_>) {
    let at = path(ROOT, "toolConfig");
    let mut names = Vec::new();
    match config.get("tools").and_then(Value::as_array) {
        Some(tools) => {
            for (i, tool) in tools.iter().enumerate() {
                let here = path(&path(&at, "tools"), &i.to_string());
                let spec = tool.get("toolSpec");
                match spec.and_then(|s| s.get("name")).and_then(Value::as_str) {
                    Some(name) => names.push(name),
                    None => sink.add(
                        TOOL_DEFINITION,
                        here.clone(),
                        "a tool has no `toolSpec.name`",
                    ),
                }
                if !spec
                    .and_then(|s| s.get("inputSchema"))
                    .and_then(|s| s.get("json"))
                    .is_some_and(Value::is_object)
                {
                    sink.add(
                        TOOL_DEFINITION,
                        here,
                        "a tool has no `toolSpec.inputSchema.json`",
                    );
                }
            }
        }
        None => sink.add(
            REQUIRED_FIELD,
            path(&at, "tools"),
            "`toolConfig` has no `tools`",
        ),
    }
    if let Some(name) = config
        .get("toolChoice")
        .and_then(|c| c.get("tool"))
        .and_then(|t| t.get("name"))
        .and_then(Value::as_str)
        && !names.contains(&name)
    {
        sink.add(
            TOOL_CHOICE,
            path(&path(&at, "toolChoice"), "tool"),
            format!("`toolChoice` names `{name}`, which is not in `tools`"),
        );
    }
}

pub(super) fn nova_blocks(blocks: &[Value], at: &str, sink: &mut Sink<'_>) {
    for (i, block) in blocks.iter().enumerate() {
        let here = index(at, i);
        let Some(object) = block.as_object() else {
            sink.add(FIELD_TYPE, here, "a content block must be an object");
            continue;
        };
        for (kind, allowed) in [
            ("image", NOVA_IMAGES),
            ("document", NOVA_DOCUMENTS),
            ("video", NOVA_VIDEOS),
        ] {
            if let Some(media) = object.get(kind) {
                match media.get("format").and_then(Value::as_str) {
                    Some(format) if allowed.contains(&format) => {}
                    Some(format) => sink.add(
                        MEDIA_FORMAT,
                        path(&path(&here, kind), "format"),
                        format!(
                            "{kind} format `{format}` is not one of {}",
                            allowed.join(", ")
                        ),
                    ),
                    None => sink.add(
                        REQUIRED_FIELD,
                        path(&here, kind),
                        format!("a {kind} block needs a `format` ({})", allowed.join(", ")),
                    ),
                }
            }
        }
        if let Some(text) = object.get("text")
            && text.as_str().is_none_or(str::is_empty)
        {
            sink.add(
                EMPTY_CONTENT,
                path(&here, "text"),
                "text content blocks must be non-empty",
            );
        }
        const KNOWN: &[&str] = &[
            "text",
            "image",
            "document",
            "video",
            "toolUse",
            "toolResult",
            "reasoningContent",
            "cachePoint",
            "guardContent",
        ];
        if let Some(key) = object.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            sink.add(
                CONTENT_BLOCK,
                path(&here, key),
                format!("content block `{key}` is not one the family documents"),
            );
        }
    }
}
