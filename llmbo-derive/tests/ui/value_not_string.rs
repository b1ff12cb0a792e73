use llmbo::BatchOutput;

#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
#[batch_output(description = 42)]
struct Person {
    name: String,
}

fn main() {}
