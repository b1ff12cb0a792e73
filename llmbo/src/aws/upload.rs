//! A streamed multipart upload: parts sent while the next is written, aborted when dropped
//! before it finishes.

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use super::{Aws, aws_error};
use crate::error::Error;

/// S3 parts are at least 5 MiB except the last; 8 MiB keeps the part count low for 1 GB inputs.
pub(crate) const PART_SIZE: usize = 8 * 1024 * 1024;

/// An object written in pieces: one PutObject when it fits one part, a multipart upload when
/// it does not. At most [`PARTS_IN_FLIGHT`] parts are held in memory (and sent) at a time, so
/// the next part is read and hashed while the last one travels.
///
/// Bodies are sent with `UNSIGNED-PAYLOAD` and the SDK's CRC32 checksum, as the SDKs send
/// streamed uploads: S3 still checks every byte (the checksum), and the SHA-256 that a signed
/// payload needs is not computed a second time next to the run's own hash of the input.
pub(crate) struct Upload<'a> {
    pub(super) aws: &'a Aws,
    pub(super) bucket: &'a str,
    pub(super) key: &'a str,
    pub(super) buffer: Vec<u8>,
    pub(super) upload_id: Option<String>,
    pub(super) parts: Vec<CompletedPart>,
    pub(super) in_flight:
        std::collections::VecDeque<tokio::task::JoinHandle<Result<CompletedPart, Error>>>,
}

/// Parts of one upload sent at once.
const PARTS_IN_FLIGHT: usize = 2;

impl Upload<'_> {
    /// Appends bytes, sending a part whenever a full one is buffered.
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= PART_SIZE {
            self.send_part().await?;
        }
        Ok(())
    }

    /// Waits for the oldest part in flight and records it.
    async fn land_one(&mut self) -> Result<(), Error> {
        if let Some(task) = self.in_flight.pop_front() {
            let part = task.await.map_err(|e| Error::Internal {
                what: "uploading a part",
                reason: e.to_string(),
            })??;
            self.parts.push(part);
        }
        Ok(())
    }

    async fn send_part(&mut self) -> Result<(), Error> {
        let s3 = &self.aws.s3;
        let owner = self.aws.bucket_owner.clone();
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let created = s3
                    .create_multipart_upload()
                    .bucket(self.bucket)
                    .key(self.key)
                    .content_type("application/jsonl")
                    .set_expected_bucket_owner(owner.clone())
                    .send()
                    .await
                    .map_err(|e| aws_error("CreateMultipartUpload", e))?;
                let id = created.upload_id().unwrap_or_default().to_owned();
                self.upload_id = Some(id.clone());
                id
            }
        };
        while self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.land_one().await?;
        }
        let number = (self.parts.len() + self.in_flight.len()) as i32 + 1;
        let body = std::mem::replace(&mut self.buffer, Vec::with_capacity(PART_SIZE));
        let request = s3
            .upload_part()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .set_expected_bucket_owner(owner);
        self.in_flight.push_back(tokio::spawn(async move {
            let part = request
                .customize()
                .disable_payload_signing()
                .send()
                .await
                .map_err(|e| aws_error("UploadPart", e))?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag().map(str::to_owned))
                .build())
        }));
        Ok(())
    }

    /// Sends what is left and completes the object; returns its ETag.
    pub(crate) async fn finish(mut self) -> Result<String, Error> {
        let s3 = &self.aws.s3;
        let owner = self.aws.bucket_owner.clone();
        if self.upload_id.is_none() {
            let body = std::mem::take(&mut self.buffer);
            let put = s3
                .put_object()
                .bucket(self.bucket)
                .key(self.key)
                .content_type("application/jsonl")
                .body(ByteStream::from(body))
                .set_expected_bucket_owner(owner)
                .customize()
                .disable_payload_signing()
                .send()
                .await
                .map_err(|e| aws_error("PutObject", e))?;
            return Ok(put.e_tag().unwrap_or_default().to_owned());
        }
        if !self.buffer.is_empty() {
            self.send_part().await?;
        }
        while !self.in_flight.is_empty() {
            self.land_one().await?;
        }
        let upload_id = self.upload_id.clone().unwrap_or_default();
        let completed = s3
            .complete_multipart_upload()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut self.parts)))
                    .build(),
            )
            .set_expected_bucket_owner(owner)
            .send()
            .await
            .map_err(|e| aws_error("CompleteMultipartUpload", e))?;
        self.upload_id = None;
        Ok(completed.e_tag().unwrap_or_default().to_owned())
    }
}

impl Drop for Upload<'_> {
    /// A multipart upload that did not complete (a part failed, the upload was dropped, the
    /// task was cancelled) is aborted, so S3 does not keep, and bill, its parts.
    fn drop(&mut self) {
        for task in self.in_flight.drain(..) {
            task.abort();
        }
        let Some(upload_id) = self.upload_id.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                key = self.key,
                "a multipart upload was left incomplete; abort it or set a lifecycle rule"
            );
            return;
        };
        let request = self
            .aws
            .s3
            .abort_multipart_upload()
            .bucket(self.bucket)
            .key(self.key)
            .upload_id(upload_id)
            .set_expected_bucket_owner(self.aws.bucket_owner.clone());
        let key = self.key.to_owned();
        runtime.spawn(async move {
            match request.send().await {
                Ok(_) => tracing::debug!(%key, "incomplete multipart upload aborted"),
                Err(err) => tracing::warn!(%key, error = %DisplayErrorContext(&err), "could not abort an incomplete multipart upload"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::PART_SIZE;
    use crate::aws::Aws;

    /// A multipart upload dropped halfway is aborted: its parts are gone.
    #[tokio::test]
    async fn a_dropped_multipart_upload_is_aborted() -> Result<(), Box<dyn std::error::Error>> {
        let local = llmbo_local::LocalBedrock::start().await?;
        let aws = Aws::new(&local.sdk_config(), local.region(), None, None);
        let mut upload = aws.upload(local.bucket(), "input/dropped.jsonl");
        upload.write(&vec![b'x'; PART_SIZE + 1]).await?;
        let upload_id = upload.upload_id.clone().ok_or("a multipart upload")?;
        // The part is sent while the next is read: it lands on its own.
        let mut landed = 0;
        for _ in 0..200 {
            let parts = aws
                .s3
                .list_parts()
                .bucket(local.bucket())
                .key("input/dropped.jsonl")
                .upload_id(&upload_id)
                .send()
                .await?;
            landed = parts.parts().len();
            if landed == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(landed, 1);
        drop(upload);
        let mut gone = false;
        for _ in 0..200 {
            let listed = aws
                .s3
                .list_parts()
                .bucket(local.bucket())
                .key("input/dropped.jsonl")
                .upload_id(&upload_id)
                .send()
                .await;
            // S3 answers NoSuchUpload for an aborted upload, as llmbo-local does.
            if listed.map_or(true, |parts| parts.parts().is_empty()) {
                gone = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(gone, "the upload was aborted");
        Ok(())
    }
}
