//! The per-job engine, with no typestate of its own: create one job (its upload is
//! `upload.rs`), download its output, read it (`read.rs`). The typestate front (`steps.rs`)
//! and the scheduler call these for every job of every run, a single job being a run of one.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::config::JobConfig;
use super::record::ShardEntry;
pub(crate) use super::stretch::OutputData;
use crate::backend::JobRequest;
use crate::error::Error;
use crate::jsonl;
use crate::layout;
use crate::progress::Progress;
use crate::status::{JobDetails, JobFailure, JobStatus, Stage};

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// Everything a create request says, hashed into its idempotency token: the same request
/// gives the same token, so a repeated or resumed create never starts a second job, and a
/// request that differs in any setting (model, role, timeout, KMS key, bucket owner, VPC, tags,
/// invocation type, and any setting added later to [`RunSettings`](crate::RunSettings)) or in
/// its input never gets another request's job.
#[derive(Serialize)]
struct TokenParts<'a> {
    settings: &'a crate::settings::RunSettings,
    job_name: &'a str,
    input_uri: &'a str,
    output_uri: &'a str,
    input_hash: &'a str,
    tags: &'a [(String, String)],
}

/// The tags of every job: llmbo's `created-by`, then the user's.
fn job_tags(config: &JobConfig) -> Vec<(String, String)> {
    let mut tags = vec![(
        crate::settings::CREATED_BY_TAG.to_owned(),
        format!("llmbo-{}", env!("CARGO_PKG_VERSION")),
    )];
    tags.extend(config.settings.tags.iter().cloned());
    tags
}

/// The idempotency token of creating `entry` with `config`'s settings.
pub(crate) fn client_request_token(config: &JobConfig, entry: &ShardEntry) -> String {
    let output_uri = config.output_uri();
    // The user's tags, not llmbo's `created-by`: it names llmbo's version, and a run resumed
    // by a newer llmbo must send the same request.
    let tags = &config.settings.tags;
    // Where the API is reached is not what is asked of it: a run resumed through a proxy is
    // the same request.
    let settings = crate::settings::RunSettings {
        base_url: None,
        ..config.settings.clone()
    };
    let parts = TokenParts {
        settings: &settings,
        job_name: &entry.job_name,
        input_uri: &entry.input_uri,
        output_uri: &output_uri,
        input_hash: &entry.input_hash,
        tags,
    };
    // Serializing strings, numbers and a tool schema cannot fail; an empty hash would still be
    // stable.
    let bytes = serde_json::to_vec(&parts).unwrap_or_default();
    format!("llmbo-{}", &hex(&Sha256::digest(&bytes))[..40])
}

/// Creates one job (idempotently, see [`Backend::create`](crate::backend::Backend::create));
/// returns its ARN.
pub(crate) async fn create_job(config: &JobConfig, entry: &ShardEntry) -> Result<String, Error> {
    let token = client_request_token(config, entry);
    let output_uri = config.output_uri();
    let tags = job_tags(config);
    let requests = local_requests(config, entry).await;
    let job_arn = config
        .backend
        .create(JobRequest {
            settings: &config.settings,
            job_name: &entry.job_name,
            token: &token,
            input: entry.input_folder.as_deref().unwrap_or(&entry.input_uri),
            output: &output_uri,
            tags: &tags,
            requests: requests.as_deref(),
        })
        .await?;
    if requests.is_some() {
        config
            .local_requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&entry.job_name);
    }
    tracing::info!(job_arn = %job_arn, job_name = %entry.job_name, "job created");
    Ok(job_arn)
}

/// The record ids of one job, streamed from its input in S3 (every `.jsonl` under it when the
/// input is a folder), and checked against what the run record says of that input: the same
/// number of records and, once known, the same SHA-256. A reused name that put other prompts
/// there is a clear error naming the object, never a silent join of answers to other prompts.
pub(crate) async fn record_ids(
    config: &JobConfig,
    entry: &ShardEntry,
) -> Result<Vec<String>, Error> {
    Ok(input_ids(config, entry).await?.0)
}

