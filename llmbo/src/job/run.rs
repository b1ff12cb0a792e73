//! `auto` and [`BatchRun`]: every step, over as many Bedrock jobs as the run needs, with a run
//! manifest in S3 so a run can be resumed from another process.

use std::collections::HashSet;
use std::io::{BufRead, Seek, Write};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_config::SdkConfig;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::lifecycle::{Loaded, PollPace};
use super::lifecycle::{hex, write_one};
use super::mode::OutputMode;
use super::state::{
    Downloaded, Finished, Prepared, Ready, RunFollowable, RunInS3, RunState, Submitted, Uploaded,
};
use super::status::{JobDetails, JobFailure, Progress, Stage};
use super::{Inferer, JobConfig, ShardLimits, names, plan_shards};
use crate::adapter::{InvocationType, ModelAdapterRegistry, Usage};
use crate::aws::{Aws, sdk_config_or_default, split_s3_uri};
use crate::error::{Error, RecordError};
use crate::input::ModelInput;
use crate::jsonl;
use crate::manifest::Manifest;
use crate::output::{BatchResults, RecordResult};

/// What a run is made of, stored as JSON next to its input
/// (`s3://<bucket>/input/<job name>.run.json`) so that [`BatchRun::resume`] can pick it up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunManifest {
    /// Format version.
    pub version: u32,
    /// The run's job name (its jobs are this, or this with `-1`, `-2`, … when split).
    pub job_name: String,
    /// The model id.
    pub model_name: String,
    /// The bucket of input and output.
    pub bucket: String,
    /// The role Bedrock assumes.
    pub role_arn: String,
    /// The jobs' timeout.
    pub timeout_hours: u32,
    /// Whether the jobs use the Converse invocation type.
    pub converse: bool,
    /// How many jobs may be in flight at once.
    pub max_concurrent_jobs: usize,
    /// The KMS key of the output, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// The jobs, in input order.
    pub shards: Vec<ShardEntry>,
    /// The output tool of an untyped job structured at run time, so a resumed run parses the
    /// same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<crate::output::ToolDefinition>,
    /// Set by [`BatchRun::cancel`]: jobs not created by then never will be.
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
    /// SHA-256 of its input, which with the name makes the idempotency token; empty while the
    /// run is only `Prepared`.
    pub input_hash: String,
    /// How many records it holds.
    pub records: usize,
    /// Its ARN, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_arn: Option<String>,
}

/// A run of one or more jobs, resumable from its manifest in S3.
///
/// It goes through the states of a single job with the same step names, each step consuming
/// the run and returning it in its next state (`S`, from [`crate::state`]):
///
/// | state | step | next |
/// |---|---|---|
/// | `Inferer<_, Ready>` | [`prepare_run(inputs)?`](Inferer::prepare_run) | `Prepared` |
/// | `Prepared` | [`push_requests_to_s3().await?`](BatchRun::push_requests_to_s3) | `Uploaded` |
/// | `Uploaded` | [`create().await?`](BatchRun::create) | `Submitted` |
/// | `Submitted` | [`poll_progress(interval).await?`](BatchRun::poll_progress) or [`cancel_batch().await?`](BatchRun::cancel_batch) | `Finished` |
/// | `Finished` | [`download_results().await?`](BatchRun::download_results) | `Downloaded` |
/// | `Downloaded` | [`load_results()?`](BatchRun::load_results) | [`BatchResults`] |
///
/// From `Uploaded`, `Submitted` or `Finished`, [`stream`](BatchRun::stream) and
/// [`finish`](BatchRun::finish) do the rest at once, downloading each job as it ends.
/// [`BatchRun::resume`] picks a run up in another process as `Submitted`.
pub struct BatchRun<O: OutputMode, S: RunState = Submitted> {
    config: Arc<JobConfig>,
    manifest: Arc<Mutex<RunManifest>>,
    /// Held from snapshot to upload, so the manifest in S3 is always the newest one (two jobs
    /// created at once would otherwise race their saves).
    saving: Arc<tokio::sync::Mutex<()>>,
    data: S::Data,
    _mode: PhantomData<fn() -> O>,
}

impl<O: OutputMode, S: RunState> Clone for BatchRun<O, S>
where
    S::Data: Clone,
{
    /// Another handle on the same run (the manifest is shared).
    fn clone(&self) -> Self {
        BatchRun {
            config: Arc::clone(&self.config),
            manifest: Arc::clone(&self.manifest),
            saving: Arc::clone(&self.saving),
            data: self.data.clone(),
            _mode: PhantomData,
        }
    }
}

impl<O: OutputMode, S: RunState> std::fmt::Debug for BatchRun<O, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchRun")
            .field("run_uri", &self.run_uri())
            .field("state", &std::any::type_name::<S>())
            .finish_non_exhaustive()
    }
}

/// A `Prepared` run's requests: spooled to a private temp file, planned into jobs.
#[doc(hidden)]
pub struct PlannedRun {
    spool: Spool,
    ranges: Vec<std::ops::Range<usize>>,
}

/// A `Downloaded` run: each job's output on local disk, or why it has none.
#[doc(hidden)]
pub struct DownloadedRun {
    shards: Vec<ShardOutput>,
    /// Where the outputs are when the builder set no `output_dir`; deleted with the run.
    _dir: Option<tempfile::TempDir>,
}

enum ShardOutput {
    Downloaded {
        job_name: String,
        state: Box<Downloaded>,
    },
    Failed {
        record_ids: Vec<String>,
        failure: JobFailure,
    },
}

fn run_key(job_name: &str) -> String {
    format!("input/{job_name}.run.json")
}

