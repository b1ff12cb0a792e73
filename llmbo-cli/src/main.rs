//! `llmbo`: AWS Bedrock batch inference from the shell.

mod args;
mod context;
mod download;
mod inspect;
mod landed;
mod partial;
mod report;
mod submit;
mod vectors;
mod watch;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use context::{Context, Failure};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            // LLMBO_LOG, or the usual RUST_LOG: `debug` shows the whole chain of an error.
            tracing_subscriber::EnvFilter::try_from_env("LLMBO_LOG")
                .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("llmbo: cannot start: {err}");
            return ExitCode::from(1);
        }
    };
    let json = cli.global.json;
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if json {
                // stdout holds only results; the error is JSON on stderr.
                let mut error =
                    serde_json::json!({"error": failure.message(), "exitCode": failure.code()});
                if let Some(detail) = context::take_detail() {
                    error["detail"] = serde_json::json!(detail);
                }
                eprintln!("{error}");
            } else {
                eprintln!("llmbo: {}", failure.message());
            }
            ExitCode::from(failure.code())
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let ctx = Context::new(cli.global);
    match cli.command {
        Command::Submit(args) => submit::run(&ctx, args).await,
        Command::Lint(args) => submit::lint(&ctx, args).await,
        Command::Status(target) => inspect::status(&ctx, &target.target).await,
        Command::List(args) => inspect::list(&ctx, args).await,
        Command::Cancel(target) => inspect::cancel(&ctx, &target.target).await,
        Command::Watch(args) => watch::run(&ctx, args).await,
        Command::Download(args) => download::run(&ctx, args).await,
    }
}
