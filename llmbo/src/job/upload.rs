//! Uploading one job's requests: its lines streamed from the spool to S3 in parts (and to
//! `output_dir`), its record ids kept aside; and the hash of each job's range of the spool.

use std::io::BufRead;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::config::JobConfig;
use super::engine::hex;
use super::record::ShardEntry;
use super::spool::read_lines;
use crate::backend::INPUT_CHUNK;
use crate::error::Error;
use crate::jsonl;
use crate::layout;
use crate::progress::Progress;
use crate::status::Stage;

/// Upload progress is reported every this many records, and once at the end.
const UPLOAD_REPORT_EVERY: u64 = 10_000;

/// Streams `records` lines of the spool to the job's input in S3 (multipart, two parts in
/// memory), and to `<output_dir>/<job name>.jsonl` when the run keeps local copies. The spool
/// was hashed before (`entry.input_hash`); the SDK's CRC32 covers the transfer. With
/// `write_requests`, a batch API's requests are written beside it, for `create` to send.
pub(crate) async fn upload_job(
    config: &JobConfig,
    entry: &ShardEntry,
    reader: std::io::BufReader<std::fs::File>,
    write_requests: bool,
) -> Result<std::io::BufReader<std::fs::File>, Error> {
    // A location without a bucket is in the run's bucket.
    let input = config.store.locate(&entry.input_uri);
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
    let mut upload = config.backend.put_input(&input);
    let mut relocation = super::media::Relocation::of(config, entry);
    let mut progress = Progress::transfer(Stage::Uploading, &entry.job_name, "");
    progress.total = Some(entry.records as u64);
    let mut left = entry.records;
    // Two buffers for every chunk, the one going up and the one read ahead: a fresh 8 MiB
    // one per part, allocated on whichever blocking thread runs, made glibc's per-thread
    // arenas hold on to memory.
    let mut chunk;
    let mut reader_slot = Some(reader);
    let mut ids = std::io::BufWriter::new(tempfile::tempfile().map_err(|source| Error::Io {
        path: std::env::temp_dir(),
        source,
    })?);
    let mut ids_ok = true;
    // The job's requests in its API's form, written as its input goes up (a job whose media
    // move is read back from the store at create).
    let mut requests = match relocation {
        None if write_requests => {
            std::sync::Arc::clone(&config.backend).request_lines(&config.settings)
        }
        _ => None,
    };
    // The next piece of the spool is read while this one goes up.
    let mut ahead = (left > 0).then(|| read_ahead(reader_slot.take(), Vec::new(), left));
    let mut spare = Vec::new();
    while let Some(reading) = ahead.take() {
        let (back, buffer, lines) = reading.await.map_err(|err| Error::Internal {
            what: "reading the spooled requests",
            reason: err.to_string(),
        })??;
        chunk = buffer;
        if lines == 0 {
            return Err(Error::Internal {
                what: "uploading the spooled requests",
                reason: format!("the spool ended {left} records early"),
            });
        }
        left -= lines;
        if left > 0 {
            ahead = Some(read_ahead(Some(back), std::mem::take(&mut spare), left));
        } else {
            reader_slot = Some(back);
        }
        if let Some(relocation) = &mut relocation {
            relocation.chunk(&mut chunk).await?;
        }
        // The requests are written on a thread of their own while the lines go up.
        let shared = std::sync::Arc::new(std::mem::take(&mut chunk));
        let writing = requests.take().map(|mut writer| {
            let lines = std::sync::Arc::clone(&shared);
            tokio::task::spawn_blocking(move || {
                let written = each_line(&lines, |line| writer.line(line));
                (writer, written)
            })
        });
        let ids_written = each_line(&shared, |line| {
            use std::io::Write;
            match spooled_record_id(line) {
                Some(id) if !id.contains('\n') => ids
                    .write_all(id.as_bytes())
                    .and_then(|()| ids.write_all(b"\n"))
                    .map_err(|e| e.to_string()),
                _ => Err("a line without its id up front".into()),
            }
        });
        ids_ok &= ids_written.is_ok();
        let sent = upload.write(&shared).await;
        if let Some(writing) = writing {
            match writing.await {
                Ok((writer, Ok(()))) => requests = Some(writer),
                // Read back at create, which says what is wrong with the line.
                Ok((_, Err(reason))) => {
                    tracing::debug!(job_name = %entry.job_name, %reason, "requests not written ahead");
                }
                Err(err) => {
                    tracing::debug!(job_name = %entry.job_name, error = %err, "requests not written ahead");
                }
            }
        }
        sent?;
        chunk = std::sync::Arc::try_unwrap(shared).unwrap_or_else(|shared| shared.to_vec());
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
        spare = std::mem::take(&mut chunk);
    }
    let etag = upload.finish().await?;
    config.report(&progress);
    if let Some((path, mut file)) = local {
        file.flush()
            .await
            .map_err(|source| Error::Io { path, source })?;
    }
    tracing::info!(input = %entry.input_uri, records = entry.records, "requests uploaded");
    if let Some(writer) = requests {
        match writer.finish() {
            Ok(written) => {
                config
                    .local_requests
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(
                        entry.job_name.clone(),
                        (
                            entry.input_hash.clone(),
                            etag.clone(),
                            std::sync::Arc::new(written),
                        ),
                    );
            }
            Err(err) => {
                tracing::debug!(job_name = %entry.job_name, error = %err, "requests not written ahead")
            }
        }
    }
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
    reader_slot.ok_or_else(|| Error::Internal {
        what: "uploading the spooled requests",
        reason: "the spool was not handed back".into(),
    })
}

