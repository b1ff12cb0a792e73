//! The synthetic model: answers one record in the response body of its model family.
//!
//! Each family checks the request body the way the real model does (a body that is not valid
//! for the family gets an error record with `errorCode` 400, as Bedrock gives), then answers:
//! a forced tool gets a call whose input is generated from the tool's schema; a prompt that
//! embeds a JSON schema gets that JSON in the text; anything else gets a short text.
//! Everything is deterministic from the seed and the record id.

use serde_json::{Map, Value, json};

use crate::config::MistralStopKey;
use crate::faults::{Malformed, RecordFault, Rng};
use crate::schema_gen;

/// The model families the emulator answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Anthropic Claude, Messages API.
    Anthropic,
    /// Amazon Nova, `messages-v1`.
    Nova,
    /// Mistral: prompt or chat, told apart by the body.
    Mistral,
    /// Meta Llama, prompt template.
    Llama,
    /// OpenAI gpt-oss, chat completions.
    OpenAi,
    /// DeepSeek, chat completions (reasoning in `reasoning_content`).
    DeepSeek,
    /// Qwen3, chat completions (thinking in `<think>…</think>`).
    Qwen,
    /// Amazon Titan text.
    TitanText,
    /// Amazon Titan embeddings.
    TitanEmbed,
    /// Amazon Nova 2 multimodal embeddings.
    NovaEmbed,
}

/// The family of a model id in any form Bedrock accepts (bare, cross-region profile, ARN).
pub fn family_of(model_id: &str) -> Option<Family> {
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    let id = match id.split_once('.') {
        // A geography prefix such as `us.` or `global.` comes before the provider.
        Some((geo, rest))
            if !rest.is_empty()
                && [
                    "us", "us-gov", "eu", "apac", "ap", "ca", "jp", "au", "global",
                ]
                .contains(&geo) =>
        {
            rest
        }
        _ => id,
    };
    let provider_and_model = |p: &str| id.starts_with(p);
    Some(if provider_and_model("anthropic.") {
        Family::Anthropic
    } else if provider_and_model("amazon.nova-2-multimodal-embeddings") {
        Family::NovaEmbed
    } else if provider_and_model("amazon.nova") {
        Family::Nova
    } else if provider_and_model("amazon.titan-embed") {
        Family::TitanEmbed
    } else if provider_and_model("amazon.titan-text") {
        Family::TitanText
    } else if provider_and_model("mistral.") {
        Family::Mistral
    } else if provider_and_model("meta.llama") {
        Family::Llama
    } else if provider_and_model("openai.") {
        Family::OpenAi
    } else if provider_and_model("deepseek.") {
        Family::DeepSeek
    } else if provider_and_model("qwen.") {
        Family::Qwen
    } else {
        return None;
    })
}

/// One record's answer: `modelOutput`, or an error record, with token counts.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A model output and its token counts.
    Output {
        /// The `modelOutput` body.
        body: Value,
        /// Input tokens.
        input_tokens: u64,
        /// Output tokens.
        output_tokens: u64,
    },
    /// An error record.
    Error {
        /// `errorCode`.
        code: u16,
        /// `errorMessage`.
        message: String,
    },
}

/// What the model was asked, read from a valid body.
struct Request {
    /// All prompt text, for token counts and for finding an embedded schema.
    text: String,
    /// The forced tool: name and input schema.
    forced_tool: Option<(String, Value)>,
    /// With `tool_choice: any` over several tools, each of them: the model picks one.
    any_of: Vec<(String, Value)>,
    /// A follow-up: the conversation holds an answer of the model's and a turn after it (a
    /// re-ask that tells the model what was wrong). The synthetic model then answers right:
    /// no malformed output, as a model that reads the error would.
    follow_up: bool,
    /// Native structured output: the schema the answer's text follows.
    json_format: Option<Value>,
}

