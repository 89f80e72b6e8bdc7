//! `mmhost embed`, `retrieve`, `discover` and `map`: arguments and printing around
//! the library's downstream tasks (`mmhost::downstream`).

use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use clap::Args;
use mmhost::{
    dataset::Split,
    downstream::{
        discover::{discover as discover_dos, DiscoverRequest},
        embed::write_embeddings,
        map::{map_crystals, MapColour},
        retrieve::{nearest, score_split, Query},
        umap::UmapConfig,
        ModelOnData,
    },
    plugins::PluginSearch,
};

/// Which materials: a split of the run's (by id and seed) or all.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum SplitChoice {
    Train,
    Validation,
    Test,
    All,
}

impl SplitChoice {
    fn split(self) -> Option<Split> {
        match self {
            SplitChoice::Train => Some(Split::Train),
            SplitChoice::Validation => Some(Split::Validation),
            SplitChoice::Test => Some(Split::Test),
            SplitChoice::All => None,
        }
    }
}

/// Shows `embedding MODALITY: done/total` on a terminal's stderr.
fn show_progress(modality: &str, done: usize, total: usize) {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2Kembedding {modality}: {done}/{total}");
        if done == total {
            eprintln!();
        }
    }
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
    /// Materials to score (default: the held-out test split; with --input or
    /// --text, candidates from all materials).
    #[arg(long, value_enum)]
    pub split: Option<SplitChoice>,
    /// One query from a file instead: a DOS (DOSCAR, vasprun.xml, pymatgen JSON), a
    /// CHGCAR, a structure (CIF, POSCAR, …); prints its top candidates.
    #[arg(long, conflicts_with = "text")]
    pub input: Option<PathBuf>,
    /// One query sentence (with --query text); prints its top candidates.
    #[arg(long)]
    pub text: Option<String>,
    /// Candidates printed for a single query.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Run directory written by `mmhost train` (with crystal and dos encoders).
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset of candidate materials (default: the run's).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// The target DOS: a material id of the dataset, or a file (DOSCAR, vasprun.xml,
    /// pymatgen DOS JSON, MP document).
    #[arg(long)]
    pub target_dos: String,
    /// Nearest crystals to examine.
    #[arg(long, default_value_t = 15)]
    pub neighbours: usize,
    /// Half-width (eV) of the comparison window around E_Fermi.
    #[arg(long, default_value_t = 5.0)]
    pub window: f64,
    /// Directory for discovery.csv, discovery.png and best_dos.png.
    #[arg(long, default_value = "discovery")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct MapArgs {
    /// Run directory written by `mmhost train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset (default: the run's).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Colouring of the points.
    #[arg(long = "color", value_enum)]
    pub color: MapColour,
    /// PNG to write; the coordinates go to a CSV of the same name beside it.
    #[arg(long)]
    pub output: PathBuf,
    /// Materials to map.
    #[arg(long, value_enum, default_value = "all")]
    pub split: SplitChoice,
    /// UMAP neighbours.
    #[arg(long, default_value_t = 15)]
    pub neighbours: usize,
    /// UMAP minimum distance.
    #[arg(long, default_value_t = 0.1)]
    pub min_dist: f64,
}

/// The trained run at `model` on `db` (default: its own dataset), its encoders
/// moved to `device` where one is given.
fn open_model(
    model: &Path,
    db: Option<&Path>,
    split: Option<Split>,
    device: Option<&str>,
) -> Result<ModelOnData> {
    let mut on = ModelOnData::open(model, db, split)?;
    if let Some(device) = device {
        on.run.move_to(device);
    }
    Ok(on)
}

