//! Creating a batch exactly once, on APIs that keep no idempotency token: the job's requests
//! are written as the API takes them, the job is reserved in the register, the batch is sent,
//! and its id recorded; a create asked again finds the id, waits for a live reservation, or
//! looks for the batch a dead one may have made before it sends again.

use std::future::Future;
use std::io::Write;

use bytes::Bytes;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::http::Source;
use super::{BatchEntry, Register, ids, process_owner, unix_now};
use crate::backend::{Budget, HeldPieces, JobRequest, RequestLines, Requests, RequestsBody};
use crate::error::{AwsErrorKind, Error};
use crate::store::FileStore;
use crate::store::{Expected, Put};

/// How long a reservation of a create is held by the process that made it before another
/// may take it over: a process that reserved and died leaves the job to the next one after
/// this long.
pub(crate) const LEASE_SECONDS: u64 = 300;

/// How many times a send that failed in a way that may pass (a 5xx, a lost connection) is
/// looked for and sent again before the error is returned.
const SEND_ATTEMPTS: u32 = 6;

/// What an API does for the shared create.
pub(crate) trait Sender: Sync {
    /// The provider, in errors.
    fn provider(&self) -> &'static str;

    /// One request of the batch, from its `custom_id` and the body the adapter wrote, for a
    /// run with `settings`.
    fn request(
        &self,
        settings: &crate::settings::RunSettings,
        custom_id: &str,
        body: Map<String, Value>,
        model: &str,
    ) -> Value;

    /// Writes the same request as [`request`](Self::request) from the body's JSON text,
    /// without building a `Value` (what makes preparing a batch of 100,000 cheap); `false`
    /// when this body needs the general path (nothing is written then).
    fn write_request(
        &self,
        settings: &crate::settings::RunSettings,
        custom_id: &str,
        body: &str,
        model: &str,
        out: &mut Vec<u8>,
    ) -> bool {
        let _ = (settings, custom_id, body, model, out);
        false
    }

    /// What goes between two requests in the file (`,` for an inline JSON array, a newline
    /// for JSONL).
    fn separator(&self) -> &'static [u8];

    /// Sends the batch of a reserved job whose requests are in `requests`; its id.
    fn send(
        &self,
        job: &JobRequest<'_>,
        requests: &Source,
        entry: &BatchEntry,
    ) -> impl Future<Output = Result<String, Error>> + Send;

    /// The batch a job reserved with no id yet may have made before its process died.
    fn unrecorded(
        &self,
        entry: &BatchEntry,
    ) -> impl Future<Output = Result<Option<String>, Error>> + Send;

    /// Cancels a batch made twice.
    fn cancel(&self, batch_id: &str) -> impl Future<Output = Result<(), Error>> + Send;
}

/// A line of a job's input as llmbo writes it, the body left as its text.
#[derive(Deserialize)]
struct InputLine<'a> {
    #[serde(rename = "recordId", borrow)]
    record_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "modelInput", borrow)]
    model_input: &'a serde_json::value::RawValue,
}

/// `{"model":<model>,` and the rest of the object `body` (`{...}`): the body with the model
/// named first. `None` when `body` is not an object's text.
#[cfg_attr(not(feature = "openai"), allow(dead_code))]
pub(crate) fn with_model(body: &str, model: &str, out: &mut Vec<u8>) -> Option<()> {
    let rest = body.trim().strip_prefix('{')?;
    let empty = rest.trim_start().starts_with('}');
    out.extend_from_slice(b"{\"model\":");
    serde_json::to_writer(&mut *out, model).ok()?;
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(rest.as_bytes());
    Some(())
}

/// A job's requests written as the API takes them, a line of its input at a time: the one
/// path from input lines to requests, whether the input is read back from the store at create
/// or fed as it is uploaded.
pub(crate) struct RequestsWriter<A> {
    /// The API (a reference to it, or a share of it for a writer on another thread).
    api: A,
    settings: crate::settings::RunSettings,
    model: String,
    out: Sink,
    count: u64,
    hashed: Vec<u8>,
    seen: std::collections::HashSet<String>,
    request: Vec<u8>,
    /// Whether the lines are this process's own spool (see [`crate::jsonl::split_spooled_line`]).
    spooled: bool,
}

