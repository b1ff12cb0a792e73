//! The seam between the lifecycle and a batch API: what the engine, the scheduler, retries
//! and re-asks need of a provider's jobs, and nothing of how it is asked.
//!
//! Bedrock is the one backend today ([`crate::aws::Aws`]); the lifecycle above this trait does
//! not name it. Where a run's record is kept is the other half of the seam,
//! [`crate::store::RunStore`].

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
#[cfg(feature = "_http")]
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::Error;
use crate::settings::RunSettings;
use crate::status::JobDetails;

/// How much of a run's spool is read, and given to an [`InputWriter`], at a time.
pub(crate) const INPUT_CHUNK: usize = 8 * 1024 * 1024;

/// A backend's answer, boxed so that the lifecycle holds any backend as one object.
pub(crate) type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// One job to create: everything its request says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobRequest<'a> {
    /// The run's settings: model, role, timeout, KMS key, bucket owner, VPC, invocation type.
    pub(crate) settings: &'a RunSettings,
    pub(crate) job_name: &'a str,
    /// Names the request: the same token makes the same job, so a repeated or resumed create
    /// never starts a second one.
    pub(crate) token: &'a str,
    /// Where the job's input is (`s3://…` on Bedrock).
    pub(crate) input: &'a str,
    /// Where its output goes.
    pub(crate) output: &'a str,
    /// The user's tags with llmbo's own.
    pub(crate) tags: &'a [(String, String)],
    /// The job's requests as its API takes them, written by this process as it uploaded the
    /// input (see [`Backend::request_lines`]); `None` to read them from `input`.
    #[cfg_attr(not(feature = "_http"), allow(dead_code))]
    pub(crate) requests: Option<&'a Requests>,
}

/// A job's requests written as its batch API takes them, ahead of its create.
#[derive(Debug)]
#[cfg_attr(not(feature = "_http"), allow(dead_code))]
pub(crate) struct Requests {
    /// The requests, one after the other as the API takes them.
    pub(crate) body: RequestsBody,
    /// How many there are.
    pub(crate) count: u64,
    /// The record ids sent as hashes: a line `[custom_id, record id]` each.
    pub(crate) hashed: Vec<u8>,
}

/// Where a job's requests are held until its create sends them.
#[derive(Debug)]
#[cfg_attr(not(feature = "_http"), allow(dead_code))]
pub(crate) enum RequestsBody {
    /// In memory, in pieces, within the process's budget for requests held.
    #[cfg(feature = "_http")]
    Memory(HeldPieces),
    /// In a private temp file.
    File(tempfile::NamedTempFile),
}

/// A budget of memory for requests: how much may be held, and how much is.
#[derive(Debug)]
#[cfg(feature = "_http")]
pub(crate) struct Budget {
    limit: usize,
    held: AtomicUsize,
}

#[cfg(feature = "_http")]
impl Budget {
    pub(crate) const fn new(limit: usize) -> Self {
        Budget {
            limit,
            held: AtomicUsize::new(0),
        }
    }

    /// Takes `bytes` of the budget; `false` when it has not that much left.
    fn take(&self, bytes: usize) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|now| *now <= self.limit)
            })
            .is_ok()
    }

    /// How much is held now.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

/// Requests held in memory, in pieces; their share of the budget is given back when they are
/// dropped.
#[derive(Debug)]
#[cfg(feature = "_http")]
pub(crate) struct HeldPieces {
    pub(crate) pieces: Vec<bytes::Bytes>,
    budget: &'static Budget,
    held: usize,
}

#[cfg(feature = "_http")]
impl HeldPieces {
    /// None yet, and none of `budget` held.
    pub(crate) fn new(budget: &'static Budget) -> Self {
        HeldPieces {
            pieces: Vec::new(),
            budget,
            held: 0,
        }
    }

    /// Takes `bytes` more of the budget for pieces; `false` when it has not that much.
    pub(crate) fn take(&mut self, bytes: usize) -> bool {
        let taken = self.budget.take(bytes);
        if taken {
            self.held += bytes;
        }
        taken
    }
}

#[cfg(feature = "_http")]
impl Drop for HeldPieces {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.held, Ordering::AcqRel);
    }
}

