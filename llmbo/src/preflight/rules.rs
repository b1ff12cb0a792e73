//! Each family's request rules: what Bedrock's own validation does not check before a job
//! runs (it checks the JSONL shape and the counts), and what makes a record come back as an
//! error record hours later. Sources: AWS, "Inference request parameters and response fields for foundation
//! models", https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters.html, and the
//! structured-output page, https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html.

use serde_json::{Map, Value};

use crate::findings::{Finding, Rule, Severity};
use crate::model::RequestFamily;
use crate::model_input::{ModelInput, Role, ToolChoice};

macro_rules! rules {
    ($($name:ident = $id:literal, $severity:ident, $about:literal;)*) => {
        $(
            #[doc = $about]
            pub const $name: Rule = Rule { id: $id, severity: Severity::$severity, about: $about };
        )*
        /// Every rule, for listing (`llmbo lint --rules`).
        pub const RULES: &[Rule] = &[$($name),*];
    };
}

rules! {
    NOT_AN_OBJECT = "body-not-object", Error, "The body must be a JSON object.";
    REQUIRED_FIELD = "required-field", Error, "A field the family requires is missing.";
    FIELD_TYPE = "field-type", Error, "A field has the wrong JSON type.";
    UNKNOWN_FIELD = "unknown-field", Error, "A top-level field the family refuses (Claude and Nova refuse extraneous keys).";
    EXTRA_FIELD = "extra-field", Warning, "A top-level field the family's documented body does not list.";
    FIELD_VALUE = "field-value", Warning, "A field's value is not the documented one.";
    VALUE_RANGE = "value-range", Error, "A number outside the range the family takes.";
    ROLE = "unknown-role", Error, "A message role the family does not take.";
    SYSTEM_IN_MESSAGES = "system-in-messages", Error, "A `system` turn inside `messages`; the family takes the system prompt as its own field.";
    FIRST_ROLE = "first-role", Error, "The conversation must start with a user turn.";
    ROLE_ORDER = "role-order", Warning, "Two turns in a row by the same role.";
    EMPTY_CONTENT = "empty-content", Error, "A message or text block with no text.";
    TRAILING_WHITESPACE = "trailing-whitespace", Error, "Claude refuses a final assistant turn that ends with whitespace.";
    SAMPLING_COMBINATION = "sampling-combination", Error, "`temperature` and `top_p` together, which newer Claude models refuse.";
    SAMPLING_COMBINATION_UNCERTAIN = "sampling-combination-uncertain", Warning, "`temperature` and `top_p` together, on a Claude model not known to take or refuse both.";
    TOOL_DEFINITION = "tool-definition", Error, "A tool without a name or an object input schema, or in another family's shape.";
    TOOL_CHOICE = "tool-choice", Error, "`tool_choice` names a tool that is not in `tools`, or has no tools to choose from.";
    FORMAT_WITH_FORCED_TOOL = "format-with-forced-tool", Error, "A native JSON output format together with a forced tool.";
    CONVERSE_TOOLS = "converse-tool-config", Error, "`toolConfig` in a Converse batch record: Bedrock fails such records with a 400.";
    MEDIA_FORMAT = "media-format", Error, "An image, document or video block in a format the family does not take.";
    CONTENT_BLOCK = "content-block", Warning, "A content block of a type the family's documented body does not list.";
    STREAM = "stream", Error, "`stream: true`; a batch record must not stream.";
    BODY_SIZE = "body-size", Warning, "A body over 20 MB, the largest InvokeModel payload documented (batch: UNCERTAIN).";
}

/// The largest body checked without a warning: Claude's documented InvokeModel payload (the
/// batch limit is not documented).
pub const MAX_BODY_BYTES: u64 = 20_000_000;

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

