//! Google's Gemini models (llmbo's id `google.<model>`), through the Gemini API's
//! `GenerateContentRequest` (Google, "Generating content",
//! <https://ai.google.dev/api/generate-content>, and "Structured output",
//! <https://ai.google.dev/gemini-api/docs/structured-output>): `contents` of `user` and `model`
//! turns made of `parts`, `systemInstruction`, `generationConfig`, and `tools` of
//! `functionDeclarations` forced by `toolConfig.functionCallingConfig`. Answered by a
//! `GenerateContentResponse`: `candidates[0].content.parts` (text, or `functionCall` with
//! `args`), `finishReason`, `usageMetadata`.

use serde_json::{Map, Value, json};

use super::answer::count;
use super::body::{
    put, tools_and_choice, unwritten, validate_input, with_schema_prompt, without_tools,
};
use super::{AnswerReader, OutputRequest, OutputStrategy, RequestWriter, Usage};
use crate::error::{Error, RecordError};
use crate::model_input::{ModelInput, Role, ToolChoice};
use crate::output::ToolDefinition;

/// Gemini's `GenerateContentRequest` bodies.
#[derive(Debug, Clone, Default)]
pub struct GeminiAdapter;

/// A function declaration of a tool: its schema as JSON Schema (`parametersJsonSchema`),
/// which takes what the derive makes as it is.
fn declaration(tool: &ToolDefinition) -> Value {
    json!({
        "name": tool.name,
        "description": tool.description,
        "parametersJsonSchema": tool.input_schema,
    })
}

/// A body of [`GeminiAdapter`] for a record of text alone, written from borrowed parts: the
/// same bytes as its `Value`, member for member, without building it.
struct GeminiBody<'a> {
    input: &'a ModelInput,
    tools: &'a [&'a ToolDefinition],
    choice: Option<ToolChoice>,
    /// JsonSchema's `responseJsonSchema` of this tool.
    json_schema: Option<&'a ToolDefinition>,
}

/// Whether every turn of `input` is plain text (no parts): what [`GeminiBody`] writes.
fn text_only(input: &ModelInput) -> bool {
    input.messages.iter().all(|m| m.parts.is_empty())
}

impl serde::Serialize for GeminiBody<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Turn<'a>(&'a crate::model_input::Message);
        impl serde::Serialize for Turn<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let role = match self.0.role {
                    Role::User => "user",
                    Role::Assistant => "model",
                };
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("role", role)?;
                map.serialize_entry("parts", &[Text(&self.0.content)])?;
                map.end()
            }
        }
        struct Text<'a>(&'a str);
        impl serde::Serialize for Text<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("text", self.0)?;
                map.end()
            }
        }
        struct Parts<'a>(&'a str);
        impl serde::Serialize for Parts<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("parts", &[Text(self.0)])?;
                map.end()
            }
        }
        struct Config<'a>(&'a ModelInput, Option<&'a ToolDefinition>);
        impl Config<'_> {
            fn is_empty(&self) -> bool {
                let input = self.0;
                self.1.is_none()
                    && input.max_tokens.is_none()
                    && input.temperature.is_none()
                    && input.top_p.is_none()
                    && input.top_k.is_none()
                    && input.stop_sequences.is_empty()
            }
        }
        impl serde::Serialize for Config<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let input = self.0;
                let mut map = serializer.serialize_map(None)?;
                if let Some(n) = input.max_tokens {
                    map.serialize_entry("maxOutputTokens", &n)?;
                }
                // Floats go through `Value`, as `put` writes them.
                for (key, value) in [("temperature", input.temperature), ("topP", input.top_p)] {
                    if let Some(value) = value.and_then(|v| serde_json::to_value(v).ok()) {
                        map.serialize_entry(key, &value)?;
                    }
                }
                if let Some(k) = input.top_k {
                    map.serialize_entry("topK", &k)?;
                }
                if !input.stop_sequences.is_empty() {
                    map.serialize_entry("stopSequences", &input.stop_sequences)?;
                }
                if let Some(tool) = self.1 {
                    map.serialize_entry("responseMimeType", "application/json")?;
                    map.serialize_entry(
                        "responseJsonSchema",
                        &super::schema_cache::SchemaJson(&tool.input_schema),
                    )?;
                }
                map.end()
            }
        }
        struct Declaration<'a>(&'a ToolDefinition);
        impl serde::Serialize for Declaration<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("name", &self.0.name)?;
                map.serialize_entry("description", &self.0.description)?;
                map.serialize_entry(
                    "parametersJsonSchema",
                    &super::schema_cache::SchemaJson(&self.0.input_schema),
                )?;
                map.end()
            }
        }
        let input = self.input;
        let mut map = serializer.serialize_map(None)?;
        let turns: Vec<Turn<'_>> = input.messages.iter().map(Turn).collect();
        map.serialize_entry("contents", &turns)?;
        if let Some(system) = &input.system {
            map.serialize_entry("systemInstruction", &Parts(system))?;
        }
        let config = Config(input, self.json_schema);
        if !config.is_empty() {
            map.serialize_entry("generationConfig", &config)?;
        }
        if !self.tools.is_empty() {
            let declarations: Vec<Declaration<'_>> =
                self.tools.iter().map(|t| Declaration(t)).collect();
            map.serialize_entry("tools", &[FunctionDeclarations(&declarations)])?;
            let calling = match &self.choice {
                None | Some(ToolChoice::Auto) => json!({"mode": "AUTO"}),
                Some(ToolChoice::Any) => json!({"mode": "ANY"}),
                Some(ToolChoice::Tool { name }) => {
                    json!({"mode": "ANY", "allowedFunctionNames": [name]})
                }
            };
            map.serialize_entry("toolConfig", &json!({"functionCallingConfig": calling}))?;
        }
        map.end()
    }
}