/// A writer of a job's requests in its batch API's form, fed the job's input a line at a time.
pub(crate) trait RequestLines: Send {
    /// One line of the job's input (a blank one is skipped); why it cannot be sent, when it
    /// cannot.
    fn line(&mut self, line: &[u8]) -> Result<(), String>;

    /// The requests written.
    fn finish(self: Box<Self>) -> Result<Requests, Error>;
}

/// What the lifecycle needs of a batch API's jobs.
pub(crate) trait Backend: Send + Sync + std::fmt::Debug {
    /// Creates the job, or finds the one this same request created before (a process that
    /// died before recording it); its id (an ARN on Bedrock). A job of that name made by
    /// another request is an error naming it.
    fn create<'a>(&'a self, job: JobRequest<'a>) -> BackendFuture<'a, String>;

    /// Refuses what cannot be one of this provider's job ids, before any call (a Bedrock
    /// job's ARN has a pattern); by default anything may be.
    fn check_id(&self, job_id: &str) -> Result<(), Error> {
        let _ = job_id;
        Ok(())
    }

    /// Where a job is: its status, counts and settings.
    fn describe<'a>(&'a self, job_id: &'a str) -> BackendFuture<'a, JobDetails>;

    /// Jobs, newest first, with this status (the provider's name for it) and a part of the
    /// name.
    fn find<'a>(
        &'a self,
        status: Option<&'a str>,
        name_contains: Option<&'a str>,
    ) -> BackendFuture<'a, Vec<JobDetails>>;

    /// Asks a job to stop.
    fn stop<'a>(&'a self, job_id: &'a str) -> BackendFuture<'a, ()>;

    /// The files of a job's output as they are now: its answer lines (one file or several, in
    /// a stable order) and the provider's summary of counts, where it writes one.
    fn output_files<'a>(&'a self, job: &'a JobDetails) -> BackendFuture<'a, OutputFiles>;

    /// Copies one output file to `path` (created private); the bytes and lines written.
    fn download<'a>(&'a self, file: &'a str, path: &'a Path) -> BackendFuture<'a, (u64, u64)>;

    /// The files of a job's input: the one `input` names, or every `.jsonl` file of the
    /// folder it names, as the provider reads them.
    fn input_files<'a>(&'a self, input: &'a str) -> BackendFuture<'a, Vec<String>>;

    /// A file (input or output) line by line, one line in memory at a time.
    fn lines<'a>(&'a self, file: &'a str) -> BackendFuture<'a, Lines>;

    /// A file's version as the provider gives it (an ETag), `None` when there is no such file.
    fn version<'a>(&'a self, file: &'a str) -> BackendFuture<'a, Option<String>>;

    /// One request answered now, outside any job (the provider's on-demand API), with the
    /// run's model and settings: the response body, or the request's own refusal. A failure
    /// that may pass (throttling, a model not ready, a 5xx, a lost connection) is an error for
    /// which [`Error::is_retryable`] holds.
    fn answer<'a>(
        &'a self,
        settings: &'a RunSettings,
        body: &'a serde_json::Value,
    ) -> BackendFuture<'a, Answered>;

    /// A writer of a job's input at `input`: what it is sent, it keeps; nothing is there
    /// until [`InputWriter::finish`], and a writer dropped before it leaves nothing billed.
    fn put_input<'a>(&'a self, input: &'a str) -> Box<dyn InputWriter<'a> + 'a>;

    /// A writer of a job's requests in the provider's form, fed the input's lines as they are
    /// uploaded (on a thread of its own, beside the upload), so that [`create`](Self::create)
    /// sends them without reading the input back; `None` where a job is made from its input as
    /// it is (Bedrock).
    fn request_lines(
        self: std::sync::Arc<Self>,
        settings: &RunSettings,
    ) -> Option<Box<dyn RequestLines>> {
        let _ = settings;
        None
    }

    /// A file's bytes in memory when it holds at most `max` (read straight from the response,
    /// no local copy); `None` when it is larger, or where the provider reads files only to
    /// disk (then [`download`](Self::download) is used).
    fn fetch<'a>(&'a self, file: &'a str, max: u64) -> BackendFuture<'a, Option<Vec<u8>>> {
        let _ = (file, max);
        Box::pin(async { Ok(None) })
    }

    /// An output file's bytes in memory as [`fetch`](Self::fetch) reads them, but as the
    /// provider serves them, with how its lines become Bedrock's (`None`: they are): the
    /// reader reads the common answer straight from the provider's line, and makes only the
    /// others Bedrock's. By default, [`fetch`](Self::fetch)'s bytes.
    fn fetch_served<'a>(
        &'a self,
        file: &'a str,
        max: u64,
    ) -> BackendFuture<'a, Option<(Vec<u8>, Option<LineMap>)>> {
        Box::pin(async move { Ok(self.fetch(file, max).await?.map(|bytes| (bytes, None))) })
    }

    /// Up to `limit` bytes of an output file from `offset`, all of one version of it, while its
    /// job runs: `None` where a job's output is written only at its end (the batch APIs) or the
    /// file is not there yet. Bedrock says results can be read while a job is InProgress;
    /// whether its files grow before the end is not documented, and a reader must work either
    /// way.
    fn read_from<'a>(
        &'a self,
        file: &'a str,
        offset: u64,
        limit: u64,
    ) -> BackendFuture<'a, Option<Tail>> {
        let _ = (file, offset, limit);
        Box::pin(async { Ok(None) })
    }

    /// Copies a medium a record names (`s3://…`, in a bucket of `owner`'s when given) to
    /// `to`, beside a job's input, where the provider reads media from. Only Bedrock takes
    /// media by location.
    fn copy_media<'a>(
        &'a self,
        from: &'a str,
        owner: Option<&'a str>,
        to: &'a str,
    ) -> BackendFuture<'a, ()> {
        let _ = (owner, to);
        Box::pin(async move {
            Err(Error::invalid_request(format!(
                "this API takes no media by S3 location ({from})"
            )))
        })
    }
}