const CLAUDE_FIELDS: &[&str] = &[
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
const NOVA_FIELDS: &[&str] = &[
    "schemaVersion",
    "system",
    "messages",
    "inferenceConfig",
    "toolConfig",
];
const CONVERSE_FIELDS: &[&str] = &[
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
const CHAT_FIELDS: &[&str] = &[
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
const LLAMA_FIELDS: &[&str] = &["prompt", "max_gen_len", "temperature", "top_p", "images"];
const MISTRAL_FIELDS: &[&str] = &[
    "prompt",
    "max_tokens",
    "stop",
    "temperature",
    "top_p",
    "top_k",
];
const CLAUDE_IMAGES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];
const CLAUDE_DOCUMENTS: &[&str] = &["application/pdf", "text/plain"];
const NOVA_IMAGES: &[&str] = &["png", "jpeg", "gif", "webp"];
const NOVA_DOCUMENTS: &[&str] = &[
    "pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md",
];
const NOVA_VIDEOS: &[&str] = &[
    "mkv", "mov", "mp4", "webm", "three_gp", "flv", "mpeg", "mpg", "wmv",
];

/// Collects one body's findings, each at its path under `modelInput`.
struct Sink<'a> {
    out: &'a mut Vec<Finding>,
}

impl Sink<'_> {
    fn add(&mut self, rule: Rule, path: impl Into<String>, message: impl Into<String>) {
        self.out.push(Finding {
            rule,
            path: path.into(),
            message: message.into(),
        });
    }
}

fn path(at: &str, key: &str) -> String {
    format!("{at}.{key}")
}

fn index(at: &str, i: usize) -> String {
    format!("{at}[{i}]")
}

const ROOT: &str = "modelInput";

/// Checks one request body against its family's rules, adding what is wrong to `out`.
pub fn check_body(family: RequestFamily, model: &str, body: &Value, out: &mut Vec<Finding>) {
    let mut sink = Sink { out };
    let Some(map) = body.as_object() else {
        sink.add(NOT_AN_OBJECT, ROOT, "the body is not a JSON object");
        return;
    };
    match family {
        RequestFamily::Claude => claude(model, map, &mut sink),
        RequestFamily::Nova => nova(map, &mut sink, false),
        RequestFamily::Converse => nova(map, &mut sink, true),
        RequestFamily::ChatCompletions => chat(map, &mut sink),
        RequestFamily::LlamaPrompt => prompt(map, &mut sink, LLAMA_FIELDS, "max_gen_len"),
        RequestFamily::MistralPrompt => prompt(map, &mut sink, MISTRAL_FIELDS, "max_tokens"),
        RequestFamily::TitanEmbed => titan_embed(map, &mut sink),
        RequestFamily::NovaEmbed => nova_embed(map, &mut sink),
        RequestFamily::Unknown => {}
    }
}

/// Checks one typed input: the rules a [`ModelInput`] can break whichever adapter writes it
/// (the adapters write every field right; these are the user's values). `forced` is whether
/// a structured job replaces the input's tools with its own.
pub fn check_input(
    family: RequestFamily,
    model: &str,
    input: &ModelInput,
    forced: bool,
    out: &mut Vec<Finding>,
) {
    let mut sink = Sink { out };
    // Paths are written only for a finding: this runs for every typed record.
    let message_at = |i: usize| format!("{ROOT}.messages[{i}]");
    let conversational = matches!(
        family,
        RequestFamily::Claude
            | RequestFamily::Nova
            | RequestFamily::Converse
            | RequestFamily::ChatCompletions
    );
    for (i, message) in input.messages.iter().enumerate() {
        if message.content.is_empty() {
            sink.add(EMPTY_CONTENT, message_at(i), "a message has no text");
        }
        if conversational && i > 0 && input.messages[i - 1].role == message.role {
            sink.add(
                ROLE_ORDER,
                message_at(i),
                format!("two {:?} turns in a row", message.role).to_lowercase(),
            );
        }
    }
    if family == RequestFamily::Claude {
        if let Some(last) = input.messages.last()
            && last.role == Role::Assistant
            && last.content.ends_with(char::is_whitespace)
        {
            sink.add(
                TRAILING_WHITESPACE,
                message_at(input.messages.len() - 1),
                "final assistant content cannot end with trailing whitespace",
            );
        }
        if let Some(t) = input.temperature
            && t > 1.0
        {
            sink.add(
                VALUE_RANGE,
                path(ROOT, "temperature"),
                "`temperature` is over 1.0, Claude's largest",
            );
        }
        if input.temperature.is_some() && input.top_p.is_some() {
            sampling(model, &mut sink);
        }
    }
    if !forced
        && let Some(ToolChoice::Tool { name }) = &input.tool_choice
        && !input.tools.iter().any(|tool| &tool.name == name)
    {
        sink.add(
            TOOL_CHOICE,
            path(ROOT, "tool_choice"),
            format!("`tool_choice` names `{name}`, which is not in `tools`"),
        );
    }
}

