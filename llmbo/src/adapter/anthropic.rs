//! Anthropic Claude through the Messages API (`anthropic_version: bedrock-2023-05-31`).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::answer::{as_object, check_stop, count, fast_line, single_call, strict_from_str};
use super::body::{
    mark_strict, obj, put, text, tools_and_choice, validate_input, with_schema_prompt,
    without_tools, write_json_line,
};
use super::{AnswerReader, OutputRequest, OutputStrategy, RequestWriter, Usage};
use crate::error::{Error, RecordError};
use crate::model_input::{ModelInput, Role, ToolChoice};
use crate::output::ToolDefinition;

const ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// The body written straight from borrowed parts inside an [`InputLine`](super::body::InputLine): the
/// same members, in the same order, as `prepare_model_input`'s body inside `encode_input_line`.
#[derive(Serialize)]
struct Body<'a> {
    anthropic_version: &'static str,
    max_tokens: u32,
    messages: Messages<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sequences: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<ToolRef<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Choice<'a>>,
}

/// The parts of a Claude answer the fast path reads, borrowed from the output line, the tool
/// input as `I` (its JSON text, or a typed job's own type). Read through
/// [`Strict`](crate::strict_json::Strict) (objects only, as `validate_result` reads them);
/// anything unexpected — a member of another type, a duplicate key, an input that is not an
/// `I` — fails this narrow parse and leaves the answer to `validate_result`, never changes it.
#[derive(Deserialize)]
#[serde(bound(deserialize = "I: Deserialize<'de>"))]
struct FastOutput<'a, I> {
    #[serde(borrow)]
    content: Vec<FastBlock<'a, I>>,
    #[serde(borrow, default)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<FastUsage>,
}

/// A content block: text blocks have no name or input.
#[derive(Deserialize)]
#[serde(bound(deserialize = "I: Deserialize<'de>"))]
struct FastBlock<'a, I> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(default = "none")]
    input: Option<I>,
}

fn none<I>() -> Option<I> {
    None
}

#[derive(Deserialize)]
struct FastUsage {
    input_tokens: u64,
    output_tokens: u64,
}

/// The tool input of the one call of `tool` in a plain, complete answer, and the usage.
fn picked_input<I>(output: FastOutput<'_, I>, tool: &ToolDefinition) -> Option<(I, Option<Usage>)> {
    let mut calls = output
        .content
        .into_iter()
        .filter(|block| block.kind == "tool_use");
    let call = calls.next()?;
    if calls.next().is_some() {
        return None;
    }
    check_stop(output.stop_reason.as_deref()).ok()?;
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

/// A tool input read as the typed job's own type, in the line's pass.
struct InLine<T>(T);

impl<'de, T: crate::output::BatchOutput> Deserialize<'de> for InLine<T> {
    fn deserialize<D: serde::Deserializer<'de>>(input: D) -> Result<Self, D::Error> {
        T::from_tool_input_in(input).map(InLine)
    }
}

/// The fast path of [`output_line_fast`](AnswerReader::output_line_fast) for a typed job:
/// the record id, the tool input read straight into `T` in the line's one pass, and the
/// usage. `None` wherever the two-pass path might answer otherwise (an input `T` refuses
/// included): the line is then read that way, which names the problem.
pub(crate) fn typed_output_line<'a, T: crate::output::BatchOutput>(
    line: &'a str,
    tool: &ToolDefinition,
) -> Option<(Cow<'a, str>, T, Option<Usage>)> {
    if !T::READS_IN_LINE {
        return None;
    }
    let (record_id, output) = fast_line::<FastOutput<'a, InLine<T>>>(line)?;
    let (InLine(value), usage) = picked_input(output, tool)?;
    Some((record_id, value, usage))
}

/// Each message as `{"role", "content": [{"type": "text", "text"}]}`.
struct Messages<'a>(&'a [crate::model_input::Message]);

