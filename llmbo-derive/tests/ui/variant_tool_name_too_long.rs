use llmbo::BatchOutput;

/// A person.
#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
struct Person {
    name: String,
}

#[derive(BatchOutput)]
#[batch_output(tool_per_variant)]
enum Extraction {
    #[batch_output(name = "a_tool_name_that_goes_on_and_on_well_past_the_sixty_four_character_limit")]
    Person(Person),
}

fn main() {}
