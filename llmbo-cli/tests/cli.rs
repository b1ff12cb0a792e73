//! The `llmbo` binary, run as a user runs it, against llmbo-local over HTTP.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use llmbo_local::{FaultConfig, JobFault, LocalBedrock, Speed};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use serde_json::{Value, json};

mod common;
use common::llmbo;

const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn submit(local: &LocalBedrock, name: &str, input: &Path) -> Command {
    let mut cmd = llmbo(local);
    cmd.args(["--json", "submit", "--model", CLAUDE, "--bucket"])
        .arg(local.bucket())
        .arg("--role")
        .arg(local.role_arn())
        .args(["--name", name])
        .arg(input);
    cmd
}

/// `llmbo watch RUN` until the run ends (not a terminal: plain lines, then the summary); what
/// it printed.
fn watch(local: &LocalBedrock, run_uri: &str) -> String {
    let watched = llmbo(local)
        .args(["watch", "--interval", "0.05", run_uri])
        .assert()
        .success();
    String::from_utf8_lossy(&watched.get_output().stdout).into_owned()
}

fn stdout_json(output: &std::process::Output) -> Value {
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn json_lines(output: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn write_lines(dir: &Path, name: &str, lines: impl IntoIterator<Item = String>) -> PathBuf {
    let path = dir.join(name);
    let text: String = lines.into_iter().map(|l| l + "\n").collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// 300 records in the three forms a line may take: a prompt, messages, a ready Claude body.
fn mixed_input(dir: &Path) -> PathBuf {
    write_lines(
        dir,
        "input.jsonl",
        (0..300).map(|i| {
            let id = format!("rec-{i:04}");
            let line = match i % 3 {
                0 => json!({"recordId": id, "prompt": format!("Ada Lovelace was {i}."), "max_tokens": 300}),
                1 => json!({"recordId": id, "system": "Extract people.",
                            "messages": [{"role": "user", "content": format!("Grace Hopper, {i}.")}]}),
                _ => json!({"recordId": id, "modelInput": {
                    "anthropic_version": "bedrock-2023-05-31", "max_tokens": 200,
                    "messages": [{"role": "user", "content": format!("Alan Turing, {i}.")}]}}),
            };
            line.to_string()
        }),
    )
}

fn read_results(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_watch_and_download_300_records() {
    let local = LocalBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = mixed_input(dir.path());

    let submitted = submit(&local, "cli-300", &input).assert().success();
    let submitted = stdout_json(submitted.get_output());
    assert_eq!(submitted["records"], 300);
    let run_uri = submitted["runUri"].as_str().unwrap().to_owned();
    assert_eq!(
        run_uri,
        format!("s3://{}/input/cli-300.run.json", local.bucket())
    );
    let arn = submitted["jobs"][0]["jobArn"].as_str().unwrap().to_owned();
    assert!(arn.contains(":model-invocation-job/"), "{arn}");

    // Submitting again with the same name and inputs adopts the run: the same job, no second.
    let again = submit(&local, "cli-300", &input).assert().success();
    let again = stdout_json(again.get_output());
    assert_eq!(again["runUri"], run_uri);
    assert_eq!(again["jobs"][0]["jobArn"], arn.as_str());
    let jobs = llmbo(&local)
        .args(["--json", "list", "--name-contains", "cli-300"])
        .assert()
        .success();
    assert_eq!(
        stdout_json(jobs.get_output()).as_array().map(Vec::len),
        Some(1)
    );
    // With other inputs, the same name is refused before anything is uploaded: exit 1 or 2,
    // naming the run.
    let other = write_lines(
        dir.path(),
        "other.jsonl",
        (0..120).map(|i| format!("{{\"recordId\": \"o{i}\", \"prompt\": \"other {i}\"}}")),
    );
    let refused = submit(&local, "cli-300", &other).assert().failure();
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(
        stderr.contains("already exists") && stderr.contains("cli-300.run.json"),
        "{stderr}"
    );

    // Not a terminal: plain lines, then the manifest summary.
    let text = watch(&local, &run_uri);
    assert!(
        text.contains("cli-300 Completed 300/300 processed, 0 errors"),
        "{text}"
    );
    assert!(
        text.contains("300 records: 300 succeeded, 0 failed"),
        "{text}"
    );
    assert!(text.contains("tokens: "), "{text}");

    let out = dir.path().join("results.jsonl");
    let downloaded = llmbo(&local)
        .args(["--json", "download", &run_uri, "--out"])
        .arg(&out)
        .assert()
        .success();
    let summary = stdout_json(downloaded.get_output());
    assert_eq!(
        (summary["records"].as_u64(), summary["succeeded"].as_u64()),
        (Some(300), Some(300))
    );
    let used = summary["inputTokens"].as_u64().unwrap();
    assert!(used > 0);
    // The estimate made when the run was prepared, beside what the job counted: its upper end
    // (what a budget is held to) holds it. (Uncalibrated, it counts the JSON of each body,
    // where llmbo-local counts only the text.)
    let (low, high) = (
        summary["estimated"]["inputTokens"][0].as_u64().unwrap(),
        summary["estimated"]["inputTokens"][1].as_u64().unwrap(),
    );
    assert!(low <= high && used <= high, "{used} over {low}..{high}");
    assert!(summary["estimated"]["outputTokensAtMost"].as_u64().unwrap() > 0);
    let results = read_results(&out);
    assert_eq!(results.len(), 300);
    for (i, line) in results.iter().enumerate() {
        assert_eq!(line["recordId"], format!("rec-{i:04}"), "input order");
        let output = &line["output"];
        assert_eq!(output["role"], "assistant", "{line}");
        let text = output["content"][0]["text"].as_str().unwrap();
        assert!(
            text.contains(&format!("rec-{i:04}")),
            "the answer is the record's own: {text}"
        );
    }

    // The same job through its ARN: status, and a download of the raw outputs.
    let status = llmbo(&local)
        .args(["--json", "status", &arn])
        .assert()
        .success();
    let status = stdout_json(status.get_output());
    assert_eq!(status["status"], "Completed");
    assert_eq!(status["successRecordCount"], 300);
    let by_arn = dir.path().join("by-arn.jsonl");
    llmbo(&local)
        .args(["download", &arn, "--out"])
        .arg(&by_arn)
        .assert()
        .success();
    assert_eq!(read_results(&by_arn), results);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schema_makes_a_structured_run_split_into_jobs() {
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            seed: 3,
            record_error_rate: 0.05,
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = mixed_input(dir.path());
    let schema = dir.path().join("person.json");
    std::fs::write(
        &schema,
        json!({"title": "person", "description": "A person named in the text.", "type": "object",
               "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
               "required": ["name"]})
        .to_string(),
    )
    .unwrap();
    let submitted = submit(&local, "cli-people", &input)
        .arg("--schema")
        .arg(&schema)
        .args(["--max-records-per-job", "120"])
        .assert()
        .success();
    let submitted = stdout_json(submitted.get_output());
    let names: Vec<&str> = submitted["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["jobName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cli-people-1", "cli-people-2", "cli-people-3"]);
    let run_uri = submitted["runUri"].as_str().unwrap().to_owned();

    // JSON lines while watching; errors above the allowed rate exit 1.
    let watched = llmbo(&local)
        .args(["--json", "watch", "--interval", "0.05", &run_uri])
        .assert()
        .code(1);
    let text = String::from_utf8_lossy(&watched.get_output().stdout).into_owned();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = events.iter().find(|e| e["event"] == "summary").unwrap();
    assert_eq!(summary["records"], 300);
    let bedrock_errors = summary["errorsByReason"]["bedrock"].as_u64().unwrap();
    assert!(bedrock_errors > 0 && bedrock_errors < 60, "{summary}");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "progress" && e["jobName"] == "cli-people-2")
    );

    let out = dir.path().join("people.jsonl");
    llmbo(&local)
        .args(["download", &run_uri, "--max-error-rate", "0.5", "--out"])
        .arg(&out)
        .assert()
        .success();
    let results = read_results(&out);
    assert_eq!(results.len(), 300);
    let mut errors = 0;
    for (i, line) in results.iter().enumerate() {
        assert_eq!(line["recordId"], format!("rec-{i:04}"));
        match (line.get("output"), line.get("error")) {
            // The tool input itself: fits the schema.
            (Some(person), None) => {
                assert!(person["name"].is_string(), "{line}");
                assert!(
                    person.get("age").is_none_or(|a| a.as_u64().is_some()),
                    "{line}"
                );
            }
            (None, Some(error)) => {
                errors += 1;
                assert!(
                    error["reason"].is_string() && error["message"].is_string(),
                    "{line}"
                );
            }
            _ => panic!("one of output or error: {line}"),
        }
    }
    assert!(
        errors >= bedrock_errors as usize,
        "{errors} < {bedrock_errors}"
    );
    // The strict default exits 1 on the same results.
    llmbo(&local)
        .args(["download", &run_uri, "--out"])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(contains("above --max-error-rate"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_names_file_and_line_exits_2_and_uploads_nothing() {
    let local = LocalBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = |i: usize| json!({"recordId": format!("r{i}"), "prompt": "hi"}).to_string();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "invalid-json",
            "{\"recordId\": \"x\", \"prompt\": ".into(),
            ":101: invalid JSON",
        ),
        (
            "no-id",
            json!({"prompt": "hi"}).to_string(),
            ":101: missing `recordId`",
        ),
        (
            "duplicate",
            good(7),
            ":101: duplicate recordId `r7` (first on line 8)",
        ),
        (
            "unknown-field",
            json!({"recordId": "z", "prompt": "hi", "colour": 1}).to_string(),
            ":101: unknown field `colour`",
        ),
        (
            "no-prompt",
            json!({"recordId": "z"}).to_string(),
            ":101: record `z`: it needs `prompt`, `messages` or `modelInput`",
        ),
        (
            "bad-body",
            json!({"recordId": "z", "modelInput": [1]}).to_string(),
            ":101: record `z`: `modelInput` must be a JSON object",
        ),
    ];
    for (name, bad_line, expected) in cases {
        let path = write_lines(
            dir.path(),
            &format!("{name}.jsonl"),
            (0..100).map(good).chain([bad_line]),
        );
        let assert = submit(&local, name, &path).assert().code(2);
        let output = assert.get_output();
        // With --json the error is JSON on stderr; stdout holds only results (none here).
        assert!(output.stdout.is_empty());
        let error: Value = serde_json::from_slice(&output.stderr).unwrap();
        let message = error["error"].as_str().unwrap();
        assert!(
            message.contains(&format!("{}{expected}", path.display())),
            "{name}: {message}"
        );
        assert!(message.contains("nothing was submitted"), "{message}");
    }
    // Without --json: the same message on stderr.
    let path = dir.path().join("no-id.jsonl");
    llmbo(&local)
        .args([
            "submit",
            "--model",
            CLAUDE,
            "--bucket",
            local.bucket(),
            "--role",
            local.role_arn(),
            "--name",
            "x",
        ])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(contains("no-id.jsonl:101: missing `recordId`"));
    // Nothing reached the bucket.
    let uploaded = std::fs::read_dir(local.s3_root().join(local.bucket()))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(uploaded, 0, "no object was written");
    assert!(local.job_status("x").is_none());

    // Bad usage is 2 too: an unknown target, a bad schema, a missing file, no subcommand.
    llmbo(&local).args(["status", "job-42"]).assert().code(2);
    let schema = write_lines(
        dir.path(),
        "schema.json",
        ["{\"type\": \"array\"}".to_owned()],
    );
    submit(&local, "s", &dir.path().join("input-none.jsonl"))
        .arg("--schema")
        .arg(&schema)
        .assert()
        .code(2);
    submit(&local, "s", &dir.path().join("input-none.jsonl"))
        .assert()
        .code(2);
    llmbo(&local).assert().code(2);
    // An absurd interval or an unknown status is a usage error, never a panic.
    for interval in ["1e20", "0", "-5s", "NaN", "3 fortnights"] {
        llmbo(&local)
            .args([
                "watch",
                &format!("--interval={interval}"),
                "s3://llmbo-local/input/x.run.json",
            ])
            .assert()
            .code(2)
            .stderr(predicates::str::contains("--interval"));
    }
    llmbo(&local)
        .args(["list", "--status", "Done"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("InProgress"));
}

#[tokio::test(flavor = "multi_thread")]
async fn status_list_and_cancel_a_running_run() {
    let local = LocalBedrock::builder()
        .speed(Speed {
            step: Duration::from_millis(200),
            per_record: Duration::from_millis(40),
            hour: Duration::from_secs(60),
        })
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = mixed_input(dir.path());
    let submitted = submit(&local, "cli-cancel", &input).assert().success();
    let run_uri = stdout_json(submitted.get_output())["runUri"]
        .as_str()
        .unwrap()
        .to_owned();

    let listed = llmbo(&local)
        .args(["--json", "list", "--name-contains", "cli-can"])
        .assert()
        .success();
    let listed = stdout_json(listed.get_output());
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let status = listed[0]["status"].as_str().unwrap().to_owned();
    assert!(
        !["Completed", "Failed", "Stopped"].contains(&status.as_str()),
        "{status}"
    );
    let none = llmbo(&local)
        .args([
            "--json",
            "list",
            "--status",
            "Completed",
            "--name-contains",
            "cli-can",
        ])
        .assert()
        .success();
    assert_eq!(stdout_json(none.get_output()), json!([]));

    let cancelled = llmbo(&local)
        .args(["--json", "cancel", &run_uri])
        .assert()
        .success();
    assert_eq!(
        stdout_json(cancelled.get_output())["stopRequested"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The run ends Stopped: watching it reports the unprocessed records and exits 1.
    let watched = llmbo(&local)
        .args(["watch", "--interval", "0.1", &run_uri])
        .assert()
        .code(1);
    let text = String::from_utf8_lossy(&watched.get_output().stdout).into_owned();
    assert!(text.contains("cli-cancel Stopped"), "{text}");
    let status = llmbo(&local)
        .args(["--json", "status", &run_uri])
        .assert()
        .success();
    let status = stdout_json(status.get_output());
    assert_eq!(status["cancelled"], true);
    assert_eq!(status["jobs"][0]["status"], "Stopped");

    // What was processed before the stop is downloadable; the rest is `missing`.
    let out = dir.path().join("partial.jsonl");
    let downloaded = llmbo(&local)
        .args([
            "--json",
            "download",
            &run_uri,
            "--max-error-rate",
            "1",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let summary = stdout_json(downloaded.get_output());
    assert_eq!(summary["records"], 300);
    assert!(
        summary["errorsByReason"]["missing"].as_u64().unwrap() > 0,
        "{summary}"
    );
    assert_eq!(read_results(&out).len(), 300);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_job_exits_1_with_bedrocks_message() {
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            job_fault: Some(JobFault::Fail {
                message: "Role cannot read bucket".into(),
            }),
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = mixed_input(dir.path());
    let submitted = submit(&local, "cli-fail", &input).assert().success();
    let arn = stdout_json(submitted.get_output())["jobs"][0]["jobArn"]
        .as_str()
        .unwrap()
        .to_owned();
    llmbo(&local)
        .args(["watch", "--interval", "0.05", &arn])
        .assert()
        .code(1)
        .stderr(contains("Role cannot read bucket"));
    // Downloading the run still gives one line per record, each saying the job failed, and
    // exits 1 whatever error rate is allowed.
    let out = dir.path().join("failed.jsonl");
    llmbo(&local)
        .args([
            "download",
            "s3://llmbo-local/input/cli-fail.run.json",
            "--max-error-rate",
            "1",
            "--out",
        ])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(contains("Role cannot read bucket"));
    let results = read_results(&out);
    assert_eq!(results.len(), 300);
    assert!(
        results.iter().all(|l| l["error"]["reason"] == "job_failed"),
        "{:?}",
        results[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn download_can_retry_what_failed_and_estimate_the_cost() {
    // The second job of the run stops halfway; the follow-up job is not affected.
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            job_fault: Some(JobFault::PartiallyComplete {
                processed_fraction: 0.5,
            }),
            job_fault_name_contains: Some("cli-retry-2".into()),
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = mixed_input(dir.path());
    let submitted = submit(&local, "cli-retry", &input)
        .args(["--max-records-per-job", "150"])
        .assert()
        .success();
    let run_uri = stdout_json(submitted.get_output())["runUri"]
        .as_str()
        .unwrap()
        .to_owned();
    llmbo(&local)
        .args([
            "watch",
            "--interval",
            "0.05",
            "--max-error-rate",
            "1",
            &run_uri,
        ])
        .assert()
        .success();

    // Without a retry, 75 records are missing.
    let out = dir.path().join("first.jsonl");
    let first = llmbo(&local)
        .args(["--json", "download", &run_uri, "--out"])
        .arg(&out)
        .assert()
        .code(1);
    // With --json and exit 1: the summary on stdout, the error as JSON on stderr.
    let lines = json_lines(first.get_output());
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["errorsByReason"]["missing"], 75);
    let error: Value = serde_json::from_slice(&first.get_output().stderr).unwrap();
    assert_eq!(error["exitCode"], 1);
    // --retry-failed alone: too few for a job, said so, nothing sent.
    let too_few = llmbo(&local)
        .args(["--json", "download", &run_uri, "--retry-failed", "--out"])
        .arg(&out)
        .assert()
        .code(1);
    assert_eq!(json_lines(too_few.get_output())[0]["retry"]["tooFew"], 75);

    let retried = llmbo(&local)
        .args([
            "--json",
            "download",
            &run_uri,
            "--retry-failed",
            "--pad-to-minimum",
        ])
        .args([
            "--interval",
            "0.05",
            "--price-in",
            "0.25",
            "--price-out",
            "1.25",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let summary = stdout_json(retried.get_output());
    assert_eq!(summary["retry"]["retried"], 75, "{summary}");
    assert_eq!(summary["retry"]["padding"], 25, "{summary}");
    assert_eq!(summary["retry"]["recovered"], 75, "{summary}");
    assert_eq!(summary["succeeded"], 300, "{summary}");
    let tokens_in = summary["inputTokens"].as_f64().unwrap();
    let tokens_out = summary["outputTokens"].as_f64().unwrap();
    let cost = summary["estimatedCost"].as_f64().unwrap();
    assert!((cost - (tokens_in * 0.25 + tokens_out * 1.25) / 1000.0).abs() < 1e-9);
    let results = read_results(&out);
    assert_eq!(results.len(), 300);
    assert!(results.iter().all(|line| line.get("output").is_some()));

    // A bare job ARN is a run of one: it downloads, and retries, the same way.
    let status = llmbo(&local)
        .args(["--json", "status", &run_uri])
        .assert()
        .success();
    let first_job = stdout_json(status.get_output())["jobs"][0].clone();
    let arn = first_job["jobArn"].as_str().unwrap().to_owned();
    let one = llmbo(&local)
        .args(["--json", "download", &arn, "--retry-failed", "--out"])
        .arg(&out)
        .assert()
        .success();
    assert_eq!(json_lines(one.get_output())[0]["retry"]["retried"], 0);
    let records = read_results(&out);
    assert_eq!(
        records.len() as u64,
        first_job["totalRecordCount"].as_u64().unwrap()
    );
    assert!(records.iter().all(|r| r.get("output").is_some()));
}

#[tokio::test(flavor = "multi_thread")]
async fn output_strategy_is_chosen_checked_and_printed() {
    let local = LocalBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let schema = write_lines(
        dir.path(),
        "person.json",
        [json!({"title": "person", "type": "object",
                "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
                "required": ["name", "tags"]})
        .to_string()],
    );
    let typed = write_lines(
        dir.path(),
        "typed.jsonl",
        (0..100).map(|i| {
            json!({"recordId": format!("r{i:03}"), "prompt": format!("Ada {i}.")}).to_string()
        }),
    );
    let sonnet = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    let submit_on = |model: &str, name: &str, input: &Path| {
        let mut cmd = llmbo(&local);
        cmd.args(["--json", "submit", "--model", model, "--bucket"])
            .arg(local.bucket())
            .arg("--role")
            .arg(local.role_arn())
            .args(["--name", name, "--schema"])
            .arg(&schema)
            .arg(input);
        cmd
    };
    // The model's best by default, printed; native structured output answers in text.
    let submitted = submit_on(sonnet, "native", &typed).assert().success();
    let submitted = stdout_json(submitted.get_output());
    assert_eq!(submitted["outputStrategy"], "json-schema");
    let out = dir.path().join("native.jsonl");
    // Submit returns once the job is created: wait for it as a user would.
    llmbo(&local)
        .args([
            "watch",
            "--interval",
            "0.05",
            submitted["runUri"].as_str().unwrap(),
        ])
        .assert()
        .success();
    llmbo(&local)
        .args(["download", submitted["runUri"].as_str().unwrap(), "--out"])
        .arg(&out)
        .assert()
        .success();
    let results = read_results(&out);
    assert_eq!(results.len(), 100);
    for (i, line) in results.iter().enumerate() {
        assert_eq!(line["recordId"], format!("r{i:03}"));
        assert!(line["output"]["name"].is_string(), "{line}");
        // maxItems went into the words of the strict form; the CLI still holds answers to it.
        assert!(
            line["output"]["tags"].as_array().unwrap().len() <= 3,
            "{line}"
        );
    }
    // Asked for by name.
    let submitted = submit_on(sonnet, "strict", &typed)
        .args(["--output-strategy", "strict-tool"])
        .assert()
        .success();
    assert_eq!(
        stdout_json(submitted.get_output())["outputStrategy"],
        "strict-tool"
    );
    // A strategy the model cannot take, or no such strategy: usage errors, nothing sent.
    submit_on(CLAUDE, "refused", &typed)
        .args(["--output-strategy", "json-schema"])
        .assert()
        .code(2)
        .stderr(contains("it can take forced-tool or json-in-prompt"));
    submit_on(CLAUDE, "bogus", &typed)
        .args(["--output-strategy", "tool"])
        .assert()
        .code(2)
        .stderr(contains("expected one of json-schema"));
    // A raw body with a forced tool says how it asks, and the run reads it that way.
    let raw = write_lines(
        dir.path(),
        "raw.jsonl",
        (0..100).map(|i| {
            json!({"recordId": format!("w{i:03}"), "modelInput": {
                "anthropic_version": "bedrock-2023-05-31", "max_tokens": 200,
                "messages": [{"role": "user", "content": format!("Alan {i}.")}],
                "tools": [{"name": "person", "description": "A person.", "input_schema": {"type": "object",
                           "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
                           "required": ["name", "tags"]}}],
                "tool_choice": {"type": "tool", "name": "person"}}})
            .to_string()
        }),
    );
    let submitted = submit_on(sonnet, "raw", &raw).assert().success();
    assert_eq!(
        stdout_json(submitted.get_output())["outputStrategy"],
        "forced-tool"
    );
    // Told otherwise, the mismatch is refused before upload, naming the record.
    submit_on(sonnet, "raw-mismatch", &raw)
        .args(["--output-strategy", "json-schema"])
        .assert()
        .code(2)
        .stderr(contains("w000").and(contains("--output-strategy forced-tool")));
}

#[tokio::test(flavor = "multi_thread")]
async fn download_reasks_the_answers_that_did_not_fit() {
    let local = LocalBedrock::builder()
        .faults(FaultConfig {
            seed: 8,
            malformed_output_rate: 0.2,
            malformed_kinds: vec![llmbo_local::Malformed::SchemaViolation],
            ..Default::default()
        })
        .quotas(llmbo_local::Quotas {
            min_records: 10,
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let schema = write_lines(
        dir.path(),
        "person.json",
        [json!({"title": "person", "type": "object",
                "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                "required": ["name", "age"]})
        .to_string()],
    );
    let input = write_lines(
        dir.path(),
        "people.jsonl",
        (0..200).map(|i| {
            json!({"recordId": format!("p{i:03}"), "prompt": format!("Ada {i}.")}).to_string()
        }),
    );
    let submitted = submit(&local, "cli-reask", &input)
        .arg("--schema")
        .arg(&schema)
        .args(["--min-records", "10"])
        .assert()
        .success();
    let run_uri = stdout_json(submitted.get_output())["runUri"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = dir.path().join("people-out.jsonl");
    llmbo(&local)
        .args(["watch", "--interval", "0.05", &run_uri])
        .assert()
        .success();
    // Plain: the violations stay.
    let plain = llmbo(&local)
        .args([
            "--json",
            "download",
            &run_uri,
            "--max-error-rate",
            "1",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let invalid = json_lines(plain.get_output())[0]["errorsByReason"]["tool_input_invalid"]
        .as_u64()
        .unwrap();
    assert!(invalid > 20, "{invalid}");
    // Re-asked: none left, every line in order.
    let reasked = llmbo(&local)
        .args([
            "--json",
            "download",
            &run_uri,
            "--retry-failed",
            "--reask",
            "2",
            "--interval",
            "0.05",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let summary = &json_lines(reasked.get_output())[0];
    assert_eq!(
        summary["retry"]["reask"]["rounds"][0]["records"], invalid,
        "{summary}"
    );
    assert_eq!(summary["retry"]["reask"]["left"], 0, "{summary}");
    assert_eq!(summary["succeeded"], 200, "{summary}");
    let results = read_results(&out);
    for (i, line) in results.iter().enumerate() {
        assert_eq!(line["recordId"], format!("p{i:03}"));
        assert!(line["output"]["age"].is_i64(), "{line}");
    }
    // --reask needs --retry-failed.
    llmbo(&local)
        .args(["download", &run_uri, "--reask", "1", "--out"])
        .arg(&out)
        .assert()
        .code(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_embedding_run_downloads_as_an_npy_matrix_or_json_lines() {
    let local = LocalBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(
        dir.path(),
        "texts.jsonl",
        (0..150).map(|i| json!({"recordId": format!("e{i:03}"), "prompt": format!("text number {i} about ada")}).to_string()),
    );
    let mut cmd = llmbo(&local);
    cmd.args([
        "--json",
        "submit",
        "--model",
        "amazon.titan-embed-text-v2:0",
        "--bucket",
    ])
    .arg(local.bucket())
    .arg("--role")
    .arg(local.role_arn())
    .args(["--name", "cli-embed", "--embed", "--dimensions", "256"])
    .arg(&input);
    let submitted = stdout_json(cmd.assert().success().get_output());
    let run_uri = submitted["runUri"].as_str().unwrap().to_owned();
    llmbo(&local)
        .args(["watch", "--interval", "0.05", &run_uri])
        .assert()
        .success();
    let npy = dir.path().join("vectors.npy");
    let downloaded = llmbo(&local)
        .args(["--json", "download", &run_uri, "--format", "npy", "--out"])
        .arg(&npy)
        .assert()
        .success();
    assert_eq!(json_lines(downloaded.get_output())[0]["succeeded"], 150);
    let bytes = std::fs::read(&npy).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header = String::from_utf8_lossy(&bytes[10..128]).into_owned();
    assert!(header.contains("'shape': (150, 256)"), "{header}");
    assert_eq!(bytes.len(), 128 + 150 * 256 * 4);
    let ids = std::fs::read_to_string(format!("{}.ids", npy.display())).unwrap();
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 150);
    let rows: Vec<Vec<f32>> = bytes[128..]
        .chunks(256 * 4)
        .map(|row| {
            row.chunks(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(ids[i], format!("e{i:03}"));
        let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "row {i}: {norm}");
    }
    // The same vectors as JSON lines, row for row.
    let jsonl = dir.path().join("vectors.jsonl");
    llmbo(&local)
        .args(["download", &run_uri, "--out"])
        .arg(&jsonl)
        .assert()
        .success();
    let lines = read_results(&jsonl);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["recordId"], format!("e{i:03}"));
        let v: Vec<f32> = serde_json::from_value(line["embedding"].clone()).unwrap();
        assert_eq!(v, rows[i]);
    }
    // The same texts on Gemini's embedding batches: the same matrix, row for row.
    let store = dir.path().join("gemini-store");
    let submitted = stdout_json(
        llmbo(&local)
            .env("GEMINI_API_KEY", "test")
            .args(["--json", "submit", "--provider", "gemini"])
            .args(["--model", "gemini-embedding-001", "--store"])
            .arg(&store)
            .args(["--base-url", &local.endpoint_url()])
            .args([
                "--name",
                "cli-embed-gemini",
                "--embed",
                "--dimensions",
                "256",
            ])
            .arg(&input)
            .assert()
            .success()
            .get_output(),
    );
    let gemini_run = submitted["runUri"].as_str().unwrap().to_owned();
    llmbo(&local)
        .env("GEMINI_API_KEY", "test")
        .args(["watch", "--interval", "0.05", &gemini_run])
        .assert()
        .success();
    let gemini_npy = dir.path().join("gemini.npy");
    llmbo(&local)
        .env("GEMINI_API_KEY", "test")
        .args(["download", &gemini_run, "--format", "npy", "--out"])
        .arg(&gemini_npy)
        .assert()
        .success();
    assert_eq!(std::fs::read(&gemini_npy).unwrap(), bytes);
    // npy is for vectors only.
    let text_input = mixed_input(dir.path());
    let text_run = stdout_json(
        submit(&local, "cli-not-embed", &text_input)
            .assert()
            .success()
            .get_output(),
    );
    llmbo(&local)
        .args([
            "watch",
            "--interval",
            "0.05",
            text_run["runUri"].as_str().unwrap(),
        ])
        .assert()
        .success();
    llmbo(&local)
        .args([
            "download",
            text_run["runUri"].as_str().unwrap(),
            "--format",
            "npy",
            "--out",
        ])
        .arg(dir.path().join("x.npy"))
        .assert()
        .code(2)
        .stderr(contains("embedding runs"));
}

/// Files under the bucket's folder: what S3 holds.
fn files_in_bucket(local: &LocalBedrock) -> usize {
    fn count(dir: &Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() { count(&path) } else { 1 }
                })
                .sum()
        })
    }
    count(&local.s3_root().join(local.bucket()))
}

/// `llmbo lint`: 10,000 raw Claude lines with `temperature` and `top_p` on a model that
/// refuses both read as one grouped finding with a count (text and JSON), exit 2; fixed, 0.
#[tokio::test(flavor = "multi_thread")]
async fn lint_groups_ten_thousand_identical_mistakes_into_one_finding() {
    let local = LocalBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let line = |i: usize, both: bool| {
        let mut body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100, "temperature": 0.2,
            "messages": [{"role": "user", "content": format!("Article {i}.")}]});
        if both {
            body["top_p"] = json!(0.9);
        }
        json!({"recordId": format!("r{i:05}"), "modelInput": body}).to_string()
    };
    let bad = write_lines(dir.path(), "bad.jsonl", (0..10_000).map(|i| line(i, true)));
    let model = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
    let out = llmbo(&local)
        .args(["lint", "--model", model])
        .arg(&bad)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let text = String::from_utf8_lossy(&out.stdout);
    let findings: Vec<&str> = text.lines().filter(|l| l.starts_with("error[")).collect();
    assert_eq!(findings.len(), 1, "{text}");
    assert!(
        findings[0].starts_with("error[sampling-combination] 10000 records")
            && findings[0].contains("r00000 at modelInput.top_p")
            && findings[0].contains("and 9995 more"),
        "{text}"
    );
    let out = llmbo(&local)
        .args(["--json", "lint", "--model", model])
        .arg(&bad)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let report = stdout_json(&out);
    assert_eq!(report["findings"]["groups"].as_array().unwrap().len(), 1);
    assert_eq!(report["findings"]["groups"][0]["count"], 10_000);
    assert_eq!(report["records"], 10_000);
    let fixed = write_lines(
        dir.path(),
        "fixed.jsonl",
        (0..10_000).map(|i| line(i, false)),
    );
    let out = llmbo(&local)
        .args(["--json", "lint", "--model", model])
        .arg(&fixed)
        .assert()
        .success()
        .get_output()
        .clone();
    let report = stdout_json(&out);
    assert_eq!(report["findings"]["groups"], json!([]));
    assert_eq!(report["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(files_in_bucket(&local), 0, "lint uploads nothing");
}

/// `submit --dry-run` prints the cost range from `--prices`; `--max-cost` under the upper
/// estimate refuses the run before anything is in S3.
#[tokio::test(flavor = "multi_thread")]
async fn submit_dry_run_shows_the_cost_and_a_budget_refuses_before_upload() {
    let local = LocalBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = mixed_input(dir.path());
    let prices = dir.path().join("prices.json");
    std::fs::write(
        &prices,
        json!({CLAUDE: {"input_per_1k": 0.000125, "output_per_1k": 0.000625}}).to_string(),
    )
    .unwrap();
    let out = submit(&local, "dry", &input)
        .arg("--dry-run")
        .arg("--prices")
        .arg(&prices)
        .assert()
        .success()
        .get_output()
        .clone();
    let report = stdout_json(&out);
    let (low, high) = (
        report["cost"]["low"].as_f64().unwrap(),
        report["cost"]["high"].as_f64().unwrap(),
    );
    assert!(0.0 < low && low < high, "{report}");
    assert_eq!(report["records"], 300);
    assert_eq!(report["model_check"]["severity"], Value::Null, "{report}");
    assert_eq!(files_in_bucket(&local), 0, "a dry run uploads nothing");
    // Text: the range is printed.
    llmbo(&local)
        .args(["submit", "--model", CLAUDE, "--bucket"])
        .arg(local.bucket())
        .arg("--role")
        .arg(local.role_arn())
        .args(["--name", "dry", "--dry-run", "--prices"])
        .arg(&prices)
        .arg(&input)
        .assert()
        .success()
        .stdout(contains(format!("cost: {low:.4} to {high:.4}")).and(contains("findings: none")));
    let budget = format!("{}", high / 2.0);
    submit(&local, "budget", &input)
        .arg("--prices")
        .arg(&prices)
        .args(["--max-cost", &budget])
        .assert()
        .code(2)
        .stderr(contains("over the budget"));
    assert_eq!(files_in_bucket(&local), 0, "refused before upload");
    submit(&local, "budget", &input)
        .arg("--prices")
        .arg(&prices)
        .args(["--max-cost", &format!("{}", high * 2.0)])
        .assert()
        .success();
    assert!(files_in_bucket(&local) > 0);
}

/// With `AWS_BEARER_TOKEN_BEDROCK` set, every Bedrock call (control plane and runtime) carries
/// the API key instead of a signature, as the SDKs do; a wrong key is refused, so the key is
/// what was sent. S3 is still signed.
#[tokio::test(flavor = "multi_thread")]
async fn a_bedrock_api_key_from_the_environment_is_used() {
    let local = LocalBedrock::builder()
        .api_key("bedrock-api-key-cli")
        .faults(FaultConfig {
            seed: 5,
            record_error_rate: 0.1,
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    llmbo(&local)
        .env("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-cli")
        .args(["--json", "list"])
        .assert()
        .success();
    llmbo(&local)
        .env("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-wrong")
        .args(["list"])
        .assert()
        .code(1)
        .stderr(contains("API Key"));
    // A whole run: upload signed, create and poll with the key.
    let dir = tempfile::tempdir().unwrap();
    let input = mixed_input(dir.path());
    let submitted = submit(&local, "keyed", &input)
        .env("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-cli")
        .assert()
        .success();
    let run_uri = stdout_json(submitted.get_output())["runUri"]
        .as_str()
        .unwrap()
        .to_owned();
    llmbo(&local)
        .env("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-wrong")
        .args(["status", &run_uri])
        .assert()
        .code(1);
    // The failed records retried on demand: the runtime's calls carry the key too.
    llmbo(&local)
        .env("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-cli")
        .args([
            "watch",
            "--interval",
            "50ms",
            "--max-error-rate",
            "1",
            &run_uri,
        ])
        .assert()
        .success();
    let out = dir.path().join("keyed.jsonl");
    let retry = |key: &str| {
        let mut cmd = llmbo(&local);
        cmd.env("AWS_BEARER_TOKEN_BEDROCK", key)
            .args([
                "--json",
                "download",
                &run_uri,
                "--retry-failed",
                "--on-demand",
            ])
            .args(["--interval", "50ms", "--out"])
            .arg(&out);
        cmd
    };
    retry("bedrock-api-key-wrong").assert().code(1);
    assert_eq!(local.runtime_calls(), 0, "a wrong key answers nothing");
    let retried = retry("bedrock-api-key-cli").assert();
    let summary = json_lines(retried.get_output())[0].clone();
    let asked = summary["retry"]["retried"].as_u64().unwrap();
    assert!((10..60).contains(&asked), "{summary}");
    assert_eq!(summary["retry"]["onDemand"], true, "{summary}");
    assert_eq!(local.runtime_calls(), asked);
    assert_eq!(read_results(&out).len(), 300);
}

/// `llmbo` with nothing of AWS in its environment: no credentials, no region, no IMDS.
fn llmbo_bare(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_llmbo"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .timeout(Duration::from_secs(120));
    cmd
}

/// 120 good records and one whose body misses Claude's required fields.
fn lint_input(dir: &Path) -> PathBuf {
    let path = dir.join("lint.jsonl");
    let mut text = String::new();
    for i in 0..120 {
        text.push_str(
            &json!({"recordId": format!("r{i}"), "prompt": format!("Hello {i}")}).to_string(),
        );
        text.push('\n');
    }
    text.push_str(&json!({"recordId": "bad", "modelInput": {"max_tokens": 10}}).to_string());
    text.push('\n');
    std::fs::write(&path, text).unwrap();
    path
}

/// An SDK call that gets no answer (here: no credentials at all) is one line naming the
/// cause, never the SDK's Debug chain; the chain is there at RUST_LOG=debug.
#[tokio::test]
async fn a_call_without_credentials_is_one_readable_line() {
    let local = LocalBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = lint_input(dir.path());
    let output = llmbo_bare(dir.path())
        .env("AWS_ENDPOINT_URL", local.endpoint_url())
        .args(["lint", "--model", CLAUDE, "--region", "us-east-1"])
        .arg(&input)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(all.contains("no AWS credentials found"), "{all}");
    for wall in ["DispatchFailure", "SdkBody", "Extensions", "ConnectorError"] {
        assert!(!all.contains(wall), "`{wall}` in:\n{all}");
    }
    assert!(all.lines().all(|line| line.len() < 400), "{all}");
    // The body checks still ran.
    assert!(all.contains("`anthropic_version` is missing"), "{all}");

    let debug = llmbo_bare(dir.path())
        .env("AWS_ENDPOINT_URL", local.endpoint_url())
        .env("RUST_LOG", "debug")
        .args(["lint", "--model", CLAUDE, "--region", "us-east-1"])
        .arg(&input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&debug.stderr);
    assert!(
        stderr.contains("dispatch failure"),
        "the chain at debug:\n{stderr}"
    );

    // A command that fails on it: one line for a person, the chain as `detail` in --json.
    let arn = "arn:aws:bedrock:us-east-1:000000000000:model-invocation-job/abcdef123456";
    let plain = llmbo_bare(dir.path())
        .env("AWS_ENDPOINT_URL", local.endpoint_url())
        .args(["status", arn])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no AWS credentials found"), "{stderr}");
    let json = llmbo_bare(dir.path())
        .env("AWS_ENDPOINT_URL", local.endpoint_url())
        .args(["--json", "status", arn])
        .output()
        .unwrap();
    let error: Value = serde_json::from_slice(&json.stderr).unwrap();
    assert!(
        !error["error"].as_str().unwrap().contains("DispatchFailure"),
        "{error}"
    );
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .contains("DispatchFailure"),
        "{error}"
    );
}

/// `lint` needs no region: every check that can run runs, and the ones that need AWS are
/// named as skipped, with why.
#[test]
fn lint_without_a_region_checks_the_bodies_and_names_what_it_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let input = lint_input(dir.path());
    let output = llmbo_bare(dir.path())
        .args(["lint", "--model", CLAUDE])
        .arg(&input)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "the bad record refuses:\n{stdout}{stderr}"
    );
    assert!(stdout.contains("121 records"), "{stdout}");
    assert!(
        stdout.contains("`anthropic_version` is missing (bad at"),
        "{stdout}"
    );
    assert!(
        stdout.contains("skipped: the model's catalog") && stdout.contains("no region"),
        "{stdout}"
    );
    assert!(
        !stderr.contains("no region: pass"),
        "not refused for the region: {stderr}"
    );
    // As JSON too.
    let output = llmbo_bare(dir.path())
        .args(["--json", "lint", "--model", CLAUDE])
        .arg(&input)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        report["skipped"][0].as_str().unwrap().contains("no region"),
        "{report}"
    );
}

/// A job whose `manifest.json.out` does not parse: `watch` still sums the run up, from the
/// job's own counts, and `download` writes every record (the manifest made `watch` fail).
#[tokio::test(flavor = "multi_thread")]
async fn a_broken_manifest_loses_no_summary() {
    let local = LocalBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = mixed_input(dir.path());
    let submitted = submit(&local, "cli-manifest", &input).assert().success();
    let submitted = stdout_json(submitted.get_output());
    let run_uri = submitted["runUri"].as_str().unwrap().to_owned();
    let arn = submitted["jobs"][0]["jobArn"].as_str().unwrap().to_owned();
    watch(&local, &run_uri);
    let job_id = arn.rsplit('/').next().unwrap();
    let manifest = local
        .s3_root()
        .join(local.bucket())
        .join(format!("output/{job_id}/manifest.json.out"));
    assert!(manifest.is_file(), "{}", manifest.display());
    std::fs::write(&manifest, b"{\"totalRecordCount\": 30").unwrap();

    let text = watch(&local, &run_uri);
    assert!(
        text.contains("300 records: 300 succeeded, 0 failed"),
        "{text}"
    );
    let out = dir.path().join("results.jsonl");
    llmbo(&local)
        .args(["download", &run_uri, "--out"])
        .arg(&out)
        .assert()
        .success();
    let results = read_results(&out);
    assert_eq!(results.len(), 300);
    for (i, line) in results.iter().enumerate() {
        assert_eq!(line["recordId"], format!("rec-{i:04}"), "input order");
        assert!(line.get("output").is_some(), "{line}");
    }
}

/// Every subcommand on a run on Anthropic's, OpenAI's and Gemini's batch API: `submit --provider`
/// keeps the run in a store folder and prints its record's path, which `status`, `watch`,
/// `download` and `cancel` take as they take a Bedrock run's URI; `list --provider` lists
/// the store's batches. The key comes from the environment, the base URL from the record.
#[tokio::test(flavor = "multi_thread")]
async fn every_subcommand_works_on_an_anthropic_an_openai_and_a_gemini_run() {
    let local = LocalBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(
        dir.path(),
        "input.jsonl",
        (0..150).map(|i| {
            json!({"recordId": format!("rec-{i:04}"), "prompt": format!("Ada Lovelace was {i}."), "max_tokens": 300})
                .to_string()
        }),
    );
    for (provider, model, base_url, endpoint) in [
        (
            "anthropic",
            "claude-3-haiku-20240307",
            local.endpoint_url(),
            None,
        ),
        (
            "openai",
            "gpt-4o-mini",
            format!("{}/v1", local.endpoint_url()),
            None,
        ),
        (
            "openai",
            "gpt-4o-mini",
            format!("{}/v1", local.endpoint_url()),
            Some("responses"),
        ),
        ("gemini", "gemini-2.5-flash", local.endpoint_url(), None),
    ] {
        // Anthropic's run is kept in S3 (the command's AWS configuration reads it), the
        // others in folders.
        let store = if provider == "anthropic" {
            format!("s3://{}/cli-runs/{provider}", local.bucket())
        } else {
            dir.path()
                .join(format!("store-{provider}{}", endpoint.unwrap_or_default()))
                .display()
                .to_string()
        };
        let api = |cmd: &mut Command| {
            cmd.env("ANTHROPIC_API_KEY", "test")
                .env("OPENAI_API_KEY", "test")
                .env("GEMINI_API_KEY", "test");
        };
        let name = format!("cli-{provider}{}", endpoint.unwrap_or_default());
        let mut cmd = llmbo(&local);
        api(&mut cmd);
        let submitted = cmd
            .args(["--json", "submit", "--provider", provider, "--model", model])
            .args(["--store", &store, "--base-url", &base_url])
            .args(["--name", &name, "--max-records-per-job", "100"])
            .args(
                endpoint
                    .map(|e| ["--openai-endpoint", e])
                    .into_iter()
                    .flatten(),
            )
            .arg(&input)
            .assert()
            .success();
        let submitted = stdout_json(submitted.get_output());
        let run_uri = submitted["runUri"].as_str().unwrap().to_owned();
        assert_eq!(
            run_uri,
            format!("{store}/input/{name}.run.json"),
            "{provider}"
        );
        assert_eq!(submitted["jobs"].as_array().map(Vec::len), Some(2));
        if let Some(endpoint) = endpoint {
            // The run's record keeps the endpoint, so every later command asks the same API.
            let record = std::fs::read_to_string(&run_uri).unwrap();
            assert!(
                record.contains(&format!("\"openaiEndpoint\": \"{endpoint}\"")),
                "{record}"
            );
        }

        let mut cmd = llmbo(&local);
        api(&mut cmd);
        let listed = cmd
            .args(["--json", "list", "--provider", provider, "--store"])
            .arg(&store)
            .args(["--base-url", &base_url])
            .assert()
            .success();
        let listed = stdout_json(listed.get_output());
        let names: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["jobName"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{provider}: {listed}");
        assert!(names.iter().all(|n| n.starts_with(&name)), "{names:?}");

        let mut cmd = llmbo(&local);
        api(&mut cmd);
        let watched = cmd
            .args(["watch", "--interval", "0.05", &run_uri])
            .assert()
            .success();
        let text = String::from_utf8_lossy(&watched.get_output().stdout).into_owned();
        assert!(
            text.contains("150 records: 150 succeeded, 0 failed"),
            "{provider}: {text}"
        );

        let mut cmd = llmbo(&local);
        api(&mut cmd);
        let status = cmd.args(["--json", "status", &run_uri]).assert().success();
        let status = stdout_json(status.get_output());
        assert_eq!(
            status["jobs"][0]["status"], "Completed",
            "{provider}: {status}"
        );

        let out = dir.path().join(format!("{name}.jsonl"));
        let mut cmd = llmbo(&local);
        api(&mut cmd);
        cmd.args(["download", &run_uri, "--out"])
            .arg(&out)
            .assert()
            .success();
        let results = read_results(&out);
        assert_eq!(results.len(), 150);
        for (i, line) in results.iter().enumerate() {
            let id = format!("rec-{i:04}");
            assert_eq!(line["recordId"], id, "{provider}: input order");
            assert!(
                line["output"].to_string().contains(&id),
                "{provider}: the answer is the record's own: {line}"
            );
        }

        // Without the key, one line naming the variable.
        let failed = llmbo(&local).args(["status", &run_uri]).assert().code(2);
        let stderr = String::from_utf8_lossy(&failed.get_output().stderr).into_owned();
        assert!(stderr.contains("_API_KEY"), "{provider}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

        let mut cmd = llmbo(&local);
        api(&mut cmd);
        cmd.args(["cancel", &run_uri])
            .assert()
            .success()
            .stdout(contains("nothing to stop"));
    }
}

/// `watch --results FILE` appends each record as it lands; killed mid-job (a line cut in
/// half) and started again, it goes on from where the file ends: every record once.
#[tokio::test(flavor = "multi_thread")]
async fn watch_results_survives_a_kill_and_writes_every_record_once() {
    let local = LocalBedrock::builder()
        .speed(Speed {
            step: Duration::from_millis(300),
            per_record: Duration::from_millis(8),
            ..Speed::fast()
        })
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(
        dir.path(),
        "input.jsonl",
        (0..1_000).map(|i| {
            json!({"recordId": format!("r{i:04}"), "prompt": format!("Ada Lovelace was {i}."), "max_tokens": 200})
                .to_string()
        }),
    );
    let submitted = submit(&local, "landing", &input).assert().success();
    let run_uri = stdout_json(submitted.get_output())["runUri"]
        .as_str()
        .unwrap()
        .to_owned();
    let results = dir.path().join("landed.jsonl");
    let spawn_watch = || {
        let cmd = llmbo(&local);
        let mut cmd = std::process::Command::new(cmd.get_program());
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", local.endpoint_url())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", local.region())
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["watch", "--interval", "0.1", "--results"])
            .arg(&results)
            .arg(&run_uri)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd.spawn().unwrap()
    };
    let lines = |path: &Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    // Killed once some records have landed, before the job ends.
    let mut first = spawn_watch();
    let started = std::time::Instant::now();
    while lines(&results).len() < 150 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing landed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let at_kill = lines(&results).len();
    assert!(
        at_kill < 1_000,
        "the job ended before the kill: nothing tested"
    );
    // As a kill mid-write leaves it: half a line.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&results)
        .unwrap();
    std::io::Write::write_all(&mut file, b"{\"recordId\":\"r09").unwrap();
    drop(file);

    let mut second = spawn_watch();
    assert!(second.wait().unwrap().success());
    let written = lines(&results);
    assert_eq!(written.len(), 1_000, "{} lines", written.len());
    let mut ids: Vec<String> = written
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert!(v.get("output").is_some() || v.get("error").is_some(), "{l}");
            v["recordId"].as_str().unwrap().to_owned()
        })
        .collect();
    // The lines written before the kill stay first, as they were.
    ids.truncate(1_000);
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 1_000, "a record was written twice");
    assert!(ids.iter().all(|id| id.starts_with('r') && id.len() == 5));
}
