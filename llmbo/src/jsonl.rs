//! The batch file formats: input records out, output records in. A pure line codec over bytes
//! and values (it knows no adapter), tested without a server; public for tools that write or
//! read batch files themselves. Reading a person's JSONL input file is
//! [`input`](crate::input); reading an output line into a typed value the way a run
//! does is [`mode::parse_output_line_as`](crate::mode::parse_output_line_as).

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::RecordError;
use crate::output::RecordResult;

/// Appends one input line: `{"recordId": …, "modelInput": …}` and a newline.
///
/// ```
/// let mut out = Vec::new();
/// llmbo::jsonl::encode_input_line("r1", &serde_json::json!({"prompt": "hi"}), &mut out);
/// assert_eq!(out, b"{\"recordId\":\"r1\",\"modelInput\":{\"prompt\":\"hi\"}}\n");
/// ```
pub fn encode_input_line(record_id: &str, model_input: &Value, out: &mut Vec<u8>) {
    // Written piece by piece so the body is serialized once, not copied into a new line value.
    // Writing strings and `Value`s into a Vec cannot fail (every map key is a string).
    let start = out.len();
    out.extend_from_slice(b"{\"recordId\":");
    let ok = serde_json::to_writer(&mut *out, record_id).is_ok() && {
        out.extend_from_slice(b",\"modelInput\":");
        serde_json::to_writer(&mut *out, model_input).is_ok()
    };
    if ok {
        out.extend_from_slice(b"}\n");
    } else {
        out.truncate(start);
    }
}

/// One line of a `.out` file.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputLine {
    /// The model answered.
    Output {
        /// The record's id.
        record_id: String,
        /// The model's response body.
        model_output: Value,
    },
    /// Bedrock answered with an error record.
    Error {
        /// The record's id.
        record_id: String,
        /// Bedrock's `errorCode` and `errorMessage`.
        error: RecordError,
    },
    /// The line has a record id but neither an output nor an error.
    Malformed {
        /// The record's id.
        record_id: String,
        /// What is missing.
        message: String,
    },
    /// The line cannot be attributed to a record.
    Unreadable {
        /// Why.
        message: String,
    },
}

/// The members of an output line llmbo reads; the echoed `modelInput` is skipped unparsed.
#[derive(serde::Deserialize)]
struct RawOutputLine {
    #[serde(rename = "recordId")]
    record_id: Option<Value>,
    #[serde(rename = "modelOutput")]
    model_output: Option<Value>,
    error: Option<Value>,
}

/// Reads one line of a `.out` file.
///
/// ```
/// use llmbo::jsonl::{OutputLine, parse_output_line};
/// let line = r#"{"recordId":"7","modelInput":{},"error":{"errorCode":400,"errorMessage":"bad"}}"#;
/// assert!(matches!(parse_output_line(line), OutputLine::Error { record_id, .. } if record_id == "7"));
/// ```
pub fn parse_output_line(line: &str) -> OutputLine {
    let raw = match serde_json::from_str::<RawOutputLine>(line) {
        Ok(raw) => raw,
        Err(err) => match serde_json::from_str::<Value>(line) {
            // Valid JSON that the typed read refuses because a key is written twice: read it
            // as a JSON object keeps it, the last value of each key.
            Ok(Value::Object(object)) => RawOutputLine {
                record_id: object.get("recordId").cloned(),
                model_output: object.get("modelOutput").cloned(),
                error: object.get("error").cloned(),
            },
            // A line cut short (a truncated file) still names its record at the top level;
            // attribute it, so the record is reported malformed rather than missing.
            _ => {
                return match top_level_record_id(line) {
                    Some(record_id) => OutputLine::Malformed {
                        record_id,
                        message: format!("the output line is not valid JSON (cut short?): {err}"),
                    },
                    None => OutputLine::Unreadable {
                        message: format!("not a JSON object: {err}"),
                    },
                };
            }
        },
    };
    let record_id = match raw.record_id {
        Some(Value::String(id)) => id,
        _ => {
            return OutputLine::Unreadable {
                message: "no recordId".into(),
            };
        }
    };
    if let Some(model_output) = raw.model_output {
        return OutputLine::Output {
            record_id,
            model_output,
        };
    }
    if let Some(error) = raw.error {
        let code = match error.get("errorCode") {
            Some(Value::String(code)) => code.clone(),
            Some(Value::Number(code)) => code.to_string(),
            _ => String::new(),
        };
        let message = error
            .get("errorMessage")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        return OutputLine::Error {
            record_id,
            error: RecordError::Bedrock { code, message },
        };
    }
    OutputLine::Malformed {
        record_id,
        message: "the output line has neither modelOutput nor error".into(),
    }
}

