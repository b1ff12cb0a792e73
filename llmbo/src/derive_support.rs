//! What `#[derive(BatchOutput)]` expands to calls. Not public API: it may change in any
//! release. Everything is reached through this crate so the generated code needs no other
//! crate under a particular name.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

pub use schemars::JsonSchema;
pub use serde::de::DeserializeOwned;
pub use serde_json::Value;

use crate::strict_json::Strict;
use crate::{RecordError, ToolDefinition};

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
