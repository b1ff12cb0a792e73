//! Reading one job's downloaded output: every line by the adapter (`line.rs`), as bytes, each
//! outcome under its record id, before the join to the input order (`results.rs`). A large
//! output is read in parts, one per core, each part's lines in order.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::OutputMode;
use super::config::JobConfig;
use super::engine::JobOutput;
use super::line::{LineKind, LineRead, Outcome, line_head, read_line, utf8_line};
use crate::adapter::{ModelProviderAdapter, OutputSpec};
use crate::error::{Error, RecordError};
use crate::manifest::Manifest;

/// A job's output, read, before it is joined to the input: each known record's outcome, parsed
/// in one pass while what they hold stays under a budget; past it (a large job's answers),
/// where each remaining record's line is, read and parsed when the join asks for it, so memory
/// holds a bounded part of a job's answers and an index of the rest.
pub(crate) struct Loaded<V> {
    pub(crate) record_ids: Arc<Vec<String>>,
    /// What each part of the output held, in the order of its lines.
    parts: Vec<Part<V>>,
    /// Reads the lines of the index again.
    reread: Reread<V>,
    pub(crate) manifest: Manifest,
    /// How many outputs named a record id that is not in the input.
    pub(crate) unknown: u64,
}

/// One part of an output: its outcomes, parsed, and past the budget where each record's line
/// is, `(file, offset, length)`.
struct Part<V> {
    parsed: HashMap<String, Outcome<V>>,
    lines: HashMap<String, (usize, u64, usize)>,
    unknown: Vec<String>,
    successes: u64,
    errors: u64,
}

struct Reread<V> {
    files: Vec<std::fs::File>,
    paths: Vec<PathBuf>,
    /// Reads one line (the same reader as the parsed lines').
    read: LineParser<V>,
}

type LineParser<V> = Box<dyn Fn(&str, bool) -> LineRead<V> + Send>;

impl<V> Loaded<V> {
    /// The outcome of `record_id`, once; `None` when the output has no line for it.
    pub(crate) fn take(&mut self, record_id: &str) -> Option<Outcome<V>> {
        let mut found = None;
        // A record answered twice: its later line counts; the earlier goes too.
        for part in self.parts.iter_mut().rev() {
            let here = match part.parsed.remove(record_id) {
                Some(outcome) => Some(Ok(outcome)),
                None => part.lines.remove(record_id).map(Err),
            };
            if found.is_none() {
                found = here;
            }
        }
        match found? {
            Ok(outcome) => Some(outcome),
            Err(at) => self.reread.line(at),
        }
    }
}

