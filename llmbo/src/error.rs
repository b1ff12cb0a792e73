//! The two kinds of failure: [`Error`] stops a run; [`RecordError`] explains why one record has
//! no value while the others go on.
//!
//! Messages name ids, counts and settings, never the text of a prompt or a model output.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why one record has no value. A batch with failed records still succeeds; each failure is
/// one of these, in [`RecordResult::outcome`](crate::output::RecordResult::outcome).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecordError {
    /// The batch API answered the record with an error instead of a model output (the name
    /// is Bedrock's, where it began; Anthropic's `errored` results and OpenAI's error lines
    /// are these too).
    #[error("the API returned error {code} for this record: {message}")]
    Bedrock {
        /// Bedrock's `errorCode` (an HTTP-like status such as `400`), Anthropic's error type
        /// (`invalid_request_error`), OpenAI's error code.
        code: String,
        /// The API's message.
        message: String,
    },
    /// The model answered without calling the tool.
    #[error("the model did not call the tool (stop reason: {})", stop_reason.as_deref().unwrap_or("none"))]
    NoToolCall {
        /// The stop reason the model gave, if any.
        stop_reason: Option<String>,
    },
    /// The model ran out of output tokens before finishing its answer.
    #[error("the output was cut off at the max_tokens limit; raise max_tokens")]
    Truncated,
    /// The model stopped for a reason that leaves no usable answer.
    #[error("the model stopped with reason `{stop_reason}`")]
    UnexpectedStopReason {
        /// The stop reason the model gave.
        stop_reason: String,
    },
    /// The model called the tool more than once, so no single answer can be chosen.
    #[error("the model made {count} tool calls where one was expected")]
    MultipleToolCalls {
        /// How many calls it made.
        count: usize,
    },
    /// The model called a tool other than the one asked for.
    #[error("the model called tool `{found}` instead of `{expected}`")]
    WrongTool {
        /// The tool that was forced.
        expected: String,
        /// The tool the model called.
        found: String,
    },
    /// The model called a tool that is not one of the output's tools.
    #[error("the model called tool `{found}`, which is none of {}", tools.join(", "))]
    UnknownTool {
        /// The tool the model called.
        found: String,
        /// The tools it was given.
        tools: Vec<String>,
    },
    /// The tool arguments, or the JSON the model wrote in its text, are not valid JSON.
    #[error("the tool input is not valid JSON: {message}")]
    ToolInputNotJson {
        /// The JSON parser's message.
        message: String,
    },
    /// The tool input is JSON but does not fit the output type.
    #[error("the tool input does not fit the output type at `{path}`: {message}")]
    ToolInputInvalid {
        /// Where in the input the bad value is, as in `people[2].age` (`.` for the top).
        path: String,
        /// serde's message.
        message: String,
    },
    /// The output line or the model output is not in the shape the model family answers in.
    #[error("malformed output: {message}")]
    MalformedOutput {
        /// What is wrong with it.
        message: String,
    },
    /// The record is not in the job's output: the job ended (expired, stopped, partially
    /// completed) before it was processed.
    #[error("the record is missing from the job output")]
    Missing,
    /// The job that held the record failed (in a run of several jobs, the others go on).
    #[error("job {job_arn} failed: {message}")]
    JobFailed {
        /// The failed job.
        job_arn: String,
        /// Bedrock's message.
        message: String,
    },
}

impl RecordError {
    /// A short, stable name for the kind of failure (the `reason` field of its JSON form),
    /// for counting failures by reason.
    ///
    /// ```
    /// assert_eq!(llmbo::RecordError::Missing.reason(), "missing");
    /// ```
    pub fn reason(&self) -> &'static str {
        match self {
            RecordError::Bedrock { .. } => "bedrock",
            RecordError::NoToolCall { .. } => "no_tool_call",
            RecordError::Truncated => "truncated",
            RecordError::UnexpectedStopReason { .. } => "unexpected_stop_reason",
            RecordError::MultipleToolCalls { .. } => "multiple_tool_calls",
            RecordError::WrongTool { .. } => "wrong_tool",
            RecordError::UnknownTool { .. } => "unknown_tool",
            RecordError::ToolInputNotJson { .. } => "tool_input_not_json",
            RecordError::ToolInputInvalid { .. } => "tool_input_invalid",
            RecordError::MalformedOutput { .. } => "malformed_output",
            RecordError::Missing => "missing",
            RecordError::JobFailed { .. } => "job_failed",
        }
    }
}

