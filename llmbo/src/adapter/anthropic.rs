//! Anthropic Claude through the Messages API (`anthropic_version: bedrock-2023-05-31`).

use serde_json::{Map, Value, json};

use super::{
    ModelProviderAdapter, Usage, as_object, count, obj, put, single_call, text, tools_and_choice,
    validate_input,
};
use crate::error::{Error, RecordError};
use crate::input::{ModelInput, Role, ToolChoice};
use crate::output::ToolDefinition;

const ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

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

impl ModelProviderAdapter for AnthropicAdapter {
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
        let messages: Vec<Value> = input
            .messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                obj([
                    ("role", text(role)),
                    (
                        "content",
                        Value::Array(vec![obj([
                            ("type", text("text")),
                            ("text", text(&m.content)),
                        ])]),
                    ),
                ])
            })
            .collect();
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

    fn build_tool(&self, tool: &ToolDefinition) -> Value {
        obj([
            ("name", text(&tool.name)),
            ("description", text(&tool.description)),
            ("input_schema", tool.input_schema.clone()),
        ])
    }

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
}

/// The adapter for models no registered pattern matches: it sends a Claude-shaped body, as
/// the original library did. Register an adapter for the model to do better.
#[derive(Debug, Clone, Default)]
pub struct DefaultAdapter {
    inner: AnthropicAdapter,
}

impl ModelProviderAdapter for DefaultAdapter {
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

    fn build_tool(&self, tool: &ToolDefinition) -> Value {
        self.inner.build_tool(tool)
    }

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::test_support::{person_tool, sample_input};

    #[test]
    fn builds_the_messages_body_field_by_field() {
        let tool = person_tool();
        let body = AnthropicAdapter::default()
            .prepare_model_input(&sample_input(), Some(&tool))
            .unwrap();
        assert_eq!(body["anthropic_version"], "bedrock-2023-05-31");
        assert_eq!(body["max_tokens"], 300);
        assert_eq!(body["system"], "Extract people.");
        assert_eq!(body["temperature"], 0.0);
        assert_eq!(body["top_p"], 0.5);
        assert_eq!(body["top_k"], 40);
        assert_eq!(body["stop_sequences"], json!(["END"]));
        assert_eq!(
            body["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "Ada is 36."}]},
                {"role": "assistant", "content": [{"type": "text", "text": "Noted."}]},
                {"role": "user", "content": [{"type": "text", "text": "Extract."}]}
            ])
        );
        assert_eq!(
            body["tools"],
            json!([{"name": "Person", "description": "A person.", "input_schema": tool.input_schema}])
        );
        assert_eq!(
            body["tool_choice"],
            json!({"type": "tool", "name": "Person"})
        );
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 10, "no extra keys: {keys:?}");
    }

    #[test]
    fn defaults_max_tokens_and_omits_unset_fields() {
        let body = AnthropicAdapter::default()
            .prepare_model_input(&ModelInput::new().user("hi"), None)
            .unwrap();
        assert_eq!(
            body,
            json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4096,
                   "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
        );
    }

    fn response(content: Value, stop_reason: &str) -> Value {
        json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
               "content": content, "stop_reason": stop_reason, "stop_sequence": null,
               "usage": {"input_tokens": 120, "output_tokens": 33}})
    }

    #[test]
    fn reads_the_tool_input_of_a_documented_response() {
        let adapter = AnthropicAdapter::default();
        let ok = response(
            json!([{"type": "text", "text": "Here:"},
                   {"type": "tool_use", "id": "toolu_1", "name": "Person", "input": {"name": "Ada"}}]),
            "tool_use",
        );
        assert_eq!(
            adapter.validate_result(&ok, &person_tool()).unwrap(),
            json!({"name": "Ada"})
        );
        assert_eq!(adapter.output_text(&ok).as_deref(), Some("Here:"));
        assert_eq!(
            adapter.usage(&ok),
            Some(Usage {
                input_tokens: 120,
                output_tokens: 33
            })
        );
    }

    #[test]
    fn names_each_failure() {
        let adapter = AnthropicAdapter::default();
        let tool = person_tool();
        let call = |name: &str| json!({"type": "tool_use", "id": "t", "name": name, "input": {}});
        let cases = [
            (
                response(json!([{"type": "text", "text": "no"}]), "end_turn"),
                RecordError::NoToolCall {
                    stop_reason: Some("end_turn".into()),
                },
            ),
            (
                response(json!([call("Person")]), "max_tokens"),
                RecordError::Truncated,
            ),
            (
                response(json!([{"type": "text", "text": "…"}]), "max_tokens"),
                RecordError::Truncated,
            ),
            (
                response(json!([call("Person"), call("Person")]), "tool_use"),
                RecordError::MultipleToolCalls { count: 2 },
            ),
            (
                response(json!([call("Other")]), "tool_use"),
                RecordError::WrongTool {
                    expected: "Person".into(),
                    found: "Other".into(),
                },
            ),
            (
                response(json!([]), "refusal"),
                RecordError::UnexpectedStopReason {
                    stop_reason: "refusal".into(),
                },
            ),
        ];
        for (output, expected) in cases {
            assert_eq!(
                adapter.validate_result(&output, &tool),
                Err(expected),
                "{output}"
            );
        }
        assert!(matches!(
            adapter.validate_result(&json!({"content": "x"}), &tool),
            Err(RecordError::MalformedOutput { .. })
        ));
        assert!(matches!(
            adapter.validate_result(&json!([1]), &tool),
            Err(RecordError::MalformedOutput { .. })
        ));
    }
}
