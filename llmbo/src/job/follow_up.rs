//! A follow-up job of a run (a retry, a re-ask round): its spooled requests recorded in the
//! run, uploaded, created once, followed to its end, read, and merged in place; or answered
//! on demand when there are too few for a job.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use std::io::{Seek, Write};

use sha2::{Digest, Sha256};

use super::download::output_dir;
use super::engine::{self, hex};
use super::read;
use super::record::ShardEntry;
use super::results::RunResults;
use super::schedule::PollPace;
use super::spool::read_lines;
use super::state::RunInS3;
use super::{Inferer, OutputMode, names};
use crate::error::{Error, RecordError};
use crate::jsonl;
use crate::status::{JobFailure, JobStatus};

/// The requests of a follow-up job, spooled.
pub(super) struct FollowUp {
    pub(super) spool: std::io::BufWriter<std::fs::File>,
    pub(super) hasher: Sha256,
    pub(super) written: usize,
    pub(super) first_body: Option<serde_json::Value>,
}

/// The SHA-256 of a spool's lines, each with its S3 media relocated to
/// [`ANY_FOLDER`](super::media::ANY_FOLDER) as the job's upload relocates them to its folder;
/// the file back, at its end.
fn folder_free_hash(file: std::fs::File) -> Result<(std::fs::File, String), Error> {
    use std::io::BufRead;
    let mut file = file;
    file.seek(std::io::SeekFrom::Start(0)).map_err(spool_io)?;
    let mut reader = std::io::BufReader::new(file);
    let mut hasher = Sha256::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(spool_io)? == 0 {
            break;
        }
        match super::media::relocated_line(&line, super::media::ANY_FOLDER)? {
            Some(moved) => hasher.update(&moved.line),
            None => hasher.update(&line),
        }
    }
    Ok((reader.into_inner(), hex(&hasher.finalize())))
}

/// What a follow-up job did.
pub(super) struct Sent {
    pub(super) job_arn: String,
    pub(super) records: usize,
    pub(super) padding: usize,
    pub(super) recovered: usize,
}

pub(super) fn spool_io(source: std::io::Error) -> Error {
    Error::Io {
        path: std::env::temp_dir(),
        source,
    }
}