/// The record ids of a job's input, as [`record_ids`], and the lines without a `recordId`
/// (optional on Bedrock, which adds one in the output): their positions, standing under a
/// placeholder id until [`name_idless`] finds the id Bedrock gave each, and the digest of
/// their `modelInput` it finds them by.
async fn input_ids(
    config: &JobConfig,
    entry: &ShardEntry,
) -> Result<(Vec<String>, Vec<(usize, [u8; 32])>), Error> {
    if let Some(ids) = local_record_ids(config, entry).await {
        return Ok((ids, Vec::new()));
    }
    let files = input_files(config, entry).await?;
    let mut ids = Vec::with_capacity(entry.records);
    let mut idless = Vec::new();
    let mut hasher = Sha256::new();
    // A follow-up's hash is of its lines with the media copies' folder set aside (it is
    // recorded before its folder is named): both are checked where the job has a folder.
    let mut folder_free = entry.input_folder.as_ref().map(|f| (f, Sha256::new()));
    for file in &files {
        let mut lines = config.backend.lines(file).await?;
        while let Some(line) = lines.next_line().await? {
            hasher.update(&line);
            if let Some((folder, hasher)) = &mut folder_free {
                hasher.update(super::media::folder_free(&line, folder));
            }
            match jsonl::record_id_of_input_line(&line) {
                Some(id) => ids.push(id),
                None => {
                    let Some(digest) = model_input_digest(&line) else {
                        continue; // a blank or unreadable line, which Bedrock refuses
                    };
                    idless.push((ids.len(), digest));
                    ids.push(format!("(no recordId) line {}", ids.len() + 1));
                }
            }
        }
    }
    let hash = hex(&hasher.finalize());
    let folder_free = folder_free.map(|(_, hasher)| hex(&hasher.finalize()));
    let count_differs = entry.records > 0 && ids.len() != entry.records;
    let hash_differs = !entry.input_hash.is_empty()
        && hash != entry.input_hash
        && folder_free.as_ref() != Some(&entry.input_hash);
    if count_differs || hash_differs {
        return Err(Error::Corrupt {
            object: entry.input_uri.clone(),
            reason: format!(
                "it holds {} records (sha256 {}) but the run record says {} (sha256 {}): \
                 another run may have reused the job name `{}`",
                ids.len(),
                &hash[..12],
                entry.records,
                entry.input_hash.get(..12).unwrap_or("unknown"),
                entry.job_name
            ),
        });
    }
    Ok((ids, idless))
}

/// The SHA-256 of a line's `modelInput` with every object's keys sorted, so the same request
/// echoed back by Bedrock in another key order has the same digest.
pub(crate) fn model_input_digest(line: &[u8]) -> Option<[u8; 32]> {
    fn write(value: &serde_json::Value, out: &mut Sha256) {
        match value {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.update(b"{");
                for key in keys {
                    out.update(
                        serde_json::Value::String(key.clone())
                            .to_string()
                            .as_bytes(),
                    );
                    out.update(b":");
                    if let Some(member) = map.get(key) {
                        write(member, out);
                    }
                    out.update(b",");
                }
                out.update(b"}");
            }
            serde_json::Value::Array(items) => {
                out.update(b"[");
                for item in items {
                    write(item, out);
                    out.update(b",");
                }
                out.update(b"]");
            }
            other => out.update(other.to_string().as_bytes()),
        }
    }
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    let mut hasher = Sha256::new();
    write(value.get("modelInput")?, &mut hasher);
    Some(hasher.finalize().into())
}

