//! Building the responses of the hand-written protocols (IAM XML, Bedrock JSON).

use bytes::Bytes;

/// A response before it becomes an HTTP response.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    /// `x-amzn-errortype`, for REST-JSON errors.
    pub(crate) error_type: Option<&'static str>,
    pub(crate) body: Bytes,
    /// More response headers (the runtime's token counts, its service tier).
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(crate) fn xml(status: u16, body: String) -> Self {
        Reply {
            status,
            content_type: "text/xml",
            error_type: None,
            body: Bytes::from(body),
            headers: Vec::new(),
        }
    }

    /// Bytes as they are (a file's), of `content_type`.
    pub(crate) fn bytes(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Reply {
            status,
            content_type,
            error_type: None,
            body: Bytes::from(body),
            headers: Vec::new(),
        }
    }

    pub(crate) fn json(status: u16, body: &serde_json::Value) -> Self {
        Reply {
            status,
            content_type: "application/json",
            error_type: None,
            body: Bytes::from(body.to_string()),
            headers: Vec::new(),
        }
    }

    /// A REST-JSON error: the code in `x-amzn-errortype`, the message in the body.
    pub(crate) fn json_error(status: u16, error_type: &'static str, message: &str) -> Self {
        Reply {
            status,
            content_type: "application/json",
            error_type: Some(error_type),
            body: Bytes::from(serde_json::json!({ "message": message }).to_string()),
            headers: Vec::new(),
        }
    }
}

pub(crate) fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A request body that fails once it has sent nothing for `timeout`: a client that stalls
/// halfway through a body gets an error and loses its connection instead of holding a slot.
pub(crate) struct IdleTimeout<B> {
    inner: B,
    timeout: std::time::Duration,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl<B> IdleTimeout<B> {
    pub(crate) fn new(inner: B, timeout: std::time::Duration) -> Self {
        IdleTimeout {
            inner,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

/// Why a body was cut.
#[derive(Debug, thiserror::Error)]
#[error("the request body sent nothing for {0:?}: the request timed out")]
pub(crate) struct BodyTimedOut(std::time::Duration);

impl<B> http_body::Body for IdleTimeout<B>
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use std::future::Future;
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = tokio::time::Instant::now() + this.timeout;
                this.sleep.as_mut().reset(deadline);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.timeout))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The pairs of a query string or a form body, read as `application/x-www-form-urlencoded`
/// (`+` a space, `%XX` a byte, invalid UTF-8 replaced), as every AWS protocol reads them.
pub(crate) fn form_pairs(text: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

/// One percent-encoded path segment, decoded (a `+` stays a `+`: a path is not a form);
/// `None` when the bytes are not UTF-8.
pub(crate) fn decode_segment(raw: &str) -> Option<String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// One part of a multipart form.
pub(crate) struct FormPart {
    pub(crate) name: String,
    pub(crate) filename: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// The parts of a `multipart/form-data` body (RFC 7578): each after a `--boundary` line, its
/// headers up to a blank line, its bytes up to the CRLF before the next boundary.
pub(crate) fn form_parts(body: &[u8], boundary: &str) -> Vec<FormPart> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut parts = Vec::new();
    let mut starts = Vec::new();
    let mut at = 0;
    while let Some(found) = find(&body[at..], delimiter) {
        starts.push(at + found);
        at += found + delimiter.len();
    }
    for pair in starts.windows(2) {
        let part = &body[pair[0] + delimiter.len()..pair[1]];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let Some(split) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]);
        let content = &part[split + 4..];
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .unwrap_or("");
        let field = |key: &str| {
            disposition
                .split(';')
                .map(str::trim)
                .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                .map(|v| v.trim_matches('"').to_owned())
        };
        if let Some(name) = field("name") {
            parts.push(FormPart {
                name,
                filename: field("filename"),
                body: content.to_vec(),
            });
        }
    }
    parts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod form_tests {
    use super::form_parts;

    #[test]
    fn a_multipart_form_is_read_part_by_part() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\nContent-Type: application/octet-stream\r\n\r\n{\"a\":1}\r\n--XyZ\r\nline2\r\n--XyZ--\r\n";
        let parts = form_parts(body, "XyZ");
        assert_eq!(parts.len(), 2, "a part without a name is passed over");
        assert_eq!(
            (parts[0].name.as_str(), &parts[0].body[..]),
            ("purpose", &b"batch"[..])
        );
        assert_eq!(parts[1].filename.as_deref(), Some("in.jsonl"));
        assert_eq!(&parts[1].body[..], b"{\"a\":1}");
        assert!(form_parts(b"no boundary here", "XyZ").is_empty());
    }
}
