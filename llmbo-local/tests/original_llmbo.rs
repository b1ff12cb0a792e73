//! Python clients against llmbo-local. The Python original (PyPI `llmbo-bedrock` 0.2.4) as a conformance client: its
//! `StructuredBatchInferer` runs a job for every family it registers (Claude, Nova, Mistral,
//! Llama, gpt-oss, DeepSeek, Qwen) through boto3 against this llmbo-local, and at least 95% of
//! the answers must validate into its pydantic model; `recover_structured_job` and
//! `check_for_existing_job` must work. A second, independent reading of every family's wire
//! format (`conformance/original_llmbo.py`).
//!
//! The interpreter is `$LLMBO_CONFORMANCE_PYTHON` (`.ci/run` makes a venv and sets it), else a
//! venv this test makes once under `target/conformance-venv` from PyPI.

use std::path::Path;
use std::process::Command;

use llmbo_local::LocalBedrock;

#[path = "common/venv.rs"]
mod venv;
use venv::python;

#[tokio::test(flavor = "multi_thread")]
async fn the_python_original_validates_every_family_it_registers() {
    let python = python();
    let local = LocalBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // boto3 needs path-style S3 for a local endpoint; the original insists on AWS_PROFILE.
    let config = dir.path().join("config");
    std::fs::write(&config, "[default]\ns3 =\n    addressing_style = path\n").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/original_llmbo.py");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("AWS_ENDPOINT_URL", local.endpoint_url())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", local.region())
            .env("AWS_DEFAULT_REGION", local.region())
            .env("AWS_PROFILE", "default")
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("LLMBO_BUCKET", local.bucket())
            .env("LLMBO_ROLE_ARN", local.role_arn())
            .output()
            .map(|output| (output, local, dir))
    })
    .await
    .unwrap()
    .expect("the conformance script runs");
    let (output, _local, _dir) = output;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let results: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let families: Vec<&str> = results
        .iter()
        .filter_map(|r| r["family"].as_str())
        .collect();
    assert_eq!(
        families,
        [
            "anthropic",
            "anthropic-cris",
            "nova",
            "nova-2",
            "mistral",
            "llama",
            "gpt-oss",
            "deepseek",
            "qwen"
        ],
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for result in &results {
        assert_eq!(result["ok"], true, "{result}");
        assert!(result["valid"].as_u64().unwrap_or(0) >= 105, "{result}");
    }
    assert!(output.status.success());
}

/// Runs `conformance/runtime_boto3.py` in `mode` against `local`; its one JSON object.
async fn runtime_observations(local: LocalBedrock, mode: &'static str) -> serde_json::Value {
    let python = python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/runtime_boto3.py");
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(mode)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("AWS_ENDPOINT_URL", local.endpoint_url())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", local.region())
            .env("AWS_CONFIG_FILE", dir.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .map(|output| (output, local, dir))
    })
    .await
    .unwrap()
    .expect("the runtime script runs");
    let (output, _local, _dir) = output;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// boto3's `bedrock-runtime` client works against llmbo-local unchanged: InvokeModel and
/// Converse answered by the synthetic models, the runtime's errors, the service tier.
#[tokio::test(flavor = "multi_thread")]
async fn boto3_bedrock_runtime_works_unchanged() {
    use serde_json::json;
    let seen = runtime_observations(LocalBedrock::start().await.unwrap(), "normal").await;
    assert_eq!(
        seen["invoke_tool"],
        json!(["tool_use", "person", true]),
        "{seen}"
    );
    assert_eq!(seen["token_headers"], json!([true, true]), "{seen}");
    assert_eq!(seen["same_body_same_answer"], true, "{seen}");
    assert_eq!(seen["arn_model"], "tool_use", "{seen}");
    assert_eq!(
        seen["converse_tool"],
        json!(["tool_use", true, true]),
        "{seen}"
    );
    assert_eq!(seen["converse_json"], true, "{seen}");
    assert_eq!(seen["converse_tier"], json!({"type": "flex"}), "{seen}");
    assert_eq!(seen["invoke_tier"], "flex", "{seen}");
    assert_eq!(seen["tier_refused"][0], "ValidationException", "{seen}");
    assert_eq!(seen["reserved"][2], "Reservation not found.", "{seen}");
    assert_eq!(seen["invalid_body"][0], "ValidationException", "{seen}");
    assert_eq!(seen["invalid_body"][1], 400, "{seen}");
    assert!(
        seen["invalid_body"][2]
            .as_str()
            .is_some_and(|m| m.contains("anthropic_version")),
        "{seen}"
    );
    assert_eq!(seen["unknown_model"][0], "ValidationException", "{seen}");
    assert!(
        seen["profile_only"][2]
            .as_str()
            .is_some_and(|m| m.contains("inference profile")),
        "{seen}"
    );

    let faulty = LocalBedrock::builder()
        .faults(llmbo_local::FaultConfig {
            seed: 4,
            record_error_rate: 1.0,
            throttle_rate: 0.34,
            throttle_operations: vec!["InvokeModel".into()],
            ..Default::default()
        })
        .start()
        .await
        .unwrap();
    let seen = runtime_observations(faulty, "faulty").await;
    assert_eq!(
        seen["codes"],
        json!(["ModelErrorException", "ThrottlingException"]),
        "{seen}"
    );
    assert_eq!(seen["model_error_status"], json!([424]), "{seen}");
}

