//! Runs a submitted job: Submitted → Validating → Scheduled → InProgress → an end status,
//! reading the input from the bucket's files and writing `<output>/<job id>/<input>.out` and
//! `manifest.json.out` where Bedrock does. Input and output are streamed line by line, so
//! memory does not grow with the number of records. The output is written through the S3
//! side's objects (an ETag computed once); while the job runs, each output file is published
//! with the whole lines written so far (at most every half second, and once it has grown by a
//! quarter), and the manifest comes last.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use s3s::checksum::ChecksumHasher;
use serde_json::{Map, Value, json};

use crate::faults::{JobFault, mix};
use crate::jobs::{Counts, JobStatus};
use crate::objects::{Attributes, Objects, Written};
use crate::state::{Shared, lock};
use crate::synth::{self, Answer};

/// Starts the job's runner on the server's runtime.
pub(crate) fn spawn(shared: &Arc<Shared>, job_id: String) {
    let task = tokio::spawn(run(Arc::clone(shared), job_id));
    lock(&shared.tasks).push(task.abort_handle());
}

/// What the job's status is now, if it still exists.
fn status(shared: &Shared, id: &str) -> Option<JobStatus> {
    shared.with_job(id, |job| job.status)
}

fn set(shared: &Shared, id: &str, status: JobStatus, message: Option<String>) {
    shared.with_job(id, |job| {
        // A stop requested while the runner was busy wins over its next step: the job only
        // leaves `Stopping` for an end status.
        if job.status == JobStatus::Stopping && !status.is_terminal() {
            return;
        }
        job.set_status(status);
        if message.is_some() {
            job.message = message;
        }
    });
}

/// Waits one step; `false` when a stop was requested meanwhile.
async fn step(shared: &Shared, id: &str, wait: Duration) -> bool {
    tokio::time::sleep(wait).await;
    status(shared, id) != Some(JobStatus::Stopping)
}

