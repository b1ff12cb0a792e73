//! `llmbo watch`: a live bar per job (plain lines when stdout is not a terminal, JSON lines
//! with `--json`), then the manifest summary.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use llmbo::mode::Untyped;
use llmbo::run::Jobs;
use llmbo::status::{JobDetails, JobStatus};
use llmbo::{BatchRun, Error};
use serde_json::json;

use crate::args::Watch;
use crate::context::{Context, Failure, Target};
use crate::report::{Summary, check_error_rate};

/// One job as watched: its name, the records it holds when known, and Bedrock's view of it.
struct Row {
    name: String,
    records: Option<u64>,
    details: Option<JobDetails>,
}

/// The run's jobs as they are now, after creating those a free slot lets start.
async fn poll(run: &BatchRun<Untyped>) -> Result<Vec<Row>, Error> {
    run.submit().await?;
    Ok(run
        .jobs()
        .await?
        .into_iter()
        .map(|(entry, details)| Row {
            name: entry.job_name,
            records: Some(entry.records as u64),
            details,
        })
        .collect())
}

fn done(rows: &[Row], cancelled: bool) -> bool {
    rows.iter().all(|row| match &row.details {
        Some(job) => job.status.is_finished(),
        None => cancelled,
    })
}

pub async fn run(ctx: &Context, args: Watch) -> Result<(), Failure> {
    let interval = args.interval;
    let target = Target::parse(&args.target.target)?;
    let run = ctx.run(&target).await?;
    let jobs = run.jobs_client();
    // The results, appended as they land, by a handle of its own beside the view's polls.
    let results = match &args.results {
        Some(path) => {
            let follower = ctx.run(&target).await?;
            let path = path.clone();
            Some(tokio::spawn(crate::landed::follow(
                follower, path, interval,
            )))
        }
        None => None,
    };
    let mode = if ctx.json() {
        Mode::Json
    } else if std::io::stdout().is_terminal() {
        Mode::Bars
    } else {
        Mode::Lines
    };
    let mut view = View::new(mode);
    let mut pace = llmbo::builder::PollConfig::default().pace(interval);
    let rows = loop {
        match poll(&run).await {
            Ok(rows) => {
                view.update(&rows);
                if done(&rows, run.run_record().cancelled) {
                    break rows;
                }
                pace.answered();
            }
            // The SDK retried already; poll more slowly rather than give up on the jobs.
            Err(err) => pace.failed(
                err,
                "the jobs still run: watch them again later, or cancel them",
            )?,
        }
        pace.sleep().await;
    };
    view.finish();
    if let (Some(task), Some(path)) = (results, &args.results) {
        let appended = task
            .await
            .map_err(|err| Failure::Failed(format!("writing the results stopped: {err}")))??;
        if !ctx.json() {
            println!("{appended} results appended to {}", path.display());
        }
    }
    summarize(ctx, &jobs, &rows, args.max_error_rate).await
}

/// The manifest summary of the finished jobs, and the exit status it calls for.
async fn summarize(
    ctx: &Context,
    jobs: &Jobs,
    rows: &[Row],
    max_error_rate: f64,
) -> Result<(), Failure> {
    let mut summary = Summary::default();
    let mut failed_jobs = Vec::new();
    for row in rows {
        let Some(job) = &row.details else {
            let records = row.records.unwrap_or(0);
            summary.records += records;
            *summary.errors.entry("job_failed").or_insert(0) += records;
            continue;
        };
        let manifest = match jobs.output_manifest(job).await {
            Ok(manifest) => manifest,
            // A manifest that does not parse loses no job: Bedrock's own counts stand in, as
            // a run reads a job's lines when its manifest is broken.
            Err(llmbo::Error::Corrupt { object, reason }) => {
                tracing::warn!(
                    %object,
                    %reason,
                    "the job's manifest could not be read; its counts are Bedrock's"
                );
                None
            }
            Err(err) => return Err(err.into()),
        };
        let total = manifest
            .as_ref()
            .map(|m| m.total_record_count)
            .or(job.total_record_count)
            .or(row.records)
            .unwrap_or(0);
        let (succeeded, errors, processed) = match &manifest {
            Some(m) => (
                m.success_record_count,
                m.error_record_count,
                m.processed_record_count,
            ),
            None => (
                job.success_record_count.unwrap_or(0),
                job.error_record_count.unwrap_or(0),
                job.processed_record_count.unwrap_or(0),
            ),
        };
        if let Some(m) = &manifest {
            summary.add_manifest(m);
        }
        summary.records += total;
        if job.status == JobStatus::Failed {
            *summary.errors.entry("job_failed").or_insert(0) += total;
            failed_jobs.push(format!(
                "job {} failed: {}",
                job.job_name,
                job.message.as_deref().unwrap_or("Bedrock gave no reason")
            ));
            continue;
        }
        summary.succeeded += succeeded;
        if errors > 0 {
            *summary.errors.entry("bedrock").or_insert(0) += errors;
        }
        let unprocessed = total.saturating_sub(processed.max(succeeded + errors));
        if unprocessed > 0 {
            *summary.errors.entry("missing").or_insert(0) += unprocessed;
        }
    }
    if ctx.json() {
        let mut value = summary.to_json();
        value["event"] = json!("summary");
        println!("{value}");
    } else {
        println!("{}", summary.to_text());
    }
    if !failed_jobs.is_empty() {
        return Err(Failure::Failed(failed_jobs.join("; ")));
    }
    check_error_rate(summary.failed(), summary.records, max_error_rate)
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Bars,
    Lines,
    Json,
}

