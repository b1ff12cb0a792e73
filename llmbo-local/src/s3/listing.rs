//! Listing a bucket as S3 lists it: keys in UTF-8 byte order, rolled up into common prefixes
//! at a delimiter, a page at a time, keys encoded when `EncodingType=url` is asked for.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::LocalS3;
use super::checks::check_prefix;
use crate::objects::Objects;

/// S3's largest page, and the page size when a listing names none.
const MAX_KEYS: i32 = 1000;

/// One page of a listing.
pub(super) struct Page {
    pub(super) contents: Vec<Object>,
    pub(super) prefixes: Vec<CommonPrefix>,
    pub(super) is_truncated: bool,
    /// The last key or common prefix on the page: where the next page starts after.
    pub(super) last: Option<String>,
    pub(super) max_keys: i32,
}

/// The page of `bucket`'s keys under `prefix` that comes after `after` (a key or a common
/// prefix), with at most `max_keys` keys and common prefixes together.
pub(super) fn page(
    objects: &Objects,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max_keys: Option<i32>,
) -> S3Result<Page> {
    let max_keys = max_keys.unwrap_or(MAX_KEYS).clamp(0, MAX_KEYS);
    let keys = objects
        .keys(bucket, prefix)
        .map_err(|e| s3_error!(InternalError, "the bucket could not be listed: {e}"))?;
    let mut page = Page {
        contents: Vec::new(),
        prefixes: Vec::new(),
        is_truncated: false,
        last: None,
        max_keys,
    };
    let mut count = 0;
    for key in keys {
        let rest = key.get(prefix.len()..).unwrap_or("");
        let rolled_up = delimiter.filter(|d| !d.is_empty()).and_then(|d| {
            rest.find(d)
                .map(|at| format!("{prefix}{}", &rest[..at + d.len()]))
        });
        let item = rolled_up.as_deref().unwrap_or(&key);
        if after.is_some_and(|after| item <= after) || page.last.as_deref() == Some(item) {
            continue;
        }
        if count == max_keys {
            page.is_truncated = true;
            break;
        }
        match &rolled_up {
            Some(common) => page.prefixes.push(CommonPrefix {
                prefix: Some(common.clone()),
            }),
            None => {
                // A key removed since it was listed is passed over.
                let Ok(Some(stored)) = objects.stat(bucket, &key) else {
                    continue;
                };
                page.contents.push(Object {
                    key: Some(key.clone()),
                    size: i64::try_from(stored.size).ok(),
                    last_modified: Some(Timestamp::from(stored.modified)),
                    e_tag: Some(ETag::Strong(stored.e_tag)),
                    storage_class: Some(ObjectStorageClass::from_static(
                        ObjectStorageClass::STANDARD,
                    )),
                    ..Default::default()
                });
            }
        }
        page.last = Some(item.to_owned());
        count += 1;
    }
    Ok(page)
}

/// A continuation token: the last item of a page, in URL-safe base64, which a client passes
/// back as it is.
pub(super) fn token_of(last: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
}

/// The item a continuation token names, or S3's 400 for a token it did not give.
pub(super) fn read_token(token: &str) -> S3Result<String> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })
}

/// Whether a listing asked for `EncodingType=url`.
pub(super) fn url_encoded(encoding: Option<&EncodingType>) -> bool {
    encoding.is_some_and(|e| e.as_str() == EncodingType::URL)
}

pub(super) fn encode_field(field: &mut Option<String>) {
    if let Some(value) = field.as_mut() {
        *value = url_encode(value);
    }
}

pub(super) fn encode_listing(
    contents: Option<&mut Vec<Object>>,
    prefixes: Option<&mut Vec<CommonPrefix>>,
) {
    for object in contents.into_iter().flatten() {
        encode_field(&mut object.key);
    }
    for prefix in prefixes.into_iter().flatten() {
        encode_field(&mut prefix.prefix);
    }
}

/// A key as S3 encodes it for `EncodingType=url`: form encoding (a space is `+`, a `+` is
/// `%2B`), `/` and the unreserved characters as they are. botocore decodes with
/// `unquote_plus`.
fn url_encode(text: &str) -> String {
    /// What S3 encodes in a listing: every byte but the unreserved characters and `/`.
    const S3_LISTING: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(text, S3_LISTING)
        .to_string()
        .replace("%20", "+")
}

pub(super) async fn list_objects_v2(
    s3: &LocalS3,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let input = req.input;
    check_prefix(input.prefix.as_deref())?;
    s3.region_of(&input.bucket)?;
    let token = input
        .continuation_token
        .as_deref()
        .map(read_token)
        .transpose()?;
    let after = token.as_deref().or(input.start_after.as_deref());
    let page = page(
        &s3.objects,
        &input.bucket,
        input.prefix.as_deref().unwrap_or(""),
        input.delimiter.as_deref(),
        after,
        input.max_keys,
    )?;
    let mut out = ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(input.prefix.unwrap_or_default()),
        delimiter: input.delimiter,
        start_after: input.start_after,
        continuation_token: input.continuation_token,
        next_continuation_token: page
            .is_truncated
            .then(|| page.last.as_deref().map(token_of))
            .flatten(),
        max_keys: Some(page.max_keys),
        key_count: i32::try_from(page.contents.len() + page.prefixes.len()).ok(),
        is_truncated: Some(page.is_truncated),
        contents: Some(page.contents),
        common_prefixes: Some(page.prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    };
    // S3 encodes what it echoes and lists when asked to: boto3 and the CLI decode every
    // key, and `a+b` would come back as `a b` otherwise.
    if url_encoded(out.encoding_type.as_ref()) {
        for field in [&mut out.prefix, &mut out.delimiter, &mut out.start_after] {
            encode_field(field);
        }
        encode_listing(out.contents.as_mut(), out.common_prefixes.as_mut());
    }
    Ok(S3Response::new(out))
}

pub(super) async fn list_objects(
    s3: &LocalS3,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let input = req.input;
    check_prefix(input.prefix.as_deref())?;
    s3.region_of(&input.bucket)?;
    let page = page(
        &s3.objects,
        &input.bucket,
        input.prefix.as_deref().unwrap_or(""),
        input.delimiter.as_deref(),
        input.marker.as_deref(),
        input.max_keys,
    )?;
    let mut out = ListObjectsOutput {
        name: Some(input.bucket),
        prefix: Some(input.prefix.unwrap_or_default()),
        delimiter: input.delimiter,
        marker: Some(input.marker.unwrap_or_default()),
        next_marker: page.is_truncated.then(|| page.last.clone()).flatten(),
        max_keys: Some(page.max_keys),
        is_truncated: Some(page.is_truncated),
        contents: Some(page.contents),
        common_prefixes: Some(page.prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    };
    if url_encoded(out.encoding_type.as_ref()) {
        for field in [
            &mut out.prefix,
            &mut out.delimiter,
            &mut out.marker,
            &mut out.next_marker,
        ] {
            encode_field(field);
        }
        encode_listing(out.contents.as_mut(), out.common_prefixes.as_mut());
    }
    Ok(S3Response::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_as_s3_encodes_them() {
        assert_eq!(url_encode("a b+c/d%e.txt"), "a+b%2Bc/d%25e.txt");
        assert_eq!(url_encode("é"), "%C3%A9");
    }

    #[test]
    fn tokens_round_trip_and_strangers_are_refused() {
        let last = "a/é b/";
        assert_eq!(read_token(&token_of(last)).ok().as_deref(), Some(last));
        assert!(read_token("not a token!").is_err());
    }
}
