use llmbo::BatchOutput;

#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
#[batch_output(strategy = "native")]
struct Person {
    name: String,
}

fn main() {}
