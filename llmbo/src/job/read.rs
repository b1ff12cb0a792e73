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

/// A job's parsed output, before it is joined to the input.
pub(crate) struct Loaded<V> {
    pub(crate) record_ids: Arc<Vec<String>>,
    /// Outcomes of the job's own records only; outputs for unknown ids are reported and dropped.
    pub(crate) found: HashMap<String, (Result<V, RecordError>, Option<crate::Usage>)>,
    pub(crate) manifest: Manifest,
    /// How many outputs named a record id that is not in the input.
    pub(crate) unknown: u64,
}

fn open(path: &Path) -> Result<std::io::BufReader<std::fs::File>, Error> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(std::io::BufReader::with_capacity(1 << 20, file))
}

/// Parses one job's downloaded output: each line by the adapter (the common answer in one
/// pass), every outcome under its record id. Lines are read as bytes: a line that is not
/// UTF-8 fails the record it names, never the job. Blocking: call it off the async workers.
pub(crate) fn read_job<O: OutputMode>(
    config: &JobConfig,
    output: &JobOutput,
) -> Result<Loaded<O::Value>, Error> {
    let spec = config.output_spec::<O>()?;
    let request = spec.as_ref().map(|spec| spec.request());
    let adapter = config.adapter.as_ref();
    let record_ids = Arc::clone(&output.record_ids);
    let mut found = HashMap::with_capacity(record_ids.len());
    let (mut successes, mut errors) = (0u64, 0u64);
    // An output for a record that was never submitted is reported, not merged.
    let known: HashSet<&str> = record_ids.iter().map(String::as_str).collect();
    let mut unknown = Vec::new();
    let mut buffer = Vec::new();
    for path in &output.outputs {
        let mut reader = open(path)?;
        let mut index = 0usize;
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
            index += 1;
            let (line, lossy) = match std::str::from_utf8(&buffer) {
                Ok(line) => (std::borrow::Cow::Borrowed(line), false),
                // Not UTF-8 (a cut multi-byte character, a bad byte): the line is read as far
                // as it can be, so the record it names still gets its own error.
                Err(_) => (String::from_utf8_lossy(&buffer), true),
            };
            let line = line.trim_end_matches(['\n', '\r']);
            if line.trim().is_empty() {
                continue;
            }
            // The common line goes the fast way: no `Value` tree for the answer.
            if !lossy
                && let Some((record_id, outcome, usage)) = O::parse_fast(adapter, line, request)
            {
                if !known.contains(record_id.as_ref()) {
                    unknown.push(record_id.into_owned());
                    continue;
                }
                successes += 1;
                let outcome = O::checked(outcome, config.output_check.as_ref());
                found.insert(record_id.into_owned(), (outcome, usage));
                continue;
            }
            let parsed = jsonl::parse_output_line(line);
            if let OutputLine::Output { record_id, .. }
            | OutputLine::Error { record_id, .. }
            | OutputLine::Malformed { record_id, .. } = &parsed
                && !known.contains(record_id.as_str())
            {
                unknown.push(record_id.clone());
                continue;
            }
            let (record_id, outcome) = match parsed {
                OutputLine::Output { record_id, .. } if lossy => (
                    record_id,
                    (
                        Err(RecordError::MalformedOutput {
                            message: "the output line is not valid UTF-8".into(),
                        }),
                        None,
                    ),
                ),
                OutputLine::Output {
                    record_id,
                    model_output,
                } => {
                    successes += 1;
                    let usage = adapter.usage(&model_output);
                    // With several output types, the echoed request says which one, if any,
                    // the record was asked for.
                    let expected = match &spec {
                        Some(spec) if spec.is_multi() => {
                            echoed_input(line).and_then(|input| spec.expected_of(&input))
                        }
                        _ => None,
                    };
                    let request = request.map(|r| crate::adapter::OutputRequest {
                        expected: expected.as_deref(),
                        ..r
                    });
                    (record_id, (O::parse(adapter, model_output, request), usage))
                }
                OutputLine::Error { record_id, error } => {
                    errors += 1;
                    (record_id, (Err(error), None))
                }
                OutputLine::Malformed { record_id, message } => (
                    record_id,
                    (Err(RecordError::MalformedOutput { message }), None),
                ),
                OutputLine::Unreadable { message } => {
                    tracing::warn!(file = %path.display(), line = index, %message, "output line skipped");
                    continue;
                }
            };
            let (outcome, usage) = outcome;
            let outcome = O::checked(outcome, config.output_check.as_ref());
            found.insert(record_id, (outcome, usage));
        }
    }
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
        found,
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
