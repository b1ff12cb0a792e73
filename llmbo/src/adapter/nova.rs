//! Amazon Nova through its native InvokeModel body (`messages-v1`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::answer::{as_object, check_stop, count, fast_line, single_call, strict_from_str};
use super::body::{
    mark_strict, obj, put, text, tools_and_choice, unwritten, validate_input, with_schema_prompt,
    write_json_line,
};
use super::{AnswerReader, OutputRequest, OutputStrategy, RequestWriter, Usage};
use crate::error::{Error, RecordError};
use crate::model_input::{ModelInput, Role, ToolChoice};
use crate::output::ToolDefinition;

/// How `inferenceConfig` spells its keys. AWS's own examples use both, and which one each
/// Nova generation expects is not settled in the documentation, so it is a setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NovaParamStyle {
    /// `max_new_tokens`, `top_p`, `top_k`, `stopSequences`: the Nova 1 InvokeModel schema.
    #[default]
    Nova1,
    /// `maxTokens`, `topP`, `topK`, `stopSequences`: the Nova 2 guide and Converse spelling.
    CamelCase,
}

/// Nova's body: `system: [{text}]`, `messages` with `[{text}]` content, `inferenceConfig`, and
/// `toolConfig` with `toolSpec`/`inputSchema.json`; the answer is a `toolUse` content block.
#[derive(Debug, Clone)]
pub struct NovaAdapter {
    /// The spelling of `inferenceConfig` keys.
    pub param_style: NovaParamStyle,
    /// Send `"schemaVersion": "messages-v1"`.
    pub send_schema_version: bool,
}

impl Default for NovaAdapter {
    fn default() -> Self {
        NovaAdapter {
            param_style: NovaParamStyle::Nova1,
            send_schema_version: true,
        }
    }
}

impl NovaAdapter {
    /// The adapter for a model id: Nova 2 models (`amazon.nova-2…`) get camel-case keys.
    pub fn for_model(normalized_model_id: &str) -> Self {
        let param_style = if normalized_model_id.starts_with("amazon.nova-2") {
            NovaParamStyle::CamelCase
        } else {
            NovaParamStyle::Nova1
        };
        NovaAdapter {
            param_style,
            ..Self::default()
        }
    }
}

/// A Converse-shaped `messages` list: `[{role, content: [{text} | {image} | {document} |
/// {video}]}]`, shared with Converse jobs.
pub(crate) fn text_messages(input: &ModelInput) -> Result<Value, Error> {
    input
        .messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            Ok(obj([
                ("role", text(role)),
                ("content", super::media_blocks::converse(m)?),
            ]))
        })
        .collect()
}

/// A Nova request body, written from borrowed parts inside an [`InputLine`](super::body::InputLine):
/// the same bytes as `prepare_model_input` + `encode_input_line`, without building a `Value`.
#[derive(Serialize)]
struct NovaBody<'a> {
    #[serde(rename = "schemaVersion", skip_serializing_if = "Option::is_none")]
    schema_version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<[TextBlock<'a>; 1]>,
    messages: NovaMessages<'a>,
    #[serde(rename = "inferenceConfig", skip_serializing_if = "Option::is_none")]
    inference_config: Option<InferenceConfig<'a>>,
    #[serde(rename = "toolConfig", skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig<'a>>,
}

#[derive(Serialize)]
struct TextBlock<'a> {
    text: &'a str,
}

/// Each message as `{"role", "content": [{"text"}]}`.
struct NovaMessages<'a>(&'a [crate::model_input::Message]);

impl Serialize for NovaMessages<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        #[derive(Serialize)]
        struct Message<'a> {
            role: &'static str,
            content: [TextBlock<'a>; 1],
        }
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for m in self.0 {
            seq.serialize_element(&Message {
                role: match m.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                },
                content: [TextBlock { text: &m.content }],
            })?;
        }
        seq.end()
    }
}

