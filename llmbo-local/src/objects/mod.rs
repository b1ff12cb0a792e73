//! The objects: their bytes, ETags, checksums and attributes on disk, every key S3 takes.
//!
//! Where each key lives is [`layout`]'s one concern. The bytes move in large pieces:
//!
//! - a body is written by one blocking thread with a 1 MiB buffer, which computes the MD5 (the
//!   ETag) and any checksum the client asked for as the bytes pass; the request's SHA-256 is
//!   checked by s3s on the async side at the same time, so every byte is hashed once per hash
//!   ([`write`]);
//! - a part's MD5 is kept beside it, so completing an upload copies the parts without hashing
//!   them again, and checks the ETags the client names ([`upload`]);
//! - the job runner writes its output through [`ObjectWriter`] too, so a GET or HEAD of an
//!   output never re-hashes it;
//! - reads go out in 1 MiB chunks from a blocking thread ([`read`]).
//!
//! An object is written whole or not at all: the body goes to a temporary file, and is moved
//! into place with its side files under the key's write lock ([`KeyLocks`]).

mod layout;
mod read;
mod upload;
mod write;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::Checksum;
use serde_json::{Map, Value};

pub(crate) use write::{Written, too_large};

/// How much a writer buffers and a reader sends at a time.
const CHUNK: usize = 1 << 20;

/// S3's largest single PUT and largest part: 5 GiB.
pub(crate) const MAX_BODY: u64 = 5 * 1024 * 1024 * 1024;

/// An object's attributes: content type, encoding, user metadata, … by the names s3s-fs
/// stored them under.
pub(crate) type Attributes = Map<String, Value>;

/// Where the objects live, and the per-key locks that make each write atomic.
pub(crate) struct Objects {
    root: PathBuf,
    temps: AtomicU64,
    pub(crate) locks: KeyLocks,
}

/// An object as it is stored.
pub(crate) struct Stored {
    /// The file of its bytes.
    pub(crate) data: PathBuf,
    pub(crate) size: u64,
    pub(crate) modified: SystemTime,
    /// Hex, without quotes (`<hex>-<parts>` for a multipart object).
    pub(crate) e_tag: String,
    pub(crate) checksum: Checksum,
    pub(crate) attributes: Attributes,
}

/// Why a bucket was not removed.
pub(crate) enum BucketRemoval {
    NotEmpty,
    Failed(io::Error),
}