/// `{"functionDeclarations": [...]}`.
struct FunctionDeclarations<'a, D>(&'a [D]);

impl<D: serde::Serialize> serde::Serialize for FunctionDeclarations<'_, D> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("functionDeclarations", self.0)?;
        map.end()
    }
}

/// Writes the line of a record of text alone from its borrowed parts.
fn write_direct(record_id: &str, body: GeminiBody<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    super::body::write_json_line(
        &super::body::InputLine {
            record_id,
            model_input: body,
        },
        out,
    )
}

impl RequestWriter for GeminiAdapter {
    fn name(&self) -> &str {
        "gemini"
    }

    fn write_input_line(
        &self,
        record_id: &str,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        if !text_only(input) {
            let body = self.prepare_model_input(input, tool)?;
            crate::jsonl::encode_input_line(record_id, &body, out);
            return Ok(());
        }
        validate_input(input, tool)?;
        let (tools, choice) = tools_and_choice(input, tool);
        let body = GeminiBody {
            input,
            tools: &tools,
            choice,
            json_schema: None,
        };
        write_direct(record_id, body, out)
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
            text_only(input),
            |out| {
                validate_input(input, Some(output.sent))?;
                let body = GeminiBody {
                    input,
                    tools: &[],
                    choice: None,
                    json_schema: Some(output.sent),
                };
                write_direct(record_id, body, out)
            },
            out,
        )
    }

    fn prepare_model_input(
        &self,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error> {
        validate_input(input, tool)?;
        let contents = input
            .messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    Role::User => "user",
                    Role::Assistant => "model",
                };
                Ok(json!({"role": role, "parts": super::media_blocks::gemini(m)?}))
            })
            .collect::<Result<Vec<Value>, Error>>()?;
        let mut body = Map::new();
        body.insert("contents".into(), Value::Array(contents));
        if let Some(system) = &input.system {
            body.insert(
                "systemInstruction".into(),
                json!({"parts": [{"text": system}]}),
            );
        }
        let mut config = Map::new();
        put(&mut config, "maxOutputTokens", input.max_tokens);
        put(&mut config, "temperature", input.temperature);
        put(&mut config, "topP", input.top_p);
        put(&mut config, "topK", input.top_k);
        put(
            &mut config,
            "stopSequences",
            (!input.stop_sequences.is_empty()).then_some(&input.stop_sequences),
        );
        if !config.is_empty() {
            body.insert("generationConfig".into(), Value::Object(config));
        }
        let (tools, choice) = tools_and_choice(input, tool);
        if !tools.is_empty() {
            let declarations: Vec<Value> = tools.iter().map(|t| declaration(t)).collect();
            body.insert(
                "tools".into(),
                json!([{"functionDeclarations": declarations}]),
            );
            let calling = match choice {
                None | Some(ToolChoice::Auto) => json!({"mode": "AUTO"}),
                Some(ToolChoice::Any) => json!({"mode": "ANY"}),
                Some(ToolChoice::Tool { name }) => {
                    json!({"mode": "ANY", "allowedFunctionNames": [name]})
                }
            };
            body.insert(
                "toolConfig".into(),
                json!({"functionCallingConfig": calling}),
            );
        }
        Ok(Value::Object(body))
    }

    /// Native structured output (`responseMimeType: application/json` with
    /// `responseJsonSchema`), a forced function, or the schema in the system instruction.
    fn strategies(&self) -> &'static [OutputStrategy] {
        &[
            OutputStrategy::JsonSchema,
            OutputStrategy::ForcedTool,
            OutputStrategy::JsonInPrompt,
        ]
    }

    fn prepare_output(
        &self,
        input: &ModelInput,
        output: OutputRequest<'_>,
    ) -> Result<Value, Error> {
        match output.strategy {
            OutputStrategy::ForcedTool => self.prepare_model_input(input, Some(output.sent)),
            OutputStrategy::JsonSchema => {
                let mut body =
                    self.prepare_model_input(&without_tools(input, output.sent)?, None)?;
                if let Some(body) = body.as_object_mut() {
                    let config = body
                        .entry("generationConfig")
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Some(config) = config.as_object_mut() {
                        config.insert("responseMimeType".into(), json!("application/json"));
                        config.insert(
                            "responseJsonSchema".into(),
                            output.sent.input_schema.clone(),
                        );
                    }
                }
                Ok(body)
            }
            OutputStrategy::JsonInPrompt => {
                self.prepare_model_input(&with_schema_prompt(input, output.sent)?, None)
            }
            other => Err(unwritten(self.name(), other)),
        }
    }

    /// The request's `contents`, then the model's own turn (its first candidate's content),
    /// then a user turn: a `functionResponse` with the problem for each call it made, or the
    /// problem as text (Google, "Function calling",
    /// <https://ai.google.dev/gemini-api/docs/function-calling>).
    fn reask_body(&self, request: &Value, answer: &Value, problem: &str) -> Option<Value> {
        let mut body = request.clone();
        let contents = body.get_mut("contents")?.as_array_mut()?;
        let said = answer
            .pointer("/candidates/0/content/parts")
            .and_then(Value::as_array)
            .filter(|parts| !parts.is_empty())
            .cloned()
            .unwrap_or_else(|| vec![json!({"text": "(no answer)"})]);
        let responses: Vec<Value> = said
            .iter()
            .filter_map(|part| part.pointer("/functionCall/name"))
            .map(|name| json!({"functionResponse": {"name": name, "response": {"error": problem}}}))
            .collect();
        contents.push(json!({"role": "model", "parts": said}));
        if responses.is_empty() {
            contents.push(json!({"role": "user", "parts": [{"text": problem}]}));
        } else {
            contents.push(json!({"role": "user", "parts": responses}));
        }
        Some(body)
    }
}