/// A body over [`MAX_BODY_BYTES`].
pub fn check_size(bytes: u64, out: &mut Vec<Finding>) {
    if bytes > MAX_BODY_BYTES {
        Sink { out }.add(
            BODY_SIZE,
            ROOT,
            format!(
                "the record is over {} MB, the largest documented request",
                MAX_BODY_BYTES / 1_000_000
            ),
        );
    }
}

fn sampling(model: &str, sink: &mut Sink<'_>) {
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

fn fields(map: &Map<String, Value>, allowed: &[&str], rule: Rule, sink: &mut Sink<'_>) {
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            sink.add(
                rule,
                path(ROOT, key),
                format!(
                    "`{key}` is not a field of this family's body (it takes {})",
                    allowed.join(", ")
                ),
            );
        }
    }
}

fn required<'a>(map: &'a Map<String, Value>, key: &str, sink: &mut Sink<'_>) -> Option<&'a Value> {
    let value = map.get(key);
    if value.is_none() {
        sink.add(
            REQUIRED_FIELD,
            path(ROOT, key),
            format!("required field `{key}` is missing"),
        );
    }
    value
}

fn positive_int(map: &Map<String, Value>, key: &str, at: &str, sink: &mut Sink<'_>) {
    if let Some(value) = map.get(key)
        && value.as_u64().is_none_or(|n| n < 1)
    {
        sink.add(
            FIELD_TYPE,
            path(at, key),
            format!("`{key}` must be a whole number of at least 1"),
        );
    }
}

fn in_range(map: &Map<String, Value>, key: &str, at: &str, max: f64, sink: &mut Sink<'_>) {
    if let Some(value) = map.get(key) {
        match value.as_f64() {
            Some(x) if (0.0..=max).contains(&x) => {}
            Some(_) => sink.add(
                VALUE_RANGE,
                path(at, key),
                format!("`{key}` must be between 0 and {max}"),
            ),
            None => sink.add(
                FIELD_TYPE,
                path(at, key),
                format!("`{key}` must be a number"),
            ),
        }
    }
}

/// The checks every message list shares; `system_role` is whether a `system` turn is
/// allowed (chat completions), `roles` the others.
fn messages<'a>(
    map: &'a Map<String, Value>,
    roles: &[&str],
    system_role: bool,
    sink: &mut Sink<'_>,
) -> &'a [Value] {
    let at = path(ROOT, "messages");
    let Some(value) = required(map, "messages", sink) else {
        return &[];
    };
    let Some(list) = value.as_array() else {
        sink.add(FIELD_TYPE, at, "`messages` must be an array");
        return &[];
    };
    if list.is_empty() {
        sink.add(REQUIRED_FIELD, at, "`messages` is empty");
        return list;
    }
    let mut previous: Option<&str> = None;
    let mut first_turn = true;
    for (i, message) in list.iter().enumerate() {
        let here = index(&at, i);
        let role = message.get("role").and_then(Value::as_str);
        match role {
            None => sink.add(
                REQUIRED_FIELD,
                path(&here, "role"),
                "a message has no `role`",
            ),
            Some("system") if !system_role => sink.add(
                SYSTEM_IN_MESSAGES,
                path(&here, "role"),
                "a `system` turn inside `messages`; put the system prompt in the top-level `system` field",
            ),
            Some("system" | "developer") if system_role => continue,
            Some(role) if !roles.contains(&role) => sink.add(
                ROLE,
                path(&here, "role"),
                format!("role `{role}` is not one of {}", roles.join(", ")),
            ),
            Some(role) => {
                if first_turn && role != "user" {
                    sink.add(
                        FIRST_ROLE,
                        path(&here, "role"),
                        "the first message must use the user role",
                    );
                }
                if previous == Some(role) && role != "tool" {
                    sink.add(
                        ROLE_ORDER,
                        path(&here, "role"),
                        format!("two {role} turns in a row"),
                    );
                }
                previous = Some(role);
                first_turn = false;
            }
        }
        if message.get("content").is_none() && message.get("tool_calls").is_none() {
            sink.add(
                REQUIRED_FIELD,
                path(&here, "content"),
                "a message has no `content`",
            );
        }
    }
    list
}

