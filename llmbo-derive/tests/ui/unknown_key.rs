use llmbo::BatchOutput;

#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
#[batch_output(title = "Person")]
struct Person {
    name: String,
}

fn main() {}