/// `inferenceConfig`, its keys spelled as the adapter's style says; `None` when empty.
struct InferenceConfig<'a> {
    style: NovaParamStyle,
    input: &'a ModelInput,
}

impl<'a> InferenceConfig<'a> {
    fn of(style: NovaParamStyle, input: &'a ModelInput) -> Option<Self> {
        let any = input.max_tokens.is_some()
            || input.temperature.is_some()
            || input.top_p.is_some()
            || input.top_k.is_some()
            || !input.stop_sequences.is_empty();
        any.then_some(InferenceConfig { style, input })
    }
}

impl Serialize for InferenceConfig<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (max_tokens, top_p, top_k) = match self.style {
            NovaParamStyle::Nova1 => ("max_new_tokens", "top_p", "top_k"),
            NovaParamStyle::CamelCase => ("maxTokens", "topP", "topK"),
        };
        let input = self.input;
        let mut map = serializer.serialize_map(None)?;
        if let Some(n) = input.max_tokens {
            map.serialize_entry(max_tokens, &n)?;
        }
        // Floats go through `Value` as in `prepare_model_input`, so they print the same.
        if let Some(t) = input.temperature.and_then(|t| serde_json::to_value(t).ok()) {
            map.serialize_entry("temperature", &t)?;
        }
        if let Some(p) = input.top_p.and_then(|p| serde_json::to_value(p).ok()) {
            map.serialize_entry(top_p, &p)?;
        }
        if let Some(k) = input.top_k {
            map.serialize_entry(top_k, &k)?;
        }
        if !input.stop_sequences.is_empty() {
            map.serialize_entry("stopSequences", &input.stop_sequences)?;
        }
        map.end()
    }
}

/// `toolConfig`: `tools: [{toolSpec}]` and `toolChoice`, as [`tool_config`] builds it.
#[derive(Serialize)]
struct ToolConfig<'a> {
    tools: Vec<ToolEntry<'a>>,
    #[serde(rename = "toolChoice", skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Choice<'a>>,
}

#[derive(Serialize)]
struct ToolEntry<'a> {
    #[serde(rename = "toolSpec")]
    tool_spec: ToolSpec<'a>,
}

#[derive(Serialize)]
struct ToolSpec<'a> {
    name: &'a str,
    description: &'a str,
    #[serde(rename = "inputSchema")]
    input_schema: JsonSchema<'a>,
}

#[derive(Serialize)]
struct JsonSchema<'a> {
    json: super::schema_cache::SchemaJson<'a>,
}

/// `{"auto": {}}`, `{"any": {}}` or `{"tool": {"name"}}`.
#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum Choice<'a> {
    Auto {},
    Any {},
    Tool { name: &'a str },
}