/// Why a run could not go on. Each variant says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is missing or out of range.
    #[error("invalid setting `{field}`: {reason}")]
    InvalidConfig {
        /// The builder method or field concerned.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// An input cannot be sent: a record's request, its id, an id used twice, or bad lines of
    /// an input file. Nothing was uploaded. Match on `problem` for the kind.
    ///
    /// ```
    /// use llmbo::Error;
    /// use llmbo::input::InputProblem;
    /// let err = Error::InvalidInput { record_id: Some("r7".into()), problem: InputProblem::DuplicateId };
    /// assert_eq!(err.to_string(), "record `r7`: the id is used twice; every record needs its own id");
    /// ```
    #[error("{}{problem}", record_id.as_deref().map(|id| format!("record `{id}`: ")).unwrap_or_default())]
    InvalidInput {
        /// The record concerned, when the problem is one record's.
        record_id: Option<String>,
        /// What is wrong.
        problem: InputProblem,
    },
    /// Bedrock rejects jobs with fewer records than its per-model minimum.
    #[error(
        "{count} records is below Bedrock's minimum of {minimum} records per job; add records or lower the minimum if your quota allows"
    )]
    TooFewRecords {
        /// Records given.
        count: usize,
        /// The minimum in force.
        minimum: usize,
    },
    /// The S3 bucket does not exist or cannot be reached with these credentials.
    #[error("bucket {bucket} does not exist or is not accessible with these credentials")]
    BucketNotFound {
        /// The bucket name.
        bucket: String,
    },
    /// The bucket is in another region than the job.
    #[error(
        "bucket {bucket} is in {bucket_region} but the job runs in {region}; use a bucket in {region}"
    )]
    BucketInWrongRegion {
        /// The bucket name.
        bucket: String,
        /// Where the bucket is.
        bucket_region: String,
        /// Where the job runs.
        region: String,
    },
    /// The IAM role does not exist.
    #[error(
        "role {role_arn} does not exist; create it with a trust policy for bedrock.amazonaws.com"
    )]
    RoleNotFound {
        /// The role ARN.
        role_arn: String,
    },
    /// The job ended without output worth downloading.
    #[error("job {job_arn} ended {status}: {message}")]
    JobFailed {
        /// The job's ARN.
        job_arn: String,
        /// Its final status.
        status: String,
        /// Bedrock's explanation.
        message: String,
    },
    /// Records break their family's request rules (or, in strict mode, its warnings): the
    /// run is refused before anything is uploaded. The findings are grouped by rule, with a
    /// count and the first record ids and paths of each.
    #[error(
        "{} finding{} in the records refuse the run; nothing was uploaded:\n{findings}",
        findings.count(crate::findings::Severity::Error),
        if findings.count(crate::findings::Severity::Error) == 1 { "" } else { "s" }
    )]
    Refused {
        /// What was found.
        findings: Box<crate::findings::Findings>,
    },
    /// The run's upper cost estimate is over `max_estimated_cost`; nothing was uploaded.
    #[error(
        "the run could cost up to {high:.4} (estimated {low:.4} to {high:.4}), over the budget of {budget:.4}; nothing was uploaded"
    )]
    OverBudget {
        /// The low end of the estimate.
        low: f64,
        /// The high end of the estimate.
        high: f64,
        /// `max_estimated_cost`.
        budget: f64,
    },
    /// A call to AWS failed for a reason not covered above. `kind` says what to do about it;
    /// the SDK's own error is kept as the [`source`](std::error::Error::source).
    #[error("{operation} failed ({kind}): {}{message}", if code.is_empty() { String::new() } else { format!("{code} ") })]
    Aws {
        /// The API operation, e.g. `CreateModelInvocationJob`.
        operation: &'static str,
        /// What kind of failure it is, from the service's error code and HTTP status.
        kind: AwsErrorKind,
        /// The service's error code, e.g. `ValidationException` (empty when the call never got
        /// an answer, as when the endpoint cannot be reached).
        code: String,
        /// The service's message, or why the call failed.
        message: String,
        /// The SDK's error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A call to a batch API other than Bedrock's (Anthropic, OpenAI, Gemini) failed. `kind`
    /// says what to do about it, as for [`Error::Aws`].
    #[error("{provider} {operation} failed ({kind}): {}{message}", if code.is_empty() { String::new() } else { format!("{code} ") })]
    Api {
        /// The provider: `Anthropic`, `OpenAI` or `Gemini`.
        provider: &'static str,
        /// What was asked, e.g. `create batch`.
        operation: &'static str,
        /// What kind of failure it is, from the HTTP status and the provider's error type.
        kind: AwsErrorKind,
        /// The provider's error type or code (e.g. `rate_limit_error`), or the HTTP status;
        /// empty when the call got no answer.
        code: String,
        /// The provider's message, or why the call failed.
        message: String,
    },
    /// A run of this name exists with other inputs or settings; nothing was uploaded.
    #[error(
        "a run named `{job_name}` already exists ({run_uri}) with other {}; resume it with `BatchRun::resume(\"{run_uri}\", ..)` or choose another job name",
        differs.join(", ")
    )]
    RunExists {
        /// The run's job name.
        job_name: String,
        /// Its record.
        run_uri: String,
        /// What differs: the names of the settings, and `inputs` when the records differ.
        differs: Vec<String>,
    },
    /// The run was cancelled ([`BatchRun::cancel`](crate::BatchRun::cancel), from any
    /// process): no job is created for it and no record is asked on demand any more.
    #[error(
        "the run `{job_name}` was cancelled ({run_uri}): nothing more is sent for it; to ask again, start a run under another job name"
    )]
    Cancelled {
        /// The run's job name.
        job_name: String,
        /// Its record.
        run_uri: String,
    },
    /// Something llmbo reads back (a job's `manifest.json.out`, the run record, an input) is not
    /// what it should be.
    #[error("{object} is corrupt: {reason}")]
    Corrupt {
        /// The object or file, as `s3://bucket/key` or a path.
        object: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A task of llmbo's own ended abnormally (it panicked or was cancelled): a bug, please
    /// report it.
    #[error("internal error in {what}: {reason}")]
    Internal {
        /// What was running.
        what: &'static str,
        /// Why it ended.
        reason: String,
    },
    /// No job has this ARN (in this region and account).
    #[error("no batch inference job {job_arn}; check the ARN and the region")]
    JobNotFound {
        /// The ARN asked for.
        job_arn: String,
    },
    /// A table (Parquet, Arrow IPC, CSV) could not be read or written as asked: a column
    /// that is not there, a file that is not the format, a column name written twice.
    #[error("{path}: {message}")]
    Table {
        /// The table's file.
        path: std::path::PathBuf,
        /// What is wrong, and what to do.
        message: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// What is wrong with an input ([`Error::InvalidInput`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputProblem {
    /// The request cannot be written for the model (or, for a raw body, is not valid).
    #[error("{0}")]
    Request(String),
    /// The record id is empty or has characters Bedrock refuses.
    #[error("invalid record id: {0}")]
    RecordId(String),
    /// The record id is used twice; Bedrock fails such a job.
    #[error("the id is used twice; every record needs its own id")]
    DuplicateId,
    /// Lines of an input file are bad; each is named by file and line.
    #[error("{0}")]
    File(InputProblems),
    /// Rows of an input table are bad; grouped by problem, each with its first rows.
    #[error("{0}")]
    Table(TableProblems),
}

impl Error {
    /// A request that cannot be written for a model, for adapters to return (the record's id
    /// is added by the caller).
    pub fn invalid_request(reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            record_id: None,
            problem: InputProblem::Request(reason.into()),
        }
    }
}

