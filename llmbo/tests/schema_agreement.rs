//! The schema a model is given and the parser its answer goes through must agree: every tool
//! input that `from_tool_input` accepts validates against `input_schema` (so a model that
//! follows the schema is never told it could have written something else), and the schema
//! rejects nothing the parser would accept. Checked over systematic mutations of valid seeds,
//! in the style of schemars' own test suite; plus golden snapshots of the tool definitions.
//!
//! Regenerate the snapshots with `LLMBO_BLESS=1 cargo test -p llmbo --test schema_agreement`.

#![allow(dead_code)] // the types exist for their schemas and parsers

use std::path::PathBuf;

use llmbo::{BatchOutput, ToolDefinition};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// A person named in the text.
#[derive(Deserialize, JsonSchema, BatchOutput)]
struct Person {
    /// Full name as written.
    name: String,
    /// Age in years.
    age: Option<u32>,
    /// Nicknames.
    aliases: Vec<String>,
}

/// How an article feels.
#[derive(Deserialize, JsonSchema)]
enum Tone {
    Positive,
    Neutral,
    Negative,
}

/// A calendar date.
#[derive(Deserialize, JsonSchema)]
struct Date {
    year: i32,
    month: u8,
    day: u8,
}

/// An article and who wrote it.
#[derive(Deserialize, JsonSchema, BatchOutput)]
#[serde(rename_all = "camelCase")]
struct Article {
    /// The headline.
    headline: String,
    /// Everyone credited.
    #[serde(rename = "authorList")]
    authors: Vec<Person>,
    published_on: Option<Date>,
    /// Defaults to zero when the model leaves it out.
    #[serde(default)]
    word_count: u64,
    tone: Tone,
    /// A score between 0 and 1.
    confidence: f64,
}

/// One finding, whichever kind it is.
#[derive(Deserialize, JsonSchema, BatchOutput)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Finding {
    Person { name: String, age: Option<u8> },
    Place { name: String, country: String },
    Nothing,
}

/// An event, adjacently tagged.
#[derive(Deserialize, JsonSchema, BatchOutput)]
#[serde(tag = "type", content = "data")]
enum Event {
    Meeting { attendees: Vec<String> },
    Call { minutes: u16 },
}

/// Strict: unknown keys are errors.
#[derive(Deserialize, JsonSchema, BatchOutput)]
#[serde(deny_unknown_fields)]
struct Strict {
    id: String,
    #[serde(default)]
    flags: Vec<bool>,
}

/// Common fields flattened into the record.
#[derive(Deserialize, JsonSchema, BatchOutput)]
struct WithMeta {
    label: String,
    #[serde(flatten)]
    meta: Meta,
}

#[derive(Deserialize, JsonSchema)]
struct Meta {
    source: String,
    page: Option<u32>,
}

/// The values substituted at every position of a seed.
fn palette() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(255),
        json!(4_294_967_296_u64),
        json!(""),
        json!("Positive"),
        json!("place"),
        json!([]),
        json!(["x"]),
        // A struct in array form, which serde alone would accept.
        json!([1, 2, 3]),
        json!({}),
    ]
}

/// Every way to change one position of `value`: replace it with a palette value, drop it from
/// its object, add an unknown key to an object, empty or grow an array.
fn mutations(value: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = palette();
    match value {
        Value::Object(map) => {
            let mut extra = map.clone();
            extra.insert("unexpected".into(), json!("x"));
            out.push(Value::Object(extra));
            for (key, child) in map {
                let mut without = map.clone();
                without.shift_remove(key);
                out.push(Value::Object(without));
                for mutated in mutations(child) {
                    let mut changed = map.clone();
                    changed.insert(key.clone(), mutated);
                    out.push(Value::Object(changed));
                }
            }
        }
        Value::Array(items) => {
            out.push(json!([]));
            if let Some(first) = items.first() {
                let mut grown = items.clone();
                grown.push(first.clone());
                out.push(Value::Array(grown));
            }
            for (i, child) in items.iter().enumerate() {
                for mutated in mutations(child) {
                    let mut changed = items.clone();
                    changed[i] = mutated;
                    out.push(Value::Array(changed));
                }
            }
        }
        _ => {}
    }
    out
}

struct Tally {
    candidates: usize,
    parser_accepts: usize,
    schema_rejects: usize,
}

