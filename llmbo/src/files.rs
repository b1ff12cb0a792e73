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
) -> Result<T, crate::Error> {
    use std::sync::{Mutex, OnceLock, PoisonError, mpsc};
    static WORKER: OnceLock<Mutex<Option<mpsc::Sender<Work>>>> = OnceLock::new();
    let lost = |reason: &str| crate::Error::Internal {
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
