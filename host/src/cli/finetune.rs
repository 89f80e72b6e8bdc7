//! `mmhost finetune` and `mmhost predict`.

use std::{collections::BTreeMap, io::Write, ops::ControlFlow, path::PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use mmhost::{
    finetune::{
        finetune, EpochLine, FinetuneRequest, FinetuneSpec, FinetuneStart, FinetunedModel,
        HeadInit, LrSchedule, RarestElement, RegressionLoss, Task, TestMetrics,
    },
    import::files_under,
    inputs::{self, RawInput},
    plugins::PluginSearch,
    run::Interrupt,
    settings::Settings,
    train::format_duration,
};

#[derive(Debug, Args)]
pub struct FinetuneArgs {
    /// Dataset with structures and the property as a label.
    #[arg(long, required_unless_present = "resume")]
    pub db: Option<PathBuf>,
    /// Start from the crystal encoder of this pretraining run (`mmhost train --out`)
    /// or fine-tuned model (`mmhost finetune --out`, models/potnet-mp-…): a new head
    /// is trained either way.
    #[arg(long, conflicts_with = "scratch")]
    pub from: Option<PathBuf>,
    /// Start from a freshly initialized crystal encoder (the configuration's).
    #[arg(long)]
    pub scratch: bool,
    /// Property to predict: a label of the dataset (formation_energy_per_atom,
    /// band_gap, energy_above_hull, bulk_modulus_gpa, …) or is_metal.
    #[arg(long, required_unless_present = "resume")]
    pub property: Option<String>,
    /// Output model directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the fine-tuning in --out from its latest checkpoint, with its own
    /// recipe and configuration.
    #[arg(long, conflicts_with_all = ["overwrite", "from", "scratch", "db", "property", "task", "loss", "floor", "head_init", "head_ridge", "splits", "split_seed"])]
    pub resume: bool,
    /// Replace a fine-tuning already in --out.
    #[arg(long)]
    pub overwrite: bool,
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Peak learning rate of the encoder (AdamW) and of the head (Adam).
    #[arg(long, default_value_t = DEFAULT_LR)]
    pub lr: f64,
    /// Regression, or classification of 0/1 labels [default: classification for
    /// is_metal, regression otherwise]
    #[arg(long, value_enum)]
    pub task: Option<Task>,
    /// Regression loss on the standardized labels: mean squared or absolute error.
    #[arg(long, value_enum, default_value_t = RegressionLoss::Mse)]
    pub loss: RegressionLoss,
    /// Lowest value predicted, for a property that cannot go below it (0 for
    /// band_gap): lower predictions are raised to it in validation, test and predict.
    #[arg(long, allow_negative_numbers = true)]
    pub floor: Option<f64>,
    /// How the new head starts: zero weights, or fitted to the starting encoder's
    /// embeddings of the training materials before the first step (least squares
    /// for --loss mse, least absolute deviations for l1; regression only).
    #[arg(long, value_enum, default_value_t = HeadInit::Zero)]
    pub head_init: HeadInit,
    /// Ridge of a fitted head (--head-init fit) on its weights, in multiples of the
    /// embeddings' mean square m: each least-squares solve adds R·m·‖w‖² to the
    /// mean squared error. 1e-6 barely shrinks the weights; 1 halves a weight along
    /// a direction of variance m and shrinks the low-variance ones far more
    /// [default: 1]
    #[arg(long)]
    pub head_ridge: Option<f64>,
    /// Learning-rate schedule: linear warm-up then cosine decay, or constant.
    #[arg(long, value_enum, default_value_t = LrSchedule::Cosine)]
    pub schedule: LrSchedule,
    /// Fraction of the planned steps spent warming up (cosine schedule).
    #[arg(long, default_value_t = 0.05)]
    pub warmup: f64,
    /// Stop after this many epochs without a better validation score.
    #[arg(long, default_value_t = 10)]
    pub patience: usize,
    /// Split seed (train/validation/test by material id, in the --splits fractions).
    #[arg(long, default_value_t = 42)]
    pub split_seed: u64,
    /// Train, validation and test fractions of the labelled materials, e.g.
    /// `0.8,0.1,0.1`. A material's split follows from its id and the seed alone,
    /// so fractions with the same test share keep the same test materials. A
    /// validation fraction of 0 (`0.9,0,0.1`) trains on the validation materials
    /// too, for a final fit of a recipe chosen on validation: every epoch runs and
    /// the last is kept.
    #[arg(
        long,
        value_name = "TRAIN,VALIDATION,TEST",
        value_delimiter = ',',
        default_value = "0.7,0.2,0.1",
        allow_hyphen_values = true
    )]
    pub splits: Vec<f64>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The three fractions of `--splits`.
