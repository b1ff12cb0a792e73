//! Unit tests of `responses.rs`: the golden bodies of every strategy, and the answers read.

use super::*;
use crate::adapter::test_support::{person_tool, sample_input};

type Failure = Box<dyn std::error::Error>;

fn input() -> ModelInput {
    ModelInput::new()
        .system("Extract people.")
        .user("Ada is 36.")
        .assistant("Noted.")
        .user("Extract.")
        .max_tokens(300)
        .temperature(0.0)
        .top_p(0.5)
}

#[test]
fn every_strategy_writes_its_golden_body() -> Result<(), Failure> {
    let tool = person_tool();
    let request = |strategy| OutputRequest::new(strategy, &tool, &tool);
    let conversation = json!([
        {"role": "user", "content": "Ada is 36."},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "Extract."},
    ]);
    let head = |extra: Value| -> Result<Value, Failure> {
        let mut body = json!({"input": conversation, "instructions": "Extract people.",
                              "max_output_tokens": 300, "temperature": 0.0, "top_p": 0.5});
        let (Some(body_map), Value::Object(extra)) = (body.as_object_mut(), extra) else {
            return Err("objects expected".into());
        };
        body_map.extend(extra);
        Ok(body)
    };
    let adapter = OpenAiResponsesAdapter;
    assert_eq!(
        adapter.prepare_output(&input(), request(OutputStrategy::ForcedTool))?,
        head(json!({
            "tools": [{"type": "function", "name": "Person", "description": "A person.",
                       "parameters": tool.input_schema, "strict": false}],
            "tool_choice": {"type": "function", "name": "Person"},
        }))?
    );
    assert_eq!(
        adapter.prepare_output(&input(), request(OutputStrategy::StrictTool))?,
        head(json!({
            "tools": [{"type": "function", "name": "Person", "description": "A person.",
                       "parameters": tool.input_schema, "strict": true}],
            "tool_choice": {"type": "function", "name": "Person"},
        }))?
    );
    assert_eq!(
        adapter.prepare_output(&input(), request(OutputStrategy::JsonSchema))?,
        head(
            json!({"text": {"format": {"type": "json_schema", "name": "Person",
            "description": "A person.", "schema": tool.input_schema, "strict": true}}})
        )?
    );
    let in_prompt = adapter.prepare_output(&input(), request(OutputStrategy::JsonInPrompt))?;
    assert!(
        in_prompt["instructions"]
            .as_str()
            .is_some_and(|s| s.starts_with("Extract people.\n\n") && s.contains("\"name\""))
    );
    assert!(in_prompt.get("tools").is_none() && in_prompt.get("text").is_none());
    Ok(())
}

#[test]
fn stop_sequences_are_refused_not_dropped() {
    let err = OpenAiResponsesAdapter.prepare_model_input(&sample_input(), None);
    assert!(
        matches!(&err, Err(e) if e.to_string().contains("no stop sequences")),
        "{err:?}"
    );
}

#[test]
fn media_become_input_parts() -> Result<(), Failure> {
    let pdf = b"%PDF-1.7 facts".to_vec();
    let input = ModelInput::new().user_parts([
        crate::model_input::Part::text("Read this."),
        crate::model_input::Part::document(pdf),
    ]);
    let body = OpenAiResponsesAdapter.prepare_model_input(&input, None)?;
    let parts = &body["input"][0]["content"];
    assert_eq!(
        parts[0],
        json!({"type": "input_text", "text": "Read this."})
    );
    assert_eq!(parts[1]["type"], "input_file");
    assert!(
        parts[1]["file_data"]
            .as_str()
            .is_some_and(|d| d.starts_with("data:application/pdf;base64,"))
    );
    Ok(())
}

fn response(output: Value, status: &str) -> Value {
    json!({"id": "resp_1", "object": "response", "status": status, "output": output,
           "incomplete_details": if status == "incomplete" {
               json!({"reason": "max_output_tokens"}) } else { Value::Null },
           "usage": {"input_tokens": 70, "output_tokens": 12, "total_tokens": 82}})
}