/// Checks parser ⊆ schema over the seeds and all their mutations.
fn check_agreement<T: BatchOutput>(seeds: &[Value]) -> Tally {
    let tool = T::tool_definition();
    let validator = jsonschema::draft7::new(&tool.input_schema)
        .unwrap_or_else(|e| panic!("schema of {} does not compile: {e}", tool.name));
    let mut tally = Tally {
        candidates: 0,
        parser_accepts: 0,
        schema_rejects: 0,
    };
    for seed in seeds {
        assert!(
            T::from_tool_input(seed.clone()).is_ok(),
            "seed must parse: {seed}"
        );
        let mut candidates = mutations(seed);
        candidates.push(seed.clone());
        for candidate in candidates {
            tally.candidates += 1;
            let parsed = T::from_tool_input(candidate.clone());
            // Jobs read the text straight into `T`; that path must decide the same.
            let text = candidate.to_string();
            assert_eq!(
                T::from_tool_input_str(&text).is_ok(),
                parsed.is_ok(),
                "{}: the text and `Value` parsers disagree on {text}",
                tool.name
            );
            let valid = validator.is_valid(&candidate);
            if parsed.is_ok() {
                tally.parser_accepts += 1;
                assert!(
                    valid,
                    "{}: parser accepts but schema rejects {candidate}: {:?}",
                    tool.name,
                    validator
                        .iter_errors(&candidate)
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                );
            }
            if !valid {
                tally.schema_rejects += 1;
                assert!(
                    parsed.is_err(),
                    "{}: schema rejects but parser accepts {candidate}",
                    tool.name
                );
            }
        }
    }
    // Both outcomes must occur, or the check above proved nothing.
    assert!(
        tally.parser_accepts > seeds.len(),
        "{}: too few accepted candidates",
        tool.name
    );
    assert!(
        tally.schema_rejects > 10,
        "{}: too few rejected candidates",
        tool.name
    );
    tally
}

#[test]
fn person_schema_agrees_with_parser() {
    check_agreement::<Person>(&[
        json!({"name": "Ada", "age": 36, "aliases": ["Countess"]}),
        json!({"name": "Alan", "age": null, "aliases": []}),
        json!({"name": "Grace", "aliases": ["Amazing Grace", "Grandma COBOL"]}),
    ]);
}

#[test]
fn nested_article_schema_agrees_with_parser() {
    let tally = check_agreement::<Article>(&[
        json!({
            "headline": "Compilers",
            "authorList": [{"name": "Grace", "age": 80, "aliases": []}],
            "publishedOn": {"year": 1952, "month": 5, "day": 1},
            "wordCount": 1200,
            "tone": "Positive",
            "confidence": 0.9
        }),
        json!({"headline": "x", "authorList": [], "tone": "Neutral", "confidence": 0}),
    ]);
    assert!(
        tally.candidates > 200,
        "only {} candidates",
        tally.candidates
    );
}

#[test]
fn internally_tagged_enum_schema_agrees_with_parser() {
    check_agreement::<Finding>(&[
        json!({"kind": "person", "name": "Ada", "age": 36}),
        json!({"kind": "place", "name": "Paris", "country": "France"}),
        json!({"kind": "nothing"}),
    ]);
}

#[test]
fn adjacently_tagged_enum_schema_agrees_with_parser() {
    check_agreement::<Event>(&[
        json!({"type": "Meeting", "data": {"attendees": ["a", "b"]}}),
        json!({"type": "Call", "data": {"minutes": 15}}),
    ]);
}

#[test]
fn deny_unknown_fields_schema_agrees_with_parser() {
    check_agreement::<Strict>(&[
        json!({"id": "a", "flags": [true, false]}),
        json!({"id": "b"}),
    ]);
    assert!(Strict::from_tool_input(json!({"id": "a", "extra": 1})).is_err());
}

#[test]
fn flattened_schema_agrees_with_parser() {
    check_agreement::<WithMeta>(&[
        json!({"label": "a", "source": "s", "page": 3}),
        json!({"label": "b", "source": "t"}),
    ]);
}

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.json"))
}

/// Compares a tool definition with its golden file, or rewrites the file under `LLMBO_BLESS`.
fn assert_snapshot(tool: &ToolDefinition) {
    let path = snapshot_path(&tool.name);
    let actual = serde_json::to_string_pretty(tool).expect("serializable") + "\n";
    if std::env::var_os("LLMBO_BLESS").is_some() {
        std::fs::write(&path, &actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot at {}; run with LLMBO_BLESS=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        actual, expected,
        "tool definition of {} changed; if on purpose, rerun with LLMBO_BLESS=1",
        tool.name
    );
}

fn has_ref(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.contains_key("$ref") || map.values().any(has_ref),
        Value::Array(items) => items.iter().any(has_ref),
        _ => false,
    }
}

#[test]
fn tool_definitions_match_their_golden_snapshots() {
    let tools = [
        Person::tool_definition(),
        Article::tool_definition(),
        Finding::tool_definition(),
        Event::tool_definition(),
        Strict::tool_definition(),
        WithMeta::tool_definition(),
    ];
    for tool in &tools {
        let schema: &Map<String, Value> = tool.input_schema.as_object().expect("object schema");
        assert_eq!(schema["type"], "object", "{}", tool.name);
        assert!(!has_ref(&tool.input_schema), "{} has a $ref", tool.name);
        assert!(!schema.contains_key("$schema"));
        assert_snapshot(tool);
    }
}

