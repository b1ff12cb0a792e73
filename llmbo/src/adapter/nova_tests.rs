//! Unit tests of `nova.rs`.

use super::*;
use crate::adapter::test_support::{person_tool, sample_input};

#[test]
fn builds_the_messages_v1_body_field_by_field() -> Result<(), Box<dyn std::error::Error>> {
    let tool = person_tool();
    let body = NovaAdapter::default().prepare_model_input(&sample_input(), Some(&tool))?;
    assert_eq!(body["schemaVersion"], "messages-v1");
    assert_eq!(body["system"], json!([{"text": "Extract people."}]));
    assert_eq!(
        body["messages"][0],
        json!({"role": "user", "content": [{"text": "Ada is 36."}]})
    );
    assert_eq!(body["messages"][1]["role"], "assistant");
    assert_eq!(
        body["inferenceConfig"],
        json!({"max_new_tokens": 300, "temperature": 0.0, "top_p": 0.5, "top_k": 40,
               "stopSequences": ["END"]})
    );
    assert_eq!(
        body["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "Person", "description": "A person.",
                                       "inputSchema": {"json": tool.input_schema}}}],
               "toolChoice": {"tool": {"name": "Person"}}})
    );
    assert_eq!(body.as_object().ok_or("expected value missing")?.len(), 5);
    Ok(())
}

#[test]
fn nova_2_uses_camel_case_inference_keys() -> Result<(), Box<dyn std::error::Error>> {
    let body = NovaAdapter::for_model("amazon.nova-2-lite-v1:0")
        .prepare_model_input(&sample_input(), None)?;
    assert_eq!(body["inferenceConfig"]["maxTokens"], 300);
    assert_eq!(body["inferenceConfig"]["topP"], 0.5);
    assert!(body.get("toolConfig").is_none());
    Ok(())
}

fn response(content: Value, stop: &str) -> Value {
    json!({"output": {"message": {"role": "assistant", "content": content}},
           "stopReason": stop, "usage": {"inputTokens": 50, "outputTokens": 9, "totalTokens": 59}})
}

#[test]
fn reads_the_tool_use_block_and_names_failures() -> Result<(), Box<dyn std::error::Error>> {
    let adapter = NovaAdapter::default();
    let tool = person_tool();
    let call = |name: &str| json!({"toolUse": {"toolUseId": "t1", "name": name, "input": {"name": "Ada"}}});
    let ok = response(json!([{"text": "ok"}, call("Person")]), "tool_use");
    assert_eq!(adapter.validate_result(&ok, &tool)?, json!({"name": "Ada"}));
    assert_eq!(adapter.output_text(&ok).as_deref(), Some("ok"));
    assert_eq!(
        adapter.usage(&ok),
        Some(Usage {
            input_tokens: 50,
            output_tokens: 9
        })
    );
    assert_eq!(
        adapter.validate_result(&response(json!([{"text": "no"}]), "end_turn"), &tool),
        Err(RecordError::NoToolCall {
            stop_reason: Some("end_turn".into())
        })
    );
    assert_eq!(
        adapter.validate_result(&response(json!([call("Person")]), "max_tokens"), &tool),
        Err(RecordError::Truncated)
    );
    assert_eq!(
        adapter.validate_result(
            &response(json!([call("Person"), call("Person")]), "tool_use"),
            &tool
        ),
        Err(RecordError::MultipleToolCalls { count: 2 })
    );
    assert_eq!(
        adapter.validate_result(&response(json!([call("Nope")]), "tool_use"), &tool),
        Err(RecordError::WrongTool {
            expected: "Person".into(),
            found: "Nope".into()
        })
    );
    assert!(matches!(
        adapter.validate_result(&json!({"output": {}}), &tool),
        Err(RecordError::MalformedOutput { .. })
    ));
    Ok(())
}
