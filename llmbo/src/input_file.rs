//! Reading records from a JSONL file written by a person or another tool, with every bad line
//! reported by file and line before anything is sent anywhere.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

pub use crate::error::{InputProblems, LineProblem};

use crate::error::Error;
use crate::model_input::{Message, ModelInput};

/// At most this many problems are kept (and shown) per file.
const MAX_PROBLEMS: usize = 50;

/// The longest line read: a record's body limit plus room for its id and the envelope. A
/// longer line is refused by its number without being held in memory.
const MAX_LINE_BYTES: usize = crate::preflight::rules::MAX_BODY_BYTES as usize + (1 << 20);

/// The UTF-8 byte-order mark, which files written on Windows often start with.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One line of an input file as [`lines`] reads it.
enum Line {
    /// The line, without its `\n` (and, on the first line, without a byte-order mark).
    Read(Vec<u8>),
    /// Longer than [`MAX_LINE_BYTES`]: skipped to its end, this many bytes.
    TooLong(u64),
    /// The file could not be read on (the last item).
    Unreadable(std::io::Error),
}

impl Line {
    /// The line, or what is wrong with it in words.
    fn bytes(self) -> Result<Vec<u8>, String> {
        match self {
            Line::Read(bytes) => Ok(bytes),
            Line::TooLong(bytes) => Err(format!(
                "the line is {bytes} bytes or more, over the limit of {MAX_LINE_BYTES} (a record's body may be at most {} bytes)",
                crate::preflight::rules::MAX_BODY_BYTES
            )),
            Line::Unreadable(err) => Err(format!("cannot be read: {err}")),
        }
    }
}

/// The lines of `reader`, numbered from 1: a byte-order mark before the first is dropped, and
/// no line over [`MAX_LINE_BYTES`] is held whole. Lines are read by `read_until` under a
/// limit, as `BufRead::split` reads them; a cut line is skipped to its end.
fn lines(mut reader: impl BufRead) -> impl Iterator<Item = (usize, Line)> {
    let mut number = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut line = Vec::new();
        let limit = MAX_LINE_BYTES as u64 + 1;
        match std::io::Read::take(&mut reader, limit).read_until(b'\n', &mut line) {
            Ok(0) => {
                done = true;
                return None;
            }
            Ok(_) => {}
            Err(err) => {
                done = true;
                number += 1;
                return Some((number, Line::Unreadable(err)));
            }
        }
        number += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if line.len() > MAX_LINE_BYTES {
            // Over the limit: the rest of the line is read past, never held.
            let mut skipped = line.len() as u64;
            drop(line);
            loop {
                let buffer = match reader.fill_buf() {
                    Ok(buffer) => buffer,
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(err) => {
                        done = true;
                        return Some((number, Line::Unreadable(err)));
                    }
                };
                if buffer.is_empty() {
                    done = true;
                    break;
                }
                match memchr::memchr(b'\n', buffer) {
                    Some(at) => {
                        skipped += at as u64;
                        reader.consume(at + 1);
                        break;
                    }
                    None => {
                        let all = buffer.len();
                        skipped += all as u64;
                        reader.consume(all);
                    }
                }
            }
            return Some((number, Line::TooLong(skipped)));
        }
        if number == 1 && line.starts_with(BOM) {
            line.drain(..BOM.len());
        }
        Some((number, Line::Read(line)))
    })
}

/// One line as a person writes it: a ready body, or the parts of a [`ModelInput`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputLine {
    #[serde(rename = "recordId")]
    record_id: Option<Value>,
    #[serde(rename = "modelInput")]
    model_input: Option<Value>,
    prompt: Option<String>,
    messages: Option<Vec<Message>>,
    system: Option<String>,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: Option<u32>,
    stop_sequences: Option<Vec<String>>,
}

