//! Blocking copies (local files, wheel members) that hash as they write, with progress
//! relayed to the async side.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::report::{Progress, Reporter};

/// Events from a blocking copy.
pub(crate) enum CopyEvent {
    Start(Option<u64>),
    Done(u64),
}

/// A writer that hashes and counts what it writes to `file`, reporting progress.
pub(crate) struct HashingWriter {
    file: File,
    path: PathBuf,
    hasher: Sha256,
    written: u64,
    events: mpsc::UnboundedSender<CopyEvent>,
}

impl HashingWriter {
    pub(crate) fn create(
        path: &Path,
        events: mpsc::UnboundedSender<CopyEvent>,
    ) -> io::Result<Self> {
        Ok(HashingWriter {
            file: File::create(path)?,
            path: path.to_path_buf(),
            hasher: Sha256::new(),
            written: 0,
            events,
        })
    }

    pub(crate) fn start(&self, total: Option<u64>) {
        let _ = self.events.send(CopyEvent::Start(total));
    }

    /// Copies all of `reader` in, returning the bytes copied.
    pub(crate) fn copy_from(&mut self, reader: &mut dyn Read) -> io::Result<u64> {
        let mut buf = vec![0u8; 256 * 1024];
        let mut n_total = 0;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(n_total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.file
                .write_all(&buf[..n])
                .map_err(|e| WriteError::wrap(&self.path, e))?;
            self.hasher.update(&buf[..n]);
            self.written += n as u64;
            n_total += n as u64;
            let _ = self.events.send(CopyEvent::Done(self.written));
        }
    }

    /// fsyncs and returns (sha256 hex, size).
    pub(crate) fn finish(self) -> io::Result<(String, u64)> {
        self.file
            .sync_all()
            .map_err(|e| WriteError::wrap(&self.path, e))?;
        Ok((hex::encode(self.hasher.finalize()), self.written))
    }
}

/// Marks an I/O error as one of writing the destination (so it is reported as a store
/// error — disk full, permissions — rather than as the source's fault).
#[derive(Debug)]
pub(crate) struct WriteError {
    pub(crate) path: PathBuf,
    pub(crate) error: io::Error,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for WriteError {}

impl WriteError {
    fn wrap(path: &Path, error: io::Error) -> io::Error {
        io::Error::other(WriteError {
            path: path.to_path_buf(),
            error,
        })
    }

    /// Splits an error from a [`HashingWriter`] into write errors and read errors.
    pub(crate) fn take(e: io::Error) -> Result<WriteError, io::Error> {
        if e.get_ref().is_some_and(|inner| inner.is::<WriteError>()) {
            let inner = e
                .into_inner()
                .expect("checked")
                .downcast::<WriteError>()
                .expect("checked");
            Ok(*inner)
        } else {
            Err(e)
        }
    }
}

/// Runs `job` on the blocking pool, relaying its [`CopyEvent`]s to `reporter` until it ends.
pub(crate) async fn run_with_progress<T, F>(reporter: &dyn Reporter, job: F) -> T
where
    T: Send + 'static,
    F: FnOnce(mpsc::UnboundedSender<CopyEvent>) -> T + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = tokio::task::spawn_blocking(move || job(tx));
    let mut progress: Option<Progress<'_>> = None;
    // The channel closes when the job returns and drops its sender.
    while let Some(ev) = rx.recv().await {
        match ev {
            CopyEvent::Start(total) => progress = Some(Progress::start(reporter, total, 0)),
            CopyEvent::Done(n) => {
                if let Some(p) = progress.as_mut() {
                    p.update(n);
                }
            }
        }
    }
    match handle.await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
