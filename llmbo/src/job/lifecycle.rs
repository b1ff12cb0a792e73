//! The steps. Each consumes the inferer and returns the next state; all AWS calls go through
//! [`crate::aws`].

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::mode::{OutputMode, Structured, Untyped};
use super::state::{
    CanCreate, CanDownload, CanLoad, CanPrepare, CanPush, Downloaded, Finished, IsRunning,
    Prepared, PreparedRecord, Ready, State, Stored, Submitted, Uploaded,
};
use super::status::{JobDetails, JobFailure, JobStatus, Progress, Stage};
use super::{Inferer, JobConfig, Recovered, names};
use crate::adapter::{ConverseAdapter, ModelAdapterRegistry};
use crate::aws::{Aws, CreateJob, job_output_folder, sdk_config_or_default, split_s3_uri};
use crate::error::{Error, RecordError};
use crate::input::ModelInput;
use crate::jsonl::{self, OutputLine};
use crate::manifest::Manifest;
use crate::output::{BatchOutput, BatchResults};

/// Polls throttled this many times in a row (each after the SDK's own retries, with the wait
/// doubling up to 5 minutes in between) end `poll_progress` with the throttling error.
const MAX_THROTTLED_POLLS: u32 = 10;

/// The pace of `poll_progress`, for a job or a run: every `interval`, twice as slow after each
/// throttled poll (up to 5 minutes), and an error after [`MAX_THROTTLED_POLLS`] in a row.
pub(crate) struct PollPace {
    interval: Duration,
    wait: Duration,
    throttled: u32,
}

impl PollPace {
    pub(crate) fn new(interval: Duration) -> Self {
        PollPace {
            interval,
            wait: interval,
            throttled: 0,
        }
    }

    /// A poll was answered: back to the normal pace.
    pub(crate) fn answered(&mut self) {
        self.wait = self.interval;
        self.throttled = 0;
    }

    /// A poll failed. The SDK already retried a throttled one; keep polling, slower, rather
    /// than lose what runs, but not forever. Any other error, or one throttled poll too many,
    /// is returned; `still_running` says what runs on and how to pick it up.
    pub(crate) fn failed(&mut self, err: Error, still_running: &str) -> Result<(), Error> {
        match err {
            Error::Aws {
                operation,
                code,
                message,
            } if code == "ThrottlingException" => {
                self.throttled += 1;
                if self.throttled >= MAX_THROTTLED_POLLS {
                    return Err(Error::Aws {
                        operation,
                        code,
                        message: format!(
                            "{message} ({} polls in a row throttled; {still_running})",
                            self.throttled
                        ),
                    });
                }
                self.wait = (self.wait * 2).min(Duration::from_secs(300));
                tracing::warn!(
                    throttled = self.throttled,
                    "throttled while polling; backing off ({still_running})"
                );
                Ok(())
            }
            other => Err(other),
        }
    }

    pub(crate) async fn sleep(&self) {
        tokio::time::sleep(self.wait).await;
    }
}

/// Upload progress is reported every this many records, and once at the end.
const UPLOAD_REPORT_EVERY: u64 = 1_000;

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The idempotency token: the same job name and the same uploaded bytes give the same token,
/// so a repeated or resumed `create` never starts a second job.
pub(crate) fn client_request_token(job_name: &str, input_hash: &str) -> String {
    let digest = Sha256::digest(format!("{job_name}\n{input_hash}").as_bytes());
    format!("llmbo-{}", &hex(&digest)[..40])
}

/// One record's request body: a raw body as given, else the adapter's body (with the output
/// tool of a structured job).
pub(crate) fn prepare_one(
    config: &JobConfig,
    record_id: &str,
    input: &ModelInput,
    tool: Option<&crate::output::ToolDefinition>,
) -> Result<serde_json::Value, Error> {
    let prepared = match &input.raw_body {
        Some(body) => input.validate().map(|()| body.clone()),
        None => config.adapter.prepare_model_input(input, tool),
    };
    prepared.map_err(|err| match err {
        Error::InvalidInput { reason } => Error::InvalidRecord {
            record_id: record_id.to_owned(),
            reason,
        },
        other => other,
    })
}

