//! A local folder as a run store: the default home of runs on the batch APIs that have no
//! bucket of their own (Anthropic, OpenAI, Gemini).
//!
//! Documents are files under the folder, named by their keys. A conditional write takes an
//! exclusive lock on a lock file beside the document (`File::lock`, an advisory lock every
//! llmbo process on the machine honours), reads what is there, and replaces it by a rename
//! only when it is as expected, so two processes on one run are as safe as on S3. A
//! document's version is the SHA-256 of its bytes. Job inputs are written to a temporary file
//! beside their name and renamed when whole, so a half-written input is never read.

// Job inputs are kept here only by the batch APIs beside Bedrock, built with their features.
#![cfg_attr(not(feature = "_http"), allow(dead_code))]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Expected, FileStore, Put, RunStore, StoreFuture};
use crate::backend::{BackendFuture, InputWriter, Lines};
use crate::error::Error;

/// A folder as a [`RunStore`], and where a run's job inputs are kept.
#[derive(Debug, Clone)]
pub(crate) struct FolderStore {
    root: PathBuf,
}

impl FolderStore {
    /// The store at `root` (a path, or a `file://` URL), made absolute so that its URLs name
    /// the same files from any working directory. The folder is made when first written.
    pub(crate) fn new(root: &str) -> Result<Self, Error> {
        let path = root.strip_prefix("file://").unwrap_or(root);
        if path.is_empty() {
            return Err(Error::InvalidConfig {
                field: "store",
                reason: "the store's folder is empty: give a folder path".into(),
            });
        }
        let path = std::path::absolute(path).map_err(|source| Error::Io {
            path: PathBuf::from(path),
            source,
        })?;
        Ok(FolderStore { root: path })
    }

    /// The file of `key`; a key that would leave the folder is refused.
    fn path(&self, key: &str) -> Result<PathBuf, Error> {
        let fits = !key.is_empty()
            && !key.starts_with('/')
            && key
                .split('/')
                .all(|part| !matches!(part, "." | "..") && !part.contains('\\'));
        if !fits {
            return Err(Error::Internal {
                what: "the run store",
                reason: format!("`{key}` is not a key inside the store"),
            });
        }
        Ok(self.root.join(key))
    }

    /// The key of a URL of this store (`<root>/<key>`), `None` for any other.
    pub(crate) fn key_of<'u>(&self, url: &'u str) -> Option<&'u str> {
        let url = url.strip_prefix("file://").unwrap_or(url);
        let root = self.root.to_str()?;
        url.strip_prefix(root)?.strip_prefix('/')
    }

    /// The file a URL of this store names.
    fn file_of(&self, url: &str) -> Result<PathBuf, Error> {
        match self.key_of(url) {
            Some(key) => self.path(key),
            None => Err(Error::Internal {
                what: "the run store",
                reason: format!("`{url}` is not in the store {}", self.root.display()),
            }),
        }
    }

    /// The files of an input: the one `url` names, or every `.jsonl` file under the folder
    /// it names (ends with `/`), by name.
    pub(crate) async fn input_files(&self, url: &str) -> Result<Vec<String>, Error> {
        let Some(key) = self.key_of(url) else {
            return Ok(vec![url.to_owned()]);
        };
        if !key.is_empty() && !key.ends_with('/') {
            return Ok(vec![url.to_owned()]);
        }
        let keys = self.list(key).await?;
        Ok(keys
            .into_iter()
            .filter(|k| k.ends_with(".jsonl"))
            .map(|k| self.url(&k))
            .collect())
    }

    /// A file of the store line by line.
    pub(crate) async fn lines(&self, url: &str) -> Result<Lines, Error> {
        let path = self.file_of(url)?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        // Each read of a tokio file is a blocking call on another thread: read a megabyte
        // at a time, not the default 8 KiB (a job's input of 30 MB was 4,000 calls).
        Ok(Lines::new(
            Box::new(tokio::io::BufReader::with_capacity(1 << 20, file)),
            path.display().to_string(),
            |file, err| Error::Io {
                path: PathBuf::from(file),
                source: std::io::Error::new(err.kind(), err.to_string()),
            },
        ))
    }

    /// A file's version: its length and modification time, `None` when it does not exist.
    pub(crate) async fn version(&self, url: &str) -> Result<Option<String>, Error> {
        let path = self.file_of(url)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(Some(file_version(&meta))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    /// A writer of the file `url` names: a temporary file beside it, renamed over it by
    /// [`InputWriter::finish`]; dropped unfinished, it leaves nothing.
    pub(crate) fn put_input<'a>(&self, url: &str) -> Box<dyn InputWriter<'a> + 'a> {
        Box::new(FolderWriter {
            target: self.file_of(url),
            temp: None,
            flushing: None,
        })
    }
}

