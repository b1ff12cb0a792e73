// One mistake gives one error: code that uses the type as a BatchOutput still compiles.
use llmbo::BatchOutput;

#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
#[batch_output(name = "")]
struct Person {
    name: String,
}

fn tool_name<T: BatchOutput>() -> String {
    T::tool_definition().name
}

fn main() {
    let _ = tool_name::<Person>();
    let _ = Person::from_tool_input(serde_json::json!({}));
}
