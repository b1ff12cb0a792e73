//! The output-line parser on arbitrary bytes: it never panics, and a line that is a JSON
//! object with a string `recordId` is always attributed to that record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmbo::jsonl::{OutputLine, parse_output_line};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse_output_line(line);
    if let Ok(Value::Object(object)) = serde_json::from_str::<Value>(line)
        && let Some(Value::String(id)) = object.get("recordId")
    {
        let attributed = match &parsed {
            OutputLine::Output { record_id, .. }
            | OutputLine::Error { record_id, .. }
            | OutputLine::Malformed { record_id, .. } => record_id == id,
            OutputLine::Unreadable { .. } => false,
        };
        assert!(attributed, "{line:?} -> {parsed:?}");
    }
    // Whatever the line, the result of the adapters' JSON-in-text scan never panics either.
    let _ = llmbo::adapter::extract_json_object(line);
});
