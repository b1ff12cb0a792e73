//! Preparing a run: each request written once, by its adapter, to a private spool file, and
//! the records planned into jobs. Memory holds a size and a 64-bit id hash per record.

use std::collections::HashSet;
use std::io::{BufRead, Seek};

use super::config::JobConfig;
use super::names;
use super::record::{RECORD_VERSION, RunRecord, ShardEntry};
use crate::adapter::{OutputSpec, detect_strategy};
use crate::cost::TokenEstimator;
use crate::error::Error;
use crate::findings::{Finding, Findings, Severity};
use crate::mode::OutputMode;
use crate::model::RequestFamily;
use crate::model_input::ModelInput;
use crate::output::OutputStrategy;
use crate::preflight::rules;
use crate::shards::plan_shards;
use crate::{jsonl, layout};

/// A `Prepared` run's requests: spooled to a private temp file, planned into jobs.
#[doc(hidden)]
pub struct PlannedRun {
    pub(crate) spool: Spool,
    pub(crate) ranges: Vec<std::ops::Range<usize>>,
}

impl std::fmt::Debug for PlannedRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlannedRun")
            .field("records", &self.spool.sizes.len())
            .field("jobs", &self.ranges.len())
            .finish()
    }
}

/// The prepared requests of a run, on disk.
pub(crate) struct Spool {
    pub(crate) file: std::fs::File,
    /// The SHA-256 of the whole spool (a run of one job: its input's hash).
    pub(crate) hash: String,
    /// Each line's length, in input order.
    pub(crate) sizes: Vec<u64>,
    /// What the records break of their family's request rules.
    pub(crate) findings: Findings,
    /// The records' estimated tokens.
    pub(crate) tokens: TokenEstimator,
    /// Whether a record names media in S3: its job then gets a folder of its own.
    pub(crate) s3_media: bool,
}

impl Spool {
    /// The spool, unless a record breaks a rule that refuses the run (with `skip`, nothing
    /// refuses it); what does not refuse it is logged.
    pub(crate) fn checked(self, skip: bool) -> Result<Spool, Error> {
        for group in &self.findings.groups {
            if group.severity == Severity::Warning || skip {
                tracing::warn!(
                    rule = group.rule,
                    records = group.count,
                    first = %group.first.first().map_or("", |at| at.record_id.as_str()),
                    "{}",
                    group.message
                );
            }
        }
        if self.findings.has_errors() && !skip {
            return Err(Error::Refused {
                findings: Box::new(self.findings),
            });
        }
        Ok(self)
    }
}

fn spool_io(source: std::io::Error) -> Error {
    Error::Io {
        path: std::env::temp_dir(),
        source,
    }
}

/// Appends one record's JSONL input line: a raw body as given, else written by the adapter
/// (with the output tool of a structured job). A problem with the input names the record.
pub(crate) fn write_one(
    config: &JobConfig,
    record_id: &str,
    input: &ModelInput,
    output: Option<&OutputSpec>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let written = write_body(config, record_id, input, output, out);
    written.map_err(|err| match err {
        Error::InvalidInput {
            record_id: None,
            problem,
        } => Error::InvalidInput {
            record_id: Some(record_id.to_owned()),
            problem,
        },
        other => other,
    })
}

fn write_body(
    config: &JobConfig,
    record_id: &str,
    input: &ModelInput,
    output: Option<&OutputSpec>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if input.raw_body.is_none() {
        crate::model_input::check_support(&config.settings.model_name, input)?;
        super::media::check_refused(config, input)?;
    }
    match (&input.raw_body, output) {
        // A raw body that asks for a structured answer its own way (a tool, a native format)
        // must ask the way the run reads; one without either is sent as written.
        (Some(body), Some(output))
            if !matches!(detect_strategy(body), OutputStrategy::JsonInPrompt)
                && detect_strategy(body) != output.strategy =>
        {
            Err(Error::invalid_request(format!(
                "the raw body asks for its answer by {}, but the run reads answers given by {}; \
                 build the run with output_strategy({:?}) (CLI: --output-strategy {})",
                detect_strategy(body),
                output.strategy,
                detect_strategy(body),
                detect_strategy(body)
            )))
        }
        (Some(body), _) => input.validate().map(|()| {
            jsonl::encode_input_line(record_id, body, out);
        }),
        (None, Some(output)) => output.write_line(config.adapter.as_ref(), record_id, input, out),
        (None, None) => config.adapter.write_input_line(record_id, input, None, out),
    }
}

/// Prepares each request and appends its JSONL line to an anonymous private temp file
/// (deleted when closed), keeping only its size and a hash of its id.
pub(crate) struct Spooler<'a> {
    config: &'a JobConfig,
    output: Option<OutputSpec>,
    writer: crate::files::HashingWriter,
    hashes: Vec<u64>,
    sizes: Vec<u64>,
    line: Vec<u8>,
    family: RequestFamily,
    findings: Findings,
    found: Vec<Finding>,
    tokens: TokenEstimator,
    /// The size of the last record's body (its line without the envelope).
    body_bytes: u64,
    /// Whether a record names media in S3.
    s3_media: bool,
    /// For a preflight: each S3 medium a record names, up to [`S3_MEDIA_CHECKED`]; `None`
    /// when not collected.
    pub(crate) s3_refs: Option<Vec<S3Ref>>,
}

