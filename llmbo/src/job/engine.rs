//! The per-job engine, with no typestate of its own: upload one job's requests, create it,
//! download its output, read it. The typestate front (`steps.rs`) and the scheduler call these
//! for every job of every run, a single job being a run of one.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::config::JobConfig;
use super::record::ShardEntry;
use super::spool::read_lines;
use crate::aws::{CreateJob, PART_SIZE};
use crate::error::Error;
use crate::jsonl;
use crate::layout;
use crate::status::{JobDetails, JobFailure, JobStatus, Progress, Stage};

/// Upload progress is reported every this many records, and once at the end.
const UPLOAD_REPORT_EVERY: u64 = 10_000;

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// Streams `records` lines of the spool to the job's input in S3 (multipart, two parts in
/// memory), and to `<output_dir>/<job name>.jsonl` when the run keeps local copies. The spool
/// was hashed before (`entry.input_hash`); the SDK's CRC32 covers the transfer.
pub(crate) async fn upload_job(
    config: &JobConfig,
    entry: &ShardEntry,
    mut reader: std::io::BufReader<std::fs::File>,
) -> Result<std::io::BufReader<std::fs::File>, Error> {
    let (_, key) = layout::split_s3_uri(&entry.input_uri);
    let mut local = match &config.output_dir {
        Some(dir) => {
            let path = dir.join(layout::local_input(&entry.job_name));
            let file = crate::files::create_private(&path)
                .await
                .map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
            Some((path, file))
        }
        None => None,
    };
    let mut upload = config.aws.upload(config.bucket(), key);
    let mut progress = Progress::transfer(Stage::Uploading, &entry.job_name, "");
    progress.total = Some(entry.records as u64);
    let mut left = entry.records;
    // One buffer for every chunk: a fresh 8 MiB one per part, allocated on whichever blocking
    // thread runs, made glibc's per-thread arenas hold on to memory.
    let mut chunk = Vec::new();
    let mut ids = std::io::BufWriter::new(tempfile::tempfile().map_err(|source| Error::Io {
        path: std::env::temp_dir(),
        source,
    })?);
    let mut ids_ok = true;
    while left > 0 {
        let (back, buffer, lines) = read_lines(reader, chunk, left, PART_SIZE).await?;
        reader = back;
        chunk = buffer;
        if lines == 0 {
            return Err(Error::Internal {
                what: "uploading the spooled requests",
                reason: format!("the spool ended {left} records early"),
            });
        }
        left -= lines;
        for line in chunk.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            use std::io::Write;
            match spooled_record_id(line) {
                Some(id) if !id.contains('\n') => {
                    ids_ok &= ids
                        .write_all(id.as_bytes())
                        .and_then(|()| ids.write_all(b"\n"))
                        .is_ok();
                }
                _ => ids_ok = false,
            }
        }
        upload.write(&chunk).await?;
        if let Some((path, file)) = &mut local {
            file.write_all(&chunk).await.map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        }
        let before = progress.processed / UPLOAD_REPORT_EVERY;
        progress.processed += lines as u64;
        progress.bytes += chunk.len() as u64;
        if progress.processed / UPLOAD_REPORT_EVERY != before && left > 0 {
            config.report(&progress);
        }
    }
    let etag = upload.finish().await?;
    config.report(&progress);
    if let Some((path, mut file)) = local {
        file.flush()
            .await
            .map_err(|source| Error::Io { path, source })?;
    }
    tracing::info!(input = %entry.input_uri, records = entry.records, "requests uploaded");
    if ids_ok && let Ok(file) = ids.into_inner() {
        config
            .local_ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                entry.job_name.clone(),
                (entry.input_hash.clone(), etag, file),
            );
    }
    Ok(reader)
}

/// The record id of a line llmbo spooled: read straight off the front when the line starts
/// with it (every built-in adapter writes `{"recordId":"…",` first) and the id has no escape,
/// else by parsing the line.
fn spooled_record_id(line: &[u8]) -> Option<String> {
    const FRONT: &[u8] = br#"{"recordId":""#;
    if let Some(rest) = line.strip_prefix(FRONT)
        && let Some(end) = rest.iter().position(|&b| b == b'"' || b == b'\\')
        && rest.get(end) == Some(&b'"')
        && let Ok(id) = std::str::from_utf8(rest.get(..end).unwrap_or_default())
    {
        return Some(id.to_owned());
    }
    jsonl::record_id_of_input_line(line)
}