/// The record id and raw `modelOutput` of an ordinary output line (a JSON object with a string
/// `recordId` and a `modelOutput`), borrowed from the line; `None` for anything else, which
/// [`parse_output_line`] then reads. While [`reading_served`] holds, a batch API's success
/// line as it stands is one too (see [`AnswerLine`]).
pub(crate) fn fast_output_line(line: &str) -> Option<(Cow<'_, str>, &RawValue)> {
    if !line.trim_start().starts_with('{') {
        return None;
    }
    let fast: AnswerLine<'_, &RawValue> = serde_json::from_str(line).ok()?;
    Some((fast.record_id, fast.answer))
}

/// A batch API whose output lines a reader reads as it serves them (see [`reading_served`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(all(feature = "anthropic", feature = "openai", feature = "gemini")),
    allow(dead_code)
)]
pub(crate) enum Served {
    /// `{"custom_id", "result": {"type": "succeeded", "message"}}`.
    Anthropic,
    /// `{"custom_id", "response": {"status_code": 200, "body"}, "error": null}`.
    OpenAi,
    /// `{"key", "response"}`.
    Gemini,
}

thread_local! {
    /// The batch API whose lines are read on this thread (see [`reading_served`]).
    static SERVED: std::cell::Cell<Option<Served>> = const { std::cell::Cell::new(None) };
}

/// Whether this thread reads a batch API's lines as it serves them (see [`reading_served`]).
pub(crate) fn reading_a_batch_api() -> bool {
    SERVED.get().is_some()
}

/// Runs `read` with `api`'s success lines taken as answer lines as they stand (see
/// [`AnswerLine`]): the reader of such an output reads its common answer in one pass, without
/// first making the line Bedrock's. Everywhere else only Bedrock's form is one.
#[cfg_attr(not(feature = "_http"), allow(dead_code))]
pub(crate) fn reading_served<T>(api: Served, read: impl FnOnce() -> T) -> T {
    struct Reset(Option<Served>);
    impl Drop for Reset {
        fn drop(&mut self) {
            SERVED.set(self.0);
        }
    }
    let _reset = Reset(SERVED.replace(Some(api)));
    read()
}

/// A record's answer line, its answer read as `F` in the same pass as the line: Bedrock's
/// `{"recordId", "modelOutput"}`, and while [`reading_served`] holds, the batch API's success
/// line as it serves it (see [`Served`]). These are the lines each API's conversion to
/// Bedrock's form turns into an answer whose `modelOutput` has the same bytes. Anything else
/// (an error line, a line of two forms, an id or answer written twice) is not read here: the
/// line goes the general way.
pub(crate) struct AnswerLine<'a, F> {
    /// The id as the line writes it (a batch API's `custom_id`, mapped by its reader).
    pub(crate) record_id: Cow<'a, str>,
    pub(crate) answer: F,
}

/// A string, borrowed from the line where it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(Visit)
    }
}

/// Anthropic's `result`.
#[derive(serde::Deserialize)]
struct AnthropicResult<'a, F> {
    /// `succeeded` has no escapes: a `type` written with one is read the general way.
    #[serde(rename = "type")]
    kind: &'a str,
    message: Option<F>,
}

