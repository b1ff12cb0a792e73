//! `llmbo status`, `list` and `cancel`.

use serde_json::{Value, json};

use crate::args::List;
use crate::context::{Context, Failure, Target};
use crate::report::{job_json, job_line};

pub async fn status(ctx: &Context, target: &str) -> Result<(), Failure> {
    let target = Target::parse(target)?;
    let run = ctx.run(&target).await?;
    let jobs = run.jobs().await?;
    if ctx.json() {
        let list: Vec<Value> = jobs
            .iter()
            .map(|(entry, details)| match details {
                Some(job) => job_json(job),
                None => json!({"jobName": entry.job_name, "status": "NotCreated", "records": entry.records}),
            })
            .collect();
        match target {
            // A bare job ARN prints the job, as it always has.
            Target::Job(_) if list.len() == 1 => println!("{}", list[0]),
            _ => println!(
                "{}",
                json!({"runUri": run.run_uri(), "cancelled": run.run_record().cancelled, "jobs": list})
            ),
        }
    } else {
        if let Target::Run(uri) = target {
            println!("run {uri}");
        }
        for (entry, details) in &jobs {
            match details {
                Some(job) => println!("{}", job_line(job)),
                None => println!(
                    "{:<32} {:<18} {:>7} records",
                    entry.job_name, "NotCreated", entry.records
                ),
            }
        }
    }
    Ok(())
}

pub async fn list(ctx: &Context, args: List) -> Result<(), Failure> {
    let status = args.status.map(crate::args::StatusArg::status);
    let client = match args.api.provider {
        crate::args::ProviderArg::Bedrock => ctx.jobs(None).await?,
        other => {
            let sdk = ctx.store_sdk(&args.api.store).await?;
            llmbo::run::Jobs::connect_api(
                other.provider(),
                &args.api.store,
                args.api.base_url.as_deref(),
                None,
                sdk,
            )
            .await?
        }
    };
    let jobs = client
        .list(status.as_ref(), args.name_contains.as_deref())
        .await?;
    if ctx.json() {
        let list: Vec<Value> = jobs.iter().map(job_json).collect();
        println!("{}", Value::Array(list));
    } else if jobs.is_empty() {
        println!("no jobs");
    } else {
        for job in &jobs {
            println!("{}", job_line(job));
        }
    }
    Ok(())
}

pub async fn cancel(ctx: &Context, target: &str) -> Result<(), Failure> {
    let target = Target::parse(target)?;
    let stopped = ctx.run(&target).await?.cancel().await?;
    if ctx.json() {
        println!("{}", json!({"stopRequested": stopped}));
    } else if stopped.is_empty() {
        println!("nothing to stop: every job had already ended");
    } else {
        for arn in &stopped {
            println!("stop requested: {arn}");
        }
    }
    Ok(())
}
