//! A preflight: every record held to its family's request rules, the model and the quotas
//! checked, and the cost estimated, before anything is billed.
//!
//! Bedrock's own validation checks the JSONL shape, the role and the record counts; it does
//! not check that each `modelInput` is a body the model takes, so a job with a missing
//! `anthropic_version` runs for hours and ends `Completed` with every record failed. The rules
//! here ([`rules::RULES`]) find such records first, by id and JSON path, grouped by rule so
//! 50,000 identical mistakes read as one line with a count.
//!
//! [`Inferer::preflight`](crate::Inferer::preflight) gives the whole report; `prepare_*`,
//! `auto` and the CLI's `submit` run the same record checks and refuse on errors
//! ([`Error::Refused`](crate::error::Error::Refused)).

#[cfg(feature = "aws")]
mod model;
#[cfg(feature = "service-quotas")]
pub(crate) mod quotas;
#[cfg(feature = "aws")]
mod report;
pub mod rules;

#[doc(hidden)]
pub use crate::cost::{
    CHARS_PER_TOKEN, CostRange, DEFAULT_OUTPUT_BOUND, TokenEstimate, TokenEstimator,
    chars_per_token,
};
pub use crate::findings::{Finding, FindingAt, FindingGroup, Findings, Rule, Severity};
#[doc(hidden)]
pub use crate::model::RequestFamily;
#[cfg(feature = "aws")]
pub use model::{BATCH_SUPPORT, BatchSupport, BatchSupportRow, ModelCheck, batch_support};
#[cfg(feature = "aws")]
pub(crate) use model::{check_model, refuse_unbatchable};
#[cfg(feature = "aws")]
pub use report::{PlannedJob, PreflightReport, QuotaSource, Quotas};

#[cfg(test)]
mod tests;
