//! DeepSeek and Qwen: open-weight models whose Bedrock InvokeModel body is an OpenAI-style
//! chat completion (`messages` with the system prompt first, `max_tokens`, function `tools`,
//! `tool_choice: "required"` to force the output tool), answered by a chat completion whose
//! `choices[0].message.tool_calls[].function.arguments` is a JSON string. They share gpt-oss's
//! chat machinery (`openai.rs`) and differ from it, and from each other, as follows:
//!
//! - both take `max_tokens` (gpt-oss takes OpenAI's `max_completion_tokens`);
//! - DeepSeek V3.1+ may put its reasoning in `message.reasoning_content`, beside the answer: it
//!   is never read as the answer;
//! - Qwen3 in thinking mode writes `<think>…</think>` before the answer in `content`: the
//!   text answer (JSON in the prompt, `output_text`) is read without it.
//!
//! The Python original sends DeepSeek's system prompt as a top-level `system` field (and an
//! `anthropic_version`); llmbo sends it as the first message, the OpenAI convention the
//! chat-completion bodies follow.

use serde_json::{Value, json};

use super::openai::{
    CHAT_STRATEGIES, chat_completion, chat_reask, chat_stop_reason, chat_tool_input, chat_usage,
    function_tool, prepare_chat_output, write_chat_completion,
};
use super::{AnswerReader, OutputRequest, OutputStrategy, RequestWriter, Usage};
use crate::error::{Error, RecordError};
use crate::model_input::{ModelInput, ToolChoice};
use crate::output::ToolDefinition;

/// The chat-completion body of an open-weight model.
fn chat_body(input: &ModelInput, tool: Option<&ToolDefinition>) -> Result<Value, Error> {
    chat_completion(input, tool, "max_tokens", open_weight_choice)
}

/// [`chat_body`] as its JSONL line, written from borrowed parts.
fn write_chat_line(
    record_id: &str,
    input: &ModelInput,
    tool: Option<&ToolDefinition>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    write_chat_completion(
        record_id,
        input,
        tool,
        "max_tokens",
        open_weight_choice,
        out,
    )
}

fn open_weight_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        // Forcing the one output tool: "required" (the original's choice for both); a named
        // function choice is refused by some open-weight servers.
        ToolChoice::Any | ToolChoice::Tool { .. } => json!("required"),
    }
}

/// `choices[0].message.content` without a `<think>…</think>` (Qwen3) or
/// `<reasoning>…</reasoning>` span; `reasoning_content` (DeepSeek) is a field of its own and
/// never part of it.
fn answer_text(model_output: &Value) -> Option<String> {
    let content = model_output
        .get("choices")?
        .get(0)?
        .get("message")?
        .get("content")?
        .as_str()?;
    Some(strip_span(
        &super::openai::strip_reasoning(content),
        "<think>",
        "</think>",
    ))
}

/// Removes every `open…close` span; an unclosed one runs to the end.
fn strip_span(text: &str, open: &str, close: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        out.push_str(&rest[..start]);
        match rest[start..].find(close) {
            Some(end) => rest = &rest[start + end + close.len()..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_owned()
}

macro_rules! open_weight_adapter {
    ($(#[$doc:meta])* $name:ident, $id:literal, $family:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default)]
        pub struct $name;

        impl RequestWriter for $name {
            fn name(&self) -> &str {
                $id
            }

            fn request_family(&self) -> crate::model::RequestFamily {
                crate::model::RequestFamily::ChatCompletions
            }

            fn prepare_model_input(
                &self,
                input: &ModelInput,
                tool: Option<&ToolDefinition>,
            ) -> Result<Value, Error> {
                chat_body(input, tool)
            }

            fn write_input_line(
                &self,
                record_id: &str,
                input: &ModelInput,
                tool: Option<&ToolDefinition>,
                out: &mut Vec<u8>,
            ) -> Result<(), Error> {
                write_chat_line(record_id, input, tool, out)
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

            fn reask_body(&self, request: &Value, answer: &Value, problem: &str) -> Option<Value> {
                chat_reask(request, answer, problem)
            }
        }

        impl AnswerReader for $name {

            fn validate_result(
                &self,
                model_output: &Value,
                tool: &ToolDefinition,
            ) -> Result<Value, RecordError> {
                chat_tool_input(model_output, tool, $family)
            }

            fn output_text(&self, model_output: &Value) -> Option<String> {
                answer_text(model_output)
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
                super::openai::chat_output_line_fast(line, tool)
            }

            fn stop_reason(&self, model_output: &Value) -> Option<String> {
                chat_stop_reason(model_output)
            }
        }

        impl $name {

            /// The tool in the family's own format.
            pub fn build_tool(&self, tool: &ToolDefinition) -> Value {
                function_tool(tool)
            }
        }
    };
}

open_weight_adapter!(
    /// DeepSeek (V3, V3.1, V3.2: `deepseek.…`) through its chat-completion body.
    DeepSeekAdapter,
    "deepseek",
    "DeepSeek"
);

open_weight_adapter!(
    /// Qwen3 (`qwen.qwen3-…`) through its chat-completion body.
    QwenAdapter,
    "qwen",
    "Qwen"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::test_support::{person_tool, sample_input};

    #[test]
    fn both_write_a_chat_completion_with_max_tokens_and_a_required_tool()
    -> Result<(), Box<dyn std::error::Error>> {
        let tool = person_tool();
        for adapter in [&DeepSeekAdapter as &dyn AnswerReader, &QwenAdapter] {
            let body = adapter.prepare_model_input(&sample_input(), Some(&tool))?;
            assert_eq!(
                body["messages"][0],
                json!({"role": "system", "content": "Extract people."})
            );
            assert_eq!(body["messages"].as_array().map(Vec::len), Some(4));
            assert_eq!(body["max_tokens"], 300);
            assert!(body.get("max_completion_tokens").is_none());
            assert_eq!(body["tool_choice"], "required");
            assert_eq!(
                body["tools"][0]["function"]["parameters"],
                tool.input_schema
            );
        }
        Ok(())
    }

    #[test]
    fn reasoning_is_never_the_answer() -> Result<(), Box<dyn std::error::Error>> {
        let tool = person_tool();
        let deepseek = json!({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null, "reasoning_content": "The user wants {\"name\": \"Bob\"}",
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "Person", "arguments": "{\"name\":\"Ada\"}"}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5}});
        assert_eq!(
            DeepSeekAdapter.validate_result(&deepseek, &tool)?,
            json!({"name": "Ada"})
        );
        assert_eq!(
            DeepSeekAdapter.usage(&deepseek).map(|u| u.output_tokens),
            Some(5)
        );
        let qwen = json!({"choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": "<think>maybe {\"name\": \"Bob\"}</think>{\"name\": \"Ada\"}"}}]});
        assert_eq!(
            QwenAdapter.output_text(&qwen).as_deref(),
            Some("{\"name\": \"Ada\"}")
        );
        assert_eq!(
            QwenAdapter.validate_result(&qwen, &tool),
            Err(RecordError::NoToolCall {
                stop_reason: Some("stop".into())
            })
        );
        assert_eq!(strip_span("a<think>b", "<think>", "</think>"), "a");
        Ok(())
    }
}
