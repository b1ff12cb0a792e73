//! OpenAI gpt-oss through the chat-completions body; the chat helpers are shared with
//! Mistral's chat format.

use serde_json::{Map, Value, json};

use super::answer::{as_object, count, parse_arguments, single_call};
use super::body::{
    mark_strict, obj, put, text, tools_and_choice, validate_input, with_schema_prompt,
    without_tools,
};
use super::{AnswerReader, OutputRequest, OutputStrategy, RequestWriter, Usage};
use crate::error::{Error, RecordError};
use crate::model_input::{ModelInput, Role, ToolChoice};
use crate::output::ToolDefinition;

/// gpt-oss on Bedrock: an OpenAI *Create chat completion* body (`messages`,
/// `max_completion_tokens`, function `tools`), answered by a chat completion whose
/// `choices[0].message.tool_calls[].function.arguments` is a JSON string.
#[derive(Debug, Clone, Default)]
pub struct OpenAiAdapter;

/// `[{role, content}]` with the system prompt as the first message.
pub(crate) fn chat_messages(input: &ModelInput, system: Option<&str>) -> Result<Value, Error> {
    let mut messages = Vec::with_capacity(input.messages.len() + 1);
    if let Some(system) = system {
        messages.push(obj([("role", text("system")), ("content", text(system))]));
    }
    for m in &input.messages {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let content = super::media_blocks::chat(m)?;
        messages.push(obj([("role", text(role)), ("content", content)]));
    }
    Ok(Value::Array(messages))
}

/// `{type: "function", function: {name, description, parameters}}`.
pub(crate) fn function_tool(tool: &ToolDefinition) -> Value {
    obj([
        ("type", text("function")),
        (
            "function",
            obj([
                ("name", text(&tool.name)),
                ("description", text(&tool.description)),
                ("parameters", tool.input_schema.clone()),
            ]),
        ),
    ])
}

fn first_choice<'a>(model_output: &'a Value, family: &str) -> Result<&'a Value, RecordError> {
    as_object(model_output, family)?
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|choices| choices.first())
        .ok_or_else(|| RecordError::MalformedOutput {
            message: format!("a {family} response has a `choices` list, this has none"),
        })
}

/// Reads `choices[0].message.tool_calls`, with the finish reason under either name.
pub(crate) fn chat_tool_input(
    model_output: &Value,
    tool: &ToolDefinition,
    family: &str,
) -> Result<Value, RecordError> {
    let choice = first_choice(model_output, family)?;
    let stop_reason = choice
        .get("finish_reason")
        .or_else(|| choice.get("stop_reason"))
        .and_then(Value::as_str);
    let calls = choice
        .get("message")
        .and_then(|m| m.get("tool_calls"))
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .map(|call| {
                    let function = call.get("function");
                    let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
                    (
                        name,
                        parse_arguments(function.and_then(|f| f.get("arguments"))),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    single_call(calls, tool, stop_reason)
}

/// A chat completion's `usage`, as the one-pass reads take it.
#[derive(serde::Deserialize)]
struct ChatUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

impl ChatUsage {
    /// Both counts, or none (as [`chat_usage`] reads them).
    fn usage(self) -> Option<Usage> {
        Some(Usage {
            input_tokens: self.prompt_tokens?,
            output_tokens: self.completion_tokens?,
        })
    }
}

/// The one-pass read of a chat completion's common answer, from a whole output line: one
/// choice first whose `finish_reason` is a complete stop, one call of `tool` whose
/// `arguments` string is JSON. The arguments are a JSON string inside the JSON, so the input
/// is owned (unescaped once). Anything else is `None`, and the general path
/// ([`chat_tool_input`], [`chat_usage`]) reads the line and says what is wrong.
#[allow(clippy::type_complexity)] // an id, an input and a usage, as the trait has them
pub(crate) fn chat_output_line_fast<'a>(
    line: &'a str,
    tool: &ToolDefinition,
) -> Option<(
    std::borrow::Cow<'a, str>,
    std::borrow::Cow<'a, serde_json::value::RawValue>,
    Option<Usage>,
)> {
    use std::borrow::Cow;
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        choices: Vec<Choice<'a>>,
        #[serde(default)]
        usage: Option<ChatUsage>,
    }
    #[derive(serde::Deserialize)]
    struct Choice<'a> {
        #[serde(borrow)]
        message: Message<'a>,
        #[serde(borrow)]
        finish_reason: Option<Cow<'a, str>>,
    }
    #[derive(serde::Deserialize)]
    struct Message<'a> {
        #[serde(borrow)]
        tool_calls: Vec<Call<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Call<'a> {
        #[serde(borrow)]
        function: Function<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Function<'a> {
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(borrow)]
        arguments: Cow<'a, str>,
    }
    let (record_id, answer): (_, Answer<'a>) = super::answer::fast_line(line)?;
    let mut choices = answer.choices.into_iter();
    let choice = choices.next()?;
    // `finish_reason` as the general path reads it (only where it is a string).
    super::answer::check_stop(Some(choice.finish_reason?.as_ref())).ok()?;
    let mut calls = choice.message.tool_calls.into_iter();
    let call = calls.next()?;
    if calls.next().is_some() || call.function.name != tool.name {
        return None;
    }
    let input =
        serde_json::value::RawValue::from_string(call.function.arguments.into_owned()).ok()?;
    let usage = answer.usage.and_then(ChatUsage::usage);
    Some((record_id, Cow::Owned(input), usage))
}

