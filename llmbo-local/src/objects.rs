//! The bytes of objects: written once as they stream in, hashed on the way, and read back in
//! large chunks.
//!
//! s3s-fs serves the operations llmbo-local passes through (listing, buckets, deletes,
//! copies). Its data path reads and writes 4–8 KiB at a time through tokio's file type (one
//! thread hop each) and hashes a completed upload's parts a second time, which held
//! llmbo-local's S3 to about 40–90 MB/s. This module keeps s3s-fs's layout on disk (object
//! files under `root/bucket/key`, the ETag and checksums in a side file, the attributes in
//! another), so both read what the other wrote, and moves the bytes itself:
//!
//! - a body is written by one blocking thread with a 1 MiB buffer, which computes the MD5 (the
//!   ETag) and any checksum the client asked for as the bytes pass; the request's SHA-256 is
//!   checked by s3s on the async side at the same time, so every byte is hashed once per hash;
//! - a part's MD5 is kept beside it, so completing an upload copies the parts (the kernel's
//!   `copy_file_range`) without hashing them again, and checks the ETags the client names;
//! - the job runner writes its output through [`ObjectWriter`] too, so a GET or HEAD of an
//!   output never re-hashes it;
//! - reads go out in 1 MiB chunks from a blocking thread.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::{Checksum, StreamingBlob};
use s3s::{S3Result, s3_error};
use serde_json::{Map, Value};

/// How much a writer buffers and a reader sends at a time.
const CHUNK: usize = 1 << 20;

/// How much of a request body is passed to the writer thread at a time.
const GATHER: usize = 256 * 1024;

/// S3's largest single PUT and largest part: 5 GiB.
pub(crate) const MAX_BODY: u64 = 5 * 1024 * 1024 * 1024;

/// S3's smallest part, except the last.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// Where the objects live, and the per-key locks that make each write atomic.
pub(crate) struct Objects {
    root: PathBuf,
    temps: AtomicU64,
    pub(crate) locks: KeyLocks,
}

/// A body written to a temporary file, with its hashes: nothing is visible until
/// [`Objects::commit`] moves it into place.
pub(crate) struct Written {
    temp: TempFile,
    pub(crate) md5: [u8; 16],
    pub(crate) checksum: Checksum,
}

/// One part of an upload, as `ListParts` shows it.
pub(crate) struct PartInfo {
    pub(crate) number: i32,
    pub(crate) size: u64,
    pub(crate) modified: std::time::SystemTime,
    /// Hex, without quotes.
    pub(crate) md5: Option<String>,
}

/// A temporary file, removed when dropped unless it was moved into place.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    fn keep(mut self) -> PathBuf {
        self.0.take().unwrap_or_default()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes one object's bytes, hashing them as they pass.
pub(crate) struct ObjectWriter {
    file: BufWriter<File>,
    temp: TempFile,
    /// md-5's own hasher (s3s's cannot be cloned, and a snapshot needs the MD5 so far).
    md5: md5::Md5,
    checksum: s3s::checksum::ChecksumHasher,
    size: u64,
}

impl Write for ObjectWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        let written = buf.get(..n).unwrap_or_default();
        md5::Digest::update(&mut self.md5, written);
        self.checksum.update(written);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl ObjectWriter {
    /// The bytes so far, flushed, with their hashes.
    pub(crate) fn finish(mut self) -> io::Result<Written> {
        self.file.flush()?;
        Ok(Written {
            temp: self.temp,
            md5: md5::Digest::finalize(self.md5).into(),
            checksum: self.checksum.finalize(),
        })
    }

    /// How many bytes were written so far.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// A copy of the bytes so far as a body of its own, while this writer goes on: how a
    /// growing output is published with whole lines. The MD5 so far comes from a copy of the
    /// hasher, so the bytes are not hashed again.
    pub(crate) fn snapshot(&mut self, objects: &Objects) -> io::Result<Written> {
        self.file.flush()?;
        let temp = TempFile(Some(objects.temp_path()));
        let mut source = File::open(self.temp.path())?.take(self.size);
        let mut copy = File::create(temp.path())?;
        io::copy(&mut source, &mut copy)?;
        Ok(Written {
            temp,
            md5: md5::Digest::finalize(self.md5.clone()).into(),
            checksum: Checksum::default(),
        })
    }
}

/// s3s-fs's object attributes (content type and the like), in its format.
pub(crate) type Attributes = Map<String, Value>;

