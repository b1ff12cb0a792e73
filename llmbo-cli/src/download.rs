//! `llmbo download`: one line per input record, in input order, with its output or its error.

use std::io::Write;
use std::time::Duration;

use llmbo::run::RetryOutcome;
use llmbo::{RecordError, RecordResult, RetryOptions};
use serde_json::{Value, json};

use crate::args::{Download, OutputFormat};
use crate::context::{Context, Failure, Target};
use crate::partial::Partial;
use crate::report::{Summary, check_error_rate};

pub async fn run(ctx: &Context, args: Download) -> Result<(), Failure> {
    let target = Target::parse(&args.target.target)?;
    let format = OutputFormat::of(args.format, &args.out);
    let mut retry = None;
    // Failed jobs make the command fail whatever the error rate.
    let mut failed_jobs: Vec<String> = Vec::new();
    // A bare job ARN is a run of one: the same path for both.
    let run = ctx.run(&target).await?;
    let cancelled = run.run_record().cancelled;
    let unfinished = run
        .jobs()
        .await?
        .iter()
        .filter(|(_, details)| match details {
            Some(job) => !job.status.is_finished(),
            None => !cancelled,
        })
        .count();
    if unfinished > 0 {
        let what = &args.target.target;
        return Err(Failure::Failed(format!(
            "{unfinished} job(s) have not finished; follow them with `llmbo watch {what}`"
        )));
    }
    // An embedding run (or a job on an embedding model) is written as vectors.
    let embedding = run.run_record().settings.embedding.is_some()
        || llmbo::embedding::is_embedding_model(run.model_name());
    if embedding {
        if args.retry_failed {
            return Err(Failure::Usage(
                "--retry-failed is not yet available for embedding runs".into(),
            ));
        }
        let run = ctx.run_as::<llmbo::mode::Embeddings>(&target).await?;
        let (summary, failed_jobs) = crate::vectors::download(run, &args.out, format).await?;
        if ctx.json() {
            let mut value = summary.to_json();
            value["out"] = json!(args.out.display().to_string());
            println!("{value}");
        } else {
            println!("{}", summary.to_text());
            println!("vectors: {}", args.out.display());
        }
        if !failed_jobs.is_empty() {
            return Err(Failure::Failed(failed_jobs.join("; ")));
        }
        return check_error_rate(summary.failed(), summary.records, args.max_error_rate);
    }
    if format == OutputFormat::Npy {
        return Err(Failure::Usage(
            "--format npy is for embedding runs; this run's results are JSON".into(),
        ));
    }
    let estimate = run.run_record().estimate;
    let schema = run.run_record().settings.tool.map(|tool| tool.input_schema);
    let table = match format.table() {
        Some(table_format) => {
            let columns = match (&args.schema, &schema) {
                (Some(path), _) => {
                    llmbo::table::TableColumns::from_schema(&crate::submit::read_schema(path)?)
                }
                (None, Some(schema)) => llmbo::table::TableColumns::from_schema(schema),
                (None, None) => llmbo::table::TableColumns::output(),
            };
            let columns = match &args.field_prefix {
                Some(prefix) => columns.with_prefix(prefix),
                None => columns,
            };
            Some((table_format, columns))
        }
        None if args.schema.is_some() || args.field_prefix.is_some() => {
            return Err(Failure::Usage(
                "--schema and --field-prefix name a table's columns; give --format parquet, arrow or csv".into(),
            ));
        }
        None => None,
    };
    let mut writer = ResultWriter::create(&args.out, schema.as_ref(), table)?;
    // The schema's constraints are held in the run too, so a retry can re-ask what breaks them.
    let run = match &schema {
        Some(schema) => {
            let validator = jsonschema::validator_for(schema).map_err(|err| {
                Failure::Failed(format!("the run's output schema does not compile: {err}"))
            })?;
            run.check_outputs(move |value| schema_check(&validator, value))
        }
        None => run,
    };
    let summary = if args.retry_failed {
        // Retrying merges into the results in place, so they are held whole.
        let mut detailed = run.finish_detailed(Duration::from_millis(200)).await?;
        let options = RetryOptions {
            include_parse_failures: args.include_parse_failures,
            pad_to_minimum: args.pad_to_minimum,
            poll_interval: args.interval,
            reask: args.reask,
            on_demand: args.on_demand,
        };
        retry = Some(run.retry_failed(&mut detailed, &options).await?);
        failed_jobs.extend(detailed.summary.failed_jobs.iter().map(ToString::to_string));
        let manifest = detailed.results.manifest.clone();
        for (record, info) in detailed.results.records.into_iter().zip(&detailed.info) {
            writer.write(record, info)?;
        }
        writer.finish(&manifest)?
    } else {
        // One job's results in memory at a time, written as they come.
        let mut stream = run.stream(Duration::from_millis(200));
        while let Some(next) = stream.next_detailed().await {
            let (record, info) = next?;
            writer.write(record, &info)?;
        }
        let run_summary = stream.summary().unwrap_or_default();
        failed_jobs.extend(run_summary.failed_jobs.iter().map(ToString::to_string));
        writer.finish(&run_summary.manifest)?
    };
    let cost = match (args.price_in, args.price_out) {
        (Some(input), Some(output)) => Some(
            summary.input_tokens.unwrap_or(0) as f64 / 1000.0 * input
                + summary.output_tokens.unwrap_or(0) as f64 / 1000.0 * output,
        ),
        _ => None,
    };
    if ctx.json() {
        let mut value = summary.to_json();
        value["out"] = json!(args.out.display().to_string());
        if let Some(cost) = cost {
            value["estimatedCost"] = json!(cost);
        }
        if let Some(retry) = &retry {
            value["retry"] = retry_json(retry);
        }
        if let Some(estimate) = &estimate {
            value["estimated"] = json!({
                "inputTokens": [estimate.input_low, estimate.input_high],
                "outputTokensAtMost": estimate.output_max,
            });
        }
        println!("{value}");
    } else {
        if let Some(retry) = &retry {
            println!("{}", retry_text(retry));
        }
        println!("{}", summary.to_text());
        // The preflight's estimate beside what the jobs counted.
        if let Some(estimate) = &estimate {
            println!(
                "estimated before the run: {} to {} in, at most {} out",
                estimate.input_low, estimate.input_high, estimate.output_max
            );
        }
        if let Some(cost) = cost {
            println!("estimated cost: {cost:.4}");
        }
        println!("results: {}", args.out.display());
    }
    if !failed_jobs.is_empty() {
        return Err(Failure::Failed(failed_jobs.join("; ")));
    }
    check_error_rate(summary.failed(), summary.records, args.max_error_rate)
}

