//! What the CLI's tests share: the binary, run as a user runs it against llmbo-local.

use std::time::Duration;

use assert_cmd::Command;
use llmbo_local::LocalBedrock;

/// `llmbo` with only llmbo-local's endpoint and credentials in its environment.
pub fn llmbo(local: &LocalBedrock) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_llmbo"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", local.endpoint_url())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", local.region())
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .timeout(Duration::from_secs(180));
    cmd
}