/// The version of a file written as a whole: its length and modification time, and on Unix
/// its inode (a file written again is a new file renamed over the old, so the inode tells two
/// writes of one length apart even within the clock's granularity).
fn file_version(meta: &std::fs::Metadata) -> String {
    let nanos = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        format!("{}-{nanos}-{}", meta.len(), meta.ino())
    }
    #[cfg(not(unix))]
    format!("{}-{nanos}", meta.len())
}

/// The version of a document: the hex SHA-256 of its bytes.
fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// A temporary name beside `path`, unique to this process and call.
fn temp_beside(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Reads `path` whole, `None` when it does not exist.
fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    match std::fs::File::open(path) {
        Ok(mut file) => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(io(path))?;
            Ok(Some(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// Writes `body` to `path` through a temporary file and a rename: readers see the old
/// document or the new one, never a part.
fn replace(path: &Path, body: &[u8]) -> Result<(), Error> {
    let temp = temp_beside(path);
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(body)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.map_err(io(path))
}

/// The conditional write, under the document's lock.
fn put_locked(path: &Path, body: &[u8], expected: Expected<'_>) -> Result<Put, Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let lock_path = dir.join(format!(".{name}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    lock.lock().map_err(io(&lock_path))?;
    let now = read_if_present(path)?;
    let as_expected = match (expected, &now) {
        (Expected::Absent, None) => true,
        (Expected::Unchanged(version), Some(bytes)) => digest(bytes) == version,
        _ => false,
    };
    if !as_expected {
        return Ok(Put::Conflict);
    }
    replace(path, body)?;
    Ok(Put::Written(digest(body)))
    // The lock is released when `lock` is dropped.
}

/// Every file under `dir`, as keys (`/`-separated, relative to `root`), skipping llmbo's own
/// lock and temporary files (their names start with `.`).
fn walk(root: &Path, dir: &Path, prefix: &str, keys: &mut Vec<String>) -> Result<(), Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(relative) = path.strip_prefix(root) else {
            continue;
        };
        let key = relative
            .components()
            .filter_map(|c| c.as_os_str().to_str())
            .collect::<Vec<_>>()
            .join("/");
        let is_dir = entry.file_type().map_err(io(&path))?.is_dir();
        if is_dir {
            let folder = format!("{key}/");
            // Only folders that can hold a key with the prefix are read.
            if folder.starts_with(prefix) || prefix.starts_with(&folder) {
                walk(root, &path, prefix, keys)?;
            }
        } else if key.starts_with(prefix) {
            keys.push(key);
        }
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal {
            what: "the run store",
            reason: e.to_string(),
        })?
}

impl RunStore for FolderStore {
    fn url(&self, key: &str) -> String {
        let root = self.root.display().to_string();
        format!("{}/{key}", root.trim_end_matches('/'))
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<(Vec<u8>, String)>> {
        Box::pin(async move {
            let path = self.path(key)?;
            blocking(move || {
                Ok(read_if_present(&path)?.map(|bytes| {
                    let version = digest(&bytes);
                    (bytes, version)
                }))
            })
            .await
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        expected: Expected<'a>,
    ) -> StoreFuture<'a, Put> {
        Box::pin(async move {
            let path = self.path(key)?;
            let expected = match expected {
                Expected::Absent => None,
                Expected::Unchanged(v) => Some(v.to_owned()),
            };
            blocking(move || {
                let expected = match &expected {
                    None => Expected::Absent,
                    Some(v) => Expected::Unchanged(v),
                };
                put_locked(&path, &body, expected)
            })
            .await
        })
    }

    fn key_of<'u>(&self, url: &'u str) -> Option<&'u str> {
        FolderStore::key_of(self, url)
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let root = self.root.clone();
            let prefix = prefix.to_owned();
            blocking(move || {
                let mut keys = Vec::new();
                walk(&root, &root, &prefix, &mut keys)?;
                keys.sort();
                Ok(keys)
            })
            .await
        })
    }
}

