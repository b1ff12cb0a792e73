//! What `#[derive(BatchOutput)]` expands to calls. Not public API: it may change in any
//! release. Everything is reached through this crate so the generated code needs no other
//! crate under a particular name.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

pub use schemars::JsonSchema;
pub use serde::Deserializer;
pub use serde::de::DeserializeOwned;
pub use serde_json::Value;

use crate::strict_json::Strict;
use crate::{error::RecordError, output::ToolDefinition};

/// The tool of `T`, generated on first use and cached per type for the life of the process.
pub fn tool_definition<T: JsonSchema + 'static>(
    name: &'static str,
    description: Option<&'static str>,
) -> ToolDefinition {
    static CACHE: OnceLock<Mutex<HashMap<TypeId, ToolDefinition>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    // A poisoned lock only means another thread panicked while inserting; the map is still
    // a valid cache, so keep using it.
    if let Some(tool) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&TypeId::of::<T>())
    {
        return tool.clone();
    }
    // Generated outside the lock: schema generation calls user code (JsonSchema impls).
    let tool = ToolDefinition::for_type::<T>(name, description);
    cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(TypeId::of::<T>())
        .or_insert(tool)
        .clone()
}

/// `make()`, once per type `T` for the life of the process.
fn cached<T: 'static, V: Clone + Send + 'static>(
    cache: &'static OnceLock<Mutex<HashMap<TypeId, V>>>,
    make: impl FnOnce() -> V,
) -> V {
    let cache = cache.get_or_init(Mutex::default);
    if let Some(value) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&TypeId::of::<T>())
    {
        return value.clone();
    }
    // Made outside the lock: it calls user code (JsonSchema impls).
    let value = make();
    cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(TypeId::of::<T>())
        .or_insert(value)
        .clone()
}

/// The tools of a `tool_per_variant` enum `E`, one per `(tool name, description, tool of the
/// wrapped type)`, made once.
pub fn variant_tools<E: 'static>(
    make: impl FnOnce() -> Vec<(&'static str, Option<&'static str>, ToolDefinition)>,
) -> Vec<ToolDefinition> {
    static CACHE: OnceLock<Mutex<HashMap<TypeId, Vec<ToolDefinition>>>> = OnceLock::new();
    cached::<E, _>(&CACHE, || {
        make()
            .into_iter()
            .map(|(name, description, inner)| ToolDefinition {
                name: name.to_owned(),
                description: description.map_or(inner.description, str::to_owned),
                input_schema: inner.input_schema,
            })
            .collect()
    })
}

/// The one-schema form of a `tool_per_variant` enum `E`: an `anyOf` of `{"<tool>": <input>}`,
/// one option per tool, made once.
pub fn variant_union<E: 'static>(
    name: &'static str,
    description: Option<&'static str>,
    tools: impl FnOnce() -> Vec<ToolDefinition>,
) -> ToolDefinition {
    static CACHE: OnceLock<Mutex<HashMap<TypeId, ToolDefinition>>> = OnceLock::new();
    cached::<E, _>(&CACHE, || {
        let tools = tools();
        let options: Vec<Value> = tools
            .iter()
            .map(|tool| {
                let mut input = tool.input_schema.clone();
                if let Value::Object(map) = &mut input {
                    map.insert(
                        "description".into(),
                        Value::String(tool.description.clone()),
                    );
                }
                let mut properties = serde_json::Map::new();
                properties.insert(tool.name.clone(), input);
                serde_json::json!({
                    "type": "object",
                    "properties": properties,
                    "required": [tool.name],
                    "additionalProperties": false,
                })
            })
            .collect();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        ToolDefinition {
            name: name.to_owned(),
            description: description.map_or_else(
                || {
                    format!(
                        "Record what the input holds, as one of: {}.",
                        names.join(", ")
                    )
                },
                str::to_owned,
            ),
            input_schema: serde_json::json!({"type": "object", "anyOf": options}),
        }
    })
}

