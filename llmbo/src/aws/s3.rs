//! S3: the bucket's region, object reads (whole, by lines, to a file, with their version),
//! conditional writes and listings.

use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use tokio::io::AsyncWriteExt;

use super::{Aws, PART_SIZE, Upload, aws_error};
use crate::error::{AwsErrorKind, Error};
use crate::store::Expected;

/// A failure while an object's body arrives, naming the object and every cause (the SDK's
/// "streaming error" alone says nothing).
pub(super) fn read_error(
    bucket: &str,
    key: &str,
    err: &(dyn std::error::Error + 'static),
) -> Error {
    let mut message = format!("s3://{bucket}/{key}: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    Error::Aws {
        operation: "GetObject",
        kind: AwsErrorKind::Network,
        code: String::new(),
        message,
        source: None,
    }
}

impl Aws {
    /// The region the bucket is in: HeadBucket's `x-amz-bucket-region`, else
    /// GetBucketLocation (empty means us-east-1, `EU` means eu-west-1).
    pub(crate) async fn bucket_region(&self, bucket: &str) -> Result<String, Error> {
        let head = self
            .s3
            .head_bucket()
            .bucket(bucket)
            .set_expected_bucket_owner(self.bucket_owner.clone())
            .send()
            .await;
        match head {
            Ok(out) => {
                if let Some(region) = out.bucket_region() {
                    return Ok(region.to_owned());
                }
            }
            Err(err) => {
                // A bucket in another region answers 301 with its region in the header.
                let header = err
                    .raw_response()
                    .and_then(|r| r.headers().get("x-amz-bucket-region"))
                    .map(str::to_owned);
                if let Some(region) = header {
                    return Ok(region);
                }
                let status = err.raw_response().map(|r| r.status().as_u16());
                return match status {
                    Some(404 | 403 | 400) => Err(Error::BucketNotFound {
                        bucket: bucket.to_owned(),
                    }),
                    _ => Err(aws_error("HeadBucket", err)),
                };
            }
        }
        let location = self
            .s3
            .get_bucket_location()
            .bucket(bucket)
            .set_expected_bucket_owner(self.bucket_owner.clone())
            .send()
            .await
            .map_err(|e| aws_error("GetBucketLocation", e))?;
        Ok(match location.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_owned(),
            Some("EU") => "eu-west-1".to_owned(),
            Some(region) => region.to_owned(),
        })
    }

    /// Starts a streamed upload of one object.
    pub(crate) fn upload<'a>(&'a self, bucket: &'a str, key: &'a str) -> Upload<'a> {
        Upload {
            aws: self,
            bucket,
            key,
            buffer: Vec::with_capacity(PART_SIZE),
            upload_id: None,
            parts: Vec::new(),
            in_flight: std::collections::VecDeque::new(),
        }
    }

    /// Keys under `prefix`, all pages.
    pub(crate) async fn list_keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, Error> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .set_expected_bucket_owner(self.bucket_owner.clone())
                .send()
                .await
                .map_err(|e| aws_error("ListObjectsV2", e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .map(str::to_owned),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => return Ok(keys),
            }
        }
    }

    /// A GetObject of `bucket`/`key`, with the run's expected bucket owner.
    fn get_request(
        &self,
        bucket: &str,
        key: &str,
    ) -> aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder {
        self.s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_expected_bucket_owner(self.bucket_owner.clone())
    }

    /// An object's body as a stream.
    pub(crate) async fn get(&self, bucket: &str, key: &str) -> Result<ByteStream, Error> {
        let object = self
            .get_request(bucket, key)
            .send()
            .await
            .map_err(|e| aws_error("GetObject", e))?;
        Ok(object.body)
    }

    /// Up to `limit` bytes of an object from `offset` (a `Range` GET), with the version they
    /// are of and the object's whole size; no bytes past its end, `None` when it is not there.
    pub(crate) async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Option<crate::backend::Tail>, Error> {
        let last = offset.saturating_add(limit.max(1)) - 1;
        let object = match self
            .get_request(bucket, key)
            .range(format!("bytes={offset}-{last}"))
            .send()
            .await
        {
            Ok(object) => object,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            // 416: nothing past `offset` yet.
            Err(err)
                if err
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 416) =>
            {
                return Ok(Some(crate::backend::Tail {
                    size: offset,
                    ..Default::default()
                }));
            }
            Err(err) => return Err(aws_error("GetObject", err)),
        };
        let version = object.e_tag().unwrap_or_default().to_owned();
        // `Content-Range: bytes a-b/size`; a GET without a range honoured is the whole object.
        let size = object
            .content_range()
            .and_then(|r| r.rsplit('/').next())
            .and_then(|s| s.parse::<u64>().ok());
        let whole = size.is_none();
        let data = object
            .body
            .collect()
            .await
            .map_err(|e| read_error(bucket, key, &e))?
            .into_bytes();
        let (bytes, size) = if whole {
            let size = data.len() as u64;
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(data.len());
            let end = start
                .saturating_add(usize::try_from(limit).unwrap_or(usize::MAX))
                .min(data.len());
            (data.get(start..end).unwrap_or_default().to_vec(), size)
        } else {
            (data.to_vec(), size.unwrap_or_default())
        };
        Ok(Some(crate::backend::Tail {
            bytes,
            version,
            size,
        }))
    }

    /// A small object whole with its ETag, or `None` when there is no such object: what a
    /// read-modify-write starts from.
    pub(crate) async fn get_versioned(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(Vec<u8>, String)>, Error> {
        let object = match self.get_request(bucket, key).send().await {
            Ok(object) => object,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(err) => return Err(aws_error("GetObject", err)),
        };
        let etag = object.e_tag().unwrap_or_default().to_owned();
        let data = object
            .body
            .collect()
            .await
            .map_err(|e| read_error(bucket, key, &e))?;
        Ok(Some((data.into_bytes().to_vec(), etag)))
    }

    /// Writes a small object only if it is as expected: new (`If-None-Match: *`), or unchanged
    /// since it had `etag` (`If-Match`). Returns the new ETag; a lost race is an
    /// [`AwsErrorKind::Conflict`] error (S3's 412 `PreconditionFailed` or 409
    /// `ConditionalRequestConflict`).
    pub(crate) async fn put_conditional(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        expected: Expected<'_>,
    ) -> Result<String, Error> {
        let request = self
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body))
            .set_expected_bucket_owner(self.bucket_owner.clone());
        let request = match expected {
            Expected::Absent => request.if_none_match("*"),
            Expected::Unchanged(etag) => request.if_match(etag),
        };
        let put = request.send().await.map_err(|err| {
            // If-Match on an object deleted meanwhile is S3's 404: a conflict here too.
            let missing = err
                .raw_response()
                .is_some_and(|r| r.status().as_u16() == 404);
            let mut err = aws_error("PutObject", err);
            if missing && let Error::Aws { kind, .. } = &mut err {
                *kind = AwsErrorKind::Conflict;
            }
            err
        })?;
        Ok(put.e_tag().unwrap_or_default().to_owned())
    }

    /// An object's ETag, `None` when there is no such object.
    /// Copies an object inside S3 (`CopyObject`, up to 5 GB: more than any medium Bedrock
    /// takes), unless the copy is there already with the same ETag.
    pub(crate) async fn copy(
        &self,
        from: &str,
        from_owner: Option<&str>,
        to_bucket: &str,
        to_key: &str,
    ) -> Result<(), Error> {
        let (bucket, key) = crate::layout::split_s3_uri(from);
        // `x-amz-copy-source` is URL-encoded; `/` stays as it is.
        let mut source = format!("{bucket}/");
        for &b in key.as_bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                source.push(char::from(b));
            } else {
                source.push_str(&format!("%{b:02X}"));
            }
        }
        self.s3
            .copy_object()
            .copy_source(source)
            .bucket(to_bucket)
            .key(to_key)
            .set_expected_bucket_owner(self.bucket_owner.clone())
            .set_expected_source_bucket_owner(from_owner.map(str::to_owned))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| {
                if err
                    .as_service_error()
                    .and_then(|e| e.meta().code())
                    .is_some_and(|code| code == "NoSuchKey")
                {
                    Error::invalid_request(format!("its medium {from} does not exist"))
                } else {
                    aws_error("CopyObject", err)
                }
            })
    }

    pub(crate) async fn etag(&self, bucket: &str, key: &str) -> Result<Option<String>, Error> {
        match self
            .s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .set_expected_bucket_owner(self.bucket_owner.clone())
            .send()
            .await
        {
            Ok(head) => Ok(Some(head.e_tag().unwrap_or_default().to_owned())),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(aws_error("HeadObject", err)),
        }
    }

    /// An object's bytes in memory when it is at most `max` bytes (its `Content-Length`
    /// says so before the body is read); `None` when it is larger.
    pub(crate) async fn fetch_object(
        &self,
        bucket: &str,
        key: &str,
        max: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        let object = self
            .get_request(bucket, key)
            .send()
            .await
            .map_err(|e| aws_error("GetObject", e))?;
        let size = object
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(u64::MAX);
        if size > max {
            return Ok(None);
        }
        let mut body = object.body;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| read_error(bucket, key, &e))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max {
                return Ok(None);
            }
        }
        Ok(Some(bytes))
    }

    /// Streams an object into a new private file (mode 0600); returns the bytes and lines
    /// written.
    pub(crate) async fn download_to(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
    ) -> Result<(u64, u64), Error> {
        let mut body = self.get(bucket, key).await?;
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        // Written in large pieces: each write of a tokio file is a hand-off to a blocking
        // thread, and the body comes in small chunks.
        let mut file = tokio::io::BufWriter::with_capacity(
            2 << 20,
            crate::files::create_private(path).await.map_err(io)?,
        );
        let (mut bytes, mut lines) = (0u64, 0u64);
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| read_error(bucket, key, &e))?
        {
            file.write_all(&chunk).await.map_err(io)?;
            bytes += chunk.len() as u64;
            lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        file.flush().await.map_err(io)?;
        Ok((bytes, lines))
    }
}