fn split_fractions(values: &[f64]) -> Result<[f64; 3]> {
    <[f64; 3]>::try_from(values).map_err(|_| {
        anyhow::anyhow!("--splits takes three fractions, train,validation,test: got {values:?}")
    })
}

/// The default peak learning rate (chosen by the ablation in the README).
const DEFAULT_LR: f64 = 1e-3;

/// Runs `mmhost finetune`.
pub fn run_finetune(args: FinetuneArgs, settings: Settings, search: PluginSearch) -> Result<()> {
    let json = args.json;
    let start = if args.resume {
        FinetuneStart::Resume
    } else {
        let (Some(db), Some(property)) = (args.db.clone(), args.property.clone()) else {
            bail!("a new fine-tuning needs --db and --property");
        };
        if args.from.is_none() && !args.scratch {
            bail!(
                "say where the crystal encoder starts: --from DIR (a pretraining run or a \
                 fine-tuned model) or --scratch"
            );
        }
        FinetuneStart::New {
            spec: FinetuneSpec {
                db,
                from: args.from.clone(),
                task: Some(args.task.unwrap_or_else(|| Task::default_for(&property))),
                property,
                loss: args.loss,
                floor: args.floor,
                head_init: args.head_init,
                head_ridge: args.head_init.ridge(args.head_ridge),
                epochs: args.epochs,
                batch_size: args.batch_size,
                lr: args.lr,
                schedule: args.schedule,
                warmup_fraction: args.warmup,
                patience: args.patience,
                split_seed: args.split_seed,
                splits: split_fractions(&args.splits)?,
            },
            settings: Box::new(settings),
        }
    };
    let request = FinetuneRequest {
        start,
        search,
        out: args.out.clone(),
        overwrite: args.overwrite,
        progress: true,
        interrupt: Interrupt::default(),
    };
    let mut report = |line: &EpochLine| {
        let score = match line.validation {
            Some(score) => format!("validation {score:.4} (best: epoch {})", line.best_epoch),
            None => "no validation split".to_string(),
        };
        eprintln!(
            "epoch {}  train loss {:.4}  {score}  {:.1} materials/s  {}",
            line.epoch,
            line.train_loss,
            line.materials_per_s,
            format_duration(line.seconds)
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
        "model in {}/: model.json, crystal.safetensors, config.toml, test_predictions.csv{}, \
         metrics.jsonl, loss.png",
        args.out.display(),
        if outcome.task == Task::Regression {
            ", parity.png"
        } else {
            ""
        }
    );
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
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
    /// CSV to write: material_id, source file, prediction (a classifier: probability
    /// and class), and the structure's element that the fewest of the model's
    /// training materials contained, with their number (0: none had it; both empty
    /// for a model that does not record its training elements). Left out, the CSV
    /// goes to standard output and the summary to standard error.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Runs `mmhost predict`.
pub fn run_predict(args: PredictArgs, search: PluginSearch, device: Option<&str>) -> Result<()> {
    let mut model = FinetunedModel::open(&args.model)?;
    if let Some(device) = device {
        model.settings.move_to(device);
    }
    let (mut encoder, featurizer) = model.encoder(&search)?;
    let files: Vec<RawInput> = files_under(&args.input)
        .into_iter()
        .map(RawInput::File)
        .collect();
    let (gathered, mut refused) = inputs::gather(&files, "crystal");
    let ready = inputs::featurize(&featurizer, gathered, &mut refused);
    if ready.is_empty() {
        for r in &refused {
            eprintln!("not predicted: {r}");
        }
        bail!("no structure could be predicted");
    }
    let z = inputs::embed(&mut encoder, &ready, &mut |_, _| ControlFlow::Continue(()))
        .context("embedding structures")?
        .unwrap_or_default();
    let property = &model.info.property;
    let mut header = vec!["material_id".to_string(), "file".to_string()];
    header.extend(match model.info.task {
        Task::Regression => vec![format!("predicted_{property}")],
        Task::Classification => vec![format!("probability_{property}"), property.clone()],
    });
    header.extend(["rarest_element", "rarest_element_training_materials"].map(String::from));
    // Quoted where a field needs it: ids and paths may hold commas or quotes.
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(&header)?;
    // Elements no training material had, with the number of structures containing each.
    let mut unseen: BTreeMap<&str, usize> = BTreeMap::new();
    for (input, value) in ready.iter().zip(model.predict(&z)) {
        let mut row = vec![input.id.clone(), input.input.clone(), value.to_string()];
        if model.info.task == Task::Classification {
            row.push(u8::from(value > 0.5).to_string());
        }
        let rarest = input
            .elements
            .as_ref()
            .and_then(|e| model.rarest_element(e));
        row.extend(match rarest {
            Some(RarestElement {
                symbol,
                training_materials,
            }) => [symbol, training_materials.to_string()],
            None => [String::new(), String::new()],
        });
        csv.write_record(&row)?;
        for element in input.elements.iter().flat_map(|e| model.unseen_elements(e)) {
            *unseen.entry(element.symbol()).or_default() += 1;
        }
    }
    let csv = csv.into_inner().context("writing the predictions CSV")?;
    for r in &refused {
        eprintln!("not predicted: {r}");
    }
    let summary = |destination: &str| {
        format!(
            "{} structures predicted ({property}) → {destination}; {} not predicted",
            ready.len(),
            refused.len()
        )
    };
    match &args.output {
        Some(output) => {
            mmhost::atomic::write(output, &csv)
                .with_context(|| format!("writing {}", output.display()))?;
            println!("{}", summary(&output.display().to_string()));
        }
        None => {
            std::io::stdout()
                .write_all(&csv)
                .context("writing the predictions to standard output")?;
            eprintln!("{}", summary("standard output"));
        }
    }
    if !unseen.is_empty() {
        let listed: Vec<String> = unseen
            .iter()
            .map(|(symbol, n)| format!("{symbol} ({n} structure{})", plural(*n)))
            .collect();
        eprintln!(
            "note: elements that none of this model's training materials contained: {}; \
             no labelled example of them informs those predictions \
             (rarest_element_training_materials = 0 in the CSV)",
            listed.join(", ")
        );
    } else if model.info.training_elements.is_none() {
        eprintln!(
            "note: this model does not record its training materials' elements \
             (written before mmhost recorded them), so the rarest_element columns are empty"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{error::ErrorKind, Parser};

    use crate::cli::Cli;

    /// `finetune --resume` with a recipe flag that cannot change a stopped run.
    fn resume_with(flag: &[&str]) -> Result<Cli, clap::Error> {
        let mut argv = vec!["mmhost", "finetune", "--out", "ft", "--resume"];
        argv.extend_from_slice(flag);
        Cli::try_parse_from(argv)
    }

    #[test]
    fn resume_refuses_the_flags_of_a_recipe() {
        assert!(resume_with(&[]).is_ok());
        for flag in [
            &["--task", "regression"][..],
            &["--loss", "l1"],
            &["--head-ridge", "1"],
            &["--splits", "0.9,0,0.1"],
        ] {
            let refused = resume_with(flag).err().map(|e| e.kind());
            assert_eq!(refused, Some(ErrorKind::ArgumentConflict), "{flag:?}");
        }
    }
}