/// Names the records whose input line had no `recordId` by the ids Bedrock gave them: each
/// output line whose id is not in the input is matched, by its echoed `modelInput`, to an
/// unnamed input line (the first not yet matched, for requests given twice). One pass over
/// the downloaded output, only when there are such lines; an unmatched one keeps its
/// placeholder and is `Missing`.
fn name_idless(
    ids: &mut [String],
    idless: &[(usize, [u8; 32])],
    outputs: &[OutputData],
) -> Result<(), Error> {
    use std::collections::{HashMap, HashSet, VecDeque};
    let mut waiting: HashMap<[u8; 32], VecDeque<usize>> = HashMap::new();
    for (position, digest) in idless {
        waiting.entry(*digest).or_default().push_back(*position);
    }
    let known: HashSet<String> = ids.iter().cloned().collect();
    for data in outputs {
        super::stretch::each_line(
            data,
            super::stretch::Stretch {
                file: 0,
                start: 0,
                end: u64::MAX,
            },
            |_, line| {
                let line = line.trim_ascii_end();
                let Some(id) = jsonl::record_id_of_input_line(line) else {
                    return Ok(());
                };
                if known.contains(&id) {
                    return Ok(());
                }
                let Some(digest) = model_input_digest(line) else {
                    return Ok(());
                };
                if let Some(position) = waiting.get_mut(&digest).and_then(VecDeque::pop_front)
                    && let Some(slot) = ids.get_mut(position)
                {
                    *slot = id;
                }
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// The files of a job's input: one object, or every `.jsonl` of a folder (a location without
/// a bucket is in the run's bucket).
pub(crate) async fn input_files(
    config: &JobConfig,
    entry: &ShardEntry,
) -> Result<Vec<String>, Error> {
    let input = config.store.locate(&entry.input_uri);
    config.backend.input_files(&input).await
}

/// The `modelInput` of a job's first input record, if it has one that reads as JSON: what a
/// job recovered from its ARN alone learns its output strategy from.
pub(crate) async fn first_model_input(
    config: &JobConfig,
    entry: &ShardEntry,
) -> Result<Option<serde_json::Value>, Error> {
    let files = input_files(config, entry).await?;
    let Some(file) = files.first() else {
        return Ok(None);
    };
    let mut lines = config.backend.lines(file).await?;
    while let Some(line) = lines.next_line().await? {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let body = serde_json::from_slice::<serde_json::Value>(&line)
            .ok()
            .and_then(|mut line| line.get_mut("modelInput").map(serde_json::Value::take));
        return Ok(body);
    }
    Ok(None)
}

/// The requests of a job this process uploaded itself, written in its API's form as they went
/// up, while its input is still the one this process wrote (one HEAD); `None` otherwise, and
/// the backend reads them from the input.
async fn local_requests(
    config: &JobConfig,
    entry: &ShardEntry,
) -> Option<Arc<crate::backend::Requests>> {
    let (etag, requests) = {
        let held = config
            .local_requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (hash, etag, requests) = held.get(&entry.job_name)?;
        if *hash != entry.input_hash || entry.input_folder.is_some() {
            return None;
        }
        (etag.clone(), Arc::clone(requests))
    };
    match config.backend.version(&entry.input_uri).await {
        Ok(Some(now)) if !etag.is_empty() && now == etag => Some(requests),
        _ => None,
    }
}

/// The record ids of a job this process uploaded itself (the same bytes, so no check is
/// needed), read from its private temp file off the async workers; `None` otherwise.
async fn local_record_ids(config: &JobConfig, entry: &ShardEntry) -> Option<Vec<String>> {
    let file = {
        let ids = config
            .local_ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (hash, etag, file) = ids.get(&entry.job_name)?;
        if *hash != entry.input_hash {
            return None;
        }
        (etag.clone(), file.try_clone().ok()?)
    };
    let (etag, file) = file;
    // The input must still be the object this process wrote (another run may have reused the
    // name): one HEAD instead of a second download; anything else reads and checks S3.
    match config.backend.version(&entry.input_uri).await {
        Ok(Some(now)) if !etag.is_empty() && now == etag => {}
        _ => return None,
    }
    let expected = entry.records;
    crate::files::off_runtime("reading record ids", move || {
        use std::io::{BufRead, Seek};
        let mut file = file;
        file.seek(std::io::SeekFrom::Start(0)).ok()?;
        let mut ids = Vec::with_capacity(expected);
        for line in std::io::BufReader::new(file).lines() {
            ids.push(line.ok()?);
        }
        (ids.len() == expected).then_some(ids)
    })
    .await
    .ok()
    .flatten()
}

/// One ended job's output on local disk.
#[derive(Debug, Clone)]
pub(crate) struct JobOutput {
    pub(crate) job_arn: String,
    pub(crate) details: JobDetails,
    pub(crate) record_ids: Arc<Vec<String>>,
    pub(crate) outputs: Vec<OutputData>,
    pub(crate) manifest: Option<OutputData>,
}

/// How much of a job's output is read into memory, straight from the responses, before the
/// rest goes to local files: what one job's lines may take in memory (the run's own files,
/// in the private temp folder; a run with `output_dir` always keeps files there).
pub(crate) const IN_MEMORY_BYTES: u64 = 64 << 20;

/// Fetches `<output>/<job id>/*.out` and `manifest.json.out`: into memory while they fit
/// `in_memory` bytes (taken from it), else into `dir` (`<job name>_out.jsonl`,
/// `<job name>_manifest.json`, mode 0600). Works for every end status; what does not exist
/// (an expired job's output) is simply absent.
pub(crate) async fn download_job(
    config: &JobConfig,
    entry: &ShardEntry,
    details: &JobDetails,
    dir: &Path,
    in_memory: &mut u64,
) -> Result<JobOutput, Error> {
    let (mut record_ids, idless) = input_ids(config, entry).await?;
    // A job described without its output location writes to the run's bucket.
    let mut located = details.clone();
    if located.output_uri.is_empty() {
        located.output_uri = config.output_uri();
    }
    let files = config.backend.output_files(&located).await?;
    let mut progress = Progress::transfer(Stage::Downloading, &entry.job_name, &details.job_arn);
    progress.status = Some(details.status.clone());
    progress.total = details.total_record_count;
    // The manifest (small) is fetched beside the answers, not after them.
    let manifest_in_memory = *in_memory > 0;
    let manifest = async {
        match &files.manifest {
            Some(file) => match config.backend.fetch(file, 1 << 20).await? {
                Some(bytes) if manifest_in_memory => Ok(Some(OutputData::Memory(Arc::new(bytes)))),
                _ => {
                    let path = dir.join(layout::local_manifest(&entry.job_name));
                    config.backend.download(file, &path).await?;
                    Ok::<_, Error>(Some(OutputData::File(path)))
                }
            },
            None => Ok(None),
        }
    };
    let answers = async {
        let mut outputs = Vec::with_capacity(files.outputs.len());
        for (index, file) in files.outputs.iter().enumerate() {
            if *in_memory > 0
                && let Some((bytes, map)) = config.backend.fetch_served(file, *in_memory).await?
            {
                *in_memory = in_memory.saturating_sub(bytes.len() as u64);
                progress.bytes += bytes.len() as u64;
                progress.processed += memchr::memchr_iter(b'\n', &bytes).count() as u64;
                config.report(&progress);
                outputs.push(match map {
                    Some(map) => OutputData::Served(Arc::new(bytes), map),
                    None => OutputData::Memory(Arc::new(bytes)),
                });
                continue;
            }
            let path = dir.join(layout::local_output(&entry.job_name, index));
            let (bytes, lines) = config.backend.download(file, &path).await?;
            progress.bytes += bytes;
            progress.processed += lines;
            config.report(&progress);
            outputs.push(OutputData::File(path));
        }
        Ok::<_, Error>(outputs)
    };
    let (outputs, manifest) = tokio::join!(answers, manifest);
    let (outputs, manifest) = (outputs?, manifest?);
    tracing::info!(job_arn = %details.job_arn, files = outputs.len(), "results downloaded");
    if !idless.is_empty() {
        let files = outputs.clone();
        record_ids = crate::files::off_runtime("naming records without a recordId", move || {
            name_idless(&mut record_ids, &idless, &files).map(|()| record_ids)
        })
        .await??;
    }
    let record_ids = Arc::new(record_ids);
    Ok(JobOutput {
        job_arn: details.job_arn.clone(),
        details: details.clone(),
        record_ids,
        outputs,
        manifest,
    })
}

/// A job of a run once downloaded: its output on disk, or why it has none.
#[derive(Debug, Clone)]
pub(crate) enum ShardOutput {
    Downloaded(Box<JobOutput>),
    Failed {
        record_ids: Vec<String>,
        failure: JobFailure,
    },
}

/// A `Downloaded` run: each job's output on local disk, or why it has none.
#[doc(hidden)]
#[derive(Debug)]
pub struct DownloadedRun {
    pub(crate) shards: Vec<ShardOutput>,
    pub(crate) status: JobStatus,
    /// Where the outputs are when the builder set no `output_dir`; deleted with the run.
    pub(crate) _dir: Option<Arc<tempfile::TempDir>>,
}

/// Downloads one ended job of a run, or reads back the ids of a job that has no output (it
/// failed, or the run was cancelled before it was created).
pub(crate) async fn download_shard(
    config: &JobConfig,
    entry: &ShardEntry,
    details: Option<&JobDetails>,
    dir: &Path,
    in_memory: &mut u64,
) -> Result<ShardOutput, Error> {
    let failure = match details {
        None => JobFailure::never_created(&entry.job_name),
        Some(details) => match JobFailure::of(details) {
            Some(failure) => failure,
            None => {
                return Ok(ShardOutput::Downloaded(Box::new(
                    download_job(config, entry, details, dir, in_memory).await?,
                )));
            }
        },
    };
    // Every job's input is in S3 before the run can be resumed or cancelled, so one that
    // cannot be read (throttling past the retries, a deleted object, access) is the error:
    // no record drops out of the results unseen.
    let record_ids = record_ids(config, entry).await.map_err(|err| {
        if err.aws_kind() == Some(crate::error::AwsErrorKind::NotFound) {
            Error::Corrupt {
                object: entry.input_uri.clone(),
                reason: format!(
                    "the input of job {} (never created) is gone, so its {} records cannot be named; restore it, or run them again under another job name",
                    entry.job_name, entry.records
                ),
            }
        } else {
            err
        }
    })?;
    Ok(ShardOutput::Failed {
        record_ids,
        failure,
    })
}

#[cfg(test)]
mod tests {
    use super::model_input_digest;

    /// The same request in another key order has the same digest; another request has not.
    #[test]
    fn a_request_is_known_in_any_key_order() {
        let a = br#"{"modelInput":{"b":[1,{"y":2,"x":"s"}],"a":null}}"#;
        let b = br#"{"recordId":"R1","modelInput":{"a":null,"b":[1,{"x":"s","y":2}]},"modelOutput":{}}"#;
        let c = br#"{"modelInput":{"a":null,"b":[{"x":"s","y":2},1]}}"#;
        assert_eq!(model_input_digest(a), model_input_digest(b));
        assert_ne!(model_input_digest(a), model_input_digest(c));
        assert_eq!(model_input_digest(b"{\"recordId\":\"x\"}"), None);
        assert_eq!(model_input_digest(b"not json"), None);
    }
}