impl Objects {
    pub(crate) fn new(root: PathBuf) -> Self {
        Objects {
            root,
            temps: AtomicU64::new(0),
            locks: KeyLocks::default(),
        }
    }

    /// The file of an object (see [`file_of`]).
    pub(crate) fn path(&self, bucket: &str, key: &str) -> Option<PathBuf> {
        file_of(&self.root, bucket, key)
    }

    fn side_path(&self, bucket: &str, key: &str, suffix: &str) -> PathBuf {
        self.root.join(format!(
            ".bucket-{}.object-{}{suffix}",
            base64_url(bucket.as_bytes()),
            base64_url(key.as_bytes())
        ))
    }

    fn info_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.side_path(bucket, key, ".internal.json")
    }

    fn attributes_path(&self, bucket: &str, key: &str, upload: Option<&str>) -> PathBuf {
        match upload {
            Some(id) => self.side_path(bucket, key, &format!(".upload-{id}.metadata.json")),
            None => self.side_path(bucket, key, ".metadata.json"),
        }
    }

    /// A part's file, where s3s-fs keeps it (its `ListParts` and abort find it there).
    fn part_path(&self, upload_id: &str, part: i32) -> PathBuf {
        self.root
            .join(format!(".upload_id-{upload_id}.part-{part}"))
    }

    /// A part's MD5, beside it: the name starts as the part's do, so an abort removes it, and
    /// does not continue with `.part-`, so s3s-fs's `ListParts` passes over it.
    fn part_md5_path(&self, upload_id: &str, part: i32) -> PathBuf {
        self.root.join(format!(".upload_id-{upload_id}.md5-{part}"))
    }

    fn temp_path(&self) -> PathBuf {
        // s3s-fs removes files named `.tmp.*.internal.part` at start-up: so does this.
        let n = self.temps.fetch_add(1, Ordering::Relaxed);
        self.root.join(format!(
            ".tmp.llmbo-{}-{n}.internal.part",
            std::process::id()
        ))
    }

    /// A writer for a new object or part, hashing MD5 and the checksums `checksum` enables.
    pub(crate) fn writer(
        &self,
        checksum: s3s::checksum::ChecksumHasher,
    ) -> io::Result<ObjectWriter> {
        let path = self.temp_path();
        let file = File::create(&path)?;
        Ok(ObjectWriter {
            file: BufWriter::with_capacity(CHUNK, file),
            temp: TempFile(Some(path)),
            md5: md5::Digest::new(),
            checksum,
            size: 0,
        })
    }

    /// Streams a request body into a new temporary object: the bytes go to a blocking
    /// thread that writes and hashes them, while this task reads the next ones off the
    /// connection. An error in the body (a SHA-256 that does not match, a client that hung
    /// up) leaves nothing behind.
    pub(crate) async fn receive(
        self: &std::sync::Arc<Self>,
        mut body: StreamingBlob,
        checksum: s3s::checksum::ChecksumHasher,
    ) -> S3Result<Written> {
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Bytes>(4);
        let objects = std::sync::Arc::clone(self);
        let writer = tokio::task::spawn_blocking(move || -> io::Result<Written> {
            let mut writer = objects.writer(checksum)?;
            while let Some(bytes) = receiver.blocking_recv() {
                writer.write_all(&bytes)?;
            }
            writer.finish()
        });
        let mut failure = None;
        // The connection's chunks are small (16 KiB or so): gathered into larger ones, the
        // writer thread wakes once per 256 KiB instead of once per chunk.
        let mut gathered = bytes::BytesMut::new();
        let mut received = 0u64;
        while let Some(chunk) =
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut body), cx))
                .await
        {
            match chunk {
                Ok(bytes) => {
                    received += bytes.len() as u64;
                    if received > MAX_BODY {
                        failure = Some(Failure::TooLarge(too_large()));
                        break;
                    }
                    gathered.extend_from_slice(&bytes);
                    if gathered.len() >= GATHER
                        && sender.send(gathered.split().freeze()).await.is_err()
                    {
                        break; // the writer failed: its error is below
                    }
                }
                Err(err) => {
                    failure = Some(Failure::Body(err));
                    break;
                }
            }
        }
        if failure.is_none() && !gathered.is_empty() {
            let _ = sender.send(gathered.freeze()).await;
        }
        drop(sender);
        let written = match writer.await {
            Ok(Ok(written)) => written,
            Ok(Err(err)) => {
                return Err(s3_error!(
                    InternalError,
                    "the object could not be written: {err}"
                ));
            }
            Err(_) => return Err(s3_error!(InternalError, "the write was interrupted")),
        };
        match failure {
            // The temporary file goes with `written`.
            Some(Failure::Body(err)) => Err(body_error(&*err)),
            Some(Failure::TooLarge(err)) => Err(err),
            None => Ok(written),
        }
    }

    /// Moves a written body into place as `bucket`/`key`, with its ETag, checksums and
    /// attributes. The caller holds the key's write lock.
    pub(crate) fn commit(
        &self,
        written: Written,
        bucket: &str,
        key: &str,
        e_tag: &str,
        attributes: &Attributes,
    ) -> io::Result<()> {
        let target = self.path(bucket, key).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the key {key} has no place on disk"),
            )
        })?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(written.temp.path(), &target)?;
        written.temp.keep();
        self.write_side(
            &self.attributes_path(bucket, key, None),
            &Value::Object(attributes.clone()),
        )?;
        let mut info = Map::new();
        info.insert("e_tag".into(), Value::String(e_tag.to_owned()));
        for (name, value) in checksum_fields(&written.checksum) {
            info.insert(name.into(), Value::String(value.to_owned()));
        }
        self.write_side(&self.info_path(bucket, key), &Value::Object(info))
    }

    /// Writes a small side file whole (a temporary file, renamed into place).
    fn write_side(&self, path: &Path, value: &Value) -> io::Result<()> {
        let temp = TempFile(Some(self.temp_path()));
        std::fs::write(temp.path(), value.to_string())?;
        std::fs::rename(temp.path(), path)?;
        temp.keep();
        Ok(())
    }

    /// The ETag an object was written with, or `None` when there is no object.
    pub(crate) fn e_tag(&self, bucket: &str, key: &str) -> io::Result<Option<String>> {
        let Some(path) = self.path(bucket, key) else {
            return Ok(None);
        };
        if !path.is_file() {
            return Ok(None);
        }
        let stored = std::fs::read(self.info_path(bucket, key))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
            .and_then(|info| info.get("e_tag").and_then(Value::as_str).map(str::to_owned));
        match stored {
            Some(tag) => Ok(Some(tag)),
            // Put straight into the folder (a test's fixture): hash it once.
            None => {
                let mut file = File::open(&path)?;
                let mut md5 = Md5::new();
                let mut buf = vec![0; CHUNK];
                loop {
                    let n = file.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    md5.update(buf.get(..n).unwrap_or_default());
                }
                Ok(Some(hex(&md5.finalize())))
            }
        }
    }

    /// A copy of `len` bytes of the file at `path` from `start`, as a new body (for
    /// UploadPartCopy), hashed as it is copied.
    pub(crate) fn copy_range(&self, path: &Path, start: u64, len: u64) -> io::Result<Written> {
        let mut source = File::open(path)?;
        source.seek(io::SeekFrom::Start(start))?;
        let mut writer = self.writer(s3s::checksum::ChecksumHasher::default())?;
        let copied = io::copy(&mut source.take(len), &mut writer)?;
        if copied != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the source is shorter than it was",
            ));
        }
        writer.finish()
    }

    /// Whether an upload exists and was started with this access key (s3s-fs's record).
    pub(crate) fn upload_belongs_to(&self, upload_id: &str, access_key: Option<&str>) -> bool {
        if !is_upload_id(upload_id) {
            return false;
        }
        std::fs::read(self.root.join(format!(".upload-{upload_id}.json")))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Option<String>>(&bytes).ok())
            .is_some_and(|owner| owner.as_deref() == access_key)
    }

    /// The parts of an upload uploaded so far, in ascending part-number order: number, size,
    /// when written, and the MD5 (the part's ETag) when it is known.
    pub(crate) fn parts(&self, upload_id: &str) -> io::Result<Vec<PartInfo>> {
        let prefix = format!(".upload_id-{upload_id}.part-");
        let mut parts = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(number) = name
                .to_str()
                .and_then(|name| name.strip_prefix(&prefix))
                .and_then(|number| number.parse::<i32>().ok())
            else {
                continue;
            };
            let meta = entry.metadata()?;
            if !meta.is_file() {
                continue;
            }
            parts.push(PartInfo {
                number,
                size: meta.len(),
                modified: meta.modified()?,
                md5: std::fs::read_to_string(self.part_md5_path(upload_id, number)).ok(),
            });
        }
        parts.sort_by_key(|part| part.number);
        Ok(parts)
    }

    /// Moves a written part into place, with its MD5 beside it.
    pub(crate) fn commit_part(
        &self,
        written: Written,
        upload_id: &str,
        part: i32,
    ) -> io::Result<()> {
        let md5 = hex(&written.md5);
        std::fs::rename(written.temp.path(), self.part_path(upload_id, part))?;
        written.temp.keep();
        std::fs::write(self.part_md5_path(upload_id, part), md5)
    }

    /// Joins an upload's parts into its object, checking them as S3 does: ascending part
    /// numbers, each part there with the ETag the client names, every part but the last at
    /// least 5 MiB. Returns the object's multipart ETag. The caller holds the key's lock.
    pub(crate) fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(i32, Option<String>)],
    ) -> S3Result<String> {
        if parts.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "You must specify at least one part"
            ));
        }
        let invalid_part = || {
            s3_error!(
                InvalidPart,
                "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
            )
        };
        if parts.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
            return Err(s3_error!(
                InvalidPartOrder,
                "The list of parts was not in ascending order. The parts list must be specified in order by part number."
            ));
        }
        let mut md5s = Vec::with_capacity(parts.len());
        for (index, (number, tag)) in parts.iter().enumerate() {
            let stored = std::fs::read_to_string(self.part_md5_path(upload_id, *number))
                .map_err(|_| invalid_part())?;
            if let Some(tag) = tag
                && tag.trim_matches('"') != stored
            {
                return Err(invalid_part());
            }
            let size = std::fs::metadata(self.part_path(upload_id, *number))
                .map_err(|_| invalid_part())?
                .len();
            if index + 1 < parts.len() && size < MIN_PART_SIZE {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed size"
                ));
            }
            md5s.push(stored);
        }
        let io_error =
            |err: io::Error| s3_error!(InternalError, "the object could not be written: {err}");
        let temp = TempFile(Some(self.temp_path()));
        let mut out = File::create(temp.path()).map_err(io_error)?;
        for (number, _) in parts {
            let mut part = File::open(self.part_path(upload_id, *number)).map_err(io_error)?;
            io::copy(&mut part, &mut out).map_err(io_error)?;
        }
        out.flush().map_err(io_error)?;
        drop(out);
        let mut etag = Md5::new();
        for md5 in &md5s {
            etag.update(&unhex(md5).ok_or_else(invalid_part)?);
        }
        let e_tag = format!("{}-{}", hex(&etag.finalize()), md5s.len());
        let attributes = std::fs::read(self.attributes_path(bucket, key, Some(upload_id)))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Attributes>(&bytes).ok())
            .unwrap_or_default();
        // A multipart object's ETag is the MD5 of its parts' MD5s (above), not of its bytes.
        let written = Written {
            temp,
            md5: [0; 16],
            checksum: Checksum::default(),
        };
        self.commit(written, bucket, key, &e_tag, &attributes)
            .map_err(io_error)?;
        self.remove_upload(bucket, key, upload_id);
        Ok(e_tag)
    }

    /// Removes what an upload left: its parts, their MD5s, its attributes and its record.
    fn remove_upload(&self, bucket: &str, key: &str, upload_id: &str) {
        let _ = std::fs::remove_file(self.attributes_path(bucket, key, Some(upload_id)));
        let _ = std::fs::remove_file(self.root.join(format!(".upload-{upload_id}.json")));
        let prefix = format!(".upload_id-{upload_id}.");
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for entry in entries.flatten() {
                if entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&prefix))
                {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    /// The object's bytes from `start`, `len` of them, in 1 MiB chunks read by a blocking
    /// thread. The file is opened here, under the caller's read lock; the stream reads the
    /// open file, so a later write of the key (a rename) does not change what it sends.
    pub(crate) fn read(&self, path: &Path, start: u64, len: u64) -> io::Result<ReadStream> {
        let mut file = File::open(path)?;
        file.seek(io::SeekFrom::Start(start))?;
        let (sender, receiver) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(2);
        tokio::task::spawn_blocking(move || {
            let mut left = len;
            while left > 0 {
                let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
                let mut buf = vec![0; want];
                let result = file.read(&mut buf).and_then(|n| {
                    if n == 0 {
                        Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the object is shorter than it was",
                        ))
                    } else {
                        buf.truncate(n);
                        Ok(Bytes::from(buf))
                    }
                });
                let failed = result.is_err();
                if let Ok(bytes) = &result {
                    left -= bytes.len() as u64;
                }
                if sender.blocking_send(result).is_err() || failed {
                    break; // the client went away, or the read failed (sent)
                }
            }
        });
        Ok(ReadStream { receiver })
    }
}

