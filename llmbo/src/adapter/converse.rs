//! The Converse invocation type: one request shape for every model.

use serde_json::{Map, Value, json};

use super::body::{
    put, tools_and_choice, unwritten, validate_input, with_schema_prompt, without_tools,
};
use super::nova::{
    converse_reask, converse_stop_reason, converse_text, converse_tool_input, converse_usage,
    text_messages, tool_config,
};
use super::{AnswerReader, OutputRequest, OutputStrategy, RequestWriter, Usage};
use crate::error::{Error, RecordError};
use crate::model_input::ModelInput;
use crate::output::ToolDefinition;

/// Converse request bodies (`messages`, `system: [{text}]`, `inferenceConfig` with
/// `maxTokens`/`temperature`/`topP`/`stopSequences`), answered by a ConverseResponse.
///
/// Bedrock fails every record that carries `toolConfig` in a Converse batch job, so any tool
/// (a structured job's, or the input's own) is refused here, before anything is uploaded.
#[derive(Debug, Clone, Default)]
pub struct ConverseAdapter;

impl RequestWriter for ConverseAdapter {
    fn request_family(&self) -> crate::model::RequestFamily {
        crate::model::RequestFamily::Converse
    }

    fn name(&self) -> &str {
        "converse"
    }

    fn prepare_model_input(
        &self,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error> {
        validate_input(input, tool)?;
        let (tools, _) = tools_and_choice(input, tool);
        if !tools.is_empty() {
            return Err(Error::invalid_request(
                "Bedrock refuses tools in Converse batch jobs; use the InvokeModel \
                         invocation type for structured or tool-using jobs",
            ));
        }
        let mut body = Map::new();
        body.insert("messages".into(), text_messages(input)?);
        if let Some(system) = &input.system {
            body.insert("system".into(), json!([{"text": system}]));
        }
        let mut config = Map::new();
        put(&mut config, "maxTokens", input.max_tokens);
        put(&mut config, "temperature", input.temperature);
        put(&mut config, "topP", input.top_p);
        put(
            &mut config,
            "stopSequences",
            (!input.stop_sequences.is_empty()).then_some(&input.stop_sequences),
        );
        if !config.is_empty() {
            body.insert("inferenceConfig".into(), Value::Object(config));
        }
        if let Some(k) = input.top_k {
            // Converse has no top-k of its own; models that take one read it from here.
            body.insert("additionalModelRequestFields".into(), json!({"top_k": k}));
        }
        Ok(Value::Object(body))
    }

    /// Native structured output through `outputConfig.textFormat` (AWS, "Structured outputs",
    /// <https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html>), or the schema in the system prompt. No tools: Converse batch jobs refuse them.
    fn strategies(&self) -> &'static [OutputStrategy] {
        &[OutputStrategy::JsonSchema, OutputStrategy::JsonInPrompt]
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
            OutputStrategy::JsonSchema => {
                let mut body =
                    self.prepare_model_input(&without_tools(input, output.sent)?, None)?;
                // `JsonSchemaDefinition.schema` is a string of JSON, not an object (SM-rt).
                let schema = serde_json::to_string(&output.sent.input_schema).map_err(|err| {
                    Error::invalid_request(format!("the output schema cannot be written: {err}"))
                })?;
                if let Some(body) = body.as_object_mut() {
                    body.insert(
                        "outputConfig".into(),
                        json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
                            "schema": schema,
                            "name": output.sent.name,
                            "description": output.sent.description,
                        }}}}),
                    );
                }
                Ok(body)
            }
            OutputStrategy::JsonInPrompt => {
                self.prepare_model_input(&with_schema_prompt(input, output.sent)?, None)
            }
            other => Err(unwritten(self.name(), other)),
        }
    }
}

impl AnswerReader for ConverseAdapter {
    fn validate_result(
        &self,
        model_output: &Value,
        tool: &ToolDefinition,
    ) -> Result<Value, RecordError> {
        converse_tool_input(model_output, tool, "Converse")
    }

    fn output_text(&self, model_output: &Value) -> Option<String> {
        converse_text(model_output)
    }

    fn usage(&self, model_output: &Value) -> Option<Usage> {
        converse_usage(model_output)
    }

    fn stop_reason(&self, model_output: &Value) -> Option<String> {
        converse_stop_reason(model_output)
    }

    fn tool_input_fast<'a>(
        &self,
        model_output: &'a serde_json::value::RawValue,
        tool: &ToolDefinition,
    ) -> Option<(&'a serde_json::value::RawValue, Option<Usage>)> {
        super::nova::converse_tool_input_fast(model_output, tool)
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
        super::nova::converse_output_line_fast(line, tool)
    }
}

impl ConverseAdapter {
    /// The tool in the family's own format.
    pub fn build_tool(&self, tool: &ToolDefinition) -> Value {
        tool_config(&[tool], None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::test_support::{person_tool, sample_input};

    #[test]
    fn builds_the_converse_body() -> Result<(), Box<dyn std::error::Error>> {
        let body = ConverseAdapter.prepare_model_input(&sample_input(), None)?;
        assert_eq!(
            body["messages"][2],
            json!({"role": "user", "content": [{"text": "Extract."}]})
        );
        assert_eq!(body["system"], json!([{"text": "Extract people."}]));
        assert_eq!(
            body["inferenceConfig"],
            json!({"maxTokens": 300, "temperature": 0.0, "topP": 0.5, "stopSequences": ["END"]})
        );
        assert_eq!(body["additionalModelRequestFields"], json!({"top_k": 40}));
        assert_eq!(body.as_object().ok_or("expected value missing")?.len(), 4);
        Ok(())
    }

    #[test]
    fn refuses_tools_before_upload() {
        let err = ConverseAdapter
            .prepare_model_input(&sample_input(), Some(&person_tool()))
            .unwrap_err();
        assert!(err.to_string().contains("InvokeModel"), "{err}");
        let own_tool = sample_input().tool(person_tool());
        assert!(
            ConverseAdapter
                .prepare_model_input(&own_tool, None)
                .is_err()
        );
    }

    #[test]
    fn reads_text_and_usage_of_a_converse_response() {
        let output = json!({"output": {"message": {"role": "assistant", "content": [{"text": "Hello"}]}},
                            "stopReason": "end_turn", "usage": {"inputTokens": 5, "outputTokens": 1,
                            "totalTokens": 6}, "metrics": {"latencyMs": 100}});
        assert_eq!(
            ConverseAdapter.output_text(&output).as_deref(),
            Some("Hello")
        );
        assert_eq!(
            ConverseAdapter.usage(&output),
            Some(Usage {
                input_tokens: 5,
                output_tokens: 1
            })
        );
    }
}
