//! S3's checks of what a request names: the checksums of a body, and the conditions of a
//! conditional write or read.

use s3s::dto::{ChecksumAlgorithm, ETagCondition};
use s3s::{S3Result, s3_error};

use crate::objects::Written;

/// The checksums a write names (as headers, or as the algorithm of a trailer to come).
pub(super) struct Requested {
    pub(super) crc32: Option<String>,
    pub(super) crc32c: Option<String>,
    pub(super) sha1: Option<String>,
    pub(super) sha256: Option<String>,
    pub(super) crc64nvme: Option<String>,
    pub(super) algorithm: Option<ChecksumAlgorithm>,
}

impl Requested {
    /// A hasher for every checksum the write names.
    pub(super) fn hasher(&self) -> S3Result<s3s::checksum::ChecksumHasher> {
        let mut hasher = s3s::checksum::ChecksumHasher::default();
        let algorithm = self.algorithm.as_ref().map(ChecksumAlgorithm::as_str);
        if self.crc32.is_some() || algorithm == Some(ChecksumAlgorithm::CRC32) {
            hasher.crc32 = Some(Default::default());
        }
        if self.crc32c.is_some() || algorithm == Some(ChecksumAlgorithm::CRC32C) {
            hasher.crc32c = Some(Default::default());
        }
        if self.sha1.is_some() || algorithm == Some(ChecksumAlgorithm::SHA1) {
            hasher.sha1 = Some(Default::default());
        }
        if self.sha256.is_some() || algorithm == Some(ChecksumAlgorithm::SHA256) {
            hasher.sha256 = Some(Default::default());
        }
        if self.crc64nvme.is_some() || algorithm == Some(ChecksumAlgorithm::CRC64NVME) {
            hasher.crc64nvme = Some(Default::default());
        }
        match algorithm {
            None
            | Some(
                ChecksumAlgorithm::CRC32
                | ChecksumAlgorithm::CRC32C
                | ChecksumAlgorithm::SHA1
                | ChecksumAlgorithm::SHA256
                | ChecksumAlgorithm::CRC64NVME,
            ) => Ok(hasher),
            Some(other) => Err(s3_error!(
                InvalidRequest,
                "Value for x-amz-checksum-algorithm header is invalid: {other}"
            )),
        }
    }

    /// Checks what was computed against what the client sent: headers, a trailer after an
    /// aws-chunked body, and `Content-MD5`.
    pub(super) fn verify(
        mut self,
        written: &Written,
        trailers: Option<s3s::TrailingHeaders>,
        content_md5: Option<&str>,
    ) -> S3Result<()> {
        if let Some(trailers) = trailers.and_then(|t| t.take()) {
            let read = |name: &str| -> S3Result<Option<String>> {
                trailers
                    .get(name)
                    .map(|v| v.to_str().map(str::to_owned))
                    .transpose()
                    .map_err(|_| s3_error!(InvalidArgument, "the trailer {name} is not text"))
            };
            self.crc32 = read("x-amz-checksum-crc32")?.or(self.crc32);
            self.crc32c = read("x-amz-checksum-crc32c")?.or(self.crc32c);
            self.sha1 = read("x-amz-checksum-sha1")?.or(self.sha1);
            self.sha256 = read("x-amz-checksum-sha256")?.or(self.sha256);
            self.crc64nvme = read("x-amz-checksum-crc64nvme")?.or(self.crc64nvme);
        }
        let computed = &written.checksum;
        for (name, sent, got) in [
            ("CRC32", &self.crc32, &computed.checksum_crc32),
            ("CRC32C", &self.crc32c, &computed.checksum_crc32c),
            ("SHA1", &self.sha1, &computed.checksum_sha1),
            ("SHA256", &self.sha256, &computed.checksum_sha256),
            ("CRC64NVME", &self.crc64nvme, &computed.checksum_crc64nvme),
        ] {
            if let (Some(sent), Some(got)) = (sent, got)
                && sent != got
            {
                return Err(s3_error!(
                    BadDigest,
                    "The {name} you specified did not match the calculated checksum."
                ));
            }
        }
        if let Some(md5) = content_md5 {
            let sent = crate::runtime::base64_decode(md5).ok_or_else(|| {
                s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid.")
            })?;
            if sent != written.md5 {
                return Err(s3_error!(
                    BadDigest,
                    "The Content-MD5 you specified did not match what we received."
                ));
            }
        }
        Ok(())
    }
}

/// S3's conditional writes: `If-Match` needs the object to exist with that ETag (404
/// `NoSuchKey` when it does not exist, 412 `PreconditionFailed` when it differs);
/// `If-None-Match: *` needs it not to exist (412).
pub(super) fn check_conditions(
    current: Option<&str>,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    let failed = || {
        s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        )
    };
    if let Some(condition) = if_match {
        let Some(current) = current else {
            return Err(s3_error!(NoSuchKey, "The specified key does not exist."));
        };
        match condition {
            ETagCondition::Any => {}
            ETagCondition::ETag(tag) if tag.value() == current => {}
            ETagCondition::ETag(_) => return Err(failed()),
        }
    }
    if let (Some(condition), Some(current)) = (if_none_match, current) {
        match condition {
            ETagCondition::Any => return Err(failed()),
            ETagCondition::ETag(tag) if tag.value() == current => return Err(failed()),
            ETagCondition::ETag(_) => {}
        }
    }
    Ok(())
}

/// S3's conditional reads (GET and HEAD): `If-Match` that does not match is 412
/// `PreconditionFailed`; `If-None-Match` that matches is 304 `NotModified`. Without an
/// object, the read's own 404 stands.
pub(super) fn check_read_conditions(
    current: Option<&str>,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    let Some(current) = current else {
        return Ok(());
    };
    let matches = |condition: &ETagCondition| match condition {
        ETagCondition::Any => true,
        ETagCondition::ETag(tag) => tag.value() == current,
    };
    if if_match.is_some_and(|c| !matches(c)) {
        return Err(s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        ));
    }
    if if_none_match.is_some_and(matches) {
        return Err(s3_error!(NotModified, "Not Modified"));
    }
    Ok(())
}

/// Receives the body of a PutObject or UploadPart input (their checksum fields have the same
/// names): streamed to a temporary object, hashed, and checked against the checksums and the
/// `Content-MD5` the request names.
macro_rules! receive_checked {
    ($objects:expr, $input:expr, $trailers:expr) => {{
        let body = $input
            .body
            .take()
            .ok_or_else(|| s3_error!(IncompleteBody))?;
        let requested = $crate::s3::conditions::Requested {
            crc32: $input.checksum_crc32.take(),
            crc32c: $input.checksum_crc32c.take(),
            sha1: $input.checksum_sha1.take(),
            sha256: $input.checksum_sha256.take(),
            crc64nvme: $input.checksum_crc64nvme.take(),
            algorithm: $input.checksum_algorithm.take(),
        };
        let written = $objects.receive(body, requested.hasher()?).await?;
        requested.verify(&written, $trailers, $input.content_md5.as_deref())?;
        written
    }};
}

/// A PutObject or UploadPart answer: the ETag and the checksums computed.
macro_rules! checksummed {
    ($output:ident, $e_tag:expr, $checksum:expr) => {
        $output {
            e_tag: Some(ETag::Strong($e_tag)),
            checksum_crc32: $checksum.checksum_crc32,
            checksum_crc32c: $checksum.checksum_crc32c,
            checksum_sha1: $checksum.checksum_sha1,
            checksum_sha256: $checksum.checksum_sha256,
            checksum_crc64nvme: $checksum.checksum_crc64nvme,
            ..Default::default()
        }
    };
}
