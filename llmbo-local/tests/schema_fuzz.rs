//! Hostile tool schemas never crash, hang or exhaust llmbo-local: random schemas (deep nesting,
//! `$ref` loops and dangling refs, huge `minItems` / `minLength`, contradictions, unions) go
//! through what a job does with a tool (generate an input, check the strict subset, answer a
//! Claude record, make an invalid variant), each within a time bound and a size bound.
//!
//! In the suite: 256 cases. For a long run: `LLMBO_FUZZ_SECONDS=600 cargo test --release -p
//! llmbo-local --test schema_fuzz -- --ignored --nocapture` prints cases, the slowest case, the
//! largest answer and the peak RSS.

use std::time::{Duration, Instant};

use llmbo_local::Rng;
use llmbo_local::schema_gen::{generate, violate};
use llmbo_local::synth::{Answer, Family, answer};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value, json};

/// The longest one schema may take through every step.
const CASE_BOUND: Duration = Duration::from_secs(5);

/// The largest answer (serialized) a schema may produce.
const ANSWER_BOUND: usize = 16 * 1024 * 1024;

fn big_count() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u64..5).prop_map(Value::from),
        Just(json!(1_000_000_000u64)),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
        Just(json!(2.5)),
        Just(json!("10")),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    let ty = prop_oneof![
        Just(json!("string")),
        Just(json!("integer")),
        Just(json!("number")),
        Just(json!("boolean")),
        Just(json!("null")),
        Just(json!("object")),
        Just(json!("array")),
        Just(json!(["string", "null"])),
        Just(json!("no-such-type")),
        Just(json!(42)),
    ];
    let reference = prop_oneof![
        Just("#"),
        Just("#/$defs/A"),
        Just("#/$defs/B"),
        Just("#/definitions/A"),
        Just("#/properties/x"),
        Just("#/$defs/missing"),
        Just("#/$defs/A/properties/a"),
        Just("https://example.com/schema.json"),
        Just("#/%24defs/A"),
        Just(""),
    ];
    prop_oneof![
        4 => (ty, proptest::option::of(big_count()), proptest::option::of(big_count()),
              proptest::option::of(prop_oneof![Just("^[a-z]+$"), Just("(a+)+$"), Just("["), Just("\\d{3}")]),
              proptest::option::of(prop_oneof![Just("date-time"), Just("email"), Just("uuid"), Just("bogus")]))
            .prop_map(|(ty, min, max, pattern, format)| {
                let mut schema = Map::new();
                schema.insert("type".into(), ty);
                if let Some(min) = min {
                    schema.insert("minLength".into(), min.clone());
                    schema.insert("minimum".into(), min.clone());
                    schema.insert("minItems".into(), min.clone());
                    schema.insert("minProperties".into(), min);
                }
                if let Some(max) = max {
                    schema.insert("maxLength".into(), max.clone());
                    schema.insert("maximum".into(), max.clone());
                    schema.insert("maxItems".into(), max);
                }
                if let Some(pattern) = pattern {
                    schema.insert("pattern".into(), json!(pattern));
                }
                if let Some(format) = format {
                    schema.insert("format".into(), json!(format));
                }
                Value::Object(schema)
            }),
        1 => reference.prop_map(|r| json!({"$ref": r})),
        1 => prop::collection::vec(prop_oneof![Just(json!(1)), Just(json!("a")), Just(json!(null)), Just(json!({"k": [1]}))], 0..4)
            .prop_map(|values| json!({"enum": values})),
        1 => Just(json!({"const": {"nested": [1, 2, {"x": null}]}})),
        1 => Just(json!(true)),
        1 => Just(json!(false)),
        1 => Just(json!({})),
        1 => Just(json!({"not": {}})),
    ]
}

