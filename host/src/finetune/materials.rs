//! The materials a fine-tuning learns from: every structure with the property,
//! featurized into the dataset's cache, split into train, validation and test, and
//! the standardization of regression targets.

use std::collections::{BTreeSet, HashSet};

use super::{evaluate::Scaling, FinetuneError, FinetuneSpec, Task};
use crate::{
    dataset::{split_of, Dataset, Split, IS_METAL},
    featurize::fill_cache,
    session::ModalitySource,
    train::progress::CountProgress,
};

/// `(id, label)` of the materials of each split.
pub(super) struct LabelledSplits {
    pub train: Vec<(String, f64)>,
    pub validation: Vec<(String, f64)>,
    pub test: Vec<(String, f64)>,
}

/// Every structure labelled with the recipe's property, featurized into the cache
/// (a progress line on stderr with `progress`), those the featurizer refuses left
/// out, split by the recipe's split seed and fractions.
pub(super) fn labelled_splits(
    dataset: &Dataset,
    source: &ModalitySource,
    spec: &FinetuneSpec,
    task: Task,
    threads: usize,
    progress: bool,
) -> Result<LabelledSplits, FinetuneError> {
    let mut labelled = labelled_materials(dataset, &source.available, &spec.property, task)?;
    let ids: Vec<String> = labelled.iter().map(|(id, _)| id.clone()).collect();
    let mut shown = CountProgress::new("featurizing crystal structures", ids.len(), progress);
    let report = fill_cache(
        dataset,
        &source.featurizer,
        &source.cache_key,
        &source.input,
        &ids,
        threads,
        &mut |done, computed| shown.update(done, computed),
    )?;
    shown.finish();
    tracing::info!(
        cached = report.cached,
        computed = report.computed,
        refused = report.failed.len(),
        "featurized {} structures",
        ids.len()
    );
    if !report.failed.is_empty() {
        for (id, reason) in report.failed.iter().take(5) {
            tracing::warn!("structure {id} left out: {reason}");
        }
        let refused: BTreeSet<&str> = report.failed.iter().map(|(id, _)| id.as_str()).collect();
        labelled.retain(|(id, _)| !refused.contains(id.as_str()));
    }
    let split = |want| -> Vec<(String, f64)> {
        labelled
            .iter()
            .filter(|(id, _)| split_of(id, spec.split_seed, spec.splits) == want)
            .cloned()
            .collect()
    };
    let splits = LabelledSplits {
        train: split(Split::Train),
        validation: split(Split::Validation),
        test: split(Split::Test),
    };
    if splits.train.is_empty()
        || (spec.validates() && splits.validation.is_empty())
        || splits.test.is_empty()
    {
        return Err(FinetuneError::Setup(format!(
            "{}: '{}' is known for {} materials with a structure: too few for train, \
             validation and test splits",
            spec.db.display(),
            spec.property,
            labelled.len()
        )));
    }
    Ok(splits)
}

/// The ids of the materials a fine-tuning of `spec` trains on: those with a
/// structure and the property in its training split. The same as the fine-tuning's
/// own list unless the crystal featurizer refused some structures (the fine-tuning
/// leaves them out; this list keeps them).
pub fn training_ids(
    dataset: &Dataset,
    spec: &FinetuneSpec,
    task: Task,
) -> Result<Vec<String>, FinetuneError> {
    let available: HashSet<String> = dataset.ids_with("crystal")?.into_iter().collect();
    Ok(
        labelled_materials(dataset, &available, &spec.property, task)?
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| split_of(id, spec.split_seed, spec.splits) == Split::Train)
            .collect(),
    )
}

/// Regression targets are standardized with the training statistics;
/// classification targets stay 0/1.
pub(super) fn standardization(task: Task, train: &[(String, f64)], floor: Option<f64>) -> Scaling {
    match task {
        Task::Regression => {
            let n = train.len() as f64;
            let mean = train.iter().map(|(_, y)| y).sum::<f64>() / n;
            let var = train.iter().map(|(_, y)| (y - mean).powi(2)).sum::<f64>() / n;
            Scaling {
                task,
                mean,
                std: var.sqrt().max(1e-12),
                floor,
            }
        }
        Task::Classification => Scaling {
            task,
            mean: 0.0,
            std: 1.0,
            floor: None,
        },
    }
}

/// `(id, label)` of every material in `available` (those with the encoder's input
/// record) with a value of `property`; for classification, every label must be 0 or 1.
fn labelled_materials(
    dataset: &Dataset,
    available: &HashSet<String>,
    property: &str,
    task: Task,
) -> Result<Vec<(String, f64)>, FinetuneError> {
    let mut out = Vec::new();
    let mut known = std::collections::BTreeSet::new();
    for id in dataset.material_ids()? {
        let Some(material) = dataset.material(&id)? else {
            continue;
        };
        known.extend(material.labels.keys().cloned());
        if !available.contains(&id) {
            continue;
        }
        let value = match (property, material.labels.get(property)) {
            (_, Some(v)) => Some(*v),
            (IS_METAL, None) => material
                .labels
                .get("band_gap")
                .map(|g| f64::from(u8::from(*g <= 0.0))),
            _ => None,
        };
        if let Some(v) = value.filter(|v| v.is_finite()) {
            out.push((id, v));
        }
    }
    if out.is_empty() {
        known.insert(IS_METAL.into());
        return Err(FinetuneError::Setup(format!(
            "no material with a structure has the property '{property}'; labels in this \
             dataset: {}",
            known.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    if task == Task::Classification {
        if let Some((id, value)) = out.iter().find(|(_, v)| *v != 0.0 && *v != 1.0) {
            return Err(FinetuneError::Setup(format!(
                "classification needs labels 0 or 1, but '{property}' of {id} is {value} \
                 (use --task regression)"
            )));
        }
    }
    Ok(out)
}
