//! Record ids as the batch APIs take them: Anthropic's `custom_id` is 1 to 64 characters of
//! `[A-Za-z0-9_-]` (Anthropic, "Batch processing",
//! <https://docs.claude.com/en/docs/build-with-claude/batch-processing>; the character set is
//! the API's own validation message), and the other APIs are held to the same rule so that a
//! run moves between providers unchanged.
//!
//! An id that fits, and does not start with [`HASHED`], is sent as it is. Any other is sent
//! as [`HASHED`] and the first 40 hex digits of its SHA-256: still unique, the same in every
//! process and every llmbo version, and mapped back to the record's own id by the table the
//! backend keeps beside the job's input.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

/// The start of a `custom_id` that stands for a record id the API would not take.
pub(crate) const HASHED: &str = "llmbo-h-";

/// The longest `custom_id`.
pub(crate) const MAX_LEN: usize = 64;

/// The `custom_id` of a record id.
///
/// ```ignore
/// assert_eq!(custom_id("r-1"), "r-1");
/// assert!(custom_id("a/b").starts_with("llmbo-h-"));
/// ```
pub(crate) fn custom_id(record_id: &str) -> Cow<'_, str> {
    let fits = !record_id.is_empty()
        && record_id.len() <= MAX_LEN
        && record_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !record_id.starts_with(HASHED);
    if fits {
        return Cow::Borrowed(record_id);
    }
    let digest = Sha256::digest(record_id.as_bytes());
    let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
    Cow::Owned(format!("{HASHED}{hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_that_fit_are_kept() {
        for id in ["r-1", "A_b-9", &"x".repeat(64)] {
            assert_eq!(custom_id(id), id);
        }
        for id in [
            "",
            "a/b",
            "é",
            "a b",
            &"x".repeat(65),
            "llmbo-h-0123456789012345678901234567890123456789",
        ] {
            let mapped = custom_id(id);
            assert!(
                mapped.starts_with(HASHED) && mapped.len() == 48,
                "{id} → {mapped}"
            );
        }
    }

    proptest! {
        /// Two different record ids never share a `custom_id`, and every `custom_id` is one
        /// the API takes.
        #[test]
        fn custom_ids_are_valid_and_distinct(a in ".{0,80}", b in ".{0,80}") {
            let (ca, cb) = (custom_id(&a), custom_id(&b));
            for c in [&ca, &cb] {
                prop_assert!(!c.is_empty() && c.len() <= MAX_LEN);
                prop_assert!(c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
            }
            prop_assert_eq!(a == b, ca == cb);
        }
    }
}
