//! A private temp file beside the file a command writes, renamed over it once complete: a
//! download that fails halfway leaves the previous file as it was.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::context::Failure;

/// How many names a temp file tries before giving up (each taken name is passed over).
const TRIES: u32 = 64;

/// A temp file `.NAME.partial-<pid>-<n>` beside `path`, opened with `create_new` (so a file
/// or a symlink planted under its name is never followed or truncated) and mode 0600,
/// renamed over `path` by [`Partial::commit`], removed if dropped before.
pub(crate) struct Partial {
    pub(crate) file: std::io::BufWriter<std::fs::File>,
    temp: Option<PathBuf>,
    path: PathBuf,
}

impl Partial {
    pub(crate) fn create(path: &Path) -> Result<Self, Failure> {
        let usage = |err: std::io::Error| Failure::Usage(format!("{}: {err}", path.display()));
        let name = path
            .file_name()
            .ok_or_else(|| Failure::Usage(format!("{} names no file", path.display())))?;
        let mut last = None;
        for n in 0..TRIES {
            let temp = path.with_file_name(format!(
                ".{}.partial-{}-{n}",
                name.to_string_lossy(),
                std::process::id()
            ));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&temp) {
                Ok(file) => {
                    return Ok(Partial {
                        file: std::io::BufWriter::with_capacity(1 << 20, file),
                        temp: Some(temp),
                        path: path.to_owned(),
                    });
                }
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => last = Some(err),
                Err(err) => return Err(usage(err)),
            }
        }
        Err(usage(last.unwrap_or_else(|| {
            std::io::Error::other("no free name for a temp file")
        })))
    }

    /// The error of a write to this file, naming the file the user asked for.
    pub(crate) fn io(&self, err: std::io::Error) -> Failure {
        Failure::Usage(format!("{}: {err}", self.path.display()))
    }

    /// Flushes and syncs the file, renames it over the target, and syncs the folder, so the
    /// rename itself survives a crash.
    pub(crate) fn commit(mut self) -> Result<(), Failure> {
        if let Err(err) = self
            .file
            .flush()
            .and_then(|()| self.file.get_ref().sync_all())
        {
            return Err(self.io(err));
        }
        if let Some(temp) = self.temp.take() {
            if let Err(err) = std::fs::rename(&temp, &self.path) {
                let _ = std::fs::remove_file(&temp);
                return Err(self.io(err));
            }
            let folder = match self.path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            // Folders cannot be opened for syncing everywhere (Windows); where they can, a
            // failed sync is an error.
            #[cfg(unix)]
            std::fs::File::open(folder)
                .and_then(|dir| dir.sync_all())
                .map_err(|err| self.io(err))?;
            #[cfg(not(unix))]
            let _ = folder;
        }
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = std::fs::remove_file(temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Symlinks planted under the temp file's first names are passed over, never followed:
    /// what they point at is untouched, and the result lands where it was asked to.
    #[cfg(unix)]
    #[test]
    fn planted_symlinks_are_never_followed() -> Result<(), Box<dyn std::error::Error>> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir()?;
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "keep me")?;
        let out = dir.path().join("results.jsonl");
        for n in 0..3 {
            let name = format!(".results.jsonl.partial-{}-{n}", std::process::id());
            std::os::unix::fs::symlink(&victim, dir.path().join(name))?;
        }
        let mut partial = Partial::create(&out).map_err(|f| format!("{f:?}"))?;
        let temp = partial.temp.clone().ok_or("a temp file")?;
        assert!(!std::fs::symlink_metadata(&temp)?.file_type().is_symlink());
        assert_eq!(
            std::fs::metadata(&temp)?.permissions().mode() & 0o777,
            0o600
        );
        partial.file.write_all(b"line\n")?;
        partial.commit().map_err(|f| format!("{f:?}"))?;
        assert_eq!(std::fs::read_to_string(&victim)?, "keep me");
        assert_eq!(std::fs::read_to_string(&out)?, "line\n");
        assert!(!temp.exists());
        Ok(())
    }

    /// A writer dropped before its commit leaves the old file as it was and no temp file.
    #[test]
    fn a_dropped_writer_leaves_the_old_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let out = dir.path().join("results.jsonl");
        std::fs::write(&out, "old")?;
        let mut partial = Partial::create(&out).map_err(|f| format!("{f:?}"))?;
        partial.file.write_all(b"new")?;
        drop(partial);
        assert_eq!(std::fs::read_to_string(&out)?, "old");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }
}
