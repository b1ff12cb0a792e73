//! The JSON Schema subset Bedrock's grammar compiler takes for native structured output and
//! `strict` tools, checked as Bedrock checks it: a schema outside it gets a 400 whose message
//! names the rule (the messages as seen on the wire; the rules: AWS, "Structured outputs", <https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html>).
//!
//! Refused, on evidence: numeric bounds (`minimum`, `maximum`, `exclusiveMinimum`,
//! `exclusiveMaximum`, `multipleOf`), `maxItems`, `minItems` other than 0 or 1, an object
//! without `additionalProperties: false`, `$ref` that is not internal or that recurses, more
//! than 16 union-typed or 24 optional parameters. Accepted, since the evidence conflicts or is
//! missing: `minLength`/`maxLength`, `pattern`, any `format`, `oneOf` (see the README).

use serde_json::{Map, Value};

/// The most parameters with union types (type arrays, `anyOf`).
pub const MAX_UNION_PARAMETERS: usize = 16;
/// The most optional object properties.
pub const MAX_OPTIONAL_PARAMETERS: usize = 24;

const NUMERIC_BOUNDS: [&str; 5] = [
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
];

/// The most schema nodes one check visits (a `$ref` used twice at each of many levels would
/// otherwise be walked exponentially often).
const MAX_VISITS: usize = 100_000;

struct Check<'a> {
    root: &'a Value,
    unions: usize,
    optional: usize,
    visits: usize,
    /// The `$ref`s being followed, to find recursion.
    following: Vec<String>,
}

/// Checks `schema` against the subset; the error is Bedrock's sentence, without the field
/// prefix (`output_config.format.schema: `) the caller adds.
pub fn check(schema: &Value) -> Result<(), String> {
    let mut check = Check {
        root: schema,
        unions: 0,
        optional: 0,
        visits: 0,
        following: Vec::new(),
    };
    check.node(schema, 0)?;
    if check.unions > MAX_UNION_PARAMETERS {
        return Err(format!(
            "Schemas contains too many parameters with union types ({} parameters with type arrays or anyOf). This may cause excessive compilation time. Please reduce the number of parameters with union types (limit: {MAX_UNION_PARAMETERS})",
            check.unions
        ));
    }
    if check.optional > MAX_OPTIONAL_PARAMETERS {
        return Err(format!(
            "Schemas contains too many optional parameters ({} parameters not in required). Please reduce the number of optional parameters (limit: {MAX_OPTIONAL_PARAMETERS})",
            check.optional
        ));
    }
    Ok(())
}