/// OpenAI's `response`.
#[derive(serde::Deserialize)]
struct OpenAiResponse<F> {
    status_code: u16,
    body: Option<F>,
}

impl<'de, F: serde::Deserialize<'de>> serde::Deserialize<'de> for AnswerLine<'de, F> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<F>(std::marker::PhantomData<F>);
        impl<'de, F: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visit<F> {
            type Value = AnswerLine<'de, F>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an answer line")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                use serde::de::{Error, IgnoredAny};
                let served = SERVED.get();
                // The id and the answer, each with whether it is the API's (not Bedrock's).
                let mut id: Option<(bool, Cow<'de, str>)> = None;
                let mut answer: Option<(bool, F)> = None;
                let mut errored = false;
                let not_one = || M::Error::custom("not an answer line");
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    let key = key.0.as_ref();
                    let found = match (served, key) {
                        (_, "recordId") => Some((false, None)),
                        (Some(Served::Anthropic | Served::OpenAi), "custom_id")
                        | (Some(Served::Gemini), "key") => Some((true, None)),
                        (_, "modelOutput") => Some((false, Some(map.next_value::<F>()?))),
                        (Some(Served::Anthropic), "result") => {
                            let result = map.next_value::<AnthropicResult<'de, F>>()?;
                            match (result.kind, result.message) {
                                ("succeeded", Some(message)) => Some((true, Some(message))),
                                _ => return Err(not_one()),
                            }
                        }
                        (Some(Served::OpenAi), "response") => {
                            let response = map.next_value::<OpenAiResponse<F>>()?;
                            match (response.status_code, response.body) {
                                (200, Some(body)) => Some((true, Some(body))),
                                _ => return Err(not_one()),
                            }
                        }
                        (Some(Served::Gemini), "response") => {
                            Some((true, Some(map.next_value::<F>()?)))
                        }
                        (Some(Served::OpenAi), "error") => {
                            errored |= map.next_value::<Option<IgnoredAny>>()?.is_some();
                            None
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            None
                        }
                    };
                    match found {
                        Some((theirs, None)) => {
                            if id.is_some() {
                                return Err(not_one());
                            }
                            id = Some((theirs, map.next_value::<Text<'de>>()?.0));
                        }
                        Some((theirs, Some(value))) => {
                            if answer.is_some() {
                                return Err(not_one());
                            }
                            answer = Some((theirs, value));
                        }
                        None => {}
                    }
                }
                let ((id_theirs, record_id), (answer_theirs, answer)) =
                    id.zip(answer).ok_or_else(not_one)?;
                // An answer under the other form's id is none; OpenAI's with an error is an
                // error (Gemini's conversion reads the `response` whatever else the line says).
                if id_theirs != answer_theirs || (errored && answer_theirs) {
                    return Err(not_one());
                }
                Ok(AnswerLine { record_id, answer })
            }
        }
        deserializer.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// The `recordId` string member of the top-level object of a possibly broken line: keys inside
/// nested values and text inside strings are skipped, so only the line's own id is found.
fn top_level_record_id(line: &str) -> Option<String> {
    let bytes = line.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    // Whether the string about to start, at depth 1, is in key position.
    let mut expect_key = false;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                let end = i.min(bytes.len());
                if depth == 1 && expect_key && &line[start + 1..end] == "recordId" {
                    let rest = line.get(end + 1..)?.trim_start().strip_prefix(':')?;
                    let mut values =
                        serde_json::Deserializer::from_str(rest.trim_start()).into_iter::<Value>();
                    return match values.next() {
                        Some(Ok(Value::String(id))) => Some(id),
                        _ => None,
                    };
                }
                expect_key = false;
            }
            b'{' => {
                depth += 1;
                expect_key = depth == 1;
            }
            b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' => expect_key = depth == 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The record ids of an input JSONL, in order (lines without one are skipped: Bedrock names
