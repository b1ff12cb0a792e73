//! The first step: each record's request prepared and spooled, checked, and planned into
//! jobs (`prepare_requests`: one; `prepare_run`: as many as it needs); or all at once
//! (`start_run`, `auto`), on demand when there are too few for a job.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::record::RunShared;
use super::spool::{JobCount, Spool, Spooler, plan};
use super::state::{Prepared, Ready, Uploaded};
use super::{Inferer, OutputMode};
use crate::error::Error;
use crate::model_input::ModelInput;
use crate::output::BatchResults;

impl<O: OutputMode> Inferer<O, Ready> {
    /// Turns each `(record id, input)` into the model's request body, with the output tool of
    /// a structured job, for **one** Bedrock job. Every record is checked first (ids, requests,
    /// the minimum and maximum sizes of a job), so a job that cannot be made fails here, before
    /// anything is uploaded; for more records than one job holds, use
    /// [`prepare_run`](Self::prepare_run). The requests go to a private spool file, not memory.
    pub fn prepare_requests<I, K>(self, inputs: I) -> Result<Inferer<O, Prepared>, Error>
    where
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        let spool = self.spool(inputs)?;
        self.planned(spool, JobCount::One)
    }

    /// Prepares every request of a run and plans its jobs; nothing is uploaded. Every record
    /// is checked first (ids, requests, the minimum and maximum sizes), so a run that cannot
    /// be made fails here.
    ///
    /// Memory stays flat in the number of records: `inputs` is read once, each request is
    /// written to a private spool file as it is prepared (only its size and a 64-bit hash of
    /// its id are kept, to plan the jobs and refuse duplicate ids); each job's JSONL is then
    /// streamed from the spool to S3 in 8 MiB parts by
    /// [`push_requests_to_s3`](Inferer::push_requests_to_s3).
    pub fn prepare_run<I, K>(self, inputs: I) -> Result<Inferer<O, Prepared>, Error>
    where
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        let spool = self.spool(inputs)?;
        self.planned(spool, JobCount::Any)
    }

    /// As [`prepare_run`](Self::prepare_run), with the inputs from an async
    /// [`Stream`](futures_core::Stream) (a database cursor, a channel, a file read line by
    /// line): each record is prepared and spooled as it arrives, so the inputs are never all
    /// in memory either.
    pub async fn prepare_run_stream<St, K>(self, inputs: St) -> Result<Inferer<O, Prepared>, Error>
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
        let spool = spooler.finish()?.checked(self.config.skip_checks)?;
        self.planned(spool, JobCount::Any)
    }

    /// Prepares and uploads every job of the run and records it in S3, without creating the
    /// jobs yet: [`prepare_run`](Self::prepare_run) then
    /// [`push_requests_to_s3`](Inferer::push_requests_to_s3).
    pub async fn start_run<I, K>(self, inputs: I) -> Result<Inferer<O, Uploaded>, Error>
    where
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        self.prepare_run(inputs)?.push_requests_to_s3().await
    }

    /// Runs every step: prepare, upload, create, poll every `poll_interval`, download, load.
    ///
    /// A run larger than one job allows (`max_records_per_job`, `max_input_bytes_per_job`) is
    /// split into jobs `<job name>-1`, `-2`, … of even size, at most `max_concurrent_jobs` in
    /// flight, and merged back: one result per input record, in input order, and one combined
    /// manifest. The records of a job that fails become
    /// [`RecordError::JobFailed`](crate::error::RecordError::JobFailed) while the other jobs' results
    /// are returned; when every job failed, the failure is the error, as with the steps. The
    /// run record is kept in S3, so a run whose process died can be finished with
    /// [`BatchRun::resume`](Inferer::resume).
    pub async fn auto<I, K>(
        self,
        inputs: I,
        poll_interval: Duration,
    ) -> Result<BatchResults<O::Value>, Error>
    where
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        if let Some(below) = self.config.settings.on_demand_below {
            let spool = self.spool(inputs)?;
            if spool.sizes.len() < below {
                super::preflight::check_budget(&self.config, &spool)?;
                return self.on_demand(spool).await;
            }
            return self
                .planned(spool, JobCount::Any)?
                .push_requests_to_s3()
                .await?
                .create()
                .await?
                .finish(poll_interval)
                .await;
        }
        self.start_run(inputs).await?.finish(poll_interval).await
    }

    /// A run under `on_demand_below`: every record through `bedrock-runtime`, in input order.
    async fn on_demand(self, spool: Spool) -> Result<BatchResults<O::Value>, Error> {
        let records =
            crate::files::off_runtime("reading the spooled requests", move || read_spooled(spool))
                .await??;
        let count = records.len();
        tracing::info!(records = count, job_name = %self.job_name(), "answering on demand");
        let concurrency = self.config.settings.on_demand_concurrency.unwrap_or(8);
        let answered = super::on_demand::answer_recorded::<O>(
            &self.config,
            &self.run,
            "ondemand",
            records,
            concurrency,
        )
        .await?;
        let mut manifest = crate::manifest::Manifest {
            total_record_count: count as u64,
            processed_record_count: count as u64,
            ..crate::manifest::Manifest::default()
        };
        let (mut input_tokens, mut output_tokens) = (0, 0);
        let records = answered
            .into_iter()
            .map(|(record_id, (outcome, usage))| {
                if let Some(usage) = usage {
                    input_tokens = u64::saturating_add(input_tokens, usage.input_tokens);
                    output_tokens = u64::saturating_add(output_tokens, usage.output_tokens);
                }
                match &outcome {
                    Err(crate::error::RecordError::Bedrock { .. }) => {
                        manifest.error_record_count += 1
                    }
                    _ => manifest.success_record_count += 1,
                }
                crate::output::RecordResult { record_id, outcome }
            })
            .collect();
        manifest.input_token_count = Some(input_tokens);
        manifest.output_token_count = Some(output_tokens);
        Ok(BatchResults { manifest, records })
    }

    fn spool<I, K>(&self, inputs: I) -> Result<Spool, Error>
    where
        I: IntoIterator<Item = (K, ModelInput)>,
        K: Into<String>,
    {
        let mut spooler = Spooler::new::<O>(&self.config)?;
        for (record_id, input) in inputs {
            spooler.push(record_id.into(), &input)?;
        }
        spooler.finish()?.checked(self.config.skip_checks)
    }

    fn planned(self, spool: Spool, jobs: JobCount) -> Result<Inferer<O, Prepared>, Error> {
        super::preflight::check_budget(&self.config, &spool)?;
        let (record, planned) = plan(&self.config, spool, jobs)?;
        tracing::debug!(records = planned.spool.sizes.len(), jobs = record.shards.len(), job_name = %self.job_name(), "requests prepared");
        Ok(Inferer {
            config: self.config,
            run: Arc::new(RunShared::new(record)),
            data: planned,
            _mode: PhantomData,
        })
    }
}

/// The spooled requests as `(record id, modelInput)`, in input order.
fn read_spooled(spool: Spool) -> Result<Vec<(String, serde_json::Value)>, Error> {
    use std::io::{BufRead, Seek};
    let mut file = spool.file;
    let io = |source| Error::Io {
        path: std::env::temp_dir(),
        source,
    };
    file.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
    let mut records = Vec::with_capacity(spool.sizes.len());
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = line.map_err(io)?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut value: serde_json::Value =
            serde_json::from_slice(&line).map_err(|err| Error::Internal {
                what: "reading the spooled requests",
                reason: err.to_string(),
            })?;
        let record_id = value
            .get("recordId")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let body = value
            .get_mut("modelInput")
            .map(serde_json::Value::take)
            .unwrap_or_default();
        records.push((record_id, body));
    }
    Ok(records)
}
