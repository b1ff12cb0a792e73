//! Each family's request rules: what Bedrock's own validation does not check before a job
//! runs (it checks the JSONL shape and the counts), and what makes a record come back as an
//! error record hours later. Sources: AWS, "Inference request parameters and response fields for foundation
//! models", <https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters.html>, and the
//! structured-output page, <https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html>.

use serde_json::{Map, Value};

use crate::findings::{Finding, Rule, Severity};
use crate::model::RequestFamily;
use crate::model_input::{ModelInput, Role, ToolChoice};

mod chat;
mod claude;
mod embed;
mod nova;
mod prompt;

use chat::chat;
pub use claude::{CLAUDE_BOTH_SAMPLING_PARAMETERS, CLAUDE_ONE_SAMPLING_PARAMETER};
use claude::{claude, sampling};
use embed::{nova_embed, titan_embed};
use nova::nova;
use prompt::{LLAMA_FIELDS, MISTRAL_FIELDS, prompt};

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
    MEDIA_SIZE = "media-size", Error, "An image or document over the model's documented size.";
    MEDIA_COUNT = "media-count", Error, "More images or documents in one request than the model takes.";
    MEDIA_OBJECT = "media-object", Error, "An S3 medium that does not exist, or whose first bytes are another format than the record says (checked online).";
    MEDIA_LIMIT_UNCONFIRMED = "media-limit-unconfirmed", Warning, "An image or document over a size or count the model's docs do not confirm (UNCONFIRMED).";
    CONTENT_BLOCK = "content-block", Warning, "A content block of a type the family's documented body does not list.";
    STREAM = "stream", Error, "`stream: true`; a batch record must not stream.";
    BODY_SIZE = "body-size", Warning, "A body over 20 MB, the largest InvokeModel payload documented (batch: UNCERTAIN).";
}

/// The largest body checked without a warning: Claude's documented InvokeModel payload (the
/// batch limit is not documented).
pub const MAX_BODY_BYTES: u64 = 20_000_000;

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
        if message.content.is_empty() && message.parts.is_empty() {
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
    if crate::model_input::has_media(input) {
        media_limits(model, input, &mut sink);
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

/// Each medium's size and each request's count of images and documents, against the model's
/// row of [`MEDIA_MODELS`](crate::media::MEDIA_MODELS). Whether the model takes them at all is
/// refused earlier, when the body is written.
fn media_limits(model: &str, input: &ModelInput, sink: &mut Sink<'_>) {
    use crate::media::{MediaKind, MediaSource};
    let support = crate::media::media_support(model);
    let (size_rule, count_rule) = if support.limits_documented {
        (MEDIA_SIZE, MEDIA_COUNT)
    } else {
        (MEDIA_LIMIT_UNCONFIRMED, MEDIA_LIMIT_UNCONFIRMED)
    };
    let (mut images, mut documents) = (0, 0);
    for (i, message) in input.messages.iter().enumerate() {
        for (j, part) in message.parts.iter().enumerate() {
            let Some((kind, media)) = part.as_media() else {
                continue;
            };
            let (max, count) = match kind {
                MediaKind::Image => (support.max_image_bytes, &mut images),
                MediaKind::Document => (support.max_document_bytes, &mut documents),
                MediaKind::Video => continue,
            };
            *count += 1;
            let at = || format!("{ROOT}.messages[{i}].parts[{j}]");
            if let MediaSource::Bytes(bytes) = &media.source
                && let Some(format) = crate::media::MediaFormat::sniff(bytes)
            {
                let measured = crate::media::measure(format, bytes);
                if let Some((w, h)) = measured.pixels
                    && support.max_pixels > 0
                    && w.max(h) > support.max_pixels
                {
                    sink.add(
                        size_rule,
                        at(),
                        format!(
                            "an image of {w} × {h} px, over {model}'s {} px a side ({})",
                            support.max_pixels, support.source
                        ),
                    );
                }
                if let Some(pages) = measured.pages
                    && support.max_pages > 0
                    && pages > support.max_pages
                {
                    sink.add(
                        size_rule,
                        at(),
                        format!(
                            "a PDF of {pages} pages, over {model}'s {} ({})",
                            support.max_pages, support.source
                        ),
                    );
                }
            }
            if let MediaSource::Bytes(bytes) = &media.source
                && max > 0
                && bytes.len() as u64 > max
            {
                sink.add(
                    size_rule,
                    format!("{ROOT}.messages[{i}].parts[{j}]"),
                    format!(
                        "a {kind} of {} bytes, over {model}'s {max} ({})",
                        bytes.len(),
                        support.source
                    ),
                );
            }
        }
    }
    for (kind, count, max) in [
        ("images", images, support.max_images),
        ("documents", documents, support.max_documents),
    ] {
        if max > 0 && count > max {
            sink.add(
                count_rule,
                format!("{ROOT}.messages"),
                format!(
                    "{count} {kind} in one request, over {model}'s {max} ({})",
                    support.source
                ),
            );
        }
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
