//! The run record: what a run is made of, stored as JSON next to its input
//! (`s3://<bucket>/input/<job name>.run.json`) so that any process can pick the run up.

use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::config::{JobConfig, RunSettings};
use crate::error::AwsErrorKind;
use crate::error::Error;
use crate::layout;
use crate::store::{Expected, Put};

/// The run record's format version; version 1 records (before every creation setting was
/// kept) are read too, their missing settings at the defaults.
pub(crate) const RECORD_VERSION: u32 = 2;

/// What a run is made of, stored as JSON next to its input
/// (`s3://<bucket>/input/<job name>.run.json`) so that [`BatchRun::resume`](crate::BatchRun::resume)
/// can pick it up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
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
    /// The follow-up jobs of [`retry_failed`](crate::BatchRun::retry_failed), recorded before
    /// each is created so that a repeated or resumed retry never creates a second one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retries: Vec<ShardEntry>,
    /// The sets of records answered on demand: each named by the hash of its requests, its
    /// answers kept in S3 under `input_uri` as they arrive; noted before the first call, so a
    /// resumed run reads them instead of asking again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_demand: Vec<ShardEntry>,
    /// The tokens estimated when the run was prepared (the preflight's estimate), to set
    /// beside what the jobs report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<crate::cost::TokenEstimate>,
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
    /// The folder the job's input names, when its records name media in S3: it holds the
    /// JSONL (`input_uri`) and a copy of each medium, as Bedrock requires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_folder: Option<String>,
}

/// How many lost races a write of the run record re-reads and re-applies before giving up.
const MAX_RACES: u32 = 50;

/// The run record as this process holds it, shared by every handle on the run.
///
/// The record in S3 is the single source of truth. Every write is a read-modify-write with S3
/// conditional writes: `If-None-Match: *` creates it, `If-Match: <ETag>` changes it, and a
/// write that lost a race to another process re-reads the record and applies its change
/// again, so both changes survive.
#[derive(Debug)]
pub(crate) struct RunShared {
    /// The record and the ETag it has in S3 as this handle last read or wrote it (`None`
    /// before it exists), under one lock: a write must pair a body with its own ETag, or a
    /// refresh between two reads would make an old body look current and erase another
    /// process's change.
    held: Mutex<Held>,
    /// Serializes this process's writes (they would only lose races to each other).
    saving: tokio::sync::Mutex<()>,
    /// False for a run of one made from a job's ARN alone: its record lives in memory only,
    /// so looking at or cancelling someone's job writes nothing into their bucket.
    persisted: bool,
}

/// A record body and its ETag.
#[derive(Debug)]
struct Held {
    record: RunRecord,
    etag: Option<String>,
}

impl RunShared {
    pub(crate) fn new(record: RunRecord) -> Self {
        RunShared {
            held: Mutex::new(Held { record, etag: None }),
            saving: tokio::sync::Mutex::new(()),
            persisted: true,
        }
    }

    /// A record kept in memory only (a job's ARN is all there is).
    pub(crate) fn in_memory(record: RunRecord) -> Self {
        RunShared {
            persisted: false,
            ..Self::new(record)
        }
    }