/// boto3's `bedrock`, `service-quotas`, `sts` and `bedrock-runtime` clients read llmbo-local's
/// catalog, quotas, identity and token counts unchanged; another service gets a clean error.
#[tokio::test(flavor = "multi_thread")]
async fn boto3_reads_the_catalog_quotas_and_identity() {
    use serde_json::json;
    let seen = runtime_observations(LocalBedrock::start().await.unwrap(), "catalog").await;
    assert!(seen["models"].as_u64().unwrap() > 20, "{seen}");
    assert_eq!(seen["claude_listed"], true);
    assert_eq!(seen["by_provider"], json!(["Anthropic"]));
    assert_eq!(seen["model_name"], "Claude 3 Haiku");
    assert_eq!(seen["unknown_model"][0], "ResourceNotFoundException");
    assert_eq!(seen["profiles_once"], true, "{seen}");
    assert_eq!(seen["haiku_45_profile"], true);
    assert_eq!(seen["profile_routes"], 3);
    assert_eq!(seen["missing_profile"][0], "ResourceNotFoundException");
    // min 100, max records 50,000 (job and file), 1 GB, 10 jobs.
    assert_eq!(
        seen["haiku_quotas"],
        json!([1, 10, 100, 50_000, 50_000]),
        "{seen}"
    );
    assert_eq!(seen["get_quota"], true);
    assert_eq!(seen["other_service"][0], "NoSuchResourceException");
    assert_eq!(seen["account"], "000000000000");
    // 400 characters of text at 4 a token, and the few of the turn's frame.
    let counted = seen["count_tokens"].as_u64().unwrap();
    assert!((100..=110).contains(&counted), "{seen}");
    assert_eq!(
        seen["unknown_service"][0], "UnknownOperationException",
        "{seen}"
    );
}

/// The AWS CLI and boto3 as a user drives them (`conformance/aws_cli.sh`): S3 `mb` / `cp` over
/// 8 MB up, S3 to S3 and down / `ls` of a key with `+` and a space / `rb` / `rm --recursive`;
/// Bedrock create, the same token, a name in use, polling, the output layout, paging, stop,
/// tags, an unknown model; a wrong secret, and a request signed 20 minutes ago.
#[tokio::test(flavor = "multi_thread")]
async fn the_aws_cli_works_unchanged() {
    let python = python();
    let aws = python.with_file_name("aws");
    let local = LocalBedrock::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, "[default]\ns3 =\n    addressing_style = path\n").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/aws_cli.sh");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg(script)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("AWS", aws)
            .env("PYTHON", python)
            .env("BUCKET", local.bucket())
            .env("ROLE_ARN", local.role_arn())
            .env("AWS_ENDPOINT_URL", local.endpoint_url())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", local.region())
            .env("AWS_DEFAULT_REGION", local.region())
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "")
            .output()
            .map(|output| (output, local, dir))
    })
    .await
    .unwrap()
    .expect("the AWS CLI script runs");
    let (output, _local, _dir) = output;
    assert_checks_passed(&output, 29);
}

/// A conformance script succeeded, having printed at least `at_least` `ok` lines and its
/// closing `all N checks passed`.
fn assert_checks_passed(output: &std::process::Output, at_least: usize) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let checks = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(checks >= at_least, "{checks} checks ran:\n{stdout}");
    assert!(stdout.contains("all "), "{stdout}");
}

/// llmbo-local answering slowly enough per request that a cancel lands while a batch runs.
async fn slow_local() -> LocalBedrock {
    LocalBedrock::builder()
        .api_key("sdk-test-key")
        .speed(llmbo_local::Speed {
            per_record: std::time::Duration::from_millis(10),
            ..llmbo_local::Speed::fast()
        })
        .start()
        .await
        .unwrap()
}

/// Runs a conformance script with only these variables set.
async fn run_script(script: &str, env: Vec<(&'static str, String)>) -> std::process::Output {
    let python = python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conformance")
        .join(script);
    tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            // Nothing written into the source tree (a packaged crate must stay clean).
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .envs(env)
            .output()
    })
    .await
    .unwrap()
    .expect("the script runs")
}