/// Draws what changed since the last poll.
struct View {
    mode: Mode,
    started: Instant,
    bars: MultiProgress,
    by_name: HashMap<String, ProgressBar>,
    last: HashMap<String, (String, u64, u64)>,
}

impl View {
    fn new(mode: Mode) -> Self {
        let target = if mode == Mode::Bars {
            ProgressDrawTarget::stdout()
        } else {
            ProgressDrawTarget::hidden()
        };
        View {
            mode,
            started: Instant::now(),
            bars: MultiProgress::with_draw_target(target),
            by_name: HashMap::new(),
            last: HashMap::new(),
        }
    }

    fn update(&mut self, rows: &[Row]) {
        for row in rows {
            let (status, processed, errors, total) = match &row.details {
                Some(job) => (
                    job.status.as_str().to_owned(),
                    job.processed_record_count.unwrap_or(0),
                    job.error_record_count.unwrap_or(0),
                    job.total_record_count.or(row.records),
                ),
                None => ("NotCreated".to_owned(), 0, 0, row.records),
            };
            let finished = row
                .details
                .as_ref()
                .is_some_and(|job| job.status.is_finished());
            let state = (status.clone(), processed, errors);
            let changed = self.last.get(&row.name) != Some(&state);
            self.last.insert(row.name.clone(), state);
            match self.mode {
                Mode::Bars => {
                    let bar = self.bar(&row.name);
                    if let Some(total) = total {
                        bar.set_length(total);
                    }
                    bar.set_position(processed);
                    let message = format!("{status}, {errors} errors");
                    if finished && !bar.is_finished() {
                        bar.finish_with_message(message);
                    } else if !finished {
                        bar.set_message(message);
                    }
                }
                Mode::Lines if changed => {
                    println!(
                        "[{:>7.1}s] {} {} {}/{} processed, {} errors",
                        self.started.elapsed().as_secs_f64(),
                        row.name,
                        status,
                        processed,
                        total.map_or_else(|| "?".to_owned(), |t| t.to_string()),
                        errors
                    );
                }
                Mode::Json if changed => {
                    println!(
                        "{}",
                        json!({
                            "event": "progress",
                            "jobName": row.name,
                            "jobArn": row.details.as_ref().map(|d| d.job_arn.clone()),
                            "status": status,
                            "processed": processed,
                            "total": total,
                            "errors": errors,
                            "elapsedSeconds": self.started.elapsed().as_secs_f64(),
                        })
                    );
                }
                Mode::Lines | Mode::Json => {}
            }
        }
    }

    fn bar(&mut self, name: &str) -> ProgressBar {
        if let Some(bar) = self.by_name.get(name) {
            return bar.clone();
        }
        let style = ProgressStyle::with_template(
            "{spinner} {prefix:<28} [{bar:32}] {pos:>6}/{len:<6} {msg} ({elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = self.bars.add(ProgressBar::new(0));
        bar.set_style(style);
        bar.set_prefix(name.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        self.by_name.insert(name.to_owned(), bar.clone());
        bar
    }

    fn finish(&mut self) {
        for bar in self.by_name.values() {
            if !bar.is_finished() {
                bar.finish();
            }
        }
    }
}