/// Writes one line (or table row) per record as it comes, checking structured outputs
/// against the schema.
///
/// The lines go to a private temp file beside `--out` ([`Partial`]; a table's to its own),
/// renamed over it only once every record is written: a download or retry that fails halfway
/// leaves the previous file as it was.
struct ResultWriter {
    out: Out,
    validator: Option<jsonschema::Validator>,
    summary: Summary,
}

enum Out {
    Lines(Partial),
    Table(llmbo::table::ResultTable),
}

impl ResultWriter {
    fn create(
        path: &std::path::Path,
        schema: Option<&Value>,
        table: Option<(llmbo::table::TableFormat, llmbo::table::TableColumns)>,
    ) -> Result<Self, Failure> {
        // The tool input was checked for shape by the adapter; the schema's constraints are
        // checked here, so a structured job's outputs all fit the schema.
        let validator = match schema {
            Some(schema) => Some(jsonschema::validator_for(schema).map_err(|err| {
                Failure::Failed(format!("the run's output schema does not compile: {err}"))
            })?),
            None => None,
        };
        let out = match table {
            Some((format, columns)) => {
                Out::Table(llmbo::table::ResultTable::create(path, format, columns)?)
            }
            None => Out::Lines(Partial::create(path)?),
        };
        Ok(ResultWriter {
            out,
            validator,
            summary: Summary::default(),
        })
    }

    fn write(
        &mut self,
        mut record: RecordResult<Value>,
        info: &llmbo::run::RecordInfo,
    ) -> Result<(), Failure> {
        checked(self.validator.as_ref(), &mut record);
        self.summary.add_record(&record);
        match &mut self.out {
            Out::Lines(out) => {
                let line = result_line(&record);
                let written = serde_json::to_writer(&mut out.file, &line)
                    .map_err(std::io::Error::from)
                    .and_then(|()| out.file.write_all(b"\n"));
                written.map_err(|err| out.io(err))
            }
            Out::Table(table) => Ok(table.write(&record, info)?),
        }
    }

    fn finish(mut self, manifest: &llmbo::Manifest) -> Result<Summary, Failure> {
        match self.out {
            Out::Lines(out) => out.commit()?,
            Out::Table(table) => warn_misfits(&table.finish()?),
        }
        self.summary.add_manifest(manifest);
        Ok(self.summary)
    }
}

/// Says on stderr how many values did not fit their columns (written as nulls), if any.
pub(crate) fn warn_misfits(summary: &llmbo::table::TableSummary) {
    if summary.misfits > 0 {
        eprintln!(
            "warning: {} value(s) did not fit their column's type and were written as nulls; the first: {}",
            summary.misfits,
            summary.first_misfit.as_deref().unwrap_or("?")
        );
    }
}

/// The record, its output held to the run's schema (a value that breaks it becomes the
/// record's error).
pub(crate) fn checked(validator: Option<&jsonschema::Validator>, record: &mut RecordResult<Value>) {
    if let (Some(validator), Ok(value)) = (validator, &record.outcome)
        && let Err(err) = schema_check(validator, value)
    {
        record.outcome = Err(err);
    }
}

