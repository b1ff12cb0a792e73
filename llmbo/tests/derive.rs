//! What `#[derive(BatchOutput)]` produces for ordinary user types.

// Several fields exist only to shape a schema and are never read.
#![allow(dead_code)]

use llmbo::{BatchOutput, RecordError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// A person named in the text.
///
/// Only people, not organisations.
#[derive(Debug, PartialEq, Deserialize, JsonSchema, BatchOutput)]
struct Person {
    /// Full name as written.
    name: String,
    /// Age in years.
    age: Option<u32>,
    /// Jobs held.
    jobs: Vec<Job>,
}

/// A job someone holds.
#[derive(Debug, PartialEq, Deserialize, JsonSchema)]
struct Job {
    /// The job title.
    title: String,
    since: Option<u16>,
}

fn refs_in(value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, v)| {
                let mut found = refs_in(v);
                if key == "$ref" || key == "$defs" || key == "definitions" {
                    found.push(key.clone());
                }
                found
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(refs_in).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn tool_names_every_property_requires_non_options_and_carries_docs() {
    let tool = Person::tool_definition();
    assert_eq!(tool.name, "Person");
    assert_eq!(
        tool.description,
        "A person named in the text.\n\nOnly people, not organisations."
    );
    let schema = &tool.input_schema;
    assert_eq!(schema["type"], "object");
    let properties = schema["properties"].as_object().expect("properties");
    assert_eq!(
        properties.keys().collect::<Vec<_>>(),
        ["name", "age", "jobs"],
        "properties keep declaration order"
    );
    assert_eq!(schema["required"], json!(["name", "jobs"]));
    assert_eq!(properties["name"]["description"], "Full name as written.");
    assert_eq!(properties["age"]["description"], "Age in years.");
    // The nested struct is inlined, with its own docs and required list.
    let job = &properties["jobs"]["items"];
    assert_eq!(job["type"], "object");
    assert_eq!(job["properties"]["title"]["description"], "The job title.");
    assert_eq!(job["required"], json!(["title"]));
    assert!(schema.get("$schema").is_none());
    assert!(schema.get("title").is_none());
    assert_eq!(refs_in(schema), Vec::<String>::new());
}

#[test]
fn tool_definition_is_cached_and_stable() {
    assert_eq!(Person::tool_definition(), Person::tool_definition());
}

#[test]
fn parses_a_valid_tool_input() {
    let person = Person::from_tool_input(json!({
        "name": "Grace Hopper",
        "jobs": [{"title": "rear admiral", "since": 1983}]
    }))
    .expect("valid input");
    assert_eq!(person.age, None);
    assert_eq!(person.jobs[0].since, Some(1983));
}

#[test]
fn a_bad_value_is_reported_at_its_json_path() {
    let err = Person::from_tool_input(json!({
        "name": "Grace Hopper",
        "jobs": [{"title": "a"}, {"title": "b"}, {"title": "c", "since": -4}]
    }))
    .unwrap_err();
    let RecordError::ToolInputInvalid { path, message } = &err else {
        panic!("wrong error: {err:?}");
    };
    assert_eq!(path, "jobs[2].since");
    assert!(message.contains("-4"), "{message}");

    let missing = Person::from_tool_input(json!({"jobs": []})).unwrap_err();
    assert!(
        matches!(&missing, RecordError::ToolInputInvalid { message, .. } if message.contains("missing field `name`")),
        "{missing:?}"
    );
    let not_object = Person::from_tool_input(json!(["Grace"])).unwrap_err();
    assert!(matches!(not_object, RecordError::ToolInputInvalid { .. }));
}

/// Overridden.
#[derive(Deserialize, JsonSchema, BatchOutput)]
#[batch_output(name = "extract_city", description = "A city and its country.")]
struct City {
    name: String,
}

#[test]
fn attributes_override_name_and_description() {
    let tool = City::tool_definition();
    assert_eq!(tool.name, "extract_city");
    assert_eq!(tool.description, "A city and its country.");
}

#[derive(Deserialize, JsonSchema, BatchOutput)]
struct Undocumented {
    value: i64,
}

#[test]
fn a_type_without_docs_gets_a_description_from_its_name() {
    assert_eq!(
        Undocumented::tool_definition().description,
        "Record the Undocumented found in the input."
    );
}

/// A labelled value.
#[derive(Debug, Deserialize, JsonSchema, BatchOutput)]
struct Labelled<T> {
    label: String,
    value: T,
}

#[test]
fn generic_types_get_one_schema_per_instantiation() {
    let numbers = Labelled::<u8>::tool_definition();
    let texts = Labelled::<String>::tool_definition();
    assert_eq!(
        numbers.input_schema["properties"]["value"]["type"],
        "integer"
    );
    assert_eq!(texts.input_schema["properties"]["value"]["type"], "string");
    let parsed = Labelled::<u8>::from_tool_input(json!({"label": "x", "value": 7})).unwrap();
    assert_eq!(parsed.value, 7);
}

#[allow(non_camel_case_types)]
#[derive(Deserialize, JsonSchema, BatchOutput)]
struct r#type {
    r#as: String,
}

#[test]
fn raw_identifiers_are_named_without_the_prefix() {
    let tool = r#type::tool_definition();
    assert_eq!(tool.name, "type");
    assert!(tool.input_schema["properties"].get("as").is_some());
}

/// A tree of sections.
#[derive(Deserialize, JsonSchema, BatchOutput)]
struct Section {
    heading: String,
    children: Vec<Section>,
}

#[test]
fn a_recursive_type_keeps_its_self_reference_resolvable() {
    let tool = Section::tool_definition();
    assert_eq!(tool.input_schema["type"], "object");
    // Inlining cannot end for a type that contains itself, so its reference must resolve
    // inside the schema itself.
    let validator = jsonschema::draft7::new(&tool.input_schema).expect("schema compiles");
    assert!(
        validator
            .is_valid(&json!({"heading": "a", "children": [{"heading": "b", "children": []}]}))
    );
    assert!(
        !validator.is_valid(&json!({"heading": "a", "children": [{"heading": 1, "children": []}]}))
    );
}

#[no_implicit_prelude]
mod without_prelude {
    /// Derived where no prelude names are in scope.
    #[derive(::serde::Deserialize, ::llmbo::BatchOutput)]
    pub struct Quiet {
        pub word: ::std::string::String,
    }
}

// schemars' own derive needs the prelude, so this one schema is written by hand.
impl JsonSchema for without_prelude::Quiet {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quiet".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "properties": {"word": {"type": "string"}},
            "required": ["word"]
        })
    }
}

#[test]
fn derives_in_a_no_implicit_prelude_module() {
    let tool = <without_prelude::Quiet as BatchOutput>::tool_definition();
    assert_eq!(tool.name, "Quiet");
    let quiet = without_prelude::Quiet::from_tool_input(json!({"word": "hush"})).unwrap();
    assert_eq!(quiet.word, "hush");
}
