use llmbo::BatchOutput;

#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
#[batch_output(name = "person")]
#[batch_output(name = "human")]
struct Person {
    name: String,
}

fn main() {}