impl<'a> ToolConfig<'a> {
    fn of(tools: &[&'a ToolDefinition], choice: Option<&'a ToolChoice>) -> Option<Self> {
        (!tools.is_empty()).then(|| ToolConfig {
            tools: tools
                .iter()
                .map(|t| ToolEntry {
                    tool_spec: ToolSpec {
                        name: &t.name,
                        description: &t.description,
                        input_schema: JsonSchema {
                            json: super::schema_cache::SchemaJson(&t.input_schema),
                        },
                    },
                })
                .collect(),
            tool_choice: choice.map(|c| match c {
                ToolChoice::Auto => Choice::Auto {},
                ToolChoice::Any => Choice::Any {},
                ToolChoice::Tool { name } => Choice::Tool { name },
            }),
        })
    }
}

/// Reads a Converse-shaped response (`output.message.content[].toolUse`), shared with
/// Converse jobs.
pub(crate) fn converse_tool_input(
    model_output: &Value,
    tool: &ToolDefinition,
    family: &str,
) -> Result<Value, RecordError> {
    let output = as_object(model_output, family)?;
    let stop_reason = output.get("stopReason").and_then(Value::as_str);
    let content = output
        .get("output")
        .and_then(|o| o.get("message"))
        .and_then(|m| m.get("content"))
        .and_then(Value::as_array)
        .ok_or_else(|| RecordError::MalformedOutput {
            message: format!("a {family} response has `output.message.content`, this has none"),
        })?;
    let calls = content
        .iter()
        .filter_map(|block| block.get("toolUse"))
        .map(|call| {
            let name = call.get("name").and_then(Value::as_str);
            let input = call
                .get("input")
                .cloned()
                .ok_or_else(|| RecordError::MalformedOutput {
                    message: "the toolUse block has no `input`".into(),
                });
            (name, input)
        })
        .collect();
    single_call(calls, tool, stop_reason)
}

/// The parts of a Converse-shaped answer (Nova, Converse) the fast path reads, borrowed from
/// the output line and read through [`Strict`](crate::strict_json::Strict). Anything unexpected — a member of another
/// type, a duplicate key — fails this narrow parse and leaves the answer to
/// [`converse_tool_input`], never changes it.
#[derive(Deserialize)]
struct FastConverse<'a> {
    #[serde(borrow)]
    output: FastOutput<'a>,
    #[serde(rename = "stopReason", borrow, default)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<FastUsage>,
}

#[derive(Deserialize)]
struct FastOutput<'a> {
    #[serde(borrow)]
    message: FastMessage<'a>,
}

#[derive(Deserialize)]
struct FastMessage<'a> {
    #[serde(borrow)]
    content: Vec<FastBlock<'a>>,
}

/// A content block; only `toolUse` matters (kept raw: a `null` one still counts as a call).
#[derive(Deserialize)]
struct FastBlock<'a> {
    #[serde(rename = "toolUse", borrow, default)]
    tool_use: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct FastToolUse<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct FastUsage {
    #[serde(rename = "inputTokens")]
    input_tokens: u64,
    #[serde(rename = "outputTokens")]
    output_tokens: u64,
}

/// The fast path of [`converse_tool_input`] and [`converse_usage`]: the tool input of the one
/// `toolUse` block, straight from the text, when the answer is the plain, complete one.
pub(crate) fn converse_tool_input_fast<'a>(
    model_output: &'a RawValue,
    tool: &ToolDefinition,
) -> Option<(&'a RawValue, Option<Usage>)> {
    converse_picked_input(strict_from_str(model_output.get())?, tool)
}

/// The one-pass form of [`converse_tool_input_fast`], from a whole output line.
pub(crate) fn converse_output_line_fast<'a>(
    line: &'a str,
    tool: &ToolDefinition,
) -> Option<(Cow<'a, str>, Cow<'a, RawValue>, Option<Usage>)> {
    let (record_id, output) = fast_line(line)?;
    let (input, usage) = converse_picked_input(output, tool)?;
    Some((record_id, Cow::Borrowed(input), usage))
}

fn converse_picked_input<'a>(
    output: FastConverse<'a>,
    tool: &ToolDefinition,
) -> Option<(&'a RawValue, Option<Usage>)> {
    let mut calls = output
        .output
        .message
        .content
        .iter()
        .filter_map(|block| block.tool_use);
    let call = calls.next()?;
    if calls.next().is_some() {
        return None;
    }
    check_stop(output.stop_reason.as_deref()).ok()?;
    let call: FastToolUse<'a> = strict_from_str(call.get())?;
    if call.name.as_deref() != Some(tool.name.as_str()) {
        return None;
    }
    let input = call.input?;
    let usage = output.usage.map(|u| Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
    });
    Some((input, usage))
}

pub(crate) fn converse_text(model_output: &Value) -> Option<String> {
    let texts: Vec<&str> = model_output
        .get("output")?
        .get("message")?
        .get("content")?
        .as_array()?
        .iter()
        .filter_map(|block| block.get("text").and_then(Value::as_str))
        .collect();
    (!texts.is_empty()).then(|| texts.concat())
}

