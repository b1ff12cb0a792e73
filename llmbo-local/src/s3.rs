//! The S3 side: `s3s-fs` stores the objects; this wrapper adds what a region-aware client
//! needs (`x-amz-bucket-region`, GetBucketLocation), the expected-bucket-owner check, and
//! injected upload failures. Every other operation is s3s-fs's own.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::faults::Faults;
use crate::objects::{Attributes, Objects, Written};

/// Bucket name → region.
pub(crate) type BucketRegions = Arc<RwLock<HashMap<String, String>>>;

pub(crate) struct LocalS3 {
    pub(crate) fs: Arc<s3s_fs::FileSystem>,
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
            .ok_or_else(|| s3_error!(NoSuchBucket))
    }

    fn check_owner(&self, expected: Option<&String>) -> S3Result<()> {
        match expected {
            Some(owner) if owner != &self.account_id => {
                Err(s3_error!(AccessDenied, "Access Denied"))
            }
            _ => Ok(()),
        }
    }

    /// The upload exists and was started by this caller, or S3's `NoSuchUpload`.
    fn check_upload(
        &self,
        upload_id: &str,
        credentials: Option<&s3s::auth::Credentials>,
    ) -> S3Result<()> {
        let access_key = credentials.map(|c| c.access_key.as_str());
        if self.objects.upload_belongs_to(upload_id, access_key) {
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
}

/// The ETag of the object as it is now, or `None` when there is none: what `If-Match` and
/// `If-None-Match` are checked against, under the key's write lock.
fn stored_e_tag(objects: &Objects, bucket: &str, key: &str) -> S3Result<Option<String>> {
    objects
        .e_tag(bucket, key)
        .map_err(|e| s3_error!(InternalError, "the object could not be read: {e}"))
}

/// The checksums a write names (as headers, or as the algorithm of a trailer to come).
struct Requested {
    crc32: Option<String>,
    crc32c: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
    crc64nvme: Option<String>,
    algorithm: Option<ChecksumAlgorithm>,
}

impl Requested {
    /// A hasher for every checksum the write names.
    fn hasher(&self) -> S3Result<s3s::checksum::ChecksumHasher> {
        let mut hasher = s3s::checksum::ChecksumHasher::default();
        let algorithm = self.algorithm.as_ref().map(ChecksumAlgorithm::as_str);
        if self.crc32.is_some() || algorithm == Some(ChecksumAlgorithm::CRC32) {
            hasher.crc32 = Some(Default::default());
        }
        if self.crc32c.is_some() || algorithm == Some(ChecksumAlgorithm::CRC32C) {
            hasher.crc32c = Some(Default::default());
        }
        if self.sha1.is_some() || algorithm == Some(ChecksumAlgorithm::SHA1) {
            hasher.sha1 = Some(Default::default());
        }
        if self.sha256.is_some() || algorithm == Some(ChecksumAlgorithm::SHA256) {
            hasher.sha256 = Some(Default::default());
        }
        if self.crc64nvme.is_some() || algorithm == Some(ChecksumAlgorithm::CRC64NVME) {
            hasher.crc64nvme = Some(Default::default());
        }
        match algorithm {
            None
            | Some(
                ChecksumAlgorithm::CRC32
                | ChecksumAlgorithm::CRC32C
                | ChecksumAlgorithm::SHA1
                | ChecksumAlgorithm::SHA256
                | ChecksumAlgorithm::CRC64NVME,
            ) => Ok(hasher),
            Some(other) => Err(s3_error!(
                InvalidRequest,
                "Value for x-amz-checksum-algorithm header is invalid: {other}"
            )),
        }
    }

    /// Checks what was computed against what the client sent: headers, a trailer after an
    /// aws-chunked body, and `Content-MD5`.
    fn verify(
        mut self,
        written: &Written,
        trailers: Option<s3s::TrailingHeaders>,
        content_md5: Option<&str>,
    ) -> S3Result<()> {
        if let Some(trailers) = trailers.and_then(|t| t.take()) {
            let read = |name: &str| -> S3Result<Option<String>> {
                trailers
                    .get(name)
                    .map(|v| v.to_str().map(str::to_owned))
                    .transpose()
                    .map_err(|_| s3_error!(InvalidArgument, "the trailer {name} is not text"))
            };
            self.crc32 = read("x-amz-checksum-crc32")?.or(self.crc32);
            self.crc32c = read("x-amz-checksum-crc32c")?.or(self.crc32c);
            self.sha1 = read("x-amz-checksum-sha1")?.or(self.sha1);
            self.sha256 = read("x-amz-checksum-sha256")?.or(self.sha256);
            self.crc64nvme = read("x-amz-checksum-crc64nvme")?.or(self.crc64nvme);
        }
        let computed = &written.checksum;
        for (name, sent, got) in [
            ("CRC32", &self.crc32, &computed.checksum_crc32),
            ("CRC32C", &self.crc32c, &computed.checksum_crc32c),
            ("SHA1", &self.sha1, &computed.checksum_sha1),
            ("SHA256", &self.sha256, &computed.checksum_sha256),
            ("CRC64NVME", &self.crc64nvme, &computed.checksum_crc64nvme),
        ] {
            if let (Some(sent), Some(got)) = (sent, got)
                && sent != got
            {
                return Err(s3_error!(
                    BadDigest,
                    "The {name} you specified did not match the calculated checksum."
                ));
            }
        }
        if let Some(md5) = content_md5 {
            let sent = crate::runtime::base64_decode(md5).ok_or_else(|| {
                s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid.")
            })?;
            if sent != written.md5 {
                return Err(s3_error!(
                    BadDigest,
                    "The Content-MD5 you specified did not match what we received."
                ));
            }
        }
        Ok(())
    }
}

/// S3's conditional writes: `If-Match` needs the object to exist with that ETag (404
/// `NoSuchKey` when it does not exist, 412 `PreconditionFailed` when it differs);
/// `If-None-Match: *` needs it not to exist (412).
fn check_conditions(
    current: Option<&str>,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    let failed = || {
        s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        )
    };
    if let Some(condition) = if_match {
        let Some(current) = current else {
            return Err(s3_error!(NoSuchKey, "The specified key does not exist."));
        };
        match condition {
            ETagCondition::Any => {}
            ETagCondition::ETag(tag) if tag.value() == current => {}
            ETagCondition::ETag(_) => return Err(failed()),
        }
    }
    if let (Some(condition), Some(current)) = (if_none_match, current) {
        match condition {
            ETagCondition::Any => return Err(failed()),
            ETagCondition::ETag(tag) if tag.value() == current => return Err(failed()),
            ETagCondition::ETag(_) => {}
        }
    }
    Ok(())
}