/// `/authorList/0/age` as serde_path_to_error writes it: `authorList[0].age` (`.` at the top).
fn serde_path(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').skip(1) {
        if part.parse::<usize>().is_ok() {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    if out.is_empty() { ".".into() } else { out }
}

/// The strict form (what JsonSchema and StrictTool send) drops constraints into words, so it
/// accepts values the full schema does not. Each such value must be refused by the parser,
/// and for the reason the full schema gives: at the same path. Also, llmbo-local (the oracle,
/// written apart) takes every strict form as Bedrock's grammar compiler would.
fn check_strict_agreement<T: BatchOutput>(seeds: &[Value]) -> usize {
    check_strict_agreement_at::<T>(seeds, false)
}

/// As above; `flattened`: serde reads `#[serde(flatten)]` fields from a buffer and names no
/// path inside them, so the parser's path there is the top (`.`).
fn check_strict_agreement_at<T: BatchOutput>(seeds: &[Value], flattened: bool) -> usize {
    let tool = T::tool_definition();
    let strict = tool
        .strict()
        .unwrap_or_else(|e| panic!("{}: {e}", tool.name));
    assert_eq!(
        llmbo_local::strict::check(&strict.input_schema),
        Ok(()),
        "{}: llmbo-local refuses the strict form",
        tool.name
    );
    let full = jsonschema::draft7::new(&tool.input_schema).expect("full schema compiles");
    let loose = jsonschema::draft7::new(&strict.input_schema).expect("strict schema compiles");
    let mut only_strict = 0;
    for seed in seeds {
        // What the model must be able to write: a strict form that refused it would make
        // constrained decoding produce something else.
        assert!(
            loose.is_valid(seed),
            "{}: the strict form refuses the valid {seed}: {:?}",
            tool.name,
            loose
                .iter_errors(seed)
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
        );
        let mut candidates = mutations(seed);
        candidates.push(seed.clone());
        for candidate in candidates {
            if !loose.is_valid(&candidate) || full.is_valid(&candidate) {
                continue;
            }
            only_strict += 1;
            let paths: Vec<String> = full
                .iter_errors(&candidate)
                .map(|e| serde_path(&e.instance_path().to_string()))
                .collect();
            match T::from_tool_input(candidate.clone()) {
                Ok(_) => panic!(
                    "{}: the strict schema accepts {candidate}, the full one does not, and the parser accepts it",
                    tool.name
                ),
                Err(llmbo::RecordError::ToolInputInvalid { path, .. }) => assert!(
                    (flattened && path == ".")
                        || paths.iter().any(|p| *p == path
                            || p == "."
                            || p.starts_with(&path)
                            || path.starts_with(p.as_str())),
                    "{}: {candidate}: the parser refuses at `{path}`, the schema at {paths:?}",
                    tool.name
                ),
                Err(other) => panic!("{}: {candidate}: {other:?}", tool.name),
            }
        }
    }
    only_strict
}

#[test]
fn strict_forms_refuse_through_the_parser_what_they_drop() {
    let person = [json!({"name": "Ada", "age": 36, "aliases": ["Countess"]})];
    let article = [json!({
        "headline": "Compilers",
        "authorList": [{"name": "Grace", "age": 80, "aliases": []}],
        "publishedOn": {"year": 1952, "month": 5, "day": 1},
        "wordCount": 1200, "tone": "Positive", "confidence": 0.9
    })];
    // Negative ages, months over 255: the full schema's minimum/maximum, said only in words.
    assert!(check_strict_agreement::<Person>(&person) > 0);
    assert!(check_strict_agreement::<Article>(&article) > 0);
    check_strict_agreement::<Finding>(&[
        json!({"kind": "person", "name": "Ada", "age": 36}),
        json!({"kind": "place", "name": "Paris", "country": "France"}),
    ]);
    check_strict_agreement::<Event>(&[json!({"type": "Call", "data": {"minutes": 15}})]);
    check_strict_agreement::<Strict>(&[json!({"id": "a", "flags": [true]})]);
    assert!(
        check_strict_agreement_at::<WithMeta>(
            &[json!({"label": "a", "source": "s", "page": 3})],
            true
        ) > 0
    );
}

#[test]
fn strict_forms_match_their_golden_snapshots() {
    for tool in [
        Person::tool_definition(),
        Article::tool_definition(),
        Finding::tool_definition(),
        Event::tool_definition(),
        Strict::tool_definition(),
        WithMeta::tool_definition(),
    ] {
        let mut strict = tool
            .strict()
            .unwrap_or_else(|e| panic!("{}: {e}", tool.name));
        strict.name = format!("strict/{}", tool.name);
        assert_snapshot(&strict);
    }
}