/// What kind of failure an AWS call met: what a caller acts on, whatever the service's exact
/// error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AwsErrorKind {
    /// The service is throttling the caller (`ThrottlingException`, `SlowDown`, HTTP 429):
    /// wait and try again.
    Throttled,
    /// The credentials may not do this (`AccessDeniedException`, HTTP 403), or are wrong or
    /// expired.
    AccessDenied,
    /// What the call names does not exist (HTTP 404).
    NotFound,
    /// The resource is in a state that refuses the call (`ConflictException`, HTTP 409, 412).
    Conflict,
    /// An account quota is reached (`ServiceQuotaExceededException`): wait for a slot or ask
    /// for more.
    QuotaExceeded,
    /// The request is invalid (`ValidationException`, HTTP 400): fix it, retrying will not help.
    Validation,
    /// The service failed (HTTP 5xx): try again later.
    Service,
    /// No answer: the connection failed or timed out.
    Network,
    /// Anything else.
    Other,
}

impl AwsErrorKind {
    /// The kind of a failure from the service's error code and the HTTP status (either may be
    /// missing).
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub(crate) fn classify(code: &str, status: Option<u16>) -> Self {
        match code {
            "ThrottlingException"
            | "Throttling"
            | "TooManyRequestsException"
            | "SlowDown"
            | "RequestLimitExceeded"
            | "ProvisionedThroughputExceededException" => {
                return AwsErrorKind::Throttled;
            }
            "AccessDeniedException"
            | "AccessDenied"
            | "UnrecognizedClientException"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "InvalidClientTokenId" => {
                return AwsErrorKind::AccessDenied;
            }
            "ResourceNotFoundException"
            | "NoSuchBucket"
            | "NoSuchKey"
            | "NotFound"
            | "NoSuchEntity"
            | "NoSuchUpload" => return AwsErrorKind::NotFound,
            "ConflictException" | "PreconditionFailed" | "ConditionalRequestConflict" => {
                return AwsErrorKind::Conflict;
            }
            "ServiceQuotaExceededException" => return AwsErrorKind::QuotaExceeded,
            "ValidationException" | "InvalidRequest" | "InvalidArgument" => {
                return AwsErrorKind::Validation;
            }
            "InternalServerException"
            | "InternalError"
            | "ServiceUnavailable"
            | "ServiceUnavailableException" => return AwsErrorKind::Service,
            _ => {}
        }
        match status {
            Some(429) => AwsErrorKind::Throttled,
            Some(401 | 403) => AwsErrorKind::AccessDenied,
            Some(404) => AwsErrorKind::NotFound,
            Some(409 | 412) => AwsErrorKind::Conflict,
            Some(400..=499) => AwsErrorKind::Validation,
            Some(500..=599) => AwsErrorKind::Service,
            _ => AwsErrorKind::Other,
        }
    }