impl<A> RequestsWriter<A>
where
    A: std::ops::Deref,
    A::Target: Sender,
{
    /// A writer into memory while the process's budget for requests allows, else into a
    /// private temp file.
    pub(crate) fn new(api: A, settings: &crate::settings::RunSettings) -> Result<Self, Error> {
        Ok(RequestsWriter {
            api,
            settings: settings.clone(),
            model: settings.provider.api_model(&settings.model_name).to_owned(),
            out: Sink::new(&PROCESS_BUDGET).map_err(|source| Error::Io {
                path: std::env::temp_dir(),
                source,
            })?,
            count: 0,
            hashed: Vec::new(),
            seen: std::collections::HashSet::new(),
            request: Vec::new(),
            spooled: false,
        })
    }

    /// A writer of lines from this process's own spool, as they are uploaded.
    pub(crate) fn of_spool(api: A, settings: &crate::settings::RunSettings) -> Result<Self, Error> {
        Ok(RequestsWriter {
            spooled: true,
            ..Self::new(api, settings)?
        })
    }

    /// One line of the job's input; why it cannot be sent, when it cannot.
    fn write_line(&mut self, line: &[u8]) -> Result<(), String> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        // The run wrote these lines: split at their ends, without reading each body through
        // (the API reads it); any other form is read the general way.
        let spooled = self
            .spooled
            .then(|| crate::jsonl::split_spooled_line(line))
            .flatten();
        let split = match spooled {
            Some((id, body)) => Some((std::borrow::Cow::Borrowed(id), body)),
            None => crate::jsonl::split_input_line(line)
                .map(|(id, body)| (std::borrow::Cow::Owned(id), body)),
        };
        let (record_id, body) = match split {
            Some(split) => split,
            None => {
                let record: InputLine = serde_json::from_slice(line).map_err(|e| e.to_string())?;
                let Some(record_id) = record.record_id else {
                    return Err(format!(
                        "the line has no recordId, which a {} batch needs as its custom_id",
                        self.api.provider()
                    ));
                };
                (record_id, record.model_input.get())
            }
        };
        if !body.trim_start().starts_with('{') {
            return Err("modelInput is not a JSON object".into());
        }
        let custom_id = ids::custom_id(&record_id);
        // The spool's ids are unique already, and a plain id never shares a hashed one's
        // form: only the hashed ones of a spool need the check.
        let checked = !self.spooled || matches!(custom_id, std::borrow::Cow::Owned(_));
        if checked && !self.seen.insert(custom_id.to_string()) {
            return Err(format!("the record id `{record_id}` is used twice"));
        }
        if custom_id != record_id.as_ref() {
            serde_json::to_writer(&mut self.hashed, &[custom_id.as_ref(), record_id.as_ref()])
                .unwrap_or_default();
            self.hashed.push(b'\n');
        }
        self.request.clear();
        let (api, settings, model) = (&*self.api, &self.settings, self.model.as_str());
        if !api.write_request(settings, &custom_id, body, model, &mut self.request) {
            self.request.clear();
            let Ok(Value::Object(body)) = serde_json::from_str(body) else {
                return Err("modelInput is not a JSON object".into());
            };
            serde_json::to_writer(
                &mut self.request,
                &api.request(settings, &custom_id, body, model),
            )
            .map_err(|e| e.to_string())?;
        }
        let io = |e: std::io::Error| format!("the requests could not be written: {e}");
        if self.count > 0 {
            self.out.write_all(api.separator()).map_err(io)?;
        }
        self.out.write_all(&self.request).map_err(io)?;
        self.count += 1;
        Ok(())
    }

    /// The requests written.
    fn finish_requests(self) -> Result<Requests, Error> {
        Ok(Requests {
            body: self.out.finish().map_err(|source| Error::Io {
                path: std::env::temp_dir(),
                source,
            })?,
            count: self.count,
            hashed: self.hashed,
        })
    }
}