/// The one-pass read of a chat completion's answer in text, from a whole output line:
/// `choices[0].message.content` of a complete answer (`finish_reason` a plain stop) with no
/// reasoning in it, and the usage; anything else is `None` (the general path reads it).
#[allow(clippy::type_complexity)] // an id, a text and a usage, as the trait has them
pub(crate) fn chat_text_line_fast<'a>(
    line: &'a str,
) -> Option<(
    std::borrow::Cow<'a, str>,
    std::borrow::Cow<'a, str>,
    Option<Usage>,
)> {
    use std::borrow::Cow;
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        choices: Vec<Choice<'a>>,
        #[serde(default)]
        usage: Option<ChatUsage>,
    }
    #[derive(serde::Deserialize)]
    struct Choice<'a> {
        #[serde(borrow)]
        message: Message<'a>,
        #[serde(borrow)]
        finish_reason: Option<Cow<'a, str>>,
    }
    #[derive(serde::Deserialize)]
    struct Message<'a> {
        #[serde(borrow)]
        content: Option<Cow<'a, str>>,
    }
    let (record_id, answer): (_, Answer<'a>) = super::answer::fast_line(line)?;
    let choice = answer.choices.into_iter().next()?;
    super::answer::check_stop(Some(choice.finish_reason?.as_ref())).ok()?;
    let text = choice.message.content?;
    // Reasoning to strip, or space to trim: the general path.
    if text.contains("<reasoning>") || text.trim().len() != text.len() {
        return None;
    }
    let usage = answer.usage.and_then(ChatUsage::usage);
    Some((record_id, text, usage))
}

