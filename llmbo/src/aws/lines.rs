//! An S3 object read line by line, without holding it whole.

use super::s3::read_error;
use crate::error::Error;

/// The lines of an S3 object, read as they arrive.
pub(crate) struct Lines {
    pub(super) reader: Box<dyn tokio::io::AsyncBufRead + Unpin + Send>,
    /// Bucket and key, for errors.
    pub(super) object: (String, String),
}

impl Lines {
    /// The next line with its newline (the last may have none); `None` at the end.
    pub(crate) async fn next_line(&mut self) -> Result<Option<Vec<u8>>, Error> {
        use tokio::io::AsyncBufReadExt;
        let mut line = Vec::new();
        let read = self
            .reader
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| read_error(&self.object.0, &self.object.1, &e))?;
        Ok((read > 0).then_some(line))
    }
}
