use llmbo::BatchOutput;

#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
#[batch_output(crate = "not a path")]
struct Person {
    name: String,
}

fn main() {}