impl Objects {
    /// The objects under `root`, with what a process that stopped mid-write left removed.
    pub(crate) fn new(root: PathBuf) -> Self {
        if let Ok(entries) = std::fs::read_dir(&root) {
            for entry in entries.flatten() {
                if entry.file_name().to_str().is_some_and(layout::is_temp) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Objects {
            root,
            temps: AtomicU64::new(0),
            locks: KeyLocks::default(),
        }
    }

    fn next_temp(&self) -> u64 {
        self.temps.fetch_add(1, Ordering::Relaxed)
    }

    fn temp_path(&self) -> PathBuf {
        layout::temp(&self.root, self.next_temp())
    }

    /// The files of the object `bucket`/`key` if there is one: kept by its digest, or at its
    /// plain path.
    fn locate(&self, bucket: &str, key: &str) -> Option<layout::Files> {
        let by_digest = layout::by_digest(&self.root, bucket, key);
        if by_digest.data.is_file() {
            return Some(by_digest);
        }
        layout::plain(&self.root, bucket, key).filter(|files| files.data.is_file())
    }

    /// Where a write of `bucket`/`key` goes: where the object is, or else its plain path when
    /// the key has one and nothing is in the way (a file where a folder of the key must be, or
    /// a folder where its file must be), or else by its digest.
    fn place_for_write(&self, bucket: &str, key: &str) -> io::Result<layout::Files> {
        let by_digest = layout::by_digest(&self.root, bucket, key);
        if by_digest.data.is_file() {
            return Ok(by_digest);
        }
        if let Some(files) = layout::plain(&self.root, bucket, key)
            && !files.data.is_dir()
            && files
                .data
                .parent()
                .is_some_and(|folder| std::fs::create_dir_all(folder).is_ok())
        {
            return Ok(files);
        }
        std::fs::create_dir_all(layout::long_keys(&self.root, bucket))?;
        if let Some(key_file) = &by_digest.key {
            self.write_small(key_file, key.as_bytes())?;
        }
        Ok(by_digest)
    }

    /// The file of an object's bytes, if there is one.
    pub(crate) fn path(&self, bucket: &str, key: &str) -> Option<PathBuf> {
        self.locate(bucket, key).map(|files| files.data)
    }

    /// Moves a written body into place as `bucket`/`key`, with its ETag, checksums and
    /// attributes. The caller holds the key's write lock.
    pub(crate) fn commit(
        &self,
        written: Written,
        bucket: &str,
        key: &str,
        e_tag: &str,
        attributes: &Attributes,
    ) -> io::Result<()> {
        let files = self.place_for_write(bucket, key)?;
        let Written {
            mut temp, checksum, ..
        } = written;
        // A delete of another key in the same folder removes the folder once it is empty
        // (under that key's lock, not this one's): make it again and move once more.
        let mut tries = 0;
        while let Err(err) = temp.try_rename_to(&files.data) {
            tries += 1;
            match files.data.parent() {
                Some(folder) if err.kind() == io::ErrorKind::NotFound && tries < 8 => {
                    std::fs::create_dir_all(folder)?;
                }
                _ => return Err(err),
            }
        }
        self.write_small(
            &files.attributes,
            Value::Object(attributes.clone()).to_string().as_bytes(),
        )?;
        let mut info = Map::new();
        info.insert("e_tag".into(), Value::String(e_tag.to_owned()));
        for (name, value) in checksum_fields(&checksum) {
            info.insert(name.into(), Value::String(value.to_owned()));
        }
        self.write_small(&files.info, Value::Object(info).to_string().as_bytes())
    }

    /// Writes a small file whole (a temporary file, renamed into place).
    fn write_small(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let temp = write::TempFile::new(self.temp_path());
        std::fs::write(temp.path(), bytes)?;
        temp.rename_to(path)
    }

    /// The object `bucket`/`key` as it is stored, or `None` when there is none. The caller
    /// holds the key's lock.
    pub(crate) fn stat(&self, bucket: &str, key: &str) -> io::Result<Option<Stored>> {
        let Some(files) = self.locate(bucket, key) else {
            return Ok(None);
        };
        let meta = match std::fs::metadata(&files.data) {
            Ok(meta) => meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let read_map = |path: &Path| {
            std::fs::read(path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
        };
        let info = read_map(&files.info).unwrap_or_default();
        let text = |name: &str| info.get(name).and_then(Value::as_str).map(str::to_owned);
        let e_tag = match text("e_tag") {
            Some(tag) => tag,
            // Put straight into the folder (a test's fixture): hash it once.
            None => md5_of(&files.data)?,
        };
        let checksum = Checksum {
            checksum_crc32: text("checksum_crc32"),
            checksum_crc32c: text("checksum_crc32c"),
            checksum_sha1: text("checksum_sha1"),
            checksum_sha256: text("checksum_sha256"),
            checksum_crc64nvme: text("checksum_crc64nvme"),
            ..Checksum::default()
        };
        Ok(Some(Stored {
            size: meta.len(),
            modified: meta.modified()?,
            e_tag,
            checksum,
            attributes: read_map(&files.attributes).unwrap_or_default(),
            data: files.data,
        }))
    }

    /// The ETag an object was written with, or `None` when there is no object.
    pub(crate) fn e_tag(&self, bucket: &str, key: &str) -> io::Result<Option<String>> {
        Ok(self.stat(bucket, key)?.map(|stored| stored.e_tag))
    }

    /// Removes the object `bucket`/`key` and its side files; `false` when there was none. The
    /// plain folders it leaves empty go too, so a later key may be a file of that name. The
    /// caller holds the key's write lock.
    pub(crate) fn remove(&self, bucket: &str, key: &str) -> io::Result<bool> {
        let Some(files) = self.locate(bucket, key) else {
            return Ok(false);
        };
        match std::fs::remove_file(&files.data) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(err) => return Err(err),
        }
        for side in [
            Some(&files.info),
            Some(&files.attributes),
            files.key.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            let _ = std::fs::remove_file(side);
        }
        let bucket_folder = self.root.join(bucket);
        let mut folder = files.data.parent();
        while let Some(dir) = folder.filter(|dir| dir.starts_with(&bucket_folder)) {
            if dir == bucket_folder || std::fs::remove_dir(dir).is_err() {
                break;
            }
            folder = dir.parent();
        }
        Ok(true)
    }

    /// Every key of `bucket` that starts with `prefix`, sorted as S3 lists them (by their
    /// UTF-8 bytes).
    pub(crate) fn keys(&self, bucket: &str, prefix: &str) -> io::Result<Vec<String>> {
        let bucket_folder = self.root.join(bucket);
        if !bucket_folder.is_dir() {
            return Ok(Vec::new());
        }
        // Only the folders the prefix leads into are walked (see `walk`).
        let mut keys = Vec::new();
        walk(&bucket_folder, "", prefix, &mut keys)?;
        match std::fs::read_dir(layout::long_keys(&self.root, bucket)) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry?;
                    if entry
                        .file_name()
                        .to_str()
                        .is_some_and(|n| n.ends_with(".key"))
                        && let Ok(key) = std::fs::read_to_string(entry.path())
                        && key.starts_with(prefix)
                        && entry.path().with_extension("").is_file()
                    {
                        keys.push(key);
                    }
                }
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    /// The buckets on disk, with when each folder was made, by name.
    pub(crate) fn buckets(&self) -> io::Result<Vec<(String, SystemTime)>> {
        let mut buckets = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if let Some(name) = entry.file_name().to_str()
                && !name.starts_with('.')
                && meta.is_dir()
            {
                let made = meta.created().or_else(|_| meta.modified())?;
                buckets.push((name.to_owned(), made));
            }
        }
        buckets.sort();
        Ok(buckets)
    }

    /// Makes a bucket's folder.
    pub(crate) fn create_bucket(&self, bucket: &str) -> io::Result<()> {
        std::fs::create_dir_all(self.root.join(bucket))
    }

    /// Removes an empty bucket's folders, as S3 removes only empty buckets.
    pub(crate) fn remove_bucket(&self, bucket: &str) -> Result<(), BucketRemoval> {
        if !self
            .keys(bucket, "")
            .map_err(BucketRemoval::Failed)?
            .is_empty()
        {
            return Err(BucketRemoval::NotEmpty);
        }
        // What is left are folders without files.
        let folder = self.root.join(bucket);
        if folder.exists() {
            std::fs::remove_dir_all(folder).map_err(BucketRemoval::Failed)?;
        }
        let long = layout::long_keys(&self.root, bucket);
        if long.exists() {
            std::fs::remove_dir_all(long).map_err(BucketRemoval::Failed)?;
        }
        Ok(())
    }
}

/// Adds the keys of the files below `folder` (named `base` + their path) that start with
/// `prefix`. Names that are not UTF-8 are no key S3 could have sent: they are passed over.
fn walk(folder: &Path, base: &str, prefix: &str, keys: &mut Vec<String>) -> io::Result<()> {
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let key = format!("{base}{name}");
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let below = format!("{key}/");
            // A folder is walked when keys under it can start with the prefix.
            if below.starts_with(prefix) || prefix.starts_with(&below) {
                walk(&entry.path(), &below, prefix, keys)?;
            }
        } else if kind.is_file() && key.starts_with(prefix) {
            keys.push(key);
        }
    }
    Ok(())
}

