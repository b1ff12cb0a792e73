//! Unit tests of `anthropic.rs`.

use super::*;
use crate::adapter::test_support::{person_tool, sample_input};

#[test]
fn builds_the_messages_body_field_by_field() -> Result<(), Box<dyn std::error::Error>> {
    let tool = person_tool();
    let body = AnthropicAdapter::default().prepare_model_input(&sample_input(), Some(&tool))?;
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
    let keys: Vec<&String> = body
        .as_object()
        .ok_or("expected value missing")?
        .keys()
        .collect();
    assert_eq!(keys.len(), 10, "no extra keys: {keys:?}");
    Ok(())
}

#[test]
fn defaults_max_tokens_and_omits_unset_fields() -> Result<(), Box<dyn std::error::Error>> {
    let body =
        AnthropicAdapter::default().prepare_model_input(&ModelInput::new().user("hi"), None)?;
    assert_eq!(
        body,
        json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4096,
               "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
    );
    Ok(())
}

fn response(content: Value, stop_reason: &str) -> Value {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
           "content": content, "stop_reason": stop_reason, "stop_sequence": null,
           "usage": {"input_tokens": 120, "output_tokens": 33}})
}

#[test]
fn reads_the_tool_input_of_a_documented_response() -> Result<(), Box<dyn std::error::Error>> {
    let adapter = AnthropicAdapter::default();
    let ok = response(
        json!([{"type": "text", "text": "Here:"},
               {"type": "tool_use", "id": "toolu_1", "name": "Person", "input": {"name": "Ada"}}]),
        "tool_use",
    );
    assert_eq!(
        adapter.validate_result(&ok, &person_tool())?,
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
    Ok(())
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

mod fast_tests {
    use super::*;

    fn tool() -> ToolDefinition {
        ToolDefinition {
            name: "Person".into(),
            description: String::new(),
            input_schema: json!({"type": "object"}),
        }
    }

    #[test]
    fn the_fast_path_reads_a_plain_answer_as_validate_result_does()
    -> Result<(), Box<dyn std::error::Error>> {
        let adapter = AnthropicAdapter::default();
        let output = json!({"id": "msg", "type": "message", "role": "assistant", "model": "claude",
            "content": [{"type": "tool_use", "id": "toolu", "name": "Person",
                         "input": {"name": "Ada Lovelace", "age": 36}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 120, "output_tokens": 30}});
        let text = output.to_string();
        let raw: &RawValue = serde_json::from_str(&text)?;
        let (input, usage) = adapter
            .tool_input_fast(raw, &tool())
            .ok_or("expected value missing")?;
        let input: Value = serde_json::from_str(input.get())?;
        assert_eq!(Ok(input), adapter.validate_result(&output, &tool()));
        assert_eq!(usage, adapter.usage(&output));
        Ok(())
    }

    #[test]
    fn anything_unusual_is_left_to_validate_result() -> Result<(), Box<dyn std::error::Error>> {
        let adapter = AnthropicAdapter::default();
        for output in [
            json!([[{"type": "tool_use", "name": "Person", "input": {}}], "tool_use"]),
            json!({"content": [["tool_use", "Person", {}]], "stop_reason": "tool_use"}),
            json!({"content": [{"type": "tool_use", "name": "Other", "input": {}}]}),
            json!({"content": [{"type": "tool_use", "name": "Person", "input": {}},
                               {"type": "tool_use", "name": "Person", "input": {}}]}),
            json!({"content": [{"type": "tool_use", "name": "Person", "input": {}}], "stop_reason": "max_tokens"}),
            json!({"content": [{"type": "tool_use", "name": "Person", "input": null}]}),
            json!({"content": [{"type": "tool_use", "name": "Person"}]}),
            json!({"content": [{"type": "text", "text": "no"}]}),
        ] {
            let text = output.to_string();
            let raw: &RawValue = serde_json::from_str(&text)?;
            assert!(adapter.tool_input_fast(raw, &tool()).is_none(), "{output}");
        }
        Ok(())
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Person {
        name: String,
        age: u32,
    }

    /// As `#[derive(BatchOutput)]` writes it (the derive names `::llmbo`, not usable here).
    impl crate::output::BatchOutput for Person {
        fn tool_definition() -> ToolDefinition {
            tool()
        }
        fn from_tool_input(input: Value) -> Result<Self, RecordError> {
            crate::derive_support::from_tool_input(input, None)
        }
        fn from_tool_input_str(json: &str) -> Result<Self, RecordError> {
            crate::derive_support::from_tool_input_str(json, None)
        }
        const READS_IN_LINE: bool = true;
        fn from_tool_input_in<'de, D: serde::Deserializer<'de>>(
            input: D,
        ) -> Result<Self, D::Error> {
            crate::derive_support::from_tool_input_in::<Self, D>(input)
        }
    }

    /// The typed one-pass read of a line agrees with the two-pass one (the input's text,
    /// then the type) wherever it answers, and answers the plain lines; whatever it leaves
    /// (an input the type refuses, a duplicate key, anything unusual) the two-pass read takes.
    #[test]
    fn the_typed_pass_reads_a_line_as_the_two_passes_do() -> Result<(), Box<dyn std::error::Error>>
    {
        use crate::output::BatchOutput;
        let adapter = AnthropicAdapter::default();
        let message = |content: Value, stop: &str| {
            json!({"id": "msg", "type": "message", "role": "assistant", "model": "claude",
                   "content": content, "stop_reason": stop, "stop_sequence": null,
                   "usage": {"input_tokens": 12, "output_tokens": 3}})
        };
        let call = |input: &str| {
            serde_json::from_str::<Value>(&format!(
                r#"[{{"type": "tool_use", "id": "t", "name": "Person", "input": {input}}}]"#
            ))
        };
        let mut outputs = vec![
            (
                message(call(r#"{"name": "Ada", "age": 36}"#)?, "tool_use"),
                true,
            ),
            (
                message(
                    call(r#"{"age": 7, "name": "B\u00e9", "extra": [1]}"#)?,
                    "tool_use",
                ),
                true,
            ),
            (
                message(
                    json!([{"type": "text", "text": "Here:"},
                           {"type": "tool_use", "name": "Person", "input": {"name": "C", "age": 1}}]),
                    "end_turn",
                ),
                true,
            ),
        ];
        for (content, stop) in [
            (call(r#"{"name": "Ada", "age": "36"}"#)?, "tool_use"),
            (call(r#"{"name": "Ada"}"#)?, "tool_use"),
            (call(r#"["Ada", 36]"#)?, "tool_use"),
            (call(r#"{"name": "Ada", "age": 36}"#)?, "max_tokens"),
            (call("null")?, "tool_use"),
            (
                json!([{"type": "tool_use", "name": "Other", "input": {"name": "A", "age": 1}}]),
                "tool_use",
            ),
            (
                json!([{"type": "tool_use", "name": "Person", "input": {"name": "A", "age": 1}},
                       {"type": "tool_use", "name": "Person", "input": {"name": "B", "age": 2}}]),
                "tool_use",
            ),
            (json!([{"type": "text", "text": "no"}]), "end_turn"),
        ] {
            outputs.push((message(content, stop), false));
        }
        let mut lines: Vec<(String, bool)> = outputs
            .into_iter()
            .enumerate()
            .map(|(i, (output, typed))| {
                let line = json!({"custom_id": format!("r{i}"),
                                  "result": {"type": "succeeded", "message": output}});
                (line.to_string(), typed)
            })
            .collect();
        // A key written twice: serde's struct refuses it, the text's second read keeps the last.
        lines.push((
            r#"{"custom_id":"dup","result":{"type":"succeeded","message":{"content":[{"type":"tool_use","name":"Person","input":{"name":"A","name":"B","age":1}}],"stop_reason":"tool_use"}}}"#.into(),
            false,
        ));
        crate::jsonl::reading_served(crate::jsonl::Served::Anthropic, || {
            for (line, answers) in &lines {
                let typed = typed_output_line::<Person>(line, &tool());
                let two = adapter
                    .output_line_fast(line, &tool())
                    .map(|(id, input, usage)| {
                        (id, Person::from_tool_input_str(input.get()), usage)
                    });
                assert_eq!(typed.is_some(), *answers, "{line}");
                if let Some((id, value, usage)) = typed {
                    assert_eq!(Some((id, Ok(value), usage)), two, "{line}");
                }
            }
        });
        // Out of a batch API's reading, a Bedrock line reads the same way.
        let bedrock = json!({"recordId": "b1", "modelInput": {},
                             "modelOutput": message(call(r#"{"name": "D", "age": 4}"#)?, "tool_use")})
        .to_string();
        let (id, value, usage) =
            typed_output_line::<Person>(&bedrock, &tool()).ok_or("a Bedrock line")?;
        assert_eq!(
            (id.as_ref(), value.age, usage.map(|u| u.output_tokens)),
            ("b1", 4, Some(3))
        );
        Ok(())
    }
}
