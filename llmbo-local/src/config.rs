//! How fast jobs run and the quotas they are held to.

use std::time::Duration;

/// How long a job takes. Every status change waits `step`; each record waits `per_record`;
/// `hour` is how long one hour of `timeoutDurationInHours` lasts, for `Expired` jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Speed {
    /// The wait before each status change.
    pub step: Duration,
    /// The wait per record while `InProgress`.
    pub per_record: Duration,
    /// The length of one timeout hour: a job still running after `timeoutDurationInHours` of
    /// them (counted from submission: the steps, then `per_record` a record) ends
    /// `PartiallyCompleted`, and one whose scheduling step is longer ends `Expired`.
    pub hour: Duration,
}

impl Speed {
    /// For tests: a 100-record job completes in well under a second.
    pub fn fast() -> Self {
        Speed {
            step: Duration::from_millis(10),
            per_record: Duration::ZERO,
            // Long enough that no test's job overruns a 24-hour timeout by accident.
            hour: Duration::from_secs(60),
        }
    }

    /// Feels like Bedrock, compressed: each status change takes 20 s and each record 50 ms,
    /// so a few thousand records take minutes.
    pub fn realistic() -> Self {
        Speed {
            step: Duration::from_secs(20),
            per_record: Duration::from_millis(50),
            hour: Duration::from_secs(60),
        }
    }
}

impl Default for Speed {
    fn default() -> Self {
        Self::fast()
    }
}

/// Which member of a Mistral chat answer's `choices[0]` holds the stop reason, where the
/// evidence disagrees (see the README): by model version (the default: `stop_reason` for
/// Mistral Large 2402, `finish_reason` for later chat models), or one of the two for every
/// Mistral chat model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MistralStopKey {
    /// `stop_reason` for `mistral-large-2402`, `finish_reason` for the others.
    #[default]
    ByVersion,
    /// Always `stop_reason` (AWS's Mistral chat page).
    StopReason,
    /// Always `finish_reason` (Mistral's own API).
    FinishReason,
}

/// Bedrock's batch quotas, per model. Defaults are the published defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Fewer records fail the job while validating.
    pub min_records: usize,
    /// More records fail the job while validating.
    pub max_records: usize,
    /// A larger input file fails the job while validating.
    pub max_input_file_bytes: u64,
    /// Submitted and in-progress jobs per model; one more is refused at create.
    pub max_concurrent_jobs_per_model: usize,
    /// `max_records` for Titan Text Embeddings V2, whose quota is larger (100,000 measured by
    /// a fork of AWS's batch orchestrator sample; UNCERTAIN).
    pub max_records_titan_embed_v2: usize,
}

impl Quotas {
    /// The most records a job on `model_id` may have.
    pub fn max_records_for(&self, model_id: &str) -> usize {
        if model_id.contains("amazon.titan-embed-text-v2") {
            self.max_records_titan_embed_v2
        } else {
            self.max_records
        }
    }
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            min_records: 100,
            max_records: 50_000,
            max_input_file_bytes: 1_000_000_000,
            max_concurrent_jobs_per_model: 10,
            max_records_titan_embed_v2: 100_000,
        }
    }
}