/// The MD5 of a file, in hex.
fn md5_of(path: &Path) -> io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut md5 = Md5::new();
    let mut buf = vec![0; CHUNK];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        md5.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hex::encode(md5.finalize()))
}

/// The checksums set in `checksum`, by the names they are stored under.
pub(crate) fn checksum_fields(checksum: &Checksum) -> Vec<(&'static str, &str)> {
    [
        ("checksum_crc32", &checksum.checksum_crc32),
        ("checksum_crc32c", &checksum.checksum_crc32c),
        ("checksum_sha1", &checksum.checksum_sha1),
        ("checksum_sha256", &checksum.checksum_sha256),
        ("checksum_crc64nvme", &checksum.checksum_crc64nvme),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
    .collect()
}

/// An object's body is written (a rename) and then its checksums (a side file) as two steps,
/// so two writes of one key, or a read between the steps, could pair one body with another's
/// checksum. S3 writes objects atomically; these locks make llmbo-local do the same: writes
/// of a key take its lock exclusively until every step is done, reads share it while they
/// load the checksums and open the body.
pub(crate) struct KeyLocks([tokio::sync::RwLock<()>; 64]);

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks(std::array::from_fn(|_| tokio::sync::RwLock::new(())))
    }
}

impl KeyLocks {
    pub(crate) fn of(&self, bucket: &str, key: &str) -> &tokio::sync::RwLock<()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (bucket, key).hash(&mut hasher);
        &self.0[(hasher.finish() % 64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// One key written and deleted over and over beside another in the same folder: each
    /// delete may remove the emptied folder between the other write's `mkdir` and its rename,
    /// and no write may fail for it.
    #[test]
    fn writes_survive_deletes_that_empty_their_folder() -> io::Result<()> {
        let root = tempfile::tempdir()?;
        std::fs::create_dir_all(root.path().join("b"))?;
        let objects = std::sync::Arc::new(Objects::new(root.path().to_path_buf()));
        let churn = |key: &'static str| {
            let objects = std::sync::Arc::clone(&objects);
            std::thread::spawn(move || -> io::Result<()> {
                for round in 0..400 {
                    let mut writer = objects.writer(Default::default())?;
                    writer.write_all(format!("{key} {round}").as_bytes())?;
                    objects.commit(writer.finish()?, "b", key, "etag", &Attributes::new())?;
                    objects.remove("b", key)?;
                }
                Ok(())
            })
        };
        let (one, two) = (churn("d/e/one"), churn("d/e/two"));
        for side in [one, two] {
            side.join()
                .map_err(|_| io::Error::other("a writer panicked"))??;
        }
        assert!(objects.keys("b", "")?.is_empty());
        Ok(())
    }
}