/// How many bytes of requests a process holds in memory at once, across its runs and jobs,
/// between the upload that writes them and the create that sends them; a job's requests past
/// it go to a temp file instead.
const REQUESTS_IN_MEMORY: usize = 64 << 20;

/// What requests are held in memory in: pieces of this size, sent one after the other.
const PIECE: usize = 4 << 20;

/// The process's budget for requests held in memory.
static PROCESS_BUDGET: Budget = Budget::new(REQUESTS_IN_MEMORY);

/// Where a [`RequestsWriter`] writes: pieces in memory, the last one filling, while the
/// budget allows; a temp file once it does not.
enum Sink {
    Memory {
        held: HeldPieces,
        filling: Vec<u8>,
    },
    File {
        temp: tempfile::NamedTempFile,
        out: std::io::BufWriter<std::fs::File>,
    },
}

impl Sink {
    fn new(budget: &'static Budget) -> std::io::Result<Sink> {
        let mut held = HeldPieces::new(budget);
        if held.take(PIECE) {
            return Ok(Sink::Memory {
                held,
                filling: Vec::with_capacity(PIECE),
            });
        }
        Sink::file(&[])
    }

    /// A temp file holding `pieces` to begin with.
    fn file(pieces: &[&[u8]]) -> std::io::Result<Sink> {
        let temp = tempfile::NamedTempFile::new()?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, temp.as_file().try_clone()?);
        for piece in pieces {
            out.write_all(piece)?;
        }
        Ok(Sink::File { temp, out })
    }

    fn write_all(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        loop {
            match self {
                Sink::File { out, .. } => return out.write_all(bytes),
                Sink::Memory { held, filling } => {
                    let room = PIECE.saturating_sub(filling.len()).min(bytes.len());
                    let (now, rest) = bytes.split_at(room);
                    filling.extend_from_slice(now);
                    bytes = rest;
                    if bytes.is_empty() {
                        return Ok(());
                    }
                    // The piece is full: the next one, if the budget has room for it.
                    if held.take(PIECE) {
                        let full = std::mem::replace(filling, Vec::with_capacity(PIECE));
                        held.pieces.push(Bytes::from(full));
                    } else {
                        let mut pieces: Vec<&[u8]> = held.pieces.iter().map(|p| &p[..]).collect();
                        pieces.push(filling.as_slice());
                        let file = Sink::file(&pieces)?;
                        // Written out, the pieces give their budget back.
                        *self = file;
                    }
                }
            }
        }
    }

    fn finish(self) -> std::io::Result<RequestsBody> {
        match self {
            Sink::Memory { mut held, filling } => {
                if !filling.is_empty() {
                    held.pieces.push(Bytes::from(filling));
                }
                Ok(RequestsBody::Memory(held))
            }
            Sink::File { temp, mut out } => {
                out.flush()?;
                Ok(RequestsBody::File(temp))
            }
        }
    }
}

impl RequestsBody {
    /// The requests as a body to send.
    pub(crate) fn source(&self) -> Source {
        match self {
            RequestsBody::Memory(held) => Source::Memory(held.pieces.clone()),
            RequestsBody::File(temp) => Source::File(temp.path().to_owned()),
        }
    }

    /// The requests' bytes, for tests.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> std::io::Result<Vec<u8>> {
        match self {
            RequestsBody::Memory(held) => Ok(held.pieces.concat()),
            RequestsBody::File(temp) => std::fs::read(temp.path()),
        }
    }
}

impl<A> RequestLines for RequestsWriter<A>
where
    A: std::ops::Deref + Send,
    A::Target: Sender,
{
    fn line(&mut self, line: &[u8]) -> Result<(), String> {
        self.write_line(line)
    }

    fn finish(self: Box<Self>) -> Result<Requests, Error> {
        self.finish_requests()
    }
}