/// S3's conditional reads (GET and HEAD): `If-Match` that does not match is 412
/// `PreconditionFailed`; `If-None-Match` that matches is 304 `NotModified`. Without an
/// object, the read's own 404 stands.
fn check_read_conditions(
    current: Option<&str>,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    let Some(current) = current else {
        return Ok(());
    };
    let matches = |condition: &ETagCondition| match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(tag) => tag.value() == current,
    };
    if if_match.is_some_and(|c| !matches(c)) {
        return Err(s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        ));
    }
    if if_none_match.is_some_and(matches) {
        return Err(s3_error!(NotModified, "Not Modified"));
    }
    Ok(())
}

/// Waits for a write that runs on its own task.
async fn complete<T>(task: tokio::task::JoinHandle<S3Result<T>>) -> S3Result<T> {
    match task.await {
        Ok(result) => result,
        Err(_) => Err(s3_error!(InternalError, "the write was interrupted")),
    }
}

/// Receives the body of a PutObject or UploadPart input (their checksum fields have the same
/// names): streamed to a temporary object, hashed, and checked against the checksums and the
/// `Content-MD5` the request names.
macro_rules! receive_checked {
    ($objects:expr, $input:expr, $trailers:expr) => {{
        let body = $input
            .body
            .take()
            .ok_or_else(|| s3_error!(IncompleteBody))?;
        let requested = Requested {
            crc32: $input.checksum_crc32.take(),
            crc32c: $input.checksum_crc32c.take(),
            sha1: $input.checksum_sha1.take(),
            sha256: $input.checksum_sha256.take(),
            crc64nvme: $input.checksum_crc64nvme.take(),
            algorithm: $input.checksum_algorithm.take(),
        };
        let written = $objects.receive(body, requested.hasher()?).await?;
        requested.verify(&written, $trailers, $input.content_md5.as_deref())?;
        written
    }};
}

