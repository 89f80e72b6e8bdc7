//! Command-line arguments and the commands they run.

mod data;
mod downstream;
mod finetune;
mod models;
mod train;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use mmhost::{
    plugins::{lock_path, sha256_file, LockedPlugin, PluginDescription, PluginLock, PluginSearch},
    settings::{self, Settings},
};

/// Multimodal foundation models for materials, with encoders as plugins.
#[derive(Debug, Parser)]
#[command(name = "mmhost", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Run configuration (TOML); `MMHOST__KEY__SUBKEY` variables and flags override it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Extra directory to search for plugin libraries (repeatable).
    #[arg(long = "plugin-dir", global = true)]
    pub plugin_dirs: Vec<PathBuf>,
    /// Device for the encoders: cpu, cuda:N.
    #[arg(long, global = true, conflicts_with = "devices")]
    pub device: Option<String>,
    /// Data parallelism: one replica of every encoder per device, e.g.
    /// `cpu,cpu` or `cuda:0,cuda:1`; each batch is split across them and their
    /// gradients summed (burn-collective all-reduce).
    #[arg(long, global = true, value_delimiter = ',')]
    pub devices: Vec<String>,
    /// Override any configuration key, e.g. `--set encoders.dos.config.preset=small`.
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    pub overrides: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Plugin libraries on the search path.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Materials datasets: import files, summarize, show one material.
    Data {
        #[command(subcommand)]
        command: data::DataCommand,
    },
    /// A text description of a crystal: formula, space group, lattice, and each
    /// symmetry-distinct site's coordination and bond lengths.
    Describe {
        /// Structure file: CIF, POSCAR/CONTCAR, CHGCAR, pymatgen JSON.
        file: PathBuf,
        /// Print JSON ({"file", "description"}).
        #[arg(long)]
        json: bool,
    },
    /// Contrastive pretraining of two or more modality encoders (AllPairs or
    /// Anchored CLIP), with validation retrieval, checkpoints and --resume.
    Train(train::TrainArgs),
    /// Fine-tune the crystal encoder (pretrained or from scratch) with a linear head
    /// on one property; early stopping on validation, metrics on the test split.
    Finetune(finetune::FinetuneArgs),
    /// Predict a fine-tuned property for structure files (CIF, POSCAR, CSV, MP JSON).
    Predict(finetune::PredictArgs),
    /// Embeddings of one modality from a trained run, as `.npy` with the ids beside it.
    Embed(downstream::EmbedArgs),
    /// Cross-modal retrieval with a trained run: top-1/5/10/25 and mean/median rank
    /// of each query's own material among all targets of a split.
    Retrieve(downstream::RetrieveArgs),
    /// Candidate crystals for a target density of states: the nearest crystal
    /// embeddings to the DOS embedding, scored by their own DOS's normalized MAE.
    Discover(downstream::DiscoverArgs),
    /// A UMAP of a run's crystal embeddings coloured by crystal system, formation
    /// energy or metal/non-metal, as PNG (and CSV coordinates).
    Map(downstream::MapArgs),
    /// The trained models of a folder (the repository's `models/` by default) with
    /// their key figures; checks each model's weights against its card and that the
    /// installed plugins are the versions it was trained with.
    Models {
        /// Folder of model directories.
        #[arg(long, default_value = "models")]
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The resolved run configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The configuration in effect after the file, environment and flags are layered.
    Show {
        /// Print JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
    /// Load every configured plugin and build its encoder (or loss): shows which
    /// library serves each modality, its size and device, or what is wrong.
    Check {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Every plugin found: name, version, kind, modality, embedding width, ABI, path.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Pin the plugin libraries in use (the configured encoders and loss, or all
    /// found with --all) in a lock file with their SHA-256; while it is present,
    /// other or changed libraries are refused.
    Lock {
        /// Lock every plugin on the search path, not only the configured ones.
        #[arg(long)]
        all: bool,
        /// Lock file to write (default: plugins.lock, or mmhost.lock here).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// One plugin in full, with its configuration keys and defaults.
    Inspect {
        /// Plugin name (or path to its library).
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<()> {
    let settings = load_settings(&cli.global)?;
    let search = PluginSearch::configured(&settings, &cli.global.plugin_dirs)?;
    // `--device` moves a trained model's encoders off the device it was trained on.
    let device = cli.global.device.as_deref();
    match cli.command {
        Command::Plugins { command } => match command {
            PluginsCommand::List { json } => list_plugins(&search, json),
            PluginsCommand::Inspect { name, json } => inspect_plugin(&search, &name, json),
            PluginsCommand::Lock { all, output } => {
                lock_plugins(&cli.global, &settings, all, output)
            }
        },
        Command::Data { command } => data::run(command),
        Command::Train(args) => train::run(args, settings, search),
        Command::Finetune(args) => finetune::run_finetune(args, settings, search),
        Command::Predict(args) => finetune::run_predict(args, search, device),
        Command::Embed(args) => downstream::embed(args, search, device),
        Command::Retrieve(args) => downstream::retrieve(args, search, device),
        Command::Discover(args) => downstream::discover(args, search, device),
        Command::Map(args) => downstream::map(args, search, device),
        Command::Models { dir, json } => models::list(&dir, &search, json),
        Command::Describe { file, json } => {
            let structure = mmhost::import::read_structure(&file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let text = mmhost_materials::describe(&structure)
                .with_context(|| format!("describing {}", file.display()))?;
            if json {
                let value = serde_json::json!({"file": file, "description": text.trim_end()});
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                print!("{text}");
            }
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check { json },
        } => check_config(&settings, &search, json),
        Command::Config {
            command: ConfigCommand::Show { json },
        } => {
            if json {
                println!("{}", serde_json::to_string_pretty(&settings)?);
            } else {
                print!("{}", toml::to_string(&settings)?);
            }
            Ok(())
        }
    }
}

fn load_settings(global: &GlobalArgs) -> Result<Settings> {
    let mut overrides = Vec::new();
    for item in &global.overrides {
        let Some((key, value)) = item.split_once('=') else {
            bail!("--set expects KEY=VALUE, got '{item}'");
        };
        overrides.push((key.trim().to_string(), value.trim().to_string()));
    }
    if let Some(device) = &global.device {
        overrides.push(("device".to_string(), format!("\"{device}\"")));
    }
    let mut settings = settings::load(global.config.as_deref(), &overrides)?;
    if !global.devices.is_empty() {
        settings.devices = global.devices.clone();
    }
    Ok(settings)
}

fn lock_plugins(
    global: &GlobalArgs,
    settings: &Settings,
    all: bool,
    output: Option<PathBuf>,
) -> Result<()> {
    let search = PluginSearch::unlocked(settings, &global.plugin_dirs);
    let libraries = if all {
        let scan = search.scan();
        for skipped in &scan.skipped {
            tracing::warn!("not locked: {skipped}");
        }
        scan.plugins
    } else {
        let mut names: Vec<&str> = settings
            .encoders
            .values()
            .map(|e| e.plugin.as_str())
            .collect();
        names.push(&settings.loss.plugin);
        names.sort_unstable();
        names.dedup();
        let mut found = Vec::new();
        for name in names {
            match search.find(name) {
                Ok(library) => found.push(library),
                Err(e) => tracing::warn!("not locked: {e}"),
            }
        }
        found
    };
    let mut lock = PluginLock::default();
    for library in &libraries {
        let d = library.description();
        let path = std::fs::canonicalize(&d.path).unwrap_or_else(|_| d.path.clone());
        let sha256 = sha256_file(&path).with_context(|| format!("hashing {}", path.display()))?;
        lock.plugins.push(LockedPlugin {
            name: d.name.clone(),
            version: d.version.clone(),
            path,
            sha256,
        });
    }
    if lock.plugins.is_empty() {
        bail!("no plugin library found to lock");
    }
    let file = output.unwrap_or_else(|| lock_path(settings));
    lock.write(&file)
        .with_context(|| format!("writing {}", file.display()))?;
    for p in &lock.plugins {
        println!(
            "{:<16} {:<8} {}  {}",
            p.name,
            p.version,
            &p.sha256[..16],
            p.path.display()
        );
    }
    println!(
        "{} libraries pinned in {}",
        lock.plugins.len(),
        file.display()
    );
    Ok(())
}

fn list_plugins(search: &PluginSearch, json: bool) -> Result<()> {
    let scan = search.scan();
    for skipped in &scan.skipped {
        tracing::warn!("skipped: {skipped}");
    }
    let plugins: Vec<&PluginDescription> = scan.plugins.iter().map(|p| p.description()).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&plugins)?);
        return Ok(());
    }
    if plugins.is_empty() {
        println!(
            "no plugins found in: {}",
            search
                .dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(());
    }
    println!(
        "{:<16} {:<8} {:<8} {:<10} {:>5} {:<6} PATH",
        "NAME", "VERSION", "KIND", "MODALITY", "DIM", "ABI"
    );
    for p in plugins {
        println!(
            "{:<16} {:<8} {:<8} {:<10} {:>5} {:<6} {}",
            p.name,
            p.version,
            p.kind,
            if p.modality.is_empty() {
                "-"
            } else {
                &p.modality
            },
            if p.embed_dim == 0 {
                "-".to_string()
            } else {
                p.embed_dim.to_string()
            },
            p.abi_version,
            p.path.display()
        );
    }
    Ok(())
}

fn inspect_plugin(search: &PluginSearch, name: &str, json: bool) -> Result<()> {
    let plugin = search
        .find(name)
        .with_context(|| format!("inspecting plugin '{name}'"))?;
    let p = plugin.description();
    if json {
        println!("{}", serde_json::to_string_pretty(p)?);
        return Ok(());
    }
    println!("name:        {}", p.name);
    println!("version:     {}", p.version);
    println!("kind:        {}", p.kind);
    if !p.modality.is_empty() {
        println!("modality:    {}", p.modality);
        println!("embed dim:   {}", p.embed_dim);
    }
    println!("ABI:         {}", p.abi_version);
    println!("path:        {}", p.path.display());
    println!("description: {}", p.description);
    if !p.presets.is_empty() {
        println!(
            "presets:     {} (set with `preset = \"NAME\"`)",
            p.presets.join(", ")
        );
    }
    println!("\nconfiguration keys and defaults:");
    for line in p.default_config.lines() {
        println!("  {line}");
    }
    Ok(())
}

/// One configured plugin, instantiated.
#[derive(serde::Serialize)]
struct CheckedPlugin {
    role: String,
    plugin: String,
    version: String,
    path: PathBuf,
    parameters: Option<u64>,
    embed_dim: Option<usize>,
    device: Option<String>,
}

fn check_config(settings: &Settings, search: &PluginSearch, json: bool) -> Result<()> {
    let mut checked = Vec::new();
    for (modality, encoder) in &settings.encoders {
        let library = search
            .find(&encoder.plugin)
            .with_context(|| format!("encoder for modality '{modality}'"))?;
        let description = library.description();
        if description.modality != *modality {
            bail!(
                "modality '{modality}' is configured with plugin '{}', which encodes '{}'",
                description.name,
                description.modality
            );
        }
        let config = settings.plugin_config(&encoder.config);
        library.featurizer(&config)?;
        let instance = library.encoder(&config)?;
        checked.push(CheckedPlugin {
            role: format!("encoder:{modality}"),
            plugin: description.name.clone(),
            version: description.version.clone(),
            path: description.path.clone(),
            parameters: Some(instance.parameter_count()),
            embed_dim: Some(instance.embed_dim()),
            device: Some(instance.device()),
        });
    }
    let library = search.find(&settings.loss.plugin).context("loss")?;
    library.loss(&settings.plugin_config(&settings.loss.config))?;
    let description = library.description();
    checked.push(CheckedPlugin {
        role: "loss".into(),
        plugin: description.name.clone(),
        version: description.version.clone(),
        path: description.path.clone(),
        parameters: None,
        embed_dim: None,
        device: None,
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&checked)?);
        return Ok(());
    }
    for c in &checked {
        let size = match (c.parameters, c.embed_dim, &c.device) {
            (Some(p), Some(d), Some(device)) => format!("{p} parameters, {d}-d, {device}"),
            _ => String::new(),
        };
        println!(
            "{:<18} {:<16} {:<8} {:<36} {}",
            c.role,
            c.plugin,
            c.version,
            size,
            c.path.display()
        );
    }
    Ok(())
}