    /// A record with the run's settings and no job yet.
    pub(crate) fn empty(config: &JobConfig) -> Self {
        Self::new(RunRecord {
            version: RECORD_VERSION,
            settings: config.settings.clone(),
            shards: Vec::new(),
            cancelled: false,
            retries: Vec::new(),
            on_demand: Vec::new(),
            estimate: None,
        })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The record as this handle last saw it.
    pub(crate) fn snapshot(&self) -> RunRecord {
        self.held().record.clone()
    }

    /// The record as this handle last saw it, with its ETag, read together.
    fn snapshot_with_etag(&self) -> (RunRecord, Option<String>) {
        let held = self.held();
        (held.record.clone(), held.etag.clone())
    }

    /// Holds `record` with the ETag it has in S3.
    pub(crate) fn hold(&self, record: RunRecord, etag: Option<String>) {
        *self.held() = Held { record, etag };
    }

    fn set_etag(&self, etag: Option<String>) {
        self.held().etag = etag;
    }

    /// The record in S3 with its ETag, `None` when there is none.
    pub(crate) async fn read(
        config: &JobConfig,
        run_name: &str,
    ) -> Result<Option<(RunRecord, String)>, Error> {
        let key = layout::run_key(run_name);
        let uri = config.store.url(&key);
        match config.store.get(&key).await? {
            Some((bytes, etag)) => Ok(Some((parse_record(&uri, &bytes)?, etag))),
            None => Ok(None),
        }
    }

    /// Reads the newest record from S3 (what another process may have written), keeping what
    /// this handle has when there is none yet.
    pub(crate) async fn refresh(&self, config: &JobConfig) -> Result<RunRecord, Error> {
        if !self.persisted {
            return Ok(self.snapshot());
        }
        if let Some((record, etag)) = Self::read(config, config.job_name()).await? {
            self.hold(record, Some(etag));
        }
        Ok(self.snapshot())
    }

    /// Writes the record as a new object. When a record of that name exists already, writes
    /// nothing and returns it with its ETag.
    pub(crate) async fn create(
        &self,
        config: &JobConfig,
    ) -> Result<Option<(RunRecord, String)>, Error> {
        let _saving = self.saving.lock().await;
        let key = layout::run_key(config.job_name());
        for _ in 0..MAX_RACES {
            let body = serialize(&self.snapshot())?;
            match config.store.put(&key, body, Expected::Absent).await? {
                Put::Written(etag) => {
                    self.set_etag(Some(etag));
                    return Ok(None);
                }
                Put::Conflict => {
                    // Deleted again between the two calls: try the create again.
                    if let Some(existing) = Self::read(config, config.job_name()).await? {
                        return Ok(Some(existing));
                    }
                }
            }
        }
        Err(lost_races(config))
    }

    /// Applies `change` to the newest record and writes it back, conditionally; a lost race
    /// re-reads the record and applies `change` again. Returns the record as written.
    pub(crate) async fn modify(
        &self,
        config: &JobConfig,
        change: impl Fn(&mut RunRecord),
    ) -> Result<RunRecord, Error> {
        let _saving = self.saving.lock().await;
        if !self.persisted {
            let mut next = self.snapshot();
            change(&mut next);
            self.hold(next.clone(), None);
            return Ok(next);
        }
        let key = layout::run_key(config.job_name());
        for _ in 0..MAX_RACES {
            let (mut next, etag) = self.snapshot_with_etag();
            change(&mut next);
            let body = serialize(&next)?;
            let expected = match &etag {
                Some(etag) => Expected::Unchanged(etag),
                None => Expected::Absent,
            };
            match config.store.put(&key, body, expected).await? {
                Put::Written(etag) => {
                    self.hold(next.clone(), Some(etag));
                    return Ok(next);
                }
                Put::Conflict => {
                    tracing::debug!(run = %key, "the run record changed meanwhile; applying the change again");
                    match Self::read(config, config.job_name()).await? {
                        Some((record, etag)) => self.hold(record, Some(etag)),
                        None => self.set_etag(None),
                    }
                }
            }
        }
        Err(lost_races(config))
    }
}

fn serialize(record: &RunRecord) -> Result<Vec<u8>, Error> {
    serde_json::to_vec_pretty(record).map_err(|e| Error::Internal {
        what: "writing the run record",
        reason: e.to_string(),
    })
}

fn lost_races(config: &JobConfig) -> Error {
    Error::Aws {
        operation: "PutObject",
        kind: AwsErrorKind::Conflict,
        code: "PreconditionFailed".into(),
        message: format!(
            "the run record {} kept changing under {MAX_RACES} writes in a row; try again",
            config.store.url(&layout::run_key(config.job_name()))
        ),
        source: None,
    }
}

/// What differs between two records of one run name: the settings by name, and the jobs' input.
pub(crate) fn differences(ours: &RunRecord, theirs: &RunRecord) -> Vec<String> {
    let mut differs = Vec::new();
    let (a, b) = (
        serde_json::to_value(&ours.settings).unwrap_or_default(),
        serde_json::to_value(&theirs.settings).unwrap_or_default(),
    );
    if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        differs.extend(
            keys.into_iter()
                .filter(|key| a.get(*key) != b.get(*key))
                .map(|key| (*key).clone()),
        );
    }
    let shape = |r: &RunRecord| -> Vec<(String, String, usize)> {
        r.shards
            .iter()
            .map(|s| (s.job_name.clone(), s.input_hash.clone(), s.records))
            .collect()
    };
    if shape(ours) != shape(theirs) {
        differs.push("inputs".into());
    }
    differs
}

/// Reads a run record from its bytes.
pub(crate) fn parse_record(run_uri: &str, bytes: &[u8]) -> Result<RunRecord, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
        object: run_uri.to_owned(),
        reason: format!("not a run record: {e}"),
    })
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
