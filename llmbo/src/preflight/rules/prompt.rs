//! The prompt bodies of Llama and Mistral's text completion.

use serde_json::{Map, Value};

use super::{
    EMPTY_CONTENT, EXTRA_FIELD, FIELD_TYPE, ROOT, Sink, fields, in_range, path, positive_int,
    required,
};

pub(super) const LLAMA_FIELDS: &[&str] =
    &["prompt", "max_gen_len", "temperature", "top_p", "images"];

pub(super) const MISTRAL_FIELDS: &[&str] = &[
    "prompt",
    "max_tokens",
    "stop",
    "temperature",
    "top_p",
    "top_k",
];

pub(super) fn prompt(map: &Map<String, Value>, sink: &mut Sink<'_>, allowed: &[&str], limit: &str) {
    fields(map, allowed, EXTRA_FIELD, sink);
    match required(map, "prompt", sink) {
        Some(Value::String(text)) if text.is_empty() => {
            sink.add(EMPTY_CONTENT, path(ROOT, "prompt"), "`prompt` is empty");
        }
        Some(Value::String(_)) | None => {}
        Some(_) => sink.add(
            FIELD_TYPE,
            path(ROOT, "prompt"),
            "`prompt` must be a string",
        ),
    }
    positive_int(map, limit, ROOT, sink);
    in_range(map, "temperature", ROOT, 1.0, sink);
    in_range(map, "top_p", ROOT, 1.0, sink);
}
