//! Using a trained run (README "Using a trained run"): embeddings of a dataset's
//! materials, cross-modal retrieval, discovery from a target density of states and
//! UMAP maps of the crystal latent space. The `mmhost embed | retrieve | discover |
//! map` commands parse their arguments, call these and print the outcome.

pub mod discover;
pub mod embed;
pub mod map;
pub mod retrieval;
pub mod retrieve;
pub mod spectrum;
pub mod umap;

use std::{
    io,
    path::{Path, PathBuf},
};

use thiserror::Error;

use crate::{
    dataset::{split_of, Dataset, DatasetError, Split},
    plugins::{PluginCallError, PluginSearch},
    run::{Interrupt, ModelError, TrainedRun},
};

use embed::{embed_ids, Embedded};

/// Why a downstream task could not be done.
#[derive(Debug, Error)]
pub enum DownstreamError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Plugin(#[from] PluginCallError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// Input the task cannot use, with what is wrong (file, modality, sizes).
    #[error("{0}")]
    Invalid(String),
}

impl DownstreamError {
    /// An I/O failure at `path`.
    pub fn io(path: &Path) -> impl FnOnce(io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Reports `(modality, done, total)` while materials are embedded.
pub type EmbedProgress<'a> = &'a dyn Fn(&str, usize, usize);

/// A trained run opened on a dataset, with the materials a task uses.
pub struct ModelOnData {
    pub run: TrainedRun,
    pub dataset: Dataset,
    /// The chosen split (`None`: all materials).
    pub split: Option<Split>,
    /// The materials of the chosen split under the run's seed and fractions, in
    /// dataset order.
    pub ids: Vec<String>,
    /// Stops [`ModelOnData::embed`] between batches (never, unless requested).
    pub interrupt: Interrupt,
}

impl ModelOnData {
    /// Opens the run at `model` on `db` (default: the dataset the run trained on).
    pub fn open(
        model: &Path,
        db: Option<&Path>,
        split: Option<Split>,
    ) -> Result<Self, DownstreamError> {
        let run = TrainedRun::open(model)?;
        let db = db.map_or_else(|| run.info().db.clone(), Path::to_path_buf);
        if !db.is_file() {
            return Err(DownstreamError::Invalid(format!(
                "{}: no such dataset",
                db.display()
            )));
        }
        let dataset = Dataset::open(&db)?;
        let (seed, fractions) = (run.split_seed(), run.splits());
        let ids = dataset
            .material_ids()?
            .into_iter()
            .filter(|id| split.is_none_or(|s| split_of(id, seed, fractions) == s))
            .collect();
        Ok(Self {
            run,
            dataset,
            split,
            ids,
            interrupt: Interrupt::default(),
        })
    }

    /// Embeds those of `ids` that have a `modality` record with the run's trained
    /// encoder, on all cores; records that cannot be featurized are logged and
    /// listed in [`Embedded::failed`].
    pub fn embed(
        &self,
        ids: &[String],
        search: &PluginSearch,
        modality: &str,
        progress: EmbedProgress<'_>,
    ) -> Result<Embedded, DownstreamError> {
        let (mut encoder, source) = self.run.encoder(modality, search, &self.dataset)?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let embedded = embed_ids(
            &self.dataset,
            &mut encoder,
            &source,
            ids,
            64,
            threads,
            &mut |done, total| {
                progress(modality, done, total);
                self.interrupt.flow()
            },
        )?;
        for failure in &embedded.failed {
            tracing::warn!("not embedded: {failure}");
        }
        Ok(embedded)
    }

    /// "the test split" or "all materials", for messages.
    pub fn materials_name(&self) -> String {
        self.split
            .map_or_else(|| "all materials".to_string(), |s| format!("the {s} split"))
    }

    /// The reduced formula of material `id` (empty when unknown).
    pub fn formula(&self, id: &str) -> Result<String, DownstreamError> {
        Ok(self
            .dataset
            .material(id)?
            .and_then(|m| m.formula)
            .unwrap_or_default())
    }
}
