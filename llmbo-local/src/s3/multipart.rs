//! Multipart uploads: started, added to (by body or by a copy of another object's range),
//! listed, completed and aborted, each only by the access key that started it.

use std::sync::Arc;

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::checks::{check_copy_source, check_key, check_part_number, copy_source_range};
use super::conditions::check_conditions;
use super::{LocalS3, bucket_source, complete, stored_e_tag};

/// The upload a request names is open for its bucket and key and was started by its caller.
macro_rules! check_upload {
    ($s3:expr, $req:expr) => {
        $s3.check_upload(
            &$req.input.upload_id,
            &$req.input.bucket,
            &$req.input.key,
            $req.credentials.as_ref(),
        )
    };
}

pub(super) async fn upload_part(
    s3: &LocalS3,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    s3.check_write(
        &req.input.key,
        req.input.expected_bucket_owner.as_ref(),
        req.input.content_length,
    )?;
    check_part_number(req.input.part_number)?;
    check_upload!(s3, req)?;
    let objects = Arc::clone(&s3.objects);
    let S3Request {
        mut input,
        trailing_headers,
        ..
    } = req;
    let written = receive_checked!(objects, input, trailing_headers);
    let e_tag = hex::encode(written.md5);
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

pub(super) async fn create_multipart_upload(
    s3: &LocalS3,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let input = &req.input;
    check_key(&input.key)?;
    s3.check_owner(input.expected_bucket_owner.as_ref())?;
    s3.region_of(&input.bucket)?;
    let owner = req.credentials.as_ref().map(|c| c.access_key.as_str());
    let upload_id = s3
        .objects
        .create_upload(&input.bucket, &input.key, owner, attributes_of!(input))
        .map_err(|e| s3_error!(InternalError, "the upload could not be started: {e}"))?;
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(input.bucket.clone()),
        key: Some(input.key.clone()),
        upload_id: Some(upload_id),
        ..Default::default()
    }))
}

pub(super) async fn upload_part_copy(
    s3: &LocalS3,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    check_key(&req.input.key)?;
    check_copy_source(&req.input.copy_source)?;
    s3.check_owner(req.input.expected_bucket_owner.as_ref())?;
    s3.check_owner(req.input.expected_source_bucket_owner.as_ref())?;
    check_part_number(req.input.part_number)?;
    check_upload!(s3, req)?;
    let input = req.input;
    let (source_bucket, source_key) = bucket_source(&input.copy_source)?;
    s3.region_of(source_bucket)?;
    let objects = Arc::clone(&s3.objects);
    let _read = objects.locks.of(source_bucket, source_key).read().await;
    let source = s3.stored(source_bucket, source_key)?;
    let (start, len) = match &input.copy_source_range {
        None => (0, source.size),
        Some(range) => copy_source_range(range, source.size)?,
    };
    let io_error =
        |e: std::io::Error| s3_error!(InternalError, "the part could not be copied: {e}");
    let task_objects = Arc::clone(&objects);
    let written =
        tokio::task::spawn_blocking(move || task_objects.copy_range(&source.data, start, len))
            .await
            .map_err(|_| s3_error!(InternalError, "the copy was interrupted"))?
            .map_err(io_error)?;
    let e_tag = hex::encode(written.md5);
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

pub(super) async fn complete_multipart_upload(
    s3: &LocalS3,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    check_key(&req.input.key)?;
    s3.check_owner(req.input.expected_bucket_owner.as_ref())?;
    check_upload!(s3, req)?;
    let objects = Arc::clone(&s3.objects);
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
        write_conditions!(objects, input)?;
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

pub(super) async fn abort_multipart_upload(
    s3: &LocalS3,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let input = &req.input;
    check_key(&input.key)?;
    check_upload!(s3, req)?;
    s3.objects.remove_upload(&input.upload_id);
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

/// The parts of an upload that is still open, in ascending part-number order, a page at a
/// time (`max-parts`, 1,000 by default, after `part-number-marker`); a completed or
/// aborted upload is NoSuchUpload, as on S3.
pub(super) async fn list_parts(
    s3: &LocalS3,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    check_key(&req.input.key)?;
    check_upload!(s3, req)?;
    let input = req.input;
    let marker: i32 = input.part_number_marker.unwrap_or(0);
    let max_parts = input.max_parts.unwrap_or(1000).clamp(0, 1000);
    let all = s3
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
