//! Gemini's `GenerateContentRequest` (Google, "Generating content",
//! <https://ai.google.dev/api/generate-content>): `contents` of `user` and `model` turns made of
//! `parts`, `systemInstruction`, `generationConfig` (with `responseMimeType` and
//! `responseJsonSchema` or `responseSchema`), `tools` of `functionDeclarations` and
//! `toolConfig.functionCallingConfig`.

use serde_json::{Map, Value, json};

use super::super::Request;
use super::collect_text;

/// A member by its lowerCamel name or its snake_case one: the API's JSON parser takes both
/// (protobuf's JSON mapping), and the SDKs send some members each way.
fn member<'a>(object: Option<&'a Value>, camel: &str) -> Option<&'a Value> {
    let object = object?;
    object.get(camel).or_else(|| {
        let mut snake = String::with_capacity(camel.len() + 4);
        for c in camel.chars() {
            if c.is_ascii_uppercase() {
                snake.push('_');
                snake.push(c.to_ascii_lowercase());
            } else {
                snake.push(c);
            }
        }
        object.get(&snake)
    })
}

/// The keys a `GenerateContentRequest` may have (and their snake_case forms).
const KEYS: &[&str] = &[
    "model",
    "contents",
    "systemInstruction",
    "generationConfig",
    "tools",
    "toolConfig",
    "safetySettings",
    "cachedContent",
    "labels",
    "system_instruction",
    "generation_config",
    "tool_config",
    "safety_settings",
    "cached_content",
];

pub(in super::super) fn read_gemini(body: &Map<String, Value>) -> Result<Request, String> {
    let whole = Value::Object(body.clone());
    let body_value = Some(&whole);
    if let Some(key) = body.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "Invalid JSON payload received. Unknown name \"{key}\": Cannot find field."
        ));
    }
    let contents = body
        .get("contents")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or("* GenerateContentRequest.contents: contents is not specified")?;
    for (i, content) in contents.iter().enumerate() {
        match content.get("role").and_then(Value::as_str) {
            None | Some("user" | "model" | "function") => {}
            Some(other) => {
                return Err(format!(
                    "* GenerateContentRequest.contents[{i}].role: unknown role `{other}`; use user or model"
                ));
            }
        }
        if !content.get("parts").is_some_and(Value::is_array) {
            return Err(format!(
                "* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty"
            ));
        }
    }
    let mut tools: Vec<(String, Value)> = Vec::new();
    for (i, tool) in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        for declaration in member(Some(tool), "functionDeclarations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = declaration
                .get("name")
                .and_then(Value::as_str)
                .ok_or(format!(
                    "* GenerateContentRequest.tools[{i}].function_declarations: name is required"
                ))?;
            let schema = member(Some(declaration), "parametersJsonSchema")
                .or_else(|| declaration.get("parameters"))
                .cloned()
                .unwrap_or(json!({"type": "object"}));
            tools.push((name.to_owned(), schema));
        }
    }
    let calling = member(member(body_value, "toolConfig"), "functionCallingConfig");
    let mode = calling
        .and_then(|c| c.get("mode"))
        .and_then(Value::as_str)
        .unwrap_or("AUTO");
    let allowed: Vec<&str> = member(calling, "allowedFunctionNames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let (forced_tool, any_of) = match mode {
        "ANY" => {
            let choices: Vec<(String, Value)> = tools
                .iter()
                .filter(|(name, _)| allowed.is_empty() || allowed.contains(&name.as_str()))
                .cloned()
                .collect();
            match choices.as_slice() {
                [] => {
                    return Err(
                        "* GenerateContentRequest.tool_config.function_calling_config: mode ANY needs function declarations"
                            .into(),
                    );
                }
                [one] => (Some(one.clone()), Vec::new()),
                [first, ..] => (Some(first.clone()), choices.clone()),
            }
        }
        "AUTO" | "NONE" | "VALIDATED" => (None, Vec::new()),
        other => {
            return Err(format!(
                "* GenerateContentRequest.tool_config.function_calling_config.mode: unknown mode {other}"
            ));
        }
    };
    let config = member(body_value, "generationConfig");
    let json_format = match member(config, "responseMimeType").and_then(Value::as_str) {
        Some("application/json") => {
            let schema =
                member(config, "responseJsonSchema").or_else(|| member(config, "responseSchema"));
            Some(schema.cloned().unwrap_or(json!({"type": "object"})))
        }
        _ => None,
    };
    let mut text = String::new();
    if let Some(system) = member(body_value, "systemInstruction") {
        collect_text(system, &mut text);
    }
    let mut read = super::media::Read::default();
    super::media::read(&Value::Array(contents.clone()), "#/contents", &mut read)?;
    text.push_str(&read.text);
    // A re-ask: a turn of the model's with a turn after it.
    let follow_up = contents
        .iter()
        .position(|c| c.get("role").and_then(Value::as_str) == Some("model"))
        .is_some_and(|at| at + 1 < contents.len());
    Ok(Request {
        text,
        media_text: read.media,
        forced_tool,
        any_of,
        follow_up,
        json_format,
    })
}
