use llmbo::BatchOutput;

#[derive(serde::Deserialize, BatchOutput)]
struct Person {
    name: String,
}

fn main() {}
