//! Atomic file writes: a reader (or a process restarted after SIGKILL) sees either
//! the old file or the complete new one, never a partial one.

use std::{
    fs::{self, File},
    io::{self, Write},
    path::Path,
};

/// Writes `bytes` to `path` through a synced temporary file in the same directory
/// renamed over it, then syncs the directory.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent(path);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let temporary = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    write_synced(&temporary, bytes)?;
    fs::rename(&temporary, path)?;
    sync_dir(dir)
}

/// Writes and fsyncs `path` (not atomic by itself).
pub fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Fsyncs a directory so renames and new entries in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