/// The part of a growing output file read from an offset: see [`Backend::read_from`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Tail {
    /// The bytes from the offset asked for, at most the read's limit.
    pub(crate) bytes: Vec<u8>,
    /// The file's version (ETag) the bytes are of.
    pub(crate) version: String,
    /// The file's whole size in that version.
    pub(crate) size: u64,
}

/// How an on-demand request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answered {
    /// The response body.
    Output(Vec<u8>),
    /// The request's own refusal (a model error, a timeout, an invalid request, no access):
    /// the record's error, in the provider's code and words.
    Refused { code: String, message: String },
}

/// A job's input, written in pieces as the spool is read.
pub(crate) trait InputWriter<'a>: Send {
    /// Appends whole lines.
    fn write<'b>(&'b mut self, bytes: &'b [u8]) -> BackendFuture<'b, ()>;

    /// Makes the input whole; its version (an ETag on Bedrock).
    fn finish(self: Box<Self>) -> BackendFuture<'a, String>;
}

/// How a batch API's output lines become Bedrock's (`recordId`, `modelOutput` or `error`): its
/// conversion of one line, and the table of the record ids it sent as hashes.
#[derive(Clone)]
pub(crate) struct LineMap {
    /// The API, whose success lines the reader reads as they stand.
    api: crate::jsonl::Served,
    convert: fn(&[u8], &std::collections::HashMap<String, String>, &mut Vec<u8>),
    ids: std::sync::Arc<std::collections::HashMap<String, String>>,
}

impl LineMap {
    /// `convert` appends a line in Bedrock's form, its id looked up in `ids` (`custom_id` →
    /// record id), or nothing to leave the line out.
    #[cfg_attr(not(feature = "_http"), allow(dead_code))]
    pub(crate) fn new(
        api: crate::jsonl::Served,
        convert: fn(&[u8], &std::collections::HashMap<String, String>, &mut Vec<u8>),
        ids: std::collections::HashMap<String, String>,
    ) -> Self {
        LineMap {
            api,
            convert,
            ids: std::sync::Arc::new(ids),
        }
    }

    /// Appends `line` in Bedrock's form to `out`, or nothing where it is left out (an expired
    /// or cancelled request: its record is missing).
    pub(crate) fn apply(&self, line: &[u8], out: &mut Vec<u8>) {
        (self.convert)(line, &self.ids, out);
    }

    /// The API whose lines these are.
    pub(crate) fn api(&self) -> crate::jsonl::Served {
        self.api
    }

    /// The record id of the request sent as `sent`.
    pub(crate) fn record_id<'a>(&'a self, sent: &'a str) -> &'a str {
        self.ids.get(sent).map_or(sent, String::as_str)
    }
}

