//! The last two steps: a finished run's outputs downloaded to local disk, then read into one
//! result per record, in input order.

use std::sync::Arc;

use super::engine::{self, DownloadedRun, ShardOutput};
use super::read;
use super::record::ShardEntry;
use super::results::{
    Detailed, RunResults, RunSummary, failed_records, loaded_records, run_results,
};
use super::state::{Downloaded, Finished};
use super::{Inferer, OutputMode};
use crate::error::Error;
use crate::output::{BatchResults, RecordResult};
use crate::status::JobDetails;

impl<O: OutputMode> Inferer<O, Finished> {
    /// Every job with its final details (`None` for a job never created because the run was
    /// cancelled).
    pub fn job_details(&self) -> &[(ShardEntry, Option<JobDetails>)] {
        &self.data.jobs
    }

    /// Downloads every job's output and manifest to local disk: to the builder's `output_dir`
    /// when set (`<job name>_out.jsonl`, `<job name>_manifest.json`, mode 0600), else to a
    /// private temp directory deleted with the run. Nothing is parsed yet. A failed job (or
    /// one never created) has no output; the ids of its records are read back from its input.
    pub async fn download_results(self) -> Result<Inferer<O, Downloaded>, Error> {
        let (dir, temp) = output_dir(self.config.output_dir.as_deref())?;
        // Read into memory up to a budget for the whole run (it holds every job's output
        // until loaded), unless the outputs are to be kept as files.
        let mut in_memory = match self.config.output_dir {
            Some(_) => 0,
            None => RUN_IN_MEMORY_BYTES,
        };
        let mut shards = Vec::with_capacity(self.data.jobs.len());
        for (entry, details) in self.data.jobs.iter() {
            shards.push(
                engine::download_shard(&self.config, entry, details.as_ref(), &dir, &mut in_memory)
                    .await?,
            );
        }
        let status = self.data.status.clone();
        Ok(self.with_data(DownloadedRun {
            shards,
            status,
            _dir: temp,
        }))
    }
}

/// Where downloads go: `dir` (the builder's `output_dir`), else a private temp directory kept
/// as long as the returned handle.
/// What a `Downloaded` run holds of its outputs in memory, at most, before the rest goes to
/// files.
const RUN_IN_MEMORY_BYTES: u64 = 256 << 20;

pub(crate) fn output_dir(
    dir: Option<&std::path::Path>,
) -> Result<(std::path::PathBuf, Option<Arc<tempfile::TempDir>>), Error> {
    Ok(match dir {
        Some(dir) => (dir.to_owned(), None),
        None => {
            let temp = tempfile::tempdir().map_err(|source| Error::Io {
                path: std::env::temp_dir(),
                source,
            })?;
            (temp.path().to_owned(), Some(Arc::new(temp)))
        }
    })
}

impl<O: OutputMode> Inferer<O, Downloaded> {
    /// One result per input record, in input order, joined on `recordId` (Bedrock does not
    /// keep the order), and the combined manifest. A record absent from the output is
    /// [`RecordError::Missing`](crate::error::RecordError::Missing); error records, malformed lines
    /// and outputs that do not parse are their own `RecordError`s; the records of a job that
    /// failed are [`RecordError::JobFailed`](crate::error::RecordError::JobFailed). When every job
    /// failed, the failure itself is the error.
    pub fn load_results(self) -> Result<BatchResults<O::Value>, Error> {
        Ok(self.load_results_detailed()?.results)
    }

    /// As [`load_results`](Self::load_results), with each record's usage and attempts and the
    /// run's summary; the run stays usable, for [`retry_failed`](Inferer::retry_failed).
    pub fn load_results_detailed(&self) -> Result<RunResults<O::Value>, Error> {
        let mut summary = RunSummary {
            jobs: self.data.shards.len(),
            ..RunSummary::default()
        };
        let count = self
            .data
            .shards
            .iter()
            .map(|shard| match shard {
                ShardOutput::Downloaded(output) => output.record_ids.len(),
                ShardOutput::Failed { record_ids, .. } => record_ids.len(),
            })
            .sum();
        let mut records = Vec::with_capacity(count);
        let mut info = Vec::with_capacity(count);
        for shard in &self.data.shards {
            for (record, record_info) in self.shard_records(shard, &mut summary)? {
                records.push(record);
                info.push(record_info);
            }
        }
        run_results(records, info, summary)
    }

    /// Every record in input order, read from disk one job at a time, so memory holds one
    /// job's results, not the run's: the step-by-step counterpart of
    /// [`stream`](Inferer::stream). An `Err` is a job whose output could not be read.
    pub fn records(&self) -> impl Iterator<Item = Result<RecordResult<O::Value>, Error>> + '_ {
        self.data.shards.iter().flat_map(move |shard| {
            let records: Box<dyn Iterator<Item = Result<RecordResult<O::Value>, Error>>> =
                match self.shard_records(shard, &mut RunSummary::default()) {
                    Ok(records) => Box::new(records.map(|(record, _)| Ok(record))),
                    Err(err) => Box::new(std::iter::once(Err(err))),
                };
            records
        })
    }

    /// One job's records, parsed from its downloaded output.
    fn shard_records(
        &self,
        shard: &ShardOutput,
        summary: &mut RunSummary,
    ) -> Result<Box<dyn Iterator<Item = Detailed<O::Value>>>, Error> {
        Ok(match shard {
            ShardOutput::Downloaded(output) => Box::new(loaded_records(
                read::read_job::<O>(&self.config, output, read::read_parts())?,
                summary,
            )),
            ShardOutput::Failed {
                record_ids,
                failure,
            } => Box::new(failed_records(record_ids.clone(), failure.clone(), summary)),
        })
    }
}
