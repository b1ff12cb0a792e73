//! Meta Llama 3.x and 4 through the prompt-string body, with the schema in the prompt.

use serde_json::{Map, Value, json};

use super::answer::{as_object, check_stop, count};
use super::body::{put, validate_input};
use super::schema_cache::schema_instruction;
use super::{
    AnswerReader, OutputRequest, OutputStrategy, RequestWriter, Usage, extract_json_object,
};
use crate::error::{Error, RecordError};
use crate::model_input::{ModelInput, Role};
use crate::output::ToolDefinition;

/// Llama's body: `{"prompt": <Llama 3 chat template>, "max_gen_len", "temperature", "top_p"}`,
/// answered by `{"generation", "prompt_token_count", "generation_token_count", "stop_reason"}`.
/// Structured jobs put the schema in the system turn and read the first JSON object of the
/// generation. Llama on Bedrock takes no `top_k` or stop sequences; they are left out.
#[derive(Debug, Clone, Default)]
pub struct LlamaAdapter;

fn header(prompt: &mut String, role: &str) {
    prompt.push_str("<|start_header_id|>");
    prompt.push_str(role);
    prompt.push_str("<|end_header_id|>\n\n");
}

/// The prompt, and the base64 bytes of each image it marks with `<|image|>` (Llama 3.2
/// vision and Llama 4).
fn llama_prompt(input: &ModelInput, system: Option<&str>) -> Result<(String, Vec<Value>), Error> {
    let mut images = Vec::new();
    let mut prompt = String::from("<|begin_of_text|>");
    if let Some(system) = system {
        header(&mut prompt, "system");
        prompt.push_str(system);
        prompt.push_str("<|eot_id|>");
    }
    let ends_with_assistant = input
        .messages
        .last()
        .is_some_and(|m| m.role == Role::Assistant);
    for (i, m) in input.messages.iter().enumerate() {
        header(
            &mut prompt,
            match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            },
        );
        prompt.push_str(&super::media_blocks::llama(m, &mut images)?);
        // A final assistant turn stays open: the model continues it.
        if !(ends_with_assistant && i + 1 == input.messages.len()) {
            prompt.push_str("<|eot_id|>");
        }
    }
    if !ends_with_assistant {
        header(&mut prompt, "assistant");
    }
    Ok((prompt, images))
}

impl RequestWriter for LlamaAdapter {
    fn request_family(&self) -> crate::model::RequestFamily {
        crate::model::RequestFamily::LlamaPrompt
    }

    fn name(&self) -> &str {
        "meta-llama"
    }

    fn prepare_model_input(
        &self,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error> {
        validate_input(input, tool)?;
        if tool.is_none() && !input.tools.is_empty() {
            return Err(Error::invalid_request(
                "the Llama prompt format has no tools; use a structured job instead",
            ));
        }
        let system: Option<String> = match (&input.system, tool) {
            (Some(system), Some(tool)) => Some(format!("{system}\n\n{}", schema_instruction(tool))),
            (None, Some(tool)) => Some(schema_instruction(tool)),
            (system, None) => system.clone(),
        };
        let mut body = Map::new();
        let (prompt, images) = llama_prompt(input, system.as_deref())?;
        body.insert("prompt".into(), json!(prompt));
        if !images.is_empty() {
            body.insert("images".into(), Value::Array(images));
        }
        put(&mut body, "max_gen_len", input.max_tokens);
        put(&mut body, "temperature", input.temperature);
        put(&mut body, "top_p", input.top_p);
        Ok(Value::Object(body))
    }

    prompt_only_writer!();

    /// The prompt, the generation and its end, a user turn with the problem, an open
    /// assistant turn.
    fn reask_body(&self, request: &Value, answer: &Value, problem: &str) -> Option<Value> {
        let mut body = request.clone();
        let prompt = body.get("prompt")?.as_str()?;
        let generation = answer
            .get("generation")
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut next = format!("{prompt}{generation}<|eot_id|>");
        header(&mut next, "user");
        next.push_str(problem);
        next.push_str("<|eot_id|>");
        header(&mut next, "assistant");
        body.as_object_mut()?
            .insert("prompt".into(), Value::String(next));
        Some(body)
    }
}

impl AnswerReader for LlamaAdapter {
    fn validate_result(
        &self,
        model_output: &Value,
        _tool: &ToolDefinition,
    ) -> Result<Value, RecordError> {
        let output = as_object(model_output, "Llama")?;
        let text = output
            .get("generation")
            .and_then(Value::as_str)
            .ok_or_else(|| RecordError::MalformedOutput {
                message: "a Llama response has a `generation` string, this has none".into(),
            })?;
        check_stop(output.get("stop_reason").and_then(Value::as_str))?;
        extract_json_object(text)
    }

