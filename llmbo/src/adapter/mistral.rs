//! Mistral, in both forms the original served: the `[INST]` prompt with the schema in it (the
//! default for Mistral ids) and chat completion with function calling (opt in).

use serde_json::{Map, Value, json};

use super::answer::{as_object, check_stop};
use super::body::{put, tools_and_choice, validate_input};
use super::openai::{
    CHAT_STRATEGIES, chat_messages, chat_reask, chat_stop_reason, chat_text, chat_tool_input,
    chat_usage, function_tool, prepare_chat_output,
};
use super::schema_cache::schema_instruction;
use super::{
    AnswerReader, OutputRequest, OutputStrategy, RequestWriter, Usage, extract_json_object,
};
use crate::error::{Error, RecordError};
use crate::model_input::{ModelInput, Role, ToolChoice};
use crate::output::ToolDefinition;

/// Mistral text completion: `{"prompt": "<s>[INST] … [/INST]", "max_tokens", …}`, answered by
/// `outputs[0].text` (or `choices[0].message.content`) holding the JSON object the prompt asks
/// for. Tools are described in the prompt, since this format has none.
#[derive(Debug, Clone, Default)]
pub struct MistralPromptAdapter;

/// Builds `<s>[INST] … [/INST] answer</s>[INST] … [/INST]`; the system prompt (and schema)
/// opens the first instruction. A final assistant turn is left open, as a prefill.
fn mistral_prompt(input: &ModelInput, preamble: Option<&str>) -> String {
    let size = preamble.map_or(0, str::len)
        + input
            .messages
            .iter()
            .map(|m| m.content.len() + 16)
            .sum::<usize>();
    let mut prompt = String::with_capacity(size + 8);
    prompt.push_str("<s>");
    let mut first_user = true;
    for m in &input.messages {
        match m.role {
            Role::User => {
                prompt.push_str("[INST] ");
                if first_user && let Some(preamble) = preamble {
                    prompt.push_str(preamble);
                    prompt.push_str("\n\n");
                }
                first_user = false;
                prompt.push_str(&m.content);
                prompt.push_str(" [/INST]");
            }
            Role::Assistant => {
                prompt.push(' ');
                prompt.push_str(&m.content);
                prompt.push_str("</s>");
            }
        }
    }
    if input
        .messages
        .last()
        .is_some_and(|m| m.role == Role::Assistant)
    {
        prompt.truncate(prompt.len() - "</s>".len());
    }
    prompt
}

/// The system prompt and, for a structured job, the schema instruction.
fn preamble(input: &ModelInput, tool: Option<&ToolDefinition>) -> Option<String> {
    match (&input.system, tool) {
        (Some(system), Some(tool)) => Some(format!("{system}\n\n{}", schema_instruction(tool))),
        (Some(system), None) => Some(system.clone()),
        (None, Some(tool)) => Some(schema_instruction(tool)),
        (None, None) => None,
    }
}

fn prompt_text(model_output: &Value) -> Option<(&str, Option<&str>)> {
    if let Some(first) = model_output.get("outputs").and_then(|o| o.get(0)) {
        let text = first.get("text")?.as_str()?;
        return Some((text, first.get("stop_reason").and_then(Value::as_str)));
    }
    let choice = model_output.get("choices")?.get(0)?;
    let text = choice.get("message")?.get("content")?.as_str()?;
    let stop = choice
        .get("finish_reason")
        .or_else(|| choice.get("stop_reason"))
        .and_then(Value::as_str);
    Some((text, stop))
}

impl RequestWriter for MistralPromptAdapter {
    fn request_family(&self) -> crate::model::RequestFamily {
        crate::model::RequestFamily::MistralPrompt
    }

    fn name(&self) -> &str {
        "mistral-prompt"
    }

