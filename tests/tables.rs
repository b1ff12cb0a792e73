//! Tables in and out: a Parquet table of documents becomes a run on llmbo-local (the real AWS
//! SDK over HTTP), and the typed results come back as Parquet, Arrow IPC and CSV, read back
//! here row by row: the ids in input order, each value its own record's, nulls and the
//! reason where a record failed. (pyarrow, Polars and DuckDB read the same files in the CLI's
//! conformance test.)

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, BinaryArray, Int64Array, RecordBatch, StringArray};
use llmbo::StructuredBatchInferer;
use llmbo::input::MediaKind;
use llmbo::table::{InputTable, TableColumns, TableFormat, TableInput};
use llmbo_local::{FaultConfig, LocalBedrock, fixtures};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const POLL: Duration = Duration::from_millis(20);
const MODEL: &str = "amazon.nova-lite-v1:0";

/// An invoice, as printed.
#[derive(
    Debug,
    Clone,
    PartialEq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
    llmbo::BatchOutput,
)]
struct Invoice {
    /// The invoice's number, as printed.
    invoice_number: String,
    /// Who is billed.
    customer: String,
    /// The amount due.
    total: f64,
    /// Lines of the invoice.
    lines: Vec<String>,
}

/// Row `i`'s id: not in sorted order, so order is the table's, not the ids'.
fn id(i: usize) -> String {
    format!("doc-{:04}", (i * 7919) % 10_000)
}

/// Row `i`'s scan: a PDF for even rows, a PNG for odd ones, each stating its own facts.
fn scan(i: usize) -> Vec<u8> {
    let lines = [
        format!("invoice_number: INV-{i:05}"),
        format!("customer: Customer {i}"),
        format!("total: {i}.5"),
    ];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    if i.is_multiple_of(2) {
        fixtures::pdf(&lines)
    } else {
        fixtures::png(&lines, 24, 8)
    }
}

/// A Parquet table of `n` documents: `doc_id`, `order` (int64), `note` (null every 7th
/// row) and `scan` (binary), in two row groups.
fn write_documents(path: &Path, n: usize) -> TestResult {
    let ids: Vec<String> = (0..n).map(id).collect();
    let orders: Vec<i64> = (0..n).map(|i| 1000 + i as i64).collect();
    let notes: Vec<Option<String>> = (0..n)
        .map(|i| (!i.is_multiple_of(7)).then(|| format!("Note {i}.")))
        .collect();
    let scans: Vec<Vec<u8>> = (0..n).map(scan).collect();
    let batch = RecordBatch::try_from_iter([
        ("doc_id", Arc::new(StringArray::from(ids)) as ArrayRef),
        ("order", Arc::new(Int64Array::from(orders)) as ArrayRef),
        ("note", Arc::new(StringArray::from(notes)) as ArrayRef),
        (
            "scan",
            Arc::new(BinaryArray::from_iter_values(scans.iter())) as ArrayRef,
        ),
    ])?;
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(n.div_ceil(2)))
        .build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        File::create(path)?,
        batch.schema(),
        Some(properties),
    )?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(())
}

fn documents_input() -> Result<TableInput, llmbo::Error> {
    Ok(
        TableInput::template("Extract invoice {doc_id} of order {order}. {note}")?
            .id_column("doc_id")
            .system("You read invoices.")
            .media_column("scan", MediaKind::Document),
    )
}

async fn local_with_failures() -> Result<LocalBedrock, Box<dyn std::error::Error>> {
    Ok(LocalBedrock::builder()
        .faults(FaultConfig {
            seed: 11,
            record_error_rate: 0.08,
            malformed_output_rate: 0.08,
            ..Default::default()
        })
        .start()
        .await?)
}

fn builder(
    local: &LocalBedrock,
    job: &str,
) -> llmbo::builder::Configured<llmbo::mode::Structured<Invoice>> {
    StructuredBatchInferer::<Invoice>::builder()
        .model_name(MODEL)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(job)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
}

/// The table's records prepared, uploaded and created as a run.
async fn submitted(
    local: &LocalBedrock,
    job: &str,
    table: &InputTable,
) -> Result<StructuredBatchInferer<Invoice, llmbo::state::Submitted>, Box<dyn std::error::Error>> {
    Ok(builder(local, job)
        .build()
        .await?
        .prepare_run(table.records()?)?
        .push_requests_to_s3()
        .await?
        .create()
        .await?)
}