/// A PutObject or UploadPart answer: the ETag and the checksums computed.
macro_rules! checksummed {
    ($output:ident, $e_tag:expr, $checksum:expr) => {
        $output {
            e_tag: Some(ETag::Strong($e_tag)),
            checksum_crc32: $checksum.checksum_crc32,
            checksum_crc32c: $checksum.checksum_crc32c,
            checksum_sha1: $checksum.checksum_sha1,
            checksum_sha256: $checksum.checksum_sha256,
            checksum_crc64nvme: $checksum.checksum_crc64nvme,
            ..Default::default()
        }
    };
}

#[async_trait::async_trait]
impl S3 for LocalS3 {
    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.check_owner(req.input.expected_bucket_owner.as_ref())?;
        let region = self.region_of(&req.input.bucket)?;
        let mut response = self.fs.head_bucket(req).await?;
        response.output.bucket_region = Some(region);
        Ok(response)
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let region = self.region_of(&req.input.bucket)?;
        let mut response = self.fs.get_bucket_location(req).await?;
        // S3 reports us-east-1 buckets with an empty LocationConstraint.
        response.output.location_constraint =
            (region != "us-east-1").then(|| BucketLocationConstraint::from(region));
        Ok(response)
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        check_key(&req.input.bucket, &req.input.key)?;
        self.check_owner(req.input.expected_bucket_owner.as_ref())?;
        self.maybe_fail_upload()?;
        let input = &req.input;
        let own_path = self.objects.path(&input.bucket, &input.key).is_some()
            && !input.key.ends_with('/')
            && input.storage_class.is_none();
        if !own_path {
            // Directory objects, storage classes and keys with `.`/`..` segments: s3s-fs's.
            return self.fs.put_object(req).await;
        }
        self.region_of(&input.bucket)?;
        if input
            .content_length
            .is_some_and(|n| n as u64 > crate::objects::MAX_BODY)
        {
            return Err(crate::objects::too_large());
        }
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
            let mut attributes = Attributes::new();
            let mut set = |name: &str, value: Option<String>| {
                if let Some(value) = value {
                    attributes.insert(name.to_owned(), serde_json::Value::String(value));
                }
            };
            set("content_encoding", input.content_encoding);
            set("content_type", input.content_type.map(|t| t.to_string()));
            set("content_disposition", input.content_disposition);
            set("content_language", input.content_language);
            set("cache_control", input.cache_control);
            set("website_redirect_location", input.website_redirect_location);
            if let Some(metadata) = input.metadata
                && let Ok(value) = serde_json::to_value(metadata)
            {
                attributes.insert("user_metadata".into(), value);
            }
            let _write = objects.locks.of(&input.bucket, &input.key).write().await;
            if input.if_match.is_some() || input.if_none_match.is_some() {
                let current = stored_e_tag(&objects, &input.bucket, &input.key)?;
                check_conditions(
                    current.as_deref(),
                    input.if_match.as_ref(),
                    input.if_none_match.as_ref(),
                )?;
            }
            let e_tag = crate::objects::hex(&written.md5);
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

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        check_upload_key(&req.input.bucket, &req.input.key)?;
        self.check_owner(req.input.expected_bucket_owner.as_ref())?;
        self.maybe_fail_upload()?;
        check_part_number(req.input.part_number)?;
        self.check_upload(&req.input.upload_id, req.credentials.as_ref())?;
        if req
            .input
            .content_length
            .is_some_and(|n| n as u64 > crate::objects::MAX_BODY)
        {
            return Err(crate::objects::too_large());
        }
        let objects = Arc::clone(&self.objects);
        let S3Request {
            mut input,
            trailing_headers,
            ..
        } = req;
        let written = receive_checked!(objects, input, trailing_headers);
        let e_tag = crate::objects::hex(&written.md5);
        let checksum = written.checksum.clone();
        objects
            .commit_part(written, &input.upload_id, input.part_number)
            .map_err(|e| s3_error!(InternalError, "the part could not be written: {e}"))?;
        Ok(S3Response::new(checksummed!(
            UploadPartOutput,
            e_tag,
            checksum
        )))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        check_key(&req.input.bucket, &req.input.key)?;
        self.check_owner(req.input.expected_bucket_owner.as_ref())?;
        let _read = self
            .objects
            .locks
            .of(&req.input.bucket, &req.input.key)
            .read()
            .await;
        let input = &req.input;
        if input.if_match.is_some() || input.if_none_match.is_some() {
            check_read_conditions(
                stored_e_tag(&self.objects, &input.bucket, &input.key)?.as_deref(),
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
            )?;
        }
        let path = self.objects.path(&req.input.bucket, &req.input.key);
        let range = req.input.range;
        // s3s-fs answers the headers (and every error); the bytes come from a reader that
        // sends 1 MiB at a time instead of its 4 KiB.
        let mut response = self.fs.get_object(req).await?;
        if let Some(path) = path.filter(|p| p.is_file()) {
            let io_error =
                |e: std::io::Error| s3_error!(InternalError, "the object could not be read: {e}");
            let file_len = std::fs::metadata(&path).map_err(io_error)?.len();
            let (start, len) = match range {
                None => (0, file_len),
                Some(range) => {
                    let range = range.check(file_len)?;
                    (range.start, range.end - range.start)
                }
            };
            let stream = self.objects.read(&path, start, len).map_err(io_error)?;
            response.output.body = Some(StreamingBlob::wrap(stream));
        }
        Ok(response)
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        check_key(&req.input.bucket, &req.input.key)?;
        self.check_owner(req.input.expected_bucket_owner.as_ref())?;
        let _read = self
            .objects
            .locks
            .of(&req.input.bucket, &req.input.key)
            .read()
            .await;
        let input = &req.input;
        if input.if_match.is_some() || input.if_none_match.is_some() {
            check_read_conditions(
                stored_e_tag(&self.objects, &input.bucket, &input.key)?.as_deref(),
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
            )?;
        }
        self.fs.head_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        check_upload_key(&req.input.bucket, &req.input.key)?;
        self.check_owner(req.input.expected_bucket_owner.as_ref())?;
        self.fs.create_multipart_upload(req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let region = req
            .input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map_or_else(|| "us-east-1".to_owned(), |c| c.as_str().to_owned());
        let bucket = req.input.bucket.clone();
        // Every bucket here is the caller's: S3 answers the owner's re-creation with 200 in
        // us-east-1 (for compatibility) and BucketAlreadyOwnedByYou elsewhere.
        if let Ok(existing) = self.region_of(&bucket) {
            if existing == "us-east-1" && region == "us-east-1" {
                return Ok(S3Response::new(CreateBucketOutput {
                    location: Some(format!("/{bucket}")),
                }));
            }
            return Err(s3_error!(
                BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it."
            ));
        }
        let response = self.fs.create_bucket(req).await?;
        self.regions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(bucket, region);
        Ok(response)
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.check_owner(req.input.expected_bucket_owner.as_ref())?;
        let bucket = req.input.bucket.clone();
        self.region_of(&bucket)?;
        // s3s-fs removes the folder and everything in it; S3 refuses a bucket with objects.
        let has_objects = self
            .objects
            .path(&bucket, "")
            .is_some_and(|folder| holds_a_file(&folder));
        if has_objects {
            return Err(s3_error!(
                BucketNotEmpty,
                "The bucket you tried to delete is not empty"
            ));
        }
        let response = self.fs.delete_bucket(req).await?;
        self.regions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&bucket);
        Ok(response)
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        check_upload_key(&req.input.bucket, &req.input.key)?;
        check_copy_source(&req.input.copy_source)?;
        self.check_owner(req.input.expected_bucket_owner.as_ref())?;
        self.check_owner(req.input.expected_source_bucket_owner.as_ref())?;
        check_part_number(req.input.part_number)?;
        self.check_upload(&req.input.upload_id, req.credentials.as_ref())?;
        let input = req.input;
        let CopySource::Bucket {
            bucket: source_bucket,
            key: source_key,
            ..
        } = &input.copy_source
        else {
            return Err(s3_error!(
                NotImplemented,
                "Only bucket copy sources are served"
            ));
        };
        self.region_of(source_bucket)?;
        let no_such_key = || s3_error!(NoSuchKey, "The specified key does not exist.");
        let source = self
            .objects
            .path(source_bucket, source_key)
            .filter(|p| p.is_file())
            .ok_or_else(no_such_key)?;
        let objects = Arc::clone(&self.objects);
        let _read = objects.locks.of(source_bucket, source_key).read().await;
        let io_error =
            |e: std::io::Error| s3_error!(InternalError, "the part could not be copied: {e}");
        let size = std::fs::metadata(&source).map_err(io_error)?.len();
        let (start, len) = match &input.copy_source_range {
            None => (0, size),
            Some(range) => copy_source_range(range, size)?,
        };
        let task_objects = Arc::clone(&objects);
        let written =
            tokio::task::spawn_blocking(move || task_objects.copy_range(&source, start, len))
                .await
                .map_err(|_| s3_error!(InternalError, "the copy was interrupted"))?
                .map_err(io_error)?;
        let e_tag = crate::objects::hex(&written.md5);
        objects
            .commit_part(written, &input.upload_id, input.part_number)
            .map_err(io_error)?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(e_tag)),
                last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        check_upload_key(&req.input.bucket, &req.input.key)?;
        self.check_owner(req.input.expected_bucket_owner.as_ref())?;
        self.check_upload(&req.input.upload_id, req.credentials.as_ref())?;
        let objects = Arc::clone(&self.objects);
        complete(tokio::spawn(async move {
            let input = req.input;
            let parts: Vec<(i32, Option<String>)> = input
                .multipart_upload
                .and_then(|upload| upload.parts)
                .unwrap_or_default()
                .into_iter()
                .map(|part| {
                    (
                        part.part_number.unwrap_or(0),
                        part.e_tag.map(ETag::into_value),
                    )
                })
                .collect();
            let _write = objects.locks.of(&input.bucket, &input.key).write().await;
            if input.if_match.is_some() || input.if_none_match.is_some() {
                let current = stored_e_tag(&objects, &input.bucket, &input.key)?;
                check_conditions(
                    current.as_deref(),
                    input.if_match.as_ref(),
                    input.if_none_match.as_ref(),
                )?;
            }
            let (bucket, key, upload_id) = (input.bucket, input.key, input.upload_id);
            let objects = Arc::clone(&objects);
            let e_tag = tokio::task::spawn_blocking({
                let (bucket, key) = (bucket.clone(), key.clone());
                move || objects.complete_upload(&bucket, &key, &upload_id, &parts)
            })
            .await
            .map_err(|_| s3_error!(InternalError, "the write was interrupted"))??;
            Ok(S3Response::new(CompleteMultipartUploadOutput {
                bucket: Some(bucket),
                key: Some(key),
                e_tag: Some(ETag::Strong(e_tag)),
                ..Default::default()
            }))
        }))
        .await
    }

    // The rest is s3s-fs as it is.
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        check_upload_key(&req.input.bucket, &req.input.key)?;
        // S3 says NoSuchUpload for an upload that is not there (s3s-fs: AccessDenied).
        self.check_upload(&req.input.upload_id, req.credentials.as_ref())?;
        self.fs.abort_multipart_upload(req).await
    }

    /// The parts of an upload that is still open, in ascending part-number order, a page at a
    /// time (`max-parts`, 1,000 by default, after `part-number-marker`); a completed or
    /// aborted upload is NoSuchUpload, as on S3.
    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        check_upload_key(&req.input.bucket, &req.input.key)?;
        self.check_upload(&req.input.upload_id, req.credentials.as_ref())?;
        let input = req.input;
        let marker: i32 = input.part_number_marker.unwrap_or(0);
        let max_parts = input.max_parts.unwrap_or(1000).clamp(0, 1000);
        let all = self
            .objects
            .parts(&input.upload_id)
            .map_err(|e| s3_error!(InternalError, "the parts could not be listed: {e}"))?;
        let after: Vec<_> = all.into_iter().filter(|p| p.number > marker).collect();
        let page = usize::try_from(max_parts).unwrap_or(0);
        let is_truncated = after.len() > page;
        let parts: Vec<Part> = after
            .into_iter()
            .take(page)
            .map(|part| Part {
                part_number: Some(part.number),
                size: i64::try_from(part.size).ok(),
                last_modified: Some(Timestamp::from(part.modified)),
                e_tag: part.md5.map(ETag::Strong),
                ..Default::default()
            })
            .collect();
        let next_marker = parts.last().and_then(|p| p.part_number);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            max_parts: Some(max_parts),
            is_truncated: Some(is_truncated),
            part_number_marker: Some(marker),
            next_part_number_marker: next_marker,
            parts: Some(parts),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        check_prefix(req.input.prefix.as_deref())?;
        let mut response = self.fs.list_objects_v2(req).await?;
        // s3s-fs echoes `EncodingType=url` without encoding: boto3 and the CLI then decode
        // raw keys, and `a+b` comes back as `a b`. Encode what S3 encodes.
        let out = &mut response.output;
        if url_encoded(out.encoding_type.as_ref()) {
            for field in [&mut out.prefix, &mut out.delimiter, &mut out.start_after] {
                encode_field(field);
            }
            encode_listing(out.contents.as_mut(), out.common_prefixes.as_mut());
        }
        Ok(response)
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        check_prefix(req.input.prefix.as_deref())?;
        let mut response = self.fs.list_objects(req).await?;
        let out = &mut response.output;
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
        Ok(response)
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.fs.list_buckets(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        check_key(&req.input.bucket, &req.input.key)?;
        let _write = self
            .objects
            .locks
            .of(&req.input.bucket, &req.input.key)
            .write()
            .await;
        self.fs.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        for object in &req.input.delete.objects {
            check_key(&req.input.bucket, &object.key)?;
        }
        self.fs.delete_objects(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        check_key(&req.input.bucket, &req.input.key)?;
        check_copy_source(&req.input.copy_source)?;
        self.check_owner(req.input.expected_bucket_owner.as_ref())?;
        self.check_owner(req.input.expected_source_bucket_owner.as_ref())?;
        // The source is read and the target written under their keys' locks, taken in one
        // order (two copies the other way round never wait for each other).
        let target = self.objects.locks.of(&req.input.bucket, &req.input.key);
        let source = match &req.input.copy_source {
            CopySource::Bucket { bucket, key, .. } => Some(self.objects.locks.of(bucket, key)),
            _ => None,
        };
        let _guards = match source.filter(|s| !std::ptr::eq(*s, target)) {
            Some(source) if (source as *const _ as usize) < (target as *const _ as usize) => {
                let read = source.read().await;
                (Some(read), target.write().await)
            }
            Some(source) => {
                let write = target.write().await;
                (Some(source.read().await), write)
            }
            None => (None, target.write().await),
        };
        self.fs.copy_object(req).await
    }
}

