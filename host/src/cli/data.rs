//! `mmhost data import | describe | info | list | show`.

use std::{
    ops::ControlFlow,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use mmhost::{
    dataset::Dataset,
    finetune::{element_counts, training_ids, FinetunedModel},
    import::{import_sources, FileReport, Outcome},
};
use mmhost_materials::{records::structure_from_record, structure_to_pymatgen, Lattice};
use mmhost_plugin_api::Record;

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Import files or folders (CIF, POSCAR, CHGCAR/AECCAR/CHG, vasprun.xml, DOSCAR,
    /// pymatgen/Materials Project JSON and JSONL, CSV with a cif or description
    /// column, .npy with an id list; .gz allowed). Each file is one transaction;
    /// unchanged files are skipped, so an interrupted import can be rerun.
    Import {
        /// Dataset file (created if missing).
        #[arg(long)]
        db: PathBuf,
        /// Files or folders to import.
        #[arg(required = true)]
        sources: Vec<PathBuf>,
        /// Print the per-file reports as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Give every material that has a structure but no description a generated one
    /// (as `mmhost describe` writes it), stored as its `text` record.
    Describe {
        #[arg(long)]
        db: PathBuf,
    },
    /// Counts per modality, label and crystal system; with `--model`, the materials a
    /// fine-tuned model trained on and how many of them contain each element.
    Info {
        #[arg(long)]
        db: PathBuf,
        /// A model written by `mmhost finetune` on this dataset: count its training
        /// materials (its recipe's property and split) per element.
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Every material: id, formula, modalities and labels (the ids the importer
    /// assigned; a CHGCAR's is its file stem).
    List {
        #[arg(long)]
        db: PathBuf,
        /// Only materials with a record of this modality (crystal, dos, charge, text, …).
        #[arg(long)]
        modality: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One material: formula, symmetry, structure, modalities and labels.
    Show {
        #[arg(long)]
        db: PathBuf,
        /// Material id, e.g. mp-149.
        id: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: DataCommand) -> Result<()> {
    match command {
        DataCommand::Import { db, sources, json } => import(&db, &sources, json),
        DataCommand::Describe { db } => {
            let (written, rejected) = mmhost::import::describe_missing(&open_existing(&db)?)?;
            for r in &rejected {
                eprintln!("  not described {}: {}", r.record, r.reason);
            }
            eprintln!("{written} descriptions generated in {}", db.display());
            Ok(())
        }
        DataCommand::Info { db, model, json } => match model {
            Some(model) => training_elements(&db, &model, json),
            None => info(&db, json),
        },
        DataCommand::List { db, modality, json } => list(&db, modality.as_deref(), json),
        DataCommand::Show { db, id, json } => show(&db, &id, json),
    }
}

fn open_existing(db: &Path) -> Result<Dataset> {
    if !db.is_file() {
        bail!(
            "{} does not exist (create it with `mmhost data import --db ...`)",
            db.display()
        );
    }
    Ok(Dataset::open(db)?)
}

fn import(db: &Path, sources: &[PathBuf], json: bool) -> Result<()> {
    for source in sources {
        if !source.exists() {
            bail!("{} does not exist", source.display());
        }
    }
    let dataset = Dataset::open(db)?;
    let reports = import_sources(&dataset, sources, |report| {
        if !json {
            print_report(report);
        }
        ControlFlow::Continue(())
    })?;
    let count = |f: fn(&Outcome) -> bool| reports.iter().filter(|r| f(&r.outcome)).count();
    let failed = count(|o| matches!(o, Outcome::Failed { .. }));
    let rejected: usize = reports
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Imported { rejected, .. } => rejected.len(),
            _ => 0,
        })
        .sum();
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        eprintln!(
            "{} files imported, {} unchanged, {} skipped, {failed} failed; {rejected} records \
             rejected. Dataset: {}",
            count(|o| matches!(o, Outcome::Imported { .. })),
            count(|o| matches!(o, Outcome::Unchanged)),
            count(|o| matches!(o, Outcome::Skipped { .. })),
            db.display()
        );
    }
    if failed > 0 || rejected > 0 {
        bail!(
            "{failed} files failed and {rejected} records were rejected (listed above); \
             everything else is imported"
        );
    }
    Ok(())
}

fn print_report(report: &FileReport) {
    match &report.outcome {
        Outcome::Imported {
            materials,
            records,
            rejected,
            seconds,
        } => {
            eprintln!(
                "imported  {} [{}]: {materials} materials, {records} records in {seconds:.1} s",
                report.path, report.format
            );
            for r in rejected {
                eprintln!("  rejected {}: {}: {}", report.path, r.record, r.reason);
            }
        }
        Outcome::Unchanged => eprintln!("unchanged {}", report.path),
        Outcome::Skipped { reason } => eprintln!("skipped   {}: {reason}", report.path),
        Outcome::Failed { reason } => eprintln!("FAILED    {}: {reason}", report.path),
    }
}

fn list(db: &Path, modality: Option<&str>, json: bool) -> Result<()> {
    let listing = open_existing(db)?.listing(modality)?;
    if json {
        let rows: Vec<serde_json::Value> = listing
            .iter()
            .map(|(material, modalities)| {
                serde_json::json!({
                    "id": material.id,
                    "formula": material.formula,
                    "modalities": modalities,
                    "labels": material.labels,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!("{:<24} {:<16} {:<28} labels", "id", "formula", "modalities");
    for (material, modalities) in &listing {
        let labels: Vec<String> = material
            .labels
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        println!(
            "{:<24} {:<16} {:<28} {}",
            material.id,
            material.formula.as_deref().unwrap_or("-"),
            modalities.join(","),
            labels.join(" ")
        );
    }
    eprintln!("{} materials", listing.len());
    Ok(())
}

fn info(db: &Path, json: bool) -> Result<()> {
    let summary = open_existing(db)?.summary()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    println!(
        "{}: {} materials from {} source files",
        db.display(),
        summary.materials,
        summary.sources
    );
    println!("\nrecords per modality:");
    for (modality, n) in &summary.modalities {
        println!("  {modality:<10} {n:>8}");
    }
    println!("\nmaterials per label:");
    for (label, n) in &summary.labels {
        println!("  {label:<32} {n:>8}");
    }
    println!("\nmaterials per crystal system:");
    for (system, n) in &summary.crystal_systems {
        println!("  {system:<14} {n:>8}");
    }
    Ok(())
}

/// `data info --model`: the model's training materials per element.
fn training_elements(db: &Path, model_dir: &Path, json: bool) -> Result<()> {
    let dataset = open_existing(db)?;
    let model = FinetunedModel::open(model_dir)?;
    let Some(recipe) = &model.info.outcome.recipe else {
        bail!(
            "{}: its model.json does not hold the recipe (written by an older mmhost), so \
             which materials it trained on is not known",
            model_dir.display()
        );
    };
    let ids = training_ids(&dataset, recipe, model.info.task)?;
    let trained = model.info.outcome.materials.train;
    if ids.len() != trained {
        eprintln!(
            "note: {} gives {} training materials for this model's recipe, but it trained on \
             {trained}: is this the dataset it was fine-tuned on ({})? (structures its \
             featurizer refused are counted here and were left out there)",
            db.display(),
            ids.len(),
            recipe.db.display()
        );
    }
    let counts = element_counts(&dataset, ids.iter().map(String::as_str))?;
    if json {
        let value = serde_json::json!({
            "model": model_dir.display().to_string(),
            "property": recipe.property,
            "training_materials": ids.len(),
            "elements": counts,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!(
        "{}: {} training materials ({}) in {}, {} elements",
        model_dir.display(),
        ids.len(),
        recipe.property,
        db.display(),
        counts.len()
    );
    let mut by_count: Vec<(&String, &usize)> = counts.iter().collect();
    by_count.sort_by_key(|(symbol, n)| (std::cmp::Reverse(**n), *symbol));
    println!("\ntraining materials per element:");
    for (symbol, n) in by_count {
        println!("  {symbol:<3} {n:>8}");
    }
    Ok(())
}

fn show(db: &Path, id: &str, json: bool) -> Result<()> {
    let dataset = open_existing(db)?;
    let material = dataset
        .material(id)?
        .with_context(|| format!("no material '{id}' in {}", db.display()))?;
    let modalities = dataset.modalities_of(id)?;
    let structure = match dataset.record("crystal", id)? {
        Some(record) => Some(structure_from_record(&record)?),
        None => None,
    };
    if json {
        let value = serde_json::json!({
            "material": material,
            "modalities": modalities,
            "structure": structure.as_ref().map(structure_to_pymatgen),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("{id}");
    if let Some(formula) = &material.formula {
        println!("  formula        {formula}");
    }
    if let (Some(sg), Some(system)) = (material.space_group, &material.crystal_system) {
        println!("  space group    {sg} ({system})");
    }
    if let Some(structure) = &structure {
        print_lattice(&structure.lattice, structure.len());
    }
    println!("  modalities     {}", modalities.join(", "));
    for modality in &modalities {
        if let Some(record) = dataset.record(modality, id)? {
            println!("    {modality:<8} {}", describe_record(&record));
        }
    }
    println!("  labels");
    for (label, value) in &material.labels {
        println!("    {label:<32} {value}");
    }
    println!("  sources");
    for source in &material.sources {
        println!("    {source}");
    }
    Ok(())
}

fn print_lattice(lattice: &Lattice, sites: usize) {
    let [a, b, c] = lattice.lengths();
    let [alpha, beta, gamma] = lattice.angles();
    println!(
        "  lattice        a={a:.4} b={b:.4} c={c:.4} Å, α={alpha:.2} β={beta:.2} γ={gamma:.2}°"
    );
    println!("  volume         {:.3} Å³, {sites} sites", lattice.volume());
}

fn describe_record(record: &Record) -> String {
    record
        .fields
        .iter()
        .map(|f| format!("{} {:?} {:?}", f.name, f.array.dtype, f.array.dims()))
        .collect::<Vec<_>>()
        .join(", ")
}
