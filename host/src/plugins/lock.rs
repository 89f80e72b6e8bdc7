//! Plugin pinning: a lock file lists the plugin libraries a project uses with the
//! SHA-256 of each. While a lock is in force, a library is loaded only when it is
//! listed under its name and its bytes still hash to the recorded digest, and it
//! is checked before it is opened (opening a library runs its code).

use std::{
    fs,
    io::{self, Read},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::LoadError;

/// The default lock file, looked for in the working directory.
pub const DEFAULT_LOCK_FILE: &str = "mmhost.lock";

/// One pinned library.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockedPlugin {
    pub name: String,
    pub version: String,
    /// Absolute path of the library.
    pub path: PathBuf,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
}

/// A lock file's contents.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PluginLock {
    #[serde(rename = "plugin", default)]
    pub plugins: Vec<LockedPlugin>,
    /// Where it was read from (not stored).
    #[serde(skip)]
    pub file: PathBuf,
}

impl PluginLock {
    /// Reads the lock file at `path`.
    pub fn read(path: &Path) -> Result<Self, LoadError> {
        let invalid = |reason: String| LoadError::Lock {
            lock: path.to_path_buf(),
            reason,
        };
        let text = fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
        let mut lock: Self = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        lock.file = path.to_path_buf();
        Ok(lock)
    }

    /// Writes the lock atomically as TOML.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let body = toml::to_string(self).map_err(io::Error::other)?;
        let text = format!(
            "# mmhost plugin lock: the plugin libraries in use and their SHA-256.\n\
             # Written by `mmhost plugins lock`; while this file is present, other or\n\
             # changed libraries are refused.\n{body}"
        );
        crate::atomic::write(path, text.as_bytes())
    }

    /// The library pinned for plugin `name`, verified: it must exist and hash to
    /// the recorded digest.
    pub fn verified(&self, name: &str) -> Result<&LockedPlugin, LoadError> {
        let entry = self
            .plugins
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| LoadError::NotLocked {
                name: name.to_string(),
                lock: self.file.clone(),
            })?;
        self.check(entry)?;
        Ok(entry)
    }

    /// Verifies that `entry`'s library still hashes to its digest.
    pub fn check(&self, entry: &LockedPlugin) -> Result<(), LoadError> {
        let actual = sha256_file(&entry.path).map_err(|e| LoadError::LockedMissing {
            name: entry.name.clone(),
            path: entry.path.clone(),
            lock: self.file.clone(),
            reason: e.to_string(),
        })?;
        if actual != entry.sha256 {
            return Err(LoadError::LockMismatch {
                name: entry.name.clone(),
                path: entry.path.clone(),
                lock: self.file.clone(),
                expected: entry.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }
}

/// Hex SHA-256 of the file at `path`.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Refuses a library file, or a directory holding it, that anyone may write:
/// another user could replace the code this process is about to run.
pub fn check_permissions(path: &Path) -> Result<(), LoadError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let canonical = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = canonical
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for (what, target) in [("file", canonical.as_path()), ("directory", dir.as_path())] {
            let Ok(meta) = fs::metadata(target) else {
                continue;
            };
            if meta.permissions().mode() & 0o002 != 0 {
                return Err(LoadError::Insecure {
                    path: path.to_path_buf(),
                    reason: format!(
                        "the {what} {} is world-writable (mode {:o}); remove write access \
                         for others (chmod o-w)",
                        target.display(),
                        meta.permissions().mode() & 0o7777
                    ),
                });
            }
        }
    }
    Ok(())
}