/// The first candidate's parts, or why there are none.
fn parts(model_output: &Value) -> Result<&Vec<Value>, RecordError> {
    model_output
        .get("candidates")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("content"))
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .ok_or_else(|| RecordError::MalformedOutput {
            message: "the Gemini answer has no candidates[0].content.parts".into(),
        })
}

impl AnswerReader for GeminiAdapter {
    fn validate_result(
        &self,
        model_output: &Value,
        tool: &ToolDefinition,
    ) -> Result<Value, RecordError> {
        super::answer::check_stop(self.stop_reason(model_output).as_deref())?;
        let calls: Vec<&Value> = parts(model_output)?
            .iter()
            .filter_map(|p| p.get("functionCall"))
            .collect();
        match calls.as_slice() {
            [] => Err(RecordError::NoToolCall {
                stop_reason: self.stop_reason(model_output),
            }),
            [call] => {
                let name = call.get("name").and_then(Value::as_str).unwrap_or_default();
                if name != tool.name {
                    return Err(RecordError::WrongTool {
                        expected: tool.name.clone(),
                        found: name.to_owned(),
                    });
                }
                match call.get("args") {
                    Some(args @ Value::Object(_)) => Ok(args.clone()),
                    None => Ok(json!({})),
                    Some(_) => Err(RecordError::ToolInputNotJson {
                        message: "the function call's args are not a JSON object".into(),
                    }),
                }
            }
            more => Err(RecordError::MultipleToolCalls { count: more.len() }),
        }
    }