impl<O: OutputMode> Inferer<O, Ready> {
    /// Runs every step: prepare, upload, create, poll every `poll_interval`, download, load.
    ///
    /// A run larger than one job allows (`max_records_per_job`, `max_input_bytes_per_job`) is
    /// split into jobs `<job name>-1`, `-2`, … of even size, at most `max_concurrent_jobs` in
    /// flight, and merged back: one result per input record, in input order, and one combined
    /// manifest. The records of a job that fails become [`RecordError::JobFailed`] while the
    /// other jobs' results are returned. The run's manifest is kept in S3, so a run whose
    /// process died can be finished with [`BatchRun::resume`].
    pub async fn auto<I, K>(
        self,
        inputs: I,
        poll_interval: Duration,
    ) -> Result<BatchResults<O::Value>, Error>
    where
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        self.start_run(inputs).await?.finish(poll_interval).await
    }

    /// Prepares and uploads every job of the run and records it in S3, without creating the
    /// jobs yet: [`prepare_run`](Self::prepare_run) then
    /// [`push_requests_to_s3`](BatchRun::push_requests_to_s3).
    pub async fn start_run<I, K>(self, inputs: I) -> Result<BatchRun<O, Uploaded>, Error>
    where
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        self.prepare_run(inputs)?.push_requests_to_s3().await
    }

    /// Prepares every request of a run and plans its jobs; nothing is uploaded. Every record
    /// is checked first (ids, requests, the minimum and maximum sizes), so a run that cannot
    /// be made fails here.
    ///
    /// Memory stays flat in the number of records: `inputs` is read once, each request is
    /// written to a private spool file as it is prepared (only its size and a 64-bit hash of
    /// its id are kept, to plan the jobs and refuse duplicate ids); each job's JSONL is then
    /// streamed from the spool to S3 in 8 MiB parts by
    /// [`push_requests_to_s3`](BatchRun::push_requests_to_s3).
    pub fn prepare_run<I, K>(self, inputs: I) -> Result<BatchRun<O, Prepared>, Error>
    where
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        let mut spooler = Spooler::new::<O>(&self.config)?;
        for (record_id, input) in inputs {
            spooler.push(record_id.into(), &input)?;
        }
        let spool = spooler.finish()?;
        self.plan_run(spool)
    }

    /// As [`prepare_run`](Self::prepare_run), with the inputs from an async
    /// [`Stream`](futures_core::Stream) (a database cursor, a channel, a file read line by
    /// line): each record is prepared and spooled as it arrives, so the inputs are never all
    /// in memory either.
    pub async fn prepare_run_stream<St, K>(self, inputs: St) -> Result<BatchRun<O, Prepared>, Error>
    where
        St: futures_core::Stream<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        let mut inputs = std::pin::pin!(inputs);
        let mut spooler = Spooler::new::<O>(&self.config)?;
        while let Some((record_id, input)) =
            std::future::poll_fn(|cx| inputs.as_mut().poll_next(cx)).await
        {
            spooler.push(record_id.into(), &input)?;
        }
        let spool = spooler.finish()?;
        self.plan_run(spool)
    }

    /// Plans the jobs of the spooled requests; the run manifest exists from here on, in memory.
    fn plan_run(self, spool: Spool) -> Result<BatchRun<O, Prepared>, Error> {
        let config = self.config;
        let ranges = plan_shards(&spool.sizes, config.limits)?;
        let base = config.job_name.clone();
        let shard_name = |index: usize| {
            if ranges.len() == 1 {
                base.clone()
            } else {
                format!("{base}-{}", index + 1)
            }
        };
        for index in [0, ranges.len() - 1] {
            names::check_job_name(&shard_name(index))?;
        }
        if ranges.len() > 1 {
            tracing::info!(
                jobs = ranges.len(),
                records = spool.sizes.len(),
                "splitting the run into several jobs"
            );
        }
        let shards = ranges
            .iter()
            .enumerate()
            .map(|(index, range)| {
                let job_name = shard_name(index);
                ShardEntry {
                    input_uri: format!("s3://{}/input/{job_name}.jsonl", config.bucket),
                    job_name,
                    input_hash: String::new(),
                    records: range.len(),
                    job_arn: None,
                }
            })
            .collect();
        let manifest = RunManifest {
            version: 1,
            job_name: base,
            model_name: config.model_name.clone(),
            bucket: config.bucket.clone(),
            role_arn: config.role_arn.clone(),
            timeout_hours: config.timeout_hours,
            converse: config.invocation_type == InvocationType::Converse,
            max_concurrent_jobs: config.max_concurrent_jobs,
            kms_key_id: config.kms_key_id.clone(),
            shards,
            tool: config.tool.clone(),
            cancelled: false,
        };
        Ok(BatchRun {
            config,
            manifest: Arc::new(Mutex::new(manifest)),
            saving: Arc::default(),
            data: PlannedRun { spool, ranges },
            _mode: PhantomData,
        })
    }
}

impl<O: OutputMode> BatchRun<O, Prepared> {
    /// Streams each job's requests from the spool to S3 (multipart, 8 MiB parts) and writes
    /// the run manifest next to them. No job is created yet.
    pub async fn push_requests_to_s3(self) -> Result<BatchRun<O, Uploaded>, Error> {
        let BatchRun {
            config,
            manifest,
            saving,
            data: PlannedRun { spool, ranges },
            ..
        } = self;
        let entries = manifest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .shards
            .clone();
        let mut reader = std::io::BufReader::new(spool.file);
        let mut line = Vec::new();
        for (index, (entry, range)) in entries.iter().zip(&ranges).enumerate() {
            let (_, key) = split_s3_uri(&entry.input_uri);
            let mut upload = config.aws.upload(&config.bucket, key);
            let mut hasher = Sha256::new();
            let mut progress = Progress::transfer(Stage::Uploading, &entry.job_name, "");
            progress.total = Some(range.len() as u64);
            for _ in range.clone() {
                line.clear();
                reader
                    .read_until(b'\n', &mut line)
                    .map_err(|source| Error::Io {
                        path: "spooled requests".into(),
                        source,
                    })?;
                hasher.update(&line);
                upload.write(&line).await?;
                progress.processed += 1;
                progress.bytes += line.len() as u64;
                if progress.processed.is_multiple_of(10_000) {
                    config.report(&progress);
                }
            }
            upload.finish().await?;
            config.report(&progress);
            if let Some(shard) = manifest
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .shards
                .get_mut(index)
            {
                shard.input_hash = hex(&hasher.finalize());
            }
        }
        let run = BatchRun {
            config,
            manifest,
            saving,
            data: (),
            _mode: PhantomData,
        };
        run.save().await?;
        Ok(run)
    }
}