fn schema() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(12, 256, 6, |inner| {
        prop_oneof![
            (
                prop::collection::btree_map("[a-e]{1,2}", inner.clone(), 0..6),
                any::<bool>(),
                proptest::option::of(inner.clone()),
                proptest::option::of(prop::collection::btree_map("[AB]", inner.clone(), 1..3)),
                proptest::option::of(big_count())
            )
                .prop_map(|(properties, require_all, additional, defs, min)| {
                    let required: Vec<Value> = if require_all {
                        properties.keys().map(|k| json!(k)).chain([json!("not-there")]).collect()
                    } else {
                        Vec::new()
                    };
                    let mut schema = json!({"type": "object", "properties": properties, "required": required});
                    if let Some(additional) = additional {
                        schema["additionalProperties"] = additional;
                    }
                    if let Some(defs) = defs {
                        schema["$defs"] = json!(defs.clone());
                        schema["definitions"] = json!(defs);
                    }
                    if let Some(min) = min {
                        schema["minProperties"] = min;
                    }
                    schema
                }),
            (inner.clone(), big_count(), proptest::option::of(big_count()), any::<bool>()).prop_map(
                |(items, min, max, unique)| {
                    let mut schema = json!({"type": "array", "items": items, "minItems": min, "uniqueItems": unique});
                    if let Some(max) = max {
                        schema["maxItems"] = max;
                    }
                    schema
                }
            ),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| json!({"anyOf": v})),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| json!({"oneOf": v})),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| json!({"allOf": v})),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"type": "array", "prefixItems": v})),
            inner.clone().prop_map(|s| json!({"not": s})),
        ]
    })
}

/// What one schema may not do: panic (the test fails), take longer than the bound, or make
/// an answer larger than the bound.
fn survives(schema: &Value) -> Result<(Duration, usize), TestCaseError> {
    let started = Instant::now();
    let mut rng = Rng::new(7, b"fuzz");
    let generated = generate(schema, &mut rng);
    if let Ok(value) = &generated {
        let _ = violate(schema, value);
    }
    let _ = llmbo_local::strict::check(schema);
    let body = json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Go."}]}],
        "tools": [{"name": "t", "description": "A tool.", "input_schema": schema}],
        "tool_choice": {"type": "tool", "name": "t"}
    });
    let answered = answer(
        "anthropic.claude-3-haiku-20240307-v1:0",
        Some(Family::Anthropic),
        false,
        &body,
        "FUZZ0001",
        7,
        None,
    );
    let size = match &answered {
        Answer::Output { body, .. } => body.to_string().len(),
        Answer::Error { message, .. } => message.len(),
    };
    let took = started.elapsed();
    prop_assert!(took < CASE_BOUND, "took {took:?} for {schema}");
    prop_assert!(
        size < ANSWER_BOUND,
        "an answer of {size} bytes for {schema}"
    );
    Ok((took, size))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn no_schema_crashes_hangs_or_floods_the_server(schema in schema()) {
        survives(&schema)?;
    }
}

/// Peak resident memory of this process so far, in MiB (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The long run: as many random schemas as fit in `LLMBO_FUZZ_SECONDS` (default 60).
#[test]
#[ignore = "a long run, by hand: LLMBO_FUZZ_SECONDS=600"]
fn fuzz_for_a_while() {
    let seconds: u64 = std::env::var("LLMBO_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runner = TestRunner::deterministic();
    let strategy = schema();
    let (mut cases, mut slowest, mut largest, mut bytes) = (0u64, Duration::ZERO, 0usize, 0usize);
    while Instant::now() < deadline {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let schema = tree.current();
        bytes = bytes.max(schema.to_string().len());
        match survives(&schema) {
            Ok((took, size)) => {
                slowest = slowest.max(took);
                largest = largest.max(size);
            }
            Err(err) => panic!("{err}"),
        }
        cases += 1;
    }
    println!(
        "{cases} schemas in {seconds} s; slowest {slowest:?}; largest answer {largest} bytes; largest schema {bytes} bytes; peak RSS {:.1} MiB",
        peak_rss_mib().unwrap_or(0.0)
    );
}
