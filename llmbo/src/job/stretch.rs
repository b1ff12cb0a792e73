//! A job's output files cut into stretches of whole lines, to be read at once, and the lines
//! of one stretch read in order, as bytes. An output is on disk, or in memory when it was
//! read straight from the response (see `engine::download_job`).

use std::io::{BufRead, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::LineMap;
use crate::error::Error;

/// One output file of a job, as downloaded.
#[derive(Debug, Clone)]
pub(crate) enum OutputData {
    /// In a local file.
    File(PathBuf),
    /// In memory, read straight from the response.
    Memory(Arc<Vec<u8>>),
    /// In memory as a batch API serves it, with how its lines become Bedrock's: the reader
    /// reads the common answer from the API's own line (see `line::read_served`).
    Served(Arc<Vec<u8>>, LineMap),
}

impl OutputData {
    /// Its size in bytes.
    pub(crate) fn len(&self) -> Result<u64, Error> {
        match self {
            OutputData::File(path) => Ok(std::fs::metadata(path).map_err(io_error(path))?.len()),
            OutputData::Memory(bytes) | OutputData::Served(bytes, _) => Ok(bytes.len() as u64),
        }
    }

    /// Where it is, for messages.
    pub(crate) fn name(&self) -> String {
        match self {
            OutputData::File(path) => path.display().to_string(),
            OutputData::Memory(_) | OutputData::Served(..) => "the output read into memory".into(),
        }
    }

    /// Its bytes whole (a manifest).
    pub(crate) fn read_all(&self) -> Result<Vec<u8>, Error> {
        match self {
            OutputData::File(path) => std::fs::read(path).map_err(io_error(path)),
            OutputData::Memory(bytes) => Ok(bytes.to_vec()),
            OutputData::Served(bytes, map) => Ok(crate::backend::map_all(map, bytes)),
        }
    }

    /// How its lines become Bedrock's, when they are a batch API's own.
    pub(crate) fn line_map(&self) -> Option<&LineMap> {
        match self {
            OutputData::Served(_, map) => Some(map),
            _ => None,
        }
    }

    /// The file it is in, if on disk.
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            OutputData::File(path) => Some(path),
            OutputData::Memory(_) | OutputData::Served(..) => None,
        }
    }
}

pub(super) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// A stretch of one output file: the lines that start in `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stretch {
    pub(super) file: usize,
    pub(super) start: u64,
    pub(super) end: u64,
}

/// The output files cut into about `parts` stretches in all, each file into its share by size
/// (at least one), each cut moved to the start of the next line, in line order.
pub(super) fn stretches(outputs: &[OutputData], parts: usize) -> Result<Vec<Stretch>, Error> {
    let sizes = outputs
        .iter()
        .map(OutputData::len)
        .collect::<Result<Vec<u64>, Error>>()?;
    let total = sizes.iter().sum::<u64>().max(1);
    let parts = parts.max(1) as u64;
    let mut all = Vec::new();
    for (file, (data, &size)) in outputs.iter().zip(&sizes).enumerate() {
        let share = (parts * size).div_ceil(total).clamp(1, parts);
        let mut start = 0;
        for cut in 1..share {
            let next = line_start_from(data, size * cut / share)?.max(start);
            all.push(Stretch {
                file,
                start,
                end: next,
            });
            start = next;
        }
        all.push(Stretch {
            file,
            start,
            end: u64::MAX,
        });
    }
    Ok(all)
}

/// The first offset at or after `at` where a line starts (the end of the file if none).
fn line_start_from(data: &OutputData, at: u64) -> Result<u64, Error> {
    if at == 0 {
        return Ok(0);
    }
    match data {
        OutputData::Memory(bytes) | OutputData::Served(bytes, _) => {
            let from = usize::try_from(at - 1)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let rest = bytes.get(from..).unwrap_or_default();
            Ok(match memchr::memchr(b'\n', rest) {
                Some(newline) => (from + newline + 1) as u64,
                None => bytes.len() as u64,
            })
        }
        OutputData::File(path) => {
            let mut file = std::fs::File::open(path).map_err(io_error(path))?;
            file.seek(SeekFrom::Start(at - 1)).map_err(io_error(path))?;
            let mut reader = std::io::BufReader::with_capacity(64 << 10, file);
            let mut skipped = Vec::new();
            let read = reader
                .read_until(b'\n', &mut skipped)
                .map_err(io_error(path))?;
            Ok(at - 1 + read as u64)
        }
    }
}

/// Calls `each(offset, line)` for every line that starts in the stretch, as bytes (with its
/// newline).
pub(super) fn each_line(
    data: &OutputData,
    stretch: Stretch,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    let path = match data {
        OutputData::Memory(bytes) | OutputData::Served(bytes, _) => {
            let mut offset = usize::try_from(stretch.start).unwrap_or(usize::MAX);
            let end = usize::try_from(stretch.end).unwrap_or(usize::MAX);
            while offset < end && offset < bytes.len() {
                let rest = bytes.get(offset..).unwrap_or_default();
                let len = memchr::memchr(b'\n', rest).map_or(rest.len(), |n| n + 1);
                each(offset as u64, rest.get(..len).unwrap_or_default())?;
                offset += len;
            }
            return Ok(());
        }
        OutputData::File(path) => path,
    };
    let mut file = std::fs::File::open(path).map_err(io_error(path))?;
    file.seek(SeekFrom::Start(stretch.start))
        .map_err(io_error(path))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut buffer = Vec::new();
    let mut offset = stretch.start;
    while offset < stretch.end {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(io_error(path))?;
        if read == 0 {
            break;
        }
        each(offset, &buffer)?;
        offset += read as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{OutputData, each_line, stretches};

    /// Several files share the parts by size, and every line of every file is read once, in
    /// order, by the stretch it starts in.
    #[test]
    fn files_share_the_parts_and_every_line_is_read_once() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let mut paths = Vec::new();
        let mut expected = Vec::new();
        for (name, lines) in [("big", 300), ("small", 100), ("empty", 0)] {
            let text: String = (0..lines).map(|i| format!("{name} line {i}\n")).collect();
            let path = dir.path().join(name);
            std::fs::write(&path, &text)?;
            paths.push(path);
            expected.push(text.lines().map(str::to_owned).collect::<Vec<_>>());
        }
        // On disk, and the same bytes in memory: the same stretches, the same lines.
        let on_disk: Vec<OutputData> = paths.iter().cloned().map(OutputData::File).collect();
        let in_memory = paths
            .iter()
            .map(|p| Ok(OutputData::Memory(std::sync::Arc::new(std::fs::read(p)?))))
            .collect::<Result<Vec<_>, std::io::Error>>()?;
        for outputs in [on_disk, in_memory] {
            for parts in [1, 2, 4, 9] {
                let cut = stretches(&outputs, parts)?;
                assert!(cut.len() <= parts + paths.len(), "{parts} parts: {cut:?}");
                let mut read = vec![Vec::new(); paths.len()];
                for stretch in &cut {
                    each_line(&outputs[stretch.file], *stretch, |_, line| {
                        read[stretch.file]
                            .push(String::from_utf8_lossy(line).trim_end().to_owned());
                        Ok(())
                    })?;
                }
                assert_eq!(read, expected, "{parts} parts");
                let per_file = |file| cut.iter().filter(|s| s.file == file).count();
                assert!(per_file(0) >= per_file(1) && per_file(2) == 1, "{cut:?}");
            }
        }
        Ok(())
    }
}
