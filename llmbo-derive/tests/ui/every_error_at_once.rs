use llmbo::BatchOutput;

#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
#[batch_output(name = "9lives", colour = "red", name = "cat")]
struct Cat(String);

fn main() {}