/// A record's line in a results file: `{"recordId", "output"}` or `{"recordId", "error":
/// {..., "message"}}`.
pub(crate) fn result_line(record: &RecordResult<Value>) -> Value {
    match &record.outcome {
        Ok(value) => json!({"recordId": record.record_id, "output": value}),
        Err(err) => {
            let mut error = serde_json::to_value(err).unwrap_or_else(|_| json!({}));
            error["message"] = json!(err.to_string());
            json!({"recordId": record.record_id, "error": error})
        }
    }
}

/// A value against the run's schema: the first error with its path (`.` for the top).
fn schema_check(validator: &jsonschema::Validator, value: &Value) -> Result<(), RecordError> {
    match validator.validate(value) {
        Ok(()) => Ok(()),
        Err(err) => {
            let path = err.instance_path().to_string();
            Err(RecordError::ToolInputInvalid {
                path: if path.is_empty() { ".".into() } else { path },
                message: err.to_string(),
            })
        }
    }
}

fn retry_json(retry: &RetryOutcome) -> Value {
    match retry {
        RetryOutcome::NothingToRetry => json!({"retried": 0}),
        RetryOutcome::TooFew { records, minimum } => {
            json!({"retried": 0, "tooFew": records, "minimum": minimum})
        }
        RetryOutcome::Retried {
            job_arn,
            records,
            padding,
            recovered,
        } => {
            json!({"retried": records, "padding": padding, "recovered": recovered, "jobArn": job_arn})
        }
        RetryOutcome::OnDemand { records, recovered } => {
            json!({"retried": records, "onDemand": true, "recovered": recovered})
        }
        RetryOutcome::Reasked {
            retry,
            rounds,
            left,
            too_few,
        } => {
            let mut out = retry_json(retry);
            let rounds: Vec<Value> = rounds
                .iter()
                .map(|r| json!({"jobArn": r.job_arn, "records": r.records, "padding": r.padding, "recovered": r.recovered, "onDemand": r.on_demand}))
                .collect();
            out["reask"] = json!({"rounds": rounds, "left": left, "tooFew": too_few});
            out
        }
        _ => json!({}),
    }
}

fn retry_text(retry: &RetryOutcome) -> String {
    match retry {
        RetryOutcome::NothingToRetry => "retry: no record needed it".into(),
        RetryOutcome::TooFew { records, minimum } => format!(
            "retry: {records} failed records are fewer than a job's minimum of {minimum}; not sent (add --pad-to-minimum to pad the job)"
        ),
        RetryOutcome::Retried {
            job_arn,
            records,
            padding,
            recovered,
        } => format!(
            "retry: {records} records sent again in {job_arn} ({padding} padding), {recovered} now answered"
        ),
        RetryOutcome::OnDemand { records, recovered } => format!(
            "retry: {records} records sent again on demand (fewer than a job's minimum), {recovered} now answered"
        ),
        RetryOutcome::Reasked {
            retry,
            rounds,
            left,
            too_few,
        } => {
            let mut text = retry_text(retry);
            for (n, round) in rounds.iter().enumerate() {
                let place = if round.on_demand {
                    "on demand".to_owned()
                } else {
                    format!("in {}", round.job_arn)
                };
                text.push_str(&format!(
                    "\nre-ask {}: {} records asked again {place} ({} padding), {} now answered",
                    n + 1,
                    round.records,
                    round.padding,
                    round.recovered
                ));
            }
            if *too_few > 0 {
                text.push_str(&format!(
                    "\nre-ask: {too_few} records are fewer than a job's minimum; not sent (add --pad-to-minimum)"
                ));
            }
            text.push_str(&format!("\nre-ask: {left} answers still do not fit"));
            text
        }
        _ => "retry: done".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> RecordResult<Value> {
        RecordResult {
            record_id: id.to_owned(),
            outcome: Ok(json!({"n": id})),
        }
    }

    #[test]
    fn the_previous_file_stays_until_every_record_is_written()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("llmbo-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let out = dir.join("results.jsonl");
        let info = llmbo::run::RecordInfo::default();
        std::fs::write(&out, "previous\n")?;
        // A download that fails halfway (the writer is dropped): nothing changes, no leftovers.
        {
            let mut writer =
                ResultWriter::create(&out, None, None).map_err(|f| f.message().to_owned())?;
            writer
                .write(record("a"), &info)
                .map_err(|f| f.message().to_owned())?;
        }
        assert_eq!(std::fs::read_to_string(&out)?, "previous\n");
        assert_eq!(std::fs::read_dir(&dir)?.count(), 1, "no partial file left");
        // One that ends replaces the file whole, readable by its owner only.
        let mut writer =
            ResultWriter::create(&out, None, None).map_err(|f| f.message().to_owned())?;
        writer
            .write(record("a"), &info)
            .map_err(|f| f.message().to_owned())?;
        writer
            .write(record("b"), &info)
            .map_err(|f| f.message().to_owned())?;
        writer
            .finish(&llmbo::Manifest::default())
            .map_err(|f| f.message().to_owned())?;
        let text = std::fs::read_to_string(&out)?;
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with("{\"recordId\":\"a\""), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&out)?.permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(std::fs::read_dir(&dir)?.count(), 1);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