/// Appends one record's JSONL input line: a raw body as given, else written by the adapter
/// (with the output tool of a structured job).
pub(crate) fn write_one(
    config: &JobConfig,
    record_id: &str,
    input: &ModelInput,
    tool: Option<&crate::output::ToolDefinition>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let written = match &input.raw_body {
        Some(body) => input.validate().map(|()| {
            jsonl::encode_input_line(record_id, body, out);
        }),
        None => config.adapter.write_input_line(record_id, input, tool, out),
    };
    written.map_err(|err| match err {
        Error::InvalidInput { reason } => Error::InvalidRecord {
            record_id: record_id.to_owned(),
            reason,
        },
        other => other,
    })
}

impl<O: OutputMode, S: State> Inferer<O, S> {
    /// Turns each `(record id, input)` into the model's request body, with the output tool of
    /// a structured job. Record ids must be unique and there must be at least the minimum
    /// number of records (100 by default); nothing is uploaded yet.
    pub fn prepare_requests<I, K>(self, inputs: I) -> Result<Inferer<O, Prepared>, Error>
    where
        S: CanPrepare,
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        let tool = self.config.output_tool::<O>();
        let mut seen = HashSet::new();
        let mut records = Vec::new();
        for (record_id, input) in inputs {
            let record_id = record_id.into();
            names::check_record_id(&record_id)?;
            if !seen.insert(record_id.clone()) {
                return Err(Error::DuplicateRecordId { record_id });
            }
            let model_input = prepare_one(&self.config, &record_id, &input, tool.as_ref())?;
            records.push(PreparedRecord {
                record_id,
                model_input,
            });
        }
        if records.len() < self.config.limits.min_records {
            return Err(Error::TooFewRecords {
                count: records.len(),
                minimum: self.config.limits.min_records,
            });
        }
        tracing::debug!(records = records.len(), job_name = %self.config.job_name, "requests prepared");
        Ok(self.with_state(Prepared { records }))
    }
}

impl<O: OutputMode, S: State> Inferer<O, S> {
    /// Streams the requests as JSONL to `s3://<bucket>/input/<job name>.jsonl` (multipart when
    /// large; one part in memory at a time), and to `output_dir` when one is set.
    pub async fn push_requests_to_s3(self) -> Result<Inferer<O, Uploaded>, Error>
    where
        S: CanPush,
    {
        let Prepared { records } = self.state.into_prepared();
        let config = Arc::clone(&self.config);
        let key = format!("input/{}.jsonl", config.job_name);
        let mut local = match &config.output_dir {
            Some(dir) => {
                let path = dir.join(format!("{}.jsonl", config.job_name));
                let file = crate::files::create_private(&path)
                    .await
                    .map_err(|source| Error::Io {
                        path: path.clone(),
                        source,
                    })?;
                Some((path, file))
            }
            None => None,
        };
        let mut upload = config.aws.upload(&config.bucket, &key);
        let mut hasher = Sha256::new();
        let mut line = Vec::new();
        let mut record_ids = Vec::with_capacity(records.len());
        let mut progress = Progress::transfer(Stage::Uploading, &config.job_name, "");
        progress.total = Some(records.len() as u64);
        for record in records {
            line.clear();
            jsonl::encode_input_line(&record.record_id, &record.model_input, &mut line);
            hasher.update(&line);
            upload.write(&line).await?;
            progress.processed += 1;
            progress.bytes += line.len() as u64;
            if progress.processed.is_multiple_of(UPLOAD_REPORT_EVERY) {
                config.report(&progress);
            }
            if let Some((path, file)) = &mut local {
                file.write_all(&line).await.map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
            }
            record_ids.push(record.record_id);
        }
        upload.finish().await?;
        if !progress.processed.is_multiple_of(UPLOAD_REPORT_EVERY) {
            config.report(&progress);
        }
        if let Some((path, mut file)) = local {
            file.flush()
                .await
                .map_err(|source| Error::Io { path, source })?;
        }
        let input_uri = format!("s3://{}/{key}", config.bucket);
        tracing::info!(input = %input_uri, records = record_ids.len(), "requests uploaded");
        Ok(Inferer {
            config: self.config,
            state: Uploaded {
                input_uri,
                input_hash: hex(&hasher.finalize()),
                record_ids: Some(Arc::new(record_ids)),
            },
            _mode: PhantomData,
        })
    }
}

