//! A run's results handed out one job at a time, in input order: the scheduler's polls drive
//! the jobs, and each ended job is downloaded, read off the async workers and sent record by
//! record before the next one is read.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::download::output_dir;
use super::engine::{self, ShardOutput};
use super::read;
use super::results::{
    Detailed, RecordInfo, RunResults, RunSummary, failed_records, loaded_records, run_results,
};
use super::schedule::{self, PollPace};
use super::state::{RunFollowable, Submitted};
use super::{Inferer, OutputMode};
use crate::error::Error;
use crate::output::{BatchResults, RecordResult};

/// How many records wait in the stream's buffer at most.
const STREAM_BUFFER: usize = 1024;

/// How many records are joined at a time, off the async workers.
const JOIN_CHUNK: usize = 1024;

impl<O: OutputMode, S: RunFollowable> Inferer<O, S> {
    /// The run's results as a stream of [`RecordResult`]s in input order, holding one job's
    /// results at a time: jobs are created and followed together (at most
    /// `max_concurrent_jobs` at once), and each finished job's output is downloaded to a
    /// private temp file, joined to its input and handed out record by record before the next
    /// job's is read. A million-record run never holds a million records.
    ///
    /// The stream ends after the last record, or with one `Err` if the run cannot go on (AWS
    /// refused a call); [`RecordStream::summary`] then has the combined manifest.
    pub fn stream(self, poll_interval: Duration) -> RecordStream<O::Value> {
        let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_BUFFER);
        let summary = Arc::new(Mutex::new(None));
        let done = Arc::clone(&summary);
        let run = self.in_flight();
        let task = tokio::spawn(async move {
            match produce(run, poll_interval, &sender).await {
                Ok(result) => {
                    *done.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
                }
                Err(err) => {
                    let _ = sender.send(Err(err)).await;
                }
            }
        });
        RecordStream {
            receiver,
            summary,
            _task: AbortOnDrop(task),
        }
    }
}

impl<O: OutputMode, S: RunFollowable> Inferer<O, S> {
    /// Creates the jobs not created yet, follows them all (at most `max_concurrent_jobs` at a
    /// time), and merges their results in input order.
    ///
    /// The records of a job that failed are [`RecordError::JobFailed`](crate::error::RecordError::JobFailed)
    /// while the other jobs' results are returned; when every job failed, the failure itself
    /// is the error. For runs too large to hold in memory, use [`stream`](Inferer::stream).
    pub async fn finish(self, poll_interval: Duration) -> Result<BatchResults<O::Value>, Error> {
        Ok(self.finish_detailed(poll_interval).await?.results)
    }

    /// As [`finish`](Self::finish), with each record's token usage and attempt count and the
    /// run's summary: what [`retry_failed`](Inferer::retry_failed) and cost estimates work on.
    pub async fn finish_detailed(
        &self,
        poll_interval: Duration,
    ) -> Result<RunResults<O::Value>, Error> {
        let mut stream = self.in_flight().stream(poll_interval);
        let mut records = Vec::new();
        let mut info = Vec::new();
        while let Some(item) = stream.next_detailed().await {
            let (record, record_info) = item?;
            records.push(record);
            info.push(record_info);
        }
        run_results(records, info, stream.summary().unwrap_or_default())
    }
}

/// Follows every job and sends every record, in input order.
async fn produce<O: OutputMode>(
    run: Inferer<O, Submitted>,
    poll: Duration,
    sender: &tokio::sync::mpsc::Sender<Result<Detailed<O::Value>, Error>>,
) -> Result<RunSummary, Error> {
    let (config, shared) = (&run.config, &run.run);
    let (dir, _temp) = output_dir(None)?;
    let total = shared.snapshot().shards.len();
    let mut summary = RunSummary {
        jobs: total,
        ..RunSummary::default()
    };
    let mut pace = PollPace::new(poll, config.poll);
    let mut next = 0;
    while next < total {
        let jobs = match schedule::tick(config, shared).await {
            Ok((jobs, _)) => {
                pace.answered();
                jobs
            }
            Err(err) => {
                pace.failed(err, &schedule::still_running(shared, &run.run_uri()))?;
                pace.sleep().await;
                continue;
            }
        };
        let cancelled = shared.snapshot().cancelled;
        while let Some((entry, details)) = jobs.get(next) {
            let ended = match details {
                Some(details) => details.status.is_finished(),
                None => cancelled,
            };
            if !ended {
                break;
            }
            let shard = engine::download_shard(config, entry, details.as_ref(), &dir).await?;
            let mut records: Box<dyn Iterator<Item = Detailed<O::Value>> + Send> = match shard {
                ShardOutput::Downloaded(output) => {
                    let files: Vec<_> = output
                        .outputs
                        .iter()
                        .chain(&output.manifest)
                        .cloned()
                        .collect();
                    let loaded = read::read_job_async::<O>(Arc::clone(config), *output).await?;
                    // A large output is read line by line as it is joined (its files stay
                    // open), so the files go as soon as they are open.
                    for file in files {
                        let _ = std::fs::remove_file(file);
                    }
                    Box::new(loaded_records(loaded, &mut summary))
                }
                ShardOutput::Failed {
                    record_ids,
                    failure,
                } => Box::new(failed_records(record_ids, failure, &mut summary)),
            };
            // Joined in chunks off the async workers: the join may read and parse lines.
            loop {
                let (back, chunk) =
                    crate::files::off_runtime("joining a job's output", move || {
                        let chunk: Vec<_> = records.by_ref().take(JOIN_CHUNK).collect();
                        (records, chunk)
                    })
                    .await?;
                records = back;
                if chunk.is_empty() {
                    break;
                }
                for record in chunk {
                    if sender.send(Ok(record)).await.is_err() {
                        return Ok(summary); // the stream was dropped
                    }
                }
            }
            next += 1;
        }
        if next < total {
            pace.sleep().await;
        }
    }
    Ok(summary)
}

/// Aborts a task when its handle is dropped: the stream's producer when the stream is
/// dropped, and with it the tasks following each job.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The results of a run, one [`RecordResult`] at a time in input order; see
/// [`BatchRun::stream`](crate::BatchRun::stream). Read it with [`RecordStream::next`], or as a
/// [`futures_core::Stream`].
#[must_use = "streams do nothing unless polled"]
pub struct RecordStream<V> {
    receiver: tokio::sync::mpsc::Receiver<Result<Detailed<V>, Error>>,
    summary: Arc<Mutex<Option<RunSummary>>>,
    _task: AbortOnDrop<()>,
}

impl<V> std::fmt::Debug for RecordStream<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStream").finish_non_exhaustive()
    }
}

impl<V> RecordStream<V> {
    /// The next record, `None` after the last.
    pub async fn next(&mut self) -> Option<Result<RecordResult<V>, Error>> {
        Some(self.receiver.recv().await?.map(|(record, _)| record))
    }

    /// The next record with its token usage and attempt count, `None` after the last.
    pub async fn next_detailed(&mut self) -> Option<Result<(RecordResult<V>, RecordInfo), Error>> {
        self.receiver.recv().await
    }

    /// The run's summary (combined manifest, failed jobs), once the stream has ended well.
    pub fn summary(&mut self) -> Option<RunSummary> {
        self.summary
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl<V> futures_core::Stream for RecordStream<V> {
    type Item = Result<RecordResult<V>, Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.receiver
            .poll_recv(cx)
            .map(|item| item.map(|result| result.map(|(record, _)| record)))
    }
}
