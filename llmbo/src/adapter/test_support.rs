//! A tool and an input with every field set, for the adapters' unit tests.
use serde_json::json;

use crate::{model_input::ModelInput, output::ToolDefinition};

pub(crate) fn person_tool() -> ToolDefinition {
    ToolDefinition {
        name: "Person".into(),
        description: "A person.".into(),
        input_schema: json!({"type": "object", "properties": {"name": {"type": "string"}},
                             "required": ["name"]}),
    }
}

/// Every field of `ModelInput` set, over three turns.
pub(crate) fn sample_input() -> ModelInput {
    ModelInput::new()
        .system("Extract people.")
        .user("Ada is 36.")
        .assistant("Noted.")
        .user("Extract.")
        .max_tokens(300)
        .temperature(0.0)
        .top_p(0.5)
        .top_k(40)
        .stop_sequences(["END"])
}
