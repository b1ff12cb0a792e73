//! The run store of Bedrock runs: documents in the run's bucket, written with S3's
//! conditional writes (`If-None-Match: *` to create, `If-Match: <ETag>` to replace).

use super::Aws;
use crate::backend::{Backend, InputWriter, Lines};
use crate::error::{AwsErrorKind, Error};
use crate::store::{Expected, FileStore, Put, RunStore, StoreFuture};

/// S3's conditional write as a store's: written, or a conflict when another writer came
/// first (`412`, `409`).
async fn put_if(
    aws: &Aws,
    bucket: &str,
    key: String,
    body: Vec<u8>,
    expected: Expected<'_>,
) -> Result<Put, Error> {
    match aws.put_conditional(bucket, &key, body, expected).await {
        Ok(etag) => Ok(Put::Written(etag)),
        Err(err) if err.aws_kind() == Some(AwsErrorKind::Conflict) => Ok(Put::Conflict),
        Err(err) => Err(err),
    }
}

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
        Box::pin(put_if(
            &self.aws,
            &self.bucket,
            key.to_owned(),
            body,
            expected,
        ))
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

/// A prefix of a bucket (`s3://bucket/prefix`) as the store of a run on a batch API beside
/// Bedrock: its record, its register of batches and its jobs' inputs, so that a process on
/// any machine with the bucket can resume or cancel the run. Conditional writes as
/// [`S3Store`]'s.
#[derive(Debug, Clone)]
pub(crate) struct S3FileStore {
    aws: Aws,
    bucket: String,
    /// Empty, or ends with `/`.
    prefix: String,
}

impl S3FileStore {
    /// The store at `root` (`s3://bucket` or `s3://bucket/prefix`), with clients in the
    /// bucket's own region.
    pub(crate) async fn open(
        sdk: &aws_config::SdkConfig,
        root: &str,
        force_path_style: Option<bool>,
    ) -> Result<Self, Error> {
        let (bucket, prefix) = crate::layout::split_s3_uri(root);
        if !root.starts_with("s3://") || bucket.is_empty() {
            return Err(Error::InvalidConfig {
                field: "store",
                reason: format!("`{root}` is not an s3://bucket/prefix URI"),
            });
        }
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        let region = sdk
            .region()
            .map(|region| region.to_string())
            .unwrap_or_else(|| "us-east-1".to_owned());
        let aws = Aws::new(sdk, &region, force_path_style, None);
        let found = aws.bucket_region(bucket).await?;
        let aws = if found == region {
            aws
        } else {
            Aws::new(sdk, &found, force_path_style, None)
        };
        Ok(S3FileStore {
            aws,
            bucket: bucket.to_owned(),
            prefix,
        })
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

impl RunStore for S3FileStore {
    fn url(&self, key: &str) -> String {
        crate::layout::s3_uri(&self.bucket, &self.full(key))
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<(Vec<u8>, String)>> {
        Box::pin(async move { self.aws.get_versioned(&self.bucket, &self.full(key)).await })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        expected: Expected<'a>,
    ) -> StoreFuture<'a, Put> {
        Box::pin(put_if(
            &self.aws,
            &self.bucket,
            self.full(key),
            body,
            expected,
        ))
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let keys = self.aws.list_keys(&self.bucket, &self.full(prefix)).await?;
            Ok(keys
                .into_iter()
                .filter_map(|key| key.strip_prefix(&self.prefix).map(str::to_owned))
                .collect())
        })
    }

    /// The key of a URL in this bucket under this prefix; `None` for any other (a batch's
    /// results, another bucket).
    fn key_of<'u>(&self, url: &'u str) -> Option<&'u str> {
        url.strip_prefix("s3://")?
            .strip_prefix(self.bucket.as_str())?
            .strip_prefix('/')?
            .strip_prefix(self.prefix.as_str())
    }
}

impl FileStore for S3FileStore {
    fn root(&self) -> String {
        crate::layout::s3_uri(&self.bucket, self.prefix.trim_end_matches('/'))
    }

    fn input_files<'a>(&'a self, url: &'a str) -> StoreFuture<'a, Vec<String>> {
        Backend::input_files(&self.aws, url)
    }

    fn lines<'a>(&'a self, url: &'a str) -> StoreFuture<'a, Lines> {
        Backend::lines(&self.aws, url)
    }

    fn version<'a>(&'a self, url: &'a str) -> StoreFuture<'a, Option<String>> {
        Backend::version(&self.aws, url)
    }

    fn put_input<'a>(&'a self, url: &'a str) -> Box<dyn InputWriter<'a> + 'a> {
        Backend::put_input(&self.aws, url)
    }
}
