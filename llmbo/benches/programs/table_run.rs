//! A table end to end, in flat memory: a Parquet file of N rows (id, text and an int column,
//! in row groups of 65,536) is read by `InputTable` a batch at a time, prepared, uploaded and
//! run as Bedrock jobs on llmbo-local's fast profile, and the typed results are written by
//! `RecordStream::write_table` to a Parquet file as they come. Prints wall time and peak RSS.
//!
//! llmbo-local runs in a separate process (this program started with `--serve`), and the
//! input is written and the output checked (every row once, ids in input order, a typed
//! column) by the parent, so the peak RSS is the run's alone.
//!
//! `cargo run --release -p llmbo --features tables --example table_run` runs 100,000 and then
//! 1,000,000 rows, each in its own process, and prints the ratio of the two peaks;
//! `… --example table_run -- 120000` runs one size.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../support/local.rs"]
mod local;
#[path = "../support/mod.rs"]
mod support;

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use llmbo::StructuredBatchInferer;
use llmbo::table::{InputTable, TableColumns, TableFormat, TableInput};
use support::Person;

const GROUP: usize = 65_536;

/// Writes the input table, a row group at a time.
fn write_input(path: &Path, rows: usize) -> Result<(), Box<dyn std::error::Error>> {
    let mut writer = None;
    for start in (0..rows).step_by(GROUP) {
        let end = (start + GROUP).min(rows);
        let ids: Vec<String> = (start..end).map(|i| format!("{i:07}")).collect();
        let texts: Vec<String> = (start..end)
            .map(|i| format!("Article {i}: Ada Lovelace gave a talk about programming."))
            .collect();
        let people: Vec<i64> = (start..end).map(|i| 20 + (i % 80) as i64).collect();
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(ids)) as ArrayRef),
            ("text", Arc::new(StringArray::from(texts)) as ArrayRef),
            ("people", Arc::new(Int64Array::from(people)) as ArrayRef),
        ])?;
        let writer = match &mut writer {
            Some(writer) => writer,
            None => writer.insert(parquet::arrow::ArrowWriter::try_new(
                File::create(path)?,
                batch.schema(),
                None,
            )?),
        };
        writer.write(&batch)?;
        writer.flush()?;
    }
    if let Some(writer) = writer {
        writer.close()?;
    }
    Ok(())
}

/// Every row of the output once, ids in input order, a name where the record succeeded.
fn check_output(path: &Path, rows: usize) -> Result<usize, Box<dyn std::error::Error>> {
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?
            .build()?;
    let (mut seen, mut ok) = (0usize, 0usize);
    for batch in reader {
        let batch = batch?;
        let ids = batch
            .column_by_name("id")
            .ok_or("no id column")?
            .as_string::<i32>();
        let names = batch
            .column_by_name("name")
            .ok_or("no name column")?
            .as_string::<i32>();
        let outcomes = batch
            .column_by_name("outcome")
            .ok_or("no outcome")?
            .as_string::<i32>();
        for i in 0..batch.num_rows() {
            if ids.value(i) != format!("{seen:07}") {
                return Err(format!("row {seen} has id {}", ids.value(i)).into());
            }
            if outcomes.value(i) == "ok" {
                if names.value(i).is_empty() {
                    return Err(format!("row {seen}: ok without a name").into());
                }
                ok += 1;
            }
            seen += 1;
        }
    }
    if seen != rows {
        return Err(format!("{seen} rows of {rows}").into());
    }
    Ok(ok)
}

async fn run(input: PathBuf, output: PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    let server = local::Server::start().await?;
    let sdk = server.sdk.clone();
    let (bucket, role) = ("llmbo-local", "arn:aws:iam::000000000000:role/llmbo-local");
    let started = Instant::now();
    let table = InputTable::open(
        &input,
        TableInput::template("{text} It was attended by {people} people.")?
            .id_column("id")
            .system("Extract the person the text is about."),
    )?;
    let rows = table.rows();
    let summary = StructuredBatchInferer::<Person>::builder()
        .model_name("anthropic.claude-3-haiku-20240307-v1:0")
        .bucket_name(bucket)
        .region("us-east-1")
        .job_name(format!("table-{rows}"))
        .role_arn(role)
        .sdk_config(sdk)
        .max_concurrent_jobs(10)
        .build()
        .await?
        .start_run(table.records()?)
        .await?
        .stream(Duration::from_millis(100))
        .write_table(&output, TableFormat::Parquet, TableColumns::of::<Person>())
        .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let rss = local::peak_rss_kib().unwrap_or(0);
    println!(
        "rows={rows} written={} ok={} wall_s={elapsed:.1} peak_rss_kib={rss}",
        summary.rows, summary.ok
    );
    server.stop()?;
    Ok(())
}

fn child(rows: usize, dir: &Path) -> Result<(f64, u64), Box<dyn std::error::Error>> {
    let input = dir.join(format!("input-{rows}.parquet"));
    let output = dir.join(format!("output-{rows}.parquet"));
    write_input(&input, rows)?;
    let (_, wall, rss) = local::measured_child(&[input.as_os_str(), output.as_os_str()])?;
    let ok = check_output(&output, rows)?;
    println!("checked: {rows} rows in input order, {ok} with a typed answer");
    std::fs::remove_file(&input)?;
    std::fs::remove_file(&output)?;
    Ok((wall, rss))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if local::serve_if_asked()? {
        return Ok(());
    }
    let args: Vec<String> = std::env::args().collect();
    if let (Some(input), Some(output)) = (args.get(1), args.get(2)) {
        return tokio::runtime::Runtime::new()?
            .block_on(run(PathBuf::from(input), PathBuf::from(output)));
    }
    let dir = tempfile::tempdir()?;
    if let Some(rows) = args.get(1) {
        child(rows.parse()?, dir.path())?;
        return Ok(());
    }
    let (small_wall, small_rss) = child(100_000, dir.path())?;
    let (big_wall, big_rss) = child(1_000_000, dir.path())?;
    println!(
        "10x the rows: wall time x{:.1}, peak RSS x{:.2} ({} MiB -> {} MiB)",
        big_wall / small_wall,
        big_rss as f64 / small_rss as f64,
        small_rss / 1024,
        big_rss / 1024
    );
    Ok(())
}