impl<O: OutputMode, S: RunInS3> Inferer<O, S> {
    /// Sends a follow-up job of the run (a retry, a re-ask round): its requests are in
    /// `follow.spool`, under the ids at `positions` of `results`. Filled up to `minimum` with
    /// copies of the first request (ids of llmbo's own, answers dropped) when it has fewer. The
    /// job is named `<run>-<stem>`, recorded in the run before it is created (the same requests
    /// again are the same job, never a second), followed, read, and its answers merged in place
    /// with each record's attempts counted.
    pub(super) async fn send_follow_up(
        &self,
        follow: FollowUp,
        stem: &str,
        minimum: usize,
        mut positions: HashMap<String, usize>,
        results: &mut RunResults<O::Value>,
        poll_interval: Duration,
    ) -> Result<Sent, Error> {
        let FollowUp {
            mut spool,
            mut hasher,
            written,
            first_body,
        } = follow;
        // Padding, with the caller's consent: copies of one request under ids of our own.
        let mut padding = 0;
        if let Some(body) = &first_body {
            let mut line = Vec::new();
            while written + padding < minimum {
                line.clear();
                jsonl::encode_input_line(
                    &format!("{}{padding}", crate::model_input::PADDING_ID_PREFIX),
                    body,
                    &mut line,
                );
                hasher.update(&line);
                spool.write_all(&line).map_err(spool_io)?;
                padding += 1;
            }
        }
        let spooled_hash = hex(&hasher.finalize());
        let mut file = spool.into_inner().map_err(|e| spool_io(e.into_error()))?;
        // In a run whose records name S3 media, the job's lines name copies in a folder of
        // its own, named only once it is recorded: its hash is of the lines with that folder
        // set aside, which any process reading the input from S3 can check.
        let input_hash = if self
            .run_record()
            .shards
            .iter()
            .any(|e| e.input_folder.is_some())
        {
            let (back, hash) = tokio::task::spawn_blocking(move || folder_free_hash(file))
                .await
                .map_err(|err| Error::Internal {
                    what: "hashing a follow-up's requests",
                    reason: err.to_string(),
                })??;
            file = back;
            hash
        } else {
            spooled_hash.clone()
        };
        let entry = self
            .reserve_follow_up(stem, &input_hash, &spooled_hash, written + padding)
            .await?;
        let job_arn = match &entry.job_arn {
            Some(arn) => {
                tracing::info!(job_arn = %arn, "this retry was sent before: following that job");
                arn.clone()
            }
            None => {
                // Reserved in the record before the first byte: a second process with other
                // requests takes another name, one with the same requests uploads the same
                // bytes under the same name, and the idempotency token makes it one job.
                file.seek(std::io::SeekFrom::Start(0)).map_err(spool_io)?;
                let key = self
                    .config
                    .store
                    .key_of(&entry.input_uri)
                    .unwrap_or_default();
                let input = self.config.url(key);
                let mut upload = self.config.backend.put_input(&input);
                let mut relocation = super::media::Relocation::of(&self.config, &entry);
                let mut reader = std::io::BufReader::new(file);
                let mut chunk = Vec::new();
                loop {
                    let (back, buffer, lines) =
                        read_lines(reader, chunk, usize::MAX, crate::backend::INPUT_CHUNK).await?;
                    reader = back;
                    chunk = buffer;
                    if lines == 0 {
                        break;
                    }
                    if let Some(relocation) = &mut relocation {
                        relocation.chunk(&mut chunk).await?;
                    }
                    upload.write(&chunk).await?;
                }
                upload.finish().await?;
                if self.run.refresh(&self.config).await?.cancelled {
                    return Err(self.cancelled());
                }
                tracing::info!(job_name = %entry.job_name, records = written, padding, "retrying failed records");
                let arn = engine::create_job(&self.config, &entry).await?;
                let record = self
                    .run
                    .modify(&self.config, |record| {
                        if let Some(retry) = record
                            .retries
                            .iter_mut()
                            .find(|e| e.job_name == entry.job_name)
                            && retry.job_arn.is_none()
                        {
                            retry.job_arn = Some(arn.clone());
                        }
                    })
                    .await?;
                if record.cancelled {
                    tracing::warn!(job_arn = %arn, "the run was cancelled while this job was created: stopping it");
                    super::Jobs::of(Arc::clone(&self.config.backend))
                        .stop(&arn)
                        .await?;
                    return Err(self.cancelled());
                }
                arn
            }
        };
        let details = self.follow_job(&job_arn, poll_interval).await?;
        if let Some(failure) = JobFailure::of(&details) {
            return Err(failure.into_error());
        }
        let (dir, _temp) = output_dir(None)?;
        let mut in_memory = engine::IN_MEMORY_BYTES;
        let output =
            engine::download_job(&self.config, &entry, &details, &dir, &mut in_memory).await?;
        let mut loaded = read::read_job_async::<O>(Arc::clone(&self.config), output).await?;
        let mut recovered = 0;
        // Each record by its place in the job's input; one the input does not name has no line.
        let job_ids = Arc::clone(&loaded.record_ids);
        let taken: Vec<_> = job_ids
            .iter()
            .enumerate()
            .filter_map(|(place, id)| Some((positions.remove(id)?, loaded.take_at(place))))
            .collect();
        for (index, taken) in taken
            .into_iter()
            .chain(positions.drain().map(|(_, index)| (index, None)))
        {
            let (outcome, usage) = taken.unwrap_or((Err(RecordError::Missing), None));
            recovered += usize::from(outcome.is_ok());
            if let Some(record) = results.results.records.get_mut(index) {
                record.outcome = outcome;
            }
            if let Some(info) = results.info.get_mut(index) {
                info.attempts = info.attempts.saturating_add(1);
                if usage.is_some() {
                    info.usage = usage;
                }
            }
        }
        Ok(Sent {
            job_arn,
            records: written,
            padding,
            recovered,
        })
    }

    /// Answers `bodies` on demand, as the set of kind `stem` (`retry1`, `reask2`), and merges
    /// the answers at `positions` of `results`, each record's attempts counted; how many now
    /// have a value.
    pub(super) async fn merge_on_demand(
        &self,
        stem: &str,
        bodies: Vec<(String, serde_json::Value)>,
        positions: &HashMap<String, usize>,
        results: &mut RunResults<O::Value>,
    ) -> Result<usize, Error> {
        let concurrency = self.config.settings.on_demand_concurrency.unwrap_or(8);
        tracing::info!(records = bodies.len(), job_name = %self.job_name(), "answering on demand");
        let answered = super::on_demand::answer_recorded::<O>(
            &self.config,
            &self.run,
            stem,
            bodies,
            concurrency,
        )
        .await?;
        let mut recovered = 0;
        for (id, (outcome, usage)) in answered {
            let Some(&index) = positions.get(&id) else {
                continue;
            };
            recovered += usize::from(outcome.is_ok());
            if let Some(record) = results.results.records.get_mut(index) {
                record.outcome = outcome;
            }
            if let Some(info) = results.info.get_mut(index) {
                info.attempts = info.attempts.saturating_add(1);
                info.on_demand = true;
                if usage.is_some() {
                    info.usage = usage;
                }
            }
        }
        Ok(recovered)
    }