pub(crate) fn converse_usage(model_output: &Value) -> Option<Usage> {
    let usage = model_output.get("usage")?;
    Some(Usage {
        input_tokens: count(usage.get("inputTokens"))?,
        output_tokens: count(usage.get("outputTokens"))?,
    })
}

/// `toolConfig` for Nova and Converse: `tools: [{toolSpec}]` and `toolChoice`.
pub(crate) fn tool_config(tools: &[&ToolDefinition], choice: Option<ToolChoice>) -> Value {
    let mut config = Map::new();
    let specs: Vec<Value> = tools.iter().map(|t| tool_spec(t)).collect();
    config.insert("tools".into(), Value::Array(specs));
    if let Some(choice) = choice {
        let choice = match choice {
            ToolChoice::Auto => json!({"auto": {}}),
            ToolChoice::Any => json!({"any": {}}),
            ToolChoice::Tool { name } => json!({"tool": {"name": name}}),
        };
        config.insert("toolChoice".into(), choice);
    }
    Value::Object(config)
}

fn tool_spec(tool: &ToolDefinition) -> Value {
    obj([(
        "toolSpec",
        obj([
            ("name", text(&tool.name)),
            ("description", text(&tool.description)),
            ("inputSchema", obj([("json", tool.input_schema.clone())])),
        ]),
    )])
}

impl RequestWriter for NovaAdapter {
    fn request_family(&self) -> crate::model::RequestFamily {
        crate::model::RequestFamily::Nova
    }

    fn name(&self) -> &str {
        "amazon-nova"
    }

    fn prepare_model_input(
        &self,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error> {
        validate_input(input, tool)?;
        let mut body = Map::new();
        if self.send_schema_version {
            body.insert("schemaVersion".into(), json!("messages-v1"));
        }
        if let Some(system) = &input.system {
            body.insert("system".into(), json!([{"text": system}]));
        }
        body.insert("messages".into(), text_messages(input)?);
        let (max_tokens, top_p, top_k) = match self.param_style {
            NovaParamStyle::Nova1 => ("max_new_tokens", "top_p", "top_k"),
            NovaParamStyle::CamelCase => ("maxTokens", "topP", "topK"),
        };
        let mut config = Map::new();
        put(&mut config, max_tokens, input.max_tokens);
        put(&mut config, "temperature", input.temperature);
        put(&mut config, top_p, input.top_p);
        put(&mut config, top_k, input.top_k);
        put(
            &mut config,
            "stopSequences",
            (!input.stop_sequences.is_empty()).then_some(&input.stop_sequences),
        );
        if !config.is_empty() {
            body.insert("inferenceConfig".into(), Value::Object(config));
        }
        let (tools, choice) = tools_and_choice(input, tool);
        if !tools.is_empty() {
            body.insert("toolConfig".into(), tool_config(&tools, choice));
        }
        Ok(Value::Object(body))
    }

    fn write_input_line(
        &self,
        record_id: &str,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        validate_input(input, tool)?;
        if crate::model_input::has_media(input) {
            let body = self.prepare_model_input(input, tool)?;
            crate::jsonl::encode_input_line(record_id, &body, out);
            return Ok(());
        }
        let (tools, choice) = tools_and_choice(input, tool);
        let line = super::body::InputLine {
            record_id,
            model_input: NovaBody {
                schema_version: self.send_schema_version.then_some("messages-v1"),
                system: input.system.as_deref().map(|text| [TextBlock { text }]),
                messages: NovaMessages(&input.messages),
                inference_config: InferenceConfig::of(self.param_style, input),
                tool_config: ToolConfig::of(&tools, choice.as_ref()),
            },
        };
        write_json_line(&line, out)
    }

    /// The forced tool, with `strict: true` on its `toolSpec` when asked, and the schema in
    /// the system prompt. Nova's InvokeModel body has no native structured-output field of
    /// its own (Converse jobs have `outputConfig`).
    fn strategies(&self) -> &'static [OutputStrategy] {
        &[
            OutputStrategy::ForcedTool,
            OutputStrategy::StrictTool,
            OutputStrategy::JsonInPrompt,
        ]
    }

