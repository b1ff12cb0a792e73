//! The `llmbo-local` binary as a person starts it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Its start-up lines, until the last one (the bucket and role), with these variables set.
fn startup_lines(env: &[(&str, &str)], args: &[&str]) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_llmbo-local"))
        .args(["--port", "0"])
        .args(args)
        .env_remove("LLMBO_LOCAL_SECRET_KEY")
        .env_remove("LLMBO_LOCAL_API_KEY")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("its stdout");
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line");
        let last = line.starts_with("# bucket:");
        lines.push(line);
        if last || lines.len() > 50 {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

/// Secrets from the environment or the command line are never printed; the defaults are
/// (they are no secret, and the lines can then be pasted as they are).
#[test]
fn secrets_given_are_never_printed() {
    let lines = startup_lines(
        &[
            ("LLMBO_LOCAL_SECRET_KEY", "s3cr3t-from-env"),
            ("LLMBO_LOCAL_API_KEY", "api-key-from-env"),
        ],
        &[],
    )
    .join("\n");
    assert!(!lines.contains("s3cr3t-from-env"), "{lines}");
    assert!(!lines.contains("api-key-from-env"), "{lines}");
    assert!(
        lines.contains("AWS_SECRET_ACCESS_KEY=\"$LLMBO_LOCAL_SECRET_KEY\""),
        "{lines}"
    );
    assert!(
        lines.contains("AWS_BEARER_TOKEN_BEDROCK=\"$LLMBO_LOCAL_API_KEY\""),
        "{lines}"
    );

    let lines = startup_lines(
        &[],
        &["--secret-key", "flag-secret", "--api-key", "flag-key"],
    )
    .join("\n");
    assert!(
        !lines.contains("flag-secret") && !lines.contains("flag-key"),
        "{lines}"
    );

    let lines = startup_lines(&[], &[]).join("\n");
    assert!(lines.contains("AWS_SECRET_ACCESS_KEY=test"), "{lines}");
    assert!(lines.contains("AWS_BEARER_TOKEN_BEDROCK=test"), "{lines}");
}
