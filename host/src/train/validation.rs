//! Validation at the end of every epoch: the loss on held-out materials and
//! cross-modal retrieval between every pair of trained modalities.

use std::{collections::BTreeMap, sync::Arc};

use mmhost_plugin_api::{Embeddings, ModalityEmbeddings};
use serde::{Deserialize, Serialize};

use super::TrainError;
use crate::session::ModalitySource;
use crate::{
    backprop::{concurrently, scatter_rows},
    dataset::Dataset,
    downstream::retrieval::{own_target_ranks, RetrievalScores},
    plugins::{ComparedPairs, EncoderHandle, LossHandle},
};

/// What one validation pass measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    /// Mean loss over the validation batches (None when no batch had a pair).
    pub loss: Option<f64>,
    /// Retrieval per modality pair, keyed `query→target`.
    pub retrieval: BTreeMap<String, RetrievalScores>,
}

/// Embeds the validation materials with every encoder (no graph), then scores the
/// loss and retrieval over the pairs the loss compares (`second` → `first`).
pub fn validate(
    encoders: &mut [EncoderHandle],
    loss: &mut LossHandle,
    dataset: &Arc<Dataset>,
    sources: &Arc<Vec<ModalitySource>>,
    batches: Vec<Vec<String>>,
    threads: usize,
    compared: &ComparedPairs,
) -> Result<ValidationReport, TrainError> {
    let count = batches.len();
    let receiver = crate::batches::spawn(dataset.clone(), sources.clone(), batches, 0, 2, threads);
    // Per modality: (material index, embedding row) of every present material.
    let mut rows: Vec<Vec<(usize, Vec<f32>)>> = vec![Vec::new(); encoders.len()];
    let mut losses = Vec::new();
    let mut offset = 0;
    for _ in 0..count {
        let batch = receiver
            .recv()
            .map_err(|_| TrainError::Setup("the validation data loader stopped".into()))??;
        let outputs = concurrently(encoders, &batch.modalities, |encoder, modality| {
            if modality.records.is_empty() {
                return Ok(Embeddings::new(0, encoder.embed_dim(), Vec::new()));
            }
            encoder.embed(&modality.records)
        })
        .map_err(|e| TrainError::Validation(e.to_string()))?;
        let inputs: Vec<ModalityEmbeddings> = encoders
            .iter()
            .zip(&batch.modalities)
            .zip(&outputs)
            .map(|((encoder, modality), z)| ModalityEmbeddings {
                modality: encoder.modality().into(),
                embeddings: scatter_rows(z, &modality.present, encoder.embed_dim()),
                present: modality.present.iter().map(|&p| u8::from(p)).collect(),
            })
            .collect();
        if super::has_pair(&batch.modalities, compared.anchor) {
            let out = loss
                .compute(&inputs)
                .map_err(|e| TrainError::Validation(e.to_string()))?;
            losses.push(out.loss);
        }
        for (m, modality) in batch.modalities.iter().enumerate() {
            let present_rows = modality
                .present
                .iter()
                .enumerate()
                .filter(|(_, &p)| p)
                .map(|(i, _)| i);
            for (k, i) in present_rows.enumerate() {
                rows[m].push((offset + i, outputs[m].row(k).to_vec()));
            }
        }
        offset += batch.ids.len();
    }
    let mut retrieval = BTreeMap::new();
    for &(target, query) in &compared.pairs {
        let target_rows: BTreeMap<usize, &Vec<f32>> =
            rows[target].iter().map(|(i, z)| (*i, z)).collect();
        let (mut q, mut t) = (Vec::new(), Vec::new());
        for (i, z) in &rows[query] {
            if let Some(tz) = target_rows.get(i) {
                q.extend_from_slice(z);
                t.extend_from_slice(tz);
            }
        }
        if q.is_empty() || encoders[query].embed_dim() != encoders[target].embed_dim() {
            continue;
        }
        let ranks = own_target_ranks(&q, &t, encoders[query].embed_dim());
        let name = format!(
            "{}→{}",
            encoders[query].modality(),
            encoders[target].modality()
        );
        retrieval.insert(name, RetrievalScores::from_ranks(&ranks));
    }
    Ok(ValidationReport {
        loss: (!losses.is_empty()).then(|| losses.iter().sum::<f64>() / losses.len() as f64),
        retrieval,
    })
}
