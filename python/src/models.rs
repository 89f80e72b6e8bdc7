//! Trained models: a fine-tuned property model (`predict`) and a pretraining run or
//! pretrained model (`embed`, per modality, of handed-over inputs or of a dataset's
//! materials).

use std::{collections::HashMap, path::PathBuf, sync::Mutex};

use mmhost::{
    dataset::Split,
    downstream::ModelOnData,
    finetune::FinetunedModel as Finetuned,
    inputs::{self, Gathered},
    plugins::{EncoderHandle, FeaturizerHandle, PluginSearch},
    run::{Interrupt, TrainedRun},
};
use pyo3::prelude::*;

use crate::{
    errors,
    inputs::{f32_bytes, raw_inputs, InputTuple},
    interrupt, search,
};

/// What `embed` and `predict` return to the Python side: float32 bytes
/// `[rows, dim]` (or float64 `[rows]` predictions), dim, the material ids, and
/// `input: reason` for everything refused.
type Rows = (Vec<u8>, usize, Vec<String>, Vec<String>);
/// [`Rows`] and, per row, the rarest element in training with its training materials,
/// and the elements no training material contained.
type Predicted = (
    Vec<u8>,
    usize,
    Vec<String>,
    Vec<String>,
    Vec<Option<(String, usize)>>,
    Vec<Vec<String>>,
);

/// Featurizes and embeds `items` with `encoder`; Ctrl-C stops between batches.
fn embed_items(
    py: Python<'_>,
    encoder: &Mutex<EncoderHandle>,
    featurizer: &FeaturizerHandle,
    input_modality: &str,
    items: Vec<InputTuple<'_>>,
) -> PyResult<(Vec<f32>, Vec<Gathered>, Vec<String>)> {
    let raw = raw_inputs(items)?;
    let stop = Interrupt::default();
    let result = interrupt::run(py, &stop, None, |_| {
        let (gathered, mut refused) = inputs::gather(&raw, input_modality);
        let ready = inputs::featurize(featurizer, gathered, &mut refused);
        let mut encoder = encoder
            .lock()
            .map_err(|_| "the encoder was poisoned by an earlier panic".to_string())?;
        let z = inputs::embed(&mut encoder, &ready, &mut |_, _| stop.flow())
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        Ok::<_, String>((z, ready, refused))
    })?;
    result.map_err(errors::failed)
}

fn split_of(name: Option<&str>) -> PyResult<Option<Split>> {
    match name {
        None | Some("all") => Ok(None),
        Some("train") => Ok(Some(Split::Train)),
        Some("validation") => Ok(Some(Split::Validation)),
        Some("test") => Ok(Some(Split::Test)),
        Some(other) => Err(errors::invalid(format!(
            "split '{other}': expected train, validation, test or all"
        ))),
    }
}

/// A model written by `mmhost finetune`: the crystal encoder and its head.
#[pyclass(module = "mmhost._native", frozen)]
pub struct FinetunedModel {
    model: Finetuned,
    encoder: Mutex<EncoderHandle>,
    featurizer: FeaturizerHandle,
}

#[pymethods]
impl FinetunedModel {
    /// Opens the model directory `path`, loading its crystal encoder's plugin from
    /// the search path (with `plugin_dirs` and the configuration `config`).
    #[new]
    #[pyo3(signature = (path, plugin_dirs=Vec::new(), config=None))]
    fn new(path: PathBuf, plugin_dirs: Vec<PathBuf>, config: Option<PathBuf>) -> PyResult<Self> {
        let settings = search::settings(config, Vec::new())?;
        let search = search::search(&settings, &plugin_dirs)?;
        let model = Finetuned::open(&path).map_err(errors::from_model)?;
        let (encoder, featurizer) = model.encoder(&search).map_err(errors::from_model)?;
        Ok(Self {
            model,
            encoder: Mutex::new(encoder),
            featurizer,
        })
    }

    /// `model.json` (property, task, label scaling, head, outcome) as JSON.
    fn info_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.model.info).map_err(errors::failed)
    }

    /// Predictions (label units, or probabilities) for the crystal structures in
    /// `items`, as float64 bytes, with ids, refusals, each structure's element that
    /// the fewest training materials contained with their number (`None` for a model
    /// that does not record them), and its elements that none of them contained.
    fn predict(&self, py: Python<'_>, items: Vec<InputTuple<'_>>) -> PyResult<Predicted> {
        let (z, ready, refused) =
            embed_items(py, &self.encoder, &self.featurizer, "crystal", items)?;
        let values: Vec<u8> = self
            .model
            .predict(&z)
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let rarest = ready
            .iter()
            .map(|g| {
                let rarest = self.model.rarest_element(g.elements.as_ref()?)?;
                Some((rarest.symbol, rarest.training_materials))
            })
            .collect();
        let unseen = ready
            .iter()
            .map(|g| {
                g.elements
                    .iter()
                    .flat_map(|e| self.model.unseen_elements(e))
                    .map(|e| e.symbol().to_string())
                    .collect()
            })
            .collect();
        let ids = ready.into_iter().map(|g| g.id).collect();
        Ok((values, 1, ids, refused, rarest, unseen))
    }
}

