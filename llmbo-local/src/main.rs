//! `llmbo-local`: runs the offline Bedrock until interrupted and prints the variables that
//! point an AWS SDK or the AWS CLI at it.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use llmbo_local::{FaultConfig, JobFault, LocalBedrock, Quotas, Speed};

/// The secret key and API key when none is given: known to every client, so shown.
const DEFAULT_SECRET: &str = "test";

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SpeedArg {
    /// A 100-record job completes in well under a second.
    Fast,
    /// Status changes take 20 s and records 50 ms each.
    Realistic,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum JobFaultArg {
    /// Every job fails while validating.
    Fail,
    /// Every job stays Scheduled until its timeout, then expires.
    Expire,
    /// Every job ends PartiallyCompleted after --processed-fraction of its records.
    Partial,
}

/// An offline Amazon Bedrock for batch inference: S3, IAM and Bedrock jobs on one endpoint.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Port to listen on.
    #[arg(long, default_value_t = 4566)]
    port: u16,
    /// Address to listen on; keep the default unless other machines must reach it.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Folder that keeps buckets between runs (default: a temporary folder).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Region of the endpoint.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Bucket created at start-up.
    #[arg(long, default_value = "llmbo-local")]
    bucket: String,
    /// The access key every request is signed with.
    #[arg(long, env = "LLMBO_LOCAL_ACCESS_KEY", default_value = "test")]
    access_key: String,
    /// The secret key every request is signed with.
    #[arg(
        long,
        env = "LLMBO_LOCAL_SECRET_KEY",
        default_value = "test",
        hide_default_value = true
    )]
    secret_key: String,
    /// The Bedrock API key (bearer token) Bedrock calls may carry instead of a signature.
    #[arg(
        long,
        env = "LLMBO_LOCAL_API_KEY",
        default_value = "test",
        hide_default_value = true
    )]
    api_key: String,
    /// How fast jobs run.
    #[arg(long, value_enum, default_value = "fast")]
    speed: SpeedArg,
    /// Fewest records a job may have.
    #[arg(long, default_value_t = 100)]
    min_records: usize,
    /// Most records a job may have.
    #[arg(long, default_value_t = 50_000)]
    max_records: usize,
    /// Submitted and running jobs allowed per model.
    #[arg(long, default_value_t = 10)]
    max_concurrent_jobs: usize,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, default_value_t = llmbo_local::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Seed of every injected fault.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of records answered with an error record.
    #[arg(long, default_value_t = 0.0)]
    record_error_rate: f64,
    /// Fraction of records answered with malformed output.
    #[arg(long, default_value_t = 0.0)]
    malformed_output_rate: f64,
    /// Fraction of Bedrock and IAM calls answered with ThrottlingException.
    #[arg(long, default_value_t = 0.0)]
    throttle_rate: f64,
    /// Throttle only this operation (repeatable), e.g. CreateModelInvocationJob.
    #[arg(long)]
    throttle_operation: Vec<String>,
    /// Fraction of S3 uploads answered with a 500.
    #[arg(long, default_value_t = 0.0)]
    s3_upload_error_rate: f64,
    /// How every job ends.
    #[arg(long, value_enum)]
    job_fault: Option<JobFaultArg>,
    /// With --job-fault partial: the fraction of records processed.
    #[arg(long, default_value_t = 0.5)]
    processed_fraction: f64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let job_fault = args.job_fault.map(|fault| match fault {
        JobFaultArg::Fail => JobFault::Fail {
            message: "The job failed (injected by llmbo-local).".into(),
        },
        JobFaultArg::Expire => JobFault::Expire,
        JobFaultArg::Partial => JobFault::PartiallyComplete {
            processed_fraction: args.processed_fraction,
        },
    });
    let mut builder = LocalBedrock::builder()
        .bind(args.bind)
        .port(args.port)
        .region(args.region.clone())
        .bucket(args.bucket.clone())
        .credentials(args.access_key.clone(), args.secret_key.clone())
        .api_key(args.api_key.clone())
        .max_connections(args.max_connections)
        .speed(match args.speed {
            SpeedArg::Fast => Speed::fast(),
            SpeedArg::Realistic => Speed::realistic(),
        })
        .quotas(Quotas {
            min_records: args.min_records,
            max_records: args.max_records,
            max_concurrent_jobs_per_model: args.max_concurrent_jobs,
            ..Quotas::default()
        })
        .faults(FaultConfig {
            seed: args.seed,
            record_error_rate: args.record_error_rate,
            malformed_output_rate: args.malformed_output_rate,
            job_fault,
            job_fault_name_contains: None,
            job_fault_jobs: None,
            throttle_rate: args.throttle_rate,
            throttle_operations: args.throttle_operation,
            s3_upload_error_rate: args.s3_upload_error_rate,
            malformed_kinds: Vec::new(),
            malformed_follow_ups: false,
            control_faults: Vec::new(),
        });
    if let Some(dir) = &args.data_dir {
        builder = builder.data_dir(dir);
    }
    let local = builder.start().await?;
    println!("# llmbo-local is listening. Point an AWS SDK or the AWS CLI at it with:");
    println!("export AWS_ENDPOINT_URL={}", local.endpoint_url());
    println!(
        "export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}",
        args.access_key,
        shown(&args.secret_key, "LLMBO_LOCAL_SECRET_KEY", "--secret-key")
    );
    println!(
        "# or, for Bedrock only, an API key: export AWS_BEARER_TOKEN_BEDROCK={}",
        shown(&args.api_key, "LLMBO_LOCAL_API_KEY", "--api-key")
    );
    println!(
        "export AWS_REGION={} AWS_DEFAULT_REGION={}",
        local.region(),
        local.region()
    );
    println!(
        "# S3 needs path-style addressing (the AWS CLI: aws configure set default.s3.addressing_style path)"
    );
    println!("# bucket: {}   role: {}", local.bucket(), local.role_arn());
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// A secret as the start-up lines show it: the default in full (it is no secret), any other
/// only by where it came from (`"$VARIABLE"`, or the flag), so a key never lands in a log.
fn shown(secret: &str, variable: &str, flag: &str) -> String {
    if secret == DEFAULT_SECRET {
        secret.to_owned()
    } else if std::env::var_os(variable).is_some() {
        format!("\"${variable}\"")
    } else {
        format!("<the {flag} given>")
    }
}