    fn reask_body(&self, request: &Value, answer: &Value, problem: &str) -> Option<Value> {
        converse_reask(request, answer, problem)
    }

    fn prepare_output(
        &self,
        input: &ModelInput,
        output: OutputRequest<'_>,
    ) -> Result<Value, Error> {
        match output.strategy {
            OutputStrategy::ForcedTool => self.prepare_model_input(input, Some(output.sent)),
            OutputStrategy::StrictTool => {
                let mut body = self.prepare_model_input(input, Some(output.sent))?;
                mark_strict(
                    body.get_mut("toolConfig")
                        .and_then(|config| config.get_mut("tools"))
                        .and_then(|tools| tools.get_mut(0)),
                );
                Ok(body)
            }
            OutputStrategy::JsonInPrompt => {
                self.prepare_model_input(&with_schema_prompt(input, output.sent)?, None)
            }
            other => Err(unwritten(self.name(), other)),
        }
    }
}

impl AnswerReader for NovaAdapter {
    fn validate_result(
        &self,
        model_output: &Value,
        tool: &ToolDefinition,
    ) -> Result<Value, RecordError> {
        converse_tool_input(model_output, tool, "Nova")
    }

    fn output_text(&self, model_output: &Value) -> Option<String> {
        converse_text(model_output)
    }

    fn usage(&self, model_output: &Value) -> Option<Usage> {
        converse_usage(model_output)
    }

    fn tool_input_fast<'a>(
        &self,
        model_output: &'a RawValue,
        tool: &ToolDefinition,
    ) -> Option<(&'a RawValue, Option<Usage>)> {
        converse_tool_input_fast(model_output, tool)
    }

    fn output_line_fast<'a>(
        &self,
        line: &'a str,
        tool: &ToolDefinition,
    ) -> Option<(Cow<'a, str>, Cow<'a, RawValue>, Option<Usage>)> {
        converse_output_line_fast(line, tool)
    }

    fn stop_reason(&self, model_output: &Value) -> Option<String> {
        converse_stop_reason(model_output)
    }
}

impl NovaAdapter {
    /// The tool in the family's own format.
    pub fn build_tool(&self, tool: &ToolDefinition) -> Value {
        tool_spec(tool)
    }
}

/// A Converse-shaped follow-up: the answer's message, then a user turn with a `toolResult`
/// of status `error` for each tool call (or the problem as text).
pub(crate) fn converse_reask(request: &Value, answer: &Value, problem: &str) -> Option<Value> {
    let mut body = request.clone();
    let messages = body.get_mut("messages")?.as_array_mut()?;
    let content = match answer.pointer("/output/message/content") {
        Some(Value::Array(blocks)) if !blocks.is_empty() => Value::Array(blocks.clone()),
        _ => json!([{"text": "(no answer)"}]),
    };
    let results: Vec<Value> = content
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|block| block.pointer("/toolUse/toolUseId").cloned())
        .map(|id| json!({"toolResult": {"toolUseId": id, "content": [{"text": problem}], "status": "error"}}))
        .collect();
    messages.push(json!({"role": "assistant", "content": content}));
    messages.push(if results.is_empty() {
        json!({"role": "user", "content": [{"text": problem}]})
    } else {
        json!({"role": "user", "content": results})
    });
    Some(body)
}

/// `stopReason` of a Converse-shaped response.
pub(crate) fn converse_stop_reason(model_output: &Value) -> Option<String> {
    Some(model_output.get("stopReason")?.as_str()?.to_owned())
}

#[cfg(test)]
#[path = "nova_tests.rs"]
mod tests;
