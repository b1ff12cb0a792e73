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

pub(crate) use crate::model_input::check_record_id;

/// Bedrock's longest job name.
pub(crate) const MAX_JOB_NAME: usize = 63;

/// The name of the `n`-th (1, 2, …) follow-up job of kind `stem` (`retry1`, `reask2`) of the
/// run named `run`: `<run>-<stem>`, then `<run>-<stem>-<n>`. It always fits Bedrock's 63
/// characters: when the run's name leaves no room, [`short_base`] stands for it.
pub(crate) fn follow_up_name(run: &str, stem: &str, n: usize) -> String {
    let suffix = if n <= 1 {
        format!("-{stem}")
    } else {
        format!("-{stem}-{n}")
    };
    if run.len() + suffix.len() <= MAX_JOB_NAME {
        format!("{run}{suffix}")
    } else {
        format!("{}{suffix}", short_base(run))
    }
}

/// A run's name cut to 34 characters plus the first 8 hex digits of its SHA-256 (43 in all),
/// which keeps runs whose names share the cut part apart and leaves 20 characters for a
/// follow-up's suffix (`-retry4294967295-99` is 19).
pub(crate) fn short_base(run: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = super::engine::hex(&Sha256::digest(run.as_bytes()));
    // Job names are ASCII (checked at build), so any byte is a char boundary.
    let cut = run.get(..34.min(run.len())).unwrap_or(run);
    format!("{cut}-{}", digest.get(..8).unwrap_or(&digest))
}

/// The round of a follow-up of kind `kind` (`reask`) of run `run` that this name (a job's or
/// an on-demand set's) belongs to: `<run>-reask2`, `<run>-reask2-3`, `<run>-reask2-<hash>`
/// are round 2; `None` for any other name.
pub(crate) fn follow_up_round(run: &str, kind: &str, name: &str) -> Option<u32> {
    [run.to_owned(), short_base(run)].iter().find_map(|base| {
        let rest = name.strip_prefix(base.as_str())?.strip_prefix('-')?;
        let rest = rest.strip_prefix(kind)?;
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (number, after) = rest.split_at(digits);
        if after.is_empty() || after.starts_with('-') {
            number.parse().ok()
        } else {
            None
        }
    })
}

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
        assert!(check_record_id("00001").is_ok());
        assert!(check_record_id("").is_err());
        assert!(check_record_id("a\nb").is_err());
    }

    #[test]
    fn follow_up_names_always_fit() {
        assert_eq!(follow_up_name("a", "retry1", 1), "a-retry1");
        assert_eq!(follow_up_name("a", "retry1", 2), "a-retry1-2");
        for len in [1, 40, 55, 56, 57, 60, 62, 63] {
            let run = format!("r{}", "x".repeat(len - 1));
            assert!(check_job_name(&run).is_ok());
            for (stem, n) in [("retry1", 1), ("reask12", 3), ("retry4294967295", 99)] {
                let name = follow_up_name(&run, stem, n);
                assert!(
                    check_job_name(&name).is_ok(),
                    "{name} ({} chars)",
                    name.len()
                );
                assert!(name.contains(stem), "{name}");
                assert_ne!(name, follow_up_name(&run, stem, n + 1));
            }
        }
        assert_eq!(follow_up_round("a", "reask", "a-reask2"), Some(2));
        assert_eq!(follow_up_round("a", "reask", "a-reask12-3"), Some(12));
        assert_eq!(
            follow_up_round("a", "reask", "a-reask3-0123456789ab"),
            Some(3)
        );
        assert_eq!(follow_up_round("a", "reask", "a-retry2"), None);
        assert_eq!(follow_up_round("a", "reask", "a-reaskx"), None);
        assert_eq!(follow_up_round("a", "reask", "ab-reask2"), None);
        let long = format!("r{}", "x".repeat(62));
        let name = follow_up_name(&long, "reask4", 2);
        assert_eq!(follow_up_round(&long, "reask", &name), Some(4), "{name}");
        // Two long names that share the part kept are still two names.
        let a = format!("{}a", "x".repeat(62));
        let b = format!("{}b", "x".repeat(62));
        assert_ne!(
            follow_up_name(&a, "retry1", 1),
            follow_up_name(&b, "retry1", 1)
        );
    }
}
