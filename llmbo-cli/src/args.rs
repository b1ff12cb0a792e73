//! The command line's shape.

use std::path::PathBuf;

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Check a JSONL of records against the model's request rules, the model, its quotas and
    /// the cost, without a bucket and without sending anything; exit 2 on errors.
    Lint(Lint),
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

/// The batch APIs a run can be on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    /// AWS Bedrock batch inference (needs --bucket and --role).
    Bedrock,
    /// Anthropic's Message Batches (key in ANTHROPIC_API_KEY).
    Anthropic,
    /// OpenAI's Batch API (key in OPENAI_API_KEY).
    Openai,
    /// The Gemini API's batch mode (key in GEMINI_API_KEY).
    Gemini,
}

impl ProviderArg {
    /// The library's provider.
    pub fn provider(self) -> llmbo::model::Provider {
        match self {
            ProviderArg::Bedrock => llmbo::model::Provider::Bedrock,
            ProviderArg::Anthropic => llmbo::model::Provider::Anthropic,
            ProviderArg::Openai => llmbo::model::Provider::OpenAi,
            ProviderArg::Gemini => llmbo::model::Provider::Gemini,
        }
    }
}

/// Where a run on a batch API other than Bedrock is: the API and the folder it is kept in.
#[derive(Debug, Args)]
pub struct Api {
    /// The batch API: bedrock, anthropic, openai or gemini.
    #[arg(long, value_enum, default_value = "bedrock")]
    pub provider: ProviderArg,
    /// Where a run on anthropic or openai is kept (its record, inputs and batches): a local
    /// folder.
    #[arg(long, default_value = "llmbo-runs")]
    pub store: String,
    /// The API's base URL (default: ANTHROPIC_BASE_URL / OPENAI_BASE_URL, else the
    /// provider's own).
    #[arg(long)]
    pub base_url: Option<String>,
    /// With --provider openai: the API the requests go to, chat-completions (default) or
    /// responses.
    #[arg(long, value_parser = parse_endpoint)]
    pub openai_endpoint: Option<llmbo::model::OpenAiEndpoint>,
}

fn parse_endpoint(text: &str) -> Result<llmbo::model::OpenAiEndpoint, String> {
    text.parse().map_err(|_| {
        format!("`{text}` is not an OpenAI endpoint; use chat-completions or responses")
    })
}

/// What a run asks for: the model, the input and how it is checked; shared by `submit` and
/// `lint`.
#[derive(Debug, Args)]
pub struct Request {
    #[command(flatten)]
    pub api: Api,
    /// The model: a Bedrock model id (or inference profile / ARN), or the provider's name
    /// for it (claude-haiku-4-5, gpt-4o-mini).
    #[arg(long)]
    pub model: String,
    /// A JSON schema: every record must answer by calling a tool with this input schema.
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// The tool's name for --schema (default: the schema's `title`, else `output`).
    #[arg(long)]
    pub tool_name: Option<String>,
    /// How --schema answers are asked for: forced-tool, strict-tool, json-schema (native
    /// structured output) or json-in-prompt. Default: the model's best; with raw
    /// `modelInput` lines, the way the first one asks.
    #[arg(long, value_parser = parse_strategy)]
    pub output_strategy: Option<llmbo::OutputStrategy>,
    /// An embedding run: each record's text is embedded (Titan Text Embeddings V2, Nova 2
    /// multimodal embeddings; text-embedding-3 with --provider openai, gemini-embedding-001
    /// with --provider gemini); `download` writes the vectors.
    #[arg(long, conflicts_with_all = ["schema", "output_strategy"])]
    pub embed: bool,
    /// With --embed: the vectors' length (Titan V2: 256, 512, 1024; Nova: 256, 384, 1024, 3072;
    /// OpenAI: 256, 512, 768, 1024, 1536, 3072; Gemini: 128 and those).
    #[arg(long, requires = "embed")]
    pub dimensions: Option<u32>,
    /// Records per job at most (default: the model's quota from Service Quotas, else 50,000).
    #[arg(long)]
    pub max_records_per_job: Option<usize>,
    /// Records per job at least (default: the model's quota, else 100).
    #[arg(long)]
    pub min_records: Option<usize>,
    /// Jobs of the run in flight at once (default: the model's quota, else 10).
    #[arg(long)]
    pub max_concurrent_jobs: Option<usize>,
    /// Request-rule warnings (an extra field, an uncertain parameter combination) refuse the
    /// run as errors do.
    #[arg(long)]
    pub strict: bool,
    /// A JSON price table, for the cost range: `{"<model id>": {"input_per_1k": ..,
    /// "output_per_1k": .., "on_demand": {"input_per_1k": .., "output_per_1k": ..}}}`.
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// Refuse the run when its upper cost estimate is over this (needs --prices).
    #[arg(long, requires = "prices", value_name = "COST")]
    pub max_cost: Option<f64>,
    #[command(flatten)]
    pub table: TableArgs,
    /// The input: a JSONL file, one record per line (`{"recordId", "modelInput"}` or
    /// `{"recordId", "prompt"|"messages", "system"?, "max_tokens"?, ...}`); or a table
    /// (Parquet, Arrow IPC, CSV; local or `s3://`) with --prompt.
    pub input: PathBuf,
}