async fn run(shared: Arc<Shared>, id: String) {
    let speed = shared.settings.speed;
    let Some((name, input_uri, output_uri, model_id, converse, timeout_hours)) =
        shared.with_job(&id, |job| {
            (
                job.name.clone(),
                job.input_uri.clone(),
                job.output_uri.clone(),
                job.model_id.clone(),
                job.invocation_type.as_deref() == Some("Converse"),
                job.timeout_hours,
            )
        })
    else {
        return;
    };
    if !step(&shared, &id, speed.step).await {
        return set(&shared, &id, JobStatus::Stopped, None);
    }
    set(&shared, &id, JobStatus::Validating, None);
    if !step(&shared, &id, speed.step).await {
        return set(&shared, &id, JobStatus::Stopped, None);
    }
    let job_fault = shared.faults.job_fault_for(&name);
    if let Some(JobFault::Fail { message }) = &job_fault {
        return set(&shared, &id, JobStatus::Failed, Some(message.clone()));
    }
    let quotas = shared.settings.quotas;
    let max_records = quotas.max_records_for(&model_id);
    let objects = Arc::clone(&shared.objects);
    let validated_uri = input_uri.clone();
    let validated = tokio::task::spawn_blocking(move || {
        validate(&objects, &validated_uri, quotas, max_records)
    })
    .await;
    let inputs = match validated {
        Ok(Ok(inputs)) => inputs,
        Ok(Err(message)) => return set(&shared, &id, JobStatus::Failed, Some(message)),
        Err(_) => {
            return set(
                &shared,
                &id,
                JobStatus::Failed,
                Some("Internal error while validating the input".into()),
            );
        }
    };
    let total: u64 = inputs.iter().map(|i| i.records).sum();
    shared.with_job(&id, |job| {
        job.counts = Some(Counts {
            total,
            ..Counts::default()
        });
    });
    set(&shared, &id, JobStatus::Scheduled, None);
    let timeout = speed.hour * timeout_hours;
    // A job that would not start before its timeout expires when the timeout passes; the
    // injected fault stands for that wait with one step.
    let expires = match job_fault {
        Some(JobFault::Expire) => Some(speed.step),
        _ => (speed.step >= timeout).then_some(timeout),
    };
    if let Some(wait) = expires {
        if !step(&shared, &id, wait).await {
            return set(&shared, &id, JobStatus::Stopped, None);
        }
        return set(
            &shared,
            &id,
            JobStatus::Expired,
            Some("The job did not start before its timeout.".into()),
        );
    }
    if !step(&shared, &id, speed.step).await {
        return set(&shared, &id, JobStatus::Stopped, None);
    }
    set(&shared, &id, JobStatus::InProgress, None);
    let fraction = match job_fault {
        Some(JobFault::PartiallyComplete { processed_fraction }) => {
            Some((total as f64 * processed_fraction.clamp(0.0, 1.0)).floor() as u64)
        }
        _ => None,
    };
    // The timeout counts from submission, in the server's time (three steps so far, then
    // `per_record` a record): the records that fit before it.
    let in_time = (!speed.per_record.is_zero()).then(|| {
        let left = timeout.saturating_sub(speed.step * 3);
        (left.as_nanos() / speed.per_record.as_nanos()) as u64
    });
    let timed_out = in_time.is_some_and(|n| n < total && fraction.is_none_or(|f| n < f));
    let limit = match (fraction, in_time) {
        (Some(f), Some(n)) => Some(f.min(n)),
        (f, n) => f.or(n.filter(|n| *n < total)),
    };
    let all_fail = job_fault == Some(JobFault::AllRecordsFail);
    let worker_shared = Arc::clone(&shared);
    let worker_id = id.clone();
    let processed = tokio::task::spawn_blocking(move || {
        process(
            &worker_shared,
            &worker_id,
            &inputs,
            &input_uri,
            &output_uri,
            &model_id,
            converse,
            limit,
            all_fail,
        )
    })
    .await;
    match processed {
        Ok(Ok(end)) => {
            let message = match end {
                JobStatus::PartiallyCompleted if timed_out => Some(format!(
                    "The job timed out after {timeout_hours} hours before all records were processed."
                )),
                JobStatus::PartiallyCompleted => {
                    Some("Not all records could be processed before the job ended.".into())
                }
                _ => None,
            };
            set(&shared, &id, end, message);
        }
        Ok(Err(message)) => set(&shared, &id, JobStatus::Failed, Some(message)),
        Err(_) => set(
            &shared,
            &id,
            JobStatus::Failed,
            Some("Internal error while running the job".into()),
        ),
    }
}

/// One input file of a job.
#[derive(Debug, Clone)]
struct InputFile {
    path: PathBuf,
    name: String,
    records: u64,
}

/// The bucket and key of an `s3://bucket/key` location.
fn bucket_and_key(uri: &str) -> (&str, &str) {
    let rest = uri.strip_prefix("s3://").unwrap_or(uri);
    rest.split_once('/').unwrap_or((rest, ""))
}

/// Whether a location has a `.` or `..` segment, a backslash or a NUL: S3 would take it as
/// part of a key's name, llmbo-local refuses such keys (see `s3::checks`).
pub(crate) fn steps_out(uri: &str) -> bool {
    let (bucket, key) = bucket_and_key(uri);
    bucket.is_empty()
        || std::iter::once(bucket)
            .chain(key.split('/'))
            .any(|segment| segment == "." || segment == ".." || segment.contains(['\\', '\0']))
}

/// The prefix of the objects of a folder location (`input/` for `input` and `input/`).
fn folder_prefix(key: &str) -> String {
    if key.is_empty() || key.ends_with('/') {
        key.to_owned()
    } else {
        format!("{key}/")
    }
}

/// Whether an input location names an object, or a prefix with objects under it.
pub(crate) fn input_exists(objects: &Objects, uri: &str) -> bool {
    let (bucket, key) = bucket_and_key(uri);
    (!key.is_empty() && objects.path(bucket, key).is_some())
        || objects
            .keys(bucket, &folder_prefix(key))
            .is_ok_and(|keys| !keys.is_empty())
}

