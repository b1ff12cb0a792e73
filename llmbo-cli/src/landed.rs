//! `llmbo watch --results FILE`: each record's result appended as it lands. The file is the
//! record of what was written: a watch started again reads the ids it holds, cuts a line a
//! killed watch left half-written, and appends only the records not there yet.

use std::collections::HashSet;
use std::io::{BufRead, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use llmbo::BatchRun;
use llmbo::mode::Untyped;
use serde_json::Value;

use crate::context::Failure;
use crate::download::{checked, result_line};

/// A results file open for appending.
pub struct Appender {
    path: PathBuf,
    file: std::fs::File,
    written: HashSet<String>,
    validator: Option<jsonschema::Validator>,
}

impl Appender {
    /// Opens `path` (created private if new), keeping the ids its whole lines hold and cutting
    /// a last line without its newline.
    pub fn open(path: &Path, schema: Option<&Value>) -> Result<Self, Failure> {
        let io = |err: std::io::Error| {
            Failure::Failed(format!(
                "the results file {} cannot be used: {err}",
                path.display()
            ))
        };
        let validator = match schema {
            Some(schema) => Some(jsonschema::validator_for(schema).map_err(|err| {
                Failure::Failed(format!("the run's output schema does not compile: {err}"))
            })?),
            None => None,
        };
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        let mut written = HashSet::new();
        let mut whole = 0u64;
        let mut reader = std::io::BufReader::new(&file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line).map_err(io)?;
            if read == 0 || line.last() != Some(&b'\n') {
                break;
            }
            let id = serde_json::from_slice::<Value>(&line)
                .ok()
                .and_then(|v| v.get("recordId")?.as_str().map(str::to_owned));
            match id {
                Some(id) => {
                    written.insert(id);
                    whole += read as u64;
                }
                // A line that is not one of ours: not a results file to append to.
                None => {
                    return Err(Failure::Usage(format!(
                        "{} holds a line that is not a record's result; give a new file or one \
                         an earlier `watch --results` wrote",
                        path.display()
                    )));
                }
            }
        }
        drop(reader);
        // A line cut by a kill goes; its record is written again whole.
        file.set_len(whole).map_err(io)?;
        file.seek(std::io::SeekFrom::End(0)).map_err(io)?;
        Ok(Appender {
            path: path.to_owned(),
            file,
            written,
            validator,
        })
    }

    /// How many records the file holds.
    pub fn len(&self) -> usize {
        self.written.len()
    }

    /// Appends the record's line unless the file holds it already; one write a line, so a
    /// kill leaves whole lines and at most one cut one.
    pub fn append(&mut self, mut record: llmbo::RecordResult<Value>) -> Result<bool, Failure> {
        if self.written.contains(&record.record_id) {
            return Ok(false);
        }
        checked(self.validator.as_ref(), &mut record);
        let mut line = serde_json::to_vec(&result_line(&record))
            .map_err(|err| Failure::Failed(format!("a result cannot be written: {err}")))?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|err| {
            Failure::Failed(format!("{} cannot be written: {err}", self.path.display()))
        })?;
        self.written.insert(record.record_id);
        Ok(true)
    }
}

/// Streams the run's records as they land into `path`; how many were appended.
pub async fn follow(
    run: BatchRun<Untyped>,
    path: PathBuf,
    interval: Duration,
) -> Result<usize, Failure> {
    let schema = run.run_record().settings.tool.map(|tool| tool.input_schema);
    let mut out = Appender::open(&path, schema.as_ref())?;
    let before = out.len();
    let mut stream = run.stream_as_they_land(interval);
    while let Some(record) = stream.next().await {
        out.append(record?)?;
    }
    out.file
        .sync_all()
        .map_err(|err| Failure::Failed(format!("{} cannot be written: {err}", path.display())))?;
    Ok(out.len() - before)
}