impl<V> Reread<V> {
    fn line(&mut self, (file, offset, len): (usize, u64, usize)) -> Option<Outcome<V>> {
        let mut bytes = vec![0; len];
        let io = match self.files.get_mut(file) {
            Some(f) => {
                use std::io::Read;
                f.seek(SeekFrom::Start(offset))
                    .and_then(|_| f.read_exact(&mut bytes))
                    .map_err(|_| ())
            }
            None => Err(()),
        };
        if io.is_err() {
            let path = self
                .paths
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
        match (self.read)(line.trim_end_matches(['\n', '\r']), lossy) {
            LineRead::Record { outcome, .. } => Some(outcome),
            LineRead::Unreadable(_) => None,
        }
    }
}

/// What one job's parsed outcomes may hold (about) before the rest of its lines are indexed
/// and parsed when the join takes them.
const KEEP_PARSED_BYTES: u64 = 32 << 20;

/// An output smaller than this is read in one part.
const SPLIT_ABOVE_BYTES: u64 = 4 << 20;

/// What keeping one outcome costs beyond its value: its id, the map's entry.
fn entry_bytes<V>(record_id: &str) -> u64 {
    (record_id.len() + std::mem::size_of::<(String, Outcome<V>)>() + 16) as u64
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// A stretch of one output file: the lines that start in `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stretch {
    file: usize,
    start: u64,
    end: u64,
}

/// The output files cut into `parts` stretches each, each cut moved to the start of the next
/// line, in line order.
fn stretches(outputs: &[PathBuf], parts: usize) -> Result<Vec<Stretch>, Error> {
    let mut all = Vec::new();
    for (file, path) in outputs.iter().enumerate() {
        let size = std::fs::metadata(path).map_err(io_error(path))?.len();
        let parts = parts.max(1) as u64;
        let mut start = 0;
        for cut in 1..parts {
            let next = line_start_from(path, size * cut / parts)?.max(start);
            all.push(Stretch {
                file,
                start,
                end: next,
            });
            start = next;
        }
        all.push(Stretch {
            file,
            start,
            end: u64::MAX,
        });
    }
    Ok(all)
}

/// The first offset at or after `at` where a line starts (the end of the file if none).
fn line_start_from(path: &Path, at: u64) -> Result<u64, Error> {
    if at == 0 {
        return Ok(0);
    }
    let mut file = std::fs::File::open(path).map_err(io_error(path))?;
    file.seek(SeekFrom::Start(at - 1)).map_err(io_error(path))?;
    let mut reader = std::io::BufReader::with_capacity(64 << 10, file);
    let mut skipped = Vec::new();
    let read = reader
        .read_until(b'\n', &mut skipped)
        .map_err(io_error(path))?;
    Ok(at - 1 + read as u64)
}

/// Calls `each(offset, line)` for every line that starts in the stretch, as bytes.
fn each_line(
    path: &Path,
    stretch: Stretch,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut file = std::fs::File::open(path).map_err(io_error(path))?;
    file.seek(SeekFrom::Start(stretch.start))
        .map_err(io_error(path))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut buffer = Vec::new();
    let mut offset = stretch.start;
    while offset < stretch.end {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(io_error(path))?;
        if read == 0 {
            break;
        }
        each(offset, &buffer)?;
        offset += read as u64;
    }
    Ok(())
}

/// What every part's reader shares.
struct Reader<'a> {
    adapter: &'a dyn ModelProviderAdapter,
    spec: Option<&'a OutputSpec>,
    check: Option<&'a super::mode::OutputCheck>,
    known: &'a HashSet<&'a str>,
}

impl Reader<'_> {
    /// Reads one stretch: outcomes parsed while they hold under `keep` bytes, then indexed.
    fn part<O: OutputMode>(
        &self,
        path: &Path,
        stretch: Stretch,
        keep: u64,
    ) -> Result<Part<O::Value>, Error> {
        let mut part = Part {
            parsed: HashMap::new(),
            lines: HashMap::new(),
            unknown: Vec::new(),
            successes: 0,
            errors: 0,
        };
        let mut held = 0u64;
        each_line(path, stretch, |offset, bytes| {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            let (record_id, kind, outcome) = if held < keep {
                let (line, lossy) = utf8_line(bytes);
                let line = line.trim_end_matches(['\n', '\r']);
                match read_line::<O>(self.adapter, self.spec, self.check, line, lossy) {
                    LineRead::Record {
                        record_id,
                        outcome,
                        kind,
                        held: size,
                    } => {
                        held += size as u64 + entry_bytes::<O::Value>(&record_id);
                        (record_id, kind, Some(outcome))
                    }
                    LineRead::Unreadable(message) => {
                        tracing::warn!(file = %path.display(), offset, %message, "output line skipped");
                        return Ok(());
                    }
                }
            } else {
                // Past the budget: where the line is, and only what the count needs.
                let head = std::str::from_utf8(bytes)
                    .ok()
                    .and_then(|_| line_head(bytes))
                    .or_else(|| {
                        // Not UTF-8, or cut: read as the parsed lines are, for its id.
                        let (text, lossy) = utf8_line(bytes);
                        let text = text.trim_end_matches(['\n', '\r']);
                        match read_line::<O>(self.adapter, self.spec, None, text, lossy) {
                            LineRead::Record {
                                record_id, kind, ..
                            } => Some((record_id, if lossy { LineKind::Other } else { kind })),
                            LineRead::Unreadable(_) => None,
                        }
                    });
                let Some((record_id, kind)) = head else {
                    tracing::warn!(file = %path.display(), offset, "output line skipped: it names no record");
                    return Ok(());
                };
                (record_id, kind, None)
            };
            if !self.known.contains(record_id.as_str()) {
                part.unknown.push(record_id);
                return Ok(());
            }
            match kind {
                LineKind::Answer => part.successes += 1,
                LineKind::Error => part.errors += 1,
                LineKind::Other => {}
            }
            match outcome {
                Some(outcome) => {
                    part.parsed.insert(record_id, outcome);
                }
                None => {
                    // Answered twice: the later line counts.
                    part.parsed.remove(&record_id);
                    part.lines
                        .insert(record_id, (stretch.file, offset, bytes.len()));
                }
            }
            Ok(())
        })?;
        Ok(part)
    }
}