/// The input files of a location, as Bedrock reads them: the object it names, or the `.jsonl`
/// objects directly in the folder it names, each with its file and its name.
fn input_files(objects: &Objects, uri: &str) -> Result<Vec<(PathBuf, String)>, String> {
    let (bucket, key) = bucket_and_key(uri);
    let object = (!key.is_empty() && !key.ends_with('/'))
        .then(|| objects.path(bucket, key))
        .flatten();
    if let Some(path) = object {
        if !key.ends_with(".jsonl") {
            return Err(format!(
                "The input file {uri} must have the .jsonl extension."
            ));
        }
        let name = key.rsplit('/').next().unwrap_or(key).to_owned();
        return Ok(vec![(path, name)]);
    }
    let prefix = folder_prefix(key);
    let keys = objects
        .keys(bucket, &prefix)
        .map_err(|e| format!("The input location {uri} could not be read: {e}"))?;
    if keys.is_empty() {
        return Err(if key.is_empty() || key.ends_with('/') {
            format!("The input location {uri} does not exist.")
        } else {
            format!("The input file {uri} does not exist.")
        });
    }
    let files: Vec<(PathBuf, String)> = keys
        .iter()
        .filter_map(|found| {
            let name = found.get(prefix.len()..)?;
            if name.contains('/') || !name.ends_with(".jsonl") {
                return None;
            }
            Some((objects.path(bucket, found)?, name.to_owned()))
        })
        .collect();
    if files.is_empty() {
        return Err(format!("No .jsonl input files were found at {uri}."));
    }
    Ok(files)
}

/// Finds the job's input files and checks them as Bedrock's Validating step does.
fn validate(
    objects: &Objects,
    uri: &str,
    quotas: crate::config::Quotas,
    max_records: usize,
) -> Result<Vec<InputFile>, String> {
    let files = input_files(objects, uri)?;
    let mut inputs = Vec::with_capacity(files.len());
    let mut seen: HashSet<String> = HashSet::new();
    let mut total = 0u64;
    for (path, name) in files {
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size > quotas.max_input_file_bytes {
            return Err(format!(
                "The input file {name} is {size} bytes, above the quota of {} bytes per input file.",
                quotas.max_input_file_bytes
            ));
        }
        let file = File::open(&path)
            .map_err(|e| format!("The input file {name} could not be read: {e}"))?;
        let mut records = 0u64;
        for (index, line) in BufReader::new(file).lines().enumerate() {
            let line =
                line.map_err(|_| format!("Line {} of {name} is not valid UTF-8.", index + 1))?;
            if line.trim().is_empty() {
                continue;
            }
            let record: Map<String, Value> = serde_json::from_str(&line)
                .map_err(|_| format!("Line {} of {name} is not a valid JSON object.", index + 1))?;
            match record.get("recordId") {
                None => {}
                Some(Value::String(id)) if !seen.insert(id.clone()) => {
                    return Err(format!(
                        "Duplicate recordId {id} on line {} of {name}.",
                        index + 1
                    ));
                }
                Some(Value::String(_)) => {}
                Some(_) => {
                    return Err(format!(
                        "The recordId on line {} of {name} must be a string.",
                        index + 1
                    ));
                }
            }
            if !record.get("modelInput").is_some_and(Value::is_object) {
                return Err(format!(
                    "Line {} of {name} has no modelInput object.",
                    index + 1
                ));
            }
            records += 1;
        }
        total += records;
        inputs.push(InputFile {
            path,
            name,
            records,
        });
    }
    if total < quotas.min_records as u64 {
        return Err(format!(
            "The job has {total} records, below the minimum of {} records per batch inference job.",
            quotas.min_records
        ));
    }
    if total > max_records as u64 {
        return Err(format!(
            "The job has {total} records, above the maximum of {max_records} records per batch inference job."
        ));
    }
    Ok(inputs)
}

/// An 11-character alphanumeric id for a record submitted without one.
fn assigned_id(job_id: &str, file: &str, line: usize) -> String {
    let mut x = mix(line as u64, 13, format!("{job_id}/{file}").as_bytes());
    (0..11)
        .map(|_| {
            let digit = (x % 36) as u32;
            x /= 36;
            char::from_digit(digit, 36).map_or('0', |c| c.to_ascii_uppercase())
        })
        .collect()
}

/// Lines are written in chunks of this many, each chunk reversed: output order is not input
/// order (Bedrock does not promise it), while memory stays bounded.
const SHUFFLE_CHUNK: usize = 16;