/// The prepared requests of a run, on disk.
struct Spool {
    file: std::fs::File,
    /// Each line's length, in input order.
    sizes: Vec<u64>,
}

fn spool_io(source: std::io::Error) -> Error {
    Error::Io {
        path: std::env::temp_dir(),
        source,
    }
}

/// Prepares each request and appends its JSONL line to an anonymous private temp file
/// (deleted when closed), keeping only its size and a hash of its id.
struct Spooler<'a> {
    config: &'a JobConfig,
    tool: Option<crate::output::ToolDefinition>,
    writer: std::io::BufWriter<std::fs::File>,
    hashes: Vec<u64>,
    sizes: Vec<u64>,
    line: Vec<u8>,
}

impl<'a> Spooler<'a> {
    fn new<O: OutputMode>(config: &'a JobConfig) -> Result<Self, Error> {
        let file = tempfile::tempfile().map_err(spool_io)?;
        Ok(Spooler {
            config,
            tool: config.output_tool::<O>(),
            writer: std::io::BufWriter::with_capacity(1 << 20, file),
            hashes: Vec::new(),
            sizes: Vec::new(),
            line: Vec::new(),
        })
    }

    fn push(&mut self, record_id: String, input: &ModelInput) -> Result<(), Error> {
        names::check_record_id(&record_id)?;
        self.hashes.push(id_hash(&record_id));
        self.line.clear();
        write_one(
            self.config,
            &record_id,
            input,
            self.tool.as_ref(),
            &mut self.line,
        )?;
        self.writer.write_all(&self.line).map_err(spool_io)?;
        self.sizes.push(self.line.len() as u64);
        Ok(())
    }

    /// The spool, once no two records share an id.
    fn finish(self) -> Result<Spool, Error> {
        let Spooler {
            writer,
            mut hashes,
            sizes,
            ..
        } = self;
        let mut file = writer.into_inner().map_err(|e| spool_io(e.into_error()))?;
        // Duplicate ids, found with 8 bytes per record: equal hashes are checked against the ids
        // themselves, so a hash collision never refuses a valid run.
        hashes.sort_unstable();
        let repeated: HashSet<u64> = hashes
            .windows(2)
            .filter(|pair| pair[0] == pair[1])
            .map(|pair| pair[0])
            .collect();
        drop(hashes);
        if !repeated.is_empty() {
            file.seek(std::io::SeekFrom::Start(0)).map_err(spool_io)?;
            let mut seen = HashSet::new();
            for line in std::io::BufReader::new(&file).split(b'\n') {
                let line = line.map_err(spool_io)?;
                if let Some(id) = jsonl::record_id_of_input_line(&line)
                    && repeated.contains(&id_hash(&id))
                    && !seen.insert(id.clone())
                {
                    return Err(Error::DuplicateRecordId { record_id: id });
                }
            }
        }
        file.seek(std::io::SeekFrom::Start(0)).map_err(spool_io)?;
        Ok(Spool { file, sizes })
    }
}

/// A 64-bit hash of a record id, to find candidate duplicates.
fn id_hash(id: &str) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hasher.write(id.as_bytes());
    hasher.finish()
}

impl<O: OutputMode, S: RunState> BatchRun<O, S> {
    /// Where the run's manifest is: `s3://<bucket>/input/<job name>.run.json`.
    pub fn run_uri(&self) -> String {
        format!(
            "s3://{}/{}",
            self.config.bucket,
            run_key(&self.config.job_name)
        )
    }

