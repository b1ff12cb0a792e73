//! Deterministic fault injection: the same seed gives the same faults on the same records and
//! calls, so a failing test fails the same way every time.

use std::sync::atomic::{AtomicU64, Ordering};

/// How a whole job ends when a job fault is set.
#[derive(Debug, Clone, PartialEq)]
pub enum JobFault {
    /// The job fails while validating, with this `message`.
    Fail {
        /// Bedrock's `message` for the failure.
        message: String,
    },
    /// The job stays `Scheduled` (for one step, standing for its whole timeout), then ends
    /// `Expired`.
    Expire,
    /// The job stops after this fraction of its records (`0.0..=1.0`) and ends
    /// `PartiallyCompleted`; the rest are never processed.
    PartiallyComplete {
        /// The fraction of records processed.
        processed_fraction: f64,
    },
    /// The job ends `Completed`, but every record is an error record (400, as for a body
    /// missing a required field): what a job of bad bodies looks like on AWS.
    AllRecordsFail,
}

/// What goes wrong, and how often. Rates are fractions in `0.0..=1.0`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Seeds every decision below.
    pub seed: u64,
    /// Records answered with an error record (`errorCode` 500) instead of a model output.
    pub record_error_rate: f64,
    /// Records answered with malformed output: a wrong stop reason, no tool call, a tool input
    /// that violates the schema, or truncated JSON (one of the four, chosen per record).
    pub malformed_output_rate: f64,
    /// How jobs end, when set: every job, or only those whose name contains
    /// `job_fault_name_contains`. See also [`JobFault::AllRecordsFail`].
    pub job_fault: Option<JobFault>,
    /// Limits `job_fault` to jobs whose name contains this text.
    pub job_fault_name_contains: Option<String>,
    /// Limits `job_fault` to these of the jobs it would apply to, counted from 0 in the order
    /// they are validated (`None`: all), so a test can fail one try of some records and see
    /// the next try of the same records succeed.
    pub job_fault_jobs: Option<std::ops::Range<u64>>,
    /// Control-plane calls (Bedrock and IAM) answered with `ThrottlingException`, and calls of
    /// the Anthropic and OpenAI batch APIs answered with a 429 and `retry-after`.
    pub throttle_rate: f64,
    /// Limits throttling to these operations (`CreateModelInvocationJob`,
    /// `GetModelInvocationJob`, `ListModelInvocationJobs`, `StopModelInvocationJob`, `GetRole`;
    /// Anthropic's `CreateMessageBatch`, `ListMessageBatches`, `RetrieveMessageBatch`,
    /// `CancelMessageBatch`, `DeleteMessageBatch`, `GetMessageBatchResults`; OpenAI's
    /// `UploadFile`, `ListFiles`, `RetrieveFile`, `GetFileContent`, `DeleteFile`, `CreateBatch`,
    /// `ListBatches`, `RetrieveBatch`, `CancelBatch`); empty: every such call.
    pub throttle_operations: Vec<String>,
    /// S3 `PutObject` / `UploadPart` calls answered with a 500 `InternalError`.
    pub s3_upload_error_rate: f64,
    /// The kinds of malformed output to choose from; empty: all four.
    pub malformed_kinds: Vec<Malformed>,
    /// Malformed output in follow-ups too (a re-ask that tells the model what was wrong), at
    /// the same rate: by default a model told its mistake answers right.
    pub malformed_follow_ups: bool,
    /// Control-plane failures users really hit, each on the first `times` calls of one
    /// operation (after throttling is decided).
    pub control_faults: Vec<ControlFault>,
}

/// A control-plane failure on one operation: the first `times` calls of `operation`
/// (`CreateModelInvocationJob`, `GetModelInvocationJob`, …) get it, the rest succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFault {
    /// The operation, as Bedrock names it.
    pub operation: String,
    /// What the calls get.
    pub kind: ControlFaultKind,
    /// How many calls get it (`u64::MAX`: every one).
    pub times: u64,
}

