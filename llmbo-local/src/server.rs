//! One HTTP endpoint for three services, routed by the service in each request's SigV4
//! credential scope, as LocalStack's edge port does.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use s3s::service::S3Service;
use tokio::net::TcpListener;

use crate::http_util::{IdleTimeout, Reply};
use crate::sigv4::{self, SignatureError};
use crate::state::Shared;
use crate::{bedrock, iam};

/// Largest control-plane request body read (S3 bodies are streamed by s3s instead).
const MAX_CONTROL_BODY: usize = 10 * 1024 * 1024;

/// How long a connection may take to send a request's headers (or sit idle between
/// requests) before it is closed.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, s3: S3Service) {
    // Past the bound, the next connection waits in the listen backlog until one closes.
    let slots = Arc::new(tokio::sync::Semaphore::new(shared.settings.max_connections));
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return; // the semaphore is never closed
        };
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors and the like: wait a moment rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let shared = Arc::clone(&shared);
        let s3 = s3.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |req| {
                let shared = Arc::clone(&shared);
                let s3 = s3.clone();
                async move { Ok::<_, Infallible>(route(req, shared, s3).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn route(req: Request<Incoming>, shared: Arc<Shared>, s3: S3Service) -> Response<s3s::Body> {
    let timeout = shared.settings.body_timeout;
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    // The Anthropic, OpenAI and Gemini APIs carry an API key, not a signature; their paths
    // are their own (Gemini's `v1/batches` is told from OpenAI's by its key header).
    // A signed request is S3's, IAM's or Bedrock's, whatever its path (a bucket may be named
    // `v1`, `upload` or `download`).
    let signed = sigv4::service_of(req.headers(), req.uri().query()).is_some();
    let gemini = !signed && crate::gemini::serves(&path, req.uri().query(), req.headers());
    let anthropic = !signed && !gemini && crate::anthropic::serves(&path);
    if gemini || anthropic || (!signed && crate::openai::serves(&path)) {
        let request_id = shared.request_id();
        let (parts, body) = req.into_parts();
        let body = IdleTimeout::new(body, timeout);
        // An upload's form wraps the file in a few hundred bytes.
        let limit = if gemini {
            // A chunk of a resumable upload, or inline requests.
            crate::gemini::MAX_CHUNK_BYTES.max(crate::gemini::MAX_INLINE_BYTES)
        } else if anthropic {
            crate::anthropic::MAX_BATCH_BYTES
        } else {
            crate::openai::MAX_FILE_BYTES
        } + 64 * 1024;
        let reply = match http_body_util::Limited::new(body, limit).collect().await {
            Ok(collected) => {
                let body = collected.to_bytes();
                let request = crate::batch_apis::ApiRequest {
                    method: parts.method.as_str(),
                    path: &path,
                    query: parts.uri.query(),
                    headers: &parts.headers,
                    body: &body,
                };
                if gemini {
                    crate::gemini::handle(&shared, &request)
                } else if anthropic {
                    crate::anthropic::handle(&shared, &request)
                } else {
                    crate::openai::handle(&shared, &request)
                }
            }
            Err(_) => Reply::json(
                413,
                &serde_json::json!({"type": "error", "error": {"type": "request_too_large",
                    "message": "Request exceeds the maximum allowed number of bytes."}}),
            ),
        };
        let service = if gemini {
            "gemini"
        } else if anthropic {
            "anthropic"
        } else {
            "openai"
        };
        tracing::info!(service, %method, path, status = reply.status, "request");
        return render(reply, &request_id);
    }
    // Unsigned requests name no service; Bedrock's paths are still Bedrock's, so they get
    // Bedrock's refusal rather than an S3 error.
    // A Bedrock API key (`Authorization: Bearer …`) names no service either: only Bedrock
    // takes them.
    let service = sigv4::service_of(req.headers(), req.uri().query()).or_else(|| {
        let path = req.uri().path();
        let bearer = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer "));
        (bearer || is_bedrock_path(path)).then(|| "bedrock".to_owned())
    });
    let response = match service.as_deref() {
        None | Some("s3") => match s3
            .call(req.map(|body| s3s::Body::http_body_unsync(IdleTimeout::new(body, timeout))))
            .await
        {
            Ok(response) => response,
            Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        },
        Some(other) => {
            let other = other.to_owned();
            control_plane(req, &shared, &other).await
        }
    };
    tracing::info!(
        service = service.as_deref().unwrap_or("s3"),
        %method,
        path,
        status = response.status().as_u16(),
        "request"
    );
    response
}

/// Signing names of services that speak the query protocol (form posts, XML answers), so an
/// unserved one gets an error its client can read; the rest speak JSON.
const QUERY_SERVICES: &[&str] = &[
    "ec2",
    "sns",
    "cloudformation",
    "rds",
    "elasticache",
    "autoscaling",
    "elasticloadbalancing",
    "monitoring",
    "ses",
    "redshift",
    "elasticbeanstalk",
    "sdb",
];

/// The paths of Bedrock's operations (control plane and runtime), never S3's.
fn is_bedrock_path(path: &str) -> bool {
    [
        "/model-invocation-job",
        "/model/",
        "/foundation-models",
        "/inference-profiles",
        "/listTagsForResource",
        "/tagResource",
        "/untagResource",
    ]
    .iter()
    .any(|prefix| path.starts_with(prefix))
}

fn plain(status: StatusCode, text: &'static str) -> Response<s3s::Body> {
    let mut response = Response::new(s3s::Body::from(text.to_owned()));
    *response.status_mut() = status;
    response
}

/// Every service but S3: Bedrock (control plane and runtime), IAM, STS and Service Quotas;
/// any other gets an unknown-operation error in its protocol.
async fn control_plane(
    req: Request<Incoming>,
    shared: &Arc<Shared>,
    service: &str,
) -> Response<s3s::Body> {
    let is_iam = service == "iam";
    let is_query = matches!(service, "iam" | "sts");
    let request_id = shared.request_id();
    let (parts, body) = req.into_parts();
    // An on-demand call's body may be up to 25 MB; the runtime refuses larger ones itself.
    let limit = if parts.uri.path().starts_with("/model/") {
        crate::runtime::MAX_BODY + 1024
    } else {
        MAX_CONTROL_BODY
    };
    let body = IdleTimeout::new(body, shared.settings.body_timeout);
    let body = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<crate::http_util::BodyTimedOut>() => {
            return render(
                Reply::json_error(408, "RequestTimeoutException", &err.to_string()),
                &request_id,
            );
        }
        Err(_) => {
            return render(
                Reply::json_error(413, "ValidationException", "The request body is too large."),
                &request_id,
            );
        }
    };
    let settings = &shared.settings;
    // IAM is global (scoped to us-east-1); STS answers there and in the server's region.
    let regions = [settings.region.as_str(), "us-east-1"];
    let expect = sigv4::Expect {
        regions: if is_query { &regions } else { &regions[..1] },
        now: chrono::Utc::now(),
    };
    let verified = match sigv4::verify_bearer(&parts.headers, &settings.api_key) {
        Ok(true) if service == "bedrock" => Ok(()),
        Ok(true) => Err(SignatureError::Malformed),
        Ok(false) => sigv4::verify(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
            &body,
            &settings.access_key,
            &settings.secret_key,
            &expect,
        )
        .map(|_| ()),
        Err(err) => Err(err),
    };
    let reply = if let Err(err) = verified {
        auth_error(&err, is_query, &request_id)
    } else if service == "sts" {
        crate::quotas::sts(shared, &body, &request_id)
    } else if service == "servicequotas" {
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok());
        crate::quotas::handle(shared, target, &body)
    } else if QUERY_SERVICES.contains(&service) {
        // Answered in the protocol its clients parse: the query protocol's XML error.
        iam::error(
            400,
            "Sender",
            "InvalidAction",
            &format!("llmbo-local does not serve the {service} service"),
            &request_id,
        )
    } else if !matches!(service, "bedrock" | "iam") {
        Reply::json_error(
            400,
            "UnknownOperationException",
            &format!("llmbo-local does not serve the {service} service"),
        )
    } else if is_iam {
        if parts.method != http::Method::POST {
            iam::error(
                400,
                "Sender",
                "InvalidAction",
                "IAM query requests are POSTs",
                &request_id,
            )
        } else if shared.faults.next_call_throttled("GetRole") {
            iam::error(400, "Sender", "Throttling", "Rate exceeded", &request_id)
        } else {
            iam::handle(
                &shared.roles,
                &shared.settings.account_id,
                &body,
                &request_id,
            )
        }
    } else if let Some(reply) = crate::runtime::handle(
        shared,
        parts.method.as_str(),
        parts.uri.path(),
        &parts.headers,
        &body,
    )
    .await
    {
        reply
    } else {
        bedrock::handle(
            shared,
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query(),
            &body,
        )
    };
    render(reply, &request_id)
}

fn auth_error(err: &SignatureError, is_iam: bool, request_id: &str) -> Reply {
    let message = err.to_string();
    if is_iam {
        let code = match err {
            SignatureError::UnknownAccessKey | SignatureError::BadApiKey => "InvalidClientTokenId",
            SignatureError::Mismatch
            | SignatureError::Skewed(_)
            | SignatureError::WrongRegion
            | SignatureError::ScopeDate { .. } => "SignatureDoesNotMatch",
            SignatureError::Missing | SignatureError::Malformed => "IncompleteSignature",
        };
        return iam::error(403, "Sender", code, &message, request_id);
    }
    let code = match err {
        SignatureError::UnknownAccessKey => "UnrecognizedClientException",
        SignatureError::Mismatch
        | SignatureError::Skewed(_)
        | SignatureError::WrongRegion
        | SignatureError::ScopeDate { .. } => "InvalidSignatureException",
        SignatureError::Missing => "MissingAuthenticationTokenException",
        SignatureError::Malformed => "IncompleteSignatureException",
        SignatureError::BadApiKey => "AccessDeniedException",
    };
    Reply::json_error(403, code, &message)
}

fn render(reply: Reply, request_id: &str) -> Response<s3s::Body> {
    let mut builder = Response::builder()
        .status(reply.status)
        .header(http::header::CONTENT_TYPE, reply.content_type)
        .header("x-amzn-requestid", request_id);
    if let Some(kind) = reply.error_type {
        builder = builder.header("x-amzn-errortype", kind);
    }
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value.as_str());
    }
    builder
        .body(s3s::Body::from(reply.body))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
}