impl Serialize for Messages<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        #[derive(Serialize)]
        struct Block<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            text: &'a str,
        }
        #[derive(Serialize)]
        struct Message<'a> {
            role: &'static str,
            content: [Block<'a>; 1],
        }
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for m in self.0 {
            seq.serialize_element(&Message {
                role: match m.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                },
                content: [Block {
                    kind: "text",
                    text: &m.content,
                }],
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct ToolRef<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: super::schema_cache::SchemaJson<'a>,
}

#[derive(Serialize)]
struct Choice<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// Claude's Messages API body: `messages` with text blocks, forced tool through
/// `tool_choice: {type: "tool", name}`, answer in a `tool_use` content block.
#[derive(Debug, Clone)]
pub struct AnthropicAdapter {
    /// `max_tokens` when the input sets none (Claude requires one).
    pub default_max_tokens: u32,
}

impl Default for AnthropicAdapter {
    fn default() -> Self {
        AnthropicAdapter {
            default_max_tokens: 4096,
        }
    }
}

impl RequestWriter for AnthropicAdapter {
    fn request_family(&self) -> crate::model::RequestFamily {
        crate::model::RequestFamily::Claude
    }

    fn name(&self) -> &str {
        "anthropic"
    }

    fn prepare_model_input(
        &self,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error> {
        validate_input(input, tool)?;
        let mut body = Map::new();
        body.insert("anthropic_version".into(), json!(ANTHROPIC_VERSION));
        body.insert(
            "max_tokens".into(),
            json!(input.max_tokens.unwrap_or(self.default_max_tokens)),
        );
        let messages = input
            .messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                Ok(obj([
                    ("role", text(role)),
                    ("content", super::media_blocks::claude(m)?),
                ]))
            })
            .collect::<Result<Vec<Value>, Error>>()?;
        body.insert("messages".into(), Value::Array(messages));
        if let Some(system) = &input.system {
            body.insert("system".into(), json!(system));
        }
        put(&mut body, "temperature", input.temperature);
        put(&mut body, "top_p", input.top_p);
        put(&mut body, "top_k", input.top_k);
        put(
            &mut body,
            "stop_sequences",
            (!input.stop_sequences.is_empty()).then_some(&input.stop_sequences),
        );
        let (tools, choice) = tools_and_choice(input, tool);
        if !tools.is_empty() {
            let tools: Vec<Value> = tools.into_iter().map(|t| self.build_tool(t)).collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        if let Some(choice) = choice {
            let choice = match choice {
                ToolChoice::Auto => json!({"type": "auto"}),
                ToolChoice::Any => json!({"type": "any"}),
                ToolChoice::Tool { name } => json!({"type": "tool", "name": name}),
            };
            body.insert("tool_choice".into(), choice);
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
        // Floats go through `Value` as in `prepare_model_input`, so they print the same.
        let line = super::body::InputLine {
            record_id,
            model_input: Body {
                anthropic_version: ANTHROPIC_VERSION,
                max_tokens: input.max_tokens.unwrap_or(self.default_max_tokens),
                messages: Messages(&input.messages),
                system: input.system.as_deref(),
                temperature: input.temperature.and_then(|t| serde_json::to_value(t).ok()),
                top_p: input.top_p.and_then(|p| serde_json::to_value(p).ok()),
                top_k: input.top_k,
                stop_sequences: (!input.stop_sequences.is_empty())
                    .then_some(input.stop_sequences.as_slice()),
                tools: (!tools.is_empty()).then(|| {
                    tools
                        .iter()
                        .map(|t| ToolRef {
                            name: &t.name,
                            description: &t.description,
                            input_schema: super::schema_cache::SchemaJson(&t.input_schema),
                        })
                        .collect()
                }),
                tool_choice: choice.as_ref().map(|c| match c {
                    ToolChoice::Auto => Choice {
                        kind: "auto",
                        name: None,
                    },
                    ToolChoice::Any => Choice {
                        kind: "any",
                        name: None,
                    },
                    ToolChoice::Tool { name } => Choice {
                        kind: "tool",
                        name: Some(name),
                    },
                }),
            },
        };
        write_json_line(&line, out)
    }

    /// Every strategy: the forced tool, `strict: true` on it, `output_config.format`
    /// (AWS, "Structured outputs",
    /// <https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html>) and the schema in the system prompt.
    fn strategies(&self) -> &'static [OutputStrategy] {
        &[
            OutputStrategy::ForcedTool,
            OutputStrategy::StrictTool,
            OutputStrategy::JsonSchema,
            OutputStrategy::JsonInPrompt,
        ]
    }

    fn reask_body(&self, request: &Value, answer: &Value, problem: &str) -> Option<Value> {
        let mut body = request.clone();
        let messages = body.get_mut("messages")?.as_array_mut()?;
        let content = match answer.get("content") {
            Some(Value::Array(blocks)) if !blocks.is_empty() => Value::Array(blocks.clone()),
            // An empty turn is refused; say there was none.
            _ => json!([{"type": "text", "text": "(no answer)"}]),
        };
        let calls: Vec<Value> = content
            .as_array()
            .into_iter()
            .flatten()
            .filter(|block| block.get("type").and_then(Value::as_str) == Some("tool_use"))
            .filter_map(|block| block.get("id").cloned())
            .map(|id| json!({"type": "tool_result", "tool_use_id": id, "is_error": true, "content": problem}))
            .collect();
        messages.push(json!({"role": "assistant", "content": content}));
        messages.push(if calls.is_empty() {
            json!({"role": "user", "content": problem})
        } else {
            json!({"role": "user", "content": calls})
        });
        Some(body)
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
                mark_strict(body.get_mut("tools").and_then(|tools| tools.get_mut(0)));
                Ok(body)
            }
            OutputStrategy::JsonSchema => {
                let mut body =
                    self.prepare_model_input(&without_tools(input, output.sent)?, None)?;
                if let Some(body) = body.as_object_mut() {
                    body.insert(
                        "output_config".into(),
                        json!({"format": {"type": "json_schema", "schema": output.sent.input_schema}}),
                    );
                }
                Ok(body)
            }
            OutputStrategy::JsonInPrompt => {
                self.prepare_model_input(&with_schema_prompt(input, output.sent)?, None)
            }
        }
    }
}

