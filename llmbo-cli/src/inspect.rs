//! `llmbo status`, `list` and `cancel`.

use serde_json::{Value, json};

use crate::args::List;
use crate::context::{Context, Failure, Target};
use crate::report::{job_json, job_line};

pub async fn status(ctx: &Context, target: &str) -> Result<(), Failure> {
    let target = Target::parse(target)?;
    match target {
        Target::Job(arn) => {
            let job = ctx.jobs(Some(&target)).await?.describe(arn).await?;
            if ctx.json() {
                println!("{}", job_json(&job));
            } else {
                println!("{}", job_line(&job));
            }
        }
        Target::Run(uri) => {
            let run = ctx.run(uri).await?;
            let jobs = run.jobs().await?;
            if ctx.json() {
                let list: Vec<Value> = jobs
                    .iter()
                    .map(|(entry, details)| match details {
                        Some(job) => job_json(job),
                        None => json!({"jobName": entry.job_name, "status": "NotCreated", "records": entry.records}),
                    })
                    .collect();
                println!(
                    "{}",
                    json!({"runUri": uri, "cancelled": run.manifest().cancelled, "jobs": list})
                );
            } else {
                println!("run {uri}");
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
        }
    }
    Ok(())
}

pub async fn list(ctx: &Context, args: List) -> Result<(), Failure> {
    let status = args.status.map(crate::args::StatusArg::status);
    let jobs = ctx
        .jobs(None)
        .await?
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
    let stopped = match target {
        Target::Job(arn) => {
            let stopped = ctx.jobs(Some(&target)).await?.stop(arn).await?;
            if stopped {
                vec![arn.to_owned()]
            } else {
                Vec::new()
            }
        }
        Target::Run(uri) => ctx.run(uri).await?.cancel().await?,
    };
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