    /// Whether the same call may succeed later unchanged: throttling, service errors and
    /// network failures.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            AwsErrorKind::Throttled | AwsErrorKind::Service | AwsErrorKind::Network
        )
    }
}

impl std::fmt::Display for AwsErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AwsErrorKind::Throttled => "throttled",
            AwsErrorKind::AccessDenied => "access denied",
            AwsErrorKind::NotFound => "not found",
            AwsErrorKind::Conflict => "conflict",
            AwsErrorKind::QuotaExceeded => "quota exceeded",
            AwsErrorKind::Validation => "invalid request",
            AwsErrorKind::Service => "service error",
            AwsErrorKind::Network => "no answer",
            AwsErrorKind::Other => "error",
        })
    }
}

impl Error {
    /// Whether the same call may succeed if tried again later: an AWS call that was throttled,
    /// met a service error or got no answer. Nothing else is.
    ///
    /// ```
    /// let err = llmbo::Error::TooFewRecords { count: 3, minimum: 100 };
    /// assert!(!err.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Aws { kind, .. } | Error::Api { kind, .. } => kind.is_retryable(),
            _ => false,
        }
    }

    /// The same error with `more` after its message, for a call's failure (AWS's or another
    /// batch API's) that the caller knows more about; any other error as it is.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub(crate) fn explained(self, more: impl FnOnce() -> String) -> Error {
        match self {
            Error::Aws {
                operation,
                kind,
                code,
                message,
                source,
            } => Error::Aws {
                operation,
                kind,
                code,
                message: format!("{message} ({})", more()),
                source,
            },
            Error::Api {
                provider,
                operation,
                kind,
                code,
                message,
            } => Error::Api {
                provider,
                operation,
                kind,
                code,
                message: format!("{message} ({})", more()),
            },
            other => other,
        }
    }

    /// The kind of AWS failure, when this is one.
    pub fn aws_kind(&self) -> Option<AwsErrorKind> {
        match self {
            Error::Aws { kind, .. } | Error::Api { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// One bad line of an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    /// The line number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// The bad lines of one input file, in file order (at most 50 are kept; `more` counts the
/// others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputProblems {
    /// The file's name as given.
    pub file: String,
    /// The first problems.
    pub problems: Vec<LineProblem>,
    /// How many more bad lines there are beyond `problems`.
    pub more: usize,
}

impl fmt::Display for InputProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.problems.len() + self.more;
        write!(
            f,
            "{} has {total} bad line{}; nothing was submitted",
            self.file,
            if total == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  {}:{}: {}", self.file, problem.line, problem.message)?;
        }
        if self.more > 0 {
            write!(f, "\n  … and {} more", self.more)?;
        }
        Ok(())
    }
}