fn claude(model: &str, map: &Map<String, Value>, sink: &mut Sink<'_>) {
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

fn claude_tools<'a>(map: &'a Map<String, Value>, sink: &mut Sink<'_>) -> Vec<&'a str> {
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

fn claude_blocks(blocks: &[Value], at: &str, sink: &mut Sink<'_>) {
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

/// Nova's body, and (with `converse`) a Converse request: the same content blocks.
fn nova(map: &Map<String, Value>, sink: &mut Sink<'_>, converse: bool) {
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

fn tool_config(config: &Value, sink: &mut Sink<'_>) {
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

fn nova_blocks(blocks: &[Value], at: &str, sink: &mut Sink<'_>) {
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

fn chat(map: &Map<String, Value>, sink: &mut Sink<'_>) {
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

fn prompt(map: &Map<String, Value>, sink: &mut Sink<'_>, allowed: &[&str], limit: &str) {
    fields(map, allowed, EXTRA_FIELD, sink);
    match required(map, "prompt", sink) {
        Some(Value::String(text)) if text.is_empty() => {
            sink.add(EMPTY_CONTENT, path(ROOT, "prompt"), "`prompt` is empty");
        }
        Some(Value::String(_)) | None => {}
        Some(_) => sink.add(
            FIELD_TYPE,
            path(ROOT, "prompt"),
            "`prompt` must be a string",
        ),
    }
    positive_int(map, limit, ROOT, sink);
    in_range(map, "temperature", ROOT, 1.0, sink);
    in_range(map, "top_p", ROOT, 1.0, sink);
}

fn titan_embed(map: &Map<String, Value>, sink: &mut Sink<'_>) {
    fields(
        map,
        &["inputText", "dimensions", "normalize", "embeddingTypes"],
        EXTRA_FIELD,
        sink,
    );
    match required(map, "inputText", sink) {
        Some(Value::String(text)) if text.is_empty() => {
            sink.add(
                EMPTY_CONTENT,
                path(ROOT, "inputText"),
                "`inputText` is empty",
            );
        }
        Some(Value::String(_)) | None => {}
        Some(_) => sink.add(
            FIELD_TYPE,
            path(ROOT, "inputText"),
            "`inputText` must be a string",
        ),
    }
    if let Some(n) = map.get("dimensions")
        && !matches!(n.as_u64(), Some(256 | 512 | 1024))
    {
        sink.add(
            VALUE_RANGE,
            path(ROOT, "dimensions"),
            "`dimensions` must be 256, 512 or 1024",
        );
    }
}

fn nova_embed(map: &Map<String, Value>, sink: &mut Sink<'_>) {
    fields(
        map,
        &["schemaVersion", "taskType", "singleEmbeddingParams"],
        EXTRA_FIELD,
        sink,
    );
    required(map, "taskType", sink);
    if let Some(params) = required(map, "singleEmbeddingParams", sink) {
        let at = path(ROOT, "singleEmbeddingParams");
        if params.get("embeddingPurpose").is_none() {
            sink.add(
                REQUIRED_FIELD,
                path(&at, "embeddingPurpose"),
                "required field `embeddingPurpose` is missing",
            );
        }
        if let Some(n) = params.get("embeddingDimension")
            && !matches!(n.as_u64(), Some(256 | 384 | 1024 | 3072))
        {
            sink.add(
                VALUE_RANGE,
                path(&at, "embeddingDimension"),
                "`embeddingDimension` must be 256, 384, 1024 or 3072",
            );
        }
    }
}