/// Every batch of a Parquet or Arrow file, whole.
fn read_table(
    path: &Path,
    format: TableFormat,
) -> Result<Vec<RecordBatch>, Box<dyn std::error::Error>> {
    Ok(match format {
        TableFormat::Parquet => {
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(File::open(
                path,
            )?)?
            .build()?
            .collect::<Result<_, _>>()?
        }
        _ => arrow_ipc::reader::FileReader::try_new(File::open(path)?, None)?
            .collect::<Result<_, _>>()?,
    })
}

/// One row as the test reads it back.
#[derive(Debug, PartialEq)]
struct Row {
    id: String,
    invoice: Option<(String, String, f64, Vec<String>)>,
    outcome: String,
    error: Option<String>,
    attempts: u32,
    input_tokens: Option<u64>,
}

fn rows(batches: &[RecordBatch]) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let mut rows = Vec::new();
    for batch in batches {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or(format!("no column {name}"))
        };
        let ids = column("id")?.as_string::<i32>();
        let numbers = column("invoice_number")?.as_string::<i32>();
        let customers = column("customer")?.as_string::<i32>();
        let totals = column("total")?.as_primitive::<Float64Type>();
        let lines = column("lines")?.as_list::<i32>();
        let outcomes = column("outcome")?.as_string::<i32>();
        let errors = column("error")?.as_string::<i32>();
        let attempts = column("attempts")?.as_primitive::<UInt32Type>();
        let tokens = column("input_tokens")?.as_primitive::<UInt64Type>();
        for i in 0..batch.num_rows() {
            let invoice = if numbers.is_valid(i) {
                let items = lines.value(i);
                let items = items.as_string::<i32>();
                Some((
                    numbers.value(i).to_owned(),
                    customers.value(i).to_owned(),
                    totals.value(i),
                    items
                        .iter()
                        .map(|s| s.unwrap_or_default().to_owned())
                        .collect(),
                ))
            } else {
                assert!(customers.is_null(i) && totals.is_null(i) && lines.is_null(i));
                None
            };
            rows.push(Row {
                id: ids.value(i).to_owned(),
                invoice,
                outcome: outcomes.value(i).to_owned(),
                error: errors.is_valid(i).then(|| errors.value(i).to_owned()),
                attempts: attempts.value(i),
                input_tokens: tokens.is_valid(i).then(|| tokens.value(i)),
            });
        }
    }
    Ok(rows)
}

#[tokio::test]
async fn a_parquet_table_of_documents_streams_into_a_parquet_of_typed_results() -> TestResult {
    let n = 240;
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("documents.parquet");
    write_documents(&input, n)?;
    let table = InputTable::open(&input, documents_input()?)?;
    assert_eq!(table.rows(), n);
    assert_eq!(table.format(), TableFormat::Parquet);
    // Rows with a null note are named, not refused.
    let warnings = table.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].rows, n.div_ceil(7));
    assert_eq!(warnings[0].first, [0, 7, 14, 21, 28]);

    let local = local_with_failures().await?;
    let out = dir.path().join("invoices.parquet");
    let summary = submitted(&local, "table-stream", &table)
        .await?
        .stream(POLL)
        .write_table(&out, TableFormat::Parquet, TableColumns::of::<Invoice>())
        .await?;
    assert_eq!(summary.rows, n);
    assert_eq!(summary.misfits, 0);
    assert!(
        !dir.path()
            .read_dir()?
            .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".partial")))
    );

    let rows = rows(&read_table(&out, TableFormat::Parquet)?)?;
    assert_eq!(rows.len(), n);
    let mut failed = 0;
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.id, id(i), "row {i} is its own record, in table order");
        assert_eq!(row.attempts, 1);
        match &row.invoice {
            Some((number, customer, total, _)) => {
                assert_eq!(row.outcome, "ok");
                assert_eq!(row.error, None);
                assert_eq!(number, &format!("INV-{i:05}"), "row {i}");
                assert_eq!(customer, &format!("Customer {i}"), "row {i}");
                assert_eq!(*total, i as f64 + 0.5, "row {i}");
                assert!(row.input_tokens.is_some_and(|t| t > 0));
            }
            None => {
                failed += 1;
                assert_ne!(row.outcome, "ok", "row {i}");
                assert!(row.error.as_ref().is_some_and(|e| !e.is_empty()), "row {i}");
            }
        }
    }
    assert_eq!(summary.ok, n - failed);
    assert!(failed > 0 && failed < n / 2, "{failed} failed of {n}");
    Ok(())
}

