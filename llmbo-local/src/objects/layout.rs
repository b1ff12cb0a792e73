//! Where an object lives on disk: the one mapping from S3 names to host paths.
//!
//! ```text
//! root/
//!   <bucket>/<key>                                   a plain key's bytes, at its own path
//!   .bucket-<b64 bucket>.object-<b64 key>.internal.json   its ETag and checksums
//!   .bucket-<b64 bucket>.object-<b64 key>.metadata.json   its attributes (content type, …)
//!   .long-keys/<bucket>/<sha256 of key>              any other key's bytes
//!   .long-keys/<bucket>/<sha256 of key>.key          … its key
//!   .long-keys/<bucket>/<sha256 of key>.internal.json / .metadata.json
//!   .upload-<id>.json                                an open multipart upload
//!   .upload_id-<id>.part-<n>, .upload_id-<id>.md5-<n>     its parts and their MD5s
//!   .tmp.llmbo-<pid>-<n>.internal.part               a body being written
//! ```
//!
//! A key is *plain* when it reads as a path below its bucket and every name it needs fits the
//! file system's 255 bytes: then its bytes are a file at `root/bucket/key`, where a test or a
//! person can put a fixture or look at an output (the layout s3s-fs used, so data folders of
//! earlier llmbo-local versions are read as they are). S3 takes any key up to 1,024 bytes,
//! with empty segments, a trailing `/`, and a key beside a "folder" of the same name (`a` and
//! `a/b`): those are kept under `.long-keys/`, named by the digest of the key, with the key in
//! a file beside them. Bucket names never start with a `.`, so neither area is a bucket.

use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

/// The longest file name a file system takes (Linux, macOS).
const MAX_FILE_NAME: usize = 255;

/// The folder of keys that are not plain.
const LONG_KEYS: &str = ".long-keys";

/// The files of one object: its bytes and its two side files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Files {
    pub(crate) data: PathBuf,
    pub(crate) info: PathBuf,
    pub(crate) attributes: PathBuf,
    /// The file that names the key, for a key kept by its digest.
    pub(crate) key: Option<PathBuf>,
}

/// The plain file of `bucket`/`key` under `root`, or `None` when the key is not plain: a
/// segment that is empty, `.`, `..`, a root or a prefix, holds a backslash or a NUL, or passes
/// [`MAX_FILE_NAME`], or a side file's name would.
pub(crate) fn plain(root: &Path, bucket: &str, key: &str) -> Option<Files> {
    if key.is_empty() || key.contains('\0') {
        return None;
    }
    let mut data = root.join(bucket);
    for segment in key.split('/') {
        if segment.len() > MAX_FILE_NAME || segment.contains('\\') {
            return None;
        }
        let mut components = Path::new(segment).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(name)), None) => data.push(name),
            _ => return None,
        }
    }
    let side = |suffix: &str| {
        let name = format!(
            ".bucket-{}.object-{}{suffix}",
            base64_url(bucket.as_bytes()),
            base64_url(key.as_bytes())
        );
        (name.len() <= MAX_FILE_NAME).then(|| root.join(name))
    };
    Some(Files {
        data,
        info: side(".internal.json")?,
        attributes: side(".metadata.json")?,
        key: None,
    })
}

/// The files of `bucket`/`key` kept by the digest of the key, which every key has.
pub(crate) fn by_digest(root: &Path, bucket: &str, key: &str) -> Files {
    let folder = long_keys(root, bucket);
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    Files {
        data: folder.join(&digest),
        info: folder.join(format!("{digest}.internal.json")),
        attributes: folder.join(format!("{digest}.metadata.json")),
        key: Some(folder.join(format!("{digest}.key"))),
    }
}

/// The folder of a bucket's keys kept by their digest.
pub(crate) fn long_keys(root: &Path, bucket: &str) -> PathBuf {
    root.join(LONG_KEYS).join(bucket)
}

/// The file of an open upload: who started it, for which key, with which attributes.
pub(crate) fn upload(root: &Path, upload_id: &str) -> PathBuf {
    root.join(format!(".upload-{upload_id}.json"))
}

/// A part's file.
pub(crate) fn part(root: &Path, upload_id: &str, part: i32) -> PathBuf {
    root.join(format!(".upload_id-{upload_id}.part-{part}"))
}

/// A part's MD5, beside it (every file of an upload starts `.upload_id-<id>.`).
pub(crate) fn part_md5(root: &Path, upload_id: &str, part: i32) -> PathBuf {
    root.join(format!(".upload_id-{upload_id}.md5-{part}"))
}

/// The start of the name of every file of an upload's parts.
pub(crate) fn parts_prefix(upload_id: &str) -> String {
    format!(".upload_id-{upload_id}.")
}

/// Whether a file in the root is a temporary body: left by a process that stopped mid-write,
/// removed at start-up.
pub(crate) fn is_temp(name: &str) -> bool {
    name.starts_with(".tmp.") && name.ends_with(".internal.part")
}

/// A temporary body's name.
pub(crate) fn temp(root: &Path, n: u64) -> PathBuf {
    root.join(format!(
        ".tmp.llmbo-{}-{n}.internal.part",
        std::process::id()
    ))
}

/// An upload id as llmbo-local makes them (the shape of a UUID): anything else names no file.
pub(crate) fn is_upload_id(id: &str) -> bool {
    id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// Base64 with the URL-safe alphabet and no padding: how side files are named.
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_file_names_are_the_ones_s3s_fs_wrote() -> Result<(), String> {
        // What s3s-fs's base64_simd::URL_SAFE_NO_PAD gives for these.
        assert_eq!(base64_url(b"bucket"), "YnVja2V0");
        assert_eq!(base64_url(b"a/b+c"), "YS9iK2M");
        assert_eq!(base64_url(b"\xff\xfe"), "__4");
        let files = plain(Path::new("/r"), "b", "x/y.txt").ok_or("x/y.txt is a plain key")?;
        assert_eq!(files.data, Path::new("/r/b/x/y.txt"));
        assert_eq!(
            files.info,
            Path::new("/r/.bucket-Yg.object-eC95LnR4dA.internal.json")
        );
        Ok(())
    }

    #[test]
    fn keys_that_are_no_path_below_the_bucket_are_kept_by_digest() {
        let root = Path::new("/r");
        for key in [
            "",
            "/a",
            "a/",
            "a//b",
            "./a",
            "a/./b",
            "a/..",
            "../b/c",
            "a\\b",
            "a\0b",
            &"k".repeat(256),
            // Fits as a path, but its side files' names would not.
            &"k".repeat(200),
        ] {
            assert_eq!(plain(root, "b", key), None, "{key:?}");
        }
        assert!(
            plain(
                root,
                "b",
                &format!("{}/{}", "k".repeat(100), "k".repeat(50))
            )
            .is_some()
        );
        let long = by_digest(root, "b", &"k".repeat(1024));
        assert!(long.data.starts_with("/r/.long-keys/b"));
        assert!(long.data.file_name().is_some_and(|n| n.len() == 64));
        assert_ne!(
            by_digest(root, "b", "a/").data,
            by_digest(root, "b", "a").data
        );
    }
}
