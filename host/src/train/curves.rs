//! The loss-curve PNG of a run, drawn from its `metrics.jsonl`.

use std::{fs, io, path::Path};

use plotters::style::RGBColor;

use super::MetricsLine;
use crate::plot::{line_chart, training_loss_series, Series};

/// Training loss per step, and mean training and validation loss per epoch,
/// against the optimizer step.
pub fn plot_loss_curves(metrics: &Path, png: &Path) -> io::Result<()> {
    let text = fs::read_to_string(metrics)?;
    let (mut steps, mut train, mut validation) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        // A line cut short by a kill (before its resume truncated it) is skipped.
        match serde_json::from_str::<MetricsLine>(line) {
            Ok(MetricsLine::Step(step)) => steps.push((step.global_step as f64, step.loss)),
            Ok(MetricsLine::Epoch(epoch)) => {
                let x = epoch.global_step as f64;
                train.push((x, epoch.train_loss));
                validation.extend(epoch.validation.loss.map(|y| (x, y)));
            }
            Err(_) => {}
        }
    }
    let [per_step, per_epoch] = training_loss_series(&steps, &train);
    line_chart(
        png,
        "Contrastive pretraining loss",
        "optimizer step",
        "loss",
        &[
            per_step,
            per_epoch,
            Series {
                name: "validation loss",
                points: &validation,
                color: RGBColor(214, 39, 40),
                markers: true,
            },
        ],
    )
}
