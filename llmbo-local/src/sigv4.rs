//! AWS Signature Version 4 checks for the services s3s does not serve (IAM, Bedrock).
//!
//! Follows the published algorithm: canonical request, string to sign, derived signing key.
//! Services other than S3 sign the URI path encoded twice (the path as sent is already
//! encoded once), which the Rust SDK, boto3 and the AWS CLI all do.

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id.
    pub access_key: String,
    /// `yyyymmdd` of the credential scope.
    pub date: String,
    /// The region of the credential scope.
    pub region: String,
    /// The service of the credential scope, e.g. `bedrock`.
    pub service: String,
    /// Lower-case header names, in the order given.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

impl Authorization {
    /// Parses the header value; `None` when it is not SigV4.
    pub fn parse(value: &str) -> Option<Self> {
        let rest = value.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for part in rest.split(',') {
            let (key, val) = part.trim().split_once('=')?;
            match key {
                "Credential" => credential = Some(val),
                "SignedHeaders" => signed_headers = Some(val),
                "Signature" => signature = Some(val),
                _ => {}
            }
        }
        let mut scope = credential?.split('/');
        let access_key = scope.next()?.to_owned();
        let date = scope.next()?.to_owned();
        let region = scope.next()?.to_owned();
        let service = scope.next()?.to_owned();
        if scope.next()? != "aws4_request" {
            return None;
        }
        Some(Authorization {
            access_key,
            date,
            region,
            service,
            signed_headers: signed_headers?.split(';').map(str::to_owned).collect(),
            signature: signature?.to_owned(),
        })
    }
}

/// The service named in a request's credential scope, from the `Authorization` header or a
/// presigned URL's `X-Amz-Credential`.
pub fn service_of(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(auth) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(Authorization::parse)
    {
        return Some(auth.service);
    }
    let query = query?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        if key != "X-Amz-Credential" {
            return None;
        }
        let decoded = urlencoding::decode(value).ok()?;
        decoded.split('/').nth(3).map(str::to_owned)
    })
}

/// Why a request's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No SigV4 `Authorization` header.
    #[error("Missing Authentication Token")]
    Missing,
    /// The header is there but cannot be read.
    #[error(
        "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters"
    )]
    Malformed,
    /// An access key the server does not know.
    #[error("The security token included in the request is invalid.")]
    UnknownAccessKey,
    /// The signature does not match the request.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
    )]
    Mismatch,
}

/// Checks a header-signed request against the one known key pair.
pub fn verify(
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    access_key: &str,
    secret_key: &str,
) -> Result<Authorization, SignatureError> {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .ok_or(SignatureError::Missing)?
        .to_str()
        .map_err(|_| SignatureError::Malformed)?;
    let auth = Authorization::parse(header).ok_or(SignatureError::Malformed)?;
    if auth.access_key != access_key {
        return Err(SignatureError::UnknownAccessKey);
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or(SignatureError::Malformed)?;
    let payload_hash = match headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(hash) => hash.to_owned(),
        None => hex(&Sha256::digest(body)),
    };
    let canonical = canonical_request(method, raw_path, raw_query, headers, &auth, &payload_hash)
        .ok_or(SignatureError::Malformed)?;
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(secret_key, &auth.date, &auth.region, &auth.service);
    let expected = hex(&hmac(&key, string_to_sign.as_bytes()));
    if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(auth)
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn canonical_request(
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    auth: &Authorization,
    payload_hash: &str,
) -> Option<String> {
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    // The path as sent is encoded once; non-S3 services sign it encoded again.
    let canonical_path = path
        .split('/')
        .map(|segment| uri_encode(segment, true))
        .collect::<Vec<_>>()
        .join("/");
    let mut pairs: Vec<(String, String)> = raw_query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode =
                |s: &str| urlencoding::decode(&s.replace('+', " ")).map(|c| c.into_owned());
            Some((
                uri_encode(&decode(key).ok()?, true),
                uri_encode(&decode(value).ok()?, true),
            ))
        })
        .collect::<Option<_>>()?;
    pairs.sort();
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut canonical_headers = String::new();
    for name in &auth.signed_headers {
        let values: Vec<String> = headers
            .get_all(name.as_str())
            .iter()
            .map(|v| v.to_str().map(collapse_spaces))
            .collect::<Result<_, _>>()
            .ok()?;
        if values.is_empty() {
            return None;
        }
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&values.join(","));
        canonical_headers.push('\n');
    }
    Some(format!(
        "{method}\n{canonical_path}\n{query}\n{canonical_headers}\n{}\n{payload_hash}",
        auth.signed_headers.join(";")
    ))
}

fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters kept, everything else `%XX`.
fn uri_encode(input: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(input.len());
    for byte in input.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GET example of AWS's SigV4 documentation ("get-vanilla" of the test suite), whose
    /// expected signature is published.
    #[test]
    fn verifies_the_published_example() -> Result<(), Box<dyn std::error::Error>> {
        let mut headers = HeaderMap::new();
        headers.insert("host", "example.amazonaws.com".parse()?);
        headers.insert("x-amz-date", "20150830T123600Z".parse()?);
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
                .parse()?,
        );
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let auth = verify("GET", "/", None, &headers, b"", "AKIDEXAMPLE", secret)?;
        assert_eq!(auth.service, "service");
        assert_eq!(
            verify("GET", "/", None, &headers, b"", "AKIDEXAMPLE", "wrong"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("POST", "/", None, &headers, b"", "AKIDEXAMPLE", secret),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("GET", "/", None, &headers, b"", "OTHER", secret),
            Err(SignatureError::UnknownAccessKey)
        );
        Ok(())
    }

    #[test]
    fn finds_the_service_in_header_or_query() -> Result<(), Box<dyn std::error::Error>> {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20261126/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00"
                .parse()
                ?,
        );
        assert_eq!(service_of(&headers, None).as_deref(), Some("bedrock"));
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=test%2F20261126%2Fus-east-1%2Fs3%2Faws4_request";
        assert_eq!(
            service_of(&HeaderMap::new(), Some(query)).as_deref(),
            Some("s3")
        );
        assert_eq!(service_of(&HeaderMap::new(), None), None);
        Ok(())
    }
}
