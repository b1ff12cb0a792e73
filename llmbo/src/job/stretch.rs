//! A job's output files cut into stretches of whole lines, to be read at once, and the lines
//! of one stretch read in order, as bytes.

use std::io::{BufRead, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::Error;

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
pub(super) fn stretches(outputs: &[PathBuf], parts: usize) -> Result<Vec<Stretch>, Error> {
    let sizes = outputs
        .iter()
        .map(|path| Ok(std::fs::metadata(path).map_err(io_error(path))?.len()))
        .collect::<Result<Vec<u64>, Error>>()?;
    let total = sizes.iter().sum::<u64>().max(1);
    let parts = parts.max(1) as u64;
    let mut all = Vec::new();
    for (file, (path, &size)) in outputs.iter().zip(&sizes).enumerate() {
        let share = (parts * size).div_ceil(total).clamp(1, parts);
        let mut start = 0;
        for cut in 1..share {
            let next = line_start_from(path, size * cut / share)?.max(start);
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
fn line_start_from(path: &Path, at: u64) -> Result<u64, Error> {
    if at == 0 {
        return Ok(0);
    }
    let mut file = std::fs::File::open(path).map_err(io_error(path))?;
    file.seek(SeekFrom::Start(at - 1)).map_err(io_error(path))?;
    let mut reader = std::io::BufReader::with_capacity(64 << 10, file);
    let mut skipped = Vec::new();
    let read = reader
        .read_until(b'\n', &mut skipped)
        .map_err(io_error(path))?;
    Ok(at - 1 + read as u64)
}

/// Calls `each(offset, line)` for every line that starts in the stretch, as bytes.
pub(super) fn each_line(
    path: &Path,
    stretch: Stretch,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
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
    use super::{each_line, stretches};

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
        for parts in [1, 2, 4, 9] {
            let cut = stretches(&paths, parts)?;
            assert!(cut.len() <= parts + paths.len(), "{parts} parts: {cut:?}");
            let mut read = vec![Vec::new(); paths.len()];
            for stretch in &cut {
                each_line(&paths[stretch.file], *stretch, |_, line| {
                    read[stretch.file].push(String::from_utf8_lossy(line).trim_end().to_owned());
                    Ok(())
                })?;
            }
            assert_eq!(read, expected, "{parts} parts");
            let per_file = |file| cut.iter().filter(|s| s.file == file).count();
            assert!(per_file(0) >= per_file(1) && per_file(2) == 1, "{cut:?}");
        }
        Ok(())
    }
}
