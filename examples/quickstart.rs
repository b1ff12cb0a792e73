//! The main job of llmbo, end to end: a typed extraction over many records.
//!
//! Until the job lifecycle lands, this shows the typed core: the tool definition Bedrock
//! receives for `Person`, and how a model's tool input is parsed back, or rejected with the
//! JSON path of the bad value.
//!
//! Run it with `cargo run --example quickstart`.

use llmbo::{BatchOutput, ModelInput};
use schemars::JsonSchema;
use serde::Deserialize;

/// A person named in the text.
#[derive(Debug, Deserialize, JsonSchema, BatchOutput)]
struct Person {
    /// Full name as written.
    name: String,
    /// Age in years, if the text gives it.
    age: Option<u32>,
    /// Every role the person has in the text.
    roles: Vec<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tool = Person::tool_definition();
    println!(
        "Tool sent to the model:\n{}",
        serde_json::to_string_pretty(&tool)?
    );

    let input = ModelInput::new()
        .system("Extract the person the text is about.")
        .user(llmbo_workspace::sample_text(0))
        .max_tokens(512)
        .tool(tool.clone())
        .tool_choice(llmbo::ToolChoice::Tool {
            name: tool.name.clone(),
        });
    input.validate()?;
    println!(
        "\nA request, provider-neutral:\n{}",
        serde_json::to_string_pretty(&input)?
    );

    let answer = serde_json::json!({"name": "Ada Lovelace", "age": 36, "roles": ["speaker"]});
    let person = Person::from_tool_input(answer)?;
    println!(
        "\nParsed: {} (age {:?}) as {:?}",
        person.name, person.age, person.roles
    );

    let bad = serde_json::json!({"name": "Ada Lovelace", "age": 36, "roles": ["speaker", 7]});
    match Person::from_tool_input(bad) {
        Ok(person) => println!("unexpectedly parsed {}", person.name),
        Err(err) => println!("Rejected: {err}"),
    }
    Ok(())
}
