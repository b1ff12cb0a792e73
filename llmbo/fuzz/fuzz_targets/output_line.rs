//! The output-line parser on arbitrary bytes: it never panics, a line that is a JSON object
//! with a string `recordId` is always attributed to that record, and the adapters' one-pass
//! fast path never answers differently from the general path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmbo::adapter::{
    AnthropicAdapter, ConverseAdapter, DeepSeekAdapter, MistralChatAdapter, NovaAdapter,
    OpenAiAdapter, QwenAdapter,
};
use llmbo::jsonl::{OutputLine, parse_output_line};
use llmbo::{ModelProviderAdapter, ToolDefinition};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_output_line(line);
    if let Ok(Value::Object(object)) = serde_json::from_str::<Value>(line)
        && let Some(Value::String(id)) = object.get("recordId")
    {
        let attributed = match &parsed {
            OutputLine::Output { record_id, .. }
            | OutputLine::Error { record_id, .. }
            | OutputLine::Malformed { record_id, .. } => record_id == id,
            OutputLine::Unreadable { .. } => false,
        };
        assert!(attributed, "{line:?} -> {parsed:?}");
    }
    // Whatever the line, the result of the adapters' JSON-in-text scan never panics either.
    let _ = llmbo::adapter::extract_json_object(line);
    // Where a fast path answers, the general path gives the same id, input and usage.
    let tool = ToolDefinition {
        name: "Person".into(),
        description: String::new(),
        input_schema: serde_json::json!({"type": "object"}),
    };
    let adapters: [&dyn ModelProviderAdapter; 7] = [
        &AnthropicAdapter::default(),
        &NovaAdapter::default(),
        &ConverseAdapter,
        &OpenAiAdapter,
        &DeepSeekAdapter,
        &QwenAdapter,
        &MistralChatAdapter,
    ];
    for adapter in adapters {
        let Some((id, input, usage)) = adapter.output_line_fast(line, &tool) else {
            continue;
        };
        let OutputLine::Output {
            record_id,
            model_output,
        } = &parsed
        else {
            panic!("{line:?}: fast path answered, general path read {parsed:?}");
        };
        assert_eq!(record_id.as_str(), id.as_ref(), "{line:?}");
        let Ok(input) = serde_json::from_str::<Value>(input.get()) else {
            panic!("{line:?}: the fast input is not JSON");
        };
        assert_eq!(
            adapter.validate_result(model_output, &tool),
            Ok(input),
            "{line:?}"
        );
        assert_eq!(adapter.usage(model_output), usage, "{line:?}");
    }
});
