use llmbo::BatchOutput;

#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
enum Sentiment {
    Positive,
    Negative,
}

fn main() {}
