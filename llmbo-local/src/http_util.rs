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