    /// The manifest as it stands.
    pub fn manifest(&self) -> RunManifest {
        self.manifest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn save(&self) -> Result<(), Error> {
        let _saving = self.saving.lock().await;
        let json =
            serde_json::to_vec_pretty(&self.manifest()).map_err(|e| Error::InvalidConfig {
                field: "run manifest",
                reason: e.to_string(),
            })?;
        let key = run_key(&self.config.job_name);
        let mut upload = self.config.aws.upload(&self.config.bucket, &key);
        upload.write(&json).await?;
        upload.finish().await
    }
}

impl<O: OutputMode> BatchRun<O, Submitted> {
    /// Picks up a run from its manifest, in a new process if need be, as `Submitted` whatever
    /// it had reached: from there jobs never created are created (idempotently: a job created
    /// just before a crash is found again, not duplicated), running ones are followed and
    /// finished ones are collected, by [`poll_progress`](Self::poll_progress) or
    /// [`stream`](BatchRun::stream).
    pub async fn resume(
        run_uri: &str,
        region: &str,
        sdk_config: Option<SdkConfig>,
    ) -> Result<Self, Error> {
        let rest = run_uri
            .strip_prefix("s3://")
            .ok_or_else(|| Error::InvalidConfig {
                field: "run_uri",
                reason: format!("`{run_uri}` is not an s3:// URI"),
            })?;
        let (bucket, key) = rest.split_once('/').ok_or_else(|| Error::InvalidConfig {
            field: "run_uri",
            reason: format!("`{run_uri}` names no object"),
        })?;
        let sdk = sdk_config_or_default(sdk_config).await;
        let aws = Aws::new(&sdk, region, None, None);
        let bytes = aws.get_bytes(bucket, key).await?;
        let manifest: RunManifest =
            serde_json::from_slice(&bytes).map_err(|e| Error::InvalidConfig {
                field: "run_uri",
                reason: format!("{run_uri} is not a run manifest: {e}"),
            })?;
        let invocation_type = if manifest.converse {
            InvocationType::Converse
        } else {
            InvocationType::InvokeModel
        };
        let config = JobConfig {
            model_name: manifest.model_name.clone(),
            bucket: manifest.bucket.clone(),
            region: region.to_owned(),
            job_name: manifest.job_name.clone(),
            role_arn: manifest.role_arn.clone(),
            timeout_hours: manifest.timeout_hours,
            output_dir: None,
            aws,
            adapter: ModelAdapterRegistry::adapter_for(&manifest.model_name, invocation_type),
            invocation_type,
            limits: ShardLimits::default(),
            max_concurrent_jobs: manifest.max_concurrent_jobs.max(1),
            tags: Vec::new(),
            kms_key_id: manifest.kms_key_id.clone(),
            vpc: None,
            progress: None,
            tool: manifest.tool.clone(),
        };
        Ok(BatchRun {
            config: Arc::new(config),
            manifest: Arc::new(Mutex::new(manifest)),
            saving: Arc::default(),
            data: (),
            _mode: PhantomData,
        })
    }
}

impl<O: OutputMode, S: RunState> BatchRun<O, S> {
    /// Sends each progress report of the run's jobs (uploads, polls, downloads) to `callback`,
    /// as the builder's `on_progress` does; a resumed run has none until given one.
    #[must_use]
    pub fn on_progress(
        mut self,
        callback: impl Fn(&super::Progress) + Send + Sync + 'static,
    ) -> Self {
        Arc::make_mut(&mut self.config).progress = Some(Arc::new(callback));
        self
    }
}

impl<O: OutputMode> BatchRun<O, Uploaded> {
    /// Creates the run's first jobs, as many as `max_concurrent_jobs` allows; the others are
    /// created as those end, by [`poll_progress`](BatchRun::poll_progress),
    /// [`check_complete`](BatchRun::check_complete) or [`submit`](BatchRun::submit).
    /// Idempotent: a job created just before a crash is found again, not duplicated.
    pub async fn create(self) -> Result<BatchRun<O, Submitted>, Error> {
        let run = self.in_flight();
        run.submit().await?;
        Ok(run)
    }
}

impl<O: OutputMode> BatchRun<O, Submitted> {
    /// Asks Bedrock once about every job, creating jobs not created yet as slots free:
    /// `Some(every job with its final details)` once all have ended (a job never created
    /// because the run was cancelled has `None`), `None` while any still runs or waits.
    pub async fn check_complete(
        &mut self,
    ) -> Result<Option<Vec<(ShardEntry, Option<JobDetails>)>>, Error> {
        let jobs = self.jobs().await?;
        for (_, details) in &jobs {
            if let Some(details) = details {
                self.config.report(&Progress::of(details));
            }
        }
        if !self.fill_slots(&jobs).await?.is_empty() {
            return Ok(None);
        }
        let cancelled = self.manifest().cancelled;
        let ended = jobs.iter().all(|(_, details)| match details {
            Some(details) => details.status.is_finished(),
            None => cancelled,
        });
        Ok(ended.then_some(jobs))
    }

    /// Polls every `interval` until every job of the run has ended, creating jobs as slots
    /// free and reporting each job's progress. A job that failed does not stop the run: its
    /// records become [`RecordError::JobFailed`] when the results are loaded. Throttled polls
    /// back off; ten in a row are an error (the jobs still run: resume the run later).
    pub async fn poll_progress(
        mut self,
        interval: Duration,
    ) -> Result<BatchRun<O, Finished>, Error> {
        let mut pace = PollPace::new(interval);
        loop {
            match self.check_complete().await {
                Ok(Some(jobs)) => return Ok(self.finished(jobs)),
                Ok(None) => pace.answered(),
                Err(err) => pace.failed(
                    err,
                    &format!(
                        "the run still runs: resume it from {} later",
                        self.run_uri()
                    ),
                )?,
            }
            pace.sleep().await;
        }
    }

    /// Cancels the run ([`cancel`](Self::cancel): running jobs are stopped, jobs not created
    /// never will be), waits until Bedrock says every job ended, and returns the run finished:
    /// what the jobs processed before stopping can still be downloaded.
    pub async fn cancel_batch(self) -> Result<BatchRun<O, Finished>, Error> {
        self.cancel().await?;
        loop {
            let jobs = self.jobs().await?;
            if jobs
                .iter()
                .all(|(_, details)| details.as_ref().is_none_or(|d| d.status.is_finished()))
            {
                return Ok(self.finished(jobs));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn finished(self, jobs: Vec<(ShardEntry, Option<JobDetails>)>) -> BatchRun<O, Finished> {
        tracing::info!(run = %self.run_uri(), jobs = jobs.len(), "run finished");
        BatchRun {
            config: self.config,
            manifest: self.manifest,
            saving: self.saving,
            data: Arc::new(jobs),
            _mode: PhantomData,
        }
    }
}

impl<O: OutputMode> BatchRun<O, Finished> {
    /// Every job of the run with its final details (`None` for a job never created because
    /// the run was cancelled).
    pub fn job_details(&self) -> &[(ShardEntry, Option<JobDetails>)] {
        &self.data
    }

    /// Downloads every job's output and manifest to local disk: to the builder's `output_dir`
    /// when set, else to a private temp directory deleted with the run. Nothing is parsed
    /// yet, so this holds no records in memory. A failed job (or one never created) has no
    /// output; the ids of its records are read back from its input.
    pub async fn download_results(self) -> Result<BatchRun<O, Downloaded>, Error> {
        let (dir, temp) = match &self.config.output_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let temp = tempfile::tempdir().map_err(|source| Error::Io {
                    path: std::env::temp_dir(),
                    source,
                })?;
                (temp.path().to_owned(), Some(temp))
            }
        };
        let mut shards = Vec::with_capacity(self.data.len());
        for (entry, details) in self.data.iter() {
            let failure = match details {
                None => JobFailure::never_created(&entry.job_name),
                Some(details) => match JobFailure::of(details) {
                    Some(failure) => failure,
                    None => {
                        shards.push(self.download_shard(entry, details, &dir).await?);
                        continue;
                    }
                },
            };
            shards.push(ShardOutput::Failed {
                record_ids: self.shard_record_ids(entry).await?,
                failure,
            });
        }
        Ok(BatchRun {
            config: self.config,
            manifest: self.manifest,
            saving: self.saving,
            data: DownloadedRun { shards, _dir: temp },
            _mode: PhantomData,
        })
    }

    /// Downloads one ended job's output and manifest into `dir`.
    async fn download_shard(
        &self,
        entry: &ShardEntry,
        details: &JobDetails,
        dir: &std::path::Path,
    ) -> Result<ShardOutput, Error> {
        let mut config = self.shard_config(entry);
        config.output_dir = Some(dir.to_owned());
        let finished: Inferer<O, Finished> = Inferer {
            config: Arc::new(config),
            state: Finished {
                job_arn: details.job_arn.clone(),
                input_uri: entry.input_uri.clone(),
                output_uri: format!("s3://{}/output/", self.config.bucket),
                record_ids: None,
                details: details.clone(),
            },
            _mode: PhantomData,
        };
        let downloaded = finished.download_results().await?;
        Ok(ShardOutput::Downloaded {
            job_name: entry.job_name.clone(),
            state: Box::new(downloaded.state),
        })
    }
}

impl<O: OutputMode> BatchRun<O, Downloaded> {
    /// One result per input record, in input order, and the combined manifest. The records
    /// of a job that failed are [`RecordError::JobFailed`]; when every job failed, the failure
    /// itself is the error.
    pub fn load_results(self) -> Result<BatchResults<O::Value>, Error> {
        Ok(self.load_results_detailed()?.results)
    }

