//! The run record: what a run is made of, stored as JSON next to its input
//! (`s3://<bucket>/input/<job name>.run.json`) so that any process can pick the run up.

use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::config::{JobConfig, RunSettings};
use crate::error::Error;
use crate::layout;

/// The run record's format version; version 1 records (before every creation setting was
/// kept) are read too, their missing settings at the defaults.
pub(crate) const RECORD_VERSION: u32 = 2;

/// What a run is made of, stored as JSON next to its input
/// (`s3://<bucket>/input/<job name>.run.json`) so that [`BatchRun::resume`](crate::BatchRun::resume)
/// can pick it up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunManifest {
    /// Format version.
    pub version: u32,
    /// Every setting the run's jobs are created and read with.
    #[serde(flatten)]
    pub settings: RunSettings,
    /// The jobs, in input order.
    pub shards: Vec<ShardEntry>,
    /// Set by [`BatchRun::cancel`](crate::BatchRun::cancel): jobs not created by then never
    /// will be.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
}

/// One job of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardEntry {
    /// The job's name.
    pub job_name: String,
    /// `s3://…` of its input.
    pub input_uri: String,
    /// SHA-256 of its input, part of the idempotency token; empty while the run is only
    /// `Prepared`.
    pub input_hash: String,
    /// How many records it holds.
    pub records: usize,
    /// Its ARN, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_arn: Option<String>,
}

/// The run record as this process holds it, shared by every handle on the run.
#[derive(Debug)]
pub(crate) struct RunShared {
    record: Mutex<RunManifest>,
    /// Held from snapshot to upload, so the record in S3 is always the newest one this process
    /// has (two jobs created at once would otherwise race their saves).
    saving: tokio::sync::Mutex<()>,
}

impl RunShared {
    pub(crate) fn new(record: RunManifest) -> Self {
        RunShared {
            record: Mutex::new(record),
            saving: tokio::sync::Mutex::new(()),
        }
    }

    /// A record with the run's settings and no job yet.
    pub(crate) fn empty(config: &JobConfig) -> Self {
        Self::new(RunManifest {
            version: RECORD_VERSION,
            settings: config.settings.clone(),
            shards: Vec::new(),
            cancelled: false,
        })
    }

    /// The record as it stands.
    pub(crate) fn snapshot(&self) -> RunManifest {
        self.record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Changes the record in memory (save it with [`save`](Self::save)).
    pub(crate) fn update<R>(&self, change: impl FnOnce(&mut RunManifest) -> R) -> R {
        change(&mut self.record.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Writes the record to `s3://<bucket>/input/<job name>.run.json`.
    pub(crate) async fn save(&self, config: &JobConfig) -> Result<(), Error> {
        let _saving = self.saving.lock().await;
        let json = serde_json::to_vec_pretty(&self.snapshot()).map_err(|e| Error::Internal {
            what: "writing the run record",
            reason: e.to_string(),
        })?;
        let key = layout::run_key(config.job_name());
        let mut upload = config.aws.upload(config.bucket(), &key);
        upload.write(&json).await?;
        upload.finish().await
    }
}

/// Reads a run record from its bytes.
pub(crate) fn parse_record(run_uri: &str, bytes: &[u8]) -> Result<RunManifest, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
        object: run_uri.to_owned(),
        reason: format!("not a run record: {e}"),
    })
}