    /// The text parts, without the model's thoughts (`thought: true`).
    fn output_text(&self, model_output: &Value) -> Option<String> {
        let parts = parts(model_output).ok()?;
        let texts: Vec<&str> = parts
            .iter()
            .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        (!texts.is_empty()).then(|| texts.concat())
    }

    fn usage(&self, model_output: &Value) -> Option<Usage> {
        let usage = model_output.get("usageMetadata")?;
        let thoughts = count(usage.get("thoughtsTokenCount")).unwrap_or(0);
        Some(Usage {
            input_tokens: count(usage.get("promptTokenCount"))?,
            output_tokens: count(usage.get("candidatesTokenCount")).unwrap_or(0) + thoughts,
        })
    }

    /// The first candidate's text parts (no thoughts), when it finished with `STOP`.
    fn answer_text_line_fast<'a>(
        &self,
        line: &'a str,
    ) -> Option<(
        std::borrow::Cow<'a, str>,
        std::borrow::Cow<'a, str>,
        Option<Usage>,
    )> {
        use std::borrow::Cow;
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer<'a> {
            #[serde(borrow)]
            candidates: Vec<Candidate<'a>>,
            #[serde(default)]
            usage_metadata: Option<UsageMetadata>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Candidate<'a> {
            #[serde(borrow)]
            content: Content<'a>,
            #[serde(borrow)]
            finish_reason: Option<Cow<'a, str>>,
        }
        #[derive(serde::Deserialize)]
        struct Content<'a> {
            #[serde(borrow)]
            parts: Vec<Part<'a>>,
        }
        #[derive(serde::Deserialize)]
        struct Part<'a> {
            #[serde(borrow, default)]
            text: Option<Cow<'a, str>>,
            #[serde(default)]
            thought: Option<bool>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct UsageMetadata {
            prompt_token_count: Option<u64>,
            candidates_token_count: Option<u64>,
            thoughts_token_count: Option<u64>,
        }
        let (record_id, answer): (_, Answer<'a>) = super::answer::fast_line(line)?;
        let candidate = answer.candidates.into_iter().next()?;
        if candidate.finish_reason.as_deref() != Some("STOP") {
            return None;
        }
        let mut texts = candidate
            .content
            .parts
            .into_iter()
            .filter(|p| p.thought != Some(true))
            .filter_map(|p| p.text);
        let first = texts.next()?;
        let text = match texts.next() {
            None => first,
            Some(second) => {
                let mut all = first.into_owned();
                all.push_str(&second);
                texts.for_each(|t| all.push_str(&t));
                Cow::Owned(all)
            }
        };
        let usage = answer.usage_metadata.and_then(|u| {
            Some(Usage {
                input_tokens: u.prompt_token_count?,
                output_tokens: u.candidates_token_count.unwrap_or(0)
                    + u.thoughts_token_count.unwrap_or(0),
            })
        });
        Some((record_id, text, usage))
    }

    /// `finishReason` in the words the other families use: `MAX_TOKENS` is `max_tokens`, the
    /// safety and recitation stops `content_filtered`, a malformed function call
    /// `malformed_tool_use`; any other as Gemini writes it.
    fn stop_reason(&self, model_output: &Value) -> Option<String> {
        let reason = model_output
            .get("candidates")?
            .get(0)?
            .get("finishReason")?
            .as_str()?;
        Some(
            match reason {
                "MAX_TOKENS" => "max_tokens",
                "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII"
                | "IMAGE_SAFETY" => "content_filtered",
                "MALFORMED_FUNCTION_CALL" => "malformed_tool_use",
                other => other,
            }
            .to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::test_support::{person_tool, sample_input};

    #[test]
    fn writes_the_generate_content_body() -> Result<(), Box<dyn std::error::Error>> {
        let tool = person_tool();
        let body = GeminiAdapter.prepare_model_input(&sample_input(), Some(&tool))?;
        assert_eq!(
            body["contents"],
            json!([{"role": "user", "parts": [{"text": "Ada is 36."}]},
                   {"role": "model", "parts": [{"text": "Noted."}]},
                   {"role": "user", "parts": [{"text": "Extract."}]}])
        );
        assert_eq!(
            body["systemInstruction"],
            json!({"parts": [{"text": "Extract people."}]})
        );
        assert_eq!(body["generationConfig"]["maxOutputTokens"], 300);
        assert_eq!(body["generationConfig"]["stopSequences"], json!(["END"]));
        assert_eq!(
            body["tools"],
            json!([{"functionDeclarations": [{"name": "Person", "description": "A person.",
                    "parametersJsonSchema": tool.input_schema}]}])
        );
        assert_eq!(
            body["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["Person"]}})
        );
        Ok(())
    }

    fn answer(parts: Value, finish: &str) -> Value {
        json!({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish}],
               "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 9, "thoughtsTokenCount": 3}})
    }

    #[test]
    fn reads_function_calls_text_and_stops() -> Result<(), Box<dyn std::error::Error>> {
        let tool = person_tool();
        let call = |name: &str| json!({"functionCall": {"name": name, "args": {"name": "Ada"}}});
        let ok = answer(json!([call("Person")]), "STOP");
        assert_eq!(
            GeminiAdapter.validate_result(&ok, &tool)?,
            json!({"name": "Ada"})
        );
        assert_eq!(
            GeminiAdapter.usage(&ok),
            Some(Usage {
                input_tokens: 40,
                output_tokens: 12
            })
        );
        assert!(matches!(
            GeminiAdapter.validate_result(&answer(json!([call("Other")]), "STOP"), &tool),
            Err(RecordError::WrongTool { .. })
        ));
        assert!(matches!(
            GeminiAdapter.validate_result(
                &answer(json!([call("Person"), call("Person")]), "STOP"),
                &tool
            ),
            Err(RecordError::MultipleToolCalls { count: 2 })
        ));
        assert!(matches!(
            GeminiAdapter.validate_result(&answer(json!([{"text": "no"}]), "STOP"), &tool),
            Err(RecordError::NoToolCall { .. })
        ));
        assert_eq!(
            GeminiAdapter.validate_result(&answer(json!([call("Person")]), "MAX_TOKENS"), &tool),
            Err(RecordError::Truncated)
        );
        let text = answer(
            json!([{"text": "thinking", "thought": true}, {"text": "{\"name\":"}, {"text": "\"Ada\"}"}]),
            "STOP",
        );
        assert_eq!(
            GeminiAdapter.output_text(&text).as_deref(),
            Some("{\"name\":\"Ada\"}")
        );
        Ok(())
    }

    #[test]
    fn a_reask_answers_each_call_with_the_problem() -> Result<(), Box<dyn std::error::Error>> {
        let request = json!({"contents": [{"role": "user", "parts": [{"text": "Ada, 36."}]}]});
        let called = answer(
            json!([{"functionCall": {"name": "Person", "args": {}}}]),
            "STOP",
        );
        let body = GeminiAdapter
            .reask_body(&request, &called, "name is required")
            .ok_or("no re-ask")?;
        assert_eq!(
            body["contents"],
            json!([{"role": "user", "parts": [{"text": "Ada, 36."}]},
                   {"role": "model", "parts": [{"functionCall": {"name": "Person", "args": {}}}]},
                   {"role": "user", "parts": [{"functionResponse": {"name": "Person",
                       "response": {"error": "name is required"}}}]}])
        );
        let said = answer(json!([{"text": "Ada"}]), "STOP");
        let body = GeminiAdapter
            .reask_body(&request, &said, "not JSON")
            .ok_or("no re-ask")?;
        assert_eq!(
            body["contents"][2],
            json!({"role": "user", "parts": [{"text": "not JSON"}]})
        );
        Ok(())
    }
}