impl<O: OutputMode, S: State> Inferer<O, S> {
    /// Creates the Bedrock job. Idempotent: the token comes from the job name and the hash of
    /// the uploaded input, so calling it again (or after a crash) returns the same job.
    pub async fn create(self) -> Result<Inferer<O, Submitted>, Error>
    where
        S: CanCreate,
    {
        let Uploaded {
            input_uri,
            input_hash,
            record_ids,
        } = self.state.into_uploaded();
        let config = Arc::clone(&self.config);
        let token = client_request_token(&config.job_name, &input_hash);
        let output_uri = format!("s3://{}/output/", config.bucket);
        let mut tags = vec![(
            "created-by".to_owned(),
            format!("llmbo-{}", env!("CARGO_PKG_VERSION")),
        )];
        tags.extend(config.tags.iter().cloned());
        let job_arn = config
            .aws
            .create_job(&CreateJob {
                job_name: &config.job_name,
                role_arn: &config.role_arn,
                model_id: &config.model_name,
                client_request_token: &token,
                input_uri: &input_uri,
                output_uri: &output_uri,
                timeout_hours: config.timeout_hours as i32,
                kms_key_id: config.kms_key_id.as_deref(),
                tags: &tags,
                vpc: config
                    .vpc
                    .as_ref()
                    .map(|(s, g)| (s.as_slice(), g.as_slice())),
                converse: config.invocation_type == crate::adapter::InvocationType::Converse,
            })
            .await?;
        tracing::info!(job_arn = %job_arn, "job created");
        Ok(Inferer {
            config: self.config,
            state: Submitted {
                job_arn,
                input_uri,
                output_uri,
                record_ids,
                last: None,
            },
            _mode: PhantomData,
        })
    }
}

impl<O: OutputMode, S: State> Inferer<O, S> {
    /// Asks Bedrock once: `Some(status)` when the job has ended, `None` while it runs.
    pub async fn check_complete(&mut self) -> Result<Option<JobStatus>, Error>
    where
        S: IsRunning,
    {
        let arn = self.state.as_submitted().job_arn.clone();
        let details = self.config.aws.describe_job(&arn).await?;
        let status = details.status.clone();
        let submitted = self.state.as_submitted();
        submitted.last = Some(details);
        Ok(status.is_finished().then_some(status))
    }

    /// Polls every `interval` until the job ends, reporting progress through `tracing` and the
    /// `on_progress` callback. A `Failed` job is an error carrying Bedrock's message; a job
    /// that ended otherwise (even partially, stopped or expired) can be downloaded.
    pub async fn poll_progress(self, interval: Duration) -> Result<Inferer<O, Finished>, Error>
    where
        S: IsRunning,
    {
        let mut job: Inferer<O, Submitted> = Inferer {
            config: self.config,
            state: self.state.into_submitted(),
            _mode: PhantomData,
        };
        let mut pace = PollPace::new(interval);
        loop {
            match job.config.aws.describe_job(&job.state.job_arn).await {
                Ok(details) => {
                    job.config.report(&Progress::of(&details));
                    pace.answered();
                    if details.status.is_finished() {
                        return job.finish(details);
                    }
                    job.state.last = Some(details);
                }
                Err(err) => pace.failed(
                    err,
                    &format!(
                        "the job {} still runs: recover it from its ARN later",
                        job.state.job_arn
                    ),
                )?,
            }
            pace.sleep().await;
        }
    }

