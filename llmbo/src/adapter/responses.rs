//! OpenAI's Responses API (`POST /v1/responses`), the endpoint OpenAI's Batch API takes
//! beside chat completions (OpenAI, "Create a model response",
//! <https://platform.openai.com/docs/api-reference/responses/create>, and "Structured model
//! outputs", <https://platform.openai.com/docs/guides/structured-outputs>).
//!
//! A body is `input` (the conversation as messages), `instructions` (the system prompt),
//! `max_output_tokens`, `temperature`, `top_p`, function `tools` (flat: `{type, name,
//! description, parameters, strict}`) and `tool_choice`; native structured output is
//! `text.format: {type: "json_schema", name, schema, strict}`. The answer is a response whose
//! `output` holds `message` items (`output_text` parts), `function_call` items (`arguments`
//! as a JSON string) and, for reasoning models, `reasoning` items; a cut answer has `status:
//! "incomplete"` with `incomplete_details.reason`.

use serde_json::{Map, Value, json};

use super::answer::{as_object, parse_arguments, single_call};
use super::body::{
    mark_strict, obj, put, text, tools_and_choice, validate_input, with_schema_prompt,
    without_tools,
};
use super::openai::CHAT_STRATEGIES;
use super::{AnswerReader, OutputRequest, OutputStrategy, RequestWriter, Usage};
use crate::error::{Error, RecordError};
use crate::model_input::{ModelInput, Role, ToolChoice};
use crate::output::ToolDefinition;

/// OpenAI models through the Responses API, on OpenAI's Batch API: chosen with
/// [`OpenAiEndpoint::Responses`](crate::model::OpenAiEndpoint::Responses).
#[derive(Debug, Clone, Default)]
pub struct OpenAiResponsesAdapter;

/// The conversation as `input` messages, each `{role, content}`.
fn input_messages(input: &ModelInput) -> Result<Value, Error> {
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
                ("content", super::media_blocks::responses(m)?),
            ]))
        })
        .collect::<Result<Vec<_>, Error>>()
        .map(Value::Array)
}

/// A function tool as the Responses API takes it: flat, with `strict` always said (the API
/// makes a tool strict when it is not).
fn function_tool(tool: &ToolDefinition) -> Value {
    obj([
        ("type", text("function")),
        ("name", text(&tool.name)),
        ("description", text(&tool.description)),
        ("parameters", tool.input_schema.clone()),
        ("strict", Value::Bool(false)),
    ])
}

fn choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::Any => json!("required"),
        ToolChoice::Tool { name } => json!({"type": "function", "name": name}),
    }
}

/// The response body of one record: its `input`, `instructions`, limits and tools.
fn response_body(input: &ModelInput, tool: Option<&ToolDefinition>) -> Result<Value, Error> {
    validate_input(input, tool)?;
    if !input.stop_sequences.is_empty() {
        return Err(Error::invalid_request(
            "the Responses API takes no stop sequences; send the run to chat completions \
             (OpenAiEndpoint::ChatCompletions) or leave them out",
        ));
    }
    let mut body = Map::new();
    body.insert("input".into(), input_messages(input)?);
    put(&mut body, "instructions", input.system.as_deref());
    put(&mut body, "max_output_tokens", input.max_tokens);
    put(&mut body, "temperature", input.temperature);
    put(&mut body, "top_p", input.top_p);
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

/// The items of a response's `output` of one `kind`.
fn items<'a>(model_output: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    model_output
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |item| item.get("type").and_then(Value::as_str) == Some(kind))
}

impl RequestWriter for OpenAiResponsesAdapter {
    fn name(&self) -> &str {
        "openai-responses"
    }

    fn prepare_model_input(
        &self,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error> {
        response_body(input, tool)
    }

    fn strategies(&self) -> &'static [OutputStrategy] {
        CHAT_STRATEGIES
    }

