//! Reading one job's downloaded output: every line by the adapter (`line.rs`), as bytes, each
//! outcome under its record's place in the input, before the join to the input order
//! (`results.rs`). A large output is read in parts, one per core, each part's lines in order.

use std::collections::HashMap;
use std::io::{Seek, SeekFrom};
use std::sync::Arc;

use super::OutputMode;
use super::config::JobConfig;
use super::engine::JobOutput;
use super::line::{
    LineKind, LineRead, Outcome, bedrock_form, line_head, read_line, read_served, utf8_line,
};
use super::stretch::{OutputData, Stretch, each_line, io_error, stretches};
use crate::adapter::OutputSpec;
use crate::adapter::object::ModelProviderAdapter;
use crate::error::{Error, RecordError};
use crate::manifest::Manifest;

/// A job's output, read, before it is joined to the input: each known record's outcome, parsed
/// in one pass while what they hold stays under a budget; past it (a large job's answers),
/// where each remaining record's line is, read and parsed when the join asks for it, so memory
/// holds a bounded part of a job's answers and an index of the rest. Records are known by
/// their place in the job's input: the join takes them in order without a lookup by id.
pub(crate) struct Loaded<V> {
    pub(crate) record_ids: Arc<Vec<String>>,
    /// What each part of the output held, in the order of its lines.
    parts: Vec<Part<V>>,
    /// Where each record's outcome is, by its place in `record_ids`: its last line.
    found: Vec<Found>,
    /// Reads the lines of the index again.
    reread: Reread<V>,
    pub(crate) manifest: Manifest,
    /// How many outputs named a record id that is not in the input.
    pub(crate) unknown: u64,
}

/// Where one record's outcome is.
#[derive(Clone, Copy)]
enum Found {
    /// No line named it (yet), or it was taken.
    Nowhere,
    /// In a part's parsed outcomes.
    Parsed { part: usize, at: usize },
    /// Past the budget: in a part's index of lines.
    Indexed { part: usize, at: usize },
}

/// One part of an output: its outcomes, parsed, and past the budget where each record's line
/// is, `(file, offset, length)`; each under its record's place in the input, in the order of
/// the part's lines (its parsed lines all come before its indexed ones).
struct Part<V> {
    parsed: Vec<(usize, Option<Outcome<V>>)>,
    lines: Vec<(usize, (usize, u64, usize))>,
    unknown: Vec<String>,
    successes: u64,
    errors: u64,
}

struct Reread<V> {
    files: Vec<Opened>,
    names: Vec<String>,
    /// Reads one line (the same reader as the parsed lines').
    read: LineParser<V>,
}

/// Reads one line as it stands in its output (see [`read_served`]).
type LineParser<V> = Box<
    dyn for<'a> Fn(&'a [u8], Option<&'a crate::backend::LineMap>) -> Option<LineRead<'a, V>> + Send,
>;

/// An output kept open for the join to read lines of again.
enum Opened {
    File(std::fs::File),
    /// In memory, with how its lines become Bedrock's when they are a batch API's own.
    Memory(Arc<Vec<u8>>, Option<crate::backend::LineMap>),
}

impl<V> Loaded<V> {
    /// The outcome of the record at `place` in the input, once; `None` when the output has no
    /// line for it. A record answered twice has its later line's.
    pub(crate) fn take_at(&mut self, place: usize) -> Option<Outcome<V>> {
        let found = std::mem::replace(self.found.get_mut(place)?, Found::Nowhere);
        match found {
            Found::Nowhere => None,
            Found::Parsed { part, at } => self.parts.get_mut(part)?.parsed.get_mut(at)?.1.take(),
            Found::Indexed { part, at } => {
                let line = self.parts.get(part)?.lines.get(at)?.1;
                self.reread.line(line)
            }
        }
    }

    /// The outcome of `record_id`, once (see [`take_at`](Self::take_at)).
    #[cfg(test)]
    pub(crate) fn take(&mut self, record_id: &str) -> Option<Outcome<V>> {
        let place = self.record_ids.iter().position(|id| id == record_id)?;
        self.take_at(place)
    }
}

