//! Where a run keeps its state: the seam between the lifecycle and storage.
//!
//! A run's record, and the answers it keeps of records answered on demand, are small
//! documents read whole with its version and written only when it is as the writer expects:
//! created if absent, or replaced if unchanged since it was read. Two processes on one run
//! stay safe on any store that keeps those two promises, as object_store's `PutMode::Create`
//! and `PutMode::Update` do for its backends. Bedrock runs keep it in S3 (`aws::S3Store`,
//! conditional writes by ETag); the other batch APIs keep it where the user says, a local
//! folder or `s3://bucket/prefix`, with their jobs' inputs beside it ([`FileStore`]).

pub(crate) mod folder;

use std::future::Future;
use std::pin::Pin;

use crate::backend::{InputWriter, Lines};
use crate::error::Error;

/// A store's answer, boxed so that the lifecycle holds any store as one object.
pub(crate) type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// What a conditional write expects of the document it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expected<'a> {
    /// There is no such document yet.
    Absent,
    /// The document still has this version.
    Unchanged(&'a str),
}

/// How a conditional write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Put {
    /// Written; the document's new version.
    Written(String),
    /// The document was not as expected: another writer came first. Read it again.
    Conflict,
}

/// A store of small documents with versions and conditional writes.
pub(crate) trait RunStore: Send + Sync + std::fmt::Debug {
    /// Where `key` is, as a person reads it (`s3://bucket/key`).
    fn url(&self, key: &str) -> String;

    /// The document at `key` with its version, `None` when there is none.
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<(Vec<u8>, String)>>;

    /// Writes `body` at `key` if the document there is as `expected`.
    fn put<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        expected: Expected<'a>,
    ) -> StoreFuture<'a, Put>;

    /// The keys that start with `prefix`.
    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<String>>;

    /// A location a run names, made whole: on S3 a location without a bucket is in the
    /// run's bucket. Anything else is as given.
    fn locate(&self, url: &str) -> String {
        url.to_owned()
    }

    /// The key of a location in this store (the part after the bucket on S3); `None` when
    /// it is not in the store.
    fn key_of<'u>(&self, url: &'u str) -> Option<&'u str>;
}

/// A run store that also keeps its jobs' inputs, as the batch APIs beside Bedrock need: a
/// local folder, or a prefix in S3.
// Read and written only by the batch APIs beside Bedrock, built with their features.
#[cfg_attr(not(feature = "_http"), allow(dead_code))]
pub(crate) trait FileStore: RunStore {
    /// Where the store is, as the run's settings name it: a folder's absolute path, or
    /// `s3://bucket/prefix`.
    fn root(&self) -> String;

    /// The files of an input: the one `url` names, or every `.jsonl` file under the folder
    /// it names (ends with `/`), by name.
    fn input_files<'a>(&'a self, url: &'a str) -> StoreFuture<'a, Vec<String>>;

    /// A file of the store, line by line.
    fn lines<'a>(&'a self, url: &'a str) -> StoreFuture<'a, Lines>;

    /// A file's version, `None` when it does not exist.
    fn version<'a>(&'a self, url: &'a str) -> StoreFuture<'a, Option<String>>;

    /// A writer of the file `url` names, seen whole or not at all.
    fn put_input<'a>(&'a self, url: &'a str) -> Box<dyn InputWriter<'a> + 'a>;
}
