//! `mmhost embed` and `mmhost retrieve`: using a trained run's encoders.

use std::{
    collections::HashMap,
    io::IsTerminal,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use clap::Args;
use mmhost::{
    dataset::{split_of, Dataset, Split},
    embed::{embed_ids, write_embeddings, Embedded},
    model::TrainedRun,
    plugins::PluginSearch,
    retrieval::{own_target_ranks, RetrievalScores},
};

/// Which materials: a split of the run's (by id and seed) or all.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum SplitChoice {
    Train,
    Validation,
    Test,
    All,
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Run directory written by `mmhost train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset (default: the one the run trained on).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Modality to embed, e.g. crystal.
    #[arg(long)]
    pub modality: String,
    /// Output `.npy` (float32 `[n, dim]`); the ids go to `NAME_ids.txt` beside it.
    #[arg(long)]
    pub output: PathBuf,
    /// Materials to embed.
    #[arg(long, value_enum, default_value = "all")]
    pub split: SplitChoice,
}

#[derive(Debug, Args)]
pub struct RetrieveArgs {
    /// Run directory written by `mmhost train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset (default: the one the run trained on).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Query modality, e.g. dos.
    #[arg(long)]
    pub query: String,
    /// Target modality, e.g. crystal.
    #[arg(long)]
    pub target: String,
    /// Materials to score (held-out test materials by default).
    #[arg(long, value_enum, default_value = "test")]
    pub split: SplitChoice,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

struct Opened {
    run: TrainedRun,
    dataset: Dataset,
    ids: Vec<String>,
}

fn open(model: &Path, db: Option<&Path>, split: SplitChoice) -> Result<Opened> {
    let run = TrainedRun::open(model)?;
    let db = db.map_or_else(|| run.info().db.clone(), Path::to_path_buf);
    if !db.is_file() {
        bail!("{}: no such dataset", db.display());
    }
    let dataset = Dataset::open(&db)?;
    let (seed, fractions) = (run.seed(), run.splits());
    let wanted = match split {
        SplitChoice::Train => Some(Split::Train),
        SplitChoice::Validation => Some(Split::Validation),
        SplitChoice::Test => Some(Split::Test),
        SplitChoice::All => None,
    };
    let ids = dataset
        .material_ids()?
        .into_iter()
        .filter(|id| wanted.is_none_or(|w| split_of(id, seed, fractions) == w))
        .collect();
    Ok(Opened { run, dataset, ids })
}

fn embed_modality(opened: &Opened, search: &PluginSearch, modality: &str) -> Result<Embedded> {
    let (mut encoder, source) = opened
        .run
        .encoder(modality, search, &opened.dataset)
        .with_context(|| format!("loading the {modality} encoder"))?;
    let terminal = std::io::stderr().is_terminal();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let embedded = embed_ids(
        &opened.dataset,
        &mut encoder,
        &source,
        &opened.ids,
        64,
        threads,
        &mut |done, total| {
            if terminal {
                eprint!("\r\x1b[2Kembedding {modality}: {done}/{total}");
            }
        },
    )?;
    if terminal {
        eprintln!();
    }
    for failure in &embedded.failed {
        tracing::warn!("not embedded: {failure}");
    }
    Ok(embedded)
}

/// Runs `mmhost embed`.
pub fn embed(args: EmbedArgs, search: PluginSearch) -> Result<()> {
    let opened = open(&args.model, args.db.as_deref(), args.split)?;
    let embedded = embed_modality(&opened, &search, &args.modality)?;
    let ids = write_embeddings(&args.output, &embedded)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "{} {} embeddings ({}-d) → {} (ids: {}); {} not embedded",
        embedded.ids.len(),
        args.modality,
        embedded.dim,
        args.output.display(),
        ids.display(),
        embedded.failed.len()
    );
    Ok(())
}

/// Runs `mmhost retrieve`.
pub fn retrieve(args: RetrieveArgs, search: PluginSearch) -> Result<()> {
    let opened = open(&args.model, args.db.as_deref(), args.split)?;
    let query = embed_modality(&opened, &search, &args.query)?;
    let target = embed_modality(&opened, &search, &args.target)?;
    if query.dim != target.dim {
        bail!(
            "{} embeddings are {}-d, {} embeddings {}-d",
            args.query,
            query.dim,
            args.target,
            target.dim
        );
    }
    let target_rows: HashMap<&str, usize> = target
        .ids
        .iter()
        .enumerate()
        .map(|(row, id)| (id.as_str(), row))
        .collect();
    let dim = query.dim;
    let (mut q, mut t) = (Vec::new(), Vec::new());
    for (row, id) in query.ids.iter().enumerate() {
        if let Some(&target_row) = target_rows.get(id.as_str()) {
            q.extend_from_slice(&query.values[row * dim..(row + 1) * dim]);
            t.extend_from_slice(&target.values[target_row * dim..(target_row + 1) * dim]);
        }
    }
    if q.is_empty() {
        bail!(
            "no material of the {} split has both {} and {}",
            format!("{:?}", args.split).to_lowercase(),
            args.query,
            args.target
        );
    }
    let scores = RetrievalScores::from_ranks(&own_target_ranks(&q, &t, dim));
    if args.json {
        let value = serde_json::json!({
            "query": args.query,
            "target": args.target,
            "split": format!("{:?}", args.split).to_lowercase(),
            "scores": scores,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!(
        "{} → {} on {} materials ({} split):",
        args.query,
        args.target,
        scores.queries,
        format!("{:?}", args.split).to_lowercase()
    );
    for (k, value) in [
        (1, scores.top1),
        (5, scores.top5),
        (10, scores.top10),
        (25, scores.top25),
    ] {
        println!("  top-{k:<3} {:6.1} %", value * 100.0);
    }
    println!(
        "  mean rank {:.1}, median rank {:.1} (chance: {:.1})",
        scores.mean_rank,
        scores.median_rank,
        (scores.queries as f64 + 1.0) / 2.0
    );
    Ok(())
}