fn call(name: &str, arguments: &str) -> Value {
    json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": name,
           "arguments": arguments, "status": "completed"})
}

#[test]
fn reads_calls_text_and_usage_and_names_failures() -> Result<(), Failure> {
    let tool = person_tool();
    let adapter = OpenAiResponsesAdapter;
    let reasoning = json!({"type": "reasoning", "id": "rs_1", "summary": []});
    let ok = response(
        json!([reasoning, call("Person", "{\"name\":\"Ada\"}")]),
        "completed",
    );
    assert_eq!(adapter.validate_result(&ok, &tool)?, json!({"name": "Ada"}));
    assert_eq!(
        adapter.usage(&ok),
        Some(Usage {
            input_tokens: 70,
            output_tokens: 12
        })
    );
    let cut = response(json!([call("Person", "{\"na")]), "incomplete");
    assert_eq!(
        adapter.validate_result(&cut, &tool),
        Err(RecordError::Truncated)
    );
    let text = json!({"type": "message", "role": "assistant", "status": "completed",
                      "content": [{"type": "output_text", "text": "{\"name\":", "annotations": []},
                                  {"type": "output_text", "text": "\"Bo\"}", "annotations": []}]});
    let answered = response(json!([text]), "completed");
    assert_eq!(
        adapter.output_text(&answered).as_deref(),
        Some("{\"name\":\"Bo\"}")
    );
    assert_eq!(
        adapter.read_output(
            &answered,
            OutputRequest::new(OutputStrategy::JsonSchema, &tool, &tool)
        )?,
        json!({"name": "Bo"})
    );
    assert!(matches!(
        adapter.validate_result(&answered, &tool),
        Err(RecordError::NoToolCall { .. })
    ));
    let refusal = response(
        json!([{"type": "message", "role": "assistant",
                "content": [{"type": "refusal", "refusal": "I can't."}]}]),
        "completed",
    );
    assert!(matches!(
        adapter.read_output(
            &refusal,
            OutputRequest::new(OutputStrategy::JsonSchema, &tool, &tool)
        ),
        Err(RecordError::UnexpectedStopReason { .. })
    ));
    let two = response(
        json!([call("Person", "{}"), call("Person", "{}")]),
        "completed",
    );
    assert_eq!(
        adapter.validate_result(&two, &tool),
        Err(RecordError::MultipleToolCalls { count: 2 })
    );
    assert!(matches!(
        adapter.validate_result(&json!({"id": "x"}), &tool),
        Err(RecordError::MalformedOutput { .. })
    ));
    Ok(())
}

#[test]
fn a_reask_answers_each_call_with_the_problem() -> Result<(), Failure> {
    let tool = person_tool();
    let adapter = OpenAiResponsesAdapter;
    let request = adapter.prepare_output(
        &input(),
        OutputRequest::new(OutputStrategy::ForcedTool, &tool, &tool),
    )?;
    let answer = response(
        json!([{"type": "reasoning", "id": "rs_1", "summary": []}, call("Person", "{}")]),
        "completed",
    );
    let body = adapter
        .reask_body(&request, &answer, "name is required")
        .ok_or("no re-ask")?;
    let items = body["input"].as_array().ok_or("no input")?;
    assert_eq!(items.len(), 5);
    assert_eq!(
        items[3],
        json!({"type": "function_call", "call_id": "call_1", "name": "Person", "arguments": "{}"})
    );
    assert_eq!(
        items[4],
        json!({"type": "function_call_output", "call_id": "call_1", "output": "name is required"})
    );
    let text = response(
        json!([{"type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": "Ada"}]}]),
        "completed",
    );
    let body = adapter
        .reask_body(&request, &text, "not JSON")
        .ok_or("no re-ask")?;
    let items = body["input"].as_array().ok_or("no input")?;
    assert_eq!(items[3], json!({"role": "assistant", "content": "Ada"}));
    assert_eq!(items[4], json!({"role": "user", "content": "not JSON"}));
    Ok(())
}
