//! The strict form of a tool's schema: the JSON Schema subset Bedrock's grammar compiler takes
//! for native structured output (`output_config.format`, `outputConfig.textFormat`,
//! `response_format`) and for `strict: true` tools.
//!
//! The subset, from AWS, "Structured outputs", <https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html> (each rule is data below, so it can be
//! corrected when AWS changes without touching the walk):
//! - `additionalProperties: false` on every object;
//! - no `minimum`/`maximum`/`exclusive*`/`multipleOf`/`maxItems`, `minItems` only 0 or 1,
//!   no `minLength`/`maxLength` (the docs list them unsupported; seen accepted; stripped);
//! - `format` only from a short list; `oneOf` is not listed, `anyOf` is;
//! - no recursion (`$ref`), no maps with free keys;
//! - at most 16 union-typed and 24 optional parameters.
//!
//! A keyword the subset lacks is dropped and said in words in the description ("at most 5
//! items"), so the model still sees it. The parser still holds the answer to the full type.

use serde_json::{Map, Value};

/// What the strict form cannot say, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at `{path}`: {problem}")]
pub struct StrictSchemaError {
    /// The field path, as in `authors[].age` (`.` for the top).
    pub path: String,
    /// What cannot be expressed.
    pub problem: String,
}

/// The limits of one schema (AWS, "Structured outputs", its complexity limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrictLimits {
    /// Parameters whose type is a union (`["integer", "null"]`, `anyOf`).
    pub max_union_parameters: usize,
    /// Object properties that are not required.
    pub max_optional_parameters: usize,
}

impl Default for StrictLimits {
    fn default() -> Self {
        StrictLimits {
            max_union_parameters: 16,
            max_optional_parameters: 24,
        }
    }
}

/// String formats the compiler takes (§1a, "Supported list", plus `uuid` per Anthropic).
const FORMATS: &[&str] = &[
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "uri",
    "ipv4",
    "ipv6",
    "uuid",
];

/// Keywords kept as they are (their sub-schemas are walked separately).
const KEPT: &[&str] = &["type", "enum", "const", "required", "description"];

/// Keywords dropped without a word: annotations, or facts the type already states
/// (`schemars` writes `format: uint32` next to `type: integer`).
const SILENT: &[&str] = &[
    "title",
    "$schema",
    "$id",
    "$comment",
    "deprecated",
    "readOnly",
    "writeOnly",
    "nullable",
    "definitions",
    "$defs",
];

/// Keywords dropped and said in words; `{}` stands for the keyword's value.
const DESCRIBED: &[(&str, &str)] = &[
    ("minimum", "at least {}"),
    ("maximum", "at most {}"),
    ("exclusiveMinimum", "greater than {}"),
    ("exclusiveMaximum", "less than {}"),
    ("multipleOf", "a multiple of {}"),
    ("maxItems", "at most {} items"),
    ("minLength", "at least {} characters"),
    ("maxLength", "at most {} characters"),
    ("pattern", "matching the pattern {}"),
    ("uniqueItems", "items unique: {}"),
    ("minProperties", "at least {} properties"),
    ("maxProperties", "at most {} properties"),
    ("default", "default {}"),
    ("examples", "for example {}"),
];

/// Numeric formats `schemars` writes; the type says enough.
const NUMERIC_FORMATS: &[&str] = &[
    "int8", "int16", "int32", "int64", "int128", "uint", "uint8", "uint16", "uint32", "uint64",
    "uint128", "int", "float", "double",
];

