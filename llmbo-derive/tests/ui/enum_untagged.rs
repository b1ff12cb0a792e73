use llmbo::BatchOutput;

#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
#[serde(untagged)]
enum Answer {
    Text(String),
    Number(f64),
}

fn main() {}
