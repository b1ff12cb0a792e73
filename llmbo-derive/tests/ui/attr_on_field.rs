use llmbo::BatchOutput;

#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
struct Person {
    #[batch_output(description = "The name.")]
    name: String,
}

fn main() {}
