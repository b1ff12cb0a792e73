//! Media a record names by S3 location (Nova and Converse `s3Location`): where Bedrock reads
//! them from, and their bytes for the synthetic model.
//!
//! A batch job reads a record's media only from the folder its input names: "all resources
//! must be in the same S3 bucket and folder", and the input must name that folder (AWS,
//! "Format and upload your batch inference data",
//! <https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-data.html>). A medium
//! elsewhere, or missing, is that record's error. Whether a folder below the input's counts
//! is UNCONFIRMED; llmbo-local takes the strict reading (directly in the folder). On demand
//! there is no folder: any object the caller may read.

use base64::Engine as _;
use serde_json::Value;

use crate::objects::Objects;

/// Where a record's media may be.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Allowed<'a> {
    /// A batch job whose input names this folder (`s3://bucket/prefix/`).
    Folder(&'a str),
    /// A batch job whose input names one file: no S3 media at all.
    NoFolder(&'a str),
    /// On demand: anywhere.
    Anywhere,
}

/// The body with each S3 image and document replaced by its bytes, for the synthetic model
/// to read; `None` when it names no S3 media. `Err` is the record's error message.
pub(crate) fn resolve(
    objects: &Objects,
    body: &Value,
    allowed: Allowed<'_>,
) -> Result<Option<Value>, String> {
    if !names_location(body) {
        return Ok(None);
    }
    let mut body = body.clone();
    replace(objects, &mut body, allowed)?;
    Ok(Some(body))
}

fn names_location(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(names_location),
        Value::Object(map) => map.contains_key("s3Location") || map.values().any(names_location),
        _ => false,
    }
}

fn replace(objects: &Objects, value: &mut Value, allowed: Allowed<'_>) -> Result<(), String> {
    match value {
        Value::Array(items) => {
            for item in items {
                replace(objects, item, allowed)?;
            }
        }
        Value::Object(map) => {
            if let Some(location) = map.get("s3Location") {
                let uri = location.get("uri").and_then(Value::as_str).unwrap_or("");
                let bytes = read(objects, uri, allowed)?;
                map.remove("s3Location");
                map.insert(
                    "bytes".into(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
                );
                return Ok(());
            }
            for item in map.values_mut() {
                replace(objects, item, allowed)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn read(objects: &Objects, uri: &str, allowed: Allowed<'_>) -> Result<Vec<u8>, String> {
    match allowed {
        Allowed::Folder(folder) => {
            let inside = uri
                .strip_prefix(folder)
                .is_some_and(|name| !name.is_empty() && !name.contains('/'));
            if !inside {
                return Err(format!(
                    "The S3 location {uri} is not in the input data folder {folder}: all \
                     resources must be in the same S3 bucket and folder."
                ));
            }
        }
        Allowed::NoFolder(input) => {
            return Err(format!(
                "The record references S3 media ({uri}), so the input data config must name \
                 the folder that holds them, not the file {input}."
            ));
        }
        Allowed::Anywhere => {}
    }
    let rest = uri.strip_prefix("s3://").unwrap_or_default();
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let path = objects
        .path(bucket, key)
        .ok_or_else(|| format!("The S3 object {uri} does not exist."))?;
    std::fs::read(path).map_err(|e| format!("The S3 object {uri} could not be read: {e}"))
}
