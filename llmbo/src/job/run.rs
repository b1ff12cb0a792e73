//! `auto`: every step, over as many Bedrock jobs as the run needs.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::mode::OutputMode;
use super::state::{Prepared, PreparedRecord, Ready};
use super::{Inferer, JobConfig, names, plan_shards};
use crate::error::{Error, RecordError};
use crate::input::ModelInput;
use crate::jsonl;
use crate::manifest::Manifest;
use crate::output::{BatchResults, RecordResult};

impl<O: OutputMode> Inferer<O, Ready> {
    /// Runs every step: prepare, upload, create, poll every `poll_interval`, download, load.
    ///
    /// A run larger than one job allows (`max_records_per_job`, `max_input_bytes_per_job`) is
    /// split into jobs `<job name>-1`, `-2`, … of even size, at most `max_concurrent_jobs` in
    /// flight, and merged back: one result per input record, in input order, and one combined
    /// manifest. The records of a job that fails become [`RecordError::JobFailed`] while the
    /// other jobs' results are returned.
    pub async fn auto<I, K>(
        self,
        inputs: I,
        poll_interval: Duration,
    ) -> Result<BatchResults<O::Value>, Error>
    where
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        let prepared = self.prepare_requests(inputs)?;
        let sizes: Vec<u64> = prepared.state.records.iter().map(line_len).collect();
        let shards = plan_shards(&sizes, prepared.config.limits)?;
        if shards.len() == 1 {
            return run_one(prepared, poll_interval).await;
        }
        let base = prepared.config.job_name.clone();
        for i in [1, shards.len()] {
            names::check_job_name(&format!("{base}-{i}"))?;
        }
        tracing::info!(
            jobs = shards.len(),
            records = sizes.len(),
            "splitting the run into several jobs"
        );
        let Inferer {
            config,
            state: Prepared { records },
            ..
        } = prepared;
        let mut remaining = records.into_iter();
        let permits = Arc::new(Semaphore::new(config.max_concurrent_jobs));
        let mut tasks = JoinSet::new();
        for (index, range) in shards.iter().enumerate() {
            let records: Vec<PreparedRecord> = remaining.by_ref().take(range.len()).collect();
            let mut shard_config: JobConfig = (*config).clone();
            shard_config.job_name = format!("{base}-{}", index + 1);
            let permits = Arc::clone(&permits);
            tasks.spawn(async move {
                let ids: Vec<String> = records.iter().map(|r| r.record_id.clone()).collect();
                // The semaphore is never closed, so acquiring only waits.
                let _permit = permits.acquire_owned().await;
                let shard: Inferer<O, Prepared> = Inferer {
                    config: Arc::new(shard_config),
                    state: Prepared { records },
                    _mode: PhantomData,
                };
                (index, ids, run_one(shard, poll_interval).await)
            });
        }
        let mut done: Vec<Option<ShardOutcome<O::Value>>> =
            (0..shards.len()).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            let (index, ids, result) = joined.map_err(|e| Error::Aws {
                operation: "auto",
                code: "TaskFailed".into(),
                message: e.to_string(),
            })?;
            done[index] = Some((ids, result));
        }
        let mut manifest = Manifest::default();
        let mut records = Vec::with_capacity(sizes.len());
        for (ids, result) in done.into_iter().flatten() {
            match result {
                Ok(shard) => {
                    manifest.combine(&shard.manifest);
                    records.extend(shard.records);
                }
                Err(Error::JobFailed {
                    job_arn, message, ..
                }) => {
                    manifest.total_record_count += ids.len() as u64;
                    records.extend(ids.into_iter().map(|record_id| RecordResult {
                        record_id,
                        outcome: Err(RecordError::JobFailed {
                            job_arn: job_arn.clone(),
                            message: message.clone(),
                        }),
                    }));
                }
                Err(other) => return Err(other),
            }
        }
        Ok(BatchResults { manifest, records })
    }
}

/// One job of a split run: its record ids and how it ended.
type ShardOutcome<V> = (Vec<String>, Result<BatchResults<V>, Error>);

/// The steps after `prepare_requests`, for one job.
async fn run_one<O: OutputMode>(
    prepared: Inferer<O, Prepared>,
    poll_interval: Duration,
) -> Result<BatchResults<O::Value>, Error> {
    prepared
        .push_requests_to_s3()
        .await?
        .create()
        .await?
        .poll_progress(poll_interval)
        .await?
        .download_results()
        .await?
        .load_results()
}

/// The record's JSONL line length, as it will be uploaded.
fn line_len(record: &PreparedRecord) -> u64 {
    let mut line = Vec::new();
    jsonl::encode_input_line(&record.record_id, &record.model_input, &mut line);
    line.len() as u64
}