    fn prepare_output(
        &self,
        input: &ModelInput,
        output: OutputRequest<'_>,
    ) -> Result<Value, Error> {
        match output.strategy {
            OutputStrategy::ForcedTool => response_body(input, Some(output.sent)),
            OutputStrategy::StrictTool => {
                let mut body = response_body(input, Some(output.sent))?;
                mark_strict(body.get_mut("tools").and_then(|tools| tools.get_mut(0)));
                Ok(body)
            }
            OutputStrategy::JsonSchema => {
                let mut body = response_body(&without_tools(input, output.sent)?, None)?;
                if let Some(body) = body.as_object_mut() {
                    body.insert(
                        "text".into(),
                        json!({"format": {
                            "type": "json_schema",
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
                response_body(&with_schema_prompt(input, output.sent)?, None)
            }
        }
    }

    /// The request's `input`, then the model's calls with a `function_call_output` telling
    /// each what was wrong (or its text and the problem as a user turn). Reasoning items are
    /// left out: a batch request cannot refer back to them.
    fn reask_body(&self, request: &Value, answer: &Value, problem: &str) -> Option<Value> {
        let mut body = request.clone();
        let input = body.get_mut("input")?.as_array_mut()?;
        let calls: Vec<&Value> = items(answer, "function_call").collect();
        if calls.is_empty() {
            let said = self
                .output_text(answer)
                .unwrap_or_else(|| "(no answer)".into());
            input.push(json!({"role": "assistant", "content": said}));
            input.push(json!({"role": "user", "content": problem}));
        } else {
            for call in calls {
                let call_id = call.get("call_id").cloned().unwrap_or(Value::Null);
                input.push(json!({
                    "type": "function_call",
                    "call_id": call_id,
                    "name": call.get("name").cloned().unwrap_or(Value::Null),
                    "arguments": call.get("arguments").cloned().unwrap_or(json!("")),
                }));
                input.push(json!({
                    "type": "function_call_output",
                    "call_id": call_id,
                    "output": problem,
                }));
            }
        }
        Some(body)
    }
}

impl AnswerReader for OpenAiResponsesAdapter {
    fn validate_result(
        &self,
        model_output: &Value,
        tool: &ToolDefinition,
    ) -> Result<Value, RecordError> {
        let response = as_object(model_output, "Responses API")?;
        if !response.get("output").is_some_and(Value::is_array) {
            return Err(RecordError::MalformedOutput {
                message: "a response has an `output` list, this has none".into(),
            });
        }
        let calls = items(model_output, "function_call")
            .map(|call| {
                (
                    call.get("name").and_then(Value::as_str),
                    parse_arguments(call.get("arguments")),
                )
            })
            .collect();
        single_call(calls, tool, self.stop_reason(model_output).as_deref())
    }

    /// The `output_text` parts of the response's messages, joined.
    fn output_text(&self, model_output: &Value) -> Option<String> {
        let mut out: Option<String> = None;
        for message in items(model_output, "message") {
            for part in message
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if part.get("type").and_then(Value::as_str) == Some("output_text")
                    && let Some(text) = part.get("text").and_then(Value::as_str)
                {
                    out.get_or_insert_with(String::new).push_str(text);
                }
            }
        }
        out
    }

    fn usage(&self, model_output: &Value) -> Option<Usage> {
        let usage = model_output.get("usage")?;
        Some(Usage {
            input_tokens: usage.get("input_tokens")?.as_u64()?,
            output_tokens: usage.get("output_tokens")?.as_u64()?,
        })
    }

    /// `incomplete_details.reason` of an incomplete response (`max_output_tokens` read as a
    /// cut answer, `content_filter` as a refusal); `refusal` when a message refused; else the
    /// response's `status`.
    fn stop_reason(&self, model_output: &Value) -> Option<String> {
        let status = model_output.get("status").and_then(Value::as_str);
        if status == Some("incomplete") {
            let reason = model_output
                .pointer("/incomplete_details/reason")
                .and_then(Value::as_str)
                .unwrap_or("incomplete");
            return Some(match reason {
                "max_output_tokens" => "max_tokens".to_owned(),
                other => other.to_owned(),
            });
        }
        let refused = items(model_output, "message").any(|message| {
            message
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|part| part.get("type").and_then(Value::as_str) == Some("refusal"))
        });
        if refused {
            return Some("refusal".into());
        }
        status.map(str::to_owned)
    }
}

#[cfg(test)]
#[path = "responses_tests.rs"]
mod tests;