impl AnswerReader for AnthropicAdapter {
    fn validate_result(
        &self,
        model_output: &Value,
        tool: &ToolDefinition,
    ) -> Result<Value, RecordError> {
        let output = as_object(model_output, "Claude")?;
        let stop_reason = output.get("stop_reason").and_then(Value::as_str);
        let content = output
            .get("content")
            .and_then(Value::as_array)
            .ok_or_else(|| RecordError::MalformedOutput {
                message: "a Claude response has a `content` array, this has none".into(),
            })?;
        let calls = content
            .iter()
            .filter(|block| block.get("type").and_then(Value::as_str) == Some("tool_use"))
            .map(|block| {
                let name = block.get("name").and_then(Value::as_str);
                let input =
                    block
                        .get("input")
                        .cloned()
                        .ok_or_else(|| RecordError::MalformedOutput {
                            message: "the tool_use block has no `input`".into(),
                        });
                (name, input)
            })
            .collect();
        single_call(calls, tool, stop_reason)
    }

    fn answers_as_claude(&self) -> bool {
        true
    }

    fn tool_input_fast<'a>(
        &self,
        model_output: &'a RawValue,
        tool: &ToolDefinition,
    ) -> Option<(&'a RawValue, Option<Usage>)> {
        picked_input::<&RawValue>(strict_from_str(model_output.get())?, tool)
    }

    fn output_line_fast<'a>(
        &self,
        line: &'a str,
        tool: &ToolDefinition,
    ) -> Option<(Cow<'a, str>, Cow<'a, RawValue>, Option<Usage>)> {
        let (record_id, output) = fast_line::<FastOutput<'a, &'a RawValue>>(line)?;
        let (input, usage) = picked_input(output, tool)?;
        Some((record_id, Cow::Borrowed(input), usage))
    }

    fn output_text(&self, model_output: &Value) -> Option<String> {
        let texts: Vec<&str> = model_output
            .get("content")?
            .as_array()?
            .iter()
            .filter(|block| block.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|block| block.get("text").and_then(Value::as_str))
            .collect();
        (!texts.is_empty()).then(|| texts.concat())
    }

    fn usage(&self, model_output: &Value) -> Option<Usage> {
        let usage = model_output.get("usage")?;
        Some(Usage {
            input_tokens: count(usage.get("input_tokens"))?,
            output_tokens: count(usage.get("output_tokens"))?,
        })
    }

    fn stop_reason(&self, model_output: &Value) -> Option<String> {
        Some(model_output.get("stop_reason")?.as_str()?.to_owned())
    }
}

impl AnthropicAdapter {
    /// The tool in the family's own format.
    pub fn build_tool(&self, tool: &ToolDefinition) -> Value {
        obj([
            ("name", text(&tool.name)),
            ("description", text(&tool.description)),
            ("input_schema", tool.input_schema.clone()),
        ])
    }
}

/// The adapter for models no registered pattern matches: it sends a Claude-shaped body, as
/// the original library did. Register an adapter for the model to do better.
#[derive(Debug, Clone, Default)]
pub struct DefaultAdapter {
    inner: AnthropicAdapter,
}

impl RequestWriter for DefaultAdapter {
    fn request_family(&self) -> crate::model::RequestFamily {
        crate::model::RequestFamily::Claude
    }

    fn name(&self) -> &str {
        "default (Claude-shaped)"
    }

    fn prepare_model_input(
        &self,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error> {
        self.inner.prepare_model_input(input, tool)
    }

    fn reask_body(&self, request: &Value, answer: &Value, problem: &str) -> Option<Value> {
        self.inner.reask_body(request, answer, problem)
    }
}

impl AnswerReader for DefaultAdapter {
    fn validate_result(
        &self,
        model_output: &Value,
        tool: &ToolDefinition,
    ) -> Result<Value, RecordError> {
        self.inner.validate_result(model_output, tool)
    }

    fn output_text(&self, model_output: &Value) -> Option<String> {
        self.inner.output_text(model_output)
    }

    fn usage(&self, model_output: &Value) -> Option<Usage> {
        self.inner.usage(model_output)
    }

    fn stop_reason(&self, model_output: &Value) -> Option<String> {
        self.inner.stop_reason(model_output)
    }
}

impl DefaultAdapter {
    /// The tool in the family's own format.
    pub fn build_tool(&self, tool: &ToolDefinition) -> Value {
        self.inner.build_tool(tool)
    }
}

#[cfg(test)]
#[path = "anthropic_tests.rs"]
mod tests;