/// The failures of [`ControlFault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlFaultKind {
    /// `AccessDeniedException` (403): on create, the caller may not pass the role
    /// (`iam:PassRole`), the most common failure of a first job.
    AccessDenied,
    /// `ServiceQuotaExceededException` (400): too many jobs in flight for the model.
    ServiceQuotaExceeded,
    /// `InternalServerException` (500), which the SDKs retry.
    InternalServer,
    /// `ModelErrorException` (424): the model failed on this call; on the runtime's
    /// `InvokeModel` / `Converse`, the record's own error.
    ModelError,
    /// The call is carried out, then its answer is lost on the way back: the caller sees a
    /// 500 for a call that took effect (a create whose job or batch exists). On the runtime,
    /// as `InternalServer`.
    AnswerLost,
}

impl FaultConfig {
    /// The fault a record with this id gets under this configuration (the same answer the
    /// server gives it), so a test can say what each record's outcome must be.
    pub fn record_fault(&self, record_id: &str) -> Option<RecordFault> {
        Faults::new(self.clone()).for_record(record_id)
    }
}

/// The kinds of malformed output a synthetic model can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The answer stops for the output-token limit.
    WrongStopReason,
    /// The answer is text, without the forced tool call.
    NoToolCall,
    /// The tool input breaks the schema.
    SchemaViolation,
    /// The JSON of the answer is cut off.
    TruncatedJson,
}

/// What a record gets from the faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFault {
    /// An error record.
    Error,
    /// A malformed answer.
    Malformed(Malformed),
    /// A malformed answer, in a follow-up too (`FaultConfig::malformed_follow_ups`).
    Stubborn(Malformed),
}

/// The fault configuration plus the call counters that make rate-based faults deterministic.
#[derive(Debug, Default)]
pub struct Faults {
    pub(crate) config: FaultConfig,
    control_calls: AtomicU64,
    /// Calls answered with a throttling error so far.
    pub(crate) throttled: AtomicU64,
    upload_calls: AtomicU64,
    /// Calls seen per entry of `config.control_faults`.
    fault_calls: Vec<AtomicU64>,
    /// Jobs given the job fault so far.
    job_faults_given: AtomicU64,
}

const STREAM_RECORD_ERROR: u64 = 1;
const STREAM_MALFORMED: u64 = 2;
const STREAM_MALFORMED_KIND: u64 = 3;
const STREAM_THROTTLE: u64 = 4;
const STREAM_UPLOAD: u64 = 5;

impl Faults {
    pub(crate) fn new(config: FaultConfig) -> Self {
        let fault_calls = config
            .control_faults
            .iter()
            .map(|_| AtomicU64::new(0))
            .collect();
        Faults {
            config,
            fault_calls,
            ..Default::default()
        }
    }

    /// The control-plane failure this call of `operation` gets, if any.
    pub(crate) fn next_control_fault(&self, operation: &str) -> Option<ControlFaultKind> {
        self.config
            .control_faults
            .iter()
            .zip(&self.fault_calls)
            .filter(|(fault, _)| fault.operation == operation)
            .find_map(|(fault, calls)| {
                (calls.fetch_add(1, Ordering::Relaxed) < fault.times).then_some(fault.kind)
            })
    }

    /// The fault, if any, for the record with this id.
    pub fn for_record(&self, record_id: &str) -> Option<RecordFault> {
        let c = &self.config;
        if chance(c.seed, STREAM_RECORD_ERROR, record_id.as_bytes()) < c.record_error_rate {
            return Some(RecordFault::Error);
        }
        if chance(c.seed, STREAM_MALFORMED, record_id.as_bytes()) < c.malformed_output_rate {
            const ALL: [Malformed; 4] = [
                Malformed::WrongStopReason,
                Malformed::NoToolCall,
                Malformed::SchemaViolation,
                Malformed::TruncatedJson,
            ];
            let kinds: &[Malformed] = if c.malformed_kinds.is_empty() {
                &ALL
            } else {
                &c.malformed_kinds
            };
            let draw = chance(c.seed, STREAM_MALFORMED_KIND, record_id.as_bytes());
            let pick = ((draw * kinds.len() as f64) as usize).min(kinds.len() - 1);
            let fault = if c.malformed_follow_ups {
                RecordFault::Stubborn
            } else {
                RecordFault::Malformed
            };
            return kinds.get(pick).copied().map(fault);
        }
        None
    }