#[tokio::test]
async fn run_results_write_arrow_and_csv_that_match_them_record_by_record() -> TestResult {
    let n = 150;
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("documents.parquet");
    write_documents(&input, n)?;
    let table = InputTable::open(&input, documents_input()?)?;
    let local = local_with_failures().await?;
    let results = submitted(&local, "table-detailed", &table)
        .await?
        .finish_detailed(POLL)
        .await?;
    let arrow = dir.path().join("invoices.arrow");
    let csv = dir.path().join("invoices.csv");
    results.write_table(&arrow, TableFormat::Arrow, TableColumns::of::<Invoice>())?;
    results.write_table(&csv, TableFormat::Csv, TableColumns::of::<Invoice>())?;

    let rows = rows(&read_table(&arrow, TableFormat::Arrow)?)?;
    assert_eq!(rows.len(), n);
    let mut reader = ::csv::Reader::from_path(&csv)?;
    let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    assert_eq!(header, TableColumns::of::<Invoice>().names());
    let cells: Vec<::csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    assert_eq!(cells.len(), n);
    let mut failures = 0;
    for (i, ((record, info), row)) in results
        .results
        .records
        .iter()
        .zip(&results.info)
        .zip(&rows)
        .enumerate()
    {
        let cell = |name: &str| {
            let at = header.iter().position(|h| h == name).unwrap_or(usize::MAX);
            cells[i].get(at).unwrap_or("<none>").to_owned()
        };
        assert_eq!(row.id, record.record_id);
        assert_eq!(cell("id"), record.record_id);
        assert_eq!(row.input_tokens, info.usage.map(|u| u.input_tokens));
        match &record.outcome {
            Ok(invoice) => {
                let expected = (
                    invoice.invoice_number.clone(),
                    invoice.customer.clone(),
                    invoice.total,
                    invoice.lines.clone(),
                );
                assert_eq!(row.invoice.as_ref(), Some(&expected), "row {i}");
                assert_eq!(row.outcome, "ok");
                assert_eq!(cell("invoice_number"), invoice.invoice_number);
                assert_eq!(cell("total").parse::<f64>()?, invoice.total);
                assert_eq!(cell("lines"), serde_json::to_string(&invoice.lines)?);
                assert_eq!(cell("outcome"), "ok");
                assert_eq!(cell("error"), "");
            }
            Err(err) => {
                failures += 1;
                assert_eq!(row.invoice, None, "row {i}");
                assert_eq!(row.outcome, err.reason());
                assert_eq!(row.error.as_deref(), Some(err.to_string().as_str()));
                assert_eq!(cell("invoice_number"), "");
                assert_eq!(cell("outcome"), err.reason());
                assert_eq!(cell("error"), err.to_string());
            }
        }
    }
    assert!(failures > 0, "the faults failed some records");
    Ok(())
}

#[test]
fn rows_that_cannot_be_sent_are_named_by_problem_before_anything_is_sent() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bad.csv");
    let mut text = String::from("id,body,date\n");
    for i in 0..40 {
        let body = if i % 10 == 3 {
            String::new()
        } else {
            format!("Text {i}")
        };
        text.push_str(&format!("r{i},\"{body}\",2026-01-{:02}\n", i % 28 + 1));
    }
    std::fs::write(&path, &text)?;
    let input = || TableInput::prompt_column("body").id_column("id");
    let err = InputTable::open(&path, input())
        .err()
        .ok_or("the empty prompts are refused")?;
    let shown = err.to_string();
    assert!(
        shown.contains("has 4 bad rows; nothing was submitted")
            && shown.contains("the prompt is empty: 4 rows (rows 3, 13, 23, 33)"),
        "{shown}"
    );
    // A template naming a column the table lacks says which columns it has.
    let err = InputTable::open(&path, TableInput::template("Read {text}")?)
        .err()
        .ok_or("a missing column is refused")?;
    assert!(
        err.to_string()
            .contains("no column `text` (its columns: id, body, date)"),
        "{err}"
    );
    // The fixed table goes through, ids from the column, in order.
    std::fs::write(&path, text.replace(",\"\",", ",\"filled\","))?;
    let table = InputTable::open(&path, input())?;
    let ids: Vec<String> = table.records()?.map(|(id, _)| id).collect();
    assert_eq!(ids, (0..40).map(|i| format!("r{i}")).collect::<Vec<_>>());
    // Cut short after it was checked: the rows that are gone end in one record that
    // preparing refuses, saying so, not in a run that is silently smaller.
    let kept: String = text.lines().take(31).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, kept.replace(",\"\",", ",\"filled\","))?;
    let records: Vec<(String, llmbo::ModelInput)> = table.records()?.collect();
    assert_eq!(records.len(), 31);
    let (id, body) = &records[30];
    assert_eq!(id, "llmbo-table-changed-at-row-30");
    let said = body
        .raw_body
        .as_ref()
        .and_then(|b| b.as_str())
        .unwrap_or_default();
    assert!(
        said.contains("it has 30 rows, 40 when it was checked"),
        "{said}"
    );
    Ok(())
}

