//! Every adapter's `write_input_line` writes exactly the bytes of `prepare_model_input` +
//! `encode_input_line`, for any input: Claude's, Nova's and Mistral's prompt form write
//! without building a `Value`, so this is what keeps the two paths the same.

use llmbo::adapter::{
    AnthropicAdapter, ConverseAdapter, DeepSeekAdapter, DefaultAdapter, LlamaAdapter,
    MistralChatAdapter, MistralPromptAdapter, NovaAdapter, NovaParamStyle, OpenAiAdapter,
    QwenAdapter,
};
use llmbo::input::{Message, ToolChoice};
use llmbo::{ModelInput, ModelProviderAdapter, ToolDefinition};
use proptest::prelude::*;
use serde_json::json;

fn tool(name: &str) -> ToolDefinition {
    ToolDefinition {
        name: name.into(),
        description: format!("The {name} tool \"quoted\"\n"),
        input_schema: json!({"type": "object", "properties": {"z": {"type": "string"}, "a": {"type": "integer"}},
                             "required": ["z"]}),
    }
}

fn arb_input() -> impl Strategy<Value = ModelInput> {
    let text = "[a-zA-Z0-9 \"\\\\\n\u{e9}\u{1F600}]{0,20}";
    (
        proptest::collection::vec((any::<bool>(), text), 0..4),
        proptest::option::of(text),
        proptest::option::of(0u32..5000),
        proptest::option::of(-0.2f32..2.0),
        proptest::option::of(-0.1f32..1.1),
        proptest::option::of(0u32..100),
        proptest::collection::vec(text, 0..3),
        0usize..4,
        0usize..4,
    )
        .prop_map(
            |(turns, system, max_tokens, temperature, top_p, top_k, stops, tools, choice)| {
                let mut input = ModelInput::new().messages(turns.into_iter().map(|(user, t)| {
                    if user {
                        Message::user(t)
                    } else {
                        Message::assistant(t)
                    }
                }));
                input.system = system;
                input.max_tokens = max_tokens;
                input.temperature = temperature;
                input.top_p = top_p;
                input.top_k = top_k;
                input.stop_sequences = stops;
                input.tools = (0..tools).map(|i| tool(&format!("t{i}"))).collect();
                input.tool_choice = match choice {
                    0 => None,
                    1 => Some(ToolChoice::Auto),
                    2 => Some(ToolChoice::Any),
                    _ => Some(ToolChoice::Tool { name: "t0".into() }),
                };
                input
            },
        )
}

fn adapters() -> Vec<Box<dyn ModelProviderAdapter>> {
    vec![
        Box::new(AnthropicAdapter::default()),
        Box::new(DefaultAdapter::default()),
        Box::new(NovaAdapter::default()),
        Box::new(NovaAdapter {
            param_style: NovaParamStyle::CamelCase,
            send_schema_version: false,
        }),
        Box::new(ConverseAdapter),
        Box::new(MistralChatAdapter),
        Box::new(MistralPromptAdapter),
        Box::new(LlamaAdapter),
        Box::new(OpenAiAdapter),
        Box::new(DeepSeekAdapter),
        Box::new(QwenAdapter),
        Box::new(llmbo::adapter::GeminiAdapter),
        Box::new(llmbo::adapter::OpenAiResponsesAdapter),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_direct_writer_writes_what_the_value_path_writes(input in arb_input(), forced in any::<bool>()) {
        let output_tool = tool("Person");
        let forced = forced.then_some(&output_tool);
        for adapter in adapters() {
            let mut direct = b"previous line\n".to_vec();
            let written = adapter.write_input_line("rec-1", &input, forced, &mut direct);
            match adapter.prepare_model_input(&input, forced) {
                Ok(body) => {
                    let mut expected = b"previous line\n".to_vec();
                    llmbo::jsonl::encode_input_line("rec-1", &body, &mut expected);
                    prop_assert!(written.is_ok(), "{}: {written:?}", adapter.name());
                    prop_assert_eq!(
                        String::from_utf8_lossy(&direct),
                        String::from_utf8_lossy(&expected),
                        "{}", adapter.name()
                    );
                }
                Err(err) => {
                    prop_assert_eq!(written.map_err(|e| e.to_string()), Err(err.to_string()));
                    prop_assert_eq!(&direct, b"previous line\n", "nothing appended on error");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The same for a structured job's lines: every strategy each adapter writes, its
    /// `write_output_line` against `prepare_output` + `encode_input_line`.
    #[test]
    fn every_strategys_direct_writer_writes_what_the_value_path_writes(input in arb_input()) {
        let output_tool = tool("Person");
        for adapter in adapters() {
            for strategy in adapter.strategies() {
                let output = llmbo::adapter::OutputRequest::new(*strategy, &output_tool, &output_tool);
                let mut direct = b"previous line\n".to_vec();
                let written = adapter.write_output_line("rec-1", &input, output, &mut direct);
                match adapter.prepare_output(&input, output) {
                    Ok(body) => {
                        let mut expected = b"previous line\n".to_vec();
                        llmbo::jsonl::encode_input_line("rec-1", &body, &mut expected);
                        prop_assert!(written.is_ok(), "{} {strategy}: {written:?}", adapter.name());
                        prop_assert_eq!(
                            String::from_utf8_lossy(&direct),
                            String::from_utf8_lossy(&expected),
                            "{} {}", adapter.name(), strategy
                        );
                    }
                    Err(err) => {
                        prop_assert_eq!(written.map_err(|e| e.to_string()), Err(err.to_string()));
                        prop_assert_eq!(&direct, b"previous line\n", "nothing appended on error");
                    }
                }
            }
        }
    }
}