/// The SHA-256 of each job's range of the spooled requests, read off the async workers; the
/// spool comes back rewound.
pub(crate) async fn hash_spool(
    file: std::fs::File,
    ranges: Vec<std::ops::Range<usize>>,
) -> Result<(std::fs::File, Vec<String>), Error> {
    let io = |source| Error::Io {
        path: std::env::temp_dir(),
        source,
    };
    crate::files::off_runtime("hashing the spooled requests", move || {
        use std::io::Seek;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        let mut hashes = Vec::with_capacity(ranges.len());
        for range in ranges {
            let mut hasher = Sha256::new();
            for _ in range {
                line.clear();
                reader.read_until(b'\n', &mut line).map_err(io)?;
                hasher.update(&line);
            }
            hashes.push(hex(&hasher.finalize()));
        }
        let mut file = reader.into_inner();
        file.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
        Ok((file, hashes))
    })
    .await?
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
        "created-by".to_owned(),
        format!("llmbo-{}", env!("CARGO_PKG_VERSION")),
    )];
    tags.extend(config.settings.tags.iter().cloned());
    tags
}

/// The idempotency token of creating `entry` with `config`'s settings.
pub(crate) fn client_request_token(config: &JobConfig, entry: &ShardEntry) -> String {
    let output_uri = layout::output_uri(config.bucket());
    let tags = job_tags(config);
    let parts = TokenParts {
        settings: &config.settings,
        job_name: &entry.job_name,
        input_uri: &entry.input_uri,
        output_uri: &output_uri,
        input_hash: &entry.input_hash,
        tags: &tags,
    };
    // Serializing strings, numbers and a tool schema cannot fail; an empty hash would still be
    // stable.
    let bytes = serde_json::to_vec(&parts).unwrap_or_default();
    format!("llmbo-{}", &hex(&Sha256::digest(&bytes))[..40])
}

/// Creates one job (idempotently); returns its ARN.
pub(crate) async fn create_job(config: &JobConfig, entry: &ShardEntry) -> Result<String, Error> {
    let token = client_request_token(config, entry);
    let output_uri = layout::output_uri(config.bucket());
    let tags = job_tags(config);
    let job_arn = config
        .aws
        .create_job(&CreateJob {
            settings: &config.settings,
            job_name: &entry.job_name,
            client_request_token: &token,
            input_uri: &entry.input_uri,
            output_uri: &output_uri,
            tags: &tags,
        })
        .await
        .map_err(|err| match err {
            // Bedrock refuses a name in use by a job created with another request (the token
            // covers every setting and the input, so another run, or other settings).
            Error::Aws { message, .. } if message.contains("job name is currently in use") => {
                Error::InvalidConfig {
                    field: "job_name",
                    reason: format!(
                        "Bedrock has a job named `{}` already, created with other settings or inputs; \
                         choose another job name, or resume the run that created it",
                        entry.job_name
                    ),
                }
            }
            other => other,
        })?;
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
    if let Some(ids) = local_record_ids(config, entry).await {
        return Ok(ids);
    }
    let (bucket, keys) = input_objects(config, entry).await?;
    let mut ids = Vec::with_capacity(entry.records);
    let mut hasher = Sha256::new();
    for key in &keys {
        let mut lines = config.aws.lines(&bucket, key).await?;
        while let Some(line) = lines.next_line().await? {
            hasher.update(&line);
            ids.extend(jsonl::record_id_of_input_line(&line));
        }
    }
    let hash = hex(&hasher.finalize());
    let count_differs = entry.records > 0 && ids.len() != entry.records;
    let hash_differs = !entry.input_hash.is_empty() && hash != entry.input_hash;
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
    Ok(ids)
}

/// The bucket and the `.jsonl` objects of a job's input (one object, or every one under a
/// folder).
async fn input_objects(
    config: &JobConfig,
    entry: &ShardEntry,
) -> Result<(String, Vec<String>), Error> {
    let (bucket, key) = layout::split_s3_uri(&entry.input_uri);
    let bucket = if bucket.is_empty() {
        config.bucket()
    } else {
        bucket
    };
    let keys = if key.is_empty() || key.ends_with('/') {
        config
            .aws
            .list_keys(bucket, key)
            .await?
            .into_iter()
            .filter(|k| k.ends_with(".jsonl"))
            .collect()
    } else {
        vec![key.to_owned()]
    };
    Ok((bucket.to_owned(), keys))
}