/// How a table's rows become records (`submit` and `lint` of a Parquet, Arrow or CSV input).
#[derive(Debug, Args)]
pub struct TableArgs {
    /// Each row's prompt: a template over the table's columns, `{column}` for a row's value
    /// (`{{` and `}}` for literal braces): "Extract the parties from: {body}".
    #[arg(long, value_name = "TEMPLATE")]
    pub prompt: Option<String>,
    /// The column of each record's id (default: the row's number, from 0).
    #[arg(long, value_name = "COLUMN", requires = "prompt")]
    pub id_column: Option<String>,
    /// The system text of every row.
    #[arg(
        long,
        value_name = "TEXT",
        requires = "prompt",
        conflicts_with = "system_column"
    )]
    pub system: Option<String>,
    /// The column of each row's system text.
    #[arg(long, value_name = "COLUMN", requires = "prompt")]
    pub system_column: Option<String>,
    /// A column of media sent after the prompt: bytes, `s3://` URIs or file paths; each an
    /// image, a document or a video as its bytes say (text documents: a document). Repeat
    /// for several.
    #[arg(long, value_name = "COLUMN", requires = "prompt")]
    pub media_column: Vec<String>,
}

#[derive(Debug, Args)]
pub struct Submit {
    #[command(flatten)]
    pub request: Request,
    /// The S3 bucket for input and output (in the job's region); Bedrock only.
    #[arg(long)]
    pub bucket: Option<String>,
    /// The ARN of the IAM role Bedrock assumes; Bedrock only.
    #[arg(long)]
    pub role: Option<String>,
    /// The job name (jobs of a split run are NAME-1, NAME-2, ...).
    #[arg(long)]
    pub name: String,
    /// Hours before Bedrock gives up on a job (24 to 168).
    #[arg(long, default_value_t = 24)]
    pub timeout_hours: u32,
    /// Check everything and print the preflight report (the jobs planned, the findings by
    /// rule, the model and quota checks, the cost range); upload and create nothing. Exit 2
    /// on errors.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct Lint {
    #[command(flatten)]
    pub request: Request,
    /// The job name the plan shows (default `lint`).
    #[arg(long, default_value = "lint")]
    pub name: String,
}

/// A job ARN or a run's `s3://…/input/<name>.run.json` (or its path in a store folder).
#[derive(Debug, Args)]
pub struct Target {
    /// A job ARN, or the run's record that `submit` printed (`s3://…` on Bedrock, a path in
    /// the store folder on the other APIs).
    pub target: String,
}

#[derive(Debug, Args)]
pub struct List {
    #[command(flatten)]
    pub api: Api,
    /// Only jobs with this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// Only jobs whose name contains this.
    #[arg(long)]
    pub name_contains: Option<String>,
}

