//! Tool inputs generated from a schema validate against it, for every schema feature that
//! clients send (including pydantic's `$ref` into `$defs`/`definitions`).

use llmbo_local::Rng;
use llmbo_local::schema_gen::{generate, violate};
use serde_json::{Value, json};

fn schemas() -> Vec<Value> {
    vec![
        json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}),
        json!({"type": "object", "properties": {
            "name": {"type": "string", "minLength": 3, "maxLength": 8},
            "age": {"type": "integer", "minimum": 18, "maximum": 20},
            "score": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "even": {"type": "integer", "multipleOf": 2, "minimum": 1, "maximum": 9},
            "kind": {"enum": ["a", "b", 3]},
            "fixed": {"const": {"x": 1}},
            "maybe": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4, "uniqueItems": true},
            "when": {"type": "string", "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "mail": {"type": "string", "format": "email"},
            "id": {"type": "string", "format": "uuid"},
            "link": {"type": "string", "format": "uri"},
            "flag": {"type": "boolean"}
        }, "required": ["name", "age", "score", "even", "kind", "fixed", "tags", "when", "day", "mail", "id", "link", "flag"],
           "additionalProperties": false}),
        // pydantic v2 style
        json!({"type": "object", "properties": {"owner": {"$ref": "#/$defs/Person"},
               "pets": {"type": "array", "items": {"$ref": "#/$defs/Pet"}}},
               "required": ["owner", "pets"],
               "$defs": {"Person": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
                         "Pet": {"oneOf": [{"type": "object", "properties": {"kind": {"const": "cat"}, "lives": {"type": "integer", "minimum": 1, "maximum": 9}}, "required": ["kind", "lives"]},
                                           {"type": "object", "properties": {"kind": {"const": "dog"}}, "required": ["kind"]}]}}}),
        // pydantic v1 / draft-07 style, with anyOf for Optional
        json!({"type": "object", "properties": {"address": {"anyOf": [{"$ref": "#/definitions/Address"}, {"type": "null"}]}},
               "required": ["address"],
               "definitions": {"Address": {"type": "object", "properties": {"zip": {"type": "string", "maxLength": 5}}, "required": ["zip"]}}}),
        // recursive through the root
        json!({"type": "object", "properties": {"label": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}},
               "required": ["label", "children"]}),
        // allOf composition
        json!({"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                         {"type": "object", "properties": {"b": {"type": "boolean"}}, "required": ["b"]}]}),
        // an internally tagged enum as schemars writes it
        json!({"type": "object", "oneOf": [
            {"type": "object", "properties": {"t": {"type": "string", "const": "x"}, "v": {"type": "integer", "format": "uint8", "minimum": 0, "maximum": 255}}, "required": ["t", "v"]},
            {"type": "object", "properties": {"t": {"type": "string", "const": "y"}}, "required": ["t"]}]}),
    ]
}

#[test]
fn generated_values_validate_against_their_schema() {
    for schema in schemas() {
        let validator =
            jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{schema}: {e}"));
        for seed in 0..300u64 {
            let mut rng = Rng::new(seed, b"record");
            let value = generate(&schema, &mut rng).unwrap();
            assert!(
                validator.is_valid(&value),
                "seed {seed}: {value} breaks {schema}: {:?}",
                validator
                    .iter_errors(&value)
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn generation_is_deterministic_and_varied() {
    let schema = &schemas()[1];
    let a = generate(schema, &mut Rng::new(1, b"r1")).unwrap();
    let b = generate(schema, &mut Rng::new(1, b"r1")).unwrap();
    let c = generate(schema, &mut Rng::new(1, b"r2")).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn violations_break_the_schema() {
    for schema in schemas().into_iter().take(4) {
        let validator = jsonschema::validator_for(&schema).unwrap();
        let value = generate(&schema, &mut Rng::new(9, b"v")).unwrap();
        let broken = violate(&schema, &value);
        assert!(
            !validator.is_valid(&broken),
            "{broken} should break {schema}"
        );
    }
}

/// Schemas that would hang or exhaust the server are refused in bounded time and memory, and
/// strings of any characters are cut safely.
#[test]
fn hostile_schemas_are_refused_not_followed() {
    let hostile = [
        json!({"type": "object", "$ref": "#"}),
        json!({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}),
        json!({"type": "array", "items": {"type": "string"}, "minItems": 4_000_000_000u64}),
        json!({"type": "string", "minLength": 9_000_000_000_000u64}),
        json!({"type": "object", "minProperties": 1_000_000_000u64}),
        json!({"type": "array", "items": {"type": "string"}, "minItems": 0, "maxItems": u64::MAX}),
        // Each level asks for four copies of the level below: 4^48 values if followed.
        json!({"$defs": {"n": {"type": "object", "properties": {
            "a": {"$ref": "#/$defs/n"}, "b": {"$ref": "#/$defs/n"},
            "c": {"$ref": "#/$defs/n"}, "d": {"$ref": "#/$defs/n"}},
            "required": ["a", "b", "c", "d"]}}, "$ref": "#/$defs/n"}),
    ];
    for schema in hostile {
        let started = std::time::Instant::now();
        let outcome = generate(&schema, &mut Rng::new(3, b"h"));
        assert!(
            outcome.is_err() || schema["maxItems"] == json!(u64::MAX),
            "{schema}: {outcome:?}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{schema}"
        );
    }
    // Any string value, halved for a truncated answer, is cut at a character boundary.
    let schema =
        json!({"type": "object", "properties": {"é": {"const": "ééééé"}}, "required": ["é"]});
    let value = generate(&schema, &mut Rng::new(1, b"x")).unwrap();
    assert_eq!(value["é"], "ééééé");
}
