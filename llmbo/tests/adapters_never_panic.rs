//! No adapter panics on any JSON a model or a broken job could produce: arbitrary values, with
//! keys drawn mostly from the ones the adapters read so that deep paths are reached.

use std::sync::Arc;

use llmbo::adapter::OutputRequest;
use llmbo::adapter::{
    AnthropicAdapter, ConverseAdapter, DeepSeekAdapter, DefaultAdapter, LlamaAdapter,
    MistralChatAdapter, MistralPromptAdapter, NovaAdapter, OpenAiAdapter, QwenAdapter,
};
use llmbo::{ModelProviderAdapter, OutputStrategy, ToolDefinition};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const KEYS: &[&str] = &[
    "content",
    "type",
    "tool_use",
    "name",
    "input",
    "stop_reason",
    "usage",
    "input_tokens",
    "output_tokens",
    "output",
    "message",
    "toolUse",
    "stopReason",
    "inputTokens",
    "outputTokens",
    "choices",
    "tool_calls",
    "function",
    "arguments",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "outputs",
    "text",
    "generation",
    "prompt_token_count",
    "generation_token_count",
    "Person",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "tool_use",
            "Person",
            "max_tokens",
            "length",
            "end_turn",
            "{\"name\":",
            "{\"name\":\"Ada\"}",
            "<reasoning>x",
            "```json\n{}\n```",
            "",
            "{{}}",
            "}{",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(KEYS).prop_map(str::to_owned),
                        "[a-z]{1,4}"
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn adapters() -> Vec<Arc<dyn ModelProviderAdapter>> {
    vec![
        Arc::new(AnthropicAdapter::default()),
        Arc::new(DefaultAdapter::default()),
        Arc::new(NovaAdapter::default()),
        Arc::new(MistralPromptAdapter),
        Arc::new(MistralChatAdapter),
        Arc::new(LlamaAdapter),
        Arc::new(OpenAiAdapter),
        Arc::new(DeepSeekAdapter),
        Arc::new(QwenAdapter),
        Arc::new(ConverseAdapter),
    ]
}

fn tool() -> ToolDefinition {
    ToolDefinition {
        name: "Person".into(),
        description: "A person.".into(),
        input_schema: json!({"type": "object"}),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn adapters_never_panic_on_any_model_output(output in json_value()) {
        let tool = tool();
        for adapter in adapters() {
            // Only the absence of a panic is checked; any Ok or Err is an answer.
            let _ = adapter.usage(&output);
            // A broken answer shown back, to a broken request: a body or `None`.
            let _ = adapter.reask_body(&output, &output, "the answer did not fit");
            if let Some(reader) = adapter.answers() {
                let _ = reader.validate_result(&output, &tool);
                let _ = reader.output_text(&output);
                let _ = reader.stop_reason(&output);
                for strategy in OutputStrategy::ALL {
                    let request = OutputRequest::new(strategy, &tool, &tool);
                    let _ = reader.read_output(&output, request);
                }
            }
            if let Some(reader) = adapter.embeddings() {
                let _ = reader.embedding(&output);
            }
        }
    }

    #[test]
    fn json_extraction_never_panics_and_finds_embedded_objects(prefix in ".{0,20}", suffix in ".{0,20}") {
        let text = format!("{prefix}{{\"name\": \"Ada\"}}{suffix}");
        // Whatever surrounds it, an answer is given without panicking; when the prefix has
        // no brace the embedded object is the one found.
        let found = llmbo::adapter::extract_json_object(&text);
        if !prefix.contains('{') && !prefix.contains('"') {
            prop_assert_eq!(found.ok(), Some(json!({"name": "Ada"})));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn output_lines_are_read_without_panicking(value in json_value(), junk in ".{0,40}") {
        use llmbo::jsonl::{OutputLine, parse_output_line, record_ids_of_input};
        let line = value.to_string();
        let parsed = parse_output_line(&line);
        // A line with a string recordId is always attributed to that record.
        if let Some(id) = value.get("recordId").and_then(|v| v.as_str()) {
            let attributed = match &parsed {
                OutputLine::Output { record_id, .. }
                | OutputLine::Error { record_id, .. }
                | OutputLine::Malformed { record_id, .. } => Some(record_id.as_str()),
                OutputLine::Unreadable { .. } => None,
            };
            prop_assert_eq!(attributed, Some(id));
        }
        let _ = parse_output_line(&junk);
        let half: String = line.chars().take(line.chars().count() / 2).collect();
        let _ = parse_output_line(&half);
        let _ = record_ids_of_input(format!("{line}\n{junk}\n").as_bytes());
    }
}

/// Arbitrary schemas, with keys drawn mostly from the ones the strict transform reads.
fn schema_value() -> impl Strategy<Value = Value> {
    const SCHEMA_KEYS: &[&str] = &[
        "type",
        "properties",
        "items",
        "anyOf",
        "oneOf",
        "allOf",
        "$ref",
        "required",
        "minItems",
        "maxItems",
        "minimum",
        "format",
        "additionalProperties",
        "description",
        "enum",
        "const",
        "default",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop::sample::select(vec![
            "object", "array", "string", "integer", "null", "date", "uint8", "#"
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(6, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(SCHEMA_KEYS).prop_map(str::to_owned),
                        "[a-z]{1,3}"
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_strict_transform_never_panics_and_its_output_is_in_the_subset(field in schema_value()) {
        // Under an object's property, so that many are tool inputs the transform can take.
        let schema = json!({"type": "object", "properties": {"p": field}, "required": ["p"]});
        let _ = llmbo::schema::strict_schema(&field);
        if let Ok(strict) = llmbo::schema::strict_schema(&schema) {
            // What llmbo sends, the oracle (written apart) takes.
            prop_assert_eq!(llmbo_local::strict::check(&strict), Ok(()), "{}", strict);
        }
    }
}
