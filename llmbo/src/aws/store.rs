//! The run store of Bedrock runs: documents in the run's bucket, written with S3's
//! conditional writes (`If-None-Match: *` to create, `If-Match: <ETag>` to replace).

use super::Aws;
use crate::error::{AwsErrorKind, Error};
use crate::store::{Expected, Put, RunStore, StoreFuture};

/// A bucket as a [`RunStore`].
#[derive(Debug, Clone)]
pub(crate) struct S3Store {
    aws: Aws,
    bucket: String,
}

impl S3Store {
    pub(crate) fn new(aws: Aws, bucket: &str) -> Self {
        S3Store {
            aws,
            bucket: bucket.to_owned(),
        }
    }
}

impl RunStore for S3Store {
    fn url(&self, key: &str) -> String {
        crate::layout::s3_uri(&self.bucket, key)
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<(Vec<u8>, String)>> {
        Box::pin(self.aws.get_versioned(&self.bucket, key))
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        expected: Expected<'a>,
    ) -> StoreFuture<'a, Put> {
        Box::pin(async move {
            match self
                .aws
                .put_conditional(&self.bucket, key, body, expected)
                .await
            {
                Ok(etag) => Ok(Put::Written(etag)),
                Err(err) if err.aws_kind() == Some(AwsErrorKind::Conflict) => Ok(Put::Conflict),
                Err(err) => Err::<Put, Error>(err),
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(self.aws.list_keys(&self.bucket, prefix))
    }

    fn locate(&self, url: &str) -> String {
        let (bucket, key) = crate::layout::split_s3_uri(url);
        if bucket.is_empty() {
            crate::layout::s3_uri(&self.bucket, key)
        } else {
            url.to_owned()
        }
    }

    /// The key, whatever the bucket: a run's locations are in its bucket.
    fn key_of<'u>(&self, url: &'u str) -> Option<&'u str> {
        Some(crate::layout::split_s3_uri(url).1)
    }
}
