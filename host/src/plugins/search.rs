//! The plugin search path and finding plugins on it.

use std::{
    env,
    path::{Path, PathBuf},
};

use super::{LoadError, PluginLibrary, PluginLock, DEFAULT_LOCK_FILE};
use crate::settings::Settings;

/// Environment variable listing plugin directories (separated like `PATH`).
pub const PLUGIN_PATH_VAR: &str = "MMHOST_PLUGIN_PATH";

/// The directories searched for plugin libraries, in order: `MMHOST_PLUGIN_PATH`,
/// the configured directories, then the directory of the running executable.
#[derive(Clone, Debug)]
pub struct PluginSearch {
    dirs: Vec<PathBuf>,
    /// When set, only the pinned libraries load.
    lock: Option<PluginLock>,
}

/// Result of scanning the search path: the plugins found and the libraries that
/// could not be used, with the reason.
pub struct Scan {
    pub plugins: Vec<PluginLibrary>,
    pub skipped: Vec<LoadError>,
}

impl PluginSearch {
    /// The search path with `configured` directories between the environment's and
    /// the executable's.
    pub fn new(configured: &[PathBuf]) -> Self {
        let mut dirs: Vec<PathBuf> = env::var_os(PLUGIN_PATH_VAR)
            .map(|paths| env::split_paths(&paths).collect())
            .unwrap_or_default();
        dirs.extend(configured.iter().cloned());
        if let Some(exe_dir) = env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            dirs.push(exe_dir);
        }
        let mut unique = Vec::new();
        for dir in dirs {
            if !dir.as_os_str().is_empty() && !unique.contains(&dir) {
                unique.push(dir);
            }
        }
        Self {
            dirs: unique,
            lock: None,
        }
    }

    /// The search path every command uses: `MMHOST_PLUGIN_PATH`, the `extra`
    /// directories (`--plugin-dir`), the configuration's `plugins.dir`, then the
    /// executable's directory; without the lock.
    pub fn unlocked(settings: &Settings, extra: &[PathBuf]) -> Self {
        let mut dirs = extra.to_vec();
        dirs.extend(settings.plugins.dir.iter().cloned());
        Self::new(&dirs)
    }

    /// [`PluginSearch::unlocked`] with the lock file in force when there is one:
    /// `plugins.lock` of the configuration (which must then exist), or
    /// [`DEFAULT_LOCK_FILE`] in the working directory.
    pub fn configured(settings: &Settings, extra: &[PathBuf]) -> Result<Self, LoadError> {
        let path = lock_path(settings);
        let lock = if path.is_file() {
            Some(PluginLock::read(&path)?)
        } else if settings.plugins.lock.is_some() {
            return Err(LoadError::Lock {
                lock: path,
                reason: "plugins.lock names it, but it does not exist".into(),
            });
        } else {
            None
        };
        Ok(Self::unlocked(settings, extra).with_lock(lock))
    }

    /// Searches `dir` after every other directory (a program embedding the host,
    /// whose executable is not beside the plugins, names where they are).
    pub fn with_last(mut self, dir: PathBuf) -> Self {
        if !self.dirs.contains(&dir) {
            self.dirs.push(dir);
        }
        self
    }

    /// Exactly these directories, nothing from the environment.
    pub fn only(dirs: Vec<PathBuf>) -> Self {
        Self { dirs, lock: None }
    }

    /// Enforces `lock`: only libraries it pins, unchanged, load.
    pub fn with_lock(mut self, lock: Option<PluginLock>) -> Self {
        self.lock = lock;
        self
    }

    /// The lock in force, if any.
    pub fn lock(&self) -> Option<&PluginLock> {
        self.lock.as_ref()
    }

    /// The pinned library of `name`, verified and inside the search directories.
    fn find_locked(&self, lock: &PluginLock, name: &str) -> Result<PluginLibrary, LoadError> {
        let as_path = std::fs::canonicalize(name).ok();
        let entry = match lock
            .plugins
            .iter()
            .find(|p| as_path.as_ref() == Some(&p.path))
        {
            Some(by_path) => {
                lock.check(by_path)?;
                by_path
            }
            None => lock.verified(name)?,
        };
        let inside = |dir: &PathBuf| {
            let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
            entry.path.parent() == Some(dir.as_path())
        };
        if !self.dirs.iter().any(inside) && as_path.as_ref() != Some(&entry.path) {
            return Err(LoadError::Insecure {
                path: entry.path.clone(),
                reason: "it is outside the plugin directories (MMHOST_PLUGIN_PATH, \
                         --plugin-dir, plugins.dir, the executable's directory)"
                    .into(),
            });
        }
        PluginLibrary::load(&entry.path)
    }

    /// The directories searched, in order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Loads every shared library in the search directories.
    pub fn scan(&self) -> Scan {
        let mut scan = Scan {
            plugins: Vec::new(),
            skipped: Vec::new(),
        };
        for path in self.candidates() {
            if let Some(lock) = &self.lock {
                let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                match lock.plugins.iter().find(|p| p.path == canonical) {
                    Some(entry) => {
                        if let Err(e) = lock.check(entry) {
                            scan.skipped.push(e);
                            continue;
                        }
                    }
                    None => {
                        scan.skipped.push(LoadError::Lock {
                            lock: lock.file.clone(),
                            reason: format!("{} is not pinned; not loaded", path.display()),
                        });
                        continue;
                    }
                }
            }
            match PluginLibrary::load(&path) {
                Ok(plugin) => scan.plugins.push(plugin),
                Err(e) => scan.skipped.push(e),
            }
        }
        scan
    }

    /// The plugin called `name` (the first on the search path), or the library at
    /// `name` when it is a path to a file.
    pub fn find(&self, name: &str) -> Result<PluginLibrary, LoadError> {
        if let Some(lock) = &self.lock {
            return self.find_locked(lock, name);
        }
        let as_path = Path::new(name);
        if as_path.is_file() {
            return PluginLibrary::load(as_path);
        }
        let mut broken = Vec::new();
        for path in self.candidates() {
            match PluginLibrary::load(&path) {
                Ok(plugin) if plugin.description().name == name => return Ok(plugin),
                Ok(_) => {}
                Err(e @ LoadError::NotAPlugin { .. }) => tracing::debug!("{e}"),
                Err(e) => broken.push(e.to_string()),
            }
        }
        Err(LoadError::NotFound {
            name: name.to_string(),
            searched: self
                .dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            broken: if broken.is_empty() {
                String::new()
            } else {
                format!("; libraries that failed to load: {}", broken.join("; "))
            },
        })
    }

    /// Shared-library files in the search directories, sorted within each directory.
    fn candidates(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for dir in &self.dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                tracing::debug!(dir = %dir.display(), "plugin directory not readable");
                continue;
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && p.extension().and_then(|e| e.to_str())
                            == Some(env::consts::DLL_EXTENSION)
                })
                .collect();
            files.sort();
            out.extend(files);
        }
        out
    }
}

/// The lock file a configuration puts in force: `plugins.lock`, or
/// [`DEFAULT_LOCK_FILE`] in the working directory.
pub fn lock_path(settings: &Settings) -> PathBuf {
    settings
        .plugins
        .lock
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_LOCK_FILE))
}
