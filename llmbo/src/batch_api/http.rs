//! The one HTTP client of the batch APIs beside Bedrock: reqwest over rustls, timeouts, and
//! back-off with jitter on throttling and server errors that honours `retry-after`.
//!
//! A call that may have taken effect is never sent twice blindly: a request that is not
//! idempotent (creating a batch, uploading a file) is retried only when the provider said it
//! did nothing (HTTP 429, or the connection never opened); what else happened to it is for
//! the caller to find out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::error::{AwsErrorKind, Error};

/// An API key: never printed, in `Debug` or in logs.
#[derive(Clone)]
pub(crate) struct ApiKey(Arc<str>);

impl ApiKey {
    pub(crate) fn new(key: impl Into<String>) -> Self {
        ApiKey(Arc::from(key.into()))
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(redacted)")
    }
}

/// How a provider takes its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// `x-api-key: <key>` (Anthropic).
    #[cfg(feature = "anthropic")]
    XApiKey,
    /// `Authorization: Bearer <key>` (OpenAI).
    #[cfg(feature = "openai")]
    Bearer,
    /// `x-goog-api-key: <key>` (Gemini).
    #[cfg(feature = "gemini")]
    GoogApiKey,
}

/// How often, and how long apart, a failed call is tried again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    /// Tries in all, the first included.
    pub(crate) attempts: u32,
    /// The first wait's ceiling; each later one doubles it.
    pub(crate) base: Duration,
    /// The longest wait, `retry-after` included.
    pub(crate) cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            attempts: 8,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The wait before try `attempt + 1` (from 1): a random part of the doubled ceiling
    /// ("full jitter"), so that many clients throttled at once do not come back at once.
    pub(crate) fn wait(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.cap);
        let ceiling_ms = u64::try_from(ceiling.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        Duration::from_millis(random() % ceiling_ms + 1)
    }
}

/// A random number from the standard library's per-process hash keys, new for each call.
pub(crate) fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

/// What a call sends.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    /// Nothing.
    Empty,
    /// A JSON document.
    Json(Bytes),
    /// A large body between a head and a tail (a batch's requests, a multipart upload),
    /// streamed from where it is held, again for each try.
    #[cfg_attr(not(any(feature = "anthropic", feature = "openai")), allow(dead_code))]
    File {
        head: Bytes,
        body: Source,
        tail: Bytes,
        content_type: String,
    },
    /// `len` bytes of a body from `offset` (a chunk of a resumable upload).
    #[cfg_attr(not(feature = "gemini"), allow(dead_code))]
    Chunk { body: Source, offset: u64, len: u64 },
}

/// Where a large body is held: a file, read as it is sent, or pieces in memory.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    File(PathBuf),
    Memory(Vec<Bytes>),
}

impl Source {
    /// How many bytes the body holds.
    #[cfg_attr(not(feature = "gemini"), allow(dead_code))]
    pub(crate) async fn len(&self) -> Result<u64, Error> {
        match self {
            Source::File(path) => open_len(path).await.map(|(_, len)| len),
            Source::Memory(pieces) => Ok(pieces.iter().map(|p| p.len() as u64).sum()),
        }
    }

    /// The body's bytes from `offset`, `len` of them (to its end, when `None`), as a stream
    /// and its length. A body shorter than asked for is an error, at once for memory, at the
    /// end of the stream for a file.
    #[cfg_attr(
        not(any(feature = "anthropic", feature = "openai", feature = "gemini")),
        allow(dead_code)
    )]
    async fn stream(
        &self,
        offset: u64,
        len: Option<u64>,
    ) -> Result<
        (
            impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
            u64,
        ),
        Error,
    > {
        use futures_util::future::Either;
        match self {
            Source::File(path) => {
                let (file, size) = open_len(path).await?;
                let len = len.unwrap_or_else(|| size.saturating_sub(offset));
                Ok((Either::Left(file_stream(file, offset, len)), len))
            }
            Source::Memory(pieces) => {
                let size: u64 = pieces.iter().map(|p| p.len() as u64).sum();
                let len = len.unwrap_or_else(|| size.saturating_sub(offset));
                let slices = slices(pieces, offset, len).ok_or_else(|| Error::Internal {
                    what: "sending a batch's requests",
                    reason: format!(
                        "{len} bytes from {offset} were to be sent of requests held in {size}"
                    ),
                })?;
                Ok((
                    Either::Right(futures_util::stream::iter(slices.into_iter().map(Ok))),
                    len,
                ))
            }
        }
    }
}