/// The job's requests as the API takes them, read from its input in the store.
async fn requests_file<S: Sender>(
    api: &S,
    store: &dyn FileStore,
    settings: &crate::settings::RunSettings,
    input: &str,
) -> Result<Requests, Error> {
    let mut writer = RequestsWriter::new(api, settings)?;
    for file in store.input_files(input).await? {
        let mut lines = store.lines(&file).await?;
        let mut number = 0usize;
        while let Some(line) = lines.next_line().await? {
            number += 1;
            writer.write_line(&line).map_err(|reason| Error::Corrupt {
                object: format!("{file}, line {number}"),
                reason,
            })?;
        }
    }
    writer.finish_requests()
}

/// Creates `job`'s batch once, whatever other processes do with the same job.
pub(crate) async fn create_once<S: Sender>(
    api: &S,
    register: &Register,
    job: &JobRequest<'_>,
) -> Result<String, Error> {
    let store = register.store.as_ref();
    let read;
    let written = match job.requests {
        Some(requests) => requests,
        None => {
            read = requests_file(api, store, job.settings, job.input).await?;
            &read
        }
    };
    let requests = written.body.source();
    let (records, hashed) = (written.count, &written.hashed);
    if records == 0 {
        return Err(Error::Corrupt {
            object: job.input.to_owned(),
            reason: "the job's input has no requests".into(),
        });
    }
    let owner = process_owner();
    let mut attempts = 0;
    let fresh = BatchEntry {
        job_name: job.job_name.to_owned(),
        token: job.token.to_owned(),
        model: job.settings.model_name.clone(),
        input: job.input.to_owned(),
        output: job.output.to_owned(),
        records,
        batch_id: None,
        reserved_at: unix_now(),
        owner: owner.clone(),
        hashed_ids: !hashed.is_empty(),
    };
    if !hashed.is_empty() {
        let url = store.url(&Register::ids_key(job.job_name));
        let mut writer = store.put_input(&url);
        writer.write(hashed).await?;
        writer.finish().await?;
    }
    loop {
        let Some((entry, version)) = register.get(job.job_name).await? else {
            match register.put(&fresh, Expected::Absent).await? {
                Put::Written(version) => {
                    let sent = send(api, register, job, &requests, fresh.clone(), version);
                    match sent.await {
                        Err(err) if may_pass(&err, &mut attempts) => {
                            wait_after(&err, attempts, job).await;
                            continue;
                        }
                        other => return other,
                    }
                }
                Put::Conflict => continue,
            }
        };
        if entry.token != job.token {
            return Err(Error::InvalidConfig {
                field: "job_name",
                reason: format!(
                    "the store has a {} batch for job `{}` made with other settings or inputs; \
                     choose another job name, or resume the run that made it",
                    api.provider(),
                    job.job_name
                ),
            });
        }
        if let Some(id) = entry.batch_id {
            return Ok(id);
        }
        let age = unix_now().saturating_sub(entry.reserved_at);
        if entry.owner != owner && age < LEASE_SECONDS {
            tracing::info!(job_name = %job.job_name, owner = %entry.owner, "another process is creating this job; waiting for it");
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            continue;
        }
        if let Some(id) = api.unrecorded(&entry).await? {
            tracing::info!(batch_id = %id, job_name = %job.job_name, "found the batch an interrupted create made: adopting it");
            register.index(&id, job.job_name).await?;
            let adopted = BatchEntry {
                batch_id: Some(id.clone()),
                ..entry
            };
            if let Put::Written(_) = register
                .put(&adopted, Expected::Unchanged(&version))
                .await?
            {
                return Ok(id);
            }
            continue;
        }
        let taken = BatchEntry {
            reserved_at: unix_now(),
            owner: owner.clone(),
            ..fresh.clone()
        };
        if let Put::Written(version) = register.put(&taken, Expected::Unchanged(&version)).await? {
            match send(api, register, job, &requests, taken, version).await {
                Err(err) if may_pass(&err, &mut attempts) => {
                    wait_after(&err, attempts, job).await;
                }
                other => return other,
            }
        }
    }
}