/// A job input being written beside its name.
///
/// Each piece is written on a blocking thread in one call, and the pieces written so far are
/// flushed to the disk in the background while the next ones come (write-behind), so the
/// sync that makes the input durable at [`finish`](InputWriter::finish) has little left to do.
struct FolderWriter {
    target: Result<PathBuf, Error>,
    /// The temporary file and its name, once the first bytes came.
    temp: Option<(std::sync::Arc<std::fs::File>, PathBuf)>,
    /// The flush of the pieces written so far, while it runs.
    flushing: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl FolderWriter {
    /// The file the input is for, or why there is none.
    fn target(&self) -> Result<PathBuf, Error> {
        self.target.as_ref().cloned().map_err(|e| Error::Internal {
            what: "the run store",
            reason: e.to_string(),
        })
    }

    /// The temporary file, made beside the target on first use, and its name.
    async fn temp(&mut self) -> Result<(std::sync::Arc<std::fs::File>, PathBuf), Error> {
        if let Some((file, temp)) = &self.temp {
            return Ok((std::sync::Arc::clone(file), temp.clone()));
        }
        let target = self.target()?;
        let dir = target.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
        let temp = temp_beside(&target);
        let file = crate::files::create_private(&temp)
            .await
            .map_err(io(&temp))?;
        let file = std::sync::Arc::new(file.into_std().await);
        self.temp = Some((std::sync::Arc::clone(&file), temp.clone()));
        Ok((file, temp))
    }

    /// Waits for the flush under way, if any.
    async fn flushed(&mut self) -> std::io::Result<()> {
        match self.flushing.take() {
            Some(flush) => flush
                .await
                .unwrap_or_else(|err| Err(std::io::Error::other(err))),
            None => Ok(()),
        }
    }
}

impl Drop for FolderWriter {
    fn drop(&mut self) {
        if let Some((_, temp)) = self.temp.take() {
            let _ = std::fs::remove_file(temp);
        }
    }
}

impl<'a> InputWriter<'a> for FolderWriter {
    fn write<'b>(&'b mut self, bytes: &'b [u8]) -> BackendFuture<'b, ()> {
        Box::pin(async move {
            let (file, temp) = self.temp().await?;
            let piece = bytes.to_vec();
            let writer = std::sync::Arc::clone(&file);
            tokio::task::spawn_blocking(move || (&*writer).write_all(&piece))
                .await
                .unwrap_or_else(|err| Err(std::io::Error::other(err)))
                .map_err(io(&temp))?;
            // What is written goes to the disk while the next piece comes; one flush at a
            // time (a failed one is the write's error).
            if self.flushing.as_ref().is_none_or(|f| f.is_finished()) {
                self.flushed().await.map_err(io(&temp))?;
                self.flushing = Some(tokio::task::spawn_blocking(move || file.sync_data()));
            }
            Ok(())
        })
    }

    fn finish(mut self: Box<Self>) -> BackendFuture<'a, String> {
        Box::pin(async move {
            let target = self.target()?;
            let (file, temp) = self.temp().await?;
            let flushed = self.flushed().await;
            let synced = match flushed {
                Ok(()) => tokio::task::spawn_blocking(move || file.sync_all())
                    .await
                    .unwrap_or_else(|err| Err(std::io::Error::other(err))),
                Err(err) => Err(err),
            };
            if let Err(source) = synced {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(Error::Io {
                    path: target,
                    source,
                });
            }
            if let Err(source) = tokio::fs::rename(&temp, &target).await {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(Error::Io {
                    path: target,
                    source,
                });
            }
            // Renamed: nothing for the drop to remove.
            self.temp = None;
            let meta = tokio::fs::metadata(&target).await.map_err(io(&target))?;
            Ok(file_version(&meta))
        })
    }
}

impl FileStore for FolderStore {
    fn root(&self) -> String {
        self.root.display().to_string()
    }