/// S3's longest key, in bytes of UTF-8.
const MAX_KEY_BYTES: usize = 1024;

/// A key llmbo-local can store under its bucket and nowhere else. S3 stores any key
/// literally; llmbo-local keeps objects as files, so a segment that a file system reads as a
/// step (`.`, `..`), a backslash or a NUL would lead out of the bucket, to another bucket or
/// to a side file: those keys are refused with a 400 before anything is read or written, and
/// so is a key over S3's 1,024 bytes (`KeyTooLongError`, as S3 answers). So is a key whose
/// file or side files (named after the key, as s3s-fs names them) would pass the file
/// system's 255-byte names: refused before the body is written, never half-stored.
fn check_key(bucket: &str, key: &str) -> S3Result<()> {
    check_key_with(bucket, key, false)
}

/// [`check_key`] for a multipart upload, whose parts' side files have longer names.
fn check_upload_key(bucket: &str, key: &str) -> S3Result<()> {
    check_key_with(bucket, key, true)
}

fn check_key_with(bucket: &str, key: &str, multipart: bool) -> S3Result<()> {
    if key.len() > MAX_KEY_BYTES {
        return Err(s3_error!(
            KeyTooLongError,
            "Your key is too long: {} bytes, the most is {MAX_KEY_BYTES}.",
            key.len()
        ));
    }
    if let Some(reason) = unsafe_name(key) {
        return Err(s3_error!(
            InvalidArgument,
            "llmbo-local does not store keys with {reason} (S3 would store it literally); rename the object"
        ));
    }
    let longest = longest_name(bucket, key, multipart);
    if longest > MAX_FILE_NAME {
        return Err(s3_error!(
            KeyTooLongError,
            "llmbo-local keeps each object in files named after its key, and this key makes a name of {longest} bytes, over the file system's {MAX_FILE_NAME}; S3 itself takes keys up to {MAX_KEY_BYTES} bytes: use a shorter key (or one with shorter segments)"
        ));
    }
    Ok(())
}

