//! The Python interpreter of the conformance clients, shared by the tests that run them
//! (llmbo-local's and the CLI's): `$LLMBO_CONFORMANCE_PYTHON` (`.ci/run` makes a venv and
//! sets it), else a venv made once under `target/conformance-venv` from PyPI.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What the venv holds: the original, the AWS CLI (v1, the one on PyPI), Anthropic's,
/// OpenAI's and Google's SDKs, and the readers of the tables llmbo writes (pyarrow, Polars,
/// DuckDB).
pub const REQUIREMENTS: [&str; 8] = [
    "llmbo-bedrock==0.2.4",
    "awscli==1.46.3",
    "anthropic==2.17.0",
    "openai==3.63.0",
    "google-genai==3.6.1",
    "pyarrow==26.0.1",
    "polars==2.1.0",
    "duckdb==2.0.0",
];

pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("LLMBO_CONFORMANCE_PYTHON") {
        return PathBuf::from(python);
    }
    // The tests of this file run at once: one makes the venv, the others wait for it, and a
    // venv counts as made only once pip has finished (a marker file).
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _making = MAKING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/conformance-venv");
    let python = venv.join("bin/python");
    let installed_marker = venv.join(".llmbo-installed");
    let wanted = REQUIREMENTS.join(" ");
    let installed = std::fs::read_to_string(&installed_marker).unwrap_or_default();
    if installed.trim() != wanted {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs (the machine ships CPython 3)");
        assert!(made.success(), "python3 -m venv failed");
        let installed = Command::new(&python)
            .args(["-m", "pip", "install", "-q"])
            .args(REQUIREMENTS)
            .status()
            .expect("pip runs");
        assert!(installed.success(), "pip install {wanted} failed");
        std::fs::write(&installed_marker, &wanted).expect("the venv is writable");
    }
    python
}
