//! The S3 side: `s3s-fs` stores the objects; this wrapper adds what a region-aware client
//! needs (`x-amz-bucket-region`, GetBucketLocation), the expected-bucket-owner check, and
//! injected upload failures. Every other operation is s3s-fs's own.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::faults::Faults;

/// Bucket name → region.
pub(crate) type BucketRegions = Arc<RwLock<HashMap<String, String>>>;

pub(crate) struct LocalS3 {
    pub(crate) fs: Arc<s3s_fs::FileSystem>,
    pub(crate) regions: BucketRegions,
    pub(crate) account_id: String,
    pub(crate) faults: Arc<Faults>,
    pub(crate) locks: Arc<KeyLocks>,
}

/// s3s-fs writes an object's body (a rename) and then its checksums (a side file) as two
/// steps, so two writes of one key, or a read between the steps, could pair one body with
/// another's checksum. S3 writes objects atomically; these locks make llmbo-local do the
/// same: writes of a key take its lock exclusively until both steps are done, reads share
/// it while they load the checksums and open the body.
pub(crate) struct KeyLocks([tokio::sync::RwLock<()>; 64]);

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks(std::array::from_fn(|_| tokio::sync::RwLock::new(())))
    }
}

impl KeyLocks {
    fn of(&self, bucket: &str, key: &str) -> &tokio::sync::RwLock<()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (bucket, key).hash(&mut hasher);
        &self.0[(hasher.finish() % 64) as usize]
    }
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
async fn current_etag<T>(
    fs: &s3s_fs::FileSystem,
    template: &S3Request<T>,
    bucket: &str,
    key: &str,
) -> S3Result<Option<String>> {
    let input = HeadObjectInput {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        ..Default::default()
    };
    let head = S3Request {
        input,
        method: http::Method::HEAD,
        uri: template.uri.clone(),
        headers: http::HeaderMap::new(),
        extensions: http::Extensions::new(),
        credentials: template.credentials.clone(),
        region: template.region.clone(),
        service: template.service.clone(),
        trailing_headers: None,
    };
    match fs.head_object(head).await {
        Ok(response) => Ok(response.output.e_tag.map(ETag::into_value)),
        Err(err) if *err.code() == s3s::S3ErrorCode::NoSuchKey => Ok(None),
        Err(err) => Err(err),
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

/// Waits for a write that runs on its own task.
async fn complete<T>(task: tokio::task::JoinHandle<S3Result<T>>) -> S3Result<T> {
    match task.await {
        Ok(result) => result,
        Err(_) => Err(s3_error!(InternalError, "the write was interrupted")),
    }
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
        self.check_owner(req.input.expected_bucket_owner.as_ref())?;
        self.maybe_fail_upload()?;
        // S3 writes an object whole or not at all: finish the write even if the client hangs
        // up, so its data and its checksum never disagree.
        let fs = Arc::clone(&self.fs);
        let locks = Arc::clone(&self.locks);
        complete(tokio::spawn(async move {
            let _write = locks.of(&req.input.bucket, &req.input.key).write().await;
            if req.input.if_match.is_some() || req.input.if_none_match.is_some() {
                let current = current_etag(&fs, &req, &req.input.bucket, &req.input.key).await?;
                check_conditions(
                    current.as_deref(),
                    req.input.if_match.as_ref(),
                    req.input.if_none_match.as_ref(),
                )?;
            }
            fs.put_object(req).await
        }))
        .await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.check_owner(req.input.expected_bucket_owner.as_ref())?;
        self.maybe_fail_upload()?;
        self.fs.upload_part(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.check_owner(req.input.expected_bucket_owner.as_ref())?;
        let _read = self
            .locks
            .of(&req.input.bucket, &req.input.key)
            .read()
            .await;
        self.fs.get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.check_owner(req.input.expected_bucket_owner.as_ref())?;
        let _read = self
            .locks
            .of(&req.input.bucket, &req.input.key)
            .read()
            .await;
        self.fs.head_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
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
        let response = self.fs.create_bucket(req).await?;
        self.regions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(bucket, region);
        Ok(response)
    }

    // The rest is s3s-fs as it is.
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let fs = Arc::clone(&self.fs);
        let locks = Arc::clone(&self.locks);
        complete(tokio::spawn(async move {
            let _write = locks.of(&req.input.bucket, &req.input.key).write().await;
            if req.input.if_match.is_some() || req.input.if_none_match.is_some() {
                let current = current_etag(&fs, &req, &req.input.bucket, &req.input.key).await?;
                check_conditions(
                    current.as_deref(),
                    req.input.if_match.as_ref(),
                    req.input.if_none_match.as_ref(),
                )?;
            }
            fs.complete_multipart_upload(req).await
        }))
        .await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.fs.abort_multipart_upload(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.fs.list_parts(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fs.list_objects(req).await
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
        let _write = self
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
        self.fs.delete_objects(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.fs.copy_object(req).await
    }
}