/// Reads the one-schema form of a `tool_per_variant` enum: an object with one key, the tool
/// name, whose value is that tool's input. A bad value's path starts with the tool name.
pub fn from_variant_object<E>(
    input: Value,
    tools: &[&str],
    call: impl FnOnce(&str, Value) -> Result<E, RecordError>,
) -> Result<E, RecordError> {
    let one_key = |message: String| RecordError::ToolInputInvalid {
        path: ".".into(),
        message,
    };
    let Value::Object(map) = input else {
        return Err(one_key(format!(
            "invalid type: {}, expected an object with one key, one of {}",
            json_type(&input),
            tools.join(", ")
        )));
    };
    if map.len() != 1 {
        return Err(one_key(format!(
            "expected an object with one key, one of {}; found {} keys",
            tools.join(", "),
            map.len()
        )));
    }
    let Some((name, value)) = map.into_iter().next() else {
        return Err(one_key("expected an object with one key".into()));
    };
    call(&name, value).map_err(|err| match err {
        RecordError::ToolInputInvalid { path, message } => RecordError::ToolInputInvalid {
            path: if path == "." {
                name
            } else if path.starts_with('[') {
                format!("{name}{path}")
            } else {
                format!("{name}.{path}")
            },
            message,
        },
        other => other,
    })
}

/// The error for a call of a tool that is not one of `tools`.
pub fn unknown_tool(found: &str, tools: &[&str]) -> RecordError {
    RecordError::UnknownTool {
        found: found.to_owned(),
        tools: tools.iter().map(|t| (*t).to_owned()).collect(),
    }
}

/// Deserializes the tool input, naming the path of the first bad value on failure. Structs
/// are read from JSON objects only, and the tag of a tagged enum (`tag`) from a string only,
/// as their schema says.
pub fn from_tool_input<T: DeserializeOwned>(
    input: Value,
    tag: Option<&'static str>,
) -> Result<T, RecordError> {
    if let (Some(tag), Value::Object(map)) = (tag, &input)
        && let Some(found) = map.get(tag)
        && !found.is_string()
    {
        return Err(RecordError::ToolInputInvalid {
            path: tag.to_owned(),
            message: format!(
                "invalid type: {}, expected a variant name",
                json_type(found)
            ),
        });
    }
    // Tracking the path costs an allocation per key; most inputs are fine, so the path is
    // only followed again when the plain pass fails.
    if let Ok(value) = T::deserialize(Strict(&input)) {
        return Ok(value);
    }
    serde_path_to_error::deserialize(Strict(&input)).map_err(|err| RecordError::ToolInputInvalid {
        path: err.path().to_string(),
        message: err.into_inner().to_string(),
    })
}

/// Reads the tool input straight from its JSON text, with no `Value` in between. Accepts
/// exactly what [`from_tool_input`] accepts; anything it refuses (or any text that is not
/// one JSON value) goes through `from_tool_input`, which names the problem.
pub fn from_tool_input_str<T: DeserializeOwned>(
    json: &str,
    tag: Option<&'static str>,
) -> Result<T, RecordError> {
    let mut stream = serde_json::Deserializer::from_str(json);
    if let Ok(value) = T::deserialize(Strict(&mut stream))
        && stream.end().is_ok()
    {
        return Ok(value);
    }
    let input = serde_json::from_str(json).map_err(|err| RecordError::ToolInputNotJson {
        message: err.to_string(),
    })?;
    from_tool_input(input, tag)
}

/// Reads the tool input from a deserializer standing at it inside an output line, as the
/// first try of [`from_tool_input_str`] does (a struct from an object only, at any depth).
pub fn from_tool_input_in<'de, T: DeserializeOwned, D: serde::Deserializer<'de>>(
    input: D,
) -> Result<T, D::Error> {
    T::deserialize(Strict(input))
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
