//! Unit tests of `openai.rs`.

use super::*;
use crate::adapter::test_support::{person_tool, sample_input};

#[test]
fn builds_the_chat_completion_body_field_by_field() -> Result<(), Box<dyn std::error::Error>> {
    let tool = person_tool();
    let body = OpenAiAdapter.prepare_model_input(&sample_input(), Some(&tool))?;
    assert_eq!(
        body["messages"],
        json!([{"role": "system", "content": "Extract people."},
               {"role": "user", "content": "Ada is 36."},
               {"role": "assistant", "content": "Noted."},
               {"role": "user", "content": "Extract."}])
    );
    assert_eq!(body["max_completion_tokens"], 300);
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["top_p"], 0.5);
    assert_eq!(body["stop"], json!(["END"]));
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {"name": "Person", "description": "A person.",
                                                 "parameters": tool.input_schema}}])
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "function": {"name": "Person"}})
    );
    assert_eq!(body.as_object().ok_or("expected value missing")?.len(), 7);
    Ok(())
}

fn response(message: Value, finish: &str) -> Value {
    json!({"id": "c1", "object": "chat.completion", "choices": [{"index": 0, "message": message,
           "finish_reason": finish}], "usage": {"prompt_tokens": 70, "completion_tokens": 12,
           "total_tokens": 82}})
}

#[test]
fn reads_tool_calls_and_names_failures() -> Result<(), Box<dyn std::error::Error>> {
    let tool = person_tool();
    let call = |name: &str, args: &str| {
        json!({"id": "call_1", "type": "function",
                                              "function": {"name": name, "arguments": args}})
    };
    let ok = response(
        json!({"role": "assistant", "content": "<reasoning>think</reasoning>Done.",
                             "tool_calls": [call("Person", "{\"name\":\"Ada\"}")]}),
        "tool_calls",
    );
    assert_eq!(
        OpenAiAdapter.validate_result(&ok, &tool)?,
        json!({"name": "Ada"})
    );
    assert_eq!(OpenAiAdapter.output_text(&ok).as_deref(), Some("Done."));
    assert_eq!(
        OpenAiAdapter.usage(&ok),
        Some(Usage {
            input_tokens: 70,
            output_tokens: 12
        })
    );
    let bad_json = response(
        json!({"tool_calls": [call("Person", "{\"name\":")]}),
        "tool_calls",
    );
    assert!(matches!(
        OpenAiAdapter.validate_result(&bad_json, &tool),
        Err(RecordError::ToolInputNotJson { .. })
    ));
    let truncated = response(json!({"tool_calls": [call("Person", "{")]}), "length");
    assert_eq!(
        OpenAiAdapter.validate_result(&truncated, &tool),
        Err(RecordError::Truncated)
    );
    let none = response(json!({"content": "No."}), "stop");
    assert_eq!(
        OpenAiAdapter.validate_result(&none, &tool),
        Err(RecordError::NoToolCall {
            stop_reason: Some("stop".into())
        })
    );
    let two = response(
        json!({"tool_calls": [call("Person", "{}"), call("Person", "{}")]}),
        "tool_calls",
    );
    assert_eq!(
        OpenAiAdapter.validate_result(&two, &tool),
        Err(RecordError::MultipleToolCalls { count: 2 })
    );
    let other = response(json!({"tool_calls": [call("X", "{}")]}), "tool_calls");
    assert_eq!(
        OpenAiAdapter.validate_result(&other, &tool),
        Err(RecordError::WrongTool {
            expected: "Person".into(),
            found: "X".into()
        })
    );
    Ok(())
}

#[test]
fn strips_reasoning_spans() {
    assert_eq!(
        strip_reasoning("<reasoning>a</reasoning> b <reasoning>c</reasoning>d"),
        "b d"
    );
    assert_eq!(strip_reasoning("x<reasoning>never closed"), "x");
    assert_eq!(strip_reasoning("plain"), "plain");
}
