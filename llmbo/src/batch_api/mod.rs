//! The batch APIs beside Bedrock, each a [`Backend`](crate::backend::Backend): Anthropic's
//! Message Batches, OpenAI's Batch API and the Gemini API's batch mode. What they share is
//! here: the HTTP client ([`http`]), record ids as `custom_id`s ([`ids`]), and the register of
//! the batches a run made ([`Register`]).
//!
//! These APIs keep no job names and no idempotency tokens of their own (Anthropic's batches
//! carry neither), so llmbo keeps them: before a batch is created, its job name, request
//! token and input are reserved in the run's store, and the batch's id is written there as
//! soon as the API gives it. A create asked again with the same token finds the id; one whose
//! process died between the API's answer and that write finds the batch among the API's
//! newest by its time and size.

#[cfg(feature = "anthropic")]
pub(crate) mod anthropic;
pub(crate) mod create;
#[cfg(feature = "gemini")]
pub(crate) mod gemini;
pub(crate) mod http;
pub(crate) mod ids;
#[cfg(feature = "openai")]
pub(crate) mod openai;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::store::FileStore;
use crate::store::{Expected, Put};

/// One batch a run made, or is making: what llmbo keeps of it in the run's store, at
/// `batches/<job name>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BatchEntry {
    pub(crate) job_name: String,
    /// The request token: the same job asked again has the same one.
    pub(crate) token: String,
    /// llmbo's model id.
    pub(crate) model: String,
    /// The job's input in the store.
    pub(crate) input: String,
    /// The output location the run gave.
    pub(crate) output: String,
    /// Requests in the batch.
    pub(crate) records: u64,
    /// The API's id, once it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) batch_id: Option<String>,
    /// When the create was last begun (Unix seconds), and by which process.
    pub(crate) reserved_at: u64,
    pub(crate) owner: String,
    /// Whether some record ids were sent as hashes (their table is beside the entry).
    #[serde(default)]
    pub(crate) hashed_ids: bool,
}

/// The register of a run store's batches.
#[derive(Debug, Clone)]
pub(crate) struct Register {
    pub(crate) store: Arc<dyn FileStore>,
}

impl Register {
    fn entry_key(job_name: &str) -> String {
        format!("batches/{job_name}.json")
    }

    /// The key of the table of hashed record ids of a job.
    pub(crate) fn ids_key(job_name: &str) -> String {
        format!("batches/{job_name}.ids.jsonl")
    }

    /// The key of a batch id's index entry (an id that is not a plain name is hashed).
    fn index_key(batch_id: &str) -> String {
        format!("batches/by-id/{}.json", ids::custom_id(batch_id))
    }