/// Where each record's outcome is: parts in order, each part's parsed lines before its indexed
/// ones, so a later line of a record stands over an earlier one.
fn found_in<V>(parts: &[Part<V>], records: usize) -> Vec<Found> {
    let mut found = vec![Found::Nowhere; records];
    for (part, read) in parts.iter().enumerate() {
        for (at, (place, _)) in read.parsed.iter().enumerate() {
            if let Some(slot) = found.get_mut(*place) {
                *slot = Found::Parsed { part, at };
            }
        }
        for (at, (place, _)) in read.lines.iter().enumerate() {
            if let Some(slot) = found.get_mut(*place) {
                *slot = Found::Indexed { part, at };
            }
        }
    }
    found
}

impl<V> Reread<V> {
    fn line(&mut self, (file, offset, len): (usize, u64, usize)) -> Option<Outcome<V>> {
        let mut bytes = vec![0; len];
        let mut map = None;
        let io = match self.files.get_mut(file) {
            Some(Opened::File(f)) => {
                use std::io::Read;
                f.seek(SeekFrom::Start(offset))
                    .and_then(|_| f.read_exact(&mut bytes))
                    .map_err(|_| ())
            }
            Some(Opened::Memory(all, served)) => {
                map = served.as_ref();
                usize::try_from(offset)
                    .ok()
                    .and_then(|at| all.get(at..at.checked_add(len)?))
                    .map(|line| bytes.copy_from_slice(line))
                    .ok_or(())
            }
            None => Err(()),
        };
        if io.is_err() {
            let path = self.names.get(file).cloned().unwrap_or_default();
            return Some((
                Err(RecordError::MalformedOutput {
                    message: format!("its output line could not be read again from {path}"),
                }),
                None,
            ));
        }
        match (self.read)(&bytes, map)? {
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
fn entry_bytes<V>() -> u64 {
    (std::mem::size_of::<(usize, Option<Outcome<V>>)>() + std::mem::size_of::<Found>()) as u64
}

/// What every part's reader shares.
struct Reader<'a> {
    adapter: &'a dyn ModelProviderAdapter,
    spec: Option<&'a OutputSpec>,
    check: Option<&'a crate::mode::OutputCheck>,
    /// Where each record is (see [`Places`]).
    places: Places<'a>,
}

/// Each record's place in a job's input, found by its id: where the line before's record was,
/// plus one (an output in input order, as the batch APIs and llmbo-local write theirs, needs no
/// lookup); else, once per part, by a scan of the ids; else by a map of them, made when first
/// needed and shared by the parts. Ids are unique in a job's input (the spool checks), so the
/// first place found is the only one.
struct Places<'a> {
    ids: &'a [String],
    map: std::sync::OnceLock<HashMap<&'a str, usize>>,
}

impl<'a> Places<'a> {
    fn new(ids: &'a [String]) -> Self {
        Places {
            ids,
            map: std::sync::OnceLock::new(),
        }
    }

