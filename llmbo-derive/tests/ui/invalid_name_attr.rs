use llmbo::BatchOutput;

#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
#[batch_output(name = "extract person")]
struct Person {
    name: String,
}

fn main() {}