/// The strict form of `schema` (a tool's input schema), within the default limits.
///
/// ```
/// use serde_json::json;
/// let full = json!({"type": "object", "properties": {
///     "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
///     "age": {"type": "integer", "format": "uint32", "minimum": 0}},
///     "required": ["tags"]});
/// let strict = llmbo::schema::strict_schema(&full)?;
/// assert_eq!(strict["additionalProperties"], false);
/// assert_eq!(strict["properties"]["tags"]["description"], "at most 5 items");
/// assert!(strict["properties"]["tags"].get("maxItems").is_none());
/// assert_eq!(strict["properties"]["age"], json!({"type": "integer", "description": "at least 0"}));
///
/// let recursive = json!({"type": "object", "properties": {"next": {"$ref": "#/definitions/Node"}}});
/// assert_eq!(llmbo::schema::strict_schema(&recursive).unwrap_err().path, "next");
/// # Ok::<(), llmbo::schema::StrictSchemaError>(())
/// ```
pub fn strict_schema(schema: &Value) -> Result<Value, StrictSchemaError> {
    strict_schema_with(schema, StrictLimits::default())
}

/// [`strict_schema`] within other limits.
pub fn strict_schema_with(
    schema: &Value,
    limits: StrictLimits,
) -> Result<Value, StrictSchemaError> {
    let mut walk = Walk::default();
    let out = walk.node(schema, &mut Path::default())?;
    if out.get("type").and_then(Value::as_str) != Some("object") {
        return Err(StrictSchemaError {
            path: ".".into(),
            problem: "the top of a tool input must be an object".into(),
        });
    }
    if walk.unions > limits.max_union_parameters {
        return Err(StrictSchemaError {
            path: ".".into(),
            problem: format!(
                "{} parameters have union types (an `Option`, an enum of objects); the limit is {}",
                walk.unions, limits.max_union_parameters
            ),
        });
    }
    if walk.optional > limits.max_optional_parameters {
        return Err(StrictSchemaError {
            path: ".".into(),
            problem: format!(
                "{} parameters are optional; the limit is {}",
                walk.optional, limits.max_optional_parameters
            ),
        });
    }
    Ok(out)
}

/// Where the walk is, as a field path.
#[derive(Default)]
struct Path(Vec<String>);

impl Path {
    fn show(&self) -> String {
        if self.0.is_empty() {
            return ".".into();
        }
        let mut out = String::new();
        for part in &self.0 {
            if !part.starts_with('[') && !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
        out
    }

    fn error(&self, problem: impl Into<String>) -> StrictSchemaError {
        StrictSchemaError {
            path: self.show(),
            problem: problem.into(),
        }
    }

    fn with<T>(&mut self, part: String, f: impl FnOnce(&mut Self) -> T) -> T {
        self.0.push(part);
        let out = f(self);
        self.0.pop();
        out
    }
}

#[derive(Default)]
struct Walk {
    unions: usize,
    optional: usize,
}

/// Deeper schemas are refused rather than walked (the walk recurses).
const MAX_DEPTH: usize = 128;

fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => format!("`{s}`"),
        other => other.to_string(),
    }
}