impl std::fmt::Debug for LineMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineMap")
            .field("api", &self.api)
            .field("hashed_ids", &self.ids.len())
            .finish_non_exhaustive()
    }
}

/// How a backend names a read that failed on the way: the file and the I/O error.
type ReadError = Box<dyn Fn(&str, &std::io::Error) -> Error + Send>;

/// A file read line by line as it arrives.
pub(crate) struct Lines {
    reader: Box<dyn tokio::io::AsyncBufRead + Unpin + Send>,
    /// The file, for errors.
    file: String,
    /// The backend's error for a read that failed on the way.
    on_error: ReadError,
    /// How a provider's lines become Bedrock's (`recordId`, `modelOutput` or `error`).
    map: Option<LineMap>,
}

impl Lines {
    /// Lines of `reader`, which reads `file`; a failed read becomes `on_error(file, error)`.
    pub(crate) fn new(
        reader: Box<dyn tokio::io::AsyncBufRead + Unpin + Send>,
        file: String,
        on_error: impl Fn(&str, &std::io::Error) -> Error + Send + 'static,
    ) -> Self {
        Lines {
            reader,
            file,
            on_error: Box::new(on_error),
            map: None,
        }
    }

    /// The same lines, each made into Bedrock's form by `map` (and left out where it says
    /// `None`).
    #[cfg(feature = "_http")]
    pub(crate) fn mapped(mut self, map: LineMap) -> Self {
        self.map = Some(map);
        self
    }

    /// The whole file, each line mapped, in one pass over its bytes (no line read alone):
    /// `None` when it holds more than `max` bytes (then nothing more is read).
    #[cfg(feature = "_http")]
    pub(crate) async fn read_all(&mut self, max: u64) -> Result<Option<Vec<u8>>, Error> {
        use tokio::io::AsyncReadExt;
        let mut raw = Vec::new();
        (&mut self.reader)
            .take(max.saturating_add(1))
            .read_to_end(&mut raw)
            .await
            .map_err(|e| (self.on_error)(&self.file, &e))?;
        if raw.len() as u64 > max {
            return Ok(None);
        }
        Ok(Some(match &self.map {
            None => raw,
            Some(map) => map_all(map, &raw),
        }))
    }

    /// The whole file as served, and how its lines become Bedrock's (`None`: they are), for a
    /// reader that reads the common answer straight from the API's line: `None` when it holds
    /// more than `max` bytes (then nothing more is read).
    #[cfg(feature = "_http")]
    pub(crate) async fn read_served(
        mut self,
        max: u64,
    ) -> Result<Option<(Vec<u8>, Option<LineMap>)>, Error> {
        let map = self.map.take();
        Ok(self.read_all(max).await?.map(|raw| (raw, map)))
    }

    /// The next line with its newline (the last may have none); `None` at the end.
    pub(crate) async fn next_line(&mut self) -> Result<Option<Vec<u8>>, Error> {
        use tokio::io::AsyncBufReadExt;
        loop {
            let mut line = Vec::new();
            let read = self
                .reader
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| (self.on_error)(&self.file, &e))?;
            if read == 0 {
                return Ok(None);
            }
            match &self.map {
                None => return Ok(Some(line)),
                Some(map) => {
                    let mut mapped = Vec::with_capacity(line.len() + 32);
                    map.apply(&line, &mut mapped);
                    if !mapped.is_empty() {
                        return Ok(Some(mapped));
                    }
                }
            }
        }
    }
}

/// Every line of `raw` through `map`, in one pass over its bytes (no line read alone).
pub(crate) fn map_all(map: &LineMap, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 16);
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', raw).chain(std::iter::once(raw.len())) {
        if let Some(line) = raw
            .get(start..(end + 1).min(raw.len()))
            .filter(|l| !l.is_empty())
        {
            map.apply(line, &mut out);
        }
        start = end + 1;
    }
    out
}

/// Where a job's output is, by the provider's names for its files (`s3://…` on Bedrock).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OutputFiles {
    /// The files of answer and error lines, in a stable order.
    pub(crate) outputs: Vec<String>,
    /// The provider's counts of the job (Bedrock's `manifest.json.out`).
    pub(crate) manifest: Option<String>,
}
