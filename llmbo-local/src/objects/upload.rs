//! Multipart uploads: a record of who started one for which key, its parts with their MD5s
//! beside them, and the join that makes them an object without hashing them again.

use std::fs::File;
use std::io::{self, Write};

use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::Checksum;
use s3s::{S3Result, s3_error};
use serde::{Deserialize, Serialize};

use super::write::{TempFile, Written};
use super::{Attributes, Objects, layout};

/// S3's smallest part, except the last.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// An open upload, as its record file holds it.
#[derive(Serialize, Deserialize)]
struct Record {
    /// The access key that started it: only its owner may add to it, list or end it.
    owner: Option<String>,
    bucket: String,
    key: String,
    /// What the object will carry (content type, user metadata, …).
    attributes: Attributes,
}

/// One part of an upload, as `ListParts` shows it.
pub(crate) struct PartInfo {
    pub(crate) number: i32,
    pub(crate) size: u64,
    pub(crate) modified: std::time::SystemTime,
    /// Hex, without quotes.
    pub(crate) md5: Option<String>,
}

impl Objects {
    /// Opens an upload of `bucket`/`key` for `owner` and returns its id.
    pub(crate) fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        owner: Option<&str>,
        attributes: Attributes,
    ) -> io::Result<String> {
        let record = Record {
            owner: owner.map(str::to_owned),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            attributes,
        };
        let id = self.new_upload_id();
        let text = serde_json::to_vec(&record).map_err(io::Error::other)?;
        let temp = TempFile::new(self.temp_path());
        std::fs::write(temp.path(), text)?;
        temp.rename_to(&layout::upload(&self.root, &id))?;
        Ok(id)
    }

    /// A fresh id in the shape of a UUID: the digest of this process, a counter and the time.
    fn new_upload_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let n = self.next_temp();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let digest = hex::encode(Sha256::digest(format!(
            "{}-{n}-{now}-{}",
            std::process::id(),
            self.root.display()
        )));
        let d = |a: usize, b: usize| digest.get(a..b).unwrap_or("0");
        format!(
            "{}-{}-{}-{}-{}",
            d(0, 8),
            d(8, 12),
            d(12, 16),
            d(16, 20),
            d(20, 32)
        )
    }

    fn upload_record(&self, upload_id: &str) -> Option<Record> {
        if !layout::is_upload_id(upload_id) {
            return None;
        }
        let bytes = std::fs::read(layout::upload(&self.root, upload_id)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Whether an upload of `bucket`/`key` is open under this id and was started with this
    /// access key.
    pub(crate) fn upload_belongs_to(
        &self,
        upload_id: &str,
        bucket: &str,
        key: &str,
        access_key: Option<&str>,
    ) -> bool {
        self.upload_record(upload_id).is_some_and(|record| {
            record.owner.as_deref() == access_key && record.bucket == bucket && record.key == key
        })
    }

    /// The parts of an upload uploaded so far, in ascending part-number order: number, size,
    /// when written, and the MD5 (the part's ETag) when it is known.
    pub(crate) fn parts(&self, upload_id: &str) -> io::Result<Vec<PartInfo>> {
        let prefix = format!("{}part-", layout::parts_prefix(upload_id));
        let mut parts = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(number) = name
                .to_str()
                .and_then(|name| name.strip_prefix(&prefix))
                .and_then(|number| number.parse::<i32>().ok())
            else {
                continue;
            };
            let meta = entry.metadata()?;
            if !meta.is_file() {
                continue;
            }
            parts.push(PartInfo {
                number,
                size: meta.len(),
                modified: meta.modified()?,
                md5: std::fs::read_to_string(layout::part_md5(&self.root, upload_id, number)).ok(),
            });
        }
        parts.sort_by_key(|part| part.number);
        Ok(parts)
    }

    /// Moves a written part into place, with its MD5 beside it.
    pub(crate) fn commit_part(
        &self,
        written: Written,
        upload_id: &str,
        part: i32,
    ) -> io::Result<()> {
        let md5 = hex::encode(written.md5);
        written
            .temp
            .rename_to(&layout::part(&self.root, upload_id, part))?;
        std::fs::write(layout::part_md5(&self.root, upload_id, part), md5)
    }

    /// Joins an upload's parts into its object, checking them as S3 does: ascending part
    /// numbers, each part there with the ETag the client names, every part but the last at
    /// least 5 MiB. Returns the object's multipart ETag. The caller holds the key's lock.
    pub(crate) fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(i32, Option<String>)],
    ) -> S3Result<String> {
        if parts.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "You must specify at least one part"
            ));
        }
        let invalid_part = || {
            s3_error!(
                InvalidPart,
                "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
            )
        };
        if parts.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
            return Err(s3_error!(
                InvalidPartOrder,
                "The list of parts was not in ascending order. The parts list must be specified in order by part number."
            ));
        }
        let mut md5s = Vec::with_capacity(parts.len());
        for (index, (number, tag)) in parts.iter().enumerate() {
            let stored = std::fs::read_to_string(layout::part_md5(&self.root, upload_id, *number))
                .map_err(|_| invalid_part())?;
            if let Some(tag) = tag
                && tag.trim_matches('"') != stored
            {
                return Err(invalid_part());
            }
            let size = std::fs::metadata(layout::part(&self.root, upload_id, *number))
                .map_err(|_| invalid_part())?
                .len();
            if index + 1 < parts.len() && size < MIN_PART_SIZE {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed size"
                ));
            }
            md5s.push(stored);
        }
        let io_error =
            |err: io::Error| s3_error!(InternalError, "the object could not be written: {err}");
        let temp = TempFile::new(self.temp_path());
        let mut out = File::create(temp.path()).map_err(io_error)?;
        for (number, _) in parts {
            let mut part =
                File::open(layout::part(&self.root, upload_id, *number)).map_err(io_error)?;
            io::copy(&mut part, &mut out).map_err(io_error)?;
        }
        out.flush().map_err(io_error)?;
        drop(out);
        let mut etag = Md5::new();
        for md5 in &md5s {
            etag.update(&hex::decode(md5).map_err(|_| invalid_part())?);
        }
        let e_tag = format!("{}-{}", hex::encode(etag.finalize()), md5s.len());
        let attributes = self
            .upload_record(upload_id)
            .map(|record| record.attributes)
            .unwrap_or_default();
        // A multipart object's ETag is the MD5 of its parts' MD5s (above), not of its bytes.
        let written = Written {
            temp,
            md5: [0; 16],
            checksum: Checksum::default(),
        };
        self.commit(written, bucket, key, &e_tag, &attributes)
            .map_err(io_error)?;
        self.remove_upload(upload_id);
        Ok(e_tag)
    }

    /// Removes what an upload left: its record, its parts and their MD5s.
    pub(crate) fn remove_upload(&self, upload_id: &str) {
        if !layout::is_upload_id(upload_id) {
            return;
        }
        let _ = std::fs::remove_file(layout::upload(&self.root, upload_id));
        let prefix = layout::parts_prefix(upload_id);
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for entry in entries.flatten() {
                if entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&prefix))
                {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}