    fn prepare_model_input(
        &self,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error> {
        validate_input(input, tool)?;
        super::media_blocks::text_only("Mistral's prompt", input)?;
        if tool.is_none() && !input.tools.is_empty() {
            return Err(Error::invalid_request(
                "the Mistral prompt format has no tools; use MistralChatAdapter for \
                         function calling",
            ));
        }
        let mut body = Map::new();
        let preamble = preamble(input, tool);
        body.insert(
            "prompt".into(),
            json!(mistral_prompt(input, preamble.as_deref())),
        );
        put(&mut body, "max_tokens", input.max_tokens);
        put(
            &mut body,
            "stop",
            (!input.stop_sequences.is_empty()).then_some(&input.stop_sequences),
        );
        put(&mut body, "temperature", input.temperature);
        put(&mut body, "top_p", input.top_p);
        put(&mut body, "top_k", input.top_k);
        Ok(Value::Object(body))
    }

    /// The same bytes as the body above inside `encode_input_line`, written from borrowed
    /// parts (the prompt is the one string built).
    fn write_input_line(
        &self,
        record_id: &str,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        super::media_blocks::text_only("Mistral's prompt", input)?;
        #[derive(serde::Serialize)]
        struct Body<'a> {
            prompt: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            max_tokens: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            stop: Option<&'a [String]>,
            #[serde(skip_serializing_if = "Option::is_none")]
            temperature: Option<Value>,
            #[serde(skip_serializing_if = "Option::is_none")]
            top_p: Option<Value>,
            #[serde(skip_serializing_if = "Option::is_none")]
            top_k: Option<u32>,
        }
        validate_input(input, tool)?;
        if tool.is_none() && !input.tools.is_empty() {
            return Err(Error::invalid_request(
                "the Mistral prompt format has no tools; use MistralChatAdapter for \
                         function calling",
            ));
        }
        let prompt = mistral_prompt(input, preamble(input, tool).as_deref());
        // Floats go through `Value` as in `prepare_model_input`, so they print the same.
        let line = super::body::InputLine {
            record_id,
            model_input: Body {
                prompt: &prompt,
                max_tokens: input.max_tokens,
                stop: (!input.stop_sequences.is_empty()).then_some(input.stop_sequences.as_slice()),
                temperature: input.temperature.and_then(|t| serde_json::to_value(t).ok()),
                top_p: input.top_p.and_then(|p| serde_json::to_value(p).ok()),
                top_k: input.top_k,
            },
        };
        super::body::write_json_line(&line, out)
    }

    prompt_only_writer!();

    /// `…[/INST] answer</s>[INST] problem [/INST]`.
    fn reask_body(&self, request: &Value, answer: &Value, problem: &str) -> Option<Value> {
        let mut body = request.clone();
        let prompt = body.get("prompt")?.as_str()?;
        let (text, _) = prompt_text(answer).unwrap_or(("", None));
        let next = format!("{prompt} {text}</s>[INST] {problem} [/INST]");
        body.as_object_mut()?
            .insert("prompt".into(), Value::String(next));
        Some(body)
    }
}

impl AnswerReader for MistralPromptAdapter {
    fn validate_result(
        &self,
        model_output: &Value,
        _tool: &ToolDefinition,
    ) -> Result<Value, RecordError> {
        as_object(model_output, "Mistral")?;
        let (text, stop) =
            prompt_text(model_output).ok_or_else(|| RecordError::MalformedOutput {
                message: "a Mistral response has `outputs[0].text`, this has none".into(),
            })?;
        check_stop(stop)?;
        extract_json_object(text)
    }

    fn output_text(&self, model_output: &Value) -> Option<String> {
        prompt_text(model_output).map(|(text, _)| text.to_owned())
    }

    fn usage(&self, model_output: &Value) -> Option<Usage> {
        // The text-completion response carries no token counts; the chat form does.
        chat_usage(model_output)
    }

