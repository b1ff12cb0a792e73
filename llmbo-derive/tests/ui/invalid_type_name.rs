use llmbo::BatchOutput;

#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
struct _Person {
    name: String,
}

fn main() {}
