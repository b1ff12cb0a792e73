//! The command line's shape.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run AWS Bedrock batch inference jobs from the shell: submit a JSONL of prompts, watch the
/// jobs, download one result per record.
///
/// Credentials and region come from the usual AWS variables and profiles (AWS_PROFILE,
/// AWS_REGION, AWS_ACCESS_KEY_ID, ...). Exit codes: 0 success, 1 a job failed or the error
/// rate is above --max-error-rate (or AWS refused a call), 2 bad usage or input.
#[derive(Debug, Parser)]
#[command(name = "llmbo", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The AWS region (default: from the ARN, then AWS_REGION / the profile).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Send every AWS call to this endpoint (llmbo-local, a proxy); also AWS_ENDPOINT_URL.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Upload a JSONL of records and create the batch job(s).
    Submit(Submit),
    /// Show a job or every job of a run.
    Status(Target),
    /// List the region's batch jobs, newest first.
    List(List),
    /// Stop a job, or every job of a run.
    Cancel(Target),
    /// Follow a job or run to its end with a progress bar per job.
    Watch(Watch),
    /// Write one result line per input record, in input order.
    Download(Download),
}

#[derive(Debug, Args)]
pub struct Submit {
    /// The Bedrock model id (or inference profile / ARN).
    #[arg(long)]
    pub model: String,
    /// The S3 bucket for input and output (in the job's region).
    #[arg(long)]
    pub bucket: String,
    /// The ARN of the IAM role Bedrock assumes.
    #[arg(long)]
    pub role: String,
    /// The job name (jobs of a split run are NAME-1, NAME-2, ...).
    #[arg(long)]
    pub name: String,
    /// A JSON schema: every record must answer by calling a tool with this input schema.
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// The tool's name for --schema (default: the schema's `title`, else `output`).
    #[arg(long)]
    pub tool_name: Option<String>,
    /// Hours before Bedrock gives up on a job (24 to 168).
    #[arg(long, default_value_t = 24)]
    pub timeout_hours: u32,
    /// Records per job at most (Bedrock's quota).
    #[arg(long, default_value_t = 50_000)]
    pub max_records_per_job: usize,
    /// Records per job at least (Bedrock's quota).
    #[arg(long, default_value_t = 100)]
    pub min_records: usize,
    /// Jobs of the run in flight at once.
    #[arg(long, default_value_t = 10)]
    pub max_concurrent_jobs: usize,
    /// The input: one record per line, `{"recordId", "modelInput"}` or
    /// `{"recordId", "prompt"|"messages", "system"?, "max_tokens"?, ...}`.
    pub input: PathBuf,
}

/// A job ARN or a run's `s3://…/input/<name>.run.json`.
#[derive(Debug, Args)]
pub struct Target {
    /// A job ARN, or the run manifest URI that `submit` printed.
    pub target: String,
}

#[derive(Debug, Args)]
pub struct List {
    /// Only jobs with this status (Submitted, InProgress, Completed, Failed, ...).
    #[arg(long)]
    pub status: Option<String>,
    /// Only jobs whose name contains this.
    #[arg(long)]
    pub name_contains: Option<String>,
}

#[derive(Debug, Args)]
pub struct Watch {
    #[command(flatten)]
    pub target: Target,
    /// Seconds between polls.
    #[arg(long, default_value_t = 30.0)]
    pub interval: f64,
    /// Exit 1 when more than this fraction of records failed (0 = any failure).
    #[arg(long, default_value_t = 0.0)]
    pub max_error_rate: f64,
}

#[derive(Debug, Args)]
pub struct Download {
    #[command(flatten)]
    pub target: Target,
    /// Where to write the results (one JSON line per input record).
    #[arg(long)]
    pub out: PathBuf,
    /// Exit 1 when more than this fraction of records failed (0 = any failure).
    #[arg(long, default_value_t = 0.0)]
    pub max_error_rate: f64,
    /// Before writing, send the records that failed or were never processed again as one
    /// follow-up job, wait for it and merge its answers (runs only).
    #[arg(long)]
    pub retry_failed: bool,
    /// With --retry-failed: also retry records whose answer did not parse.
    #[arg(long, requires = "retry_failed")]
    pub include_parse_failures: bool,
    /// With --retry-failed: fill a follow-up job below Bedrock's minimum with copies of a
    /// failed request (billed; their answers are discarded).
    #[arg(long, requires = "retry_failed")]
    pub pad_to_minimum: bool,
    /// Seconds between polls of the follow-up job.
    #[arg(long, default_value_t = 30.0)]
    pub interval: f64,
    /// Price per 1,000 input tokens, to print an estimated cost (with --price-out).
    #[arg(long, requires = "price_out")]
    pub price_in: Option<f64>,
    /// Price per 1,000 output tokens.
    #[arg(long, requires = "price_in")]
    pub price_out: Option<f64>,
}