    /// As [`load_results`](Self::load_results), with each record's usage and attempts and the
    /// run's summary; the run stays usable, for [`retry_failed`](BatchRun::retry_failed).
    pub fn load_results_detailed(&self) -> Result<RunResults<O::Value>, Error> {
        let mut summary = RunSummary {
            jobs: self.data.shards.len(),
            ..RunSummary::default()
        };
        let mut records = Vec::new();
        let mut info = Vec::new();
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
    /// [`stream`](BatchRun::stream). An `Err` is a job whose output could not be read.
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
            ShardOutput::Downloaded { job_name, state } => {
                let mut config = (*self.config).clone();
                config.job_name = job_name.clone();
                let job: Inferer<O, Downloaded> = Inferer {
                    config: Arc::new(config),
                    state: (**state).clone(),
                    _mode: PhantomData,
                };
                Box::new(loaded_records(job.load_parts()?, summary))
            }
            ShardOutput::Failed {
                record_ids,
                failure,
            } => Box::new(failed_records(record_ids.clone(), failure.clone(), summary)),
        })
    }
}

impl<O: OutputMode, S: RunInS3> BatchRun<O, S> {
    /// Another handle on the same run, as a run in flight (what following it needs).
    fn in_flight(&self) -> BatchRun<O, Submitted> {
        BatchRun {
            config: Arc::clone(&self.config),
            manifest: Arc::clone(&self.manifest),
            saving: Arc::clone(&self.saving),
            data: (),
            _mode: PhantomData,
        }
    }

    /// The configuration of one of the run's jobs.
    fn shard_config(&self, entry: &ShardEntry) -> JobConfig {
        let mut config = (*self.config).clone();
        config.job_name = entry.job_name.clone();
        config
    }

    /// Every job of the run with what Bedrock says about it now; `None` for a job not created
    /// yet.
    pub async fn jobs(&self) -> Result<Vec<(ShardEntry, Option<JobDetails>)>, Error> {
        let mut out = Vec::new();
        for entry in self.manifest().shards {
            let details = match &entry.job_arn {
                Some(arn) => Some(self.config.aws.describe_job(arn).await?),
                None => None,
            };
            out.push((entry, details));
        }
        Ok(out)
    }
}

impl<O: OutputMode> BatchRun<O, Submitted> {
    /// Creates jobs not created yet, as long as fewer than `max_concurrent_jobs` of the run's
    /// jobs are unfinished; returns the ARNs created. Call it again as jobs end (the command
    /// line's `watch` does) or let [`BatchRun::finish`] do it. Does nothing once cancelled.
    pub async fn submit(&self) -> Result<Vec<String>, Error> {
        let jobs = self.jobs().await?;
        self.fill_slots(&jobs).await
    }

    /// Creates jobs not created yet while fewer than `max_concurrent_jobs` of `jobs` (as
    /// described just before) are unfinished, unless the run was cancelled.
    async fn fill_slots(
        &self,
        jobs: &[(ShardEntry, Option<JobDetails>)],
    ) -> Result<Vec<String>, Error> {
        if self.manifest().cancelled {
            return Ok(Vec::new());
        }
        let mut running = jobs
            .iter()
            .filter(|(_, details)| details.as_ref().is_some_and(|d| !d.status.is_finished()))
            .count();
        let mut created = Vec::new();
        for (index, (entry, _)) in jobs.iter().enumerate() {
            if running >= self.config.max_concurrent_jobs {
                break;
            }
            if entry.job_arn.is_none() {
                created.push(self.create_shard(index, entry).await?.job_arn().to_owned());
                running += 1;
            }
        }
        Ok(created)
    }

    /// Stops every running job of the run and marks the run cancelled, so that jobs not
    /// created yet never are (their records end as [`RecordError::JobFailed`]). Returns the ARNs
    /// of the jobs asked to stop; what they processed can still be downloaded.
    pub async fn cancel(&self) -> Result<Vec<String>, Error> {
        self.manifest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cancelled = true;
        self.save().await?;
        let jobs = super::Jobs::from_aws(self.config.aws.clone());
        let mut stopped = Vec::new();
        for entry in self.manifest().shards {
            if let Some(arn) = entry.job_arn
                && jobs.stop(&arn).await?
            {
                stopped.push(arn);
            }
        }
        Ok(stopped)
    }
}

impl<O: OutputMode, S: RunState> BatchRun<O, S> {
    /// Creates the jobs not created yet, follows them all (at most `max_concurrent_jobs` at a
    /// time), and merges their results in input order.
    ///
    /// The records of a job that failed are [`RecordError::JobFailed`] while the other jobs'
    /// results are returned; when every job failed, the failure itself is the error. For runs
    /// too large to hold in memory, use [`BatchRun::stream`].
    pub async fn finish(self, poll_interval: Duration) -> Result<BatchResults<O::Value>, Error>
    where
        S: RunFollowable,
    {
        Ok(self.finish_detailed(poll_interval).await?.results)
    }