impl InputLine {
    fn into_model_input(self) -> Result<ModelInput, String> {
        let has_parts = self.prompt.is_some() || self.messages.is_some();
        let mut input = match (self.model_input, has_parts) {
            (Some(_), true) => {
                return Err(
                    "`modelInput` is a complete body; it cannot be combined with `prompt` or `messages`"
                        .into(),
                );
            }
            (Some(Value::Object(body)), false) => {
                let sampling = self.system.is_some()
                    || self.max_tokens.is_some()
                    || self.temperature.is_some()
                    || self.top_p.is_some()
                    || self.top_k.is_some()
                    || self.stop_sequences.is_some();
                if sampling {
                    return Err("with `modelInput`, put every setting inside the body".into());
                }
                return Ok(ModelInput::raw(Value::Object(body)));
            }
            (Some(_), false) => return Err("`modelInput` must be a JSON object".into()),
            (None, false) => {
                return Err("it needs `prompt`, `messages` or `modelInput`".into());
            }
            (None, true) => ModelInput::new(),
        };
        match (self.prompt, self.messages) {
            (Some(_), Some(_)) => return Err("give either `prompt` or `messages`, not both".into()),
            (Some(prompt), None) => input = input.user(prompt),
            (None, Some(messages)) => input = input.messages(messages),
            (None, None) => {}
        }
        input.system = self.system;
        input.max_tokens = self.max_tokens;
        input.temperature = self.temperature;
        input.top_p = self.top_p;
        input.top_k = self.top_k;
        input.stop_sequences = self.stop_sequences.unwrap_or_default();
        input.validate().map_err(|err| match err {
            Error::InvalidInput {
                problem: crate::error::InputProblem::Request(reason),
                ..
            } => reason,
            other => other.to_string(),
        })?;
        Ok(input)
    }
}

/// Reads input records from JSONL. Each line is either a Bedrock record,
/// `{"recordId": …, "modelInput": {…}}` (the body is sent as it is, see [`ModelInput::raw`]),
/// or a record in llmbo's neutral form, turned into each model's body by its adapter:
/// `{"recordId": …, "prompt": "…"}` or `{"recordId": …, "messages": [{"role": "user",
/// "content": "…"}]}`, with optional `system`, `max_tokens`, `temperature`, `top_p`, `top_k`,
/// `stop_sequences`. Blank lines are skipped.
///
/// Every line is checked — valid JSON, a record id that is a non-empty string and unique,
/// no unknown field, a usable request — and any problem fails the whole file with
/// [`Error::InvalidInput`] with [`InputProblem::File`](crate::InputProblem::File), naming the file and line of each, so nothing is half-submitted.
///
/// ```
/// let text = "{\"recordId\": \"a\", \"prompt\": \"Hi\"}\n{\"recordId\": \"a\", \"prompt\": \"Ho\"}\n{\"prompt\": 3}\n";
/// let err = llmbo::input::read_input(text.as_bytes(), "in.jsonl").unwrap_err();
/// let message = err.to_string();
/// assert!(message.contains("in.jsonl:2: duplicate recordId `a` (first on line 1)"), "{message}");
/// assert!(message.contains("in.jsonl:3:"), "{message}");
///
/// let ok = llmbo::input::read_input("{\"recordId\": \"a\", \"prompt\": \"Hi\"}".as_bytes(), "in.jsonl")?;
/// assert_eq!(ok[0].0, "a");
/// # Ok::<(), llmbo::Error>(())
/// ```
pub fn read_input(
    reader: impl BufRead,
    file_name: &str,
) -> Result<Vec<(String, ModelInput)>, Error> {
    let mut records = Vec::new();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    let mut problems = Vec::new();
    let mut more = 0;
    let mut report = |line: usize, message: String| {
        if problems.len() < MAX_PROBLEMS {
            problems.push(LineProblem { line, message });
        } else {
            more += 1;
        }
    };
    for (number, line) in lines(reader) {
        let bytes = match line.bytes() {
            Ok(bytes) => bytes,
            Err(message) => {
                report(number, message);
                continue;
            }
        };
        let (record_id, input) = match parse_line(&bytes) {
            Ok(Some(record)) => record,
            Ok(None) => continue,
            Err(message) => {
                report(number, message);
                continue;
            }
        };
        if let Some(first) = first_line.get(&record_id) {
            report(
                number,
                format!("duplicate recordId `{record_id}` (first on line {first})"),
            );
            continue;
        }
        first_line.insert(record_id.clone(), number);
        records.push((record_id, input));
    }
    if problems.is_empty() {
        Ok(records)
    } else {
        Err(Error::InvalidInput {
            record_id: None,
            problem: crate::error::InputProblem::File(InputProblems {
                file: file_name.to_owned(),
                problems,
                more,
            }),
        })
    }
}

