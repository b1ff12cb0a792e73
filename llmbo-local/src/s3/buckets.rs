//! Buckets: made, found (with their region), listed and removed when empty.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::LocalS3;
use crate::objects::BucketRemoval;

pub(super) async fn head_bucket(
    s3: &LocalS3,
    req: S3Request<HeadBucketInput>,
) -> S3Result<S3Response<HeadBucketOutput>> {
    s3.check_owner(req.input.expected_bucket_owner.as_ref())?;
    let region = s3.region_of(&req.input.bucket)?;
    Ok(S3Response::new(HeadBucketOutput {
        bucket_region: Some(region),
        ..Default::default()
    }))
}

pub(super) async fn get_bucket_location(
    s3: &LocalS3,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    let region = s3.region_of(&req.input.bucket)?;
    // S3 reports us-east-1 buckets with an empty LocationConstraint.
    Ok(S3Response::new(GetBucketLocationOutput {
        location_constraint: (region != "us-east-1")
            .then(|| BucketLocationConstraint::from(region)),
    }))
}

pub(super) async fn create_bucket(
    s3: &LocalS3,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let region = req
        .input
        .create_bucket_configuration
        .as_ref()
        .and_then(|c| c.location_constraint.as_ref())
        .map_or_else(|| "us-east-1".to_owned(), |c| c.as_str().to_owned());
    let bucket = req.input.bucket;
    // Every bucket here is the caller's: S3 answers the owner's re-creation with 200 in
    // us-east-1 (for compatibility) and BucketAlreadyOwnedByYou elsewhere.
    if let Ok(existing) = s3.region_of(&bucket) {
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
    s3.objects
        .create_bucket(&bucket)
        .map_err(|e| s3_error!(InternalError, "the bucket could not be made: {e}"))?;
    let location = Some(format!("/{bucket}"));
    s3.regions
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(bucket, region);
    Ok(S3Response::new(CreateBucketOutput { location }))
}

pub(super) async fn delete_bucket(
    s3: &LocalS3,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    s3.check_owner(req.input.expected_bucket_owner.as_ref())?;
    let bucket = req.input.bucket;
    s3.region_of(&bucket)?;
    match s3.objects.remove_bucket(&bucket) {
        Ok(()) => {}
        Err(BucketRemoval::NotEmpty) => {
            return Err(s3_error!(
                BucketNotEmpty,
                "The bucket you tried to delete is not empty"
            ));
        }
        Err(BucketRemoval::Failed(e)) => {
            return Err(s3_error!(
                InternalError,
                "the bucket could not be removed: {e}"
            ));
        }
    }
    s3.regions
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&bucket);
    Ok(S3Response::new(DeleteBucketOutput {}))
}

pub(super) async fn list_buckets(
    s3: &LocalS3,
    _req: S3Request<ListBucketsInput>,
) -> S3Result<S3Response<ListBucketsOutput>> {
    let on_disk = s3
        .objects
        .buckets()
        .map_err(|e| s3_error!(InternalError, "the buckets could not be listed: {e}"))?;
    let regions = s3
        .regions
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let buckets = on_disk
        .into_iter()
        .filter_map(|(name, made)| {
            let region = regions.get(&name)?.clone();
            Some(Bucket {
                name: Some(name),
                creation_date: Some(Timestamp::from(made)),
                bucket_region: Some(region),
            })
        })
        .collect();
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(Owner {
            id: Some(s3.account_id.clone()),
            ..Default::default()
        }),
        ..Default::default()
    }))
}
