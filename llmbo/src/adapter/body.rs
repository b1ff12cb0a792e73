//! What the adapters share to write request bodies: checked inputs, the tools to send, the
//! schema instruction of JsonInPrompt, and JSON built and written from borrowed parts.

use serde::Serialize;
use serde_json::{Map, Value};

use super::schema_cache::schema_instruction;
use crate::error::Error;
use crate::model_input::{ModelInput, ToolChoice};
use crate::output::{OutputStrategy, ToolDefinition};

/// The error for a strategy an adapter does not write.
pub(crate) fn unwritten(adapter: &str, strategy: OutputStrategy) -> Error {
    Error::InvalidConfig {
        field: "output_strategy",
        reason: format!("the {adapter} adapter does not write output strategy {strategy}"),
    }
}

/// `input`, checked, without tools: the input of a native structured-output request.
pub(crate) fn without_tools(
    input: &ModelInput,
    tool: &ToolDefinition,
) -> Result<ModelInput, Error> {
    validate_input(input, Some(tool))?;
    let mut input = input.clone();
    input.tools.clear();
    input.tool_choice = None;
    Ok(input)
}

/// Sets `strict: true` on a tool object, or on its `function` or `toolSpec` (StrictTool).
pub(crate) fn mark_strict(tool: Option<&mut Value>) {
    let Some(Value::Object(tool)) = tool else {
        return;
    };
    let target = if tool.contains_key("function") {
        tool.get_mut("function")
    } else if tool.contains_key("toolSpec") {
        tool.get_mut("toolSpec")
    } else {
        None
    };
    match target {
        Some(Value::Object(inner)) => inner.insert("strict".into(), Value::Bool(true)),
        _ => tool.insert("strict".into(), Value::Bool(true)),
    };
}

/// `input` with the schema instruction after its system prompt (JsonInPrompt), and no tools.
pub(crate) fn with_schema_prompt(
    input: &ModelInput,
    tool: &ToolDefinition,
) -> Result<ModelInput, Error> {
    validate_input(input, Some(tool))?;
    let mut input = input.clone();
    let instruction = schema_instruction(tool);
    input.system = Some(match input.system.take() {
        Some(system) => format!("{system}\n\n{instruction}"),
        None => instruction,
    });
    input.tools.clear();
    input.tool_choice = None;
    Ok(input)
}

/// A JSONL input line written from borrowed parts: `{"recordId": …, "modelInput": …}`, the
/// members in the order `encode_input_line` writes them.
#[derive(Serialize)]
pub(crate) struct InputLine<'a, B> {
    #[serde(rename = "recordId")]
    pub(crate) record_id: &'a str,
    #[serde(rename = "modelInput")]
    pub(crate) model_input: B,
}

/// Appends `line` as one line of JSON and a newline, as a `write_input_line` that writes
/// from borrowed parts does; on error nothing is appended.
pub(crate) fn write_json_line(line: &impl Serialize, out: &mut Vec<u8>) -> Result<(), Error> {
    let start = out.len();
    match serde_json::to_writer(&mut *out, line) {
        Ok(()) => {
            out.push(b'\n');
            Ok(())
        }
        Err(err) => {
            out.truncate(start);
            Err(Error::invalid_request(format!(
                "the request cannot be written as JSON: {err}"
            )))
        }
    }
}

/// The tools to send and the choice to force: a structured job's one tool (forced), else the
/// input's own.
pub(crate) fn tools_and_choice<'a>(
    input: &'a ModelInput,
    forced: Option<&'a ToolDefinition>,
) -> (Vec<&'a ToolDefinition>, Option<ToolChoice>) {
    match forced {
        Some(tool) => (
            vec![tool],
            Some(ToolChoice::Tool {
                name: tool.name.clone(),
            }),
        ),
        None => (input.tools.iter().collect(), input.tool_choice.clone()),
    }
}

/// Checks the input before any adapter turns it into a body.
pub(crate) fn validate_input(
    input: &ModelInput,
    forced: Option<&ToolDefinition>,
) -> Result<(), Error> {
    input.validate()?;
    if let Some(tool) = forced
        && tool.name.is_empty()
    {
        return Err(Error::invalid_request("the output tool has an empty name"));
    }
    Ok(())
}

/// A JSON object from its members. Building values directly (not through `json!`, which
/// serializes every embedded `Value` again) keeps preparing 50,000 bodies cheap.
pub(crate) fn obj<const N: usize>(members: [(&str, Value); N]) -> Value {
    let mut map = Map::with_capacity(N);
    for (key, value) in members {
        map.insert(key.to_owned(), value);
    }
    Value::Object(map)
}

/// A JSON string.
pub(crate) fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

/// Inserts `value` under `key` when it is set.
pub(crate) fn put(body: &mut Map<String, Value>, key: &str, value: Option<impl Serialize>) {
    if let Some(value) = value
        && let Ok(value) = serde_json::to_value(value)
    {
        body.insert(key.to_owned(), value);
    }
}

/// `write_output_line` for an adapter that writes its JsonSchema body from borrowed parts:
/// ForcedTool through its `write_input_line`, JsonSchema through `json_schema` when the record
/// can be written so (`direct`), anything else through `prepare_output`.
pub(crate) fn write_output_line_with<A: super::RequestWriter + ?Sized>(
    adapter: &A,
    record_id: &str,
    input: &ModelInput,
    output: super::OutputRequest<'_>,
    direct: bool,
    json_schema: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    match output.strategy {
        OutputStrategy::ForcedTool => {
            adapter.write_input_line(record_id, input, Some(output.sent), out)
        }
        OutputStrategy::JsonSchema if direct => json_schema(out),
        _ => {
            let body = adapter.prepare_output(input, output)?;
            crate::jsonl::encode_input_line(record_id, &body, out);
            Ok(())
        }
    }
}