#[allow(clippy::too_many_arguments)] // one job's inputs, where its output goes, and how it ends
fn process(
    shared: &Shared,
    id: &str,
    inputs: &[InputFile],
    input_uri: &str,
    output_uri: &str,
    model_id: &str,
    converse: bool,
    limit: Option<u64>,
    all_fail: bool,
) -> Result<JobStatus, String> {
    let io_error = |e: std::io::Error| format!("The output could not be written: {e}");
    let output = Output::new(shared, output_uri, id)?;
    let seed = shared.faults.config.seed;
    let family = shared.family_of(model_id);
    let per_record = shared.settings.speed.per_record;
    let mut counts = shared
        .with_job(id, |job| job.counts.unwrap_or_default())
        .unwrap_or_default();
    let mut end = JobStatus::Completed;
    let mut finished_files: Vec<(Written, String)> = Vec::new();
    // Where the records' S3 media may be: the folder the input names, if it names one.
    let (bucket, key) = bucket_and_key(input_uri);
    let folder =
        (key.is_empty() || key.ends_with('/') || shared.objects.path(bucket, key).is_none())
            .then(|| format!("s3://{bucket}/{}", folder_prefix(key)));
    let allowed = match &folder {
        Some(folder) => crate::media_objects::Allowed::Folder(folder),
        None => crate::media_objects::Allowed::NoFolder(input_uri),
    };
    'files: for input in inputs {
        let key = output.key(&format!("{}.out", input.name));
        let mut writer = shared
            .objects
            .writer(ChecksumHasher::default())
            .map_err(io_error)?;
        let mut published = Instant::now();
        let mut published_size = 0u64;
        let reader = BufReader::new(File::open(&input.path).map_err(io_error)?);
        let mut chunk: Vec<String> = Vec::with_capacity(SHUFFLE_CHUNK);
        for (index, line) in reader.lines().enumerate() {
            let line = line.map_err(io_error)?;
            if line.trim().is_empty() {
                continue;
            }
            if limit.is_some_and(|l| counts.processed >= l) {
                end = JobStatus::PartiallyCompleted;
            } else if status(shared, id) == Some(JobStatus::Stopping) {
                end = JobStatus::Stopped;
            }
            if end != JobStatus::Completed {
                flush_chunk(&mut writer, &mut chunk).map_err(io_error)?;
                finished_files.push((writer.finish().map_err(io_error)?, key));
                break 'files;
            }
            let Ok(mut record) = serde_json::from_str::<Map<String, Value>>(&line) else {
                continue; // validated before; a file changed under the job is skipped
            };
            let record_id = match record.get("recordId").and_then(Value::as_str) {
                Some(rid) => rid.to_owned(),
                None => assigned_id(id, &input.name, index),
            };
            let model_input = record.remove("modelInput").unwrap_or(Value::Null);
            let fault = shared.faults.for_record(&record_id);
            let answer = if all_fail {
                Answer::Error {
                    code: 400,
                    message: "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again.".into(),
                }
            } else {
                match crate::media_objects::resolve(&shared.objects, &model_input, allowed) {
                    Err(message) => Answer::Error { code: 400, message },
                    Ok(resolved) => synth::answer_with(
                        model_id,
                        family,
                        converse,
                        resolved.as_ref().unwrap_or(&model_input),
                        &record_id,
                        seed,
                        fault,
                        shared.settings.mistral_stop_key,
                    ),
                }
            };
            let mut out = Map::new();
            out.insert("recordId".into(), json!(record_id));
            out.insert("modelInput".into(), model_input);
            counts.processed += 1;
            match answer {
                Answer::Output {
                    body,
                    input_tokens,
                    output_tokens,
                } => {
                    out.insert("modelOutput".into(), body);
                    counts.success += 1;
                    counts.input_tokens += input_tokens;
                    counts.output_tokens += output_tokens;
                }
                Answer::Error { code, message } => {
                    out.insert(
                        "error".into(),
                        json!({"errorCode": code, "errorMessage": message}),
                    );
                    counts.error += 1;
                }
            }
            chunk.push(Value::Object(out).to_string());
            if chunk.len() == SHUFFLE_CHUNK {
                flush_chunk(&mut writer, &mut chunk).map_err(io_error)?;
                // While the job runs, what is written so far is readable, in whole lines.
                // Each snapshot copies the file so far: only once it has grown by a quarter
                // (and 64 KiB), so a long job copies a few times its output in all, not once
                // per half second.
                let grown = writer.size() >= published_size + (published_size / 4).max(64 << 10);
                if grown && published.elapsed() >= PUBLISH_EVERY {
                    let so_far = writer.snapshot(&shared.objects).map_err(io_error)?;
                    output.publish(so_far, &key).map_err(io_error)?;
                    published = Instant::now();
                    published_size = writer.size();
                }
            }
            shared.with_job(id, |job| job.counts = Some(counts));
            if !per_record.is_zero() {
                std::thread::sleep(per_record);
            }
        }
        flush_chunk(&mut writer, &mut chunk).map_err(io_error)?;
        finished_files.push((writer.finish().map_err(io_error)?, key));
    }
    for (written, key) in finished_files {
        output.publish(written, &key).map_err(io_error)?;
    }
    let manifest = json!({
        "totalRecordCount": counts.total,
        "processedRecordCount": counts.processed,
        "successRecordCount": counts.success,
        "errorRecordCount": counts.error,
        "inputTokenCount": counts.input_tokens,
        "outputTokenCount": counts.output_tokens,
    });
    let mut writer = shared
        .objects
        .writer(ChecksumHasher::default())
        .map_err(io_error)?;
    writer
        .write_all(manifest.to_string().as_bytes())
        .map_err(io_error)?;
    output
        .publish(
            writer.finish().map_err(io_error)?,
            &output.key("manifest.json.out"),
        )
        .map_err(io_error)?;
    shared.with_job(id, |job| job.counts = Some(counts));
    Ok(end)
}