    /// The error of a follow-up asked of a cancelled run.
    pub(super) fn cancelled(&self) -> Error {
        Error::Cancelled {
            job_name: self.job_name().to_owned(),
            run_uri: self.run_uri(),
        }
    }

    /// The run record's entry for a follow-up of kind `stem` with these requests: the one
    /// recorded before (by this or another process) while its job may still give answers, or
    /// else a new one, under the first free name, written to the record before anything is
    /// uploaded. A recorded job that ended Failed, Stopped or Expired is history: asking again
    /// sends a new job. A cancelled run is an error.
    ///
    /// `spooled_hash` is the hash of the requests as spooled, which an llmbo before 0.1's
    /// folder-free hash recorded for a run with S3 media: an entry of it is these requests too.
    async fn reserve_follow_up(
        &self,
        stem: &str,
        input_hash: &str,
        spooled_hash: &str,
        records: usize,
    ) -> Result<ShardEntry, Error> {
        let ours = |hash: &str| hash == input_hash || hash == spooled_hash;
        let run = self.job_name().to_owned();
        let record = self.run.refresh(&self.config).await?;
        if record.cancelled {
            return Err(self.cancelled());
        }
        let of_stem = |entries: &[ShardEntry], name: &str| {
            (1..=entries.len() + 1).any(|n| names::follow_up_name(&run, stem, n) == name)
        };
        // The recorded entries of these requests whose jobs ended without answers to wait for.
        let mut history: Vec<String> = Vec::new();
        for existing in record
            .retries
            .iter()
            .filter(|e| ours(&e.input_hash) && of_stem(&record.retries, &e.job_name))
        {
            let Some(arn) = &existing.job_arn else {
                continue;
            };
            let status = self.config.backend.describe(arn).await?.status;
            if matches!(
                status,
                JobStatus::Failed | JobStatus::Stopping | JobStatus::Stopped | JobStatus::Expired
            ) {
                tracing::info!(job_arn = %arn, %status, "an earlier try of these records ended {status}: sending a new job");
                history.push(existing.job_name.clone());
            }
        }
        let config = self.config.clone();
        let live = |entries: &[ShardEntry]| {
            entries
                .iter()
                .rev()
                .find(|e| {
                    ours(&e.input_hash)
                        && of_stem(entries, &e.job_name)
                        && !history.contains(&e.job_name)
                })
                .cloned()
        };
        if let Some(entry) = live(&record.retries) {
            return Ok(entry);
        }
        let record = self
            .run
            .modify(&self.config, |record| {
                if record.cancelled || live(&record.retries).is_some() {
                    return;
                }
                let taken = |name: &str| record.retries.iter().any(|e| e.job_name == name);
                let mut n = 1;
                while taken(&names::follow_up_name(&run, stem, n)) {
                    n += 1;
                }
                let job_name = names::follow_up_name(&run, stem, n);
                // A run whose records name S3 media gives its retries folders too.
                let s3_media = record.shards.iter().any(|e| e.input_folder.is_some());
                let (input_uri, input_folder) =
                    super::spool::input_location(&config, &job_name, s3_media);
                record.retries.push(ShardEntry {
                    input_uri,
                    input_folder,
                    job_name,
                    input_hash: input_hash.to_owned(),
                    records,
                    job_arn: None,
                });
            })
            .await?;
        if record.cancelled {
            return Err(self.cancelled());
        }
        let entry = live(&record.retries).ok_or(Error::Internal {
            what: "reserving a follow-up job",
            reason: "the entry written is not in the run record".into(),
        })?;
        names::check_job_name(&entry.job_name)?;
        Ok(entry)
    }

    /// Polls one job until it ends.
    async fn follow_job(
        &self,
        job_arn: &str,
        interval: Duration,
    ) -> Result<crate::status::JobDetails, Error> {
        let mut pace = PollPace::new(interval, self.config.poll);
        loop {
            match self.config.backend.describe(job_arn).await {
                Ok(details) => {
                    self.config.report(&crate::progress::Progress::of(&details));
                    if details.status.is_finished() {
                        return Ok(details);
                    }
                    pace.answered();
                }
                Err(err) => pace.failed(
                    err,
                    &format!("the retry job {job_arn} still runs: recover it from its ARN later"),
                )?,
            }
            pace.sleep().await;
        }
    }
}