impl Walk {
    fn node(&mut self, schema: &Value, path: &mut Path) -> Result<Value, StrictSchemaError> {
        if path.0.len() > MAX_DEPTH {
            return Err(path.error(format!("is nested more than {MAX_DEPTH} levels deep")));
        }
        let map = match schema {
            Value::Object(map) => map,
            Value::Bool(true) => {
                return Err(path.error(
                    "accepts any JSON value (`serde_json::Value`?); a strict schema needs a type",
                ));
            }
            _ => return Err(path.error("accepts nothing")),
        };
        if map.contains_key("$ref") {
            return Err(path.error(
                "refers to a type that contains itself (a recursive type); strict schemas cannot express recursion",
            ));
        }
        let mut out = Map::with_capacity(map.len() + 1);
        let mut notes: Vec<String> = Vec::new();
        for (key, value) in map {
            let key = key.as_str();
            match key {
                "properties" => {
                    let Some(properties) = value.as_object() else {
                        return Err(path.error("`properties` is not an object"));
                    };
                    let mut strict = Map::with_capacity(properties.len());
                    for (name, child) in properties {
                        let child = path.with(name.clone(), |path| self.node(child, path))?;
                        strict.insert(name.clone(), child);
                    }
                    out.insert(key.into(), Value::Object(strict));
                }
                "items" => match value {
                    Value::Array(_) => {
                        return Err(path.error(
                            "is a tuple (fixed positions); strict schemas take lists of one item type",
                        ));
                    }
                    item => {
                        let item = path.with("[]".into(), |path| self.node(item, path))?;
                        out.insert(key.into(), item);
                    }
                },
                "anyOf" | "oneOf" | "allOf" => {
                    let Some(options) = value.as_array() else {
                        return Err(path.error(format!("`{key}` is not a list")));
                    };
                    let mut strict = Vec::with_capacity(options.len());
                    for (i, option) in options.iter().enumerate() {
                        strict.push(
                            path.with(format!("<{key} {i}>"), |path| self.node(option, path))?,
                        );
                    }
                    if key != "allOf" {
                        self.unions += 1;
                    }
                    // `oneOf` is outside the subset; every value the parser takes fits exactly
                    // one option, so `anyOf` admits the same answers.
                    let key = if key == "allOf" { "allOf" } else { "anyOf" };
                    out.insert(key.into(), Value::Array(strict));
                }
                "additionalProperties" => match value {
                    Value::Bool(_) => {}
                    _ if !map.contains_key("properties") => {
                        return Err(path.error(
                            "is a map with free keys (`HashMap`, `BTreeMap`); strict schemas need every key named",
                        ));
                    }
                    // Named keys and free ones (`#[serde(flatten)]` of a map): only the named
                    // ones can be said.
                    _ => notes.push("other keys are allowed".into()),
                },
                "format" => match value.as_str() {
                    Some(format) if FORMATS.contains(&format) => {
                        out.insert(key.into(), value.clone());
                    }
                    Some(format) if NUMERIC_FORMATS.contains(&format) => {}
                    _ => notes.push(format!("format {}", shown(value))),
                },
                "minItems" => match value.as_u64() {
                    Some(0 | 1) => {
                        out.insert(key.into(), value.clone());
                    }
                    _ => {
                        out.insert(key.into(), Value::from(1));
                        notes.push(format!("at least {} items", shown(value)));
                    }
                },
                "type" => {
                    if value.as_array().is_some_and(|types| types.len() > 1) {
                        self.unions += 1;
                    }
                    out.insert(key.into(), value.clone());
                }
                _ if KEPT.contains(&key) => {
                    out.insert(key.into(), value.clone());
                }
                _ if SILENT.contains(&key) => {}
                _ => match DESCRIBED.iter().find(|(k, _)| *k == key) {
                    Some((_, words)) => notes.push(words.replace("{}", &shown(value))),
                    None => {
                        return Err(path.error(format!("uses `{key}`, which strict schemas lack")));
                    }
                },
            }
        }
        let is_object = out.contains_key("properties")
            || match out.get("type") {
                Some(Value::String(t)) => t == "object",
                Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
                _ => false,
            };
        // An object said by its options (`anyOf` of closed objects: a tagged enum) is closed
        // there; closing it here too would refuse every key.
        let by_options = !out.contains_key("properties")
            && (out.contains_key("anyOf") || out.contains_key("allOf"));
        if is_object && !by_options {
            let properties = out
                .entry("properties")
                .or_insert_with(|| Value::Object(Map::new()));
            let declared = properties.as_object().map_or(0, Map::len);
            let required = out
                .get("required")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            self.optional += declared.saturating_sub(required);
            out.insert("additionalProperties".into(), Value::Bool(false));
        }
        if !notes.is_empty() {
            let words = notes.join("; ");
            let description = match out.get("description").and_then(Value::as_str) {
                Some(text) if !text.is_empty() => format!("{text} ({words})"),
                _ => words,
            };
            out.insert("description".into(), Value::String(description));
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{StrictLimits, strict_schema, strict_schema_with};

    #[test]
    fn every_object_is_closed_and_unsupported_keywords_become_words()
    -> Result<(), super::StrictSchemaError> {
        let full = json!({"type": "object", "properties": {
            "people": {"type": "array", "minItems": 3, "maxItems": 5, "items": {
                "type": ["object", "null"], "description": "One person.",
                "properties": {"age": {"type": "integer", "format": "uint8", "minimum": 0, "maximum": 255}},
                "required": ["age"]}},
            "when": {"type": "string", "format": "date"},
            "code": {"type": "string", "format": "iban", "default": "x"},
            "kind": {"oneOf": [{"type": "string", "const": "a"}, {"type": "string", "const": "b"}]}},
            "required": ["people"], "title": "T"});
        let strict = strict_schema(&full)?;
        assert_eq!(
            strict,
            json!({"type": "object", "additionalProperties": false, "required": ["people"], "properties": {
                "people": {"type": "array", "minItems": 1, "description": "at least 3 items; at most 5 items", "items": {
                    "type": ["object", "null"], "additionalProperties": false,
                    "description": "One person.", "required": ["age"],
                    "properties": {"age": {"type": "integer", "description": "at least 0; at most 255"}}}},
                "when": {"type": "string", "format": "date"},
                "code": {"type": "string", "description": "format `iban`; default `x`"},
                "kind": {"anyOf": [{"type": "string", "const": "a"}, {"type": "string", "const": "b"}]}}})
        );
        Ok(())
    }

    #[test]
    fn what_cannot_be_said_is_refused_with_its_path() {
        let refused = |schema: serde_json::Value| strict_schema(&schema).map_err(|e| e.path);
        assert_eq!(
            refused(
                json!({"type": "object", "properties": {"a": {"type": "array", "items": {"$ref": "#/definitions/A"}}}})
            ),
            Err("a[]".into())
        );
        assert_eq!(
            refused(
                json!({"type": "object", "properties": {"m": {"type": "object", "additionalProperties": {"type": "string"}}}})
            ),
            Err("m".into())
        );
        assert_eq!(
            refused(json!({"type": "object", "properties": {"v": true}})),
            Err("v".into())
        );
        assert_eq!(refused(json!({"type": "string"})), Err(".".into()));
        assert_eq!(
            refused(json!({"type": "object", "properties": {"x": {"not": {"type": "string"}}}})),
            Err("x".into())
        );
    }

    #[test]
    fn a_deep_schema_is_refused_not_overflowed() {
        // Built by moving (`json!` would copy the value recursively).
        let mut schema = json!({"type": "string"});
        for _ in 0..2_000 {
            let mut level = serde_json::Map::new();
            level.insert("type".into(), json!("array"));
            level.insert("items".into(), schema);
            schema = serde_json::Value::Object(level);
        }
        let mut top = serde_json::Map::new();
        top.insert("type".into(), json!("object"));
        top.insert(
            "properties".into(),
            serde_json::Value::Object(std::iter::once(("deep".to_owned(), schema)).collect()),
        );
        let schema = serde_json::Value::Object(top);
        let err = strict_schema(&schema).unwrap_err();
        assert!(err.problem.contains("nested more than"), "{err}");
    }

    #[test]
    fn the_complexity_limits_hold() {
        let props: serde_json::Map<String, serde_json::Value> = (0..5)
            .map(|i| (format!("p{i}"), json!({"type": ["string", "null"]})))
            .collect();
        let schema = json!({"type": "object", "properties": props});
        let limits = |unions, optional| StrictLimits {
            max_union_parameters: unions,
            max_optional_parameters: optional,
        };
        assert!(strict_schema_with(&schema, limits(5, 5)).is_ok());
        let unions = strict_schema_with(&schema, limits(4, 5)).unwrap_err();
        assert!(
            unions.problem.contains("5 parameters have union types"),
            "{unions}"
        );
        let optional = strict_schema_with(&schema, limits(5, 4)).unwrap_err();
        assert!(
            optional.problem.contains("5 parameters are optional"),
            "{optional}"
        );
    }
}
