use llmbo::BatchOutput;

/// A person.
#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
struct Person {
    name: String,
}

#[derive(BatchOutput)]
#[batch_output(tool_per_variant)]
enum Extraction {
    Person(Person),
    Count(u32),
}

fn main() {}