    /// Either response shape read in one pass: the text's first JSON object, where the stop
    /// reason passes.
    fn output_line_fast<'a>(
        &self,
        line: &'a str,
        _tool: &ToolDefinition,
    ) -> Option<(
        std::borrow::Cow<'a, str>,
        std::borrow::Cow<'a, serde_json::value::RawValue>,
        Option<Usage>,
    )> {
        use std::borrow::Cow;
        #[derive(serde::Deserialize)]
        struct Answer<'a> {
            #[serde(borrow)]
            outputs: Option<Vec<Completion<'a>>>,
            #[serde(borrow)]
            choices: Option<Vec<Choice<'a>>>,
            usage: Option<ChatUsage>,
        }
        #[derive(serde::Deserialize)]
        struct Completion<'a> {
            #[serde(borrow)]
            text: Cow<'a, str>,
            #[serde(borrow)]
            stop_reason: Option<Cow<'a, str>>,
        }
        #[derive(serde::Deserialize)]
        struct Choice<'a> {
            #[serde(borrow)]
            message: Message<'a>,
            #[serde(borrow)]
            finish_reason: Option<Cow<'a, str>>,
            #[serde(borrow)]
            stop_reason: Option<Cow<'a, str>>,
        }
        #[derive(serde::Deserialize)]
        struct Message<'a> {
            #[serde(borrow)]
            content: Cow<'a, str>,
        }
        #[derive(serde::Deserialize)]
        struct ChatUsage {
            prompt_tokens: Option<u64>,
            completion_tokens: Option<u64>,
        }
        let (record_id, answer): (_, Answer<'a>) = super::answer::fast_line(line)?;
        let (text, stop) = match answer.outputs.as_deref() {
            Some([first, ..]) => (&first.text, first.stop_reason.as_deref()),
            _ => {
                let choice = answer.choices.as_deref()?.first()?;
                // (`finish_reason: null` beside a `stop_reason` reads as no stop reason in the
                // general path; taking the `stop_reason` here is stricter, and what it refuses
                // goes to the general path.)
                let stop = choice
                    .finish_reason
                    .as_ref()
                    .or(choice.stop_reason.as_ref());
                (&choice.message.content, stop.map(Cow::as_ref))
            }
        };
        check_stop(stop).ok()?;
        let input = super::json_text::first_object_raw(text)?;
        let usage = answer.usage.and_then(|u| {
            Some(Usage {
                input_tokens: u.prompt_tokens?,
                output_tokens: u.completion_tokens?,
            })
        });
        Some((record_id, Cow::Owned(input), usage))
    }

    prompt_only_reader!();

    fn stop_reason(&self, model_output: &Value) -> Option<String> {
        prompt_text(model_output).and_then(|(_, stop)| stop.map(str::to_owned))
    }
}

impl MistralPromptAdapter {
    /// The tool in the family's own format.
    pub fn build_tool(&self, tool: &ToolDefinition) -> Value {
        Value::String(schema_instruction(tool))
    }
}

/// Mistral chat completion with function calling: `messages`, `tools` of type function and
/// `tool_choice: "any"` (Mistral cannot force a named tool), answered in
/// `choices[0].message.tool_calls[0].function.arguments`.
#[derive(Debug, Clone, Default)]
pub struct MistralChatAdapter;

impl RequestWriter for MistralChatAdapter {
    fn request_family(&self) -> crate::model::RequestFamily {
        crate::model::RequestFamily::ChatCompletions
    }

    fn name(&self) -> &str {
        "mistral-chat"
    }

