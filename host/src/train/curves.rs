//! The loss-curve PNG of a run, drawn from its `metrics.jsonl`.

use std::{fs, io, path::Path};

use plotters::style::RGBColor;

use crate::plot::{line_chart, Series};

/// Training loss per step, and mean training and validation loss per epoch,
/// against the optimizer step.
pub fn plot_loss_curves(metrics: &Path, png: &Path) -> io::Result<()> {
    let text = fs::read_to_string(metrics)?;
    let (mut steps, mut train, mut validation) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let x = entry["global_step"].as_f64().unwrap_or(0.0);
        match entry["kind"].as_str() {
            Some("step") => steps.extend(entry["loss"].as_f64().map(|y| (x, y))),
            Some("epoch") => {
                train.extend(entry["train_loss"].as_f64().map(|y| (x, y)));
                validation.extend(entry["validation"]["loss"].as_f64().map(|y| (x, y)));
            }
            _ => {}
        }
    }
    line_chart(
        png,
        "Contrastive pretraining loss",
        "optimizer step",
        "loss",
        &[
            Series {
                name: "training loss (step)",
                points: &steps,
                color: RGBColor(160, 190, 230),
                markers: false,
            },
            Series {
                name: "training loss (epoch mean)",
                points: &train,
                color: RGBColor(31, 119, 180),
                markers: true,
            },
            Series {
                name: "validation loss",
                points: &validation,
                color: RGBColor(214, 39, 40),
                markers: true,
            },
        ],
    )
}
