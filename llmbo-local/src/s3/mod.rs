//! The S3 side, on llmbo-local's own object store ([`crate::objects`]): what a region-aware
//! client needs (`x-amz-bucket-region`, GetBucketLocation), the expected-bucket-owner check,
//! conditional reads and writes, checksums, multipart uploads, copies, listings, and
//! injected upload failures. Each operation checks what it is given ([`checks`],
//! [`conditions`]) and then takes the key's lock for the store's work.

mod checks;
#[macro_use]
mod conditions;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::faults::Faults;
use crate::objects::{Objects, Stored};
use checks::{check_copy_source, check_key};
use conditions::{check_conditions, check_read_conditions};

/// Bucket name → region.
pub(crate) type BucketRegions = Arc<RwLock<HashMap<String, String>>>;

pub(crate) struct LocalS3 {
    pub(crate) regions: BucketRegions,
    pub(crate) account_id: String,
    pub(crate) faults: Arc<Faults>,
    pub(crate) objects: Arc<Objects>,
}

impl LocalS3 {
    fn region_of(&self, bucket: &str) -> S3Result<String> {
        let regions = self
            .regions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        regions
            .get(bucket)
            .cloned()
            .ok_or_else(|| s3_error!(NoSuchBucket, "The specified bucket does not exist"))
    }

    fn check_owner(&self, expected: Option<&String>) -> S3Result<()> {
        match expected {
            Some(owner) if owner != &self.account_id => {
                Err(s3_error!(AccessDenied, "Access Denied"))
            }
            _ => Ok(()),
        }
    }

    /// The upload of `bucket`/`key` exists and was started by this caller, or S3's
    /// `NoSuchUpload`.
    fn check_upload(
        &self,
        upload_id: &str,
        bucket: &str,
        key: &str,
        credentials: Option<&s3s::auth::Credentials>,
    ) -> S3Result<()> {
        let access_key = credentials.map(|c| c.access_key.as_str());
        if self
            .objects
            .upload_belongs_to(upload_id, bucket, key, access_key)
        {
            return Ok(());
        }
        Err(s3_error!(
            NoSuchUpload,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
        ))
    }

    fn maybe_fail_upload(&self) -> S3Result<()> {
        if self.faults.next_s3_upload_fails() {
            return Err(s3_error!(
                InternalError,
                "We encountered an internal error. Please try again."
            ));
        }
        Ok(())
    }

    /// What every write of a body checks first: the key, the bucket's owner, an injected
    /// failure, and the size the request announces.
    fn check_write(
        &self,
        key: &str,
        expected_owner: Option<&String>,
        content_length: Option<i64>,
    ) -> S3Result<()> {
        check_key(key)?;
        self.check_owner(expected_owner)?;
        self.maybe_fail_upload()?;
        if content_length.is_some_and(|n| n as u64 > crate::objects::MAX_BODY) {
            return Err(crate::objects::too_large());
        }
        Ok(())
    }

    /// The object a GET or HEAD names, under its key's read lock (held by the guard returned),
    /// with the read's conditions checked.
    async fn read_checked(
        &self,
        bucket: &str,
        key: &str,
        expected_owner: Option<&String>,
        if_match: Option<&ETagCondition>,
        if_none_match: Option<&ETagCondition>,
    ) -> S3Result<(tokio::sync::RwLockReadGuard<'_, ()>, Stored)> {
        check_key(key)?;
        self.check_owner(expected_owner)?;
        self.region_of(bucket)?;
        let guard = self.objects.locks.of(bucket, key).read().await;
        let stored = self.stored(bucket, key)?;
        check_read_conditions(Some(&stored.e_tag), if_match, if_none_match)?;
        Ok((guard, stored))
    }

    /// The object as it is stored, or S3's `NoSuchKey`.
    fn stored(&self, bucket: &str, key: &str) -> S3Result<Stored> {
        self.objects
            .stat(bucket, key)
            .map_err(|e| s3_error!(InternalError, "the object could not be read: {e}"))?
            .ok_or_else(|| s3_error!(NoSuchKey, "The specified key does not exist."))
    }
}

/// The ETag of the object as it is now, or `None` when there is none: what `If-Match` and
/// `If-None-Match` are checked against, under the key's lock.
fn stored_e_tag(objects: &Objects, bucket: &str, key: &str) -> S3Result<Option<String>> {
    objects
        .e_tag(bucket, key)
        .map_err(|e| s3_error!(InternalError, "the object could not be read: {e}"))
}

