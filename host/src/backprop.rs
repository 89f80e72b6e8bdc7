//! Split back-propagation across plugins (README "Split back-propagation"):
//! every encoder's forward (concurrently) → the host calls the loss → every
//! encoder's backward with its `dL/dZ` (concurrently) → every encoder's step.

use std::thread;

use abi_stable::std_types::RString;
use mmhost_plugin_api::{Embeddings, LossOutput, ModalityEmbeddings, Record, StepSettings};
use thiserror::Error;

use crate::plugins::{EncoderHandle, LossHandle, PluginCallError};

/// One modality's part of a batch: the featurized records of the materials that
/// have it, and for every material of the batch whether it does.
pub struct ModalityBatch {
    pub records: Vec<Record>,
    /// `[batch]`; `records.len()` equals the number of `true`s.
    pub present: Vec<bool>,
}

/// A training step that failed.
#[derive(Debug, Error)]
pub enum StepError {
    #[error(transparent)]
    Plugin(#[from] PluginCallError),
    #[error("batch: {0}")]
    Batch(String),
}

/// What one training step reports.
#[derive(Clone, Debug)]
pub struct StepReport {
    pub loss: f64,
    /// The loss plugin's metrics.
    pub metrics: Vec<(String, f64)>,
    /// Gradient norm before clipping, per encoder (same order as the encoders).
    pub grad_norms: Vec<f64>,
}

/// Forward of every encoder on its modality batch, then the loss, then every
/// encoder's backward. Gradients are left in the encoders for [`step_all`] (or
/// inspection). Returns the loss output.
pub fn forward_backward(
    encoders: &mut [EncoderHandle],
    batches: &[ModalityBatch],
    loss: &mut LossHandle,
) -> Result<LossOutput, StepError> {
    if encoders.len() != batches.len() {
        return Err(StepError::Batch(format!(
            "{} encoders for {} modality batches",
            encoders.len(),
            batches.len()
        )));
    }
    let size = batches.first().map_or(0, |b| b.present.len());
    for (encoder, batch) in encoders.iter().zip(batches) {
        let present = batch.present.iter().filter(|&&p| p).count();
        if batch.present.len() != size || present != batch.records.len() {
            return Err(StepError::Batch(format!(
                "modality '{}': {} records, {} present of {} (batch size {size})",
                encoder.modality(),
                batch.records.len(),
                present,
                batch.present.len()
            )));
        }
    }
    let outputs = concurrently(encoders, batches, |encoder, batch| {
        if batch.records.is_empty() {
            return Ok(Embeddings::new(0, encoder.embed_dim(), Vec::new()));
        }
        encoder.forward(&batch.records, true)
    })?;
    let inputs: Vec<ModalityEmbeddings> = encoders
        .iter()
        .zip(batches)
        .zip(outputs)
        .map(|((encoder, batch), z)| ModalityEmbeddings {
            modality: RString::from(encoder.modality()),
            embeddings: scatter_rows(&z, &batch.present, encoder.embed_dim()),
            present: batch.present.iter().map(|&p| u8::from(p)).collect(),
        })
        .collect();
    let output = loss.compute(&inputs)?;
    let grads: Vec<Embeddings> = output
        .gradients
        .iter()
        .zip(batches)
        .map(|(g, batch)| gather_rows(g, &batch.present))
        .collect();
    let grad_batches: Vec<(Embeddings, usize)> = grads
        .into_iter()
        .zip(batches)
        .map(|(g, b)| (g, b.records.len()))
        .collect();
    concurrently(encoders, &grad_batches, |encoder, (grad, rows)| {
        if *rows == 0 {
            return Ok(());
        }
        encoder.backward(grad)
    })?;
    Ok(output)
}

/// One optimizer step of every encoder that took part in the last backward.
pub fn step_all(
    encoders: &mut [EncoderHandle],
    batches: &[ModalityBatch],
    settings: &StepSettings,
) -> Result<Vec<f64>, StepError> {
    let norms = concurrently(encoders, batches, |encoder, batch| {
        if batch.records.is_empty() {
            return Ok(0.0);
        }
        encoder.step(settings)
    })?;
    Ok(norms)
}

/// [`forward_backward`] then [`step_all`].
pub fn train_step(
    encoders: &mut [EncoderHandle],
    batches: &[ModalityBatch],
    loss: &mut LossHandle,
    settings: &StepSettings,
) -> Result<StepReport, StepError> {
    let output = forward_backward(encoders, batches, loss)?;
    let grad_norms = step_all(encoders, batches, settings)?;
    Ok(StepReport {
        loss: output.loss,
        metrics: output
            .metrics
            .iter()
            .map(|m| (m.name.to_string(), m.value))
            .collect(),
        grad_norms,
    })
}

/// Runs `work` for every (encoder, item) pair on its own thread; the first error wins.
/// Dedicated threads, not a pool: each call blocks for a whole forward or backward
/// inside its plugin (which has its own pool), and all of them must run at once.
pub(crate) fn concurrently<I: Sync, T: Send>(
    encoders: &mut [EncoderHandle],
    items: &[I],
    work: impl Fn(&mut EncoderHandle, &I) -> Result<T, PluginCallError> + Sync,
) -> Result<Vec<T>, PluginCallError> {
    if encoders.len() == 1 {
        return Ok(vec![work(&mut encoders[0], &items[0])?]);
    }
    thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = encoders
            .iter_mut()
            .zip(items)
            .map(|(encoder, item)| scope.spawn(move || work(encoder, item)))
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(result) => result,
                Err(payload) => std::panic::resume_unwind(payload),
            })
            .collect()
    })
}

/// `[present, dim]` → `[batch, dim]` with zero rows where `present` is false.
pub(crate) fn scatter_rows(z: &Embeddings, present: &[bool], dim: usize) -> Embeddings {
    let mut values = vec![0.0; present.len() * dim];
    let rows = present
        .iter()
        .enumerate()
        .filter(|(_, &p)| p)
        .map(|(row, _)| row);
    for (next, row) in rows.enumerate() {
        values[row * dim..(row + 1) * dim].copy_from_slice(z.row(next));
    }
    Embeddings::new(present.len(), dim, values)
}

/// `[batch, dim]` → `[present, dim]`, the rows where `present` is true.
fn gather_rows(g: &Embeddings, present: &[bool]) -> Embeddings {
    let dim = g.dim as usize;
    let mut values = Vec::with_capacity(present.len() * dim);
    for (row, _) in present.iter().enumerate().filter(|(_, &p)| p) {
        values.extend_from_slice(g.row(row));
    }
    Embeddings::new(values.len() / dim.max(1), dim, values)
}