/// The longest file name a file system takes (Linux, macOS).
const MAX_FILE_NAME: usize = 255;

/// The longest file name an object of `bucket`/`key` needs: a segment of the key, or its
/// longest side file, `.bucket-<b64 bucket>.object-<b64 key>.metadata.json` (and, while a
/// multipart upload is open, `….upload-<uuid>.metadata.json`), in URL-safe base64 without
/// padding, as s3s-fs writes it.
fn longest_name(bucket: &str, key: &str, multipart: bool) -> usize {
    let b64 = |n: usize| (4 * n).div_ceil(3);
    let upload = if multipart { ".upload-".len() + 36 } else { 0 };
    let side = ".bucket-".len()
        + b64(bucket.len())
        + ".object-".len()
        + b64(key.len())
        + upload
        + ".metadata.json".len();
    let segment = key.split('/').map(str::len).max().unwrap_or(0);
    side.max(segment)
}

/// A listing prefix leads nowhere else either.
fn check_prefix(prefix: Option<&str>) -> S3Result<()> {
    match prefix.and_then(unsafe_name) {
        Some(reason) => Err(s3_error!(
            InvalidArgument,
            "llmbo-local does not list prefixes with {reason}"
        )),
        None => Ok(()),
    }
}

/// The copy source's key, as [`check_key`] checks a key.
fn check_copy_source(source: &CopySource) -> S3Result<()> {
    match source {
        CopySource::Bucket { bucket, key, .. } => check_key(bucket, key),
        _ => Ok(()),
    }
}