    /// The place of `id`: `next` when it is there, else looked up; `scanned` says whether the
    /// part scanned the ids before (a second miss uses the map).
    fn of(&self, id: &str, next: usize, scanned: &mut bool) -> Option<usize> {
        if self.ids.get(next).is_some_and(|at| at == id) {
            return Some(next);
        }
        if let Some(map) = self.map.get() {
            return map.get(id).copied();
        }
        if !*scanned {
            *scanned = true;
            return self.ids.iter().position(|at| at == id);
        }
        self.map
            .get_or_init(|| {
                let mut map = HashMap::with_capacity(self.ids.len());
                for (place, id) in self.ids.iter().enumerate() {
                    map.entry(id.as_str()).or_insert(place);
                }
                map
            })
            .get(id)
            .copied()
    }
}

impl Reader<'_> {
    /// Reads one stretch: outcomes parsed while they hold under `keep` bytes, then indexed.
    fn part<O: OutputMode>(
        &self,
        data: &OutputData,
        stretch: Stretch,
        keep: u64,
    ) -> Result<Part<O::Value>, Error> {
        let mut part = Part {
            parsed: Vec::new(),
            lines: Vec::new(),
            unknown: Vec::new(),
            successes: 0,
            errors: 0,
        };
        let mut held = 0u64;
        let map = data.line_map();
        let (mut next, mut scanned) = (0, false);
        each_line(data, stretch, |offset, bytes| {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            let (record_id, kind, outcome) = if held < keep {
                match read_served::<O>(self.adapter, self.spec, self.check, map, bytes) {
                    None => return Ok(()),
                    Some(LineRead::Record {
                        record_id,
                        outcome,
                        kind,
                        held: size,
                    }) => {
                        held += size as u64 + entry_bytes::<O::Value>();
                        (record_id, kind, Some(outcome))
                    }
                    Some(LineRead::Unreadable(message)) => {
                        tracing::warn!(file = %data.name(), offset, %message, "output line skipped");
                        return Ok(());
                    }
                }
            } else {
                // Past the budget: where the line is, and only what the count needs (a batch
                // API's line made Bedrock's first).
                let bedrock = bedrock_form(map, bytes);
                let bytes = bedrock.as_ref();
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return Ok(());
                }
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
                            } => Some((
                                record_id.into_owned(),
                                if lossy { LineKind::Other } else { kind },
                            )),
                            LineRead::Unreadable(_) => None,
                        }
                    });
                let Some((record_id, kind)) = head else {
                    tracing::warn!(file = %data.name(), offset, "output line skipped: it names no record");
                    return Ok(());
                };
                (std::borrow::Cow::Owned(record_id), kind, None)
            };
            let Some(place) = self.places.of(&record_id, next, &mut scanned) else {
                part.unknown.push(record_id.into_owned());
                return Ok(());
            };
            next = place + 1;
            match kind {
                LineKind::Answer => part.successes += 1,
                LineKind::Error => part.errors += 1,
                LineKind::Other => {}
            }
            // A record answered twice: the later line counts (see `found_in`).
            match outcome {
                Some(outcome) => part.parsed.push((place, Some(outcome))),
                None => part
                    .lines
                    .push((place, (stretch.file, offset, bytes.len()))),
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
        .filter_map(|data| data.len().ok())
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
    let reader = Reader {
        adapter: config.adapter.as_ref(),
        spec: spec.as_ref(),
        check: check.as_ref(),
        places: Places::new(&record_ids),
    };
    let stretches = stretches(&output.outputs, parts)?;
    let keep = keep / stretches.len().max(1) as u64;
    let empty = OutputData::Memory(Arc::new(Vec::new()));
    let path_of = |stretch: &Stretch| output.outputs.get(stretch.file).unwrap_or(&empty);
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
    drop(reader);
    let found = found_in(&parts, record_ids.len());
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
    let counted = Manifest {
        total_record_count: output
            .details
            .total_record_count
            .unwrap_or(record_ids.len() as u64),
        processed_record_count: successes.saturating_add(errors),
        success_record_count: successes,
        error_record_count: errors,
        ..Manifest::default()
    };
    // The manifest's counts are a check on the lines, never a reason to lose them.
    let manifest = match &output.manifest {
        Some(data) => {
            let text = data.read_all()?;
            match serde_json::from_slice::<Manifest>(&text) {
                Ok(manifest) => {
                    if (manifest.success_record_count, manifest.error_record_count)
                        != (successes, errors)
                    {
                        tracing::warn!(
                            job_arn = %output.job_arn,
                            manifest_successes = manifest.success_record_count,
                            manifest_errors = manifest.error_record_count,
                            line_successes = successes,
                            line_errors = errors,
                            "the job's manifest.json.out counts other records than its output lines; the lines are read"
                        );
                    }
                    manifest
                }
                Err(err) => {
                    tracing::warn!(
                        job_arn = %output.job_arn,
                        error = %err,
                        "the job's manifest.json.out cannot be read; its output lines are read and counted instead"
                    );
                    counted
                }
            }
        }
        // No manifest (an expired job): count what there is.
        None => counted,
    };
    // Opened now: the files may be gone (a temp directory) by the time the join reads them.
    let files = if parts.iter().any(|p| !p.lines.is_empty()) {
        output
            .outputs
            .iter()
            .map(|data| match data {
                OutputData::File(path) => std::fs::File::open(path)
                    .map(Opened::File)
                    .map_err(io_error(path)),
                OutputData::Memory(bytes) => Ok(Opened::Memory(Arc::clone(bytes), None)),
                OutputData::Served(bytes, map) => {
                    Ok(Opened::Memory(Arc::clone(bytes), Some(map.clone())))
                }
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    let adapter = Arc::clone(&config.adapter);
    Ok(Loaded {
        record_ids,
        parts,
        found,
        reread: Reread {
            files,
            names: output.outputs.iter().map(OutputData::name).collect(),
            read: Box::new(move |bytes, map| {
                read_served::<O>(adapter.as_ref(), spec.as_ref(), check.as_ref(), map, bytes)
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
#[path = "read_tests.rs"]
mod tests;
