//! Reading one job's downloaded output: every line by the adapter, as bytes, each outcome under
//! its record id, before the join to the input order (`results.rs`).

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use super::OutputMode;
use super::config::JobConfig;
use super::engine::JobOutput;
use crate::error::{Error, RecordError};
use crate::jsonl::{self, OutputLine};
use crate::manifest::Manifest;

/// One record's outcome and its usage.
type Outcome<V> = (Result<V, RecordError>, Option<crate::Usage>);

/// A job's output, read, before it is joined to the input: each known record's outcome, or for
/// a large output where each record's line is (read and parsed when the join asks for it), so
/// memory holds a job's index, not its answers.
pub(crate) struct Loaded<V> {
    pub(crate) record_ids: Arc<Vec<String>>,
    source: Source<V>,
    pub(crate) manifest: Manifest,
    /// How many outputs named a record id that is not in the input.
    pub(crate) unknown: u64,
}

enum Source<V> {
    /// Every outcome, parsed.
    Parsed(HashMap<String, Outcome<V>>),
    /// Where each record's line is: `(file, offset, length)`.
    Indexed {
        lines: HashMap<String, (usize, u64, usize)>,
        files: Vec<std::fs::File>,
        paths: Vec<std::path::PathBuf>,
        /// Reads one line (the same reader as the parsed path's).
        read: LineParser<V>,
    },
}

type LineParser<V> = Box<dyn Fn(&str, bool) -> LineRead<V> + Send>;

impl<V> Loaded<V> {
    /// The outcome of `record_id`, once; `None` when the output has no line for it.
    pub(crate) fn take(&mut self, record_id: &str) -> Option<Outcome<V>> {
        match &mut self.source {
            Source::Parsed(found) => found.remove(record_id),
            Source::Indexed {
                lines,
                files,
                paths,
                read,
            } => {
                let (file, offset, len) = lines.remove(record_id)?;
                let mut bytes = vec![0; len];
                let io = files.get(file).ok_or(()).and_then(|mut f| {
                    use std::io::{Read, Seek, SeekFrom};
                    f.seek(SeekFrom::Start(offset))
                        .and_then(|_| f.read_exact(&mut bytes))
                        .map_err(|_| ())
                });
                if io.is_err() {
                    let path = paths
                        .get(file)
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                    return Some((
                        Err(RecordError::MalformedOutput {
                            message: format!("its output line could not be read again from {path}"),
                        }),
                        None,
                    ));
                }
                let (line, lossy) = utf8_line(&bytes);
                match read(line.trim_end_matches(['\n', '\r']), lossy) {
                    LineRead::Record { outcome, .. } => Some(outcome),
                    LineRead::Unreadable(_) => None,
                }
            }
        }
    }
}

