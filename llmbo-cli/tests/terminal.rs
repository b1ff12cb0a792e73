//! `llmbo watch` in a real terminal: tmux runs it in a pane and the pane is read back while
//! the jobs run. `.ci/run` installs tmux where it is missing.

use std::process::Command;
use std::time::{Duration, Instant};

use llmbo_local::{LocalBedrock, Speed};
use serde_json::json;

fn tmux(args: &[&str]) -> std::process::Output {
    Command::new("tmux")
        .args(args)
        .output()
        .expect("tmux is installed (.ci/run installs it)")
}

/// Kills the tmux session however the test ends.
struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = tmux(&["kill-session", "-t", &self.0]);
    }
}

/// How far the bar of the pane's first job has got, from `123/300`.
fn position(pane: &str) -> Option<u64> {
    let line = pane.lines().find(|l| l.contains("term-watch"))?;
    let slash = line.find('/')?;
    line[..slash].split_whitespace().last()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_draws_a_moving_bar_in_a_terminal() {
    let local = LocalBedrock::builder()
        .speed(Speed {
            step: Duration::from_millis(300),
            per_record: Duration::from_millis(25),
            hour: Duration::from_secs(60),
        })
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let lines: String = (0..200)
        .map(|i| {
            json!({"recordId": format!("t{i}"), "prompt": "Ada Lovelace, 36."}).to_string() + "\n"
        })
        .collect();
    std::fs::write(&input, lines).unwrap();
    let env = format!(
        "AWS_ENDPOINT_URL={} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION={} \
         AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
        local.endpoint_url(),
        local.region()
    );
    let bin = env!("CARGO_BIN_EXE_llmbo");
    let submit = format!(
        "env {env} {bin} submit --model anthropic.claude-3-haiku-20240307-v1:0 --bucket {} --role {} --name term-watch {} > {dir}/submit.txt",
        local.bucket(),
        local.role_arn(),
        input.display(),
        dir = dir.path().display()
    );
    let watch = format!(
        "env {env} {bin} watch --interval 0.2 s3://{}/input/term-watch.run.json; echo exit=$?; sleep 30",
        local.bucket()
    );
    let name = format!("llmbo-test-{}", std::process::id());
    let session = Session(name.clone());
    let script = format!("{submit} && {watch}");
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "150",
        "-y",
        "12",
        &script,
    ]);
    assert!(started.status.success(), "{started:?}");

    let capture = || {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session.0]).stdout)
            .into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut positions = Vec::new();
    let pane = loop {
        let pane = capture();
        if let Some(p) = position(&pane) {
            positions.push(p);
        }
        if pane.contains("exit=") || Instant::now() > deadline {
            break pane;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    };
    assert!(pane.contains("exit=0"), "watch ended well:\n{pane}");
    assert!(
        pane.contains("200 records: 200 succeeded, 0 failed"),
        "{pane}"
    );
    // A bar, drawn in place (one line per job, not a line per poll), that moved.
    assert_eq!(pane.matches("term-watch").count(), 1, "{pane}");
    assert!(
        pane.contains("[================================]"),
        "{pane}"
    );
    assert!(pane.contains("200/200"), "{pane}");
    let between: Vec<&u64> = positions.iter().filter(|&&p| p > 0 && p < 200).collect();
    assert!(
        between.len() >= 2 && between.windows(2).any(|w| w[0] < w[1]),
        "the bar moved through intermediate positions: {positions:?}"
    );
}
