//! What the batch APIs share in llmbo-local: the ids of jobs and batches; and for those beside
//! Bedrock's, their API key, the folder that holds their requests, files and results, paging
//! and expiry.

use std::path::PathBuf;
use std::sync::Arc;

use crate::state::{Shared, lock};

/// One request to a batch API, its body read whole.
pub(crate) struct ApiRequest<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: &'a http::HeaderMap,
    pub(crate) body: &'a [u8],
}

/// Whether a request carries the server's API key: as `x-api-key` (Anthropic's header), or as
/// `Authorization: Bearer` (OpenAI's, and what newer Anthropic SDKs send); compared in
/// constant time.
pub(crate) fn key_ok(headers: &http::HeaderMap, expected: &str) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let key = header("x-api-key").or_else(|| {
        header(http::header::AUTHORIZATION.as_str()).and_then(|v| v.strip_prefix("Bearer "))
    });
    key.is_some_and(|key| same_key(key, expected))
}

/// Whether `key` is the server's key, compared in constant time.
pub(crate) fn same_key(key: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(key.trim().as_bytes().ct_eq(expected.as_bytes()))
}

/// `len` lower-case alphanumerics from a number, for ids unique to this server.
pub(crate) fn base36(n: u64, len: usize) -> String {
    let mut x = crate::faults::splitmix(n);
    (0..len)
        .map(|i| {
            if i % 12 == 11 {
                x = crate::faults::splitmix(x);
            }
            let digit = (x % 36) as u32;
            x /= 36;
            char::from_digit(digit, 36).unwrap_or('0')
        })
        .collect()
}

/// The folder of one API's files, beside the S3 objects in the data folder.
pub(crate) fn folder(shared: &Shared, api: &str) -> PathBuf {
    shared
        .s3_root
        .parent()
        .map_or_else(|| shared.s3_root.join(format!(".{api}")), |d| d.join(api))
}

/// Seconds since the epoch, as OpenAI's objects count time.
pub(crate) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// One page of a list kept oldest first, shown newest first: the items after the one `after`
/// names and before the one `before` names, at most `limit`, as JSON, with whether more
/// follow. `Err` with the id when a cursor names no item.
pub(crate) fn newest_first_page<T>(
    items: &[T],
    id: impl Fn(&T) -> &str,
    show: impl Fn(&T) -> serde_json::Value,
    (after, before): (Option<&str>, Option<&str>),
    limit: usize,
) -> Result<(Vec<serde_json::Value>, bool), String> {
    let newest_first: Vec<&T> = items.iter().rev().collect();
    let at = |cursor: &str| {
        newest_first
            .iter()
            .position(|item| id(item) == cursor)
            .ok_or_else(|| cursor.to_owned())
    };
    let start = after.map(at).transpose()?.map_or(0, |at| at + 1);
    let stop = before.map(at).transpose()?.unwrap_or(newest_first.len());
    let window = newest_first.get(start..stop.max(start)).unwrap_or_default();
    let page = window.iter().take(limit).map(|item| show(item)).collect();
    Ok((page, window.len() > limit))
}

/// A list request's `limit` (20 when not given, else 1 to `max`) and its other parameters;
/// `None` when the limit is out of bounds.
pub(crate) fn list_query(
    query: Option<&str>,
    max: usize,
) -> Option<(usize, std::collections::HashMap<String, String>)> {
    let mut params: std::collections::HashMap<String, String> =
        crate::http_util::form_pairs(query.unwrap_or(""))
            .into_iter()
            .collect();
    let limit = match params.remove("limit") {
        None => 20,
        Some(value) => value.parse().ok().filter(|n| (1..=max).contains(n))?,
    };
    Some((limit, params))
}

/// How long a batch may run before what is unanswered expires: 24 of the server's hours
/// ([`crate::Speed::hour`]), as both APIs promise results within 24 hours.
pub(crate) fn lifetime(shared: &Shared) -> std::time::Duration {
    shared.settings.speed.hour * 24
}

/// Starts answering a batch: after the server's first step, `answer` runs on a blocking
/// thread, as the job runner's work does (it reads and writes files and runs the synthetic
/// model, which must not hold up the server's other requests).
pub(crate) fn start(shared: &Arc<Shared>, answer: impl FnOnce() + Send + 'static) {
    let step = shared.settings.speed.step;
    let task = tokio::spawn(async move {
        tokio::time::sleep(step).await;
        let _ = tokio::task::spawn_blocking(answer).await;
    });
    lock(&shared.tasks).push(task.abort_handle());
}

/// A fault a call of the batch APIs gets before it is answered, as [`crate::FaultConfig`]
/// says for its operation: throttling (`throttle_rate`, `throttle_operations`), or a control
/// fault (`control_faults`; every kind but `InternalServer` is a 400 here).
pub(crate) enum CallFault {
    /// HTTP 429, with `retry-after` (1 s) and `retry-after-ms` (20 ms), which the official
    /// SDKs read first.
    Throttled,
    /// HTTP 500.
    ServerError,
    /// HTTP 400: the call is refused as it stands.
    Refused,
    /// The call is carried out, then answered with a 500.
    AnswerLost,
}

/// The fault the next call of `operation` gets, if any.
pub(crate) fn call_fault(shared: &Shared, operation: &str) -> Option<CallFault> {
    if shared.faults.next_call_throttled(operation) {
        return Some(CallFault::Throttled);
    }
    shared
        .faults
        .next_control_fault(operation)
        .map(|kind| match kind {
            crate::ControlFaultKind::InternalServer => CallFault::ServerError,
            crate::ControlFaultKind::AnswerLost => CallFault::AnswerLost,
            _ => CallFault::Refused,
        })
}

/// The reply of a faulted call: `error(status, type, message)` in the API's own error shape,
/// with the throttling headers on a 429.
pub(crate) fn fault_reply(
    fault: &CallFault,
    error: impl Fn(u16, &'static str, &str) -> crate::http_util::Reply,
    types: [&'static str; 3],
) -> crate::http_util::Reply {
    match fault {
        CallFault::Throttled => {
            let mut reply = error(
                429,
                types[0],
                "Rate limited: slow down (llmbo-local fault).",
            );
            reply.headers.push(("retry-after", "1".into()));
            reply.headers.push(("retry-after-ms", "20".into()));
            reply
        }
        CallFault::ServerError | CallFault::AnswerLost => {
            error(500, types[1], "Internal server error (llmbo-local fault).")
        }
        CallFault::Refused => error(400, types[2], "The call was refused (llmbo-local fault)."),
    }
}