/// How often a running job's output so far is published.
const PUBLISH_EVERY: Duration = Duration::from_millis(500);

/// Where a job's output goes: `s3://bucket/prefix/{job id}/`, written through the S3 side's
/// objects, so each has its ETag computed once and is replaced whole.
struct Output<'a> {
    shared: &'a Shared,
    bucket: String,
    prefix: String,
}

impl<'a> Output<'a> {
    fn new(shared: &'a Shared, output_uri: &str, id: &str) -> Result<Self, String> {
        let invalid = || format!("The output location {output_uri} is not valid.");
        let rest = output_uri.strip_prefix("s3://").ok_or_else(invalid)?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix: Vec<&str> = key
            .split('/')
            .filter(|s| !s.is_empty())
            .chain(std::iter::once(id))
            .collect();
        if steps_out(output_uri) {
            return Err(invalid());
        }
        Ok(Output {
            shared,
            bucket: bucket.to_owned(),
            prefix: prefix.join("/"),
        })
    }

    fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.prefix)
    }

    /// Makes `written` the object `key`, replacing what was there.
    fn publish(&self, written: Written, key: &str) -> std::io::Result<()> {
        let objects = &self.shared.objects;
        let _write = objects.locks.of(&self.bucket, key).blocking_write();
        let e_tag = hex::encode(written.md5);
        objects.commit(written, &self.bucket, key, &e_tag, &Attributes::new())
    }
}

fn flush_chunk(writer: &mut impl Write, chunk: &mut Vec<String>) -> std::io::Result<()> {
    for line in chunk.drain(..).rev() {
        writer.write_all(line.as_bytes())?;
        writer.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod path_tests {
    use super::steps_out;

    #[test]
    fn locations_with_steps_are_seen() {
        assert!(!steps_out("s3://b/input/x.jsonl"));
        assert!(!steps_out("s3://b/output/"));
        assert!(!steps_out("s3://b/a/.x/..y.jsonl"));
        for bad in [
            "s3://b/../../etc/passwd",
            "s3://b/input/../../x.jsonl",
            "s3://../x/y.jsonl",
            "s3://b/./x.jsonl",
            "s3://b/a\\..\\..\\x.jsonl",
            "s3:///x.jsonl",
        ] {
            assert!(steps_out(bad), "{bad}");
        }
    }
}