/// What one output line holds.
pub(crate) enum LineRead<V> {
    Record {
        record_id: String,
        outcome: Outcome<V>,
        kind: LineKind,
    },
    Unreadable(String),
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
fn utf8_line(bytes: &[u8]) -> (std::borrow::Cow<'_, str>, bool) {
    match std::str::from_utf8(bytes) {
        Ok(line) => (std::borrow::Cow::Borrowed(line), false),
        Err(_) => (String::from_utf8_lossy(bytes), true),
    }
}

/// Reads one output line: the common answer the fast way (no `Value` tree), anything else
/// through the line parser and the adapter, held to the run's output check.
pub(crate) fn read_line<O: OutputMode>(
    adapter: &dyn crate::adapter::ModelProviderAdapter,
    spec: Option<&crate::adapter::OutputSpec>,
    check: Option<&super::mode::OutputCheck>,
    line: &str,
    lossy: bool,
) -> LineRead<O::Value> {
    let request = spec.map(|spec| spec.request());
    if !lossy && let Some((record_id, outcome, usage)) = O::parse_fast(adapter, line, request) {
        return LineRead::Record {
            record_id: record_id.into_owned(),
            outcome: (O::checked(outcome, check), usage),
            kind: LineKind::Answer,
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
    LineRead::Record {
        record_id,
        outcome,
        kind,
    }
}

/// Outputs larger than this are joined through an index of their lines, not parsed whole.
const INDEX_ABOVE_BYTES: u64 = 32 << 20;

fn open(path: &Path) -> Result<std::io::BufReader<std::fs::File>, Error> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(std::io::BufReader::with_capacity(1 << 20, file))
}

/// Calls `each(file, offset, line)` for every line of the output files, as bytes.
fn each_line(
    output: &JobOutput,
    mut each: impl FnMut(usize, u64, &[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut buffer = Vec::new();
    for (file, path) in output.outputs.iter().enumerate() {
        let mut reader = open(path)?;
        let mut offset = 0u64;
        loop {
            buffer.clear();
            let read = reader
                .read_until(b'\n', &mut buffer)
                .map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
            if read == 0 {
                break;
            }
            each(file, offset, &buffer)?;
            offset += read as u64;
        }
    }
    Ok(())
}

/// The id and kind of a line, read without its answer (pass one of the indexed join).
fn line_head(bytes: &[u8]) -> Option<(String, LineKind)> {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(rename = "recordId", borrow)]
        record_id: Option<std::borrow::Cow<'a, str>>,
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

/// Parses one job's downloaded output: each line by the adapter (the common answer in one
/// pass), every outcome under its record id; an output over [`INDEX_ABOVE_BYTES`] is indexed
/// instead and each line parsed when the join takes it. Lines are read as bytes: a line that
/// is not UTF-8 fails the record it names, never the job. Blocking: call it off the async
/// workers.
pub(crate) fn read_job<O: OutputMode>(
    config: &JobConfig,
    output: &JobOutput,
) -> Result<Loaded<O::Value>, Error> {
    read_job_indexing_above::<O>(config, output, INDEX_ABOVE_BYTES)
}

/// [`read_job`], indexing outputs over `index_above` bytes.
fn read_job_indexing_above<O: OutputMode>(
    config: &JobConfig,
    output: &JobOutput,
    index_above: u64,
) -> Result<Loaded<O::Value>, Error> {
    let spec = config.output_spec::<O>()?;
    let adapter = Arc::clone(&config.adapter);
    let check = config.output_check.clone();
    let record_ids = Arc::clone(&output.record_ids);
    let (mut successes, mut errors) = (0u64, 0u64);
    // An output for a record that was never submitted is reported, not merged.
    let known: HashSet<&str> = record_ids.iter().map(String::as_str).collect();
    let mut unknown = Vec::new();
    let bytes: u64 = output
        .outputs
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let mut count = |kind: LineKind| match kind {
        LineKind::Answer => successes += 1,
        LineKind::Error => errors += 1,
        LineKind::Other => {}
    };
    let source = if bytes > index_above {
        let mut lines = HashMap::with_capacity(record_ids.len());
        each_line(output, |file, offset, line| {
            if line.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            // A line that is not UTF-8 is read as the parsed path reads it.
            let head = std::str::from_utf8(line)
                .ok()
                .and_then(|_| line_head(line))
                .or_else(|| {
                    // Not UTF-8, or cut: read as the parsed path would, for its id.
                    let (text, lossy) = utf8_line(line);
                    match read_line::<O>(
                        adapter.as_ref(),
                        spec.as_ref(),
                        None,
                        text.trim_end_matches(['\n', '\r']),
                        lossy,
                    ) {
                        LineRead::Record {
                            record_id, kind, ..
                        } => Some((record_id, if lossy { LineKind::Other } else { kind })),
                        LineRead::Unreadable(_) => None,
                    }
                });
            let Some((record_id, kind)) = head else {
                tracing::warn!(offset, "output line skipped: it names no record");
                return Ok(());
            };
            if !known.contains(record_id.as_str()) {
                unknown.push(record_id);
                return Ok(());
            }
            count(kind);
            lines.insert(record_id, (file, offset, line.len()));
            Ok(())
        })?;
        let files = output
            .outputs
            .iter()
            .map(|path| {
                std::fs::File::open(path).map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let reader_adapter = Arc::clone(&adapter);
        let reader_spec = spec.clone();
        Source::Indexed {
            lines,
            files,
            paths: output.outputs.clone(),
            read: Box::new(move |line, lossy| {
                read_line::<O>(
                    reader_adapter.as_ref(),
                    reader_spec.as_ref(),
                    check.as_ref(),
                    line,
                    lossy,
                )
            }),
        }
    } else {
        let mut found = HashMap::with_capacity(record_ids.len());
        each_line(output, |file, offset, bytes| {
            let (line, lossy) = utf8_line(bytes);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.trim().is_empty() {
                return Ok(());
            }
            match read_line::<O>(adapter.as_ref(), spec.as_ref(), check.as_ref(), line, lossy) {
                LineRead::Record {
                    record_id,
                    outcome,
                    kind,
                } => {
                    if !known.contains(record_id.as_str()) {
                        unknown.push(record_id);
                        return Ok(());
                    }
                    count(kind);
                    found.insert(record_id, outcome);
                }
                LineRead::Unreadable(message) => {
                    let path = output
                        .outputs
                        .get(file)
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                    tracing::warn!(file = %path, offset, %message, "output line skipped");
                }
            }
            Ok(())
        })?;
        Source::Parsed(found)
    };
    drop(known);
    if !unknown.is_empty() {
        tracing::warn!(
            job_arn = %output.job_arn,
            count = unknown.len(),
            first = ?unknown.iter().take(5).collect::<Vec<_>>(),
            "the job output has records that are not in its input; they are ignored"
        );
    }
    let manifest = match &output.manifest {
        Some(path) => {
            let text = std::fs::read(path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            serde_json::from_slice(&text).map_err(|err| Error::Corrupt {
                object: format!("manifest.json.out of {}", output.job_arn),
                reason: err.to_string(),
            })?
        }
        // No manifest (an expired job): count what there is.
        None => Manifest {
            total_record_count: output
                .details
                .total_record_count
                .unwrap_or(record_ids.len() as u64),
            processed_record_count: successes + errors,
            success_record_count: successes,
            error_record_count: errors,
            ..Manifest::default()
        },
    };
    Ok(Loaded {
        record_ids,
        source,
        manifest,
        unknown: unknown.len() as u64,
    })
}

/// The `modelInput` Bedrock echoes in an output line.
fn echoed_input(line: &str) -> Option<serde_json::Value> {
    let mut line: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(line.get_mut("modelInput")?.take())
}

/// [`read_job`] off the async workers.
pub(crate) async fn read_job_async<O: OutputMode>(
    config: Arc<JobConfig>,
    output: JobOutput,
) -> Result<Loaded<O::Value>, Error> {
    crate::files::off_runtime("reading a job's output", move || {
        read_job::<O>(&config, &output)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use super::{JobOutput, read_job_indexing_above};
    use crate::job::config::{JobConfig, RunSettings};
    use crate::job::mode::Structured;
    use crate::status::{JobDetails, JobStatus};
    use crate::{BatchOutput, RecordError};

    #[derive(Debug, Clone, PartialEq, serde::Deserialize, schemars::JsonSchema, BatchOutput)]
    #[batch_output(crate = "crate")]
    struct Person {
        name: String,
    }

    fn answer(id: &str, name: &str) -> String {
        format!(
            r#"{{"recordId":"{id}","modelInput":{{}},"modelOutput":{{"content":[{{"type":"tool_use","id":"t","name":"Person","input":{{"name":"{name}"}}}}],"stop_reason":"tool_use","usage":{{"input_tokens":3,"output_tokens":4}}}}}}"#
        )
    }

    /// Both ways of reading a job's output, parsed whole or indexed and read line by line as
    /// the join asks, give every record the same outcome and usage, whatever the lines hold.
    #[tokio::test]
    async fn the_indexed_read_agrees_with_the_parsed_one_record_by_record()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let mut lines: Vec<Vec<u8>> = Vec::new();
        for i in 0..40 {
            lines.push(answer(&format!("r{i:02}"), &format!("name {i}")).into_bytes());
        }
        lines.push(
            br#"{"recordId":"r40","modelInput":{},"error":{"errorCode":400,"errorMessage":"bad"}}"#
                .to_vec(),
        );
        lines.push(br#"{"recordId":"r41","modelInput":{},"modelOutput":{"content":[{"type":"text","text":"no"}],"stop_reason":"end_turn"}}"#.to_vec());
        lines.push(b"{\"recordId\":\"r42\",\"modelOutput\":{\"content\":[{\"type\":\"text\",\"text\":\"\xff\xfe\"}]}}".to_vec());
        lines.push(
            br#"{"recordId":"r43","modelOutput":{"content":[{"type":"tool_use","name":"Per"#
                .to_vec(),
        );
        lines.push(answer("stranger", "x").into_bytes());
        lines.push(b"   ".to_vec());
        lines.push(b"not json at all".to_vec());
        // r05 answered twice: the later line counts, as Bedrock's output is read in order.
        lines.push(answer("r05", "again").into_bytes());
        let path = dir.path().join("out.jsonl");
        let mut file = std::fs::File::create(&path)?;
        for line in &lines {
            file.write_all(line)?;
            file.write_all(b"\n")?;
        }
        drop(file);
        let ids: Vec<String> = (0..45).map(|i| format!("r{i:02}")).collect();
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let settings = RunSettings {
            model_name: "anthropic.claude-3-haiku-20240307-v1:0".into(),
            ..RunSettings::default()
        };
        let config = JobConfig::assemble(
            settings,
            "us-east-1",
            crate::aws::Aws::new(&sdk, "us-east-1", None, None),
            None,
        );
        let output = JobOutput {
            job_arn: "arn:aws:bedrock:us-east-1:1:model-invocation-job/x".into(),
            details: JobDetails {
                job_arn: String::new(),
                job_name: String::new(),
                model_id: String::new(),
                role_arn: String::new(),
                status: JobStatus::Completed,
                message: None,
                input_uri: String::new(),
                output_uri: String::new(),
                converse: false,
                timeout_hours: None,
                total_record_count: None,
                processed_record_count: None,
                success_record_count: None,
                error_record_count: None,
            },
            record_ids: Arc::new(ids.clone()),
            outputs: vec![path],
            manifest: None,
        };
        let mut parsed = read_job_indexing_above::<Structured<Person>>(&config, &output, u64::MAX)?;
        let mut indexed = read_job_indexing_above::<Structured<Person>>(&config, &output, 0)?;
        assert_eq!(parsed.manifest, indexed.manifest);
        assert_eq!((parsed.unknown, indexed.unknown), (1, 1));
        for id in &ids {
            let (a, b) = (parsed.take(id), indexed.take(id));
            assert_eq!(a, b, "record {id}");
        }
        assert_eq!(
            read_job_indexing_above::<Structured<Person>>(&config, &output, 0)?.take("r05"),
            Some((
                Ok(Person {
                    name: "again".into()
                }),
                Some(crate::Usage {
                    input_tokens: 3,
                    output_tokens: 4
                })
            ))
        );
        let mut again = read_job_indexing_above::<Structured<Person>>(&config, &output, 0)?;
        assert!(matches!(
            again.take("r40"),
            Some((Err(RecordError::Bedrock { .. }), None))
        ));
        assert!(matches!(
            again.take("r42"),
            Some((Err(RecordError::MalformedOutput { .. }), None))
        ));
        assert_eq!(
            again.take("r44"),
            None,
            "no line: the join makes it Missing"
        );
        assert_eq!(again.take("r05").map(|(o, _)| o.is_ok()), Some(true));
        assert_eq!(again.take("r05"), None, "taken once");
        Ok(())
    }
}