/// One line: `None` when blank, else the record, or what is wrong with it (all but a
/// duplicate id, which needs the other lines).
fn parse_line(bytes: &[u8]) -> Result<Option<(String, ModelInput)>, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_owned())?;
    let value: Value = match serde_json::from_str(text) {
        Ok(value @ Value::Object(_)) => value,
        Ok(_) => return Err("a line must be a JSON object".into()),
        Err(err) => {
            return Err(format!(
                "invalid JSON: {}",
                without_position(&err.to_string())
            ));
        }
    };
    let parsed: InputLine =
        serde_json::from_value(value).map_err(|err| without_position(&err.to_string()))?;
    let record_id = match &parsed.record_id {
        None => return Err("missing `recordId`".into()),
        Some(Value::String(id)) => id.clone(),
        Some(_) => return Err("`recordId` must be a string".into()),
    };
    crate::model_input::check_record_id(&record_id).map_err(|err| err.to_string())?;
    let input = parsed
        .into_model_input()
        .map_err(|message| format!("record `{record_id}`: {message}"))?;
    Ok(Some((record_id, input)))
}

/// An input file checked whole (every line, as [`read_input`] checks it) and then read again
/// record by record: memory holds a 64-bit hash per record id, not the records, so a file of
/// any size is prepared in flat memory.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("in.jsonl");
/// std::fs::write(&path, "{\"recordId\": \"a\", \"prompt\": \"Hi\"}\n\n{\"recordId\": \"b\", \"modelInput\": {\"inputText\": \"x\"}}\n")?;
/// let file = llmbo::input::InputFile::check(&path)?;
/// assert_eq!(file.records(), 2);
/// let ids: Vec<String> = file.read()?.map(|(id, _)| id).collect();
/// assert_eq!(ids, ["a", "b"]);
/// std::fs::write(&path, "{\"recordId\": \"a\", \"prompt\": \"Hi\"}\n{\"recordId\": \"a\", \"prompt\": \"Ho\"}\n")?;
/// let err = llmbo::input::InputFile::check(&path).unwrap_err().to_string();
/// assert!(err.contains(":2: duplicate recordId `a` (first on line 1)"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct InputFile {
    path: std::path::PathBuf,
    records: usize,
    raw_strategy: Option<crate::output::OutputStrategy>,
}

