//! What the adapters share to read answers: stop reasons and what they mean for an answer,
//! the one call of the expected tool, tool arguments sent as JSON text, and the strict
//! one-pass reading of an output line.

use serde_json::{Map, Value};

use super::AnswerReader;
use crate::error::RecordError;
use crate::output::ToolDefinition;

/// The answer's text for the text strategies, after its stop reason was checked.
pub(crate) fn answer_text<A: AnswerReader + ?Sized>(
    adapter: &A,
    model_output: &Value,
) -> Result<String, RecordError> {
    check_stop(adapter.stop_reason(model_output).as_deref())?;
    adapter
        .output_text(model_output)
        .ok_or_else(|| RecordError::MalformedOutput {
            message: format!("the {} answer has no text", adapter.name()),
        })
}

/// Reads `T` from all of `text` through [`Strict`](crate::strict_json::Strict), or `None`.
pub(crate) fn strict_from_str<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Option<T> {
    let mut stream = serde_json::Deserializer::from_str(text);
    let value = T::deserialize(crate::strict_json::Strict(&mut stream)).ok()?;
    stream.end().ok()?;
    Some(value)
}

/// An output line with its `modelOutput` read as `F` in the same pass: the one-pass form of
/// an adapter's fast path. Other members (the echoed `modelInput`, …) are skipped. While a
/// batch API's own lines are read, its success line is one too (see
/// [`AnswerLine`](crate::jsonl::AnswerLine)).
pub(crate) fn fast_line<'a, F: serde::Deserialize<'a>>(
    line: &'a str,
) -> Option<(std::borrow::Cow<'a, str>, F)> {
    let line: crate::jsonl::AnswerLine<'a, F> = strict_from_str(line)?;
    Some((line.record_id, line.answer))
}

/// What a stop reason means for a structured answer.
pub(crate) enum StopKind {
    /// The answer is complete (or the family gives no reason).
    Complete,
    /// Cut off by the output-token limit.
    Truncated,
    /// Stopped for a reason that leaves no usable answer (refusal, content filter, …).
    Refused(String),
}

/// Classifies a stop reason by the words families use for it.
pub(crate) fn classify_stop(reason: Option<&str>) -> StopKind {
    match reason {
        Some("max_tokens" | "length" | "model_context_window_exceeded") => StopKind::Truncated,
        Some(
            reason @ ("refusal"
            | "guardrail_intervened"
            | "content_filtered"
            | "content_filter"
            | "malformed_model_output"
            | "malformed_tool_use"),
        ) => StopKind::Refused(reason.to_owned()),
        _ => StopKind::Complete,
    }
}

/// Turns a stop reason that spoils the answer into its error.
pub(crate) fn check_stop(reason: Option<&str>) -> Result<(), RecordError> {
    match classify_stop(reason) {
        StopKind::Complete => Ok(()),
        StopKind::Truncated => Err(RecordError::Truncated),
        StopKind::Refused(stop_reason) => Err(RecordError::UnexpectedStopReason { stop_reason }),
    }
}

/// The object at the top of a model output, or a `MalformedOutput` naming the family.
pub(crate) fn as_object<'a>(
    model_output: &'a Value,
    family: &str,
) -> Result<&'a Map<String, Value>, RecordError> {
    model_output
        .as_object()
        .ok_or_else(|| RecordError::MalformedOutput {
            message: format!("a {family} response is a JSON object, this is not"),
        })
}

/// Picks the single call of the expected tool out of `(name, input)` pairs.
pub(crate) fn single_call(
    calls: Vec<(Option<&str>, Result<Value, RecordError>)>,
    tool: &ToolDefinition,
    stop_reason: Option<&str>,
) -> Result<Value, RecordError> {
    if calls.is_empty() {
        check_stop(stop_reason)?;
        return Err(RecordError::NoToolCall {
            stop_reason: stop_reason.map(str::to_owned),
        });
    }
    check_stop(stop_reason)?;
    if calls.len() > 1 {
        return Err(RecordError::MultipleToolCalls { count: calls.len() });
    }
    let Some((name, input)) = calls.into_iter().next() else {
        return Err(RecordError::NoToolCall { stop_reason: None });
    };
    match name {
        Some(name) if name == tool.name => input,
        Some(other) => Err(RecordError::WrongTool {
            expected: tool.name.clone(),
            found: other.to_owned(),
        }),
        None => Err(RecordError::MalformedOutput {
            message: "the tool call has no name".into(),
        }),
    }
}

/// Parses tool arguments that arrive as a JSON string (Mistral, OpenAI).
pub(crate) fn parse_arguments(arguments: Option<&Value>) -> Result<Value, RecordError> {
    match arguments {
        Some(Value::String(text)) => {
            serde_json::from_str(text).map_err(|err| RecordError::ToolInputNotJson {
                message: err.to_string(),
            })
        }
        // Some servers send the arguments already parsed.
        Some(value @ Value::Object(_)) => Ok(value.clone()),
        Some(_) | None => Err(RecordError::MalformedOutput {
            message: "the tool call has no `arguments` string".into(),
        }),
    }
}

/// Reads a non-negative integer count.
pub(crate) fn count(value: Option<&Value>) -> Option<u64> {
    value.and_then(Value::as_u64)
}
