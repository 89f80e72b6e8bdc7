//! `mmhost embed`, `retrieve`, `discover` and `map`: using a trained run's encoders.

use std::{
    collections::HashMap,
    io::IsTerminal,
    path::{Path, PathBuf},
};

use std::fmt::Write as _;

use anyhow::{bail, Context, Result};
use clap::Args;
use mmhost::{
    dataset::{split_of, Dataset, Split},
    discover::{best_of_first, normalized_mae, Spectrum},
    embed::{embed_ids, write_embeddings, Embedded},
    import::{read_file, text_record},
    model::TrainedRun,
    plot::Series,
    plugins::PluginSearch,
    retrieval::{own_target_ranks, top_k, RetrievalScores},
    umap::{umap, UmapConfig},
};
use plotters::style::RGBColor;

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
    let (seed, fractions) = (run.split_seed(), run.splits());
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

fn embed_modality(
    opened: &Opened,
    ids: &[String],
    search: &PluginSearch,
    modality: &str,
) -> Result<Embedded> {
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
        ids,
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
    let embedded = embed_modality(&opened, &opened.ids, &search, &args.modality)?;
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
    if args.input.is_some() || args.text.is_some() {
        return retrieve_one(args, search);
    }
    let split = args.split.unwrap_or(SplitChoice::Test);
    let opened = open(&args.model, args.db.as_deref(), split)?;
    let query = embed_modality(&opened, &opened.ids, &search, &args.query)?;
    let target = embed_modality(&opened, &opened.ids, &search, &args.target)?;
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
            format!("{split:?}").to_lowercase(),
            args.query,
            args.target
        );
    }
    let scores = RetrievalScores::from_ranks(&own_target_ranks(&q, &t, dim));
    if args.json {
        let value = serde_json::json!({
            "query": args.query,
            "target": args.target,
            "split": format!("{split:?}").to_lowercase(),
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
        format!("{split:?}").to_lowercase()
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

/// Runs `mmhost discover`.
pub fn discover(args: DiscoverArgs, search: PluginSearch) -> Result<()> {
    let opened = open(&args.model, args.db.as_deref(), SplitChoice::All)?;
    let (target_id, target_raw) = target_dos(&opened.dataset, &args.target_dos)?;
    let target = Spectrum::from_record(&target_raw)
        .map_err(|e| anyhow::anyhow!("target DOS {}: {e}", args.target_dos))?;
    let (mut dos_encoder, dos_source) = opened.run.encoder("dos", &search, &opened.dataset)?;
    let featurized = dos_source
        .featurizer
        .featurize(&target_raw)
        .with_context(|| format!("featurizing the target DOS {}", args.target_dos))?;
    let query = dos_encoder.embed(&[featurized])?;
    // Candidates: materials with a crystal and a DOS to compare, the target aside.
    let candidates: Vec<String> = opened
        .ids
        .iter()
        .filter(|id| {
            dos_source.available.contains(*id) && Some(id.as_str()) != target_id.as_deref()
        })
        .cloned()
        .collect();
    let crystals = embed_modality(&opened, &candidates, &search, "crystal")?;
    if crystals.ids.is_empty() {
        bail!("no candidate material has both a crystal structure and a DOS");
    }
    let hits = &top_k(
        &query.values,
        &crystals.values,
        crystals.dim,
        args.neighbours,
    )[0];
    let mut rows = Vec::new();
    for hit in hits {
        let id = &crystals.ids[hit.row];
        let mae = opened
            .dataset
            .record("dos", id)?
            .and_then(|raw| Spectrum::from_record(&raw).ok())
            .and_then(|s| normalized_mae(&target, &s, args.window));
        rows.push((id.clone(), hit.similarity, mae));
    }
    let curve = best_of_first(&rows.iter().map(|r| r.2).collect::<Vec<_>>());
    std::fs::create_dir_all(&args.out)?;
    let mut csv =
        String::from("n,neighbour,formula,similarity,normalized_mae,best_id,best_normalized_mae\n");
    println!(
        "{:>3}  {:<14} {:<14} {:>10} {:>8}   best so far",
        "N", "neighbour", "formula", "similarity", "MAE"
    );
    for (n, ((id, similarity, mae), best)) in rows.iter().zip(&curve).enumerate() {
        let formula = opened
            .dataset
            .material(id)?
            .and_then(|m| m.formula)
            .unwrap_or_default();
        let mae_text = mae.map_or("-".to_string(), |m| format!("{m:.4}"));
        let (best_id, best_mae) = best.map_or((String::new(), String::new()), |(i, m)| {
            (rows[i].0.clone(), format!("{m:.4}"))
        });
        println!(
            "{:>3}  {id:<14} {formula:<14} {similarity:>10.4} {mae_text:>8}   {best_id} {best_mae}",
            n + 1
        );
        let _ = writeln!(
            csv,
            "{},{id},{formula},{similarity},{},{best_id},{best_mae}",
            n + 1,
            mae.map_or(String::new(), |m| m.to_string())
        );
    }
    mmhost::atomic::write(&args.out.join("discovery.csv"), csv.as_bytes())?;
    let points: Vec<(f64, f64)> = curve
        .iter()
        .enumerate()
        .filter_map(|(n, b)| b.map(|(_, m)| ((n + 1) as f64, m)))
        .collect();
    mmhost::plot::line_chart(
        &args.out.join("discovery.png"),
        &format!("Discovery for the DOS of {}", args.target_dos),
        "N nearest crystals examined",
        "best normalized DOS MAE",
        &[Series {
            name: "best of the N nearest",
            points: &points,
            color: RGBColor(31, 119, 180),
            markers: true,
        }],
    )?;
    if let Some(Some((best, mae))) = curve.last() {
        let best_id = &rows[*best].0;
        if let Some(raw) = opened.dataset.record("dos", best_id)? {
            let candidate = Spectrum::from_record(&raw).map_err(anyhow::Error::msg)?;
            let line = |s: &Spectrum| -> Vec<(f64, f64)> {
                let shift = s.efermi.unwrap_or(0.0);
                s.energies
                    .iter()
                    .zip(&s.density)
                    .map(|(e, d)| (e - shift, *d))
                    .collect()
            };
            let (t, c) = (line(&target), line(&candidate));
            mmhost::plot::line_chart(
                &args.out.join("best_dos.png"),
                &format!(
                    "target {} vs best candidate {best_id} (MAE {mae:.3})",
                    args.target_dos
                ),
                if target.efermi.is_some() {
                    "E − E_Fermi (eV)"
                } else {
                    "energy (eV)"
                },
                "DOS (states/eV/cell)",
                &[
                    Series {
                        name: "target",
                        points: &t,
                        color: RGBColor(0, 0, 0),
                        markers: false,
                    },
                    Series {
                        name: best_id,
                        points: &c,
                        color: RGBColor(214, 39, 40),
                        markers: false,
                    },
                ],
            )?;
        }
    }
    if target.efermi.is_none() {
        eprintln!(
            "note: the target DOS has no E_Fermi, so spectra are compared over their common \
             absolute energy range rather than ±{} eV around E_Fermi",
            args.window
        );
    }
    println!(
        "written: {0}/discovery.csv, {0}/discovery.png, {0}/best_dos.png",
        args.out.display()
    );
    Ok(())
}

/// The target DOS: `(Some(id), record)` from the dataset, or `(None, record)` from a file.
fn target_dos(
    dataset: &Dataset,
    target: &str,
) -> Result<(Option<String>, mmhost_plugin_api::Record)> {
    if let Some(raw) = dataset.record("dos", target)? {
        return Ok((Some(target.to_string()), raw));
    }
    let path = Path::new(target);
    if !path.is_file() {
        bail!("{target}: neither a material with a DOS in the dataset nor a file");
    }
    let batch = read_file(path).map_err(|e| anyhow::anyhow!("{target}: {e}"))?;
    batch
        .records
        .into_iter()
        .find(|(modality, _, _)| modality == "dos")
        .map(|(_, _, raw)| (None, raw))
        .ok_or_else(|| anyhow::anyhow!("{target}: holds no density of states"))
}

/// What colours the map.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum MapColor {
    CrystalSystem,
    FormationEnergy,
    IsMetal,
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
    pub color: MapColor,
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

/// Runs `mmhost map`.
pub fn map(args: MapArgs, search: PluginSearch) -> Result<()> {
    let opened = open(&args.model, args.db.as_deref(), args.split)?;
    let crystals = embed_modality(&opened, &opened.ids, &search, "crystal")?;
    if crystals.ids.len() < 3 {
        bail!("{} crystals: too few to map", crystals.ids.len());
    }
    let started = std::time::Instant::now();
    let config = UmapConfig {
        neighbours: args.neighbours,
        min_dist: args.min_dist,
        ..UmapConfig::default()
    };
    let points = umap(&crystals.values, crystals.dim, &config);
    tracing::info!(
        "UMAP of {} crystals in {:.1} s",
        points.len(),
        started.elapsed().as_secs_f64()
    );
    let mut materials = Vec::with_capacity(crystals.ids.len());
    for id in &crystals.ids {
        materials.push(opened.dataset.material(id)?.unwrap_or_default());
    }
    let label = |m: &mmhost::dataset::Material, key: &str| m.labels.get(key).copied();
    let title = |what: &str| {
        format!(
            "UMAP of {} crystal embeddings, coloured by {what}",
            points.len()
        )
    };
    let (column, values): (&str, Vec<String>) = match args.color {
        MapColor::CrystalSystem => {
            let labels: Vec<String> = materials
                .iter()
                .map(|m| m.crystal_system.clone().unwrap_or_default())
                .collect();
            mmhost::plot::scatter_categories(
                &args.output,
                &title("crystal system"),
                &points,
                &labels,
            )?;
            ("crystal_system", labels)
        }
        MapColor::IsMetal => {
            let labels: Vec<String> = materials
                .iter()
                .map(|m| {
                    let metal = label(m, "is_metal")
                        .or_else(|| label(m, "band_gap").map(|g| f64::from(u8::from(g <= 0.0))));
                    match metal {
                        Some(v) if v > 0.5 => "metal".to_string(),
                        Some(_) => "non-metal".to_string(),
                        None => String::new(),
                    }
                })
                .collect();
            mmhost::plot::scatter_categories(
                &args.output,
                &title("metal / non-metal"),
                &points,
                &labels,
            )?;
            ("is_metal", labels)
        }
        MapColor::FormationEnergy => {
            let energies: Vec<f64> = materials
                .iter()
                .map(|m| label(m, "formation_energy_per_atom").unwrap_or(f64::NAN))
                .collect();
            mmhost::plot::scatter_values(
                &args.output,
                &title("formation energy"),
                &points,
                &energies,
                "formation energy (eV/atom)",
            )?;
            (
                "formation_energy_per_atom",
                energies
                    .iter()
                    .map(|e| {
                        if e.is_finite() {
                            e.to_string()
                        } else {
                            String::new()
                        }
                    })
                    .collect(),
            )
        }
    };
    let csv_path = args.output.with_extension("csv");
    let mut csv = format!("material_id,x,y,{column}\n");
    for ((id, (x, y)), value) in crystals.ids.iter().zip(&points).zip(&values) {
        let _ = writeln!(csv, "{id},{x},{y},{value}");
    }
    mmhost::atomic::write(&csv_path, csv.as_bytes())?;
    println!(
        "{} crystals mapped → {} (coordinates: {})",
        points.len(),
        args.output.display(),
        csv_path.display()
    );
    Ok(())
}

/// `mmhost retrieve --input FILE | --text SENTENCE`: the top candidates of one query.
fn retrieve_one(args: RetrieveArgs, search: PluginSearch) -> Result<()> {
    let opened = open(
        &args.model,
        args.db.as_deref(),
        args.split.unwrap_or(SplitChoice::All),
    )?;
    let (mut encoder, source) = opened.run.encoder(&args.query, &search, &opened.dataset)?;
    let (raw, what) = match (&args.input, &args.text) {
        (_, Some(sentence)) => {
            if args.query != "text" {
                bail!("--text needs --query text (got --query {})", args.query);
            }
            (text_record(sentence), format!("\"{sentence}\""))
        }
        (Some(file), None) => {
            let batch = read_file(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let record = batch
                .records
                .into_iter()
                .find(|(modality, _, _)| *modality == source.input)
                .map(|(_, _, raw)| raw)
                .ok_or_else(|| {
                    anyhow::anyhow!("{}: holds no {} record", file.display(), source.input)
                })?;
            (record, file.display().to_string())
        }
        (None, None) => unreachable!("retrieve_one is called with --input or --text"),
    };
    let featurized = source
        .featurizer
        .featurize(&raw)
        .with_context(|| format!("featurizing {what}"))?;
    let query = encoder.embed(&[featurized])?;
    let targets = embed_modality(&opened, &opened.ids, &search, &args.target)?;
    if targets.dim != query.dim as usize {
        bail!(
            "{} embeddings are {}-d, {} embeddings {}-d",
            args.query,
            query.dim,
            args.target,
            targets.dim
        );
    }
    let hits = &top_k(&query.values, &targets.values, targets.dim, args.top)[0];
    let mut found = Vec::new();
    for hit in hits {
        let id = &targets.ids[hit.row];
        let formula = opened
            .dataset
            .material(id)?
            .and_then(|m| m.formula)
            .unwrap_or_default();
        found.push(serde_json::json!({"id": id, "formula": formula, "similarity": hit.similarity}));
    }
    if args.json {
        let value = serde_json::json!({"query": what, "target": args.target, "candidates": found});
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!(
        "{} candidates for {what} among {} materials:",
        args.target,
        targets.ids.len()
    );
    for (rank, f) in found.iter().enumerate() {
        println!(
            "{:>3}  {:<14} {:<16} {:.4}",
            rank + 1,
            f["id"].as_str().unwrap_or_default(),
            f["formula"].as_str().unwrap_or_default(),
            f["similarity"].as_f64().unwrap_or_default()
        );
    }
    Ok(())
}
