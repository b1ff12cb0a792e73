//! Records read while their jobs run. Bedrock says a job's results can be read from its
//! output location while it is InProgress (AWS, "Monitor batch inference jobs",
//! <https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-monitor.html>); whether
//! the files grow before the end is not documented. Each poll reads what a job's output files
//! hold past what was read before (a `Range` GET of one version), whole lines only, and hands
//! out each record the first time it is seen. Where the output comes only at the end, nothing
//! lands early and the records come with the job's end, as before.

use std::collections::HashMap;
use std::sync::Arc;

use super::config::JobConfig;
use super::line::{LineRead, read_bytes};
use super::record::ShardEntry;
use super::results::{Detailed, RecordInfo};
use super::{OutputMode, engine};
use crate::error::Error;
use crate::output::RecordResult;
use crate::status::JobDetails;

/// The most bytes of one file read in one poll.
const READ_LIMIT: u64 = 2 << 20;

/// Bytes read again before the offset, to check that the file still starts as it did.
const OVERLAP: usize = 64;

/// Where the reading of one output file stands.
#[derive(Debug, Default)]
struct Cursor {
    /// The bytes read so far, whole lines.
    offset: u64,
    /// The last bytes read (up to [`OVERLAP`]).
    seen: Vec<u8>,
}

/// One job's early reading.
#[derive(Debug, Default)]
struct JobLanding {
    /// Each record id's position in the job.
    positions: HashMap<String, usize>,
    /// Whether each position was handed out.
    sent: Vec<bool>,
    files: HashMap<String, Cursor>,
}

/// The records of running jobs, read as they land, never one twice.
#[derive(Debug, Default)]
pub(crate) struct Landing {
    jobs: HashMap<String, JobLanding>,
}

impl Landing {
    /// The records of `entry`'s job that landed since the last call, each with its position in
    /// the job. A read that fails is left for the next poll (the records still come at the
    /// job's end).
    pub(crate) async fn land<O: OutputMode>(
        &mut self,
        config: &Arc<JobConfig>,
        entry: &ShardEntry,
        details: &JobDetails,
    ) -> Result<Vec<(usize, Detailed<O::Value>)>, Error> {
        if !self.jobs.contains_key(&entry.job_name) {
            let ids = match engine::record_ids(config, entry).await {
                Ok(ids) => ids,
                Err(err) => {
                    tracing::debug!(error = %err, job = %entry.job_name, "the job's record ids could not be read yet");
                    return Ok(Vec::new());
                }
            };
            let job = JobLanding {
                sent: vec![false; ids.len()],
                positions: ids
                    .into_iter()
                    .enumerate()
                    .map(|(position, id)| (id, position))
                    .collect(),
                files: HashMap::new(),
            };
            self.jobs.insert(entry.job_name.clone(), job);
        }
        let mut located = details.clone();
        if located.output_uri.is_empty() {
            located.output_uri = config.output_uri();
        }
        let files = match config.backend.output_files(&located).await {
            Ok(files) => files.outputs,
            Err(err) => {
                tracing::debug!(error = %err, job = %entry.job_name, "the output could not be listed yet");
                return Ok(Vec::new());
            }
        };
        let mut landed = Vec::new();
        for file in files {
            let Some(job) = self.jobs.get_mut(&entry.job_name) else {
                break;
            };
            let cursor = job.files.entry(file.clone()).or_default();
            let overlap = cursor.seen.len() as u64;
            let tail = match config
                .backend
                .read_from(&file, cursor.offset - overlap, READ_LIMIT + overlap)
                .await
            {
                Ok(Some(tail)) => tail,
                Ok(None) => continue,
                Err(err) => {
                    tracing::debug!(error = %err, file = %file, "the output could not be read yet");
                    continue;
                }
            };
            // A file that no longer starts as it did (rewritten, or shorter) is read again
            // from its start; records already handed out are not handed out again.
            let same_start = tail.size >= cursor.offset
                && tail.bytes.get(..cursor.seen.len()) == Some(cursor.seen.as_slice());
            if !same_start {
                tracing::debug!(file = %file, version = %tail.version, "the output changed under the reader: reading it again");
                *cursor = Cursor::default();
                continue;
            }
            let fresh = tail.bytes.get(cursor.seen.len()..).unwrap_or_default();
            let Some(end) = memchr::memrchr(b'\n', fresh) else {
                continue;
            };
            let whole = fresh.get(..=end).unwrap_or_default().to_vec();
            cursor.offset += whole.len() as u64;
            cursor.seen = whole
                .get(whole.len().saturating_sub(OVERLAP)..)
                .unwrap_or_default()
                .to_vec();
            let read = read_lines::<O>(config, whole).await?;
            for (record_id, detailed) in read {
                if let Some(&position) = job.positions.get(&record_id)
                    && let Some(sent) = job.sent.get_mut(position)
                    && !*sent
                {
                    *sent = true;
                    landed.push((position, detailed));
                }
            }
        }
        Ok(landed)
    }

    /// Which positions of `job` were handed out (empty when none were), its reading done.
    pub(crate) fn finish(&mut self, job: &str) -> Vec<bool> {
        self.jobs.remove(job).map(|j| j.sent).unwrap_or_default()
    }
}

/// Reads whole output lines off the async workers, as the end-of-job reader reads them.
async fn read_lines<O: OutputMode>(
    config: &Arc<JobConfig>,
    bytes: Vec<u8>,
) -> Result<Vec<(String, Detailed<O::Value>)>, Error> {
    let config = Arc::clone(config);
    crate::files::off_runtime("reading the output of a running job", move || {
        let spec = config.output_spec::<O>()?;
        let check = config.output_check.clone();
        let mut read = Vec::new();
        for line in bytes.split(|&b| b == b'\n') {
            if let Some(LineRead::Record {
                record_id, outcome, ..
            }) = read_bytes::<O>(config.adapter.as_ref(), spec.as_ref(), check.as_ref(), line)
            {
                let (outcome, usage) = outcome;
                let record_id = record_id.into_owned();
                read.push((
                    record_id.clone(),
                    (
                        RecordResult { record_id, outcome },
                        RecordInfo {
                            usage,
                            attempts: 1,
                            on_demand: false,
                        },
                    ),
                ));
            }
        }
        Ok(read)
    })
    .await?
}