/// An S3 medium a record names, for the preflight to read the first bytes of.
#[derive(Debug, Clone)]
pub(crate) struct S3Ref {
    pub(crate) record_id: String,
    pub(crate) uri: String,
    pub(crate) format: crate::media::MediaFormat,
    pub(crate) kind: crate::media::MediaKind,
}

/// The most S3 media a preflight reads the first bytes of.
pub(crate) const S3_MEDIA_CHECKED: usize = 10_000;

impl<'a> Spooler<'a> {
    pub(crate) fn new<O: OutputMode>(config: &'a JobConfig) -> Result<Self, Error> {
        let file = tempfile::tempfile().map_err(spool_io)?;
        Ok(Spooler {
            config,
            output: config.output_spec::<O>()?,
            writer: crate::files::HashingWriter::new(file).map_err(spool_io)?,
            hashes: Vec::new(),
            sizes: Vec::new(),
            line: Vec::new(),
            family: config.adapter.request_family(),
            findings: Findings::new(config.strict),
            found: Vec::new(),
            body_bytes: 0,
            s3_media: false,
            s3_refs: None,
            tokens: TokenEstimator::new(&config.settings.model_name),
        })
    }

    /// The body of the record pushed last, and its size, as written.
    pub(crate) fn last_body(&self) -> Option<(serde_json::Value, u64)> {
        let body = jsonl::model_input_of_line(&self.line)?;
        Some((body, self.body_bytes))
    }

    pub(crate) fn push(&mut self, record_id: String, input: &ModelInput) -> Result<(), Error> {
        names::check_record_id(&record_id)?;
        self.hashes.push(id_hash(&record_id));
        self.line.clear();
        // Local files are read once, here, for the adapter and the checks alike.
        let input = crate::model_input::load_files(input).map_err(|err| match err {
            Error::InvalidInput {
                record_id: None,
                problem,
            } => Error::InvalidInput {
                record_id: Some(record_id.clone()),
                problem,
            },
            other => other,
        })?;
        write_one(
            self.config,
            &record_id,
            &input,
            self.output.as_ref(),
            &mut self.line,
        )?;
        self.check(&record_id, &input);
        self.s3_media |= crate::model_input::has_s3_media(&input);
        if let Some(refs) = &mut self.s3_refs
            && refs.len() < S3_MEDIA_CHECKED
        {
            for part in input.messages.iter().flat_map(|m| &m.parts) {
                if let Some((kind, media)) = part.as_media()
                    && let crate::media::MediaSource::S3 { uri, .. } = &media.source
                    && let Some(format) = media
                        .format
                        .or_else(|| crate::media::MediaFormat::from_name(uri))
                {
                    refs.push(S3Ref {
                        record_id: record_id.clone(),
                        uri: uri.clone(),
                        format,
                        kind,
                    });
                }
            }
        }
        self.writer.write_all(&self.line).map_err(spool_io)?;
        self.sizes.push(self.line.len() as u64);
        Ok(())
    }

    /// Holds the record to its family's request rules, and counts its tokens.
    fn check(&mut self, record_id: &str, input: &ModelInput) {
        let model = &self.config.settings.model_name;
        self.found.clear();
        match &input.raw_body {
            Some(body) => rules::check_body(self.family, model, body, &mut self.found),
            None => rules::check_input(
                self.family,
                model,
                input,
                self.output.is_some(),
                &mut self.found,
            ),
        }
        let envelope = record_id.len() as u64 + 30;
        let body_bytes = (self.line.len() as u64).saturating_sub(envelope);
        self.body_bytes = body_bytes;
        rules::check_size(body_bytes, &mut self.found);
        if !self.found.is_empty() {
            self.findings.add(record_id, self.found.drain(..));
        }
        // Counted without reading the written body again: a raw body's own limit, else the
        // input's `max_tokens`.
        match &input.raw_body {
            Some(body) => self.tokens.add(body, body_bytes),
            None => self
                .tokens
                .add_bounded(input.max_tokens.map(u64::from), body_bytes),
        }
        if input.raw_body.is_none() && crate::model_input::has_media(input) {
            let (tokens, base64) = crate::model_input::tokens_of(model, input);
            self.tokens.add_media(tokens, base64);
        }
    }

