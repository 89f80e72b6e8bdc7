//! The curve PNG of a fine-tuning, drawn from its `metrics.jsonl`: training loss
//! per step and per epoch above, validation MAE (or BCE) per epoch below (where the
//! recipe has a validation split).

use std::{fs, io, path::Path};

use plotters::style::RGBColor;

use super::record::MetricsLine;
use crate::plot::{line_charts, training_loss_series, Panel, Series};

/// Draws `png` from the metrics file; `score` names the validation score
/// (e.g. `validation MAE (eV/atom)`).
pub fn plot(metrics: &Path, png: &Path, property: &str, score: &str) -> io::Result<()> {
    let text = fs::read_to_string(metrics)?;
    let (mut steps, mut train, mut validation) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        match serde_json::from_str::<MetricsLine>(line) {
            Ok(MetricsLine::Step(s)) => steps.push((s.global_step as f64, s.loss)),
            Ok(MetricsLine::Epoch(e)) => {
                train.push((e.global_step as f64, e.train_loss));
                if let Some(score) = e.validation {
                    validation.push((e.epoch as f64, score));
                }
            }
            Err(_) => {}
        }
    }
    let loss_title = format!("Fine-tuning on {property}: training loss");
    let score_title = format!("{score} per epoch");
    let loss_series = training_loss_series(&steps, &train);
    let score_series = [Series {
        name: score,
        points: &validation,
        color: RGBColor(214, 39, 40),
        markers: true,
    }];
    let panels = [
        Panel {
            title: &loss_title,
            x_label: "optimizer step",
            y_label: "loss (standardized targets)",
            series: &loss_series,
        },
        Panel {
            title: &score_title,
            x_label: "epoch",
            y_label: score,
            series: &score_series,
        },
    ];
    // Without a validation split there is no score to draw.
    let shown = if validation.is_empty() { 1 } else { 2 };
    line_charts(png, &panels[..shown])
}
