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
    crate::http_util::form_pairs(query)
        .into_iter()
        .find_map(|(key, value)| {
            (key == "X-Amz-Credential").then(|| value.split('/').nth(3).map(str::to_owned))
        })
        .flatten()
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
    /// `x-amz-date` is more than 15 minutes from the server's clock.
    #[error("{0}")]
    Skewed(String),
    /// The credential scope names another region than the server's.
    #[error("Credential should be scoped to a valid region.")]
    WrongRegion,
    /// The credential scope's date is not the date of `x-amz-date`.
    #[error(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope}' != '{date}', from '{amz_date}'."
    )]
    ScopeDate {
        /// The scope's date.
        scope: String,
        /// `x-amz-date`'s date.
        date: String,
        /// `x-amz-date`.
        amz_date: String,
    },
    /// A bearer token (a Bedrock API key) the server does not know.
    #[error("Authentication failed: Please make sure your API Key is valid.")]
    BadApiKey,
}

/// What the server expects of every signature: its region(s) and its clock.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    /// Regions a credential scope may name (the server's; `us-east-1` too for IAM and STS).
    pub regions: &'a [&'a str],
    /// The server's time.
    pub now: chrono::DateTime<chrono::Utc>,
}

/// The most a request's `x-amz-date` may differ from the server's clock, as AWS allows.
pub const MAX_SKEW_MINUTES: i64 = 15;

fn check_time(amz_date: &str, now: chrono::DateTime<chrono::Utc>) -> Result<(), SignatureError> {
    let signed = chrono::NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| SignatureError::Malformed)?
        .and_utc();
    let format = |t: chrono::DateTime<chrono::Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let window = chrono::Duration::minutes(MAX_SKEW_MINUTES);
    if signed < now - window {
        return Err(SignatureError::Skewed(format!(
            "Signature expired: {} is now earlier than {} ({} - {MAX_SKEW_MINUTES} min.)",
            format(signed),
            format(now - window),
            format(now)
        )));
    }
    if signed > now + window {
        return Err(SignatureError::Skewed(format!(
            "Signature not yet current: {} is still later than {} ({} + {MAX_SKEW_MINUTES} min.)",
            format(signed),
            format(now + window),
            format(now)
        )));
    }
    Ok(())
}

/// Checks a header-signed request against the one known key pair: the signature, the body's
/// hash, the scope's region and date, and the clock.
#[allow(clippy::too_many_arguments)] // a request, a key pair and what is expected of it
pub fn verify(
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    access_key: &str,
    secret_key: &str,
    expect: &Expect<'_>,
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
    let actual_hash = hex(&Sha256::digest(body));
    let payload_hash = match headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        // A hash that is not the body's is a body changed after signing.
        Some(hash) if hash != "UNSIGNED-PAYLOAD" && hash != actual_hash => {
            return Err(SignatureError::Mismatch);
        }
        Some(hash) => hash.to_owned(),
        None => actual_hash,
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
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(SignatureError::Mismatch);
    }
    // Signed right, with the right key: now the scope and the clock.
    let date = amz_date.get(..8).unwrap_or(amz_date);
    if auth.date != date {
        return Err(SignatureError::ScopeDate {
            scope: auth.date.clone(),
            date: date.to_owned(),
            amz_date: amz_date.to_owned(),
        });
    }
    if !expect.regions.contains(&auth.region.as_str()) {
        return Err(SignatureError::WrongRegion);
    }
    check_time(amz_date, expect.now)?;
    Ok(auth)
}

/// Checks `Authorization: Bearer <key>` (a Bedrock API key, `AWS_BEARER_TOKEN_BEDROCK`):
/// `Ok(true)` for the server's key, `Ok(false)` when the request carries no bearer token.
pub fn verify_bearer(headers: &HeaderMap, api_key: &str) -> Result<bool, SignatureError> {
    let Some(token) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Ok(false);
    };
    if constant_time_eq(token.trim().as_bytes(), api_key.as_bytes()) {
        Ok(true)
    } else {
        Err(SignatureError::BadApiKey)
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
    // Non-S3 services sign the path normalised (RFC 3986: no `.` or `..` segments, no empty
    // ones), as the SDKs do, and encoded again (the path as sent is encoded once).
    let path = normalize_path(raw_path);
    let canonical_path = path
        .split('/')
        .map(|segment| uri_encode(segment, true))
        .collect::<Vec<_>>()
        .join("/");
    let mut pairs: Vec<(String, String)> = crate::http_util::form_pairs(raw_query.unwrap_or(""))
        .into_iter()
        .map(|(key, value)| (uri_encode(&key, true), uri_encode(&value, true)))
        .collect();
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

/// The path without dot segments or empty segments; a trailing slash (or a trailing `.` or
/// `..` segment, which name a folder) is kept.
fn normalize_path(raw: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for segment in raw.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            name => kept.push(name),
        }
    }
    let mut path = format!("/{}", kept.join("/"));
    let names_folder = raw.ends_with('/') || raw.ends_with("/.") || raw.ends_with("/..");
    if names_folder && !path.ends_with('/') {
        path.push('/');
    }
    path
}

fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every byte but RFC 3986's unreserved characters, which SigV4 leaves as they are.
const SIGV4_RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// RFC 3986 encoding as SigV4 wants it: unreserved characters kept, everything else `%XX`.
fn uri_encode(input: &str, encode_slash: bool) -> String {
    if encode_slash {
        percent_encoding::utf8_percent_encode(input, SIGV4_RESERVED).to_string()
    } else {
        input
            .split('/')
            .map(|part| percent_encoding::utf8_percent_encode(part, SIGV4_RESERVED).to_string())
            .collect::<Vec<_>>()
            .join("/")
    }
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
    hex::encode(bytes)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
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
        let signed_at =
            chrono::NaiveDateTime::parse_from_str("20150830T123600Z", "%Y%m%dT%H%M%SZ")?.and_utc();
        let at = |minutes: i64| Expect {
            regions: &["us-east-1"],
            now: signed_at + chrono::Duration::minutes(minutes),
        };
        let check = |method: &str, key: &str, secret: &str, expect: &Expect<'_>| {
            verify(method, "/", None, &headers, b"", key, secret, expect)
        };
        let auth = check("GET", "AKIDEXAMPLE", secret, &at(0))?;
        assert_eq!(auth.service, "service");
        assert_eq!(
            check("GET", "AKIDEXAMPLE", "wrong", &at(0)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check("POST", "AKIDEXAMPLE", secret, &at(0)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check("GET", "OTHER", secret, &at(0)),
            Err(SignatureError::UnknownAccessKey)
        );
        // Within 15 minutes either way: fine; past them, refused with AWS's sentences.
        assert!(check("GET", "AKIDEXAMPLE", secret, &at(14)).is_ok());
        assert!(check("GET", "AKIDEXAMPLE", secret, &at(-14)).is_ok());
        match check("GET", "AKIDEXAMPLE", secret, &at(20)) {
            Err(SignatureError::Skewed(message)) => assert_eq!(
                message,
                "Signature expired: 20150830T123600Z is now earlier than 20150830T124100Z (20150830T125600Z - 15 min.)"
            ),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(check("GET", "AKIDEXAMPLE", secret, &at(-20)), Err(SignatureError::Skewed(m)) if m.starts_with("Signature not yet current"))
        );
        let elsewhere = Expect {
            regions: &["eu-west-1"],
            now: signed_at,
        };
        assert_eq!(
            check("GET", "AKIDEXAMPLE", secret, &elsewhere),
            Err(SignatureError::WrongRegion)
        );
        // A body whose hash header is not its own was changed after signing.
        let mut hashed = headers.clone();
        hashed.insert("x-amz-content-sha256", "00".repeat(32).parse()?);
        assert_eq!(
            verify(
                "GET",
                "/",
                None,
                &hashed,
                b"",
                "AKIDEXAMPLE",
                secret,
                &at(0)
            ),
            Err(SignatureError::Mismatch)
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

    /// aws-sigv4 (the Rust SDK's signer) as the oracle: every request it signs is accepted,
    /// whatever the method, path (reserved characters, spaces, unicode), query, headers and
    /// body; and the same request changed anywhere after signing is refused.
    mod oracle {
        use super::super::*;
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        use proptest::prelude::*;

        const KEY: &str = "AKIDLOCAL";
        const SECRET: &str = "local/secret+key";

        type Signed = (String, Option<String>, HeaderMap);

        /// Signs a request as the SDKs do: the path percent-encoded once on the wire.
        fn signed(
            method: &str,
            path: &str,
            query: &[(String, String)],
            headers: &[(String, String)],
            body: &[u8],
            time: std::time::SystemTime,
        ) -> Result<Signed, Box<dyn std::error::Error>> {
            let wire_path: String = path
                .split('/')
                .map(|s| percent_encoding::utf8_percent_encode(s, SIGV4_RESERVED).to_string())
                .collect::<Vec<_>>()
                .join("/");
            let wire_query = (!query.is_empty()).then(|| {
                query
                    .iter()
                    .map(|(k, v)| format!("{}={}", uri_encode(k, true), uri_encode(v, true)))
                    .collect::<Vec<_>>()
                    .join("&")
            });
            let uri = match &wire_query {
                Some(q) => format!("https://bedrock.us-east-1.amazonaws.com{wire_path}?{q}"),
                None => format!("https://bedrock.us-east-1.amazonaws.com{wire_path}"),
            };
            let mut all: Vec<(&str, &str)> = vec![("host", "bedrock.us-east-1.amazonaws.com")];
            all.extend(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let identity = aws_credential_types::Credentials::from_keys(KEY, SECRET, None).into();
            let params = aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name("bedrock")
                .time(time)
                .settings(SigningSettings::default())
                .build()?
                .into();
            let request = SignableRequest::new(
                method,
                uri,
                all.clone().into_iter(),
                SignableBody::Bytes(body),
            )?;
            let (instructions, _) = sign(request, &params)?.into_parts();
            let mut map = HeaderMap::new();
            for (k, v) in all {
                map.append(http::HeaderName::from_bytes(k.as_bytes())?, v.parse()?);
            }
            for (k, v) in instructions.headers() {
                map.insert(http::HeaderName::from_bytes(k.as_bytes())?, v.parse()?);
            }
            Ok((wire_path, wire_query, map))
        }

        /// A path segment or query part: reserved characters, spaces, a non-ASCII letter.
        const SEGMENT: &str = "[a-zA-Z0-9 :+=@!*'(),$&;~._%é-]{1,12}";

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]
            #[test]
            fn every_signed_request_is_accepted_and_every_change_refused(
                method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD"]),
                segments in prop::collection::vec(SEGMENT, 1..4),
                query in prop::collection::vec((SEGMENT, SEGMENT), 0..4),
                headers in prop::collection::vec(
                    ("x-amz-[a-z]{1,8}|content-type|x-custom-[a-z]{1,6}", "[ -~]{0,20}"), 0..3),
                body in prop::collection::vec(any::<u8>(), 0..64),
                skew in -14i64..14,
                change in 0usize..5,
            ) {
                let path = format!("/{}", segments.join("/"));
                let headers: Vec<(String, String)> = headers
                    .into_iter()
                    .filter(|(k, _)| k != "x-amz-date" && k != "x-amz-content-sha256" && k != "x-amz-security-token")
                    .map(|(k, v)| (k, v.trim().to_owned()))
                    .collect();
                let now = chrono::Utc::now();
                let time = std::time::SystemTime::from(now - chrono::Duration::minutes(skew));
                let (wire_path, wire_query, map) = signed(method, &path, &query, &headers, &body, time)
                    .map_err(|err| TestCaseError::fail(format!("the oracle could not sign: {err}")))?;
                let expect = Expect { regions: &["us-east-1"], now };
                let accepted = verify(method, &wire_path, wire_query.as_deref(), &map, &body, KEY, SECRET, &expect);
                prop_assert!(accepted.is_ok(), "{method} {wire_path}?{wire_query:?}: {accepted:?}");
                // One change after signing, each refused.
                let mut body2 = body.clone();
                let mut map2 = map.clone();
                let (mut path2, mut query2, mut method2) = (wire_path.clone(), wire_query.clone(), method);
                match change {
                    0 => body2.push(b'x'),
                    1 => path2.push('x'),
                    2 => query2 = Some(format!("{}&zz=1", query2.unwrap_or_default()).trim_start_matches('&').to_owned()),
                    3 => method2 = if method == "GET" { "POST" } else { "GET" },
                    _ => {
                        map2.insert("x-amz-date", http::HeaderValue::from_static("20200101T000000Z"));
                    }
                }
                let refused = verify(method2, &path2, query2.as_deref(), &map2, &body2, KEY, SECRET, &expect);
                prop_assert!(refused.is_err(), "change {change} accepted");
                // And the same request 20 minutes later is too old.
                let late = Expect { regions: &["us-east-1"], now: now + chrono::Duration::minutes(20 + skew.abs()) };
                let expired = verify(method, &wire_path, wire_query.as_deref(), &map, &body, KEY, SECRET, &late);
                prop_assert!(matches!(expired, Err(SignatureError::Skewed(_))), "{expired:?}");
            }
        }
    }
}
