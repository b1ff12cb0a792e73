//! Bedrock's and S3's rules for names, checked before anything is sent.

use std::sync::OnceLock;

use regex::Regex;

use crate::error::Error;

fn matches(cell: &'static OnceLock<Option<Regex>>, pattern: &str, value: &str) -> bool {
    cell.get_or_init(|| Regex::new(pattern).ok())
        .as_ref()
        .is_some_and(|re| re.is_match(value))
}

/// `jobName`: Bedrock's pattern, and no `+` (it is not allowed in the S3 key named after it).
pub(crate) fn check_job_name(name: &str) -> Result<(), Error> {
    static CELL: OnceLock<Option<Regex>> = OnceLock::new();
    let ok =
        name.len() <= 63 && matches(&CELL, r"^[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\-\.]){0,63}$", name);
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            field: "job_name",
            reason: format!(
                "`{name}` must be 1 to 63 letters, digits, `-` or `.`, starting with a letter or digit"
            ),
        })
    }
}

pub(crate) fn check_role_arn(arn: &str) -> Result<(), Error> {
    static CELL: OnceLock<Option<Regex>> = OnceLock::new();
    if matches(&CELL, r"^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+$", arn) {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            field: "role_arn",
            reason: format!("`{arn}` is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"),
        })
    }
}

pub(crate) fn check_bucket(bucket: &str) -> Result<(), Error> {
    static CELL: OnceLock<Option<Regex>> = OnceLock::new();
    if matches(&CELL, r"^[a-z0-9][-.a-z0-9]{1,61}[a-z0-9]$", bucket) {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            field: "bucket_name",
            reason: format!("`{bucket}` is not a valid S3 bucket name"),
        })
    }
}

/// A job ARN, as `GetModelInvocationJob` accepts it.
pub(crate) fn check_job_arn(arn: &str) -> Result<(), Error> {
    static CELL: OnceLock<Option<Regex>> = OnceLock::new();
    let pattern =
        r"^arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-invocation-job/[a-z0-9]{12}$";
    if matches(&CELL, pattern, arn) {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            field: "job_arn",
            reason: format!(
                "`{arn}` is not a Bedrock batch job ARN (arn:aws:bedrock:<region>:<account>:model-invocation-job/<id>)"
            ),
        })
    }
}

pub(crate) use crate::input::check_record_id;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_bedrock() {
        assert!(check_job_name("people-2026-11").is_ok());
        assert!(check_job_name("a.b-c").is_ok());
        assert!(check_job_name("has+plus").is_err());
        assert!(check_job_name("has space").is_err());
        assert!(check_job_name(&"x".repeat(64)).is_err());
        assert!(check_role_arn("arn:aws:iam::123456789012:role/BedrockBatch").is_ok());
        assert!(check_role_arn("arn:aws:iam::123456789012:user/x").is_err());
        assert!(check_bucket("my-bucket").is_ok());
        assert!(check_bucket("My_Bucket").is_err());
        assert!(
            check_job_arn(
                "arn:aws:bedrock:us-east-1:000000000000:model-invocation-job/abcdef123456"
            )
            .is_ok()
        );
        assert!(check_job_arn("arn:aws:bedrock:us-east-1:000000000000:job/x").is_err());
        assert!(check_record_id("00001").is_ok());
        assert!(check_record_id("").is_err());
        assert!(check_record_id("a\nb").is_err());
    }
}