fn type_names(map: &Map<String, Value>) -> Vec<&str> {
    match map.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

impl Check<'_> {
    fn node(&mut self, schema: &Value, depth: usize) -> Result<(), String> {
        // Deep schemas are refused long before the stack is at risk.
        if depth > 64 {
            return Err("Schema is too deeply nested".into());
        }
        self.visits += 1;
        if self.visits > MAX_VISITS {
            return Err("Schema is too complex to compile into a grammar".into());
        }
        let map = match schema {
            Value::Object(map) => map,
            Value::Bool(_) => return Ok(()),
            _ => return Err("Schema must be an object or a boolean".into()),
        };
        if let Some(reference) = map.get("$ref") {
            let Some(reference) = reference
                .as_str()
                .filter(|r| *r == "#" || r.starts_with("#/"))
            else {
                return Err("External $ref is not supported; only internal references (#/$defs/..., #/definitions/...) are".into());
            };
            if self.following.iter().any(|r| r == reference) {
                return Err("Recursive schemas are not supported".into());
            }
            let target = self
                .root
                .pointer(&reference[1..])
                .ok_or_else(|| format!("$ref {reference} does not resolve"))?;
            self.following.push(reference.to_owned());
            let result = self.node(target, depth + 1);
            self.following.pop();
            result?;
        }
        let types = type_names(map);
        let numeric: Vec<&str> = NUMERIC_BOUNDS
            .into_iter()
            .filter(|key| map.contains_key(*key))
            .collect();
        if !numeric.is_empty() {
            let kind = if types.contains(&"integer") {
                "integer"
            } else {
                "number"
            };
            return Err(format!(
                "For '{kind}' type, properties {} are not supported",
                numeric.join(", ")
            ));
        }
        if map.contains_key("maxItems") {
            return Err("For 'array' type, property 'maxItems' is not supported".into());
        }
        if let Some(min) = map.get("minItems")
            && !matches!(min.as_u64(), Some(0 | 1))
        {
            return Err(
                "For 'array' type, 'minItems' values other than 0 or 1 are not supported".into(),
            );
        }
        if types.len() > 1 {
            self.unions += 1;
        }
        let is_object = types.contains(&"object") || map.contains_key("properties");
        // An object said by its options (an `anyOf` of closed objects) is checked there.
        let by_options = !map.contains_key("properties")
            && ["anyOf", "oneOf", "allOf"]
                .iter()
                .any(|k| map.contains_key(*k));
        if is_object && !by_options {
            if map.get("additionalProperties") != Some(&Value::Bool(false)) {
                return Err(
                    "For 'object' type, 'additionalProperties' must be explicitly set to false"
                        .into(),
                );
            }
            let properties = map.get("properties").and_then(Value::as_object);
            let required = map
                .get("required")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            self.optional += properties.map_or(0, Map::len).saturating_sub(required);
            for child in properties.into_iter().flat_map(Map::values) {
                self.node(child, depth + 1)?;
            }
        }
        if let Some(items) = map.get("items") {
            match items {
                Value::Array(items) => {
                    for item in items {
                        self.node(item, depth + 1)?;
                    }
                }
                item => self.node(item, depth + 1)?,
            }
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(options) = map.get(key).and_then(Value::as_array) {
                if key != "allOf" {
                    self.unions += 1;
                }
                for option in options {
                    self.node(option, depth + 1)?;
                }
            }
        }
        for key in ["$defs", "definitions"] {
            if let Some(defs) = map.get(key).and_then(Value::as_object) {
                for def in defs.values() {
                    self.node(def, depth + 1)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check;

    fn object(properties: serde_json::Value) -> serde_json::Value {
        json!({"type": "object", "properties": properties, "additionalProperties": false})
    }

    #[test]
    fn the_subset_is_accepted() {
        let schema = json!({"type": "object", "additionalProperties": false, "required": ["a"],
            "properties": {"a": {"type": "array", "minItems": 1, "items": object(json!({"b": {"type": ["string", "null"], "format": "date"}}))},
                           "c": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}});
        assert_eq!(check(&schema), Ok(()));
    }

    #[test]
    fn each_rule_has_bedrocks_message() {
        let cases = [
            (
                object(json!({"n": {"type": "integer", "minimum": 0, "maximum": 9}})),
                "For 'integer' type, properties minimum, maximum are not supported",
            ),
            (
                object(json!({"l": {"type": "array", "items": {"type": "string"}, "maxItems": 3}})),
                "For 'array' type, property 'maxItems' is not supported",
            ),
            (
                object(json!({"l": {"type": "array", "items": {"type": "string"}, "minItems": 2}})),
                "For 'array' type, 'minItems' values other than 0 or 1 are not supported",
            ),
            (
                json!({"type": "object", "properties": {}}),
                "For 'object' type, 'additionalProperties' must be explicitly set to false",
            ),
            (
                json!({"type": "object", "additionalProperties": false, "properties": {"next": {"$ref": "#"}}}),
                "Recursive schemas are not supported",
            ),
            (
                object(json!({"x": {"$ref": "https://example.com/s.json"}})),
                "External $ref",
            ),
        ];
        for (schema, message) in cases {
            let err = check(&schema).unwrap_err();
            assert!(err.starts_with(message), "{schema}: {err}");
        }
        // `$ref`s that fan out at every level: refused, not walked 2^60 times.
        let mut defs = serde_json::Map::new();
        for i in 0..30 {
            let next = format!("#/$defs/d{}", i + 1);
            defs.insert(
                format!("d{i}"),
                object(json!({"a": {"$ref": next}, "b": {"$ref": next}})),
            );
        }
        defs.insert("d30".into(), json!({"type": "string"}));
        let mut fan = object(json!({"root": {"$ref": "#/$defs/d0"}}));
        fan["$defs"] = serde_json::Value::Object(defs);
        assert!(check(&fan).unwrap_err().contains("too complex"));
        let many: serde_json::Map<String, serde_json::Value> = (0..17)
            .map(|i| (format!("p{i}"), json!({"type": ["string", "null"]})))
            .collect();
        let mut schema = object(serde_json::Value::Object(many.clone()));
        schema["required"] = json!(many.keys().collect::<Vec<_>>());
        assert!(check(&schema).unwrap_err().contains("limit: 16"));
        let optional: serde_json::Map<String, serde_json::Value> = (0..25)
            .map(|i| (format!("p{i}"), json!({"type": "string"})))
            .collect();
        assert!(
            check(&object(serde_json::Value::Object(optional)))
                .unwrap_err()
                .contains("limit: 24")
        );
    }
}