/// How many parts a step-by-step read cuts a large output into: one per core, up to four.
pub(crate) fn read_parts() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Parses one job's downloaded output in one pass: each line by the adapter (the common answer
/// the fast way), every outcome under its record id, until the outcomes kept hold about
/// [`KEEP_PARSED_BYTES`]; the lines after that are indexed and each parsed when the join takes
/// it. A large output is read in `parts` stretches at once, each on its own thread. Lines are
/// read as bytes: a line that is not UTF-8 fails the record it names, never the job. Blocking:
/// call it off the async workers.
pub(crate) fn read_job<O: OutputMode>(
    config: &JobConfig,
    output: &JobOutput,
    parts: usize,
) -> Result<Loaded<O::Value>, Error> {
    let bytes: u64 = output
        .outputs
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let parts = if bytes < SPLIT_ABOVE_BYTES { 1 } else { parts };
    read_job_keeping::<O>(config, output, parts, KEEP_PARSED_BYTES)
}

/// [`read_job`], keeping outcomes up to about `keep` bytes.
fn read_job_keeping<O: OutputMode>(
    config: &JobConfig,
    output: &JobOutput,
    parts: usize,
    keep: u64,
) -> Result<Loaded<O::Value>, Error> {
    let spec = config.output_spec::<O>()?;
    let check = config.output_check.clone();
    let record_ids = Arc::clone(&output.record_ids);
    // An output for a record that was never submitted is reported, not merged.
    let known: HashSet<&str> = record_ids.iter().map(String::as_str).collect();
    let reader = Reader {
        adapter: config.adapter.as_ref(),
        spec: spec.as_ref(),
        check: check.as_ref(),
        known: &known,
    };
    let stretches = stretches(&output.outputs, parts)?;
    let keep = keep / stretches.len().max(1) as u64;
    let path_of = |stretch: &Stretch| {
        output
            .outputs
            .get(stretch.file)
            .map(PathBuf::as_path)
            .unwrap_or(Path::new(""))
    };
    let read: Vec<Result<Part<O::Value>, Error>> = if stretches.len() == 1 {
        stretches
            .iter()
            .map(|s| reader.part::<O>(path_of(s), *s, keep))
            .collect()
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = stretches
                .iter()
                .map(|s| {
                    let reader = &reader;
                    let path = path_of(s);
                    std::thread::Builder::new()
                        .name("llmbo-read".into())
                        .spawn_scoped(scope, move || reader.part::<O>(path, *s, keep))
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| match handle {
                    Ok(handle) => handle.join().unwrap_or_else(|_| {
                        Err(Error::Internal {
                            what: "reading a job's output",
                            reason: "a reading thread panicked".into(),
                        })
                    }),
                    Err(err) => Err(Error::Internal {
                        what: "reading a job's output",
                        reason: format!("no thread to read with: {err}"),
                    }),
                })
                .collect()
        })
    };
    let parts = read.into_iter().collect::<Result<Vec<_>, _>>()?;
    drop(known);
    let unknown: Vec<&String> = parts.iter().flat_map(|p| &p.unknown).collect();
    if !unknown.is_empty() {
        tracing::warn!(
            job_arn = %output.job_arn,
            count = unknown.len(),
            first = ?unknown.iter().take(5).collect::<Vec<_>>(),
            "the job output has records that are not in its input; they are ignored"
        );
    }
    let unknown = unknown.len() as u64;
    let successes = parts.iter().map(|p| p.successes).sum::<u64>();
    let errors = parts.iter().map(|p| p.errors).sum::<u64>();
    let manifest = match &output.manifest {
        Some(path) => {
            let text = std::fs::read(path).map_err(io_error(path))?;
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
    // Opened now: the files may be gone (a temp directory) by the time the join reads them.
    let files = if parts.iter().any(|p| !p.lines.is_empty()) {
        output
            .outputs
            .iter()
            .map(|path| std::fs::File::open(path).map_err(io_error(path)))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    let adapter = Arc::clone(&config.adapter);
    Ok(Loaded {
        record_ids,
        parts,
        reread: Reread {
            files,
            paths: output.outputs.clone(),
            read: Box::new(move |line, lossy| {
                read_line::<O>(adapter.as_ref(), spec.as_ref(), check.as_ref(), line, lossy)
            }),
        },
        manifest,
        unknown,
    })
}

/// [`read_job`] off the async workers, in one part (a run reads its jobs on one I/O thread,
/// so its memory stays flat).
pub(crate) async fn read_job_async<O: OutputMode>(
    config: Arc<JobConfig>,
    output: JobOutput,
) -> Result<Loaded<O::Value>, Error> {
    crate::files::off_runtime("reading a job's output", move || {
        read_job::<O>(&config, &output, 1)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use super::{JobOutput, read_job_keeping};
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
        let mut parsed = read_job_keeping::<Structured<Person>>(&config, &output, 1, u64::MAX)?;
        assert!(
            parsed.parts.iter().all(|p| p.lines.is_empty()),
            "all of it parsed"
        );
        // All indexed, the budget reached after a few lines (r05's first answer parsed, its
        // second indexed) or halfway; in one part or cut into several read at once (more
        // parts than lines, too).
        for parts in [1, 2, 3, 7, 60] {
            for keep in [0, 1_000, 4_000, u64::MAX] {
                let mut other =
                    read_job_keeping::<Structured<Person>>(&config, &output, parts, keep)?;
                let indexed: usize = other.parts.iter().map(|p| p.lines.len()).sum();
                let kept: usize = other.parts.iter().map(|p| p.parsed.len()).sum();
                assert_eq!(other.parts.len(), parts);
                if parts == 1 && keep < u64::MAX {
                    assert!(
                        indexed > 0 && (keep == 0 || kept > 0),
                        "keep {keep}: {kept} parsed, {indexed} indexed"
                    );
                }
                assert_eq!(parsed.manifest, other.manifest);
                assert_eq!((parsed.unknown, other.unknown), (1, 1));
                let mut again =
                    read_job_keeping::<Structured<Person>>(&config, &output, 1, u64::MAX)?;
                for id in &ids {
                    let (a, b) = (again.take(id), other.take(id));
                    assert_eq!(a, b, "{parts} parts, keep {keep}: record {id}");
                    assert_eq!(other.take(id), None, "taken once");
                }
            }
        }
        for keep in [0, 1_000, u64::MAX] {
            assert_eq!(
                read_job_keeping::<Structured<Person>>(&config, &output, 1, keep)?.take("r05"),
                Some((
                    Ok(Person {
                        name: "again".into()
                    }),
                    Some(crate::Usage {
                        input_tokens: 3,
                        output_tokens: 4
                    })
                )),
                "keep {keep}"
            );
        }
        assert!(parsed.take("r00").is_some());
        assert_eq!(
            read_job_keeping::<Structured<Person>>(&config, &output, 1, 0)?.take("r05"),
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
        let mut again = read_job_keeping::<Structured<Person>>(&config, &output, 1, 0)?;
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
        // The output's temp directory may be gone before the join: the index still reads.
        let mut whole = read_job_keeping::<Structured<Person>>(&config, &output, 1, u64::MAX)?;
        let mut indexed = read_job_keeping::<Structured<Person>>(&config, &output, 2, 0)?;
        drop(dir);
        for id in &ids {
            assert_eq!(whole.take(id), indexed.take(id), "record {id}, file gone");
        }
        Ok(())
    }
}
