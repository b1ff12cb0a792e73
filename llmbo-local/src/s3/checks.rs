//! What S3 refuses before anything is read or written: keys, prefixes, part numbers, ranges.

use s3s::dto::CopySource;
use s3s::{S3Result, s3_error};

/// S3's longest key, in bytes of UTF-8.
const MAX_KEY_BYTES: usize = 1024;

/// A key llmbo-local stores under its bucket and nowhere else. S3 stores any key literally,
/// and so does llmbo-local, up to S3's 1,024 bytes (`KeyTooLongError` past it, as S3 answers),
/// but for a segment that a file system reads as a step (`.`, `..`), a backslash or a NUL:
/// those could lead a person who looks at the data folder, or an older llmbo-local, out of
/// the bucket, so they are refused with a 400 before anything is read or written.
pub(super) fn check_key(key: &str) -> S3Result<()> {
    if key.len() > MAX_KEY_BYTES {
        return Err(s3_error!(
            KeyTooLongError,
            "Your key is too long: {} bytes, the most is {MAX_KEY_BYTES}.",
            key.len()
        ));
    }
    if let Some(reason) = unsafe_name(key) {
        return Err(s3_error!(
            InvalidArgument,
            "llmbo-local does not store keys with {reason} (S3 would store it literally); rename the object"
        ));
    }
    Ok(())
}

/// A listing prefix leads nowhere else either.
pub(super) fn check_prefix(prefix: Option<&str>) -> S3Result<()> {
    match prefix.and_then(unsafe_name) {
        Some(reason) => Err(s3_error!(
            InvalidArgument,
            "llmbo-local does not list prefixes with {reason}"
        )),
        None => Ok(()),
    }
}

/// The copy source's key, as [`check_key`] checks a key.
pub(super) fn check_copy_source(source: &CopySource) -> S3Result<()> {
    match source {
        CopySource::Bucket { key, .. } => check_key(key),
        _ => Ok(()),
    }
}

/// What in a key or prefix could lead out of its bucket, in words; `None` when nothing can.
fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.contains('\0') {
        Some("a NUL character")
    } else if name.contains('\\') {
        Some("a backslash")
    } else if name
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        Some("a `.` or `..` segment")
    } else {
        None
    }
}

/// S3's bounds on a part number.
pub(super) fn check_part_number(number: i32) -> S3Result<()> {
    if (1..=10_000).contains(&number) {
        return Ok(());
    }
    Err(s3_error!(
        InvalidArgument,
        "Part number must be an integer between 1 and 10000, inclusive"
    ))
}

/// `bytes=first-last` of an object of `size` bytes, as (start, length).
pub(super) fn copy_source_range(range: &str, size: u64) -> S3Result<(u64, u64)> {
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (first, last) = range
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(invalid)?;
    let first: u64 = first.parse().map_err(|_| invalid())?;
    let last: u64 = last.parse().map_err(|_| invalid())?;
    if first > last {
        return Err(invalid());
    }
    if last >= size {
        return Err(s3_error!(
            InvalidRange,
            "The requested range is not satisfiable"
        ));
    }
    Ok((first, last - first + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges_are_read_as_s3_reads_them() {
        assert_eq!(copy_source_range("bytes=0-9", 10).ok(), Some((0, 10)));
        assert_eq!(copy_source_range("bytes=5-5", 10).ok(), Some((5, 1)));
        assert!(copy_source_range("bytes=5-10", 10).is_err());
        assert!(copy_source_range("bytes=6-5", 10).is_err());
        assert!(copy_source_range("5-6", 10).is_err());
        assert!(copy_source_range("bytes=-5", 10).is_err());
    }

    #[test]
    fn keys_up_to_1024_bytes_are_taken_and_steps_refused() {
        assert!(check_key(&"k".repeat(1024)).is_ok());
        assert!(check_key(&"é".repeat(512)).is_ok());
        assert!(check_key(&"k".repeat(1025)).is_err());
        for bad in ["../a", "a/./b", "a\\b", "a\0b", ".."] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        assert!(check_key("a/.b/..c").is_ok());
    }
}