/// One modality's trained encoder, loaded on first use.
struct Loaded {
    encoder: Mutex<EncoderHandle>,
    featurizer: FeaturizerHandle,
    input: String,
    /// Embedding width.
    dim: usize,
}

/// A run written by `mmhost train` (a pretrained model is one): its encoders.
#[pyclass(module = "mmhost._native", frozen)]
pub struct PretrainedModel {
    path: PathBuf,
    run: TrainedRun,
    search: PluginSearch,
    loaded: Mutex<HashMap<String, std::sync::Arc<Loaded>>>,
}

impl PretrainedModel {
    fn loaded(&self, modality: &str) -> PyResult<std::sync::Arc<Loaded>> {
        let mut loaded = self
            .loaded
            .lock()
            .map_err(|_| errors::failed("the encoder cache was poisoned by an earlier panic"))?;
        if let Some(found) = loaded.get(modality) {
            return Ok(found.clone());
        }
        let (encoder, featurizer, input) = self
            .run
            .standalone_encoder(modality, &self.search)
            .map_err(errors::from_model)?;
        let entry = std::sync::Arc::new(Loaded {
            dim: encoder.embed_dim(),
            encoder: Mutex::new(encoder),
            featurizer,
            input,
        });
        loaded.insert(modality.to_string(), entry.clone());
        Ok(entry)
    }
}

#[pymethods]
impl PretrainedModel {
    /// Opens the run directory `path` (encoders load on first use).
    #[new]
    #[pyo3(signature = (path, plugin_dirs=Vec::new(), config=None))]
    fn new(path: PathBuf, plugin_dirs: Vec<PathBuf>, config: Option<PathBuf>) -> PyResult<Self> {
        let settings = search::settings(config, Vec::new())?;
        let search = search::search(&settings, &plugin_dirs)?;
        let run = TrainedRun::open(&path).map_err(errors::from_model)?;
        Ok(Self {
            path,
            run,
            search,
            loaded: Mutex::new(HashMap::new()),
        })
    }

    /// The modalities the run trained.
    #[getter]
    fn modalities(&self) -> Vec<String> {
        self.run.info().modalities.clone()
    }

    /// `run.json` as JSON.
    fn info_json(&self) -> PyResult<String> {
        serde_json::to_string(self.run.info()).map_err(errors::failed)
    }

    /// Embeddings of `items` with the `modality` encoder: float32 bytes
    /// `[rows, dim]`, dim, ids, refusals.
    fn embed(&self, py: Python<'_>, items: Vec<InputTuple<'_>>, modality: &str) -> PyResult<Rows> {
        let loaded = self.loaded(modality)?;
        let (z, ready, refused) = embed_items(
            py,
            &loaded.encoder,
            &loaded.featurizer,
            &loaded.input,
            items,
        )?;
        let ids = ready.into_iter().map(|g| g.id).collect();
        Ok((f32_bytes(&z), loaded.dim, ids, refused))
    }

    /// Embeddings of a dataset's materials (`db`, default the run's; `split` of the
    /// run's seed, default all), exactly as `mmhost embed` computes them: float32
    /// bytes, dim, ids, records that could not be featurized. Ctrl-C stops between
    /// batches.
    #[pyo3(signature = (modality, db=None, split=None))]
    fn embed_dataset(
        &self,
        py: Python<'_>,
        modality: &str,
        db: Option<PathBuf>,
        split: Option<&str>,
    ) -> PyResult<Rows> {
        let split = split_of(split)?;
        let stop = Interrupt::default();
        let embedded = interrupt::run(py, &stop, None, |_| {
            let mut on = ModelOnData::open(&self.path, db.as_deref(), split)?;
            on.interrupt = stop.clone();
            on.embed(&on.ids, &self.search, modality, &|_, _, _| {})
        })?
        .map_err(errors::from_downstream)?;
        Ok((
            f32_bytes(&embedded.values),
            embedded.dim,
            embedded.ids,
            embedded.failed,
        ))
    }
}