/// Checks a schema sent for constrained decoding; the error carries `at`, the field, as
/// Bedrock's 400s do (`output_config.format.schema: For 'array' type, …`).
fn strict_schema_at(schema: &Value, at: &str) -> Result<(), String> {
    crate::strict::check(schema).map_err(|err| format!("{at}: {err}"))
}

/// A tool's `strict` flag: a boolean, and when true its schema must be in the subset.
fn strict_flag(tool: &Map<String, Value>, schema: &Value, at: &str) -> Result<(), String> {
    match tool.get("strict") {
        None | Some(Value::Bool(false)) => Ok(()),
        Some(Value::Bool(true)) => strict_schema_at(schema, at),
        Some(_) => Err(format!("{at}: strict must be a boolean")),
    }
}

/// The first half of `text`, cut at a character boundary (a schema's strings may hold any
/// character, so a byte in the middle may fall inside one).
fn first_half(text: &str) -> &str {
    let mut cut = text.len() / 2;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

fn malformed(message: impl Into<String>) -> Answer {
    Answer::Error {
        code: 400,
        message: format!(
            "Malformed input request: {}, please reformat your input and try again.",
            message.into()
        ),
    }
}

fn tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

/// What the synthetic model "decides" to answer, before it is put in a family's format.
enum Reply {
    /// Calls the tool with this input; `complete` is false when cut off at max tokens.
    Tool {
        name: String,
        input: Value,
        complete: bool,
    },
    /// Writes this text; `complete` is false when cut off at max tokens.
    Text { text: String, complete: bool },
}

impl Reply {
    fn output_text(&self) -> String {
        match self {
            Reply::Tool { input, .. } => input.to_string(),
            Reply::Text { text, .. } => text.clone(),
        }
    }
}

/// Answers one record of a job on `model_id`, whose family is `family` (see [`family_of`];
/// `None` for a model the emulator does not serve).
pub fn answer(
    model_id: &str,
    family: Option<Family>,
    converse: bool,
    model_input: &Value,
    record_id: &str,
    seed: u64,
    fault: Option<RecordFault>,
) -> Answer {
    answer_with(
        model_id,
        family,
        converse,
        model_input,
        record_id,
        seed,
        fault,
        MistralStopKey::default(),
    )
}

/// As [`answer`], with the server's choice of where Mistral chat answers put their stop
/// reason.
#[allow(clippy::too_many_arguments)] // one record's answer needs each of them
pub fn answer_with(
    model_id: &str,
    family: Option<Family>,
    converse: bool,
    model_input: &Value,
    record_id: &str,
    seed: u64,
    fault: Option<RecordFault>,
    mistral_stop_key: MistralStopKey,
) -> Answer {
    answer_in(
        false,
        model_id,
        family,
        converse,
        model_input,
        record_id,
        seed,
        fault,
        mistral_stop_key,
    )
}

/// As [`answer_with`], for an on-demand call (`bedrock-runtime`), where Converse takes tools.
#[allow(clippy::too_many_arguments)] // one call's answer needs each of them
pub fn answer_runtime(
    model_id: &str,
    family: Option<Family>,
    converse: bool,
    model_input: &Value,
    key: &str,
    seed: u64,
    fault: Option<RecordFault>,
    mistral_stop_key: MistralStopKey,
) -> Answer {
    answer_in(
        true,
        model_id,
        family,
        converse,
        model_input,
        key,
        seed,
        fault,
        mistral_stop_key,
    )
}

#[allow(clippy::too_many_arguments)] // one record's answer needs each of them
fn answer_in(
    runtime: bool,
    model_id: &str,
    family: Option<Family>,
    converse: bool,
    model_input: &Value,
    record_id: &str,
    seed: u64,
    fault: Option<RecordFault>,
    mistral_stop_key: MistralStopKey,
) -> Answer {
    if fault == Some(RecordFault::Error) {
        return Answer::Error {
            code: 500,
            message: "The model encountered an internal error while processing this record.".into(),
        };
    }
    let Some(body) = model_input.as_object() else {
        return malformed("modelInput must be a JSON object");
    };
    // Embedding models answer vectors, the same for the same text (no malformed faults).
    if !converse {
        match family {
            Some(Family::TitanEmbed) => {
                let id = model_id.rsplit('/').next().unwrap_or(model_id);
                return crate::embed::titan(body, id.contains("titan-embed-text-v2"));
            }
            Some(Family::NovaEmbed) => return crate::embed::nova(body),
            _ => {}
        }
    }
    let parsed = read_request(runtime, model_id, family, converse, body);
    let request = match parsed {
        Ok(request) => request,
        Err(message) => return malformed(message),
    };
    let mut rng = Rng::new(seed, record_id.as_bytes());
    // Told what was wrong, the model answers right.
    let fault = fault.filter(|f| !request.follow_up || matches!(f, RecordFault::Stubborn(_)));
    // A body that cannot be answered (a schema no grammar compiler would take) gets the
    // error record Bedrock gives.
    let reply = match decide(&request, record_id, &mut rng, fault) {
        Ok(reply) => reply,
        Err(message) => return malformed(message),
    };
    let input_tokens = tokens(&request.text);
    let output_tokens = tokens(&reply.output_text());
    let body = if converse {
        converse_body(&reply, input_tokens, output_tokens)
    } else {
        match family {
            Some(Family::Anthropic) => {
                anthropic_body(model_id, record_id, &reply, input_tokens, output_tokens)
            }
            Some(Family::Nova) => converse_body(&reply, input_tokens, output_tokens),
            Some(Family::Mistral) if body.contains_key("prompt") => json!({
                "outputs": [{"text": reply_text(&reply), "stop_reason": if complete(&reply) { "stop" } else { "length" }}]
            }),
            Some(Family::Mistral) => chat_body(
                model_id,
                record_id,
                &reply,
                input_tokens,
                output_tokens,
                mistral_chat_stop_key(model_id, mistral_stop_key),
                Thinking::None,
            ),
            Some(Family::OpenAi) => chat_body(
                model_id,
                record_id,
                &reply,
                input_tokens,
                output_tokens,
                "finish_reason",
                Thinking::ReasoningTag,
            ),
            Some(Family::DeepSeek) => chat_body(
                model_id,
                record_id,
                &reply,
                input_tokens,
                output_tokens,
                "finish_reason",
                Thinking::ReasoningContent,
            ),
            Some(Family::Qwen) => chat_body(
                model_id,
                record_id,
                &reply,
                input_tokens,
                output_tokens,
                "finish_reason",
                Thinking::ThinkTag,
            ),
            Some(Family::Llama) => json!({
                "generation": reply_text(&reply),
                "prompt_token_count": input_tokens,
                "generation_token_count": output_tokens,
                "stop_reason": if complete(&reply) { "stop" } else { "length" },
            }),
            Some(Family::TitanText) => json!({
                "inputTextTokenCount": input_tokens,
                "results": [{"tokenCount": output_tokens, "outputText": reply_text(&reply),
                             "completionReason": if complete(&reply) { "FINISH" } else { "LENGTH" }}],
            }),
            Some(Family::TitanEmbed | Family::NovaEmbed) => {
                return malformed("an embedding model answers embedding requests");
            }
            None => return malformed("unknown model"),
        }
    };
    Answer::Output {
        body,
        input_tokens,
        output_tokens,
    }
}

fn complete(reply: &Reply) -> bool {
    match reply {
        Reply::Tool { complete, .. } | Reply::Text { complete, .. } => *complete,
    }
}

/// The reply as text, for families without tools (JSON of a tool input, or the text).
fn reply_text(reply: &Reply) -> String {
    match reply {
        Reply::Tool { input, .. } => input.to_string(),
        Reply::Text { text, .. } => text.clone(),
    }
}

/// Decides the reply: the tool call or embedded JSON the request asks for, bent by a fault.
/// The reply to one request, or why it is refused (a schema too large to answer).
fn decide(
    request: &Request,
    record_id: &str,
    rng: &mut Rng,
    fault: Option<RecordFault>,
) -> Result<Reply, String> {
    let malformed = match fault {
        Some(RecordFault::Malformed(kind) | RecordFault::Stubborn(kind)) => Some(kind),
        _ => None,
    };
    let plain_text = || Reply::Text {
        text: format!(
            "Synthetic answer for record {record_id}: {}.",
            lorem(rng_word(record_id))
        ),
        complete: true,
    };
    // `any` over several tools: the model picks one.
    let picked = match request.any_of.len() {
        0 | 1 => request.forced_tool.as_ref(),
        n => request.any_of.get(rng.below(n as u64) as usize),
    };
    if let Some((name, schema)) = picked {
        let input = match schema_gen::generate(schema, rng) {
            Ok(input) => input,
            Err(err) => return Err(format!("tool input_schema: {err}")),
        };
        return Ok(match malformed {
            None => Reply::Tool {
                name: name.clone(),
                input,
                complete: true,
            },
            Some(Malformed::NoToolCall) => plain_text(),
            Some(Malformed::WrongStopReason) => Reply::Tool {
                name: name.clone(),
                input,
                complete: false,
            },
            Some(Malformed::SchemaViolation) => Reply::Tool {
                name: name.clone(),
                input: schema_gen::violate(schema, &input),
                complete: true,
            },
            Some(Malformed::TruncatedJson) => {
                let json = input.to_string();
                Reply::Text {
                    text: first_half(&json).to_owned(),
                    complete: false,
                }
            }
        });
    }
    if let Some(schema) = &request.json_format {
        // Constrained decoding: the text is the JSON and nothing else.
        let value = match schema_gen::generate(schema, rng) {
            Ok(value) => value,
            Err(err) => return Err(format!("output schema: {err}")),
        };
        let json = match malformed {
            Some(Malformed::SchemaViolation) => schema_gen::violate(schema, &value).to_string(),
            _ => value.to_string(),
        };
        return Ok(match malformed {
            Some(Malformed::NoToolCall) => plain_text(),
            Some(Malformed::TruncatedJson | Malformed::WrongStopReason) => Reply::Text {
                text: first_half(&json).to_owned(),
                complete: false,
            },
            _ => Reply::Text {
                text: json,
                complete: true,
            },
        });
    }
    if let Some(schema) = embedded_schema(&request.text) {
        let value = match schema_gen::generate(&schema, rng) {
            Ok(value) => value,
            Err(err) => return Err(format!("the JSON schema in the prompt: {err}")),
        };
        let value = match malformed {
            Some(Malformed::SchemaViolation) => schema_gen::violate(&schema, &value),
            _ => value,
        };
        let json = value.to_string();
        return Ok(match malformed {
            Some(Malformed::NoToolCall) => plain_text(),
            Some(Malformed::TruncatedJson | Malformed::WrongStopReason) => Reply::Text {
                text: first_half(&json).to_owned(),
                complete: false,
            },
            // Models often wrap JSON in prose or a code fence; some records do too.
            _ => Reply::Text {
                text: match rng.below(3) {
                    0 => json,
                    1 => format!("Here is the extracted data:\n```json\n{json}\n```"),
                    _ => format!("{json}\nLet me know if you need anything else."),
                },
                complete: true,
            },
        });
    }
    Ok(match malformed {
        Some(Malformed::TruncatedJson | Malformed::WrongStopReason) => Reply::Text {
            text: format!("Synthetic answer for record {record_id}, cut"),
            complete: false,
        },
        _ => plain_text(),
    })
}

fn rng_word(record_id: &str) -> usize {
    record_id.bytes().map(usize::from).sum()
}

fn lorem(n: usize) -> String {
    const WORDS: [&str; 8] = [
        "the", "record", "mentions", "several", "facts", "about", "its", "subject",
    ];
    (0..6)
        .map(|i| WORDS[(n + i * 3) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

/// The JSON schema a prompt asks the answer to follow: the first JSON object in it that
/// describes an object (`"type": "object"` or `"properties"`), whatever words surround it.
fn embedded_schema(text: &str) -> Option<Value> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let candidate = &rest[open..];
        let mut stream = serde_json::Deserializer::from_str(candidate).into_iter::<Value>();
        if let Some(Ok(value)) = stream.next()
            && (value.get("type").and_then(Value::as_str) == Some("object")
                || value.get("properties").is_some())
        {
            return Some(value);
        }
        rest = &candidate[1..];
    }
    None
}

// ---- request readers: check the body as the family does and keep what the answer needs ----

fn extraneous(body: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), String> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(format!("{at}: extraneous key [{key}] is not permitted")),
        None => Ok(()),
    }
}