/// What in a key or prefix could lead out of its bucket, in words; `None` when nothing can.
fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.contains('\0') {
        Some("a NUL character")
    } else if name.contains('\\') {
        Some("a backslash")
    } else if name
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        Some("a `.` or `..` segment")
    } else {
        None
    }
}

/// S3's bounds on a part number.
fn check_part_number(number: i32) -> S3Result<()> {
    if (1..=10_000).contains(&number) {
        return Ok(());
    }
    Err(s3_error!(
        InvalidArgument,
        "Part number must be an integer between 1 and 10000, inclusive"
    ))
}

/// Whether a listing asked for `EncodingType=url`.
fn url_encoded(encoding: Option<&EncodingType>) -> bool {
    encoding.is_some_and(|e| e.as_str() == EncodingType::URL)
}

fn encode_field(field: &mut Option<String>) {
    if let Some(value) = field.as_mut() {
        *value = url_encode(value);
    }
}

fn encode_listing(contents: Option<&mut Vec<Object>>, prefixes: Option<&mut Vec<CommonPrefix>>) {
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
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `bytes=first-last` of an object of `size` bytes, as (start, length).
fn copy_source_range(range: &str, size: u64) -> S3Result<(u64, u64)> {
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (first, last) = range
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(invalid)?;
    let first: u64 = first.parse().map_err(|_| invalid())?;
    let last: u64 = last.parse().map_err(|_| invalid())?;
    if first > last {
        return Err(invalid());
    }
    if last >= size {
        return Err(s3_error!(
            InvalidRange,
            "The requested range is not satisfiable"
        ));
    }
    Ok((first, last - first + 1))
}

/// Whether a folder holds a file anywhere below it.
fn holds_a_file(folder: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            holds_a_file(&path)
        } else {
            true
        }
    })
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
    fn copy_ranges_are_read_as_s3_reads_them() {
        assert_eq!(copy_source_range("bytes=0-9", 10).ok(), Some((0, 10)));
        assert_eq!(copy_source_range("bytes=5-5", 10).ok(), Some((5, 1)));
        assert!(copy_source_range("bytes=5-10", 10).is_err());
        assert!(copy_source_range("bytes=6-5", 10).is_err());
        assert!(copy_source_range("5-6", 10).is_err());
        assert!(copy_source_range("bytes=-5", 10).is_err());
    }
}