/// Whether a failed send may be tried again: a failure that may pass, while tries are left.
/// The next try first looks for the batch the failed one may have made.
fn may_pass(err: &Error, attempts: &mut u32) -> bool {
    *attempts += 1;
    err.is_retryable() && *attempts < SEND_ATTEMPTS
}

async fn wait_after(err: &Error, attempts: u32, job: &JobRequest<'_>) {
    let wait = super::http::Backoff::default().wait(attempts);
    tracing::warn!(job_name = %job.job_name, error = %err, ?wait, "the batch could not be sent; looking for it, then sending again");
    tokio::time::sleep(wait).await;
}

/// Sends the batch of a reserved entry and records its id.
async fn send<S: Sender>(
    api: &S,
    register: &Register,
    job: &JobRequest<'_>,
    requests: &Source,
    mut entry: BatchEntry,
    mut version: String,
) -> Result<String, Error> {
    let id = match api.send(job, requests, &entry).await {
        Ok(id) => id,
        Err(err) => {
            // Refused, so nothing was made: the reservation is let go at once, so that
            // another process need not wait it out.
            let refused = err
                .aws_kind()
                .is_some_and(|kind| !matches!(kind, AwsErrorKind::Network | AwsErrorKind::Service));
            if refused {
                let released = BatchEntry {
                    reserved_at: 0,
                    ..entry
                };
                let _ = register.put(&released, Expected::Unchanged(&version)).await;
            }
            return Err(err);
        }
    };
    tracing::info!(provider = api.provider(), batch_id = %id, job_name = %entry.job_name, requests = entry.records, "batch created");
    register.index(&id, &entry.job_name).await?;
    loop {
        entry.batch_id = Some(id.clone());
        match register.put(&entry, Expected::Unchanged(&version)).await? {
            Put::Written(_) => return Ok(id),
            Put::Conflict => {
                // Another process touched the entry (it found the reservation old): the batch
                // is this one's all the same, unless that process recorded one.
                let Some((now, v)) = register.get(&entry.job_name).await? else {
                    return Ok(id);
                };
                if let Some(theirs) = &now.batch_id
                    && *theirs != id
                {
                    tracing::warn!(ours = %id, %theirs, job_name = %entry.job_name, "two batches were made for one job; cancelling ours");
                    let _ = api.cancel(&id).await;
                    return Ok(theirs.clone());
                }
                entry = now;
                version = v;
            }
        }
    }
}

/// For the backends' tests: the requests `api` writes from a body's text are the ones it
/// builds from the body's value, for chat and embedding runs, and at least `fast` of the
/// sample bodies take the fast path.
#[cfg(test)]
pub(crate) fn fast_requests_agree<S: Sender>(
    api: &S,
    fast: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    const BODIES: [&str; 4] = [
        r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[{"role":"user","content":"a \"anthropic_version\" b"}]}"#,
        r#"{}"#,
        r#" {"contents":[{"role":"user","parts":[{"text":"x"}]}],"generationConfig":{"maxOutputTokens":3}} "#,
        r#"{"max_tokens":5,"anthropic_version":"bedrock-2023-05-31"}"#,
    ];
    let mut settings = crate::settings::RunSettings::default();
    for embedding in [false, true] {
        settings.embedding = embedding.then(Default::default);
        let mut fast_ones = 0;
        for body in BODIES {
            let mut written = Vec::new();
            let general = api.request(&settings, "r-1", serde_json::from_str(body)?, "m-1");
            if api.write_request(&settings, "r-1", body, "m-1", &mut written) {
                fast_ones += 1;
                assert_eq!(
                    serde_json::from_slice::<Value>(&written)?,
                    general,
                    "{body}"
                );
            }
        }
        assert!(
            fast_ones >= fast,
            "{fast_ones} of the bodies took the fast path"
        );
    }
    Ok(())
}

