//! Reading a body: 1 MiB chunks from a blocking thread.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;

use super::{CHUNK, Objects};

/// An object's bytes as they are read.
pub(crate) struct ReadStream {
    receiver: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
}

impl futures_core::Stream for ReadStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx)
    }
}

impl Objects {
    /// The object's bytes from `start`, `len` of them, in 1 MiB chunks read by a blocking
    /// thread. The file is opened here, under the caller's read lock; the stream reads the
    /// open file, so a later write of the key (a rename) does not change what it sends.
    pub(crate) fn read(&self, path: &Path, start: u64, len: u64) -> io::Result<ReadStream> {
        let mut file = File::open(path)?;
        file.seek(io::SeekFrom::Start(start))?;
        let (sender, receiver) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(2);
        tokio::task::spawn_blocking(move || {
            let mut left = len;
            while left > 0 {
                let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
                let mut buf = vec![0; want];
                let result = file.read(&mut buf).and_then(|n| {
                    if n == 0 {
                        Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the object is shorter than it was",
                        ))
                    } else {
                        buf.truncate(n);
                        Ok(Bytes::from(buf))
                    }
                });
                let failed = result.is_err();
                if let Ok(bytes) = &result {
                    left -= bytes.len() as u64;
                }
                if sender.blocking_send(result).is_err() || failed {
                    break; // the client went away, or the read failed (sent)
                }
            }
        });
        Ok(ReadStream { receiver })
    }
}