#[tokio::test]
async fn preflight_findings_name_their_table_rows() -> TestResult {
    let dir = tempfile::tempdir()?;
    // Rows 5 and 17 name a PDF over Nova's 4.5 MB for a document.
    let mut big = b"%PDF-1.4\n".to_vec();
    big.resize(4_600_000, b' ');
    std::fs::write(dir.path().join("big.pdf"), &big)?;
    std::fs::write(dir.path().join("small.bin"), scan(1))?;
    let mut text = String::from("id,body,scan\n");
    for i in 0..120 {
        let file = if i == 5 || i == 17 {
            "big.pdf"
        } else {
            "small.bin"
        };
        let path = dir.path().join(file);
        text.push_str(&format!("{},Text {i},{}\n", id(i), path.display()));
    }
    let path = dir.path().join("scans.csv");
    std::fs::write(&path, text)?;
    let table = InputTable::open(
        &path,
        TableInput::template("Read {body}")?
            .id_column("id")
            .media_column("scan", MediaKind::Image),
    )?;
    let local = LocalBedrock::start().await?;
    let mut report = builder(&local, "table-preflight")
        .preflight_only()
        .build()
        .await?
        .preflight(table.records()?)
        .await?;
    assert!(report.has_errors());
    let ids = report.findings.shown_ids();
    assert_eq!(ids, [id(5), id(17)], "{report}");
    let rows = table.rows_of(&ids)?;
    report.findings.name_rows(&rows);
    let shown = report.findings.to_string();
    assert!(
        shown.contains(&format!("{} (row 5) at", id(5)))
            && shown.contains(&format!("{} (row 17) at", id(17))),
        "{shown}"
    );
    Ok(())
}

#[tokio::test]
async fn a_table_in_s3_is_read_without_holding_it_and_a_missing_one_is_named() -> TestResult {
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("documents.parquet");
    write_documents(&input, 30)?;
    let local = LocalBedrock::start().await?;
    let s3 = aws_sdk_s3::Client::new(&local.sdk_config());
    s3.put_object()
        .bucket(local.bucket())
        .key("tables/documents.parquet")
        .body(std::fs::read(&input)?.into())
        .send()
        .await?;
    let uri = format!("s3://{}/tables/documents.parquet", local.bucket());
    let table = InputTable::open_s3(&local.sdk_config(), &uri, documents_input()?).await?;
    assert_eq!(table.rows(), 30);
    let local_ids: Vec<String> = InputTable::open(&input, documents_input()?)?
        .records()?
        .map(|(id, _)| id)
        .collect();
    let s3_records: Vec<(String, llmbo::ModelInput)> = table.records()?.collect();
    let s3_ids: Vec<String> = s3_records.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(s3_ids, local_ids);
    assert_eq!(s3_ids[3], id(3));
    assert_eq!(
        s3_records[3].1.messages[0].parts[0].as_text(),
        Some("Extract invoice doc-3757 of order 1003. Note 3.")
    );
    let missing = format!("s3://{}/tables/none.parquet", local.bucket());
    let err = InputTable::open_s3(&local.sdk_config(), &missing, documents_input()?)
        .await
        .err()
        .ok_or("a missing table is an error")?;
    assert!(err.to_string().contains("tables/none.parquet"), "{err}");
    Ok(())
}
