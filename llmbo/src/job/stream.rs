//! A run's results handed out one job at a time, in input order: the scheduler's polls drive
//! the jobs, and each ended job is downloaded, read off the async workers and sent record by
//! record before the next one is read.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::download::output_dir;
use super::engine::{self, ShardOutput};
use super::landing::Landing;
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
    /// While the first job not yet handed out runs, each poll reads what its output holds
    /// beyond what was read before (Bedrock writes results as a job runs) and hands out the
    /// records that continue the input order at once; the rest come when the job ends. Every
    /// record comes exactly once either way, and where a provider writes its output only at
    /// the end (the other batch APIs), the records simply come then.
    ///
    /// The stream ends after the last record, or with one `Err` if the run cannot go on (AWS
    /// refused a call); [`RecordStream::summary`] then has the combined manifest.
    pub fn stream(self, poll_interval: Duration) -> RecordStream<O::Value> {
        self.stream_in(poll_interval, Order::Input)
    }

    /// As [`stream`](Self::stream), with each record handed out as soon as it lands, in any
    /// order: the records of every running job as their output grows, then the rest of each
    /// job as it ends, whichever job ends first. Every record still comes exactly once; match
    /// them up by [`RecordResult::record_id`].
    pub fn stream_as_they_land(self, poll_interval: Duration) -> RecordStream<O::Value> {
        self.stream_in(poll_interval, Order::AsTheyLand)
    }

    fn stream_in(self, poll_interval: Duration, order: Order) -> RecordStream<O::Value> {
        let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_BUFFER);
        let summary = Arc::new(Mutex::new(None));
        let done = Arc::clone(&summary);
        let run = self.in_flight();
        let task = tokio::spawn(async move {
            match produce(run, poll_interval, order, &sender).await {
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

/// In which order a stream hands out its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Input order, each job's records read at its end only (what `finish` collects).
    InputAtEnd,
    /// Input order, the first running job's records as they continue it.
    Input,
    /// As they land.
    AsTheyLand,
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
        let mut stream = self.in_flight().stream_in(poll_interval, Order::InputAtEnd);
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

/// Follows every job and sends every record, once, in `order`.
async fn produce<O: OutputMode>(
    run: Inferer<O, Submitted>,
    poll: Duration,
    order: Order,
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
    let mut landing = Landing::default();
    // Input order: the records of the first job not done, landed ahead of the next one to
    // send, and how many of its records were sent.
    let mut ahead: BTreeMap<usize, Detailed<O::Value>> = BTreeMap::new();
    let mut sent_in_order = 0;
    let mut done = vec![false; total];
    while done.contains(&false) {
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
        for (index, (entry, details)) in jobs.iter().enumerate() {
            if done.get(index).copied().unwrap_or(true) {
                continue;
            }
            let ended = match details {
                Some(details) => details.status.is_finished(),
                None => cancelled,
            };
            if !ended {
                if let (Some(details), true) = (details, order != Order::InputAtEnd) {
                    let landed = landing.land::<O>(config, entry, details).await?;
                    if order == Order::AsTheyLand {
                        for (_, record) in landed {
                            if sender.send(Ok(record)).await.is_err() {
                                return Ok(summary);
                            }
                        }
                    } else {
                        ahead.extend(landed);
                        while let Some(record) = ahead.remove(&sent_in_order) {
                            if sender.send(Ok(record)).await.is_err() {
                                return Ok(summary);
                            }
                            sent_in_order += 1;
                        }
                    }
                }
                if order == Order::AsTheyLand {
                    continue;
                }
                break;
            }
            // Input order: what landed ahead is read again with the rest of the job.
            let sent: Vec<bool> = match order {
                Order::AsTheyLand => landing.finish(&entry.job_name),
                _ => {
                    landing.finish(&entry.job_name);
                    ahead.clear();
                    (0..std::mem::take(&mut sent_in_order))
                        .map(|_| true)
                        .collect()
                }
            };
            if !send_job::<O>(
                config,
                entry,
                details.as_ref(),
                &dir,
                &mut summary,
                sent,
                sender,
            )
            .await?
            {
                return Ok(summary); // the stream was dropped
            }
            if let Some(done) = done.get_mut(index) {
                *done = true;
            }
        }
        if done.contains(&false) {
            pace.sleep().await;
        }
    }
    Ok(summary)
}

/// Downloads an ended job and sends each of its records not sent already (`sent`, by
/// position), in input order; `false` when the stream was dropped.
async fn send_job<O: OutputMode>(
    config: &Arc<super::config::JobConfig>,
    entry: &super::record::ShardEntry,
    details: Option<&crate::status::JobDetails>,
    dir: &std::path::Path,
    summary: &mut RunSummary,
    sent: Vec<bool>,
    sender: &tokio::sync::mpsc::Sender<Result<Detailed<O::Value>, Error>>,
) -> Result<bool, Error> {
    // One job's output at a time: in memory up to the budget, past it in files.
    let mut in_memory = engine::IN_MEMORY_BYTES;
    let shard = engine::download_shard(config, entry, details, dir, &mut in_memory).await?;
    let records: Box<dyn Iterator<Item = Detailed<O::Value>> + Send> = match shard {
        ShardOutput::Downloaded(output) => {
            let files: Vec<_> = output
                .outputs
                .iter()
                .chain(&output.manifest)
                .filter_map(|data| data.path().map(std::path::Path::to_owned))
                .collect();
            let loaded = read::read_job_async::<O>(Arc::clone(config), *output).await?;
            // A large output is read line by line as it is joined (its files stay
            // open), so the files go as soon as they are open.
            for file in files {
                let _ = std::fs::remove_file(file);
            }
            Box::new(loaded_records(loaded, summary))
        }
        ShardOutput::Failed {
            record_ids,
            failure,
        } => Box::new(failed_records(record_ids, failure, summary)),
    };
    let mut records: Box<dyn Iterator<Item = Detailed<O::Value>> + Send> = Box::new(
        records
            .enumerate()
            .filter(move |(position, _)| !sent.get(*position).copied().unwrap_or(false))
            .map(|(_, record)| record),
    );
    // Joined in chunks off the async workers: the join may read and parse lines.
    loop {
        let (back, chunk) = crate::files::off_runtime("joining a job's output", move || {
            let chunk: Vec<_> = records.by_ref().take(JOIN_CHUNK).collect();
            (records, chunk)
        })
        .await?;
        records = back;
        if chunk.is_empty() {
            return Ok(true);
        }
        for record in chunk {
            if sender.send(Ok(record)).await.is_err() {
                return Ok(false);
            }
        }
    }
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