/// The spool, a chunk of its lines, and how many lines that is.
type Read = (std::io::BufReader<std::fs::File>, Vec<u8>, usize);

/// The next chunk of at most `left` lines of the spool, read on a task of its own.
fn read_ahead(
    reader: Option<std::io::BufReader<std::fs::File>>,
    chunk: Vec<u8>,
    left: usize,
) -> tokio::task::JoinHandle<Result<Read, Error>> {
    tokio::spawn(async move {
        let reader = reader.ok_or_else(|| Error::Internal {
            what: "reading the spooled requests",
            reason: "no spool to read".into(),
        })?;
        read_lines(reader, chunk, left, INPUT_CHUNK).await
    })
}

/// Calls `each` on every line of `chunk` (without its newline; blank ones left out), up to
/// the first error.
fn each_line(
    chunk: &[u8],
    mut each: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', chunk).chain(std::iter::once(chunk.len())) {
        let line = chunk.get(start..end).unwrap_or_default();
        start = end + 1;
        if !line.is_empty() {
            each(line)?;
        }
    }
    Ok(())
}

/// Reads past one job's lines of the spool without uploading them (its input is in S3
/// already).
pub(crate) async fn skip_job(
    entry: &ShardEntry,
    mut reader: std::io::BufReader<std::fs::File>,
) -> Result<std::io::BufReader<std::fs::File>, Error> {
    let mut left = entry.records;
    let mut chunk = Vec::new();
    while left > 0 {
        let (back, buffer, lines) = read_lines(reader, chunk, left, INPUT_CHUNK).await?;
        reader = back;
        chunk = buffer;
        if lines == 0 {
            return Err(Error::Internal {
                what: "reading the spooled requests",
                reason: format!("the spool ended {left} records early"),
            });
        }
        left -= lines;
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
    folders: Vec<Option<String>>,
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
        for (index, range) in ranges.into_iter().enumerate() {
            let mut hasher = Sha256::new();
            // A job with a folder of its own holds its lines as the upload rewrites them.
            let folder = folders.get(index).and_then(Option::as_deref);
            for _ in range {
                line.clear();
                reader.read_until(b'\n', &mut line).map_err(io)?;
                match folder
                    .map(|f| super::media::relocated_line(&line, f))
                    .transpose()?
                    .flatten()
                {
                    Some(moved) => hasher.update(&moved.line),
                    None => hasher.update(&line),
                }
            }
            hashes.push(hex(&hasher.finalize()));
        }
        let mut file = reader.into_inner();
        file.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
        Ok((file, hashes))
    })
    .await?
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