    fn output_text(&self, model_output: &Value) -> Option<String> {
        model_output.get("generation")?.as_str().map(str::to_owned)
    }

    fn usage(&self, model_output: &Value) -> Option<Usage> {
        Some(Usage {
            input_tokens: count(model_output.get("prompt_token_count"))?,
            output_tokens: count(model_output.get("generation_token_count"))?,
        })
    }

    /// The generation read in one pass: its first JSON object, where the stop reason passes.
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
            generation: Cow<'a, str>,
            #[serde(borrow)]
            stop_reason: Option<Cow<'a, str>>,
            prompt_token_count: Option<u64>,
            generation_token_count: Option<u64>,
        }
        let (record_id, answer): (_, Answer<'a>) = super::answer::fast_line(line)?;
        check_stop(answer.stop_reason.as_deref()).ok()?;
        let input = super::json_text::first_object_raw(&answer.generation)?;
        let usage = answer
            .prompt_token_count
            .zip(answer.generation_token_count)
            .map(|(input_tokens, output_tokens)| Usage {
                input_tokens,
                output_tokens,
            });
        Some((record_id, Cow::Owned(input), usage))
    }

    prompt_only_reader!();

    fn stop_reason(&self, model_output: &Value) -> Option<String> {
        Some(model_output.get("stop_reason")?.as_str()?.to_owned())
    }
}

impl LlamaAdapter {
    /// The tool in the family's own format.
    pub fn build_tool(&self, tool: &ToolDefinition) -> Value {
        Value::String(schema_instruction(tool))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::test_support::{person_tool, sample_input};

    #[test]
    fn builds_the_llama_3_template() -> Result<(), Box<dyn std::error::Error>> {
        let body = LlamaAdapter.prepare_model_input(
            &ModelInput::new()
                .system("Be brief.")
                .user("Hi")
                .max_tokens(64),
            None,
        )?;
        assert_eq!(
            body,
            json!({"prompt": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>\
                              <|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
                              <|start_header_id|>assistant<|end_header_id|>\n\n",
                   "max_gen_len": 64})
        );
        Ok(())
    }

    #[test]
    fn structured_body_carries_the_schema_and_supported_parameters()
    -> Result<(), Box<dyn std::error::Error>> {
        let tool = person_tool();
        let body = LlamaAdapter.prepare_model_input(&sample_input(), Some(&tool))?;
        let prompt = body["prompt"].as_str().ok_or("expected value missing")?;
        assert!(prompt.contains("Extract people.\n\nA person.\nAnswer with one JSON object"));
        assert_eq!(prompt.matches("\"required\"").count(), 1);
        assert!(
            prompt.ends_with("Extract.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        );
        assert_eq!(body["max_gen_len"], 300);
        assert_eq!(body["temperature"], 0.0);
        assert_eq!(body["top_p"], 0.5);
        assert_eq!(body.as_object().ok_or("expected value missing")?.len(), 4);
        Ok(())
    }

    #[test]
    fn reads_the_generation() -> Result<(), Box<dyn std::error::Error>> {
        let tool = person_tool();
        let ok = json!({"generation": "Here you go: {\"name\": \"Ada\"}", "prompt_token_count": 80,
                        "generation_token_count": 10, "stop_reason": "stop"});
        assert_eq!(
            LlamaAdapter.validate_result(&ok, &tool)?,
            json!({"name": "Ada"})
        );
        assert_eq!(
            LlamaAdapter.usage(&ok),
            Some(Usage {
                input_tokens: 80,
                output_tokens: 10
            })
        );
        let cut = json!({"generation": "{\"na", "stop_reason": "length"});
        assert_eq!(
            LlamaAdapter.validate_result(&cut, &tool),
            Err(RecordError::Truncated)
        );
        assert!(matches!(
            LlamaAdapter.validate_result(&json!({"outputs": []}), &tool),
            Err(RecordError::MalformedOutput { .. })
        ));
        Ok(())
    }
}