/// For the backends' tests: the requests written ahead from a spool's lines as they are
/// uploaded are byte for byte the ones read back from the same input in `store`, the table of
/// hashed ids too, for ids plain, quoted and too long to send.
#[cfg(test)]
pub(crate) fn spooled_requests_agree<S: Sender>(
    api: &S,
    store: &dyn FileStore,
) -> Result<(), Box<dyn std::error::Error>> {
    let body = serde_json::json!({
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "a \"quoted\" } brace"}],
    });
    let long = "x".repeat(100);
    let mut input = Vec::new();
    for id in ["r-1", "with \"quotes\"", long.as_str(), "\u{e9}t\u{e9}"] {
        crate::jsonl::encode_input_line(id, &body, &mut input);
    }
    let settings = crate::settings::RunSettings {
        model_name: "m-1".into(),
        ..Default::default()
    };
    let url = store.url("input/job.jsonl");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let read = runtime.block_on(async {
        let mut writer = store.put_input(&url);
        writer.write(&input).await?;
        writer.finish().await?;
        requests_file(api, store, &settings, &url).await
    })?;
    let mut ahead: Box<dyn RequestLines + '_> = Box::new(RequestsWriter::of_spool(api, &settings)?);
    for line in input.split(|b| *b == b'\n') {
        ahead.line(line)?;
    }
    let ahead = ahead.finish()?;
    assert_eq!(ahead.body.bytes()?, read.body.bytes()?);
    assert_eq!((ahead.count, &ahead.hashed), (4, &read.hashed));
    // Every id but the plain one goes as a hash.
    assert_eq!(ahead.hashed.iter().filter(|b| **b == b'\n').count(), 3);
    Ok(())
}

/// For the backends' tests: a store in a temporary folder.
#[cfg(test)]
pub(crate) fn test_store()
-> Result<(tempfile::TempDir, std::sync::Arc<dyn FileStore>), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_str().ok_or("a UTF-8 temp path")?;
    let store = crate::store::folder::FolderStore::new(path)?;
    Ok((dir, std::sync::Arc::new(store)))
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    /// Requests stay in memory while the budget has room, and go to a temp file, whole and in
    /// order, once it has not; the budget is given back either way.
    #[test]
    fn requests_past_the_budget_go_to_a_file() -> Result<(), Box<dyn std::error::Error>> {
        static BUDGET: Budget = Budget::new(2 * PIECE);
        let bytes: Vec<u8> = (0..PIECE * 2 + PIECE / 2)
            .map(|i| (i % 253) as u8)
            .collect();
        // Within the budget: two pieces in memory.
        let mut sink = Sink::new(&BUDGET)?;
        for line in bytes[..PIECE * 2].chunks(100_003) {
            sink.write_all(line)?;
        }
        let held = sink.finish()?;
        assert!(matches!(&held, RequestsBody::Memory(h) if h.pieces.len() == 2));
        assert_eq!(held.bytes()?, &bytes[..PIECE * 2]);
        assert_eq!(BUDGET.held(), 2 * PIECE);
        // The budget is all held: the next writer starts in a file.
        assert!(matches!(
            Sink::new(&BUDGET)?.finish()?,
            RequestsBody::File(_)
        ));
        drop(held);
        assert_eq!(BUDGET.held(), 0);
        // Past the budget: what was in memory is written out first.
        let mut sink = Sink::new(&BUDGET)?;
        for line in bytes.chunks(77_777) {
            sink.write_all(line)?;
        }
        let spilled = sink.finish()?;
        assert!(matches!(spilled, RequestsBody::File(_)));
        assert_eq!(spilled.bytes()?, bytes);
        assert_eq!(BUDGET.held(), 0);
        Ok(())
    }
}