/// The parts of `pieces`, one after the other, that hold `len` bytes from `offset`; `None`
/// when they hold fewer.
fn slices(pieces: &[Bytes], offset: u64, len: u64) -> Option<Vec<Bytes>> {
    let mut out = Vec::new();
    let (mut skip, mut left) = (offset, len);
    for piece in pieces {
        if left == 0 {
            break;
        }
        let size = piece.len() as u64;
        if skip >= size {
            skip -= size;
            continue;
        }
        let end = size.min(skip + left);
        out.push(piece.slice(usize::try_from(skip).ok()?..usize::try_from(end).ok()?));
        left -= end - skip;
        skip = 0;
    }
    (left == 0).then_some(out)
}

/// A file opened to be sent, and its length.
#[cfg_attr(
    not(any(feature = "anthropic", feature = "openai", feature = "gemini")),
    allow(dead_code)
)]
async fn open_len(path: &std::path::Path) -> Result<(std::fs::File, u64), Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let file = tokio::fs::File::open(path).await.map_err(io)?;
    let len = file.metadata().await.map_err(io)?.len();
    Ok((file.into_std().await, len))
}

/// What a body read from a file is sent in: large reads, few of them.
const FILE_CHUNK: usize = 4 << 20;

/// `len` bytes of `file` from `offset`, read on a blocking thread of their own in large pieces
/// and handed over as they are read, a few pieces ahead of the connection: a body of any size
/// in bounded memory, without a trip to the blocking pool for every small read.
#[cfg_attr(
    not(any(feature = "anthropic", feature = "openai", feature = "gemini")),
    allow(dead_code)
)]
fn file_stream(
    mut file: std::fs::File,
    offset: u64,
    len: u64,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(2);
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek};
        if let Err(err) = file.seek(std::io::SeekFrom::Start(offset)) {
            let _ = sender.blocking_send(Err(err));
            return;
        }
        let mut left = len;
        while left > 0 {
            let want = usize::try_from(left).map_or(FILE_CHUNK, |l| l.min(FILE_CHUNK));
            let mut piece = vec![0; want];
            let read = match file.read(&mut piece) {
                Ok(0) => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file ended before the body it was to send",
                )),
                Ok(read) => Ok(read),
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => Err(err),
            };
            let sent = match read {
                Ok(read) => {
                    piece.truncate(read);
                    left -= read as u64;
                    sender.blocking_send(Ok(Bytes::from(piece)))
                }
                Err(err) => {
                    let _ = sender.blocking_send(Err(err));
                    return;
                }
            };
            // The request went away (sent, failed or dropped): nothing more to read.
            if sent.is_err() {
                return;
            }
        }
    });
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|piece| (piece, receiver))
    })
}

/// One provider's API: its base URL, key and headers.
#[derive(Clone)]
pub(crate) struct ApiClient {
    /// The provider's name in errors (`Anthropic`).
    pub(crate) provider: &'static str,
    /// The base URL, without a trailing `/` (`https://api.anthropic.com`).
    base: String,
    key: ApiKey,
    auth: Auth,
    /// Headers every call carries (`anthropic-version`).
    headers: Vec<(&'static str, String)>,
    http: reqwest::Client,
    pub(crate) backoff: Backoff,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("provider", &self.provider)
            .field("base", &self.base)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client of `base` with `key`, connecting within 10 s and waiting at most 5 minutes
    /// for each part of an answer.
    pub(crate) fn new(
        provider: &'static str,
        base: &str,
        key: ApiKey,
        auth: Auth,
        headers: Vec<(&'static str, String)>,
    ) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(300))
            .user_agent(concat!("llmbo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::InvalidConfig {
                field: "http client",
                reason: format!("the HTTP client could not be made: {e}"),
            })?;
        Ok(ApiClient {
            provider,
            base: base.trim_end_matches('/').to_owned(),
            key,
            auth,
            headers,
            http,
            backoff: Backoff::default(),
        })
    }

