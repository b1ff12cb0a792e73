//! One line of a job's output, read: the common answer the fast way, anything else through
//! the line parser and the adapter, under the record id it names.

use std::borrow::Cow;

use super::OutputMode;
use crate::error::RecordError;
use crate::jsonl::{self, OutputLine};

/// One record's outcome and its usage.
pub(crate) type Outcome<V> = (Result<V, RecordError>, Option<crate::adapter::Usage>);

/// What one output line holds: its record id as the line writes it (borrowed where it can be).
pub(crate) enum LineRead<'a, V> {
    Record {
        record_id: Cow<'a, str>,
        outcome: Outcome<V>,
        kind: LineKind,
        /// About how many bytes the outcome holds.
        held: usize,
    },
    Unreadable(String),
}

impl<V> LineRead<'_, V> {
    /// The same, its record id owned.
    pub(crate) fn into_owned(self) -> LineRead<'static, V> {
        match self {
            LineRead::Record {
                record_id,
                outcome,
                kind,
                held,
            } => LineRead::Record {
                record_id: Cow::Owned(record_id.into_owned()),
                outcome,
                kind,
                held,
            },
            LineRead::Unreadable(message) => LineRead::Unreadable(message),
        }
    }
}

/// How a line counts in a job without a manifest.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineKind {
    Answer,
    Error,
    Other,
}

/// A line as text: as it is when UTF-8, else read as far as it can be (lossy), so the record
/// it names still gets its own error.
pub(crate) fn utf8_line(bytes: &[u8]) -> (Cow<'_, str>, bool) {
    match std::str::from_utf8(bytes) {
        Ok(line) => (Cow::Borrowed(line), false),
        Err(_) => (String::from_utf8_lossy(bytes), true),
    }
}

/// Reads one output line: the common answer the fast way (no `Value` tree), anything else
/// through the line parser and the adapter, held to the run's output check.
pub(crate) fn read_line<'a, O: OutputMode>(
    adapter: &dyn crate::adapter::object::ModelProviderAdapter,
    spec: Option<&crate::adapter::OutputSpec>,
    check: Option<&crate::mode::OutputCheck>,
    line: &'a str,
    lossy: bool,
) -> LineRead<'a, O::Value> {
    let request = spec.map(|spec| spec.request());
    if !lossy && let Some(fast) = O::parse_fast(adapter, line, request) {
        return LineRead::Record {
            record_id: fast.record_id,
            outcome: (O::checked(fast.outcome, check), fast.usage),
            kind: LineKind::Answer,
            held: fast.answer_bytes,
        };
    }
    let (record_id, outcome, kind) = match jsonl::parse_output_line(line) {
        OutputLine::Output { record_id, .. } if lossy => (
            record_id,
            (
                Err(RecordError::MalformedOutput {
                    message: "the output line is not valid UTF-8".into(),
                }),
                None,
            ),
            LineKind::Other,
        ),
        OutputLine::Output {
            record_id,
            model_output,
        } => {
            let usage = adapter.usage(&model_output);
            // With several output types, the echoed request says which one, if any, the
            // record was asked for.
            let expected = match spec {
                Some(spec) if spec.is_multi() => {
                    echoed_input(line).and_then(|input| spec.expected_of(&input))
                }
                _ => None,
            };
            let request = request.map(|r| crate::adapter::OutputRequest {
                expected: expected.as_deref(),
                ..r
            });
            let outcome = O::checked(O::parse(adapter, model_output, request), check);
            (record_id, (outcome, usage), LineKind::Answer)
        }
        OutputLine::Error { record_id, error } => (record_id, (Err(error), None), LineKind::Error),
        OutputLine::Malformed { record_id, message } => (
            record_id,
            (Err(RecordError::MalformedOutput { message }), None),
            LineKind::Other,
        ),
        OutputLine::Unreadable { message } => return LineRead::Unreadable(message),
    };
    // The general path's value: no bigger than the line, or about (a tree of its JSON).
    LineRead::Record {
        record_id: Cow::Owned(record_id),
        outcome,
        kind,
        held: line.len(),
    }
}

