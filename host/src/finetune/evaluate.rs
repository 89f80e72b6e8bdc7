//! Scoring the encoder and head on a split: predictions in label units (or
//! probabilities), validation MAE or BCE.

use std::{collections::HashMap, ops::ControlFlow};

use super::{
    metrics::{bce, regression_metrics},
    model::outputs,
    FinetuneError, Task,
};
use crate::{
    dataset::Dataset,
    downstream::embed::{embed_ids, Embedded},
    head::LinearHead,
    plugins::EncoderHandle,
    session::ModalitySource,
};

/// How head outputs map to labels: the task, the standardization of regression
/// targets (`(y − mean) / std`) and the lowest value predicted.
#[derive(Clone, Copy, Debug)]
pub struct Scaling {
    pub task: Task,
    pub mean: f64,
    pub std: f64,
    pub floor: Option<f64>,
}

impl Scaling {
    /// `y` raised to the floor where it lies below (a comparison, not `max`: a NaN
    /// prediction stays NaN).
    pub fn floored(&self, y: f64) -> f64 {
        match self.floor {
            Some(floor) if y < floor => floor,
            _ => y,
        }
    }
}

/// Ids, true labels and predictions of one split, row by row.
pub struct Predictions {
    pub ids: Vec<String>,
    pub truth: Vec<f64>,
    pub predicted: Vec<f64>,
}

/// Where the split's inputs come from and how to run them.
pub struct Evaluator<'a> {
    pub dataset: &'a Dataset,
    pub source: &'a ModalitySource,
    pub scaling: Scaling,
    pub batch_size: usize,
    pub threads: usize,
}

impl Evaluator<'_> {
    /// Embeddings (inference mode) of `items` (`(id, label)`), featurized through
    /// the cache, and their true labels row by row; `progress` sees the number done
    /// after each batch and stops the pass by breaking.
    pub fn embed(
        &self,
        encoder: &mut EncoderHandle,
        items: &[(String, f64)],
        progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<(Embedded, Vec<f64>), FinetuneError> {
        let ids: Vec<String> = items.iter().map(|(id, _)| id.clone()).collect();
        let embedded = embed_ids(
            self.dataset,
            encoder,
            self.source,
            &ids,
            self.batch_size,
            self.threads,
            progress,
        )?;
        let labels: HashMap<&str, f64> = items.iter().map(|(id, y)| (id.as_str(), *y)).collect();
        let truth: Vec<f64> = embedded.ids.iter().map(|id| labels[id.as_str()]).collect();
        Ok((embedded, truth))
    }

    /// Predictions for `items` (`(id, label)`), featurized through the cache.
    pub fn predict(
        &self,
        encoder: &mut EncoderHandle,
        head: &LinearHead,
        items: &[(String, f64)],
    ) -> Result<Predictions, FinetuneError> {
        let (embedded, truth) =
            self.embed(encoder, items, &mut |_, _| ControlFlow::Continue(()))?;
        let predicted = outputs(head, &embedded.values, &self.scaling);
        Ok(Predictions {
            ids: embedded.ids,
            truth,
            predicted,
        })
    }

    /// Validation MAE (regression, label units) or mean BCE (classification).
    pub fn score(
        &self,
        encoder: &mut EncoderHandle,
        head: &LinearHead,
        items: &[(String, f64)],
    ) -> Result<f64, FinetuneError> {
        let p = self.predict(encoder, head, items)?;
        Ok(match self.scaling.task {
            Task::Regression => regression_metrics(&p.truth, &p.predicted)
                .mae
                .unwrap_or(f64::MAX),
            Task::Classification => bce(&p.truth, &p.predicted),
        })
    }
}