/// The file of `bucket`/`key` under `root`, or `None` when a segment (`.`, `..`, a root, a
/// prefix, a backslash) would lead anywhere but below `root`/bucket. Empty segments are
/// skipped, as s3s-fs skips them. The one mapping from S3 names to host paths: the S3 side and
/// the job runner both use it.
pub(crate) fn file_of(root: &Path, bucket: &str, key: &str) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for part in std::iter::once(bucket).chain(key.split('/').filter(|s| !s.is_empty())) {
        let mut components = Path::new(part).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(name)), None) if !part.contains('\\') => path.push(name),
            _ => return None,
        }
    }
    Some(path)
}

/// An object's bytes as they are read.
pub(crate) struct ReadStream {
    receiver: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
}

impl futures_core::Stream for ReadStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx)
    }
}

/// Why a body was not taken.
enum Failure {
    Body(s3s::StdError),
    TooLarge(s3s::S3Error),
}

/// S3's answer to a body over [`MAX_BODY`].
pub(crate) fn too_large() -> s3s::S3Error {
    s3_error!(
        EntityTooLarge,
        "Your proposed upload exceeds the maximum allowed size"
    )
}

/// What S3 answers for a body that failed on the way in.
fn body_error(err: &(dyn std::error::Error + 'static)) -> s3s::S3Error {
    let text = err.to_string();
    if text.contains("Sha256Mismatch") {
        let mut err = s3s::S3Error::with_message(
            s3s::S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        );
        err.set_status_code(http::StatusCode::BAD_REQUEST);
        err
    } else {
        s3_error!(IncompleteBody, "The request body ended early: {text}")
    }
}

/// The checksums set in `checksum`, by the names s3s-fs stores them under.
pub(crate) fn checksum_fields(checksum: &Checksum) -> Vec<(&'static str, &str)> {
    [
        ("checksum_crc32", &checksum.checksum_crc32),
        ("checksum_crc32c", &checksum.checksum_crc32c),
        ("checksum_sha1", &checksum.checksum_sha1),
        ("checksum_sha256", &checksum.checksum_sha256),
        ("checksum_crc64nvme", &checksum.checksum_crc64nvme),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
    .collect()
}

/// An upload id as s3s-fs makes them (a UUID): anything else names no file.
fn is_upload_id(id: &str) -> bool {
    id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks(2)
        .map(|pair| Some(digit(*pair.first()?)? << 4 | digit(*pair.get(1)?)?))
        .collect()
}

/// Base64 with the URL-safe alphabet and no padding: how s3s-fs names side files.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..=chunk.len() {
            let index = (n >> (18 - 6 * i)) & 63;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

/// s3s-fs writes an object's body (a rename) and then its checksums (a side file) as two
/// steps, so two writes of one key, or a read between the steps, could pair one body with
/// another's checksum. S3 writes objects atomically; these locks make llmbo-local do the
/// same: writes of a key take its lock exclusively until every step is done, reads share
/// it while they load the checksums and open the body.
pub(crate) struct KeyLocks([tokio::sync::RwLock<()>; 64]);

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks(std::array::from_fn(|_| tokio::sync::RwLock::new(())))
    }
}

impl KeyLocks {
    pub(crate) fn of(&self, bucket: &str, key: &str) -> &tokio::sync::RwLock<()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (bucket, key).hash(&mut hasher);
        &self.0[(hasher.finish() % 64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_file_names_are_s3s_fs_names() {
        // What s3s-fs's base64_simd::URL_SAFE_NO_PAD gives for these.
        assert_eq!(base64_url(b"bucket"), "YnVja2V0");
        assert_eq!(base64_url(b"a/b+c"), "YS9iK2M");
        assert_eq!(base64_url(b"\xff\xfe"), "__4");
        assert_eq!(base64_url(b""), "");
    }

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&bytes), "0001abff");
        assert_eq!(unhex("0001abff"), Some(bytes.to_vec()));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }
}