/// Runs `mmhost embed`.
pub fn embed(args: EmbedArgs, search: PluginSearch, device: Option<&str>) -> Result<()> {
    let on = open_model(&args.model, args.db.as_deref(), args.split.split(), device)?;
    let embedded = on.embed(&on.ids, &search, &args.modality, &show_progress)?;
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
pub fn retrieve(args: RetrieveArgs, search: PluginSearch, device: Option<&str>) -> Result<()> {
    let query = match (&args.input, &args.text) {
        (_, Some(sentence)) => Some(Query::Text(sentence)),
        (Some(file), None) => Some(Query::File(file)),
        (None, None) => None,
    };
    if let Some(query) = query {
        return retrieve_one(&args, query, search, device);
    }
    let split = args.split.unwrap_or(SplitChoice::Test);
    let on = open_model(&args.model, args.db.as_deref(), split.split(), device)?;
    let scores = score_split(&on, &search, &args.query, &args.target, &show_progress)?;
    let split_name = format!("{split:?}").to_lowercase();
    if args.json {
        let value = serde_json::json!({
            "query": args.query,
            "target": args.target,
            "split": split_name,
            "scores": scores,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!(
        "{} → {} on {} materials ({split_name} split):",
        args.query, args.target, scores.queries,
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

/// `mmhost retrieve --input FILE | --text SENTENCE`: the top candidates of one query.
fn retrieve_one(
    args: &RetrieveArgs,
    query: Query<'_>,
    search: PluginSearch,
    device: Option<&str>,
) -> Result<()> {
    let split = args.split.unwrap_or(SplitChoice::All);
    let on = open_model(&args.model, args.db.as_deref(), split.split(), device)?;
    let found = nearest(
        &on,
        &search,
        &args.query,
        query,
        &args.target,
        args.top,
        &show_progress,
    )?;
    if args.json {
        let value = serde_json::json!({
            "query": found.query,
            "target": found.target,
            "candidates": found.candidates,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!(
        "{} candidates for {} among {} materials:",
        found.target, found.query, found.among
    );
    for (rank, candidate) in found.candidates.iter().enumerate() {
        println!(
            "{:>3}  {:<14} {:<16} {:.4}",
            rank + 1,
            candidate.id,
            candidate.formula,
            candidate.similarity
        );
    }
    Ok(())
}

/// Runs `mmhost discover`.
pub fn discover(args: DiscoverArgs, search: PluginSearch, device: Option<&str>) -> Result<()> {
    let on = open_model(&args.model, args.db.as_deref(), None, device)?;
    let request = DiscoverRequest {
        target_dos: &args.target_dos,
        neighbours: args.neighbours,
        window_ev: args.window,
    };
    let found = discover_dos(&on, &search, &request, &show_progress)?;
    println!(
        "{:>3}  {:<14} {:<14} {:>10} {:>8}   best so far",
        "N", "neighbour", "formula", "similarity", "MAE"
    );
    for (n, neighbour) in found.neighbours.iter().enumerate() {
        let mae = neighbour
            .normalized_mae
            .map_or("-".to_string(), |m| format!("{m:.4}"));
        let best = neighbour.best_so_far.map_or(String::new(), |(i, m)| {
            format!("{} {m:.4}", found.neighbours[i].id)
        });
        println!(
            "{:>3}  {:<14} {:<14} {:>10.4} {mae:>8}   {best}",
            n + 1,
            neighbour.id,
            neighbour.formula,
            neighbour.similarity
        );
    }
    let files = found.write(&args.out)?;
    if found.target.efermi.is_none() {
        eprintln!(
            "note: the target DOS has no E_Fermi, so spectra are compared over their common \
             absolute energy range rather than ±{} eV around E_Fermi",
            args.window
        );
    }
    let mut written = vec![
        files.table.display().to_string(),
        files.curve.display().to_string(),
    ];
    written.extend(files.best_dos.map(|p| p.display().to_string()));
    println!("written: {}", written.join(", "));
    Ok(())
}

/// Runs `mmhost map`.
pub fn map(args: MapArgs, search: PluginSearch, device: Option<&str>) -> Result<()> {
    let on = open_model(&args.model, args.db.as_deref(), args.split.split(), device)?;
    let config = UmapConfig {
        neighbours: args.neighbours,
        min_dist: args.min_dist,
        ..UmapConfig::default()
    };
    let map = map_crystals(
        &on,
        &search,
        args.color,
        &config,
        &args.output,
        &show_progress,
    )?;
    println!(
        "{} crystals mapped → {} (coordinates: {})",
        map.points,
        map.png.display(),
        map.csv.display()
    );
    Ok(())
}