/// The rows of an input table that share one problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblems {
    /// What is wrong, the same for each row.
    pub message: String,
    /// How many rows have it.
    pub rows: usize,
    /// The first of them, numbered from 0 as a DataFrame's index is (at most 5).
    pub first: Vec<usize>,
}

impl fmt::Display for RowProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self.first.iter().map(ToString::to_string).collect();
        write!(
            f,
            "{}: {} row{} ({} {}{})",
            self.message,
            self.rows,
            if self.rows == 1 { "" } else { "s" },
            if self.first.len() == 1 { "row" } else { "rows" },
            shown.join(", "),
            if self.rows > self.first.len() {
                ", …"
            } else {
                ""
            }
        )
    }
}

/// The bad rows of one input table, grouped by problem in the order first seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableProblems {
    /// The table's name as given.
    pub file: String,
    /// One group per problem.
    pub groups: Vec<RowProblems>,
}

impl fmt::Display for TableProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total: usize = self.groups.iter().map(|g| g.rows).sum();
        write!(
            f,
            "{} has {total} bad row{}; nothing was submitted",
            self.file,
            if total == 1 { "" } else { "s" }
        )?;
        for group in &self.groups {
            write!(f, "\n  {group}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_is_the_json_tag() -> Result<(), Box<dyn std::error::Error>> {
        let all = [
            RecordError::Bedrock {
                code: "400".into(),
                message: "m".into(),
            },
            RecordError::NoToolCall { stop_reason: None },
            RecordError::Truncated,
            RecordError::UnexpectedStopReason {
                stop_reason: "x".into(),
            },
            RecordError::MultipleToolCalls { count: 2 },
            RecordError::WrongTool {
                expected: "a".into(),
                found: "b".into(),
            },
            RecordError::ToolInputNotJson {
                message: "m".into(),
            },
            RecordError::ToolInputInvalid {
                path: ".".into(),
                message: "m".into(),
            },
            RecordError::MalformedOutput {
                message: "m".into(),
            },
            RecordError::Missing,
            RecordError::JobFailed {
                job_arn: "a".into(),
                message: "m".into(),
            },
        ];
        for error in all {
            let json = serde_json::to_value(&error)?;
            assert_eq!(json["reason"], error.reason(), "{error:?}");
        }
        Ok(())
    }
}