    fn prepare_model_input(
        &self,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error> {
        validate_input(input, tool)?;
        let mut body = Map::new();
        body.insert(
            "messages".into(),
            chat_messages(input, input.system.as_deref())?,
        );
        let (tools, choice) = tools_and_choice(input, tool);
        if !tools.is_empty() {
            let tools: Vec<Value> = tools.into_iter().map(function_tool).collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        if let Some(choice) = choice {
            let choice = match choice {
                ToolChoice::Auto => "auto",
                ToolChoice::Any | ToolChoice::Tool { .. } => "any",
            };
            body.insert("tool_choice".into(), json!(choice));
        }
        put(&mut body, "max_tokens", input.max_tokens);
        put(&mut body, "temperature", input.temperature);
        put(&mut body, "top_p", input.top_p);
        Ok(Value::Object(body))
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

impl AnswerReader for MistralChatAdapter {
    fn validate_result(
        &self,
        model_output: &Value,
        tool: &ToolDefinition,
    ) -> Result<Value, RecordError> {
        chat_tool_input(model_output, tool, "Mistral")
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
        super::openai::chat_output_line_fast(line, tool)
    }

    fn stop_reason(&self, model_output: &Value) -> Option<String> {
        chat_stop_reason(model_output)
    }
}

impl MistralChatAdapter {
    /// The tool in the family's own format.
    pub fn build_tool(&self, tool: &ToolDefinition) -> Value {
        function_tool(tool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::test_support::{person_tool, sample_input};

    #[test]
    fn builds_the_inst_prompt_with_the_schema_once() -> Result<(), Box<dyn std::error::Error>> {
        let tool = person_tool();
        let body = MistralPromptAdapter.prepare_model_input(&sample_input(), Some(&tool))?;
        let prompt = body["prompt"].as_str().ok_or("expected value missing")?;
        assert!(
            prompt
                .starts_with("<s>[INST] Extract people.\n\nA person.\nAnswer with one JSON object")
        );
        assert_eq!(prompt.matches(r#"{"type":"object""#).count(), 1, "{prompt}");
        assert!(
            prompt.ends_with("\n\nAda is 36. [/INST] Noted.</s>[INST] Extract. [/INST]"),
            "{prompt}"
        );
        assert_eq!(body["max_tokens"], 300);
        assert_eq!(body["stop"], json!(["END"]));
        assert_eq!(body["temperature"], 0.0);
        assert_eq!(body["top_p"], 0.5);
        assert_eq!(body["top_k"], 40);
        assert_eq!(body.as_object().ok_or("expected value missing")?.len(), 6);
        Ok(())
    }

    #[test]
    fn finds_the_json_in_either_response_shape() -> Result<(), Box<dyn std::error::Error>> {
        let tool = person_tool();
        let outputs = json!({"outputs": [{"text": "Sure:\n```json\n{\"name\": \"Ada\"}\n```", "stop_reason": "stop"}]});
        assert_eq!(
            MistralPromptAdapter.validate_result(&outputs, &tool)?,
            json!({"name": "Ada"})
        );
        let choices = json!({"choices": [{"message": {"content": "{\"name\": \"Bo\"}"}, "finish_reason": "stop"}]});
        assert_eq!(
            MistralPromptAdapter.validate_result(&choices, &tool)?,
            json!({"name": "Bo"})
        );
        let cut = json!({"outputs": [{"text": "{\"name\": \"A", "stop_reason": "length"}]});
        assert_eq!(
            MistralPromptAdapter.validate_result(&cut, &tool),
            Err(RecordError::Truncated)
        );
        let prose = json!({"outputs": [{"text": "I cannot help.", "stop_reason": "stop"}]});
        assert!(matches!(
            MistralPromptAdapter.validate_result(&prose, &tool),
            Err(RecordError::ToolInputNotJson { .. })
        ));
        Ok(())
    }

    #[test]
    fn chat_form_uses_any_tool_and_reads_tool_calls() -> Result<(), Box<dyn std::error::Error>> {
        let tool = person_tool();
        let body = MistralChatAdapter.prepare_model_input(&sample_input(), Some(&tool))?;
        assert_eq!(body["tool_choice"], "any");
        assert_eq!(body["tools"][0]["function"]["name"], "Person");
        assert_eq!(
            body["messages"][0],
            json!({"role": "system", "content": "Extract people."})
        );
        assert_eq!(body["max_tokens"], 300);
        let answer = json!({"choices": [{"message": {"role": "assistant", "content": "",
            "tool_calls": [{"id": "a", "function": {"name": "Person", "arguments": "{\"name\":\"Ada\"}"}}]},
            "stop_reason": "tool_calls"}]});
        assert_eq!(
            MistralChatAdapter.validate_result(&answer, &tool)?,
            json!({"name": "Ada"})
        );
        Ok(())
    }
}