/// Reads one output line as bytes, as it stands in its output: a batch API's own line through
/// `map` (the common answer read the fast way from the line as the API serves it, its id
/// through the map's table; any other line made Bedrock's first), else as [`read_line`] does.
/// `None` for a line the map leaves out (an expired or cancelled request: its record is
/// missing) and for a blank one.
pub(crate) fn read_served<'a, O: OutputMode>(
    adapter: &dyn crate::adapter::object::ModelProviderAdapter,
    spec: Option<&crate::adapter::OutputSpec>,
    check: Option<&crate::mode::OutputCheck>,
    map: Option<&'a crate::backend::LineMap>,
    bytes: &'a [u8],
) -> Option<LineRead<'a, O::Value>> {
    let Some(map) = map else {
        return read_bytes::<O>(adapter, spec, check, bytes);
    };
    if let Ok(line) = std::str::from_utf8(bytes) {
        let line = line.trim_end_matches(['\n', '\r']);
        let request = spec.map(|spec| spec.request());
        if let Some(fast) =
            jsonl::reading_served(map.api(), || O::parse_fast(adapter, line, request))
        {
            let record_id = match fast.record_id {
                Cow::Borrowed(sent) => Cow::Borrowed(map.record_id(sent)),
                Cow::Owned(sent) => Cow::Owned(map.record_id(&sent).to_owned()),
            };
            return Some(LineRead::Record {
                record_id,
                outcome: (O::checked(fast.outcome, check), fast.usage),
                kind: LineKind::Answer,
                held: fast.answer_bytes,
            });
        }
    }
    let bedrock = bedrock_form(Some(map), bytes);
    read_bytes::<O>(adapter, spec, check, &bedrock).map(LineRead::into_owned)
}

/// Reads one line in Bedrock's form, as bytes (see [`read_line`]); `None` for a blank one.
pub(crate) fn read_bytes<'a, O: OutputMode>(
    adapter: &dyn crate::adapter::object::ModelProviderAdapter,
    spec: Option<&crate::adapter::OutputSpec>,
    check: Option<&crate::mode::OutputCheck>,
    bytes: &'a [u8],
) -> Option<LineRead<'a, O::Value>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    Some(match utf8_line(bytes) {
        (Cow::Borrowed(line), lossy) => read_line::<O>(
            adapter,
            spec,
            check,
            line.trim_end_matches(['\n', '\r']),
            lossy,
        ),
        (Cow::Owned(line), lossy) => read_line::<O>(
            adapter,
            spec,
            check,
            line.trim_end_matches(['\n', '\r']),
            lossy,
        )
        .into_owned(),
    })
}

/// A line in Bedrock's form: a batch API's own made so by `map` (empty where the map leaves
/// it out), any other as it is.
pub(crate) fn bedrock_form<'a>(
    map: Option<&crate::backend::LineMap>,
    bytes: &'a [u8],
) -> Cow<'a, [u8]> {
    match map {
        None => Cow::Borrowed(bytes),
        Some(map) => {
            let mut out = Vec::new();
            map.apply(bytes, &mut out);
            Cow::Owned(out)
        }
    }
}

/// The id and kind of a line, read without its answer (a line past the kept budget).
pub(crate) fn line_head(bytes: &[u8]) -> Option<(String, LineKind)> {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(rename = "recordId", borrow)]
        record_id: Option<Cow<'a, str>>,
        #[serde(rename = "modelOutput")]
        model_output: Option<serde::de::IgnoredAny>,
        error: Option<serde::de::IgnoredAny>,
    }
    let head: Head<'_> = serde_json::from_slice(bytes).ok()?;
    let kind = match (&head.model_output, &head.error) {
        (Some(_), _) => LineKind::Answer,
        (None, Some(_)) => LineKind::Error,
        (None, None) => LineKind::Other,
    };
    Some((head.record_id?.into_owned(), kind))
}

/// The `modelInput` Bedrock echoes in an output line.
fn echoed_input(line: &str) -> Option<serde_json::Value> {
    let mut line: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(line.get_mut("modelInput")?.take())
}
