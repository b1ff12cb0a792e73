//! Finding the JSON object in a model's text answer, for families that have no tool mechanism.

use serde_json::Value;

use crate::error::RecordError;

/// The first balanced JSON object in `text` that parses, skipping prose and code fences
/// around it.
///
/// The scan follows JSON strings (with escapes), so braces inside string values do not
/// confuse it; it never matches greedily across the whole text. An object that opens and
/// never closes (a truncated answer) is reported as such.
///
/// ```
/// use llmbo::adapter::extract_json_object;
/// let text = "Sure! Here it is:\n```json\n{\"name\": \"Ada {the first}\", \"age\": 36}\n```\nAnything else?";
/// let value = extract_json_object(text)?;
/// assert_eq!(value["name"], "Ada {the first}");
/// # Ok::<(), llmbo::RecordError>(())
/// ```
pub fn extract_json_object(text: &str) -> Result<Value, RecordError> {
    let mut search_from = 0;
    let mut last_error = None;
    while let Some(offset) = text[search_from..].find('{') {
        let start = search_from + offset;
        match balanced_end(&text[start..]) {
            Some(len) => match serde_json::from_str::<Value>(&text[start..start + len]) {
                Ok(value) => return Ok(value),
                Err(err) => last_error = Some(err.to_string()),
            },
            None => {
                return Err(RecordError::ToolInputNotJson {
                    message: "the JSON object in the answer never closes (truncated?)".into(),
                });
            }
        }
        search_from = start + 1;
    }
    Err(RecordError::ToolInputNotJson {
        message: last_error.unwrap_or_else(|| "the answer contains no JSON object".into()),
    })
}

/// The first balanced `{...}` of `text` when it is JSON, as raw JSON: what
/// [`extract_json_object`] answers when its first candidate parses, without building a
/// `Value`. `None` for anything else (no object, an unclosed one, a first candidate that is not
/// JSON), which [`extract_json_object`] then reads the slow way.
pub(crate) fn first_object_raw(text: &str) -> Option<Box<serde_json::value::RawValue>> {
    let start = text.find('{')?;
    let len = balanced_end(&text[start..])?;
    serde_json::value::RawValue::from_string(text[start..start + len].to_owned()).ok()
}

/// The length of the balanced `{...}` at the start of `text`, if it closes. Read as bytes:
/// every delimiter is ASCII, and no byte of a multi-byte UTF-8 character is one.
fn balanced_end(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_the_first_object_among_prose_and_fences() -> Result<(), Box<dyn std::error::Error>> {
        assert_eq!(extract_json_object("{\"a\":1}")?, json!({"a": 1}));
        assert_eq!(
            extract_json_object("x {\"a\":{\"b\":\"}\"}} then {\"c\":2}")?,
            json!({"a": {"b": "}"}})
        );
        assert_eq!(
            extract_json_object("```json\n{\"q\": \"say \\\"hi\\\" {\"}\n```")?,
            json!({"q": "say \"hi\" {"})
        );
        Ok(())
    }

    #[test]
    fn skips_braces_that_are_not_json() -> Result<(), Box<dyn std::error::Error>> {
        let text = "Using {name} as a placeholder: {\"name\": \"Ada\"}";
        assert_eq!(extract_json_object(text)?, json!({"name": "Ada"}));
        Ok(())
    }

    #[test]
    fn reports_missing_and_truncated_objects() {
        assert!(matches!(
            extract_json_object("no json here"),
            Err(RecordError::ToolInputNotJson { message }) if message.contains("no JSON object")
        ));
        assert!(matches!(
            extract_json_object("{\"name\": \"Ad"),
            Err(RecordError::ToolInputNotJson { message }) if message.contains("never closes")
        ));
    }
}
