//! Local files holding prompts or outputs: private to the user (mode 0600 on Unix).

use std::path::Path;

/// Creates (or truncates) a file only its owner can read.
pub(crate) async fn create_private(path: &Path) -> std::io::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let file = options.open(path).await?;
    // An existing file keeps its old mode through `open`; tighten it too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).await?;
    }
    Ok(file)
}

/// A unit of blocking work for the I/O thread.
type Work = Box<dyn FnOnce() + Send>;

/// Runs blocking work (reading the spool, parsing a job's output from disk) off the async
/// workers, on one long-lived thread of llmbo's own, in order.
///
/// One thread rather than tokio's blocking pool: glibc gives every thread that allocates its
/// own malloc arena and seldom returns what is freed to the system, so a job's results parsed
/// on whichever pool thread is free left each run's peak memory growing with its number of
/// jobs (×1.6 to ×1.95 for 10× the records with the default arenas, against ×1.4 with two).
/// The work is sequential within a run anyway.
pub(crate) async fn off_runtime<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, crate::error::Error> {
    use std::sync::{Mutex, OnceLock, PoisonError, mpsc};
    static WORKER: OnceLock<Mutex<Option<mpsc::Sender<Work>>>> = OnceLock::new();
    let lost = |reason: &str| crate::error::Error::Internal {
        what,
        reason: reason.to_owned(),
    };
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Work = Box::new(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        let _ = done.send(outcome);
    });
    {
        let mut worker = WORKER
            .get_or_init(|| Mutex::new(None))
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let job = match worker.as_ref() {
            Some(sender) => match sender.send(job) {
                Ok(()) => None,
                Err(mpsc::SendError(job)) => Some(job),
            },
            None => Some(job),
        };
        if let Some(job) = job {
            // First use, or the thread is gone: start it.
            let (sender, receiver) = mpsc::channel::<Work>();
            std::thread::Builder::new()
                .name("llmbo-io".into())
                .spawn(move || {
                    while let Ok(work) = receiver.recv() {
                        work();
                    }
                })
                .map_err(|e| lost(&format!("could not start the I/O thread: {e}")))?;
            sender
                .send(job)
                .map_err(|_| lost("the I/O thread ended at once"))?;
            *worker = Some(sender);
        }
    }
    match result.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) => Err(lost("it panicked")),
        Err(_) => Err(lost("the I/O thread dropped the work")),
    }
}

/// A file written, and hashed with SHA-256, on a thread of its own, a megabyte at a time, while
/// the caller prepares what comes next: preparing a run's requests and hashing them overlap.
/// The buffers go back and forth, so no more than four are ever allocated.
pub(crate) struct HashingWriter {
    buffer: Vec<u8>,
    full: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    empty: std::sync::mpsc::Receiver<Vec<u8>>,
    worker: Option<std::thread::JoinHandle<std::io::Result<Written>>>,
}

/// A finished file and the SHA-256 of what was written to it.
type Written = (std::fs::File, Vec<u8>);

/// How much a [`HashingWriter`] gathers before it hands a buffer over.
const HANDOVER_BYTES: usize = 1 << 20;

impl HashingWriter {
    pub(crate) fn new(file: std::fs::File) -> std::io::Result<Self> {
        use sha2::Digest;
        use std::io::Write;
        let (full, to_write) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let (give_back, empty) = std::sync::mpsc::channel();
        let worker = std::thread::Builder::new()
            .name("llmbo-spool".into())
            .spawn(move || {
                let mut file = file;
                let mut hasher = sha2::Sha256::new();
                for mut buffer in to_write {
                    hasher.update(&buffer);
                    file.write_all(&buffer)?;
                    buffer.clear();
                    let _ = give_back.send(buffer);
                }
                Ok((file, hasher.finalize().to_vec()))
            })?;
        Ok(HashingWriter {
            buffer: Vec::with_capacity(HANDOVER_BYTES),
            full: Some(full),
            empty,
            worker: Some(worker),
        })
    }

    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= HANDOVER_BYTES {
            self.hand_over()?;
        }
        Ok(())
    }

    fn hand_over(&mut self) -> std::io::Result<()> {
        let next = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(HANDOVER_BYTES));
        let buffer = std::mem::replace(&mut self.buffer, next);
        let sent = self.full.as_ref().map(|full| full.send(buffer));
        match sent {
            Some(Ok(())) => Ok(()),
            // The thread stopped: its error says why.
            _ => self.join().map(|_| ()),
        }
    }

    fn join(&mut self) -> std::io::Result<Written> {
        self.full = None;
        match self.worker.take().map(std::thread::JoinHandle::join) {
            Some(Ok(done)) => done,
            Some(Err(_)) => Err(std::io::Error::other("the spool's writing thread panicked")),
            None => Err(std::io::Error::other("the spool was finished already")),
        }
    }

    /// Everything written: the file, and the SHA-256 of all that was written to it.
    pub(crate) fn finish(mut self) -> std::io::Result<Written> {
        if !self.buffer.is_empty() {
            let buffer = std::mem::take(&mut self.buffer);
            if let Some(full) = &self.full {
                // A failed send is the thread's error, which `join` returns.
                let _ = full.send(buffer);
            }
        }
        self.join()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek};

    use sha2::Digest;

    use super::HashingWriter;

    /// What goes in comes out, in order, with the SHA-256 of all of it: across many handovers
    /// and a last partial buffer.
    #[test]
    fn the_hashing_writer_writes_and_hashes_everything_in_order() -> std::io::Result<()> {
        let mut writer = HashingWriter::new(tempfile::tempfile()?)?;
        let mut all = Vec::new();
        for i in 0..150_000u32 {
            let line = format!("{{\"recordId\":\"{i}\",\"n\":{}}}\n", i * 7);
            writer.write_all(line.as_bytes())?;
            all.extend_from_slice(line.as_bytes());
        }
        assert!(all.len() > 3 * super::HANDOVER_BYTES);
        let (mut file, hash) = writer.finish()?;
        file.rewind()?;
        let mut written = Vec::new();
        file.read_to_end(&mut written)?;
        assert!(written == all, "the file holds what was written, in order");
        assert_eq!(hash, sha2::Sha256::digest(&all).to_vec());
        Ok(())
    }

    /// A file that cannot be written is an error from the writer, not a panic or a lost write.
    #[test]
    fn a_write_that_fails_is_an_error() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("read-only");
        std::fs::write(&path, b"")?;
        let mut writer = HashingWriter::new(std::fs::File::open(&path)?)?;
        let mut failed = false;
        for _ in 0..8 {
            failed |= writer.write_all(&[b'x'; 1 << 19]).is_err();
        }
        assert!(failed || writer.finish().is_err());
        Ok(())
    }
}