    /// The URL of `path`: a path of the API (`/v1/...`), or a whole URL the API gave.
    pub(crate) fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    async fn request(
        &self,
        method: &reqwest::Method,
        url: &str,
        payload: &Payload,
        headers: &[(&'static str, String)],
    ) -> Result<reqwest::RequestBuilder, Error> {
        let mut request = self.http.request(method.clone(), url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request = match self.auth {
            #[cfg(feature = "anthropic")]
            Auth::XApiKey => request.header("x-api-key", self.key.expose()),
            #[cfg(feature = "openai")]
            Auth::Bearer => request.bearer_auth(self.key.expose()),
            #[cfg(feature = "gemini")]
            Auth::GoogApiKey => request.header("x-goog-api-key", self.key.expose()),
        };
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        Ok(match payload {
            Payload::Empty => request,
            Payload::Json(bytes) => request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes.clone()),
            Payload::File {
                head,
                body,
                tail,
                content_type,
            } => {
                let (stream, len) = body.stream(0, None).await?;
                let total = head.len() as u64 + len + tail.len() as u64;
                let head = futures_util::stream::once(std::future::ready(Ok::<_, std::io::Error>(
                    head.clone(),
                )));
                let tail = futures_util::stream::once(std::future::ready(Ok::<_, std::io::Error>(
                    tail.clone(),
                )));
                let body = futures_util::StreamExt::chain(
                    futures_util::StreamExt::chain(head, stream),
                    tail,
                );
                request
                    .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                    .header(reqwest::header::CONTENT_LENGTH, total)
                    .body(reqwest::Body::wrap_stream(body))
            }
            Payload::Chunk { body, offset, len } => {
                let (stream, len) = body.stream(*offset, Some(*len)).await?;
                request
                    .header(reqwest::header::CONTENT_LENGTH, len)
                    .body(reqwest::Body::wrap_stream(stream))
            }
        })
    }

    /// Sends a call and returns the answer when it succeeded; tries again as the back-off
    /// says when it may. `idempotent`: whether sending it twice does no harm.
    pub(crate) async fn send(
        &self,
        operation: &'static str,
        method: reqwest::Method,
        path: &str,
        payload: &Payload,
        idempotent: bool,
    ) -> Result<reqwest::Response, Error> {
        self.send_with(operation, method, path, payload, idempotent, &[])
            .await
    }

    /// [`send`](Self::send) with more headers (a resumable upload's commands).
    pub(crate) async fn send_with(
        &self,
        operation: &'static str,
        method: reqwest::Method,
        path: &str,
        payload: &Payload,
        idempotent: bool,
        headers: &[(&'static str, String)],
    ) -> Result<reqwest::Response, Error> {
        let url = self.url(path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = self.request(&method, &url, payload, headers).await?;
            let (err, told_wait) = match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let told_wait = retry_after(response.headers());
                    let body = response.bytes().await.unwrap_or_default();
                    (self.refusal(operation, status, &body), told_wait)
                }
                Err(err) => (self.no_answer(operation, &err), None),
            };
            let may_retry = match &err {
                Error::Api { kind, code, .. } => {
                    kind.is_retryable()
                        && (idempotent || *kind == AwsErrorKind::Throttled || code == "connect")
                }
                _ => false,
            };
            if !may_retry || attempt >= self.backoff.attempts {
                return Err(err);
            }
            let wait = told_wait
                .unwrap_or_else(|| self.backoff.wait(attempt))
                .min(self.backoff.cap);
            tracing::debug!(provider = self.provider, operation, attempt, ?wait, error = %err, "trying again");
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends a call and reads its answer as JSON.
    pub(crate) async fn json(
        &self,
        operation: &'static str,
        method: reqwest::Method,
        path: &str,
        payload: &Payload,
        idempotent: bool,
    ) -> Result<serde_json::Value, Error> {
        let response = self
            .send(operation, method, path, payload, idempotent)
            .await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.no_answer(operation, &e))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Api {
            provider: self.provider,
            operation,
            kind: AwsErrorKind::Other,
            code: String::new(),
            message: format!("the answer is not JSON: {e}"),
        })
    }

    /// The error of an answer that cannot be read as the API documents it.
    pub(crate) fn unreadable(&self, operation: &'static str, what: &str) -> Error {
        Error::Api {
            provider: self.provider,
            operation,
            kind: AwsErrorKind::Other,
            code: String::new(),
            message: what.to_owned(),
        }
    }

    /// A batch as JSON (`GET path`); a 404 is [`Error::JobNotFound`] of `id`.
    pub(crate) async fn get_job(&self, path: &str, id: &str) -> Result<serde_json::Value, Error> {
        self.json(
            "get batch",
            reqwest::Method::GET,
            path,
            &Payload::Empty,
            true,
        )
        .await
        .map_err(|err| match err {
            Error::Api {
                kind: AwsErrorKind::NotFound,
                ..
            } => Error::JobNotFound {
                job_arn: id.to_owned(),
            },
            other => other,
        })
    }

    /// A file the API serves (results, an output file), read line by line as it arrives,
    /// each line made Bedrock's by `map`.
    pub(crate) async fn lines(
        &self,
        operation: &'static str,
        url: &str,
        map: crate::backend::LineMap,
    ) -> Result<crate::backend::Lines, Error> {
        use futures_util::TryStreamExt;
        let response = self
            .send(operation, reqwest::Method::GET, url, &Payload::Empty, true)
            .await?;
        let stream = response.bytes_stream().map_err(std::io::Error::other);
        let reader = tokio_util::io::StreamReader::new(stream);
        let provider = self.provider;
        Ok(crate::backend::Lines::new(
            Box::new(tokio::io::BufReader::with_capacity(256 * 1024, reader)),
            url.to_owned(),
            move |file, err| Error::Api {
                provider,
                operation,
                kind: AwsErrorKind::Network,
                code: String::new(),
                message: format!("reading {file}: {err}"),
            },
        )
        .mapped(map))
    }

    /// One request answered now (`POST path` with `body`): the response body, the request's
    /// own refusal, or an error that may pass (throttling, a 5xx, no answer) or is the
    /// caller's (a key refused).
    pub(crate) async fn answer(
        &self,
        operation: &'static str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<crate::backend::Answered, Error> {
        use crate::backend::Answered;
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let sent = self
            .send(
                operation,
                reqwest::Method::POST,
                path,
                &Payload::Json(bytes.into()),
                true,
            )
            .await;
        match sent {
            Ok(response) => {
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| self.no_answer(operation, &e))?;
                Ok(Answered::Output(bytes.to_vec()))
            }
            Err(Error::Api {
                kind,
                code,
                message,
                ..
            }) if !kind.is_retryable() && kind != AwsErrorKind::AccessDenied => {
                Ok(Answered::Refused { code, message })
            }
            Err(err) => Err(err),
        }
    }

    /// The error of an answer with a failing status: the provider's error type and message
    /// (`{"error": {"type"|"code"|"status", "message"}}`, which all three use), else the
    /// status and the start of the body.
    fn refusal(&self, operation: &'static str, status: u16, body: &[u8]) -> Error {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let error = parsed.as_ref().and_then(|v| v.get("error"));
        let field = |name: &str| {
            error
                .and_then(|e| e.get(name))
                .and_then(|v| match v {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .filter(|s| !s.is_empty())
        };
        let code = field("type")
            .or_else(|| field("code"))
            .or_else(|| field("status"))
            .unwrap_or_else(|| status.to_string());
        let message = field("message").unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(200).collect();
            format!("HTTP {status}: {}", text.trim())
        });
        let kind = match (status, code.as_str()) {
            (429 | 529, _)
            | (_, "rate_limit_error" | "overloaded_error" | "RESOURCE_EXHAUSTED") => {
                AwsErrorKind::Throttled
            }
            (401 | 403, _) => AwsErrorKind::AccessDenied,
            (404, _) => AwsErrorKind::NotFound,
            (409 | 412, _) => AwsErrorKind::Conflict,
            (413, _) | (400..=499, _) => AwsErrorKind::Validation,
            (500..=599, _) => AwsErrorKind::Service,
            _ => AwsErrorKind::Other,
        };
        Error::Api {
            provider: self.provider,
            operation,
            kind,
            code,
            message,
        }
    }

    /// The error of a call that got no answer. `connect` when the connection never opened
    /// (nothing was sent, so any call may be tried again).
    pub(crate) fn no_answer(&self, operation: &'static str, err: &reqwest::Error) -> Error {
        let code = if err.is_connect() { "connect" } else { "" };
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Error::Api {
            provider: self.provider,
            operation,
            kind: if err.is_decode() || err.is_body() && !err.is_timeout() {
                AwsErrorKind::Other
            } else {
                AwsErrorKind::Network
            },
            code: code.into(),
            message,
        }
    }
}

/// The wait a throttled answer asks for: `retry-after-ms`, or `retry-after` in seconds (an
/// HTTP date is not honoured: the back-off's own wait is used).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
    }
    let seconds = header("retry-after")?.trim().parse::<f64>().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body read from a file is the file's bytes from its offset, whole, across pieces; a
    /// file shorter than the body said ends the stream with an error, not a short body.
    #[tokio::test]
    async fn a_file_body_is_its_bytes_in_order() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("body");
        let bytes: Vec<u8> = (0..FILE_CHUNK * 2 + 1234)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &bytes)?;
        let read = |offset: u64, len: u64| {
            let path = path.clone();
            async move {
                let (file, _) = open_len(&path).await?;
                let mut out = Vec::new();
                let mut stream = std::pin::pin!(file_stream(file, offset, len));
                while let Some(piece) = futures_util::StreamExt::next(&mut stream).await {
                    out.extend_from_slice(&piece?);
                }
                Ok::<_, Box<dyn std::error::Error>>(out)
            }
        };
        let whole = bytes.len() as u64;
        assert_eq!(read(0, whole).await?, bytes);
        assert_eq!(
            read(7, FILE_CHUNK as u64 + 5).await?,
            &bytes[7..FILE_CHUNK + 12]
        );
        assert_eq!(read(whole - 3, 3).await?, &bytes[bytes.len() - 3..]);
        assert!(read(0, 0).await?.is_empty());
        assert!(read(10, whole).await.is_err(), "past the end");
        Ok(())
    }

    /// A body held in memory is sent as the same bytes a file would be: any range of it,
    /// across its pieces, and a range past its end is an error, not a short body.
    #[tokio::test]
    async fn a_body_in_memory_is_its_bytes_in_order() -> Result<(), Box<dyn std::error::Error>> {
        let bytes: Vec<u8> = (0..10_000).map(|i| (i % 251) as u8).collect();
        let pieces: Vec<Bytes> = [3000, 1, 4000, 2999]
            .iter()
            .scan(0, |at, len| {
                let piece = Bytes::copy_from_slice(&bytes[*at..*at + len]);
                *at += len;
                Some(piece)
            })
            .collect();
        let body = Source::Memory(pieces);
        assert_eq!(body.len().await?, 10_000);
        for (offset, len) in [
            (0, None),
            (0, Some(10_000)),
            (2999, Some(3)),
            (3001, Some(5000)),
            (9999, None),
            (10_000, Some(0)),
        ] {
            let (stream, sent) = body.stream(offset, len).await?;
            let mut out = Vec::new();
            let mut stream = std::pin::pin!(stream);
            while let Some(piece) = futures_util::StreamExt::next(&mut stream).await {
                out.extend_from_slice(&piece?);
            }
            let at = usize::try_from(offset)?;
            let end = len.map_or(bytes.len(), |len| at + usize::try_from(len).unwrap_or(0));
            assert_eq!(out, &bytes[at..end], "{offset} {len:?}");
            assert_eq!(sent as usize, end - at);
        }
        assert!(
            body.stream(9_000, Some(1_001)).await.is_err(),
            "past the end"
        );
        Ok(())
    }

    #[test]
    fn waits_grow_and_stay_under_the_cap() {
        let backoff = Backoff {
            attempts: 10,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        for attempt in 1..10 {
            for _ in 0..50 {
                let wait = backoff.wait(attempt);
                let ceiling = (100u64 << (attempt - 1)).min(1000);
                assert!(
                    wait <= Duration::from_millis(ceiling + 1),
                    "{wait:?} at {attempt}"
                );
            }
        }
        // Jitter: the waits of one attempt are not all the same.
        let waits: std::collections::HashSet<_> = (0..20).map(|_| backoff.wait(5)).collect();
        assert!(waits.len() > 1);
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_milliseconds() -> Result<(), Box<dyn std::error::Error>> {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "2".parse()?);
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "150".parse()?);
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        headers.clear();
        headers.insert("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".parse()?);
        assert_eq!(retry_after(&headers), None);
        Ok(())
    }

    #[cfg(feature = "anthropic")]
    #[test]
    fn keys_are_never_printed() -> Result<(), Error> {
        let client = ApiClient::new(
            "Anthropic",
            "http://localhost:1/",
            ApiKey::new("sk-secret-123"),
            Auth::XApiKey,
            Vec::new(),
        )?;
        let shown = format!("{client:?}");
        assert!(!shown.contains("sk-secret-123"), "{shown}");
        assert!(shown.contains("redacted"));
        assert_eq!(client.url("/v1/x"), "http://localhost:1/v1/x");
        Ok(())
    }

    #[cfg(feature = "anthropic")]
    #[test]
    fn provider_errors_are_read() -> Result<(), Error> {
        let client = ApiClient::new(
            "Anthropic",
            "http://localhost:1",
            ApiKey::new("k"),
            Auth::XApiKey,
            Vec::new(),
        )?;
        let err = client.refusal(
            "create batch",
            429,
            br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
        );
        assert!(err.is_retryable());
        assert_eq!(
            err.to_string(),
            "Anthropic create batch failed (throttled): rate_limit_error slow down"
        );
        let err = client.refusal("get batch", 404, b"not json");
        assert_eq!(err.aws_kind(), Some(AwsErrorKind::NotFound));
        assert!(err.to_string().contains("HTTP 404: not json"), "{err}");
        Ok(())
    }
}
