//! `mmhost models`: the shipped models with their key figures and load checks.

use std::path::Path;

use anyhow::{Context, Result};
use mmhost::{
    catalog::{self, ListedModel, ModelKind},
    plugins::PluginSearch,
};

/// Prints the models of `folder`, as a table or JSON.
pub fn list(folder: &Path, search: &PluginSearch, json: bool) -> Result<()> {
    let models = catalog::list(folder, search)
        .with_context(|| format!("listing the models in {}", folder.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&models)?);
        return Ok(());
    }
    if models.is_empty() {
        println!(
            "no models in {} (a model is a directory with a card.json)",
            folder.display()
        );
        return Ok(());
    }
    println!(
        "{:<28} {:<11} {:<50} {:>10}  status",
        "model", "kind", "figures", "parameters"
    );
    for model in &models {
        println!(
            "{:<28} {:<11} {:<50} {:>10}  {}",
            model.card.name,
            kind(model),
            figures(model),
            model.card.parameters,
            status(model)
        );
    }
    Ok(())
}

fn kind(model: &ListedModel) -> &'static str {
    match model.card.kind {
        ModelKind::Property => "property",
        ModelKind::Pretrained => "pretrained",
    }
}

/// Test MAE beside the mean predictor's, or the modalities of a pretrained model.
fn figures(model: &ListedModel) -> String {
    let card = &model.card;
    match (&card.property, card.test_mae, card.baseline_mae) {
        (Some(property), Some(mae), Some(baseline)) => {
            format!("{property} MAE {mae:.3} (mean {baseline:.3})")
        }
        _ => card.modalities.join(","),
    }
}

fn status(model: &ListedModel) -> String {
    if model.usable() {
        return "ok".into();
    }
    let mut problems: Vec<String> = model
        .changed_weights
        .iter()
        .map(|file| format!("{file} differs from its card's SHA-256"))
        .collect();
    problems.extend(model.plugin_problems.iter().cloned());
    problems.join("; ")
}