/// them itself, so they cannot be joined).
pub fn record_ids_of_input(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == b'\n')
        .filter_map(record_id_of_input_line)
        .collect()
}

/// The `modelInput` of one input line, as a value.
#[cfg(feature = "aws")]
pub(crate) fn model_input_of_line(line: &[u8]) -> Option<Value> {
    #[derive(serde::Deserialize)]
    struct Line {
        #[serde(rename = "modelInput")]
        model_input: Value,
    }
    serde_json::from_slice::<Line>(line)
        .ok()
        .map(|l| l.model_input)
}

/// The `recordId` of one input line, reading past the `modelInput` without building it.
pub fn record_id_of_input_line(line: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        #[serde(rename = "recordId")]
        record_id: Option<String>,
    }
    if let Some((id, _)) = split_input_line(line) {
        return Some(id);
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    serde_json::from_slice::<IdOnly>(line).ok()?.record_id
}

/// The record id and the body's text of an input line in the form llmbo writes it,
/// `{"recordId":<id>,"modelInput":<body>}` (see [`encode_input_line`]), found without reading
/// the body through: only its two ends are looked at. `None` for a line of any other form,
/// which is then read the general way. A body is taken as written, so this is for the lines
/// of a run's own input, never for lines a person wrote.
pub(crate) fn split_input_line(line: &[u8]) -> Option<(String, &str)> {
    let line = std::str::from_utf8(line).ok()?;
    let rest = line.trim_end().strip_prefix("{\"recordId\":")?;
    let (id, rest) = leading_string(rest)?;
    let body = rest.strip_prefix(",\"modelInput\":")?.strip_suffix('}')?;
    is_object_text(body).then_some((id, body))
}

/// A line of this process's own spool, `{"recordId":"<id>","modelInput":<body>}` as its
/// serializer wrote it, split at its ends: the id (one without escapes) and the body's text.
/// The body is not looked through at all: the serializer wrote it as one object, the last
/// member of the line, so this is only for lines written in this process. `None` for any
/// other form (then [`split_input_line`] or the general reader).
#[cfg_attr(not(feature = "_http"), allow(dead_code))]
pub(crate) fn split_spooled_line(line: &[u8]) -> Option<(&str, &str)> {
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let rest = line.strip_prefix("{\"recordId\":\"")?;
    let (id, rest) = rest.split_at(rest.find(['"', '\\'])?);
    let body = rest.strip_prefix("\",\"modelInput\":")?.strip_suffix('}')?;
    (body.starts_with('{') && body.ends_with('}')).then_some((id, body))
}

/// The JSON string at the start of `text`, read, and the text after it.
pub(crate) fn leading_string(text: &str) -> Option<(String, &str)> {
    let mut strings = serde_json::Deserializer::from_str(text).into_iter::<String>();
    let value = strings.next()?.ok()?;
    Some((value, text.get(strings.byte_offset()..)?))
}

/// Whether `text` is one bracketed JSON object: it opens with `{` and the brace that closes
/// it is its last byte (brackets inside strings set aside). Its values are not read: a quick
/// look that tells an object from an object with more after it, not a check of JSON.
pub(crate) fn is_object_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'{') {
        return false;
    }
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(&b) = bytes.get(at) {
        match b {
            b'"' => {
                // To the quote that ends the string: strings are most of a body, so they are
                // crossed a vector at a time, stopping only at quotes and escapes.
                at += 1;
                loop {
                    let Some(stop) = bytes
                        .get(at..)
                        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
                    else {
                        return false;
                    };
                    at += stop;
                    if bytes.get(at) == Some(&b'\\') {
                        at += 2;
                        continue;
                    }
                    break;
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = match depth.checked_sub(1) {
                    Some(d) => d,
                    None => return false,
                };
                if depth == 0 {
                    return at + 1 == bytes.len();
                }
            }
            _ => {}
        }
        at += 1;
    }
    false
}