/// The official `anthropic` SDK drives llmbo-local's Message Batches API unchanged
/// (`conformance/anthropic_sdk.py`): create, poll, results (each custom_id once, Messages
/// with usage), list and its pages, a forced tool, cancel (canceled results counted),
/// delete, and the refusals it raises as `BadRequestError`, `AuthenticationError` and
/// `NotFoundError`.
#[tokio::test(flavor = "multi_thread")]
async fn the_anthropic_sdk_drives_message_batches() {
    let local = slow_local().await;
    let output = run_script(
        "anthropic_sdk.py",
        vec![
            ("ANTHROPIC_BASE_URL", local.endpoint_url()),
            ("ANTHROPIC_API_KEY", "sdk-test-key".into()),
        ],
    )
    .await;
    assert_checks_passed(&output, 14);
}

/// The official `openai` SDK drives llmbo-local's Files and Batch APIs unchanged
/// (`conformance/openai_sdk.py`): upload, create with metadata, poll, the output file (each
/// custom_id once, chat completions with usage), `/v1/responses` batches whose bodies the
/// SDK's own `Response` model validates, list and its pages, a bad line failing the
/// batch by its number, cancel (what was answered kept), file deletion, and the refusals it
/// raises as `NotFoundError`, `BadRequestError`, `ConflictError` and `AuthenticationError`.
#[tokio::test(flavor = "multi_thread")]
async fn the_openai_sdk_drives_files_and_batches() {
    let local = slow_local().await;
    let output = run_script(
        "openai_sdk.py",
        vec![
            ("OPENAI_BASE_URL", format!("{}/v1", local.endpoint_url())),
            ("OPENAI_API_KEY", "sdk-test-key".into()),
        ],
    )
    .await;
    assert_checks_passed(&output, 15);
}

/// Expiry as both SDKs see it (`conformance/expiry_sdk.py`): with an hour of 2 ms, a batch's
/// 24 hours pass while it is answered; what was answered is kept, the rest is `expired`
/// (Anthropic) or a `batch_expired` error line (OpenAI), every request once.
#[tokio::test(flavor = "multi_thread")]
async fn both_sdks_see_a_batch_expire() {
    let local = LocalBedrock::builder()
        .api_key("sdk-test-key")
        .speed(llmbo_local::Speed {
            per_record: std::time::Duration::from_millis(10),
            hour: std::time::Duration::from_millis(2),
            ..llmbo_local::Speed::fast()
        })
        .start()
        .await
        .unwrap();
    let output = run_script(
        "expiry_sdk.py",
        vec![
            ("ANTHROPIC_BASE_URL", local.endpoint_url()),
            ("OPENAI_BASE_URL", format!("{}/v1", local.endpoint_url())),
            ("ANTHROPIC_API_KEY", "sdk-test-key".into()),
            ("OPENAI_API_KEY", "sdk-test-key".into()),
        ],
    )
    .await;
    assert_checks_passed(&output, 2);
}

/// Call faults as both SDKs see them (`conformance/faults_sdk.py`): with 30% of calls
/// throttled (429, `retry-after-ms`), the SDKs' own retries take a batch from create to
/// results; with retries off, a throttled call is `RateLimitError`, and the injected 500 on
/// the first create `InternalServerError`.
#[tokio::test(flavor = "multi_thread")]
async fn both_sdks_read_throttling_and_server_errors() {
    use llmbo_local::{ControlFault, ControlFaultKind, FaultConfig};
    let create_fails = |operation: &str| ControlFault {
        operation: operation.into(),
        kind: ControlFaultKind::InternalServer,
        times: 1,
    };
    let local = LocalBedrock::builder()
        .api_key("sdk-test-key")
        .faults(FaultConfig {
            throttle_rate: 0.3,
            control_faults: vec![
                create_fails("CreateMessageBatch"),
                create_fails("CreateBatch"),
            ],
            ..FaultConfig::default()
        })
        .start()
        .await
        .unwrap();
    let output = run_script(
        "faults_sdk.py",
        vec![
            ("ANTHROPIC_BASE_URL", local.endpoint_url()),
            ("OPENAI_BASE_URL", format!("{}/v1", local.endpoint_url())),
            ("ANTHROPIC_API_KEY", "sdk-test-key".into()),
            ("OPENAI_API_KEY", "sdk-test-key".into()),
        ],
    )
    .await;
    assert_checks_passed(&output, 6);
    assert!(local.throttled_calls() > 0);
}

/// The official `google-genai` SDK drives llmbo-local's Gemini batch API unchanged
/// (`conformance/gemini_sdk.py`): inline and file batches (a resumable upload, the responses
/// file downloaded), structured output and a forced function, embedding batches
/// (`create_embeddings`, from a file and inline), list over pages, cancel, delete, and the
/// refusals it raises as `ClientError`.
#[tokio::test(flavor = "multi_thread")]
async fn the_google_genai_sdk_drives_gemini_batches() {
    let local = slow_local().await;
    let output = run_script(
        "gemini_sdk.py",
        vec![
            ("GOOGLE_GEMINI_BASE_URL", local.endpoint_url()),
            ("GEMINI_API_KEY", "sdk-test-key".into()),
        ],
    )
    .await;
    assert_checks_passed(&output, 13);
}