impl InputFile {
    /// Reads the whole file once and checks every line; every problem is named by file and
    /// line, as [`read_input`] names them.
    pub fn check(path: impl AsRef<Path>) -> Result<InputFile, Error> {
        use std::hash::Hasher;
        let path = path.as_ref();
        let shown = path.display().to_string();
        let open = || {
            std::fs::File::open(path)
                .map(std::io::BufReader::new)
                .map_err(|source| Error::Io {
                    path: path.to_owned(),
                    source,
                })
        };
        let hash = |id: &str| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            hasher.write(id.as_bytes());
            hasher.finish()
        };
        let mut first_line: HashMap<u64, usize> = HashMap::new();
        // Lines whose id hash was seen before: duplicates, or (rarely) two ids of one hash.
        let mut suspects: Vec<(usize, usize, String)> = Vec::new();
        let mut problems = Vec::new();
        let mut more = 0;
        let mut report = |line: usize, message: String| {
            if problems.len() < MAX_PROBLEMS {
                problems.push(LineProblem { line, message });
            } else {
                more += 1;
            }
        };
        let mut records = 0;
        let mut raw_strategy = None;
        for (number, line) in lines(open()?) {
            let bytes = match line.bytes() {
                Ok(bytes) => bytes,
                Err(message) => {
                    report(number, message);
                    continue;
                }
            };
            match parse_line(&bytes) {
                Ok(Some((record_id, input))) => {
                    match first_line.entry(hash(&record_id)) {
                        std::collections::hash_map::Entry::Occupied(first) => {
                            suspects.push((*first.get(), number, record_id));
                        }
                        std::collections::hash_map::Entry::Vacant(slot) => {
                            slot.insert(number);
                        }
                    }
                    if raw_strategy.is_none()
                        && let Some(body) = &input.raw_body
                    {
                        raw_strategy = Some(crate::adapter::detect_strategy(body))
                            .filter(|s| *s != crate::output::OutputStrategy::JsonInPrompt);
                    }
                    records += 1;
                }
                Ok(None) => {}
                Err(message) => report(number, message),
            }
        }
        drop(first_line);
        if !suspects.is_empty() {
            // One more pass for the first lines of the suspects: same id, a duplicate.
            let wanted: HashMap<usize, ()> =
                suspects.iter().map(|(first, ..)| (*first, ())).collect();
            let mut ids: HashMap<usize, String> = HashMap::new();
            for (number, line) in lines(open()?) {
                if wanted.contains_key(&number)
                    && let Line::Read(bytes) = line
                    && let Ok(Some((id, _))) = parse_line(&bytes)
                {
                    ids.insert(number, id);
                }
            }
            for (first, number, record_id) in suspects {
                if ids.get(&first) == Some(&record_id) {
                    report(
                        number,
                        format!("duplicate recordId `{record_id}` (first on line {first})"),
                    );
                }
            }
            problems.sort_by_key(|p| p.line);
        }
        if !problems.is_empty() {
            return Err(Error::InvalidInput {
                record_id: None,
                problem: crate::error::InputProblem::File(InputProblems {
                    file: shown,
                    problems,
                    more,
                }),
            });
        }
        Ok(InputFile {
            path: path.to_owned(),
            records,
            raw_strategy,
        })
    }

    /// How many records the file holds.
    pub fn records(&self) -> usize {
        self.records
    }

    /// How the file's first raw body (`modelInput`) that asks for a structured answer asks
    /// for it (a tool, a native format), if one does.
    pub fn raw_output_strategy(&self) -> Option<crate::output::OutputStrategy> {
        self.raw_strategy
    }

    /// The records, read again from the file one line at a time. A line that no longer reads
    /// (the file changed since it was checked) comes back as a raw body that is not an object,
    /// which preparing refuses by its record id (or its line): nothing is dropped silently.
    pub fn read(&self) -> Result<impl Iterator<Item = (String, ModelInput)> + use<>, Error> {
        let file = std::fs::File::open(&self.path).map_err(|source| Error::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(
            lines(std::io::BufReader::new(file)).filter_map(|(number, line)| {
                let changed = || {
                    (
                        format!("line-{number}"),
                        ModelInput::raw(Value::String("the file changed while it was read".into())),
                    )
                };
                match line.bytes().map(|bytes| parse_line(&bytes)) {
                    Ok(Ok(Some(record))) => Some(record),
                    Ok(Ok(None)) => None,
                    _ => Some(changed()),
                }
            }),
        )
    }
}

/// [`read_input`] on a file; the messages name it as `path` is written.
pub fn read_input_file(path: impl AsRef<Path>) -> Result<Vec<(String, ModelInput)>, Error> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    read_input(std::io::BufReader::new(file), &path.display().to_string())
}

/// serde_json ends its messages with "at line 1 column 17"; the line is ours to give.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
#[path = "input_file_tests.rs"]
mod tests;
