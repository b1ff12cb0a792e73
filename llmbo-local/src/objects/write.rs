//! Writing a body: one blocking thread with a 1 MiB buffer writes a temporary file and computes
//! the MD5 (the ETag) and any checksum the client asked for as the bytes pass; nothing is
//! visible until [`super::Objects::commit`] moves it into place.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use bytes::Bytes;
use s3s::dto::{Checksum, StreamingBlob};
use s3s::{S3Result, s3_error};

use super::{CHUNK, MAX_BODY, Objects};

/// How much of a request body is passed to the writer thread at a time.
const GATHER: usize = 256 * 1024;

/// A body written to a temporary file, with its hashes.
pub(crate) struct Written {
    pub(super) temp: TempFile,
    pub(crate) md5: [u8; 16],
    pub(crate) checksum: Checksum,
}

/// A temporary file, removed when dropped unless it was moved into place.
pub(super) struct TempFile(Option<PathBuf>);

impl TempFile {
    pub(super) fn new(path: PathBuf) -> Self {
        TempFile(Some(path))
    }

    pub(super) fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    /// Moves the file to `target`; from then on it is not removed.
    pub(super) fn rename_to(mut self, target: &Path) -> io::Result<()> {
        self.try_rename_to(target)
    }

    /// As [`rename_to`](Self::rename_to), keeping the file (removed when dropped) when the
    /// rename fails, so it can be tried again.
    pub(super) fn try_rename_to(&mut self, target: &Path) -> io::Result<()> {
        std::fs::rename(self.path(), target)?;
        self.0 = None;
        Ok(())
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

    /// How many bytes were written.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// A copy of the bytes so far as a body of its own, while this writer goes on: how a
    /// growing output is published with whole lines. The MD5 so far comes from a copy of the
    /// hasher, so the bytes are not hashed again.
    pub(crate) fn snapshot(&mut self, objects: &Objects) -> io::Result<Written> {
        self.file.flush()?;
        let temp = TempFile::new(objects.temp_path());
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

impl Objects {
    /// A writer for a new object or part, hashing MD5 and the checksums `checksum` enables.
    pub(crate) fn writer(
        &self,
        checksum: s3s::checksum::ChecksumHasher,
    ) -> io::Result<ObjectWriter> {
        let temp = TempFile::new(self.temp_path());
        let file = File::create(temp.path())?;
        Ok(ObjectWriter {
            file: BufWriter::with_capacity(CHUNK, file),
            temp,
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
                        failure = Some(too_large());
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
                    failure = Some(body_error(&*err));
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
            Some(err) => Err(err),
            None => Ok(written),
        }
    }

    /// A copy of `len` bytes of the file at `path` from `start`, as a new body (a copy of an
    /// object, or UploadPartCopy), hashed as it is copied.
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
