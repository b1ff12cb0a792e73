//! Tables through the `llmbo` binary, checked by tools nobody here wrote: pyarrow, Polars and
//! DuckDB write the input tables `llmbo submit` reads, and read back the tables `llmbo
//! download` writes (`tests/conformance/tables.py`), against llmbo-local over HTTP.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use llmbo_local::{FaultConfig, LocalBedrock, fixtures};
use serde_json::Value;

mod common;
#[path = "../../llmbo-local/tests/common/venv.rs"]
mod venv;

use common::llmbo;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const NOVA: &str = "amazon.nova-lite-v1:0";
const ROWS: usize = 120;

/// `python tables.py <args>`: its output, or its failure in full.
fn python(args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/tables.py");
    let output = Process::new(venv::python())
        .arg(script)
        .args(args)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() || stdout.lines().last() != Some("ok") {
        return Err(format!(
            "tables.py {args:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(stdout)
}

/// Row `i`'s invoice, stating its own facts: a PDF for even rows, a PNG for odd ones.
fn write_scans(dir: &Path) -> TestResult {
    let scans = dir.join("scans");
    std::fs::create_dir_all(&scans)?;
    for i in 0..ROWS {
        let lines = [
            format!("invoice_number: INV-{i:05}"),
            format!("customer: Customer {i}"),
            format!("total: {i}.5"),
            format!("quantity: {}", i % 50),
            format!("paid: {}", i % 2 == 0),
        ];
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let bytes = if i % 2 == 0 {
            fixtures::pdf(&lines)
        } else {
            fixtures::png(&lines, 24, 8)
        };
        std::fs::write(scans.join(format!("{i}.bin")), bytes)?;
    }
    Ok(())
}

/// The answer's schema: flat facts, a list, a struct, an enum.
fn write_schema(dir: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let schema = serde_json::json!({
        "title": "Invoice",
        "type": "object",
        "properties": {
            "invoice_number": {"type": "string"},
            "customer": {"type": "string"},
            "total": {"type": "number"},
            "quantity": {"type": "integer"},
            "paid": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "kind": {"type": "string", "enum": ["invoice", "receipt"]}
        },
        "required": ["invoice_number", "customer", "total", "quantity", "paid", "tags", "address", "kind"]
    });
    let path = dir.join("invoice.schema.json");
    std::fs::write(&path, schema.to_string())?;
    Ok(path)
}

fn stdout_json(output: &std::process::Output) -> Result<Value, Box<dyn std::error::Error>> {
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(serde_json::from_str(text.trim())?)
}

/// Submits `input` as a table, follows the run to its end and downloads it to `out`.
fn run_table(local: &LocalBedrock, dir: &Path, name: &str, input: &str, out: &str) -> TestResult {
    let schema = write_schema(dir)?;
    let submitted = llmbo(local)
        .args(["--json", "submit", "--model", NOVA, "--bucket"])
        .arg(local.bucket())
        .arg("--role")
        .arg(local.role_arn())
        .args(["--name", name, "--schema"])
        .arg(&schema)
        .args([
            "--prompt",
            "Extract invoice {id}: {body} (order {n}). {note}",
            "--id-column",
            "id",
            "--system",
            "You read invoices.",
            "--media-column",
            "scan",
        ])
        .arg(dir.join(input))
        .assert()
        .success();
    let submitted = stdout_json(submitted.get_output())?;
    assert_eq!(submitted["records"], ROWS, "{input}");
    let run_uri = submitted["runUri"].as_str().ok_or("a run URI")?.to_owned();
    // Some records fail (the faults): within the rate allowed, both succeed.
    llmbo(local)
        .args([
            "watch",
            "--interval",
            "0.05",
            "--max-error-rate",
            "0.5",
            &run_uri,
        ])
        .assert()
        .success();
    let downloaded = llmbo(local)
        .args([
            "--json",
            "download",
            &run_uri,
            "--max-error-rate",
            "0.5",
            "--out",
        ])
        .arg(dir.join(out))
        .assert()
        .success();
    let downloaded = downloaded.get_output();
    let summary: Value = serde_json::from_str(
        String::from_utf8_lossy(&downloaded.stdout)
            .lines()
            .next()
            .ok_or("a summary line")?,
    )?;
    assert_eq!(summary["records"], ROWS, "{out}: {summary}");
    assert!(dir.join(out).exists(), "{out} is written");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_written_by_pyarrow_polars_and_duckdb_come_back_typed_for_all_three() -> TestResult {
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            seed: 5,
            record_error_rate: 0.06,
            ..Default::default()
        })
        .start()
        .await?;
    let dir = tempfile::tempdir()?;
    let folder = dir.path().to_string_lossy().into_owned();
    let rows = ROWS.to_string();
    write_scans(dir.path())?;
    python(&["write", &folder, &rows])?;

    // A template naming a column the table lacks is refused before anything is sent.
    llmbo(&local)
        .args(["lint", "--model", NOVA, "--prompt", "Read {bdy}"])
        .arg(dir.path().join("pyarrow.parquet"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "no column `bdy` (its columns: id, body, n, note, scan)",
        ));
    // A table given without --prompt says how to give one.
    llmbo(&local)
        .args(["lint", "--model", NOVA])
        .arg(dir.path().join("polars.arrow"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--prompt"));

    run_table(
        &local,
        dir.path(),
        "tab-pyarrow",
        "pyarrow.parquet",
        "results.parquet",
    )?;
    run_table(
        &local,
        dir.path(),
        "tab-polars",
        "polars.parquet",
        "polars-results.parquet",
    )?;
    run_table(
        &local,
        dir.path(),
        "tab-arrow",
        "polars.arrow",
        "results.arrow",
    )?;
    run_table(
        &local,
        dir.path(),
        "tab-duckdb",
        "duckdb.csv",
        "results.csv",
    )?;
    let outs: Vec<String> = [
        "results.parquet",
        "polars-results.parquet",
        "results.arrow",
        "results.csv",
    ]
    .iter()
    .map(|name| dir.path().join(name).to_string_lossy().into_owned())
    .collect();
    let mut args = vec!["check", folder.as_str(), rows.as_str()];
    args.extend(outs.iter().map(String::as_str));
    let checked = python(&args)?;
    assert_eq!(checked.lines().count(), 5, "{checked}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_embedding_table_is_float32_lists_for_pyarrow_polars_and_duckdb() -> TestResult {
    let local = LocalBedrock::start().await?;
    let dir = tempfile::tempdir()?;
    let folder = dir.path().to_string_lossy().into_owned();
    let rows = ROWS.to_string();
    write_scans(dir.path())?;
    python(&["write", &folder, &rows])?;
    let submitted = llmbo(&local)
        .args([
            "--json",
            "submit",
            "--model",
            "amazon.titan-embed-text-v2:0",
            "--embed",
            "--dimensions",
            "256",
            "--bucket",
        ])
        .arg(local.bucket())
        .arg("--role")
        .arg(local.role_arn())
        .args([
            "--name",
            "tab-embed",
            "--prompt",
            "{body}",
            "--id-column",
            "id",
        ])
        .arg(dir.path().join("duckdb.csv"))
        .assert()
        .success();
    let run_uri = stdout_json(submitted.get_output())?["runUri"]
        .as_str()
        .ok_or("a run URI")?
        .to_owned();
    llmbo(&local)
        .args(["watch", "--interval", "0.05", &run_uri])
        .assert()
        .success();
    let out = dir.path().join("vectors.parquet");
    llmbo(&local)
        .args(["download", &run_uri, "--out"])
        .arg(&out)
        .assert()
        .success();
    python(&[
        "check-vectors",
        &folder,
        &rows,
        &out.to_string_lossy(),
        "256",
    ])?;
    Ok(())
}
