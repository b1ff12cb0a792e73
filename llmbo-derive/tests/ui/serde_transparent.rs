use llmbo::BatchOutput;

#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
#[serde(transparent)]
struct Wrapper {
    inner: String,
}

fn main() {}