    /// A job's entry with its version.
    pub(crate) async fn get(&self, job_name: &str) -> Result<Option<(BatchEntry, String)>, Error> {
        let key = Self::entry_key(job_name);
        let Some((bytes, version)) = self.store.get(&key).await? else {
            return Ok(None);
        };
        let entry = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            object: self.store.url(&key),
            reason: e.to_string(),
        })?;
        Ok(Some((entry, version)))
    }

    /// Writes a job's entry if it is as `expected`.
    pub(crate) async fn put(
        &self,
        entry: &BatchEntry,
        expected: Expected<'_>,
    ) -> Result<Put, Error> {
        let body = serde_json::to_vec_pretty(entry).map_err(|e| Error::Internal {
            what: "writing a batch's entry",
            reason: e.to_string(),
        })?;
        self.store
            .put(&Self::entry_key(&entry.job_name), body, expected)
            .await
    }

    /// Records that `batch_id` is `job_name`'s batch (first writer wins; the same pair
    /// written twice is no change).
    pub(crate) async fn index(&self, batch_id: &str, job_name: &str) -> Result<(), Error> {
        let body =
            serde_json::to_vec(&serde_json::json!({ "jobName": job_name })).unwrap_or_default();
        self.store
            .put(&Self::index_key(batch_id), body, Expected::Absent)
            .await?;
        Ok(())
    }

    /// The entry of the job whose batch is `batch_id`, if this store made it.
    pub(crate) async fn by_batch(&self, batch_id: &str) -> Result<Option<BatchEntry>, Error> {
        let Some((bytes, _)) = self.store.get(&Self::index_key(batch_id)).await? else {
            return Ok(None);
        };
        let job_name = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("jobName")?.as_str().map(str::to_owned));
        match job_name {
            Some(name) => Ok(self.get(&name).await?.map(|(entry, _)| entry)),
            None => Ok(None),
        }
    }

    #[cfg(any(feature = "openai", feature = "gemini"))]
    /// Records that an output file of the API is `job_name`'s (OpenAI's output and error
    /// files), so its lines are read with the job's table of record ids.
    pub(crate) async fn index_file(&self, file_id: &str, job_name: &str) -> Result<(), Error> {
        let body =
            serde_json::to_vec(&serde_json::json!({ "jobName": job_name })).unwrap_or_default();
        self.store
            .put(
                &format!("batches/files/{}.json", ids::custom_id(file_id)),
                body,
                Expected::Absent,
            )
            .await?;
        Ok(())
    }

    #[cfg(any(feature = "openai", feature = "gemini"))]
    /// The entry of the job an output file is of, if this store made it.
    pub(crate) async fn by_file(&self, file_id: &str) -> Result<Option<BatchEntry>, Error> {
        let key = format!("batches/files/{}.json", ids::custom_id(file_id));
        let Some((bytes, _)) = self.store.get(&key).await? else {
            return Ok(None);
        };
        let job_name = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("jobName")?.as_str().map(str::to_owned));
        match job_name {
            Some(name) => Ok(self.get(&name).await?.map(|(entry, _)| entry)),
            None => Ok(None),
        }
    }

    /// The table of hashed record ids of the job `entry` is (empty when it sent none, or
    /// when the batch is not this store's).
    pub(crate) async fn table_of(
        &self,
        entry: Option<BatchEntry>,
    ) -> Result<std::collections::HashMap<String, String>, Error> {
        match entry {
            Some(entry) if entry.hashed_ids => self.hashed_ids(&entry.job_name).await,
            _ => Ok(std::collections::HashMap::new()),
        }
    }

    /// The table of a job's record ids sent as hashes, `custom_id` → record id.
    pub(crate) async fn hashed_ids(
        &self,
        job_name: &str,
    ) -> Result<std::collections::HashMap<String, String>, Error> {
        let mut table = std::collections::HashMap::new();
        let url = self.store.url(&Self::ids_key(job_name));
        if self.store.version(&url).await?.is_none() {
            return Ok(table);
        }
        let mut lines = self.store.lines(&url).await?;
        while let Some(line) = lines.next_line().await? {
            if let Ok((custom_id, record_id)) = serde_json::from_slice::<(String, String)>(&line) {
                table.insert(custom_id, record_id);
            }
        }
        Ok(table)
    }

    /// Every job's entry, newest first.
    pub(crate) async fn all(&self) -> Result<Vec<BatchEntry>, Error> {
        let mut entries = Vec::new();
        for key in self.store.list("batches/").await? {
            let Some(name) = key
                .strip_prefix("batches/")
                .and_then(|k| k.strip_suffix(".json"))
                .filter(|n| !n.contains('/'))
            else {
                continue;
            };
            if let Some((entry, _)) = self.get(name).await? {
                entries.push(entry);
            }
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.reserved_at));
        Ok(entries)
    }
}

/// The jobs of a store's register, newest first, as `backend` describes them: those whose
/// name contains `name_contains`, with `status` (llmbo's name for it).
pub(crate) async fn find(
    backend: &dyn crate::backend::Backend,
    register: &Register,
    status: Option<&str>,
    name_contains: Option<&str>,
) -> Result<Vec<crate::status::JobDetails>, Error> {
    let mut found = Vec::new();
    for entry in register.all().await? {
        if name_contains.is_some_and(|part| !entry.job_name.contains(part)) {
            continue;
        }
        let Some(id) = &entry.batch_id else {
            continue;
        };
        let details = backend.describe(id).await?;
        if status.is_none_or(|s| details.status.as_str() == s) {
            found.push(details);
        }
    }
    Ok(found)
}

/// Copies a file as `backend` reads it (a provider's output as Bedrock's lines) to `path`,
/// created private; the bytes and lines written.
pub(crate) async fn download(
    backend: &dyn crate::backend::Backend,
    file: &str,
    path: &std::path::Path,
) -> Result<(u64, u64), Error> {
    use tokio::io::AsyncWriteExt;
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut lines = backend.lines(file).await?;
    let out = crate::files::create_private(path).await.map_err(io)?;
    let mut out = tokio::io::BufWriter::new(out);
    let (mut bytes, mut count) = (0u64, 0u64);
    while let Some(line) = lines.next_line().await? {
        bytes += line.len() as u64;
        count += 1;
        out.write_all(&line).await.map_err(io)?;
    }
    out.flush().await.map_err(io)?;
    Ok((bytes, count))
}