/// An OpenAI-style chat-completion body: `messages` with the system prompt first, the token
/// limit under `max_tokens_key`, `temperature`, `top_p`, `stop`, function `tools`, and the
/// tool choice as `choice` writes it. Chat completions have no `top_k`; it is left out rather
/// than refused, so one input works for every family.
pub(crate) fn chat_completion(
    input: &ModelInput,
    tool: Option<&ToolDefinition>,
    max_tokens_key: &str,
    choice: impl Fn(&ToolChoice) -> Value,
) -> Result<Value, Error> {
    validate_input(input, tool)?;
    let mut body = Map::new();
    body.insert(
        "messages".into(),
        chat_messages(input, input.system.as_deref())?,
    );
    put(&mut body, max_tokens_key, input.max_tokens);
    put(&mut body, "temperature", input.temperature);
    put(&mut body, "top_p", input.top_p);
    put(
        &mut body,
        "stop",
        (!input.stop_sequences.is_empty()).then_some(&input.stop_sequences),
    );
    let (tools, tool_choice) = tools_and_choice(input, tool);
    if !tools.is_empty() {
        let tools: Vec<Value> = tools.into_iter().map(function_tool).collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(tool_choice) = tool_choice {
        body.insert("tool_choice".into(), choice(&tool_choice));
    }
    Ok(Value::Object(body))
}

/// [`chat_completion`]'s body, written as its JSONL line from borrowed parts (the same bytes
/// as the body inside `encode_input_line`, without building a `Value`).
pub(crate) fn write_chat_completion(
    record_id: &str,
    input: &ModelInput,
    tool: Option<&ToolDefinition>,
    max_tokens_key: &'static str,
    choice: impl Fn(&ToolChoice) -> Value,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    validate_input(input, tool)?;
    if crate::model_input::has_media(input) {
        let body = chat_completion(input, tool, max_tokens_key, choice)?;
        crate::jsonl::encode_input_line(record_id, &body, out);
        return Ok(());
    }
    let (tools, tool_choice) = tools_and_choice(input, tool);
    let body = ChatBody {
        input,
        max_tokens_key,
        tools: &tools,
        tool_choice: tool_choice.as_ref().map(choice),
        response_format: None,
    };
    super::body::write_json_line(
        &super::body::InputLine {
            record_id,
            model_input: body,
        },
        out,
    )
}

/// [`prepare_chat_output`]'s JsonSchema body, written as its JSONL line from borrowed parts:
/// the input without tools, then `response_format` with the schema written once per thread.
pub(crate) fn write_chat_json_schema(
    record_id: &str,
    input: &ModelInput,
    sent: &ToolDefinition,
    max_tokens_key: &'static str,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    validate_input(input, Some(sent))?;
    let body = ChatBody {
        input,
        max_tokens_key,
        tools: &[],
        tool_choice: None,
        response_format: Some(sent),
    };
    super::body::write_json_line(
        &super::body::InputLine {
            record_id,
            model_input: body,
        },
        out,
    )
}

/// The members of [`chat_completion`]'s body, in its order.
struct ChatBody<'a> {
    input: &'a ModelInput,
    max_tokens_key: &'static str,
    tools: &'a [&'a ToolDefinition],
    tool_choice: Option<Value>,
    /// JsonSchema's `response_format` of this tool.
    response_format: Option<&'a ToolDefinition>,
}

/// `{"type": "json_schema", "json_schema": {name, description, schema, strict: true}}`.
struct ResponseFormat<'a>(&'a ToolDefinition);

impl serde::Serialize for ResponseFormat<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Definition<'a>(&'a ToolDefinition);
        impl serde::Serialize for Definition<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(4))?;
                map.serialize_entry("name", &self.0.name)?;
                map.serialize_entry("description", &self.0.description)?;
                map.serialize_entry(
                    "schema",
                    &super::schema_cache::SchemaJson(&self.0.input_schema),
                )?;
                map.serialize_entry("strict", &true)?;
                map.end()
            }
        }
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("type", "json_schema")?;
        map.serialize_entry("json_schema", &Definition(self.0))?;
        map.end()
    }
}

impl serde::Serialize for ChatBody<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let input = self.input;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("messages", &ChatMessages(input))?;
        if let Some(n) = input.max_tokens {
            map.serialize_entry(self.max_tokens_key, &n)?;
        }
        // Floats go through `Value` as in `chat_completion`, so they print the same.
        for (key, value) in [("temperature", input.temperature), ("top_p", input.top_p)] {
            if let Some(value) = value.and_then(|v| serde_json::to_value(v).ok()) {
                map.serialize_entry(key, &value)?;
            }
        }
        if !input.stop_sequences.is_empty() {
            map.serialize_entry("stop", &input.stop_sequences)?;
        }
        if !self.tools.is_empty() {
            let tools: Vec<FunctionTool<'_>> = self
                .tools
                .iter()
                .map(|tool| FunctionTool {
                    kind: "function",
                    function: Function {
                        name: &tool.name,
                        description: &tool.description,
                        parameters: super::schema_cache::SchemaJson(&tool.input_schema),
                    },
                })
                .collect();
            map.serialize_entry("tools", &tools)?;
        }
        if let Some(choice) = &self.tool_choice {
            map.serialize_entry("tool_choice", choice)?;
        }
        if let Some(tool) = self.response_format {
            map.serialize_entry("response_format", &ResponseFormat(tool))?;
        }
        map.end()
    }
}

