//! A run directory on disk, for pretraining and fine-tuning alike: its layout,
//! description, metrics log and checkpoints, and a finished run opened as a model.
//!
//! ```text
//! RUN/config.toml          resolved configuration the run uses (also on resume)
//! RUN/run.json             dataset, modalities, loss, plugins
//! RUN/metrics.jsonl        one JSON line per step and per epoch
//! RUN/loss.png             loss curves
//! RUN/checkpoints/step-N/  MODALITY.safetensors, MODALITY.optimizer, host.json
//! RUN/checkpoints/latest   name of the newest complete checkpoint
//! ```
//! A checkpoint is written into a temporary directory, synced, renamed into place,
//! and only then named by `latest` (itself replaced atomically): a run killed at
//! any moment leaves the previous checkpoint intact and named.

pub mod checkpoint;
pub mod clock;
pub mod info;
pub mod interrupt;
pub mod metrics_log;
pub mod trained;

pub use checkpoint::{
    Checkpoint, EncoderState, HostState, RunDir, RunDirError, SavedEncoder, StagedCheckpoint,
};
pub use clock::RunClock;
pub use info::{read_run, write_run, EncoderInfo, RunInfo};
pub use interrupt::Interrupt;
pub use metrics_log::MetricsLog;
pub use trained::{check_plugin_version, ModelError, TrainedRun};