    fn input_files<'a>(&'a self, url: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(FolderStore::input_files(self, url))
    }

    fn lines<'a>(&'a self, url: &'a str) -> StoreFuture<'a, Lines> {
        Box::pin(FolderStore::lines(self, url))
    }

    fn version<'a>(&'a self, url: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(FolderStore::version(self, url))
    }

    fn put_input<'a>(&'a self, url: &'a str) -> Box<dyn InputWriter<'a> + 'a> {
        FolderStore::put_input(self, url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Fallible = Result<(), Box<dyn std::error::Error>>;

    fn store() -> Result<(tempfile::TempDir, FolderStore), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = FolderStore::new(dir.path().to_str().ok_or("a UTF-8 temp path")?)?;
        Ok((dir, store))
    }

    #[tokio::test]
    async fn writes_are_conditional() -> Fallible {
        let (_dir, store) = store()?;
        let key = "input/run.run.json";
        assert_eq!(store.get(key).await?, None);
        let Put::Written(v1) = store.put(key, b"one".to_vec(), Expected::Absent).await? else {
            return Err("the first create must write".into());
        };
        let again = store.put(key, b"two".to_vec(), Expected::Absent).await?;
        assert_eq!(again, Put::Conflict);
        let stale = store
            .put(key, b"two".to_vec(), Expected::Unchanged("stale"))
            .await?;
        assert_eq!(stale, Put::Conflict);
        let (bytes, version) = store.get(key).await?.ok_or("the document")?;
        assert_eq!(
            (bytes.as_slice(), version.as_str()),
            (&b"one"[..], v1.as_str())
        );
        let Put::Written(v2) = store
            .put(key, b"two".to_vec(), Expected::Unchanged(&v1))
            .await?
        else {
            return Err("a replace of the version read must write".into());
        };
        assert_ne!(v1, v2);
        let old = store
            .put(key, b"three".to_vec(), Expected::Unchanged(&v1))
            .await?;
        assert_eq!(old, Put::Conflict);
        assert_eq!(store.list("input/").await?, vec![key.to_owned()]);
        assert!(store.path("../x").is_err() && store.path("/x").is_err());
        Ok(())
    }

    /// Eight tasks add one to a counter 25 times each by read and compare-and-swap: every
    /// increment lands once, as on S3.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_writers_lose_nothing() -> Fallible {
        let (_dir, store) = store()?;
        let store = std::sync::Arc::new(store);
        let key = "counter";
        store.put(key, b"0".to_vec(), Expected::Absent).await?;
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..25 {
                    loop {
                        let (bytes, version) = store.get(key).await?.ok_or("the counter")?;
                        let n: u64 = std::str::from_utf8(&bytes)?.parse()?;
                        let next = (n + 1).to_string().into_bytes();
                        let put = store.put(key, next, Expected::Unchanged(&version)).await?;
                        if let Put::Written(_) = put {
                            break;
                        }
                    }
                }
                Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
            }));
        }
        for task in tasks {
            task.await?.map_err(|e| e.to_string())?;
        }
        let (bytes, _) = store.get(key).await?.ok_or("the counter")?;
        assert_eq!(bytes, b"200");
        Ok(())
    }

    /// An input written again with other bytes of the same length, at once, is another
    /// version: what tells a process that the input it wrote was replaced. (Each write's time
    /// is set to one instant, as a file system with a coarse clock would record them.)
    #[tokio::test]
    async fn an_input_written_again_is_another_version() -> Fallible {
        let (_dir, store) = store()?;
        let url = store.url("input/job.jsonl");
        let path = store.file_of(&url)?;
        let instant = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let mut versions = Vec::new();
        for bytes in [b"{\"a\":1}\n", b"{\"a\":2}\n", b"{\"a\":3}\n"] {
            let mut writer = store.put_input(&url);
            writer.write(bytes).await?;
            writer.finish().await?;
            std::fs::File::options()
                .write(true)
                .open(&path)?
                .set_modified(instant)?;
            versions.push(store.version(&url).await?.ok_or("no version")?);
        }
        assert!(
            versions[0] != versions[1] && versions[1] != versions[2],
            "{versions:?}"
        );
        Ok(())
    }

    #[tokio::test]
    async fn inputs_appear_whole_or_not_at_all() -> Fallible {
        let (_dir, store) = store()?;
        let url = store.url("input/job.jsonl");
        let mut writer = store.put_input(&url);
        writer.write(b"{\"a\":1}\n").await?;
        assert_eq!(store.version(&url).await?, None);
        drop(writer);
        assert_eq!(store.version(&url).await?, None);
        assert!(store.list("").await?.is_empty(), "nothing is left");
        let mut writer = store.put_input(&url);
        writer.write(b"{\"a\":1}\n").await?;
        writer.write(b"{\"a\":2}\n").await?;
        let version = writer.finish().await?;
        assert_eq!(store.version(&url).await?, Some(version));
        let mut lines = store.lines(&url).await?;
        assert_eq!(
            lines.next_line().await?.as_deref(),
            Some(&b"{\"a\":1}\n"[..])
        );
        assert_eq!(
            lines.next_line().await?.as_deref(),
            Some(&b"{\"a\":2}\n"[..])
        );
        assert_eq!(lines.next_line().await?, None);
        let folder = store.url("input/");
        assert_eq!(store.input_files(&folder).await?, vec![url.clone()]);
        assert_eq!(store.key_of(&url), Some("input/job.jsonl"));
        // Many pieces, flushed behind the writes: all of them, in order, and nothing beside.
        let url = store.url("input/many.jsonl");
        let mut writer = store.put_input(&url);
        let mut expected = Vec::new();
        for i in 0..60 {
            let piece = format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i * 997));
            writer.write(piece.as_bytes()).await?;
            expected.extend_from_slice(piece.as_bytes());
        }
        writer.finish().await?;
        let path = store.file_of(&url)?;
        assert_eq!(std::fs::read(&path)?, expected);
        let beside: Vec<_> = std::fs::read_dir(path.parent().ok_or("no folder")?)?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        assert_eq!(
            beside.len(),
            2,
            "the two inputs, no temporary file: {beside:?}"
        );
        Ok(())
    }
}