/// [`chat_messages`], written: the system prompt first, then each turn.
struct ChatMessages<'a>(&'a ModelInput);

impl serde::Serialize for ChatMessages<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        #[derive(serde::Serialize)]
        struct Turn<'a> {
            role: &'static str,
            content: &'a str,
        }
        let mut seq = serializer.serialize_seq(None)?;
        if let Some(system) = &self.0.system {
            seq.serialize_element(&Turn {
                role: "system",
                content: system,
            })?;
        }
        for m in &self.0.messages {
            let role = match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            seq.serialize_element(&Turn {
                role,
                content: &m.content,
            })?;
        }
        seq.end()
    }
}

/// [`function_tool`], written.
#[derive(serde::Serialize)]
struct FunctionTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function<'a>,
}

#[derive(serde::Serialize)]
struct Function<'a> {
    name: &'a str,
    description: &'a str,
    parameters: super::schema_cache::SchemaJson<'a>,
}

/// `choices[0].message.content` without any `<reasoning>…</reasoning>` part.
pub(crate) fn chat_text(model_output: &Value) -> Option<String> {
    let content = model_output
        .get("choices")?
        .get(0)?
        .get("message")?
        .get("content")?
        .as_str()?;
    Some(strip_reasoning(content))
}

pub(crate) fn chat_usage(model_output: &Value) -> Option<Usage> {
    let usage = model_output.get("usage")?;
    Some(Usage {
        input_tokens: count(usage.get("prompt_tokens"))?,
        output_tokens: count(usage.get("completion_tokens"))?,
    })
}

/// Removes every `<reasoning>…</reasoning>` span (gpt-oss writes its reasoning there before
/// the answer); an unclosed one runs to the end.
pub(crate) fn strip_reasoning(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<reasoning>") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</reasoning>") {
            Some(end) => rest = &rest[start + end + "</reasoning>".len()..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_owned()
}

/// gpt-oss's `tool_choice`: OpenAI's names, a named function to force one.
fn openai_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::Any => json!("required"),
        ToolChoice::Tool { name } => json!({"type": "function", "function": {"name": name}}),
    }
}

impl RequestWriter for OpenAiAdapter {
    fn request_family(&self) -> crate::model::RequestFamily {
        crate::model::RequestFamily::ChatCompletions
    }

    fn name(&self) -> &str {
        "openai"
    }

    fn prepare_model_input(
        &self,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error> {
        chat_completion(input, tool, "max_completion_tokens", openai_choice)
    }

    fn write_input_line(
        &self,
        record_id: &str,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        write_chat_completion(
            record_id,
            input,
            tool,
            "max_completion_tokens",
            openai_choice,
            out,
        )
    }

    fn strategies(&self) -> &'static [OutputStrategy] {
        CHAT_STRATEGIES
    }

    fn prepare_output(
        &self,
        input: &ModelInput,
        output: OutputRequest<'_>,
    ) -> Result<Value, Error> {
        prepare_chat_output(self, input, output)
    }

    fn write_output_line(
        &self,
        record_id: &str,
        input: &ModelInput,
        output: OutputRequest<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        super::body::write_output_line_with(
            self,
            record_id,
            input,
            output,
            !crate::model_input::has_media(input),
            |out| {
                write_chat_json_schema(record_id, input, output.sent, "max_completion_tokens", out)
            },
            out,
        )
    }

    fn reask_body(&self, request: &Value, answer: &Value, problem: &str) -> Option<Value> {
        chat_reask(request, answer, problem)
    }
}

impl AnswerReader for OpenAiAdapter {
    fn validate_result(
        &self,
        model_output: &Value,
        tool: &ToolDefinition,
    ) -> Result<Value, RecordError> {
        chat_tool_input(model_output, tool, "OpenAI")
    }

    fn output_text(&self, model_output: &Value) -> Option<String> {
        chat_text(model_output)
    }

    fn usage(&self, model_output: &Value) -> Option<Usage> {
        chat_usage(model_output)
    }

