//! `mmhost train`: contrastive pretraining over a modality subset.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use mmhost::{
    plugins::PluginSearch,
    run::Interrupt,
    settings::Settings,
    train::{format_duration, train, EpochMetrics, TrainRequest},
};

/// Which modality pairs the CLIP loss aligns.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LossKind {
    /// The anchor modality (crystal) against each other one.
    Anchored,
    /// Every pair of modalities.
    AllPairs,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Dataset file (`mmhost data import` writes it); on --resume, the run's own by default.
    #[arg(long, required_unless_present = "resume")]
    pub db: Option<PathBuf>,
    /// Modalities to align, comma-separated: each needs an `[encoders.NAME]` table
    /// (or is a bundled one: crystal, dos, charge, text). Taken from the run on --resume.
    #[arg(long, value_delimiter = ',', required_unless_present = "resume")]
    pub plugins: Vec<String>,
    /// Loss kind (sets `loss.config.kind`); the configured one otherwise.
    #[arg(long, value_enum)]
    pub loss: Option<LossKind>,
    /// Number of epochs (sets `train.epochs`).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Materials per step (sets `train.batch_size`).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Run directory: configuration, metrics, loss curve, checkpoints.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint, with its own configuration.
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    /// Start over, replacing a run already in --out.
    #[arg(long)]
    pub overwrite: bool,
    /// Print the per-epoch metrics as JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `mmhost train`.
pub fn run(args: TrainArgs, mut settings: Settings, search: PluginSearch) -> Result<()> {
    if args.resume && (args.loss.is_some() || args.epochs.is_some() || args.batch_size.is_some()) {
        bail!("--resume continues a run with its own configuration: drop --loss, --epochs and --batch-size");
    }
    if let Some(kind) = args.loss {
        let kind = match kind {
            LossKind::Anchored => "anchored",
            LossKind::AllPairs => "all-pairs",
        };
        settings
            .loss
            .config
            .insert("kind".into(), toml::Value::String(kind.into()));
    }
    if let Some(epochs) = args.epochs {
        settings.train.epochs = epochs;
    }
    if let Some(batch_size) = args.batch_size {
        settings.train.batch_size = batch_size;
    }
    let json = args.json;
    let request = TrainRequest {
        db: args.db,
        modalities: args.plugins,
        settings,
        search,
        out: args.out.clone(),
        resume: args.resume,
        overwrite: args.overwrite,
        progress: !args.quiet,
        interrupt: Interrupt::default(),
    };
    let mut print_epoch = |m: &EpochMetrics| {
        if json {
            println!("{}", serde_json::to_string(m).unwrap_or_default());
        } else {
            println!("{}", epoch_line(m));
        }
    };
    let outcome = train(request, &mut print_epoch)?;
    let root = outcome.run.root().display().to_string();
    eprintln!(
        "finished: {} epochs this session, {} of training in all\n\
         outputs in {root}/: config.toml, run.json, metrics.jsonl, loss.png\n\
         final checkpoint: {}",
        outcome.epochs.len(),
        format_duration(outcome.elapsed_s),
        outcome.checkpoint.display()
    );
    Ok(())
}

/// `epoch 3/10  train loss 2.3101  val loss 2.4012  dos→crystal top-1 12.0% top-5 40.0%  …`
fn epoch_line(m: &EpochMetrics) -> String {
    let mut line = format!(
        "epoch {}/{}  train loss {:.4}",
        m.epoch, m.epochs, m.train_loss
    );
    if let Some(loss) = m.validation.loss {
        line.push_str(&format!("  val loss {loss:.4}"));
    }
    for (pair, scores) in &m.validation.retrieval {
        line.push_str(&format!(
            "  {pair} top-1 {:.1}% top-5 {:.1}% (n={})",
            scores.top1 * 100.0,
            scores.top5 * 100.0,
            scores.queries
        ));
    }
    line.push_str(&format!("  {:.1} materials/s", m.materials_per_s));
    line
}
