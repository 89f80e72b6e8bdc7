//! The run directory and its checkpoints (layout in the `run` module).

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::atomic;

/// A run directory operation that failed.
#[derive(Debug, Error)]
pub enum RunDirError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

impl RunDirError {
    /// An I/O failure at `path`.
    pub fn io(path: &Path) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Checkpoints kept besides the newest one.
const KEEP_PREVIOUS: usize = 1;

/// Name prefix of a checkpoint being written (`.tmp-step-00000042`).
const TEMPORARY_PREFIX: &str = ".tmp-";

/// Where the training loop stands, saved with every checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostState {
    /// Optimizer steps done.
    pub global_step: usize,
    /// Epoch of the next step (0-based).
    pub epoch: usize,
    /// Index of the next batch within `epoch`.
    pub next_batch: usize,
    pub steps_per_epoch: usize,
    /// Length of `metrics.jsonl` when the checkpoint was taken; a resumed run
    /// drops what was written after it.
    pub metrics_bytes: u64,
    /// Running sums of the current epoch: training loss over its steps, steps and
    /// materials.
    pub epoch_loss_sum: f64,
    pub epoch_steps: usize,
    pub epoch_materials: usize,
    /// Training seconds before this checkpoint (excluding restarts).
    pub elapsed_s: f64,
    /// The encoders saved, in run order.
    pub encoders: Vec<SavedEncoder>,
}

impl HostState {
    /// The state before the first step of a run of `steps_per_epoch` steps an epoch.
    pub fn new(steps_per_epoch: usize, encoders: Vec<SavedEncoder>) -> Self {
        Self {
            global_step: 0,
            epoch: 0,
            next_batch: 0,
            steps_per_epoch,
            metrics_bytes: 0,
            epoch_loss_sum: 0.0,
            epoch_steps: 0,
            epoch_materials: 0,
            elapsed_s: 0.0,
            encoders,
        }
    }

    /// Whether a checkpoint is due inside the epoch: every `every` steps (0: never),
    /// unless the epoch just ended (its end writes one anyway).
    pub fn mid_epoch_checkpoint_due(&self, every: usize) -> bool {
        every > 0
            && self.global_step.is_multiple_of(every)
            && self.next_batch < self.steps_per_epoch
    }

    /// Moves to the start of the next epoch, clearing the epoch's running sums.
    pub fn end_epoch(&mut self) {
        self.epoch += 1;
        self.next_batch = 0;
        self.epoch_loss_sum = 0.0;
        self.epoch_steps = 0;
        self.epoch_materials = 0;
    }
}

/// One encoder in a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedEncoder {
    pub modality: String,
    pub plugin: String,
    pub version: String,
}

/// One encoder's state, as the plugin serialized it.
pub struct EncoderState {
    pub modality: String,
    /// safetensors bytes.
    pub weights: Vec<u8>,
    /// Optimizer state bytes (empty before the first step).
    pub optimizer: Vec<u8>,
}

/// A checkpoint found on disk.
pub struct Checkpoint {
    pub dir: PathBuf,
    pub state: HostState,
}

impl Checkpoint {
    /// The saved weights of `modality`.
    pub fn weights(&self, modality: &str) -> Result<Vec<u8>, RunDirError> {
        let path = self.dir.join(format!("{modality}.safetensors"));
        fs::read(&path).map_err(RunDirError::io(&path))
    }

    /// The saved optimizer state of `modality`.
    pub fn optimizer(&self, modality: &str) -> Result<Vec<u8>, RunDirError> {
        let path = self.dir.join(format!("{modality}.optimizer"));
        fs::read(&path).map_err(RunDirError::io(&path))
    }

    /// A file the caller saved beside the encoders (see [`RunDir::save`]).
    pub fn file(&self, name: &str) -> Result<Vec<u8>, RunDirError> {
        let path = self.dir.join(name);
        fs::read(&path).map_err(RunDirError::io(&path))
    }
}

/// A checkpoint written by [`RunDir::stage`] and not yet committed.
#[derive(Debug)]
#[must_use = "a staged checkpoint is invisible until committed"]
pub struct StagedCheckpoint {
    temporary: PathBuf,
    name: String,
}

