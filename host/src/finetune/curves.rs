//! The curve PNG of a fine-tuning, drawn from its `metrics.jsonl`: training loss
//! per step and per epoch above, validation MAE (or BCE) per epoch below.

use std::{fs, io, path::Path};

use plotters::style::RGBColor;

use super::record::MetricsLine;
use crate::plot::{line_charts, Panel, Series};

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
                validation.push((e.epoch as f64, e.validation));
            }
            Err(_) => {}
        }
    }
    let loss_title = format!("Fine-tuning on {property}: training loss");
    let score_title = format!("{score} per epoch");
    line_charts(
        png,
        &[
            Panel {
                title: &loss_title,
                x_label: "optimizer step",
                y_label: "loss (standardized targets)",
                series: &[
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
                ],
            },
            Panel {
                title: &score_title,
                x_label: "epoch",
                y_label: score,
                series: &[Series {
                    name: score,
                    points: &validation,
                    color: RGBColor(214, 39, 40),
                    markers: true,
                }],
            },
        ],
    )
}
