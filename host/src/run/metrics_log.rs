//! `metrics.jsonl`: one JSON object per line, per step and per epoch.

use std::{
    fs::{File, OpenOptions},
    io::{self, Seek, SeekFrom, Write},
    path::Path,
};

use serde::Serialize;

/// An append-only metrics file.
pub struct MetricsLog {
    file: File,
    bytes: u64,
}

impl MetricsLog {
    /// A new, empty log at `path` (replacing any file there).
    pub fn create(path: &Path) -> io::Result<Self> {
        Ok(Self {
            file: File::create(path)?,
            bytes: 0,
        })
    }

    /// The log at `path` cut back to its first `bytes` bytes (what a checkpoint
    /// recorded), so that the lines of steps after that checkpoint are dropped.
    pub fn resume(path: &Path, bytes: u64) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let length = file.metadata()?.len();
        if length < bytes {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("holds {length} bytes, but the checkpoint recorded {bytes}"),
            ));
        }
        file.set_len(bytes)?;
        file.sync_all()?;
        let mut file = file;
        file.seek(SeekFrom::Start(bytes))?;
        Ok(Self { file, bytes })
    }

    /// Appends one line.
    pub fn append(&mut self, entry: &impl Serialize) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.bytes += line.len() as u64;
        Ok(())
    }

    /// Flushes to disk; returns the length to record in a checkpoint.
    pub fn sync(&mut self) -> io::Result<u64> {
        self.file.sync_data()?;
        Ok(self.bytes)
    }
}