    /// As [`finish`](Self::finish), with each record's token usage and attempt count and the
    /// run's summary: what [`retry_failed`](Self::retry_failed) and cost estimates work on.
    pub async fn finish_detailed(
        &self,
        poll_interval: Duration,
    ) -> Result<RunResults<O::Value>, Error>
    where
        S: RunFollowable,
    {
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

    /// The run's results as a stream of [`RecordResult`]s in input order, holding one job's
    /// results at a time: jobs are created and followed together (at most
    /// `max_concurrent_jobs` at once), and each finished job's output is downloaded to a
    /// private temp file, joined to its input and handed out record by record before the next
    /// job's is read. A million-record run never holds a million records.
    ///
    /// The stream ends after the last record, or with one `Err` if the run cannot go on (AWS
    /// refused a call); [`RecordStream::summary`] then has the combined manifest.
    pub fn stream(self, poll_interval: Duration) -> RecordStream<O::Value>
    where
        S: RunFollowable,
    {
        let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_BUFFER);
        let summary = Arc::new(Mutex::new(None));
        let done = Arc::clone(&summary);
        let run = Arc::new(self.in_flight());
        let task = tokio::spawn(async move {
            let outcome = run.produce(poll_interval, &sender).await;
            match outcome {
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

impl<O: OutputMode> BatchRun<O, Submitted> {
    /// Follows every job and sends every record, in input order.
    async fn produce(
        self: &Arc<Self>,
        poll: Duration,
        sender: &tokio::sync::mpsc::Sender<Result<Detailed<O::Value>, Error>>,
    ) -> Result<RunSummary, Error> {
        let entries = self.manifest().shards;
        let permits = Arc::new(Semaphore::new(self.config.max_concurrent_jobs));
        let mut followers = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().cloned().enumerate() {
            let run = Arc::clone(self);
            let permits = Arc::clone(&permits);
            followers.push(AbortOnDrop(tokio::spawn(async move {
                // The semaphore is never closed, so acquiring only waits. The permit is held
                // while the job runs, not while its output is read.
                let _permit = permits.acquire_owned().await;
                run.follow_shard(index, &entry, poll).await
            })));
        }
        let spool = tempfile::tempdir().map_err(|source| Error::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        let mut summary = RunSummary {
            jobs: entries.len(),
            ..RunSummary::default()
        };
        for (entry, mut follower) in entries.iter().zip(followers) {
            let finished = (&mut follower.0).await.map_err(|e| Error::Aws {
                operation: "auto",
                code: "TaskFailed".into(),
                message: e.to_string(),
            })?;
            let records: Box<dyn Iterator<Item = Detailed<O::Value>> + Send> = match finished {
                Ok(mut job) => {
                    // The output goes to a private temp file, not memory.
                    Arc::make_mut(&mut job.config).output_dir = Some(spool.path().to_owned());
                    let loaded = job.download_results().await?.load_parts()?;
                    Box::new(loaded_records(loaded, &mut summary))
                }
                Err(Error::JobFailed {
                    job_arn,
                    status,
                    message,
                }) => {
                    let ids = self.shard_record_ids(entry).await?;
                    let failure = JobFailure {
                        job_arn,
                        status,
                        message,
                    };
                    Box::new(failed_records(ids, failure, &mut summary))
                }
                Err(other) => return Err(other),
            };
            for record in records {
                if sender.send(Ok(record)).await.is_err() {
                    return Ok(summary); // the stream was dropped
                }
            }
        }
        Ok(summary)
    }
}

impl<O: OutputMode, S: RunInS3> BatchRun<O, S> {
    /// Sends the records that failed again, as one follow-up job, and merges the answers back
    /// into `results` in place (each retried record's `attempts` goes up by one).
    ///
    /// Retried: records Bedrock answered with an error record, records a job never processed
    /// (partially completed, expired, stopped: [`RecordError::Missing`]), records of a failed
    /// job, and with `include_parse_failures` records whose answer did not parse. The requests
    /// are read back from the run's input in S3, so nothing needs to be kept in memory.
    ///
    /// Fewer failed records than a job's minimum cannot make a job on their own: with
    /// `pad_to_minimum` the job is filled up with copies of the first failed request (billed,
    /// and their answers discarded), otherwise nothing is sent and
    /// [`RetryOutcome::TooFew`] says so.
    pub async fn retry_failed(
        &self,
        results: &mut RunResults<O::Value>,
        options: &RetryOptions,
    ) -> Result<RetryOutcome, Error> {
        let retryable = |error: &RecordError| match error {
            RecordError::Bedrock { .. } | RecordError::Missing | RecordError::JobFailed { .. } => {
                true
            }
            _ => options.include_parse_failures,
        };
        let mut positions: std::collections::HashMap<String, usize> = results
            .results
            .records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.outcome.as_ref().err().is_some_and(retryable))
            .map(|(index, r)| (r.record_id.clone(), index))
            .collect();
        if positions.is_empty() {
            return Ok(RetryOutcome::NothingToRetry);
        }
        let count = positions.len();
        let minimum = self.config.limits.min_records;
        if count < minimum && !options.pad_to_minimum {
            return Ok(RetryOutcome::TooFew {
                records: count,
                minimum,
            });
        }
        let round = positions
            .values()
            .filter_map(|&i| results.info.get(i))
            .map(|info| info.attempts)
            .max()
            .unwrap_or(1);
        let job_name = format!("{}-retry{round}", self.config.job_name);
        names::check_job_name(&job_name)?;
        let key = format!("input/{job_name}.jsonl");
        let mut upload = self.config.aws.upload(&self.config.bucket, &key);
        let mut hasher = Sha256::new();
        let mut first_body: Option<serde_json::Value> = None;
        let mut written = 0usize;
        for entry in self.manifest().shards {
            let (bucket, input_key) = split_s3_uri(&entry.input_uri);
            let mut lines = self.config.aws.lines(bucket, input_key).await?;
            while let Some(line) = lines.next_line().await? {
                let Some(id) = jsonl::record_id_of_input_line(&line) else {
                    continue;
                };
                if !positions.contains_key(&id) {
                    continue;
                }
                if first_body.is_none() {
                    first_body = serde_json::from_slice::<serde_json::Value>(&line)
                        .ok()
                        .and_then(|v| v.get("modelInput").cloned());
                }
                let mut line = line;
                if !line.ends_with(b"\n") {
                    line.push(b'\n');
                }
                hasher.update(&line);
                upload.write(&line).await?;
                written += 1;
            }
        }
        // Padding, with the caller's consent: copies of one request under ids of our own.
        let mut padding = 0;
        if let Some(body) = &first_body {
            let mut line = Vec::new();
            while written + padding < minimum {
                line.clear();
                jsonl::encode_input_line(&format!("llmbo-pad-{padding}"), body, &mut line);
                hasher.update(&line);
                upload.write(&line).await?;
                padding += 1;
            }
        }
        upload.finish().await?;
        let mut config = (*self.config).clone();
        config.job_name = job_name.clone();
        let spool = tempfile::tempdir().map_err(|source| Error::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        config.output_dir = Some(spool.path().to_owned());
        let uploaded: Inferer<O, Uploaded> = Inferer {
            config: Arc::new(config),
            state: Uploaded {
                input_uri: format!("s3://{}/{key}", self.config.bucket),
                input_hash: hex(&hasher.finalize()),
                record_ids: None,
            },
            _mode: PhantomData,
        };
        tracing::info!(job_name = %job_name, records = written, padding, "retrying failed records");
        let submitted = uploaded.create().await?;
        let job_arn = submitted.job_arn().to_owned();
        let loaded = submitted
            .poll_progress(options.poll_interval)
            .await?
            .download_results()
            .await?
            .load_parts()?;
        let mut found = loaded.found;
        let mut recovered = 0;
        for (id, index) in positions.drain() {
            let (outcome, usage) = found
                .remove(&id)
                .unwrap_or((Err(RecordError::Missing), None));
            recovered += usize::from(outcome.is_ok());
            if let Some(record) = results.results.records.get_mut(index) {
                record.outcome = outcome;
            }
            if let Some(info) = results.info.get_mut(index) {
                info.attempts += 1;
                if usage.is_some() {
                    info.usage = usage;
                }
            }
        }
        Ok(RetryOutcome::Retried {
            job_arn,
            records: written,
            padding,
            recovered,
        })
    }

    /// The record ids of one job, streamed from its input in S3.
    async fn shard_record_ids(&self, entry: &ShardEntry) -> Result<Vec<String>, Error> {
        let (bucket, key) = split_s3_uri(&entry.input_uri);
        self.config.aws.read_record_ids(bucket, key).await
    }

    /// Creates one job of the run (idempotently) and records its ARN in the run manifest.
    async fn create_shard(
        &self,
        index: usize,
        entry: &ShardEntry,
    ) -> Result<Inferer<O, Submitted>, Error> {
        let uploaded: Inferer<O, Uploaded> = Inferer {
            config: Arc::new(self.shard_config(entry)),
            state: Uploaded {
                input_uri: entry.input_uri.clone(),
                input_hash: entry.input_hash.clone(),
                record_ids: None,
            },
            _mode: PhantomData,
        };
        let submitted = uploaded.create().await?;
        {
            let mut manifest = self.manifest.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(shard) = manifest.shards.get_mut(index) {
                shard.job_arn = Some(submitted.job_arn().to_owned());
            }
        }
        self.save().await?;
        Ok(submitted)
    }

    /// Creates the job if need be and follows it to its end.
    async fn follow_shard(
        &self,
        index: usize,
        entry: &ShardEntry,
        poll: Duration,
    ) -> Result<Inferer<O, Finished>, Error> {
        let submitted: Inferer<O, Submitted> = match &entry.job_arn {
            Some(arn) => Inferer {
                config: Arc::new(self.shard_config(entry)),
                state: Submitted {
                    job_arn: arn.clone(),
                    input_uri: entry.input_uri.clone(),
                    output_uri: format!("s3://{}/output/", self.config.bucket),
                    record_ids: None,
                    last: None,
                },
                _mode: PhantomData,
            },
            None if self.manifest().cancelled => {
                return Err(JobFailure::never_created(&entry.job_name).into_error());
            }
            None => self.create_shard(index, entry).await?,
        };
        submitted.poll_progress(poll).await
    }
}

/// One job's records in input order (a record without output is [`RecordError::Missing`]);
/// its manifest is added to `summary`.
fn loaded_records<V>(
    loaded: Loaded<V>,
    summary: &mut RunSummary,
) -> impl Iterator<Item = Detailed<V>> + use<V> {
    summary.manifest.combine(&loaded.manifest);
    summary.unknown_record_ids += loaded.unknown;
    let mut found = loaded.found;
    let ids = loaded.record_ids;
    (0..ids.len()).filter_map(move |index| {
        let record_id = ids.get(index)?.clone();
        let (outcome, usage) = found
            .remove(&record_id)
            .unwrap_or((Err(RecordError::Missing), None));
        Some((
            RecordResult { record_id, outcome },
            RecordInfo { usage, attempts: 1 },
        ))
    })
}

/// The records of a job that failed or was never created, each [`RecordError::JobFailed`];
/// the failure is added to `summary`.
fn failed_records<V>(
    record_ids: Vec<String>,
    failure: JobFailure,
    summary: &mut RunSummary,
) -> impl Iterator<Item = Detailed<V>> + use<V> {
    summary.manifest.total_record_count += record_ids.len() as u64;
    summary.failed_jobs.push(failure.clone().into_error());
    record_ids.into_iter().map(move |record_id| {
        let record = RecordResult {
            record_id,
            outcome: Err(RecordError::JobFailed {
                job_arn: failure.job_arn.clone(),
                message: failure.message.clone(),
            }),
        };
        (
            record,
            RecordInfo {
                usage: None,
                attempts: 1,
            },
        )
    })
}

/// The results of a run that was read to its end: an error when every job failed.
fn run_results<V>(
    records: Vec<RecordResult<V>>,
    info: Vec<RecordInfo>,
    mut summary: RunSummary,
) -> Result<RunResults<V>, Error> {
    if summary.jobs > 0 && summary.failed_jobs.len() == summary.jobs {
        return Err(summary.failed_jobs.remove(0));
    }
    Ok(RunResults {
        results: BatchResults {
            manifest: summary.manifest.clone(),
            records,
        },
        info,
        summary,
    })
}

/// One record with what llmbo knows about it beyond its outcome.
type Detailed<V> = (RecordResult<V>, RecordInfo);

/// A record's token usage and how many jobs it went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RecordInfo {
    /// The tokens of its (last) answer, when the model family reports them.
    pub usage: Option<Usage>,
    /// How many jobs the record was in: 1, plus one per [`BatchRun::retry_failed`] that
    /// included it.
    pub attempts: u32,
}

/// A run's results with the details of each record: see [`BatchRun::finish_detailed`].
#[derive(Debug)]
#[non_exhaustive]
pub struct RunResults<V> {
    /// One result per input record, in input order, and the combined manifest.
    pub results: BatchResults<V>,
    /// Usage and attempts, one per record, in the same order as `results.records`.
    pub info: Vec<RecordInfo>,
    /// Jobs, failures and unknown ids of the run.
    pub summary: RunSummary,
}

impl<V> RunResults<V> {
    /// Tokens of every record, summed (from each answer, so retried records count their last
    /// answer).
    pub fn usage(&self) -> Usage {
        self.info
            .iter()
            .filter_map(|info| info.usage)
            .fold(Usage::default(), |sum, u| Usage {
                input_tokens: sum.input_tokens + u.input_tokens,
                output_tokens: sum.output_tokens + u.output_tokens,
            })
    }

    /// The estimated cost of the run's tokens at `model`'s price in `prices`, if it has one.
    pub fn estimated_cost(&self, prices: &PriceTable, model: &str) -> Option<f64> {
        prices.cost(model, &self.usage())
    }
}

/// What one model costs, per 1,000 tokens (batch prices, in any currency you like).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// Per 1,000 input tokens.
    pub input_per_1k: f64,
    /// Per 1,000 output tokens.
    pub output_per_1k: f64,
}

/// Prices per model, supplied by you (llmbo ships none: they change and differ by region).
///
/// ```
/// use llmbo::{Price, PriceTable, Usage};
/// let prices = PriceTable::new()
///     .with("anthropic.claude-3-haiku-20240307-v1:0", Price { input_per_1k: 0.000125, output_per_1k: 0.000625 });
/// let usage = Usage { input_tokens: 2_000, output_tokens: 1_000 };
/// // Any form of the model id finds its price: a cross-region profile, an ARN.
/// let cost = prices.cost("us.anthropic.claude-3-haiku-20240307-v1:0", &usage);
/// assert!(cost.is_some_and(|cost| (cost - 0.000875).abs() < 1e-12));
/// assert_eq!(prices.cost("amazon.nova-lite-v1:0", &usage), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    prices: Vec<(String, Price)>,
}

impl PriceTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the price of a model id.
    #[must_use]
    pub fn with(mut self, model: &str, price: Price) -> Self {
        let model = crate::adapter::normalize_model_id(model).to_owned();
        self.prices.retain(|(m, _)| *m != model);
        self.prices.push((model, price));
        self
    }

    /// The price of a model, in any form Bedrock accepts its id.
    pub fn price(&self, model: &str) -> Option<Price> {
        let model = crate::adapter::normalize_model_id(model);
        self.prices
            .iter()
            .find(|(m, _)| *m == model)
            .map(|(_, price)| *price)
    }

    /// What `usage` costs with `model`.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        let price = self.price(model)?;
        Some(
            usage.input_tokens as f64 / 1000.0 * price.input_per_1k
                + usage.output_tokens as f64 / 1000.0 * price.output_per_1k,
        )
    }
}

/// What [`BatchRun::retry_failed`] retries and how.
#[derive(Debug, Clone)]
pub struct RetryOptions {
    /// Also retry records whose answer did not parse (no tool call, invalid tool input, …);
    /// worth it with sampling, pointless at temperature 0.
    pub include_parse_failures: bool,
    /// Fill a follow-up job below Bedrock's minimum with copies of a failed request (billed,
    /// answers discarded) instead of not sending it.
    pub pad_to_minimum: bool,
    /// How often the follow-up job is polled.
    pub poll_interval: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            include_parse_failures: false,
            pad_to_minimum: false,
            poll_interval: Duration::from_secs(60),
        }
    }
}

/// What [`BatchRun::retry_failed`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryOutcome {
    /// No record needed retrying.
    NothingToRetry,
    /// Too few records to make a job, and padding was not allowed: nothing was sent.
    TooFew {
        /// Records that would be retried.
        records: usize,
        /// The per-job minimum.
        minimum: usize,
    },
    /// A follow-up job ran and its answers were merged.
    Retried {
        /// The follow-up job.
        job_arn: String,
        /// Records retried.
        records: usize,
        /// Padding records added to reach the minimum.
        padding: usize,
        /// Retried records that now have a value.
        recovered: usize,
    },
}

/// How many records wait in the stream's buffer at most.
const STREAM_BUFFER: usize = 1024;

/// What a run added up to, once its stream has ended.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RunSummary {
    /// The jobs of the run.
    pub jobs: usize,
    /// The combined manifest of the jobs (a failed job adds its record count only).
    pub manifest: Manifest,
    /// The jobs that failed, as [`Error::JobFailed`].
    pub failed_jobs: Vec<Error>,
    /// Outputs that named a record id not in the job's input: reported, never merged.
    pub unknown_record_ids: u64,
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
/// [`BatchRun::stream`]. Read it with [`RecordStream::next`], or as a
/// [`futures_core::Stream`].
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