#[derive(Debug, Args)]
pub struct Watch {
    #[command(flatten)]
    pub target: Target,
    /// Time between polls: `30s`, `5m`, `500ms`, `1h` (a bare number is seconds).
    #[arg(long, default_value = "30s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Exit 1 when more than this fraction of records failed (0 = any failure).
    #[arg(long, default_value_t = 0.0)]
    pub max_error_rate: f64,
    /// Append each record's result to this file as it lands (one JSON line each, as
    /// `download` writes them, in the order they land). Watching again with the same file
    /// goes on from where it ends: no record is written twice.
    #[arg(long)]
    pub results: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct Download {
    #[command(flatten)]
    pub target: Target,
    /// Where to write the results: one row (or JSON line) per input record, in input order.
    #[arg(long)]
    pub out: PathBuf,
    /// `jsonl` (one `{"recordId", "output"|"error"}` line per record; an embedding run's
    /// `{"recordId", "embedding"}`), `parquet`, `arrow` or `csv` (a row per record: the id,
    /// the answer's fields as typed columns, the outcome, the error, tokens, attempts), or
    /// `npy` for an embedding run (one float32 matrix, a row per record, NaN where a record
    /// has no vector, and the record ids in `<out>.ids`). Default: from --out's extension,
    /// else jsonl.
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// The answer's columns of a table from this JSON schema, when the run has none (an
    /// untyped run whose answers are JSON) or to type them otherwise.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Put this before the name of each of the answer's columns (for a field named like
    /// one of llmbo's: `id`, `outcome`, `error`, ...).
    #[arg(long, value_name = "PREFIX")]
    pub field_prefix: Option<String>,
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
    /// With --retry-failed: send a retry (or re-ask) under a job's minimum on demand
    /// (bedrock-runtime, at the on-demand price) instead of padding it.
    #[arg(long, requires = "retry_failed")]
    pub on_demand: bool,
    /// With --retry-failed: re-ask the records whose answer did not fit the schema, showing
    /// the model its answer and the error, up to N rounds.
    #[arg(long, requires = "retry_failed", default_value_t = 0, value_name = "N")]
    pub reask: u32,
    /// Time between polls of the follow-up job: `30s`, `5m`, … (a bare number is seconds).
    #[arg(long, default_value = "30s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Price per 1,000 input tokens, to print an estimated cost (with --price-out).
    #[arg(long, requires = "price_out")]
    pub price_in: Option<f64>,
    /// Price per 1,000 output tokens.
    #[arg(long, requires = "price_in")]
    pub price_out: Option<f64>,
}

/// A job status, as `list --status` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "PascalCase")]
pub enum StatusArg {
    Submitted,
    Validating,
    Scheduled,
    InProgress,
    Completed,
    PartiallyCompleted,
    Failed,
    Stopping,
    Stopped,
    Expired,
}

impl StatusArg {
    /// The library's status.
    pub fn status(self) -> llmbo::status::JobStatus {
        use llmbo::status::JobStatus;
        match self {
            StatusArg::Submitted => JobStatus::Submitted,
            StatusArg::Validating => JobStatus::Validating,
            StatusArg::Scheduled => JobStatus::Scheduled,
            StatusArg::InProgress => JobStatus::InProgress,
            StatusArg::Completed => JobStatus::Completed,
            StatusArg::PartiallyCompleted => JobStatus::PartiallyCompleted,
            StatusArg::Failed => JobStatus::Failed,
            StatusArg::Stopping => JobStatus::Stopping,
            StatusArg::Stopped => JobStatus::Stopped,
            StatusArg::Expired => JobStatus::Expired,
        }
    }
}

/// The longest interval between polls: a day (a job runs at most a week).
const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// A poll interval: a number with an optional unit (`ms`, `s`, `m`, `h`; seconds without),
/// above zero and at most a day.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let seconds_per_unit = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "m" | "min" | "mins" => 60.0,
        "h" | "hr" | "hrs" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use ms, s, m or h (as in 30s, 5m)"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write it as 30s, 5m, 500ms or 1h"))?;
    let seconds = value * seconds_per_unit;
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!("`{text}` must be more than zero"));
    }
    if seconds > MAX_INTERVAL.as_secs_f64() {
        return Err(format!(
            "`{text}` is longer than a day; poll at least daily"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// How `download` writes an embedding run's vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// One JSON line per record.
    Jsonl,
    /// One `.npy` float32 matrix and an ids file (embedding runs).
    Npy,
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC (file format).
    Arrow,
    /// Comma-separated values with a header row.
    Csv,
}

impl OutputFormat {
    /// The format `--format` gives, else the one `out`'s extension names, else JSON lines.
    pub fn of(format: Option<OutputFormat>, out: &std::path::Path) -> OutputFormat {
        if let Some(format) = format {
            return format;
        }
        let name = out.to_string_lossy();
        if name.to_ascii_lowercase().ends_with(".npy") {
            return OutputFormat::Npy;
        }
        match llmbo::table::TableFormat::from_name(&name) {
            Some(llmbo::table::TableFormat::Parquet) => OutputFormat::Parquet,
            Some(llmbo::table::TableFormat::Arrow) => OutputFormat::Arrow,
            Some(llmbo::table::TableFormat::Csv) => OutputFormat::Csv,
            _ => OutputFormat::Jsonl,
        }
    }

    /// The table format, for the formats that are tables.
    pub fn table(self) -> Option<llmbo::table::TableFormat> {
        match self {
            OutputFormat::Parquet => Some(llmbo::table::TableFormat::Parquet),
            OutputFormat::Arrow => Some(llmbo::table::TableFormat::Arrow),
            OutputFormat::Csv => Some(llmbo::table::TableFormat::Csv),
            OutputFormat::Jsonl | OutputFormat::Npy => None,
        }
    }
}

fn parse_strategy(text: &str) -> Result<llmbo::OutputStrategy, String> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_take_units_and_refuse_the_absurd() {
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_interval("0.05"), Ok(Duration::from_millis(50)));
        for bad in [
            "1e20",
            "0",
            "-1",
            "NaN",
            "inf",
            "5 parsecs",
            "",
            "m",
            "25h",
            "1.2.3s",
        ] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }
}