    /// Stops the job, waits until Bedrock says it stopped, and returns it finished: what it
    /// processed before stopping can still be downloaded.
    pub async fn cancel_batch(self) -> Result<Inferer<O, Finished>, Error>
    where
        S: IsRunning,
    {
        let job: Inferer<O, Submitted> = Inferer {
            config: self.config,
            state: self.state.into_submitted(),
            _mode: PhantomData,
        };
        if let Err(err) = job.config.aws.stop_job(&job.state.job_arn).await {
            // A job that ended meanwhile cannot be stopped; that is not an error here.
            let ended = job.config.aws.describe_job(&job.state.job_arn).await?;
            if !ended.status.is_finished() {
                return Err(err);
            }
        }
        loop {
            let details = job.config.aws.describe_job(&job.state.job_arn).await?;
            if details.status.is_finished() {
                return job.finish_any(details);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl<O: OutputMode> Inferer<O, Submitted> {
    fn finish(self, details: JobDetails) -> Result<Inferer<O, Finished>, Error> {
        if let Some(failure) = JobFailure::of(&details) {
            return Err(failure.into_error());
        }
        self.finish_any(details)
    }

    fn finish_any(self, details: JobDetails) -> Result<Inferer<O, Finished>, Error> {
        let Submitted {
            job_arn,
            input_uri,
            output_uri,
            record_ids,
            ..
        } = self.state;
        tracing::info!(job_arn = %job_arn, status = %details.status, "job finished");
        Ok(Inferer {
            config: self.config,
            state: Finished {
                job_arn,
                input_uri,
                output_uri,
                record_ids,
                details,
            },
            _mode: PhantomData,
        })
    }
}

impl<O: OutputMode, S: State> Inferer<O, S> {
    /// Fetches `<output>/<job id>/*.out` and `manifest.json.out`: to `output_dir` when set
    /// (`<job name>_out.jsonl`, `<job name>_manifest.json`), else into memory. Works for every
    /// end status; what does not exist (an expired job's output) is simply absent.
    pub async fn download_results(self) -> Result<Inferer<O, Downloaded>, Error>
    where
        S: CanDownload,
    {
        let Finished {
            job_arn,
            input_uri,
            output_uri,
            record_ids,
            details,
        } = self.state.into_finished();
        let config = Arc::clone(&self.config);
        let aws = &config.aws;
        let record_ids = match record_ids {
            Some(ids) => ids,
            None => {
                // Recovered from the ARN alone: the input in S3 says which records there were.
                let (bucket, key) = split_s3_uri(&input_uri);
                let keys = if key.is_empty() || key.ends_with('/') {
                    aws.list_keys(bucket, key)
                        .await?
                        .into_iter()
                        .filter(|k| k.ends_with(".jsonl"))
                        .collect()
                } else {
                    vec![key.to_owned()]
                };
                let mut ids = Vec::new();
                for key in keys {
                    ids.extend(aws.read_record_ids(bucket, &key).await?);
                }
                Arc::new(ids)
            }
        };
        let (bucket, folder) = job_output_folder(&output_uri, &job_arn);
        let keys = aws.list_keys(bucket, &folder).await?;
        let manifest_key = keys
            .iter()
            .find(|k| k.ends_with("manifest.json.out"))
            .cloned();
        let mut output_keys: Vec<String> = keys
            .into_iter()
            .filter(|k| k.ends_with(".out") && !k.ends_with("manifest.json.out"))
            .collect();
        output_keys.sort();
        let mut outputs = Vec::new();
        let mut manifest = None;
        let mut progress = Progress::transfer(Stage::Downloading, &config.job_name, &job_arn);
        progress.status = Some(details.status.clone());
        progress.total = details.total_record_count;
        match &config.output_dir {
            Some(dir) => {
                for (i, key) in output_keys.iter().enumerate() {
                    let suffix = if i == 0 {
                        String::new()
                    } else {
                        format!("_{i}")
                    };
                    let path = dir.join(format!("{}_out{suffix}.jsonl", config.job_name));
                    let (bytes, lines) = aws.download_to(bucket, key, &path).await?;
                    progress.bytes += bytes;
                    progress.processed += lines;
                    config.report(&progress);
                    outputs.push(Stored::File(path));
                }
                if let Some(key) = &manifest_key {
                    let path = dir.join(format!("{}_manifest.json", config.job_name));
                    aws.download_to(bucket, key, &path).await?;
                    manifest = Some(Stored::File(path));
                }
            }
            None => {
                for key in &output_keys {
                    let bytes = aws.get_bytes(bucket, key).await?;
                    progress.bytes += bytes.len() as u64;
                    progress.processed += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
                    config.report(&progress);
                    outputs.push(Stored::Memory(bytes));
                }
                if let Some(key) = &manifest_key {
                    manifest = Some(Stored::Memory(aws.get_bytes(bucket, key).await?));
                }
            }
        }
        tracing::info!(job_arn = %job_arn, files = outputs.len(), "results downloaded");
        Ok(Inferer {
            config,
            state: Downloaded {
                job_arn,
                details,
                record_ids,
                outputs,
                manifest,
            },
            _mode: PhantomData,
        })
    }
}

fn read_stored(stored: &Stored) -> Result<Box<dyn BufRead + '_>, Error> {
    Ok(match stored {
        Stored::Memory(bytes) => Box::new(bytes.as_slice()),
        Stored::File(path) => {
            let file = std::fs::File::open(path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            Box::new(std::io::BufReader::new(file))
        }
    })
}

impl<O: OutputMode, S: State> Inferer<O, S> {
    /// One result per input record, in input order, joined on `recordId` (Bedrock does not
    /// keep the order). A record absent from the output is [`RecordError::Missing`]; error
    /// records, malformed lines and outputs that do not parse are their own `RecordError`s.
    pub fn load_results(self) -> Result<BatchResults<O::Value>, Error>
    where
        S: CanLoad,
    {
        let loaded = self.load_parts()?;
        let Loaded {
            record_ids,
            found,
            manifest,
            ..
        } = loaded;
        let found = found
            .into_iter()
            .map(|(id, (outcome, _usage))| (id, outcome))
            .collect();
        let records = jsonl::join(&record_ids, found);
        Ok(BatchResults { manifest, records })
    }

    /// The parsed outputs by record id, the record ids in input order and the manifest, not
    /// joined yet.
    pub(crate) fn load_parts(self) -> Result<Loaded<O::Value>, Error>
    where
        S: CanLoad,
    {
        let Downloaded {
            job_arn,
            record_ids,
            outputs,
            manifest,
            details,
            ..
        } = self.state.into_downloaded();
        let tool = self.config.output_tool::<O>();
        let adapter = &self.config.adapter;
        let mut found = HashMap::with_capacity(record_ids.len());
        let (mut successes, mut errors) = (0u64, 0u64);
        // An output for a record that was never submitted is reported, not merged.
        let known: HashSet<&str> = record_ids.iter().map(String::as_str).collect();
        let mut unknown = Vec::new();
        for stored in &outputs {
            for (index, line) in read_stored(stored)?.lines().enumerate() {
                let line = line.map_err(|source| Error::Io {
                    path: "job output".into(),
                    source,
                })?;
                if line.trim().is_empty() {
                    continue;
                }
                // The common line goes the fast way: no `Value` tree for the answer.
                if let Some((record_id, outcome, usage)) =
                    O::parse_fast(adapter.as_ref(), &line, tool.as_ref())
                {
                    if !known.contains(record_id.as_ref()) {
                        unknown.push(record_id.into_owned());
                        continue;
                    }
                    successes += 1;
                    found.insert(record_id.into_owned(), (outcome, usage));
                    continue;
                }
                let parsed = jsonl::parse_output_line(&line);
                if let OutputLine::Output { record_id, .. }
                | OutputLine::Error { record_id, .. }
                | OutputLine::Malformed { record_id, .. } = &parsed
                    && !known.contains(record_id.as_str())
                {
                    unknown.push(record_id.clone());
                    continue;
                }
                let (record_id, outcome) = match parsed {
                    OutputLine::Output {
                        record_id,
                        model_output,
                    } => {
                        successes += 1;
                        let usage = adapter.usage(&model_output);
                        (
                            record_id,
                            (
                                O::parse(adapter.as_ref(), model_output, tool.as_ref()),
                                usage,
                            ),
                        )
                    }
                    OutputLine::Error { record_id, error } => {
                        errors += 1;
                        (record_id, (Err(error), None))
                    }
                    OutputLine::Malformed { record_id, message } => (
                        record_id,
                        (Err(RecordError::MalformedOutput { message }), None),
                    ),
                    OutputLine::Unreadable { message } => {
                        tracing::warn!(line = index + 1, %message, "output line skipped");
                        continue;
                    }
                };
                found.insert(record_id, outcome);
            }
        }
        drop(known);
        if !unknown.is_empty() {
            report_unknown(&job_arn, &unknown);
        }
        let manifest = match &manifest {
            Some(stored) => {
                let mut text = String::new();
                read_stored(stored)?
                    .read_to_string(&mut text)
                    .map_err(|source| Error::Io {
                        path: "manifest.json.out".into(),
                        source,
                    })?;
                serde_json::from_str(&text).map_err(|err| Error::Aws {
                    operation: "manifest.json.out",
                    code: "MalformedManifest".into(),
                    message: err.to_string(),
                })?
            }
            // No manifest (an expired job): count what there is.
            None => Manifest {
                total_record_count: details
                    .total_record_count
                    .unwrap_or(record_ids.len() as u64),
                processed_record_count: successes + errors,
                success_record_count: successes,
                error_record_count: errors,
                ..Manifest::default()
            },
        };
        Ok(Loaded {
            record_ids,
            found,
            manifest,
            unknown: unknown.len() as u64,
        })
    }
}

/// A job's parsed output, before it is joined to the input.
pub(crate) struct Loaded<V> {
    pub(crate) record_ids: Arc<Vec<String>>,
    /// Outcomes of the job's own records only; outputs for unknown ids are reported and dropped.
    pub(crate) found: HashMap<String, (Result<V, RecordError>, Option<crate::Usage>)>,
    pub(crate) manifest: Manifest,
    /// How many outputs named a record id that is not in the input.
    pub(crate) unknown: u64,
}

/// Outputs whose record id is not in the input are reported, never merged into the results.
fn report_unknown(job_arn: &str, ids: &[String]) {
    tracing::warn!(
        job_arn,
        count = ids.len(),
        first = ?ids.iter().take(5).collect::<Vec<_>>(),
        "the job output has records that are not in its input; they are ignored"
    );
}

async fn recover<O: OutputMode>(
    job_arn: &str,
    region: &str,
    sdk_config: Option<SdkConfig>,
) -> Result<Recovered<O>, Error> {
    names::check_job_arn(job_arn)?;
    let sdk = sdk_config_or_default(sdk_config).await;
    let aws = Aws::new(&sdk, region, None, None);
    let details = aws.describe_job(job_arn).await?;
    let (bucket, _) = split_s3_uri(&details.output_uri);
    let adapter = if details.converse {
        Arc::new(ConverseAdapter) as Arc<dyn crate::ModelProviderAdapter>
    } else {
        ModelAdapterRegistry::get_adapter(&details.model_id)
    };
    let config = Arc::new(JobConfig {
        model_name: details.model_id.clone(),
        bucket: bucket.to_owned(),
        region: region.to_owned(),
        job_name: details.job_name.clone(),
        role_arn: details.role_arn.clone(),
        timeout_hours: details
            .timeout_hours
            .and_then(|h| u32::try_from(h).ok())
            .unwrap_or(24),
        output_dir: None,
        aws,
        adapter,
        invocation_type: if details.converse {
            crate::InvocationType::Converse
        } else {
            crate::InvocationType::InvokeModel
        },
        limits: super::ShardLimits::default(),
        max_concurrent_jobs: 10,
        tags: Vec::new(),
        kms_key_id: None,
        vpc: None,
        progress: None,
        tool: None,
    });
    let (input_uri, output_uri) = (details.input_uri.clone(), details.output_uri.clone());
    Ok(if details.status.is_finished() {
        Recovered::Finished(Inferer {
            config,
            state: Finished {
                job_arn: details.job_arn.clone(),
                input_uri,
                output_uri,
                record_ids: None,
                details,
            },
            _mode: PhantomData,
        })
    } else {
        Recovered::Running(Inferer {
            config,
            state: Submitted {
                job_arn: details.job_arn.clone(),
                input_uri,
                output_uri,
                record_ids: None,
                last: Some(details),
            },
            _mode: PhantomData,
        })
    })
}

impl Inferer<Untyped, Ready> {
    /// Rebuilds an untyped inferer from a job's ARN after the process that created it died.
    /// Nothing local is needed: the job's settings come from Bedrock, its records from the
    /// input in S3.
    pub async fn recover_details_from_job_arn(
        job_arn: &str,
        region: &str,
        sdk_config: Option<SdkConfig>,
    ) -> Result<Recovered<Untyped>, Error> {
        recover(job_arn, region, sdk_config).await
    }

    /// The job as Bedrock describes it.
    pub async fn check_for_existing_job(
        job_arn: &str,
        region: &str,
        sdk_config: Option<SdkConfig>,
    ) -> Result<JobDetails, Error> {
        names::check_job_arn(job_arn)?;
        let sdk = sdk_config_or_default(sdk_config).await;
        Aws::new(&sdk, region, None, None)
            .describe_job(job_arn)
            .await
    }
}

impl<T: BatchOutput + Send + 'static> Inferer<Structured<T>, Ready> {
    /// Rebuilds a structured inferer from a job's ARN after the process that created it died;
    /// results are parsed into `T`.
    pub async fn recover_structured_job(
        job_arn: &str,
        region: &str,
        sdk_config: Option<SdkConfig>,
    ) -> Result<Recovered<Structured<T>>, Error> {
        recover(job_arn, region, sdk_config).await
    }
}
