//! Linear probing before fine-tuning (`--head-init fit`): the new head fitted in
//! closed form to the starting encoder's embeddings of the training materials, so
//! that the first steps train the encoder through a head that already predicts.

use std::ops::ControlFlow;

use super::{
    evaluate::{Evaluator, Scaling},
    metrics::regression_metrics,
    model::outputs,
    FinetuneError, RegressionLoss,
};
use crate::{
    head::LinearHead, plugins::EncoderHandle, run::Interrupt, train::progress::CountProgress,
};

/// The head fitted to `encoder`'s embeddings (inference mode) of `train`
/// (`(id, label)`) against the standardized labels: least squares for MSE, least
/// absolute deviations for L1, both under `ridge` ([`LinearHead::fitted`]). With `progress`, shows a progress line and prints the
/// fitted head's training MAE in label units (else logs it). A requested interrupt
/// (Ctrl-C) stops the embedding pass with an error.
pub(super) fn fitted_head(
    evaluator: &Evaluator,
    encoder: &mut EncoderHandle,
    train: &[(String, f64)],
    loss: RegressionLoss,
    ridge: f64,
    progress: bool,
    interrupt: &Interrupt,
) -> Result<LinearHead, FinetuneError> {
    let mut shown = CountProgress::new(
        "embedding the training materials to fit the head",
        train.len(),
        progress,
    );
    let (embedded, truth) = evaluator.embed(encoder, train, &mut |done, _| {
        shown.advance(done);
        if interrupt.is_requested() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    shown.finish();
    let Scaling { mean, std, .. } = evaluator.scaling;
    let targets: Vec<f64> = truth.iter().map(|y| (y - mean) / std).collect();
    let refused = |why: &str| {
        FinetuneError::Setup(format!(
            "--head-init fit: {why}; start again with --head-init zero (and --overwrite)"
        ))
    };
    if truth.is_empty() {
        return Err(refused("no training material could be embedded"));
    }
    let head = LinearHead::fitted(
        &embedded.values,
        embedded.dim,
        &targets,
        loss == RegressionLoss::L1,
        ridge,
    )
    .ok_or_else(|| {
        refused(&format!(
            "no head fits the starting encoder's embeddings of the {} training materials \
             (non-finite values, or a system the solver could not solve: a smaller --head-ridge \
             may help)",
            truth.len()
        ))
    })?;
    let fitted = outputs(&head, &embedded.values, &evaluator.scaling);
    let mae = regression_metrics(&truth, &fitted).mae.unwrap_or(f64::NAN);
    let message = format!(
        "head fitted to the starting encoder's embeddings of {} training materials: \
         training MAE {mae:.4}",
        truth.len()
    );
    if progress {
        eprintln!("{message}");
    } else {
        tracing::info!("{message}");
    }
    Ok(head)
}