/// A run's output directory.
#[derive(Clone, Debug)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory at `root` (created by [`RunDir::create`]).
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    /// Creates the directory tree and removes checkpoints a killed run left half-written.
    pub fn create(&self) -> Result<(), RunDirError> {
        let checkpoints = self.checkpoints_dir();
        fs::create_dir_all(&checkpoints).map_err(RunDirError::io(&checkpoints))?;
        for entry in fs::read_dir(&checkpoints).map_err(RunDirError::io(&checkpoints))? {
            let path = entry.map_err(RunDirError::io(&checkpoints))?.path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"))
            {
                fs::remove_dir_all(&path).map_err(RunDirError::io(&path))?;
            }
        }
        Ok(())
    }

    /// Removes a previous run's files (only those a run writes) from the directory.
    pub fn clear(&self) -> Result<(), RunDirError> {
        for file in [
            self.config_path(),
            self.run_info_path(),
            self.metrics_path(),
            self.plot_path(),
        ] {
            match fs::remove_file(&file) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(RunDirError::io(&file)(e))
                }
                _ => {}
            }
        }
        self.remove_checkpoints()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    pub fn run_info_path(&self) -> PathBuf {
        self.root.join("run.json")
    }

    pub fn metrics_path(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }

    pub fn plot_path(&self) -> PathBuf {
        self.root.join("loss.png")
    }

    /// Removes every checkpoint (a finished fine-tuning keeps only its model files).
    pub fn remove_checkpoints(&self) -> Result<(), RunDirError> {
        let checkpoints = self.checkpoints_dir();
        match fs::remove_dir_all(&checkpoints) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(RunDirError::io(&checkpoints)(e)),
            _ => Ok(()),
        }
    }

    fn checkpoints_dir(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    fn latest_path(&self) -> PathBuf {
        self.checkpoints_dir().join("latest")
    }

    /// The newest complete checkpoint, if any.
    pub fn latest(&self) -> Result<Option<Checkpoint>, RunDirError> {
        let pointer = self.latest_path();
        let name = match fs::read_to_string(&pointer) {
            Ok(name) => name.trim().to_string(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(RunDirError::io(&pointer)(e)),
        };
        let dir = self.checkpoints_dir().join(&name);
        let host = dir.join("host.json");
        let text = fs::read_to_string(&host).map_err(RunDirError::io(&host))?;
        let state = serde_json::from_str(&text).map_err(|e| RunDirError::Invalid {
            path: host.clone(),
            reason: e.to_string(),
        })?;
        Ok(Some(Checkpoint { dir, state }))
    }

    /// Writes a checkpoint of `state`, `encoders` and the caller's own `files`
    /// (`(name, bytes)`, e.g. a fine-tuning head) and makes it the latest; older
    /// checkpoints beyond the previous one are removed.
    pub fn save(
        &self,
        state: &HostState,
        encoders: &[EncoderState],
        files: &[(&str, &[u8])],
    ) -> Result<PathBuf, RunDirError> {
        let staged = self.stage(state, encoders, files)?;
        self.commit(staged)
    }

    /// The first half of [`RunDir::save`]: every file of the checkpoint written and
    /// synced in a temporary directory beside the checkpoints, nothing of it visible
    /// yet. A process killed before [`RunDir::commit`] leaves the previous latest
    /// checkpoint in force; the temporary directory is removed by the next save.
    pub fn stage(
        &self,
        state: &HostState,
        encoders: &[EncoderState],
        files: &[(&str, &[u8])],
    ) -> Result<StagedCheckpoint, RunDirError> {
        let name = format!("step-{:08}", state.global_step);
        let temporary = self
            .checkpoints_dir()
            .join(format!("{TEMPORARY_PREFIX}{name}"));
        if temporary.exists() {
            fs::remove_dir_all(&temporary).map_err(RunDirError::io(&temporary))?;
        }
        fs::create_dir_all(&temporary).map_err(RunDirError::io(&temporary))?;
        for encoder in encoders {
            let weights = temporary.join(format!("{}.safetensors", encoder.modality));
            atomic::write_synced(&weights, &encoder.weights).map_err(RunDirError::io(&weights))?;
            let optimizer = temporary.join(format!("{}.optimizer", encoder.modality));
            atomic::write_synced(&optimizer, &encoder.optimizer)
                .map_err(RunDirError::io(&optimizer))?;
        }
        for (name, bytes) in files {
            let path = temporary.join(name);
            atomic::write_synced(&path, bytes).map_err(RunDirError::io(&path))?;
        }
        let host = temporary.join("host.json");
        let json = serde_json::to_vec_pretty(state).map_err(|e| RunDirError::Invalid {
            path: host.clone(),
            reason: e.to_string(),
        })?;
        atomic::write_synced(&host, &json).map_err(RunDirError::io(&host))?;
        atomic::sync_dir(&temporary).map_err(RunDirError::io(&temporary))?;
        Ok(StagedCheckpoint { temporary, name })
    }

    /// The second half of [`RunDir::save`]: renames a staged checkpoint into place,
    /// points `latest` at it and prunes older checkpoints and leftover temporary
    /// directories.
    pub fn commit(&self, staged: StagedCheckpoint) -> Result<PathBuf, RunDirError> {
        let checkpoints = self.checkpoints_dir();
        let StagedCheckpoint { temporary, name } = staged;
        let dir = checkpoints.join(&name);
        if dir.exists() {
            // A checkpoint of this very step from a run that was later killed.
            fs::remove_dir_all(&dir).map_err(RunDirError::io(&dir))?;
        }
        fs::rename(&temporary, &dir).map_err(RunDirError::io(&dir))?;
        atomic::sync_dir(&checkpoints).map_err(RunDirError::io(&checkpoints))?;
        let pointer = self.latest_path();
        atomic::write(&pointer, name.as_bytes()).map_err(RunDirError::io(&pointer))?;
        self.prune(&name)?;
        Ok(dir)
    }

    /// Removes all complete checkpoints but `latest` and the `KEEP_PREVIOUS` before
    /// it, and the temporary directories of saves that never committed.
    fn prune(&self, latest: &str) -> Result<(), RunDirError> {
        let checkpoints = self.checkpoints_dir();
        let entries: Vec<String> = fs::read_dir(&checkpoints)
            .map_err(RunDirError::io(&checkpoints))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let mut names: Vec<&String> = entries
            .iter()
            .filter(|n| n.starts_with("step-") && n.as_str() <= latest)
            .collect();
        names.sort();
        let keep = KEEP_PREVIOUS + 1;
        let stale = names.len().saturating_sub(keep);
        let abandoned = entries.iter().filter(|n| n.starts_with(TEMPORARY_PREFIX));
        for old in names.into_iter().take(stale).chain(abandoned) {
            let path = checkpoints.join(old);
            fs::remove_dir_all(&path).map_err(RunDirError::io(&path))?;
        }
        Ok(())
    }
}