    /// The job fault for a job with this name, if any.
    pub(crate) fn job_fault_for(&self, job_name: &str) -> Option<JobFault> {
        if let Some(part) = &self.config.job_fault_name_contains
            && !job_name.contains(part.as_str())
        {
            return None;
        }
        let fault = self.config.job_fault.clone()?;
        let given = self.job_faults_given.fetch_add(1, Ordering::Relaxed);
        match &self.config.job_fault_jobs {
            Some(jobs) if !jobs.contains(&given) => None,
            _ => Some(fault),
        }
    }

    /// Whether the next call of `operation` is throttled.
    pub(crate) fn next_call_throttled(&self, operation: &str) -> bool {
        let ops = &self.config.throttle_operations;
        if !ops.is_empty() && !ops.iter().any(|op| op == operation) {
            return false;
        }
        let n = self.control_calls.fetch_add(1, Ordering::Relaxed);
        let throttled =
            chance(self.config.seed, STREAM_THROTTLE, &n.to_le_bytes()) < self.config.throttle_rate;
        if throttled {
            self.throttled.fetch_add(1, Ordering::Relaxed);
        }
        throttled
    }

    /// Whether the next S3 upload call fails.
    pub(crate) fn next_s3_upload_fails(&self) -> bool {
        let n = self.upload_calls.fetch_add(1, Ordering::Relaxed);
        chance(self.config.seed, STREAM_UPLOAD, &n.to_le_bytes()) < self.config.s3_upload_error_rate
    }
}

/// A number in `0.0..1.0`, fixed by `seed`, `stream` and `key`.
pub(crate) fn chance(seed: u64, stream: u64, key: &[u8]) -> f64 {
    (mix(seed, stream, key) >> 11) as f64 / (1u64 << 53) as f64
}

/// A 64-bit hash of `key` under `seed` and `stream`: FNV-1a, then splitmix64 to spread it.
/// Written out so it never changes between Rust versions (std's hasher may).
pub(crate) fn mix(seed: u64, stream: u64, key: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    splitmix(hash ^ seed.rotate_left(17) ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

pub(crate) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A small deterministic generator for the synthetic models.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator fixed by `seed` and `key`.
    pub fn new(seed: u64, key: &[u8]) -> Self {
        Rng(mix(seed, 0, key))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        splitmix(self.0)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_met_and_repeatable() {
        let faults = Faults::new(FaultConfig {
            seed: 7,
            record_error_rate: 0.1,
            malformed_output_rate: 0.2,
            ..Default::default()
        });
        let ids: Vec<String> = (0..10_000).map(|i| format!("r{i}")).collect();
        let errors = ids
            .iter()
            .filter(|id| faults.for_record(id) == Some(RecordFault::Error))
            .count();
        let malformed = ids
            .iter()
            .filter(|id| matches!(faults.for_record(id), Some(RecordFault::Malformed(_))))
            .count();
        assert!((900..1100).contains(&errors), "{errors}");
        // 20% of the 90% that are not errors.
        assert!((1650..1950).contains(&malformed), "{malformed}");
        let again = Faults::new(faults.config.clone());
        assert!(
            ids.iter()
                .all(|id| again.for_record(id) == faults.for_record(id))
        );
    }

    #[test]
    fn zero_rates_inject_nothing() {
        let faults = Faults::new(FaultConfig::default());
        assert!((0..1000).all(|i| faults.for_record(&i.to_string()).is_none()));
        assert!(
            (0..1000)
                .all(|_| !faults.next_call_throttled("GetRole") && !faults.next_s3_upload_fails())
        );
    }
}
