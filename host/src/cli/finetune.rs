//! `mmhost finetune` and `mmhost predict`.

use std::{fmt::Write as _, path::PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use mmhost::{
    finetune::{finetune, FinetuneRequest, FinetunedModel, Task, TestMetrics},
    import::{files_under, read_file},
    plugins::PluginSearch,
    settings::Settings,
};
use mmhost_plugin_api::Record;

#[derive(Debug, Args)]
pub struct FinetuneArgs {
    /// Dataset with structures and the property as a label.
    #[arg(long)]
    pub db: PathBuf,
    /// Start from the crystal encoder of this pretraining run.
    #[arg(long, conflicts_with = "scratch", required_unless_present = "scratch")]
    pub from: Option<PathBuf>,
    /// Start from a freshly initialized crystal encoder (the configuration's).
    #[arg(long)]
    pub scratch: bool,
    /// Property to predict: a label of the dataset (formation_energy_per_atom,
    /// band_gap, energy_above_hull, bulk_modulus_gpa, …) or is_metal.
    #[arg(long)]
    pub property: String,
    /// Output model directory.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Learning rate of the encoder (AdamW) and of the head (Adam).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Stop after this many epochs without a better validation score.
    #[arg(long, default_value_t = 10)]
    pub patience: usize,
    /// Split seed (70/20/10 train/validation/test by material id).
    #[arg(long, default_value_t = 42)]
    pub split_seed: u64,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `mmhost finetune`.
pub fn run_finetune(args: FinetuneArgs, settings: Settings, search: PluginSearch) -> Result<()> {
    let json = args.json;
    let request = FinetuneRequest {
        db: args.db,
        from: args.from,
        settings,
        search,
        property: args.property.clone(),
        out: args.out.clone(),
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        patience: args.patience,
        split_seed: args.split_seed,
        splits: [0.7, 0.2, 0.1],
    };
    let task = Task::of(&args.property);
    let mut report = |epoch: usize, loss: f64, score: f64| {
        let name = match task {
            Task::Regression => "val MAE",
            Task::Classification => "val BCE",
        };
        eprintln!(
            "epoch {epoch}/{}  train loss {loss:.4}  {name} {score:.4}",
            args.epochs
        );
    };
    let outcome = finetune(request, &mut report)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
        return Ok(());
    }
    println!(
        "{} ({:?}), {} train / {} validation / {} test materials; best epoch {} of {}",
        outcome.property,
        outcome.task,
        outcome.materials.train,
        outcome.materials.validation,
        outcome.materials.test,
        outcome.best_epoch,
        outcome.epochs_run
    );
    println!("test:     {}", describe(&outcome.test));
    println!(
        "baseline: {} (constant prediction)",
        describe(&outcome.baseline)
    );
    println!(
        "model in {}/: model.json, crystal.safetensors, config.toml, test_predictions.csv{}",
        args.out.display(),
        if outcome.task == Task::Regression {
            ", parity.png"
        } else {
            ""
        }
    );
    Ok(())
}

fn describe(m: &TestMetrics) -> String {
    match (m.mae, m.accuracy) {
        (Some(mae), _) => format!(
            "MAE {mae:.4}, RMSE {:.4}, R² {:.3} on {}",
            m.rmse.unwrap_or(f64::NAN),
            m.r2.unwrap_or(f64::NAN),
            m.count
        ),
        (None, Some(accuracy)) => format!(
            "accuracy {:.1} %, ROC-AUC {} on {}",
            accuracy * 100.0,
            m.roc_auc.map_or("-".into(), |a| format!("{a:.3}")),
            m.count
        ),
        _ => "-".into(),
    }
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Model directory written by `mmhost finetune`.
    #[arg(long)]
    pub model: PathBuf,
    /// Structure files or folders: CIF, POSCAR/CONTCAR, CSV with a cif column,
    /// pymatgen or Materials Project JSON/JSONL (.gz allowed).
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// CSV to write: material_id, source file, prediction.
    #[arg(long)]
    pub output: PathBuf,
}

/// Runs `mmhost predict`.
pub fn run_predict(args: PredictArgs, search: PluginSearch) -> Result<()> {
    let model = FinetunedModel::open(&args.model)?;
    let (mut encoder, featurizer) = model.encoder(&search)?;
    // (id, file, featurized record)
    let mut inputs: Vec<(String, String, Record)> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    for file in files_under(&args.input) {
        let name = file.display().to_string();
        let batch = match read_file(&file) {
            Ok(batch) => batch,
            Err(reason) => {
                refused.push(format!("{name}: {reason}"));
                continue;
            }
        };
        refused.extend(
            batch
                .rejected
                .iter()
                .map(|r| format!("{name}, {}: {}", r.record, r.reason)),
        );
        let mut structures = 0;
        for (modality, id, raw) in &batch.records {
            if modality != "crystal" {
                continue;
            }
            structures += 1;
            match featurizer.featurize(raw) {
                Ok(record) => inputs.push((id.clone(), name.clone(), record)),
                Err(e) => refused.push(format!("{name}, {id}: {}", e.source.message)),
            }
        }
        if structures == 0 && batch.rejected.is_empty() {
            refused.push(format!("{name}: holds no crystal structure"));
        }
    }
    if inputs.is_empty() {
        for r in &refused {
            eprintln!("not predicted: {r}");
        }
        bail!("no structure could be predicted");
    }
    let property = &model.info.property;
    let mut csv = match model.info.task {
        Task::Regression => format!("material_id,file,predicted_{property}\n"),
        Task::Classification => format!("material_id,file,probability_{property},{property}\n"),
    };
    for chunk in inputs.chunks(64) {
        let records: Vec<Record> = chunk.iter().map(|(_, _, r)| r.clone()).collect();
        let z = encoder.embed(&records).context("embedding structures")?;
        for ((id, file, _), value) in chunk.iter().zip(model.predict(&z.values)) {
            let file = file.replace(',', ";");
            let _ = match model.info.task {
                Task::Regression => writeln!(csv, "{id},{file},{value}"),
                Task::Classification => {
                    writeln!(csv, "{id},{file},{value},{}", u8::from(value > 0.5))
                }
            };
        }
    }
    mmhost::atomic::write(&args.output, csv.as_bytes())
        .with_context(|| format!("writing {}", args.output.display()))?;
    for r in &refused {
        eprintln!("not predicted: {r}");
    }
    println!(
        "{} structures predicted ({property}) → {}; {} not predicted",
        inputs.len(),
        args.output.display(),
        refused.len()
    );
    Ok(())
}