/// One result per input id, in input order; ids absent from `found` are [`RecordError::Missing`].
pub fn join<V>(
    ids: &[String],
    mut found: HashMap<String, Result<V, RecordError>>,
) -> Vec<RecordResult<V>> {
    ids.iter()
        .map(|id| RecordResult {
            record_id: id.clone(),
            outcome: found.remove(id).unwrap_or(Err(RecordError::Missing)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_line_llmbo_wrote_is_split_at_its_ends() {
        let body = json!({"messages": [{"role": "user", "content": "a \"quoted\" } brace"}]});
        for id in ["r1", "with \"quotes\" and \\", "\u{e9}t\u{e9}", ""] {
            let mut line = Vec::new();
            encode_input_line(id, &body, &mut line);
            let split = split_input_line(&line);
            assert_eq!(split.as_ref().map(|(i, _)| i.as_str()), Some(id), "{id}");
            let Some((_, text)) = split else { continue };
            assert_eq!(serde_json::from_str::<Value>(text).ok(), Some(body.clone()));
            assert_eq!(record_id_of_input_line(&line).as_deref(), Some(id));
        }
        // Any other form is left to the general reader, an object with more after it too.
        for line in [
            &br#"{"recordId":"r1","modelInput":{"a":"}"},"extra":{}}"#[..],
            br#"{"modelInput":{"a":1},"recordId":"r1"}"#,
            br#"{"recordId":"r1","modelInput":{"a":1},"extra":2}"#,
            br#"{"recordId":"r1","modelInput":"text"}"#,
            br#"{"recordId":7,"modelInput":{}}"#,
            br#"{"recordId":"r1"}"#,
            b"",
            b"\xff\xfe",
        ] {
            assert_eq!(
                split_input_line(line),
                None,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        assert_eq!(
            record_id_of_input_line(br#"{"modelInput":{"a":1},"recordId":"r1"}"#).as_deref(),
            Some("r1")
        );
    }

    #[test]
    fn a_spooled_line_is_split_as_a_written_one_is() {
        let body = json!({"messages": [{"role": "user", "content": "a \"quoted\" } brace"}]});
        for id in ["r1", "with \"quotes\" and \\", "\u{e9}t\u{e9}", ""] {
            let mut line = Vec::new();
            encode_input_line(id, &body, &mut line);
            let spooled = split_spooled_line(&line);
            // An id with escapes is left to the reader that reads them.
            if id.contains(['"', '\\']) {
                assert_eq!(spooled, None, "{id}");
                continue;
            }
            let written = split_input_line(&line);
            assert_eq!(spooled.map(|(i, b)| (i.to_owned(), b)), written, "{id}");
        }
        for line in [
            &br#"{"recordId":"r1","modelInput":"text"}"#[..],
            br#"{"recordId":"r1"}"#,
            br#"{"modelInput":{},"recordId":"r1"}"#,
            b"",
            b"\xff",
        ] {
            assert_eq!(
                split_spooled_line(line),
                None,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    /// The byte-at-a-time reading of [`is_object_text`] it must agree with.
    fn object_text_by_bytes(text: &str) -> bool {
        let bytes = text.as_bytes();
        if bytes.first() != Some(&b'{') {
            return false;
        }
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        for (at, &b) in bytes.iter().enumerate() {
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
                b'{' | b'[' => depth += 1,
                b'}' | b']' => match depth.checked_sub(1) {
                    None => return false,
                    Some(0) => return at + 1 == bytes.len(),
                    Some(d) => depth = d,
                },
                _ => {}
            }
        }
        false
    }

    #[test]
    fn object_text_is_told_by_its_closing_brace_past_strings_and_escapes() {
        for (text, expected) in [
            (r#"{"a":"x\\"}"#, true),
            (r#"{"a":"\\\"}"}"#, true),
            (r#"{"a":"\"}"#, false),
            (r#"{"a":"}"}"#, true),
            (r#"{"a":"}"},{}"#, false),
            (r#"{"a":["]"]}"#, true),
            (r#"{"a":"unterminated}"#, false),
            ("{\"a\":\"tail\\", false),
            ("{}", true),
            ("{", false),
            ("}", false),
            ("", false),
        ] {
            assert_eq!(is_object_text(text), expected, "{text}");
            assert_eq!(object_text_by_bytes(text), expected, "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn object_text_agrees_with_the_byte_reading(text in r#"\{[{}\[\]"\\a:,]{0,24}"#) {
            proptest::prop_assert_eq!(is_object_text(&text), object_text_by_bytes(&text));
        }
    }

    #[test]
    fn input_lines_round_trip_their_ids() {
        let mut out = Vec::new();
        encode_input_line("a", &json!({"x": 1}), &mut out);
        encode_input_line("b\"quoted", &json!({}), &mut out);
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 2);
        assert_eq!(record_ids_of_input(&out), ["a", "b\"quoted"]);
    }

    #[test]
    fn a_key_written_twice_keeps_its_last_value_as_json_does() {
        assert_eq!(
            parse_output_line(r#"{"recordId":"0","recordId":"1","modelOutput":{"a":1}}"#),
            OutputLine::Output {
                record_id: "1".into(),
                model_output: json!({"a": 1})
            }
        );
    }

    #[test]
    fn output_lines_are_told_apart() {
        assert_eq!(
            parse_output_line(r#"{"recordId":"1","modelInput":{},"modelOutput":{"a":1}}"#),
            OutputLine::Output {
                record_id: "1".into(),
                model_output: json!({"a": 1})
            }
        );
        assert_eq!(
            parse_output_line(r#"{"recordId":"2","error":{"errorCode":400,"errorMessage":"bad"}}"#),
            OutputLine::Error {
                record_id: "2".into(),
                error: RecordError::Bedrock {
                    code: "400".into(),
                    message: "bad".into()
                }
            }
        );
        assert!(matches!(
            parse_output_line(r#"{"recordId":"3"}"#),
            OutputLine::Malformed { .. }
        ));
        assert!(matches!(
            parse_output_line("{not json"),
            OutputLine::Unreadable { .. }
        ));
        assert!(matches!(
            parse_output_line(r#"{"modelOutput":{}}"#),
            OutputLine::Unreadable { .. }
        ));
    }

    #[test]
    fn a_cut_short_line_is_still_attributed() {
        let full = r#"{"recordId":"r-9","modelInput":{"messages":[{"content":"{\"recordId\": \"fake\"}"}]},"modelOutput":{"content":[{"te"#;
        assert!(matches!(
            parse_output_line(full),
            OutputLine::Malformed { record_id, .. } if record_id == "r-9"
        ));
        // The id after a nested object with its own recordId key.
        let later = r#"{"modelInput":{"recordId":"inner"},"recordId":"outer","modelOutput":{"#;
        assert!(matches!(
            parse_output_line(later),
            OutputLine::Malformed { record_id, .. } if record_id == "outer"
        ));
        // Cut inside the id itself: nothing to attribute.
        assert!(matches!(
            parse_output_line(r#"{"recordId":"r-1"#),
            OutputLine::Unreadable { .. }
        ));
        assert!(matches!(
            parse_output_line(r#"{"a":"recordId","#),
            OutputLine::Unreadable { .. }
        ));
    }

    #[test]
    fn join_keeps_input_order_and_marks_missing_records() {
        let ids: Vec<String> = ["c", "a", "b"].map(String::from).to_vec();
        let found = HashMap::from([
            ("a".to_owned(), Ok(1)),
            ("c".to_owned(), Ok(3)),
            ("zz".to_owned(), Ok(9)),
        ]);
        let joined = join(&ids, found);
        let order: Vec<&str> = joined.iter().map(|r| r.record_id.as_str()).collect();
        assert_eq!(order, ["c", "a", "b"]);
        assert_eq!(joined[0].outcome, Ok(3));
        assert_eq!(joined[2].outcome, Err(RecordError::Missing));
    }
}
