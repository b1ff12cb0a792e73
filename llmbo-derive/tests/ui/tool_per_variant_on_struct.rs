use llmbo::BatchOutput;

#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
#[batch_output(tool_per_variant)]
struct Person {
    name: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
#[serde(tag = "kind")]
enum Finding {
    #[batch_output(name = "x")]
    Person { name: String },
}

fn main() {}