fn collect_text(value: &Value, out: &mut String) {
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

fn positive_int(body: &Map<String, Value>, key: &str, required: bool) -> Result<(), String> {
    match body.get(key) {
        None if required => Err(format!("#: required key [{key}] not found")),
        None => Ok(()),
        Some(v) if v.as_u64().is_some_and(|n| n > 0) => Ok(()),
        Some(_) => Err(format!("#/{key}: expected a positive integer")),
    }
}

fn messages_of(body: &Map<String, Value>) -> Result<&Vec<Value>, String> {
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
enum ToolTurns {
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
fn check_tool_turns(messages: &[Value], turns: ToolTurns) -> Result<(), String> {
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

fn read_anthropic(body: &Map<String, Value>) -> Result<Request, String> {
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
    collect_text(&Value::Array(messages.clone()), &mut text);
    if let Some(system) = body.get("system") {
        collect_text(system, &mut text);
    }
    Ok(Request {
        text,
        forced_tool,
        any_of,
        follow_up: is_follow_up(messages),
        json_format,
    })
}

/// Claude models that refuse `temperature` and `top_p` in one request (Anthropic: Opus 4.1,
/// the 4.5 models and later).
const ONE_SAMPLING_PARAMETER: &[&str] = &[
    "claude-opus-4-1",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
    "claude-opus-4-5",
    "claude-sonnet-4-6",
    "claude-opus-4-6",
    "claude-opus-5",
];

/// Reads a body as its family's request (the text the model reads, and what it is asked).
fn read_request(
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
        Some(Family::TitanText | Family::TitanEmbed | Family::NovaEmbed) => {
            read_prompt(body, "inputText")
        }
        None => Err(format!("model {model_id} is not served by llmbo-local")),
    }
}

/// The input tokens of one InvokeModel (or, with `converse`, Converse) body, as the
/// synthetic models count them: what the runtime's `CountTokens` answers. `Err` is the
/// validation message of a body the model would refuse.
pub fn count_tokens(
    model_id: &str,
    family: Option<Family>,
    converse: bool,
    body: &Value,
) -> Result<u64, String> {
    let body = body.as_object().ok_or("The body must be a JSON object")?;
    Ok(tokens(
        &read_request(true, model_id, family, converse, body)?.text,
    ))
}

/// Whether a conversation is a follow-up: a turn of the model's with a turn after it.
fn is_follow_up(messages: &[Value]) -> bool {
    messages
        .iter()
        .position(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
        .is_some_and(|at| at + 1 < messages.len())
}

/// Claude's `output_config`: `effort` and `format: {type: "json_schema", schema: {…}}`
/// (AWS, "Structured outputs", https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html); the schema, if one is asked for.
fn read_output_config(config: Option<&Value>) -> Result<Option<Value>, String> {
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

/// The forced tool of a `toolConfig`, and every tool when the choice is `any` over several.
#[allow(clippy::type_complexity)] // a tool, or the tools to pick from
fn read_tool_config(
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

fn read_nova(body: &Map<String, Value>) -> Result<Request, String> {
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
    collect_text(&Value::Array(messages.clone()), &mut text);
    if let Some(system) = body.get("system") {
        collect_text(system, &mut text);
    }
    Ok(Request {
        text,
        forced_tool,
        any_of,
        follow_up: is_follow_up(messages),
        json_format: None,
    })
}

/// Converse's `outputConfig.textFormat` (SM-rt `OutputFormat`): `type` `json_schema` and
/// `structure.jsonSchema.schema`, a *string* of JSON.
fn read_converse_output(config: Option<&Value>) -> Result<Option<Value>, String> {
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

fn read_converse(body: &Map<String, Value>, runtime: bool) -> Result<Request, String> {
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

fn read_prompt(body: &Map<String, Value>, key: &str) -> Result<Request, String> {
    let prompt = body
        .get(key)
        .ok_or(format!("#: required key [{key}] not found"))?
        .as_str()
        .ok_or(format!("#/{key}: expected type: String"))?;
    for limit in ["max_tokens", "max_gen_len"] {
        positive_int(body, limit, false)?;
    }
    Ok(Request {
        text: prompt.to_owned(),
        forced_tool: None,
        any_of: Vec::new(),
        // Llama: a second assistant header; Mistral: a second instruction.
        follow_up: prompt.matches("<|start_header_id|>assistant").count() > 1
            || prompt.matches("[INST]").count() > 1,
        json_format: None,
    })
}

fn read_chat(body: &Map<String, Value>) -> Result<Request, String> {
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
    collect_text(&Value::Array(messages.clone()), &mut text);
    Ok(Request {
        text,
        forced_tool,
        any_of,
        follow_up: is_follow_up(messages),
        json_format,
    })
}

/// The chat-completion `response_format`: `{type: "json_schema", json_schema: {name, schema,
/// strict}}` (the OpenAI convention; AWS, "OpenAI models",
/// https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-openai.html), or `text`.
fn read_response_format(format: Option<&Value>) -> Result<Option<Value>, String> {
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

// ---- response bodies ----

fn anthropic_body(
    model_id: &str,
    record_id: &str,
    reply: &Reply,
    input_tokens: u64,
    output_tokens: u64,
) -> Value {
    let (content, stop) = match reply {
        Reply::Tool {
            name,
            input,
            complete,
        } => (
            json!([{"type": "tool_use", "id": format!("toolu_bdrk_{record_id}"), "name": name, "input": input}]),
            if *complete { "tool_use" } else { "max_tokens" },
        ),
        Reply::Text { text, complete } => (
            json!([{"type": "text", "text": text}]),
            if *complete { "end_turn" } else { "max_tokens" },
        ),
    };
    json!({
        "id": format!("msg_bdrk_{record_id}"), "type": "message", "role": "assistant", "model": model_id,
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    })
}

fn converse_body(reply: &Reply, input_tokens: u64, output_tokens: u64) -> Value {
    let (content, stop) = match reply {
        Reply::Tool {
            name,
            input,
            complete,
        } => (
            json!([{"toolUse": {"toolUseId": "tooluse_synthetic", "name": name, "input": input}}]),
            if *complete { "tool_use" } else { "max_tokens" },
        ),
        Reply::Text { text, complete } => (
            json!([{"text": text}]),
            if *complete { "end_turn" } else { "max_tokens" },
        ),
    };
    json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": input_tokens + output_tokens},
        "metrics": {"latencyMs": 100 + output_tokens},
    })
}

/// The member of a Mistral chat answer's `choices[0]` that holds the stop reason. The evidence
/// disagrees: AWS's Mistral chat page shows `stop_reason` (written for Mistral Large 2402);
/// Mistral's own API, and the Python original llmbo (whose authors ran its function-calling
/// adapter against Bedrock's Mistral Large 2407), read `finish_reason`. So Mistral Large 2402
/// answers with `stop_reason`, later chat models with `finish_reason` (see the README), unless
/// the server was told otherwise.
fn mistral_chat_stop_key(model_id: &str, key: MistralStopKey) -> &'static str {
    match key {
        MistralStopKey::StopReason => "stop_reason",
        MistralStopKey::FinishReason => "finish_reason",
        MistralStopKey::ByVersion if model_id.contains("mistral-large-2402") => "stop_reason",
        MistralStopKey::ByVersion => "finish_reason",
    }
}

/// Where a chat model puts its reasoning, if it shows any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Thinking {
    None,
    /// gpt-oss: `<reasoning>…</reasoning>` before the text.
    ReasoningTag,
    /// Qwen3: `<think>…</think>` before the text.
    ThinkTag,
    /// DeepSeek: a `reasoning_content` field beside the answer.
    ReasoningContent,
}

fn chat_body(
    model_id: &str,
    record_id: &str,
    reply: &Reply,
    input_tokens: u64,
    output_tokens: u64,
    stop_key: &str,
    thinking: Thinking,
) -> Value {
    let (message, stop) = match reply {
        Reply::Tool {
            name,
            input,
            complete,
        } => (
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": format!("call_{record_id}"), "type": "function",
                   "function": {"name": name, "arguments": input.to_string()}}]}),
            if *complete { "tool_calls" } else { "length" },
        ),
        Reply::Text { text, complete } => {
            let content = match thinking {
                Thinking::ReasoningTag => {
                    format!("<reasoning>The user asks about record {record_id}.</reasoning>{text}")
                }
                Thinking::ThinkTag => {
                    format!("<think>The user asks about record {record_id}.</think>\n\n{text}")
                }
                Thinking::None | Thinking::ReasoningContent => text.clone(),
            };
            (
                json!({"role": "assistant", "content": content}),
                if *complete { "stop" } else { "length" },
            )
        }
    };
    let mut message = message;
    if thinking == Thinking::ReasoningContent
        && let Some(message) = message.as_object_mut()
    {
        message.insert(
            "reasoning_content".into(),
            json!(format!("The user asks about record {record_id}.")),
        );
    }
    let mut choice = Map::new();
    choice.insert("index".into(), json!(0));
    choice.insert("message".into(), message);
    choice.insert(stop_key.into(), json!(stop));
    json!({
        "id": format!("chatcmpl-{record_id}"), "object": "chat.completion", "model": model_id,
        "choices": [Value::Object(choice)],
        "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens, "total_tokens": input_tokens + output_tokens},
    })
}

#[cfg(test)]
mod tests {
    use super::{Family, MistralStopKey, answer_with};
    use serde_json::json;

    #[test]
    fn the_mistral_stop_key_follows_the_version_or_the_setting() {
        let body = json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 50});
        let key_of = |model: &str, key| match answer_with(
            model,
            Some(Family::Mistral),
            false,
            &body,
            "r1",
            1,
            None,
            key,
        ) {
            super::Answer::Output { body, .. } => {
                let choice = body["choices"][0].as_object().cloned().unwrap_or_default();
                ["stop_reason", "finish_reason"]
                    .into_iter()
                    .find(|k| choice.contains_key(*k))
            }
            _ => None,
        };
        let large_2402 = "mistral.mistral-large-2402-v1:0";
        let large_2407 = "mistral.mistral-large-2407-v1:0";
        assert_eq!(
            key_of(large_2402, MistralStopKey::ByVersion),
            Some("stop_reason")
        );
        assert_eq!(
            key_of(large_2407, MistralStopKey::ByVersion),
            Some("finish_reason")
        );
        assert_eq!(
            key_of(large_2407, MistralStopKey::StopReason),
            Some("stop_reason")
        );
        assert_eq!(
            key_of(large_2402, MistralStopKey::FinishReason),
            Some("finish_reason")
        );
    }

    #[test]
    fn halves_cut_at_character_boundaries() {
        for text in [
            "",
            "a",
            "é",
            "éé",
            "aé",
            "日本語のテキスト",
            "{\"k\":\"ü\"}",
        ] {
            let half = super::first_half(text);
            assert!(text.starts_with(half));
            assert!(half.len() <= text.len() / 2);
        }
    }

    use super::*;

    fn output(answer: Answer) -> Value {
        match answer {
            Answer::Output { body, .. } => body,
            Answer::Error { message, .. } => panic!("error record: {message}"),
        }
    }

    #[test]
    fn families_are_found_in_every_id_form() {
        assert_eq!(
            family_of("anthropic.claude-3-haiku-20240307-v1:0"),
            Some(Family::Anthropic)
        );
        assert_eq!(
            family_of("us.anthropic.claude-3-haiku-20240307-v1:0"),
            Some(Family::Anthropic)
        );
        assert_eq!(
            family_of("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"),
            Some(Family::Nova)
        );
        assert_eq!(
            family_of("meta.llama3-1-8b-instruct-v1:0"),
            Some(Family::Llama)
        );
        assert_eq!(family_of("cohere.command-r-v1:0"), None);
    }

    #[test]
    fn a_forced_claude_tool_gets_a_call() -> Result<(), Box<dyn std::error::Error>> {
        let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "tools": [{"name": "p", "description": "d", "input_schema": {"type": "object",
                "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 6}}, "required": ["n"]}}],
            "tool_choice": {"type": "tool", "name": "p"}});
        let out = output(answer(
            "anthropic.claude-3-haiku-20240307-v1:0",
            Some(Family::Anthropic),
            false,
            &body,
            "r1",
            1,
            None,
        ));
        assert_eq!(out["stop_reason"], "tool_use");
        assert_eq!(out["content"][0]["name"], "p");
        let n = out["content"][0]["input"]["n"]
            .as_i64()
            .ok_or("expected value missing")?;
        assert!((5..=6).contains(&n));
        Ok(())
    }

    #[test]
    fn invalid_bodies_get_a_400_error_record() {
        let model = "anthropic.claude-3-haiku-20240307-v1:0";
        let no_version = json!({"max_tokens": 1, "messages": [{"role": "user", "content": "x"}]});
        let extraneous = json!({"anthropic_version": "v", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
            "tools": [{"name": "t", "input_schema": {"type": "object"}, "parameters": {}}]});
        for body in [
            no_version,
            extraneous,
            json!("text"),
            json!({"prompt": "x"}),
        ] {
            assert!(
                matches!(
                    answer(model, family_of(model), false, &body, "r", 0, None),
                    Answer::Error { code: 400, .. }
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn a_schema_in_the_prompt_is_answered_with_json() -> Result<(), Box<dyn std::error::Error>> {
        let prompt = "[INST] Answer with one JSON object that follows this JSON schema, and nothing else:\n\
                      {\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\"}},\"required\":[\"a\"]}\n\nText [/INST]";
        let out = output(answer(
            "mistral.mistral-7b-instruct-v0:2",
            Some(Family::Mistral),
            false,
            &json!({"prompt": prompt}),
            "r",
            3,
            None,
        ));
        let text = out["outputs"][0]["text"]
            .as_str()
            .ok_or("expected value missing")?;
        assert!(text.contains("\"a\":"), "{text}");
        Ok(())
    }

    #[test]
    fn converse_jobs_refuse_tools() {
        let body = json!({"messages": [{"role": "user", "content": [{"text": "x"}]}], "toolConfig": {"tools": []}});
        assert!(matches!(
            answer(
                "amazon.nova-lite-v1:0",
                Some(Family::Nova),
                true,
                &body,
                "r",
                0,
                None
            ),
            Answer::Error { code: 400, .. }
        ));
    }
}