/// The `modelInput` of a job's first input record, if it has one that reads as JSON: what a
/// job recovered from its ARN alone learns its output strategy from.
pub(crate) async fn first_model_input(
    config: &JobConfig,
    entry: &ShardEntry,
) -> Result<Option<serde_json::Value>, Error> {
    let (bucket, keys) = input_objects(config, entry).await?;
    let Some(key) = keys.first() else {
        return Ok(None);
    };
    let mut lines = config.aws.lines(&bucket, key).await?;
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
    let (bucket, key) = layout::split_s3_uri(&entry.input_uri);
    match config.aws.etag(bucket, key).await {
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
    pub(crate) outputs: Vec<PathBuf>,
    pub(crate) manifest: Option<PathBuf>,
}

/// Fetches `<output>/<job id>/*.out` and `manifest.json.out` into `dir`
/// (`<job name>_out.jsonl`, `<job name>_manifest.json`, mode 0600). Works for every end
/// status; what does not exist (an expired job's output) is simply absent.
pub(crate) async fn download_job(
    config: &JobConfig,
    entry: &ShardEntry,
    details: &JobDetails,
    dir: &Path,
) -> Result<JobOutput, Error> {
    let aws = &config.aws;
    let record_ids = Arc::new(record_ids(config, entry).await?);
    let (bucket, folder) = layout::job_output_folder(&details.output_uri, &details.job_arn);
    let bucket = if bucket.is_empty() {
        config.bucket()
    } else {
        bucket
    };
    let keys = aws.list_keys(bucket, &folder).await?;
    let manifest_key = keys
        .iter()
        .find(|k| k.ends_with("manifest.json.out"))
        .cloned();
    let mut output_keys: Vec<String> = keys
        .into_iter()
        .filter(|k| k.ends_with(".out") && !k.ends_with("manifest.json.out"))
        .collect();
    output_keys.sort();
    let mut progress = Progress::transfer(Stage::Downloading, &entry.job_name, &details.job_arn);
    progress.status = Some(details.status.clone());
    progress.total = details.total_record_count;
    let mut outputs = Vec::with_capacity(output_keys.len());
    for (index, key) in output_keys.iter().enumerate() {
        let path = dir.join(layout::local_output(&entry.job_name, index));
        let (bytes, lines) = aws.download_to(bucket, key, &path).await?;
        progress.bytes += bytes;
        progress.processed += lines;
        config.report(&progress);
        outputs.push(path);
    }
    let manifest = match &manifest_key {
        Some(key) => {
            let path = dir.join(layout::local_manifest(&entry.job_name));
            aws.download_to(bucket, key, &path).await?;
            Some(path)
        }
        None => None,
    };
    tracing::info!(job_arn = %details.job_arn, files = outputs.len(), "results downloaded");
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
) -> Result<ShardOutput, Error> {
    let failure = match details {
        None => JobFailure::never_created(&entry.job_name),
        Some(details) => match JobFailure::of(details) {
            Some(failure) => failure,
            None => {
                return Ok(ShardOutput::Downloaded(Box::new(
                    download_job(config, entry, details, dir).await?,
                )));
            }
        },
    };
    // A job never created has no input only if the run was cancelled before its upload.
    let record_ids = match record_ids(config, entry).await {
        Ok(ids) => ids,
        Err(_) if details.is_none() => Vec::new(),
        Err(err) => return Err(err),
    };
    Ok(ShardOutput::Failed {
        record_ids,
        failure,
    })
}

#[cfg(test)]
mod tests {
    use super::spooled_record_id;

    #[test]
    fn spooled_ids_are_read_off_the_front_or_parsed() {
        let line = br#"{"recordId":"r-001","modelInput":{"x":"\"recordId\":\"no\""}}"#;
        assert_eq!(spooled_record_id(line).as_deref(), Some("r-001"));
        // An escape in the id, or the id elsewhere: parsed, so the same id comes out.
        let escaped = br#"{"recordId":"a\"b","modelInput":{}}"#;
        assert_eq!(spooled_record_id(escaped).as_deref(), Some("a\"b"));
        let later = br#"{"modelInput":{},"recordId":"late"}"#;
        assert_eq!(spooled_record_id(later).as_deref(), Some("late"));
        assert_eq!(spooled_record_id(br#"{"modelInput":{}}"#), None);
        assert_eq!(spooled_record_id(b"not json"), None);
    }
}