/// Downloads `s3://bucket/key` to a new private temporary file, streamed to disk: a table
/// read from S3 (the `tables` feature). The client is made for the bucket's own region.
#[cfg(feature = "tables")]
pub(crate) async fn download_to_temp(
    sdk: &aws_config::SdkConfig,
    uri: &str,
) -> Result<tempfile::TempPath, Error> {
    let (bucket, key) = crate::layout::split_s3_uri(uri);
    if !uri.starts_with("s3://") || bucket.is_empty() || key.is_empty() {
        return Err(Error::InvalidConfig {
            field: "table",
            reason: format!("`{uri}` is not an s3://bucket/key URI"),
        });
    }
    let region = sdk
        .region()
        .map(|region| region.to_string())
        .unwrap_or_else(|| "us-east-1".to_owned());
    let aws = Aws::new(sdk, &region, None, None);
    let aws = match aws.bucket_region(bucket).await {
        Ok(found) if found != region => Aws::new(sdk, &found, None, None),
        _ => aws,
    };
    let temp = tempfile::Builder::new()
        .prefix(".llmbo-table-")
        .tempfile()
        .map_err(|source| Error::Io {
            path: std::env::temp_dir(),
            source,
        })?
        .into_temp_path();
    match aws.download_to(bucket, key, &temp).await {
        Ok(_) => Ok(temp),
        Err(Error::Aws {
            kind: AwsErrorKind::NotFound,
            ..
        }) => Err(Error::Table {
            path: uri.into(),
            message: "no such object: check the bucket and the key".into(),
        }),
        // Every other failure names the table too.
        Err(Error::Aws {
            operation,
            kind,
            code,
            message,
            source,
        }) => Err(Error::Aws {
            operation,
            kind,
            code,
            message: format!("{uri}: {message}"),
            source,
        }),
        Err(other) => Err(other),
    }
}