    fn output_line_fast<'a>(
        &self,
        line: &'a str,
        tool: &ToolDefinition,
    ) -> Option<(
        std::borrow::Cow<'a, str>,
        std::borrow::Cow<'a, serde_json::value::RawValue>,
        Option<Usage>,
    )> {
        chat_output_line_fast(line, tool)
    }

    fn answer_text_line_fast<'a>(
        &self,
        line: &'a str,
    ) -> Option<(
        std::borrow::Cow<'a, str>,
        std::borrow::Cow<'a, str>,
        Option<Usage>,
    )> {
        chat_text_line_fast(line)
    }

    fn stop_reason(&self, model_output: &Value) -> Option<String> {
        chat_stop_reason(model_output)
    }
}

impl OpenAiAdapter {
    /// The tool in the family's own format.
    pub fn build_tool(&self, tool: &ToolDefinition) -> Value {
        function_tool(tool)
    }
}

/// What a chat-completion adapter writes: the tool (plain or `strict`), `response_format`
/// and the schema in the prompt.
pub(crate) const CHAT_STRATEGIES: &[OutputStrategy] = &[
    OutputStrategy::ForcedTool,
    OutputStrategy::StrictTool,
    OutputStrategy::JsonSchema,
    OutputStrategy::JsonInPrompt,
];

/// A chat-completion follow-up: the answer's message (without reasoning, which chat servers
/// refuse as input), then a `tool` message per tool call (or the problem as a user turn).
pub(crate) fn chat_reask(request: &Value, answer: &Value, problem: &str) -> Option<Value> {
    let mut body = request.clone();
    let messages = body.get_mut("messages")?.as_array_mut()?;
    let mut message = answer
        .pointer("/choices/0/message")
        .cloned()
        .unwrap_or_else(|| json!({"role": "assistant", "content": "(no answer)"}));
    if let Some(message) = message.as_object_mut() {
        message.remove("reasoning_content");
        message.insert("role".into(), json!("assistant"));
    }
    let calls: Vec<Value> = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|call| call.get("id").cloned())
        .map(|id| json!({"role": "tool", "tool_call_id": id, "content": problem}))
        .collect();
    messages.push(message);
    if calls.is_empty() {
        messages.push(json!({"role": "user", "content": problem}));
    } else {
        messages.extend(calls);
    }
    Some(body)
}

/// `choices[0].finish_reason`, or `stop_reason` where a family puts it there.
pub(crate) fn chat_stop_reason(model_output: &Value) -> Option<String> {
    let choice = model_output.get("choices")?.get(0)?;
    let reason = choice
        .get("finish_reason")
        .or_else(|| choice.get("stop_reason"))?;
    Some(reason.as_str()?.to_owned())
}

/// A chat-completion adapter's structured body. JsonSchema writes the OpenAI convention,
/// `response_format: {type: "json_schema", json_schema: {name, description, schema, strict}}`;
/// Bedrock documents only the field name (AWS, "Structured outputs",
/// <https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html>; the shape is the
/// OpenAI convention, not documented by AWS).
pub(crate) fn prepare_chat_output<A: RequestWriter + ?Sized>(
    adapter: &A,
    input: &ModelInput,
    output: OutputRequest<'_>,
) -> Result<Value, Error> {
    match output.strategy {
        OutputStrategy::ForcedTool => adapter.prepare_model_input(input, Some(output.sent)),
        OutputStrategy::StrictTool => {
            let mut body = adapter.prepare_model_input(input, Some(output.sent))?;
            mark_strict(body.get_mut("tools").and_then(|tools| tools.get_mut(0)));
            Ok(body)
        }
        OutputStrategy::JsonSchema => {
            let mut body =
                adapter.prepare_model_input(&without_tools(input, output.sent)?, None)?;
            if let Some(body) = body.as_object_mut() {
                body.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": {
                        "name": output.sent.name,
                        "description": output.sent.description,
                        "schema": output.sent.input_schema,
                        "strict": true,
                    }}),
                );
            }
            Ok(body)
        }
        OutputStrategy::JsonInPrompt => {
            adapter.prepare_model_input(&with_schema_prompt(input, output.sent)?, None)
        }
    }
}

#[cfg(test)]
#[path = "openai_tests.rs"]
mod tests;