/// The attributes a PutObject, CreateMultipartUpload or CopyObject input sets (their fields
/// have the same names), by the names they are stored under.
macro_rules! attributes_of {
    ($input:expr) => {{
        let mut attributes = $crate::objects::Attributes::new();
        let mut set = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                attributes.insert(name.to_owned(), serde_json::Value::String(value));
            }
        };
        set("content_encoding", $input.content_encoding.clone());
        set("content_type", $input.content_type.clone());
        set("content_disposition", $input.content_disposition.clone());
        set("content_language", $input.content_language.clone());
        set("cache_control", $input.cache_control.clone());
        set(
            "website_redirect_location",
            $input.website_redirect_location.clone(),
        );
        if let Some(metadata) = &$input.metadata
            && let Ok(value) = serde_json::to_value(metadata)
        {
            attributes.insert("user_metadata".into(), value);
        }
        attributes
    }};
}

/// A GetObject or HeadObject answer's headers from what is stored (their fields have the
/// same names): length, attributes, ETag, and the checksums when the whole object is sent.
macro_rules! object_headers {
    ($output:ident, $stored:expr, $length:expr, $whole:expr) => {{
        let stored = $stored;
        let text = |name: &str| {
            stored
                .attributes
                .get(name)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let checksum = if $whole {
            stored.checksum.clone()
        } else {
            // S3 sends no whole-object checksum with part of an object.
            Checksum::default()
        };
        $output {
            content_length: i64::try_from($length).ok(),
            content_type: text("content_type"),
            content_encoding: text("content_encoding"),
            content_disposition: text("content_disposition"),
            content_language: text("content_language"),
            cache_control: text("cache_control"),
            website_redirect_location: text("website_redirect_location"),
            metadata: stored
                .attributes
                .get("user_metadata")
                .and_then(|m| serde_json::from_value(m.clone()).ok()),
            last_modified: Some(Timestamp::from(stored.modified)),
            e_tag: Some(ETag::Strong(stored.e_tag.clone())),
            checksum_crc32: checksum.checksum_crc32,
            checksum_crc32c: checksum.checksum_crc32c,
            checksum_sha1: checksum.checksum_sha1,
            checksum_sha256: checksum.checksum_sha256,
            checksum_crc64nvme: checksum.checksum_crc64nvme,
            ..Default::default()
        }
    }};
}

/// Waits for a write that runs on its own task.
async fn complete<T>(task: tokio::task::JoinHandle<S3Result<T>>) -> S3Result<T> {
    match task.await {
        Ok(result) => result,
        Err(_) => Err(s3_error!(InternalError, "the write was interrupted")),
    }
}

/// [`LocalS3::read_checked`] of a GetObject or HeadObject input (their fields have the same
/// names).
macro_rules! read_checked {
    ($s3:expr, $input:expr) => {
        $s3.read_checked(
            &$input.bucket,
            &$input.key,
            $input.expected_bucket_owner.as_ref(),
            $input.if_match.as_ref(),
            $input.if_none_match.as_ref(),
        )
        .await
    };
}

/// The conditions of a PutObject or CompleteMultipartUpload input, checked against the object
/// as it is now; the caller holds the key's write lock.
macro_rules! write_conditions {
    ($objects:expr, $input:expr) => {
        if $input.if_match.is_some() || $input.if_none_match.is_some() {
            let current = stored_e_tag(&$objects, &$input.bucket, &$input.key)?;
            check_conditions(
                current.as_deref(),
                $input.if_match.as_ref(),
                $input.if_none_match.as_ref(),
            )
        } else {
            Ok(())
        }
    };
}

mod buckets;
mod listing;
mod multipart;

#[async_trait::async_trait]
impl S3 for LocalS3 {
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.check_write(
            &req.input.key,
            req.input.expected_bucket_owner.as_ref(),
            req.input.content_length,
        )?;
        self.region_of(&req.input.bucket)?;
        // S3 writes an object whole or not at all: finish the write even if the client hangs
        // up once the body is in, so its data and its checksum never disagree.
        let objects = Arc::clone(&self.objects);
        complete(tokio::spawn(async move {
            let S3Request {
                mut input,
                trailing_headers,
                ..
            } = req;
            let written = receive_checked!(objects, input, trailing_headers);
            let attributes = attributes_of!(input);
            let _write = objects.locks.of(&input.bucket, &input.key).write().await;
            write_conditions!(objects, input)?;
            let e_tag = hex::encode(written.md5);
            let checksum = written.checksum.clone();
            objects
                .commit(written, &input.bucket, &input.key, &e_tag, &attributes)
                .map_err(|e| s3_error!(InternalError, "the object could not be written: {e}"))?;
            Ok(S3Response::new(checksummed!(
                PutObjectOutput,
                e_tag,
                checksum
            )))
        }))
        .await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = &req.input;
        let (_read, stored) = read_checked!(self, input)?;
        let (start, len, content_range) = match input.range {
            None => (0, stored.size, None),
            Some(range) => {
                let range = range.check(stored.size)?;
                let content_range =
                    format!("bytes {}-{}/{}", range.start, range.end - 1, stored.size);
                (range.start, range.end - range.start, Some(content_range))
            }
        };
        // The file is opened here, under the key's read lock: a later write (a rename) does
        // not change what is sent.
        let stream = self
            .objects
            .read(&stored.data, start, len)
            .map_err(|e| s3_error!(InternalError, "the object could not be read: {e}"))?;
        let mut output = object_headers!(GetObjectOutput, &stored, len, len == stored.size);
        output.content_range = content_range;
        output.body = Some(StreamingBlob::wrap(stream));
        Ok(S3Response::new(output))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = &req.input;
        let (_read, stored) = read_checked!(self, input)?;
        Ok(S3Response::new(object_headers!(
            HeadObjectOutput,
            &stored,
            stored.size,
            true
        )))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = &req.input;
        check_key(&input.key)?;
        self.check_owner(input.expected_bucket_owner.as_ref())?;
        self.region_of(&input.bucket)?;
        let _write = self
            .objects
            .locks
            .of(&input.bucket, &input.key)
            .write()
            .await;
        // S3 answers 204 whether or not there was an object.
        self.objects
            .remove(&input.bucket, &input.key)
            .map_err(|e| s3_error!(InternalError, "the object could not be deleted: {e}"))?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        for object in &input.delete.objects {
            check_key(&object.key)?;
        }
        self.check_owner(input.expected_bucket_owner.as_ref())?;
        self.region_of(&input.bucket)?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for object in input.delete.objects {
            let _write = self
                .objects
                .locks
                .of(&input.bucket, &object.key)
                .write()
                .await;
            match self.objects.remove(&input.bucket, &object.key) {
                Ok(_) if quiet => {}
                Ok(_) => deleted.push(DeletedObject {
                    key: Some(object.key),
                    version_id: object.version_id,
                    ..Default::default()
                }),
                Err(e) => errors.push(Error {
                    code: Some("InternalError".into()),
                    key: Some(object.key),
                    message: Some(format!("the object could not be deleted: {e}")),
                    ..Default::default()
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        check_key(&input.key)?;
        check_copy_source(&input.copy_source)?;
        self.check_owner(input.expected_bucket_owner.as_ref())?;
        self.check_owner(input.expected_source_bucket_owner.as_ref())?;
        let (source_bucket, source_key) = bucket_source(&input.copy_source)?;
        self.region_of(source_bucket)?;
        self.region_of(&input.bucket)?;
        // The source is read and the target written under their keys' locks, taken in one
        // order (two copies the other way round never wait for each other).
        let target = self.objects.locks.of(&input.bucket, &input.key);
        let source_lock = self.objects.locks.of(source_bucket, source_key);
        let _guards = if std::ptr::eq(source_lock, target) {
            (None, target.write().await)
        } else if (source_lock as *const _ as usize) < (target as *const _ as usize) {
            let read = source_lock.read().await;
            (Some(read), target.write().await)
        } else {
            let write = target.write().await;
            (Some(source_lock.read().await), write)
        };
        let source = self.stored(source_bucket, source_key)?;
        check_read_conditions(
            Some(&source.e_tag),
            input.copy_source_if_match.as_ref(),
            None,
        )?;
        if input
            .copy_source_if_none_match
            .as_ref()
            .is_some_and(|c| check_read_conditions(Some(&source.e_tag), None, Some(c)).is_err())
        {
            // A copy whose source matches If-None-Match is 412, not a read's 304.
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let attributes = if replace {
            attributes_of!(input)
        } else {
            source.attributes.clone()
        };
        let objects = Arc::clone(&self.objects);
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        let e_tag = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let mut written = objects.copy_range(&source.data, 0, source.size)?;
            // The same bytes: the source's whole-object checksums hold for the copy.
            written.checksum = source.checksum;
            let e_tag = hex::encode(written.md5);
            objects.commit(written, &bucket, &key, &e_tag, &attributes)?;
            Ok(e_tag)
        })
        .await
        .map_err(|_| s3_error!(InternalError, "the copy was interrupted"))?
        .map_err(|e| s3_error!(InternalError, "the object could not be copied: {e}"))?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(e_tag)),
                last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        buckets::head_bucket(self, req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        buckets::get_bucket_location(self, req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        multipart::upload_part(self, req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        multipart::create_multipart_upload(self, req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        buckets::create_bucket(self, req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        buckets::delete_bucket(self, req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        multipart::upload_part_copy(self, req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        multipart::complete_multipart_upload(self, req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        multipart::abort_multipart_upload(self, req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        multipart::list_parts(self, req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        listing::list_objects_v2(self, req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        listing::list_objects(self, req).await
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        buckets::list_buckets(self, _req).await
    }
}

/// The bucket and key of a copy source: llmbo-local serves no access points or outposts.
fn bucket_source(source: &CopySource) -> S3Result<(&str, &str)> {
    match source {
        CopySource::Bucket { bucket, key, .. } => Ok((bucket, key)),
        _ => Err(s3_error!(
            NotImplemented,
            "Only bucket copy sources are served"
        )),
    }
}