/// A file as `backend` reads it (a provider's output as Bedrock's lines), in memory: `None`
/// when it holds more than `max` bytes (then it is read again, to a file, by [`download`]).
pub(crate) async fn fetch(
    backend: &dyn crate::backend::Backend,
    file: &str,
    max: u64,
) -> Result<Option<Vec<u8>>, Error> {
    backend.lines(file).await?.read_all(max).await
}

/// A file as the provider serves it, in memory, with how its lines become Bedrock's (see
/// [`Backend::fetch_served`](crate::backend::Backend::fetch_served)): `None` as [`fetch`].
pub(crate) async fn fetch_served(
    backend: &dyn crate::backend::Backend,
    file: &str,
    max: u64,
) -> Result<Option<(Vec<u8>, Option<crate::backend::LineMap>)>, Error> {
    backend.lines(file).await?.read_served(max).await
}

/// One line through a batch API's `bedrock_line`, as its tests read it: `None` when it
/// writes nothing.
#[cfg(test)]
#[cfg_attr(
    not(any(feature = "anthropic", feature = "openai", feature = "gemini")),
    allow(dead_code)
)]
pub(crate) fn one_line(
    map: fn(&[u8], &std::collections::HashMap<String, String>, &mut Vec<u8>),
    line: &[u8],
    table: &std::collections::HashMap<String, String>,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    map(line, table, &mut out);
    (!out.is_empty()).then_some(out)
}

/// For the batch APIs' tests: each of `lines` read the fast way as `api` serves it (see
/// [`crate::jsonl::AnswerLine`]) is an answer exactly where `map` makes it Bedrock's answer
/// line, with the same record id (through a table that has `llmbo-h-abc` sent for `a/b`) and
/// the same `modelOutput`; and read
/// without `api`, none but Bedrock's is. How many lines were read the fast way.
#[cfg(test)]
#[cfg_attr(
    not(any(feature = "anthropic", feature = "openai", feature = "gemini")),
    allow(dead_code)
)]
pub(crate) fn served_lines_agree(
    api: crate::jsonl::Served,
    map: fn(&[u8], &std::collections::HashMap<String, String>, &mut Vec<u8>),
    lines: &[&str],
) -> usize {
    use crate::jsonl::{OutputLine, fast_output_line, parse_output_line, reading_served};
    let table = std::collections::HashMap::from([("llmbo-h-abc".to_owned(), "a/b".to_owned())]);
    let table = &table;
    let mut fast = 0;
    for line in lines {
        let read = reading_served(api, || fast_output_line(line));
        let mapped = one_line(map, line.as_bytes(), table);
        let mapped = mapped.as_deref().map(String::from_utf8_lossy);
        // What is not read the fast way the general way reads (an embedding's line, an error).
        if let Some((id, answer)) = read {
            fast += 1;
            let id = table.get(id.as_ref()).map_or(id.as_ref(), String::as_str);
            let expected = OutputLine::Output {
                record_id: id.to_owned(),
                model_output: serde_json::from_str(answer.get()).unwrap_or_default(),
            };
            let converted = mapped.as_deref().map(|m| parse_output_line(m.trim_end()));
            assert_eq!(converted, Some(expected), "{line}");
        }
        // Without the API, only Bedrock's own form is an answer line.
        if !line.contains("\"recordId\"") {
            assert!(fast_output_line(line).is_none(), "{line}");
        }
    }
    fast
}

/// Now, in Unix seconds.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(feature = "anthropic")]
/// Unix seconds as RFC 3339 in UTC to the second (`2026-12-06T10:11:16Z`), the form the APIs
/// give their times in, so the two compare as strings.
pub(crate) fn rfc3339(unix: u64) -> String {
    let days = unix / 86_400;
    let seconds = unix % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

/// A name for this process, different in every process: who holds a reservation.
pub(crate) fn process_owner() -> String {
    use std::sync::OnceLock;
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER
        .get_or_init(|| {
            use std::hash::{BuildHasher, Hasher};
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u32(std::process::id());
            format!("{}-{:016x}", std::process::id(), hasher.finish())
        })
        .clone()
}

#[cfg(all(test, feature = "anthropic"))]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_the_apis_write_them() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_469_076), "2026-12-05T11:11:16Z");
    }
}