    /// The spool, once no two records share an id.
    pub(crate) fn finish(self) -> Result<Spool, Error> {
        let Spooler {
            writer,
            mut hashes,
            sizes,
            mut findings,
            tokens,
            s3_media,
            ..
        } = self;
        findings.sort();
        let (mut file, hash) = writer.finish().map_err(spool_io)?;
        // Duplicate ids, found with 8 bytes per record: equal hashes are checked against the ids
        // themselves, so a hash collision never refuses a valid run.
        hashes.sort_unstable();
        let repeated: HashSet<u64> = hashes
            .windows(2)
            .filter(|pair| pair[0] == pair[1])
            .map(|pair| pair[0])
            .collect();
        drop(hashes);
        if !repeated.is_empty() {
            file.seek(std::io::SeekFrom::Start(0)).map_err(spool_io)?;
            let mut seen = HashSet::new();
            for line in std::io::BufReader::new(&file).split(b'\n') {
                let line = line.map_err(spool_io)?;
                if let Some(id) = jsonl::record_id_of_input_line(&line)
                    && repeated.contains(&id_hash(&id))
                    && !seen.insert(id.clone())
                {
                    return Err(Error::InvalidInput {
                        record_id: Some(id),
                        problem: crate::error::InputProblem::DuplicateId,
                    });
                }
            }
        }
        file.seek(std::io::SeekFrom::Start(0)).map_err(spool_io)?;
        Ok(Spool {
            file,
            hash: super::engine::hex(&hash),
            sizes,
            findings,
            tokens,
            s3_media,
        })
    }
}

/// A 64-bit hash of a record id, to find candidate duplicates.
fn id_hash(id: &str) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hasher.write(id.as_bytes());
    hasher.finish()
}

/// How many jobs a plan may have: any number for a run, one for a single job's steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobCount {
    Any,
    One,
}

/// Plans the jobs of the spooled requests: the run record, in memory, and each job's range of
/// the spool. A single job over the per-job limits is refused here, before any upload.
pub(crate) fn plan(
    config: &JobConfig,
    spool: Spool,
    jobs: JobCount,
) -> Result<(RunRecord, PlannedRun), Error> {
    let limits = config.limits();
    let ranges = plan_shards(&spool.sizes, limits)?;
    if jobs == JobCount::One && ranges.len() > 1 {
        let bytes: u64 = spool.sizes.iter().sum();
        return Err(Error::InvalidConfig {
            field: "max_records_per_job",
            reason: format!(
                "{} records ({bytes} bytes) do not fit one Bedrock job (at most {} records and {} bytes a job); \
                 use `prepare_run` or `auto`, which split them into {} jobs",
                spool.sizes.len(),
                limits.max_records,
                limits.max_bytes,
                ranges.len()
            ),
        });
    }
    let base = config.job_name().to_owned();
    let shard_name = |index: usize| {
        if ranges.len() == 1 {
            base.clone()
        } else {
            format!("{base}-{}", index + 1)
        }
    };
    for index in [0, ranges.len() - 1] {
        names::check_job_name(&shard_name(index))?;
    }
    if ranges.len() > 1 {
        tracing::info!(
            jobs = ranges.len(),
            records = spool.sizes.len(),
            "splitting the run into several jobs"
        );
    }
    let shards = ranges
        .iter()
        .enumerate()
        .map(|(index, range)| {
            let job_name = shard_name(index);
            let (input_uri, input_folder) = input_location(config, &job_name, spool.s3_media);
            ShardEntry {
                input_uri,
                input_folder,
                job_name,
                input_hash: String::new(),
                records: range.len(),
                job_arn: None,
            }
        })
        .collect();
    let record = RunRecord {
        version: RECORD_VERSION,
        settings: config.settings.clone(),
        shards,
        cancelled: false,
        retries: Vec::new(),
        on_demand: Vec::new(),
        estimate: Some(spool.tokens.estimate()),
    };
    Ok((record, PlannedRun { spool, ranges }))
}

/// Where a job's input goes: `input/<job>.jsonl`, or, when its records name S3 media (on
/// Bedrock), `input/<job>/<job>.jsonl` with the folder as the job's input.
pub(crate) fn input_location(
    config: &JobConfig,
    job_name: &str,
    s3_media: bool,
) -> (String, Option<String>) {
    if s3_media && config.settings.provider == crate::model::Provider::Bedrock {
        (
            config.url(&layout::folder_input_key(job_name)),
            Some(config.url(&layout::job_folder(job_name))),
        )
    } else {
        (config.url(&layout::input_key(job_name)), None)
    }
}

/// Reads the next lines of the spool into `chunk` (cleared first, its allocation reused), up
/// to `max_bytes` (at least one line) or `lines` lines, off the async workers. Returns how
/// many lines were read.
pub(crate) async fn read_lines(
    reader: std::io::BufReader<std::fs::File>,
    mut chunk: Vec<u8>,
    lines: usize,
    max_bytes: usize,
) -> Result<(std::io::BufReader<std::fs::File>, Vec<u8>, usize), Error> {
    crate::files::off_runtime("reading the spooled requests", move || {
        let mut reader = reader;
        chunk.clear();
        let mut read = 0;
        while read < lines && (read == 0 || chunk.len() < max_bytes) {
            let before = chunk.len();
            reader.read_until(b'\n', &mut chunk).map_err(spool_io)?;
            if chunk.len() == before {
                break;
            }
            read += 1;
        }
        Ok::<_, Error>((reader, chunk, read))
    })
    .await?
}
