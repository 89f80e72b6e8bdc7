//! Opening a fine-tuning: its recipe, the crystal encoder's configuration and the
//! weights it starts from, for a new fine-tuning or one that resumes.

use std::path::Path;

use super::{io_at, origin::Origin, FinetuneError, FinetuneRequest, FinetuneSpec, FinetuneStart};
use crate::{
    dataset::test_meets_training,
    run::{check_plugin_version, Checkpoint, ModelError, RunDir},
    settings::Settings,
};

/// Where the crystal encoder's weights come from.
pub(super) enum Initial {
    /// A checkpoint of this fine-tuning (resume): weights, optimizer and state.
    Checkpoint(Checkpoint),
    /// The crystal encoder weights of `--from` (a pretraining run or a fine-tuned
    /// model), safetensors bytes.
    From(Vec<u8>),
    /// Freshly initialized (`--scratch`).
    Fresh,
}

/// The recipe, configuration and starting weights; a new fine-tuning records its
/// recipe and configuration in `run`. `--from` is opened once, for both its
/// configuration and its crystal encoder's weights, and checked before anything in
/// `run` is written or removed.
pub(super) fn open_run(
    request: &FinetuneRequest,
    run: &RunDir,
) -> Result<(FinetuneSpec, Settings, Initial), FinetuneError> {
    let out = run.root();
    let spec_path = FinetuneSpec::path(out);
    let model_path = out.join("model.json");
    match &request.start {
        FinetuneStart::Resume => {
            let text = std::fs::read(&spec_path).map_err(|e| {
                FinetuneError::Setup(format!(
                    "{}: {e}; --resume continues a fine-tuning started with --out {}",
                    spec_path.display(),
                    out.display()
                ))
            })?;
            let spec: FinetuneSpec = serde_json::from_slice(&text)
                .map_err(|e| FinetuneError::Setup(format!("{}: {e}", spec_path.display())))?;
            spec.check()?;
            let config = run.config_path();
            let toml = std::fs::read_to_string(&config).map_err(io_at(&config))?;
            let settings = Settings::from_toml(&toml)
                .map_err(|e| FinetuneError::Setup(format!("{}: {e}", config.display())))?;
            let Some(checkpoint) = run.latest()? else {
                return Err(FinetuneError::Setup(if model_path.is_file() {
                    format!(
                        "{}: this fine-tuning finished; its model is there (start again with \
                         --overwrite)",
                        out.display()
                    )
                } else {
                    format!(
                        "{}: no checkpoint to resume from yet (one is written every epoch and \
                         every train.checkpoint_every steps); start again with --overwrite",
                        out.display()
                    )
                }));
            };
            run.create()?;
            Ok((spec, settings, Initial::Checkpoint(checkpoint)))
        }
        FinetuneStart::New { spec, settings } => {
            spec.check()?;
            let origin = match &spec.from {
                Some(from) => Some(open_origin(from, out, request)?),
                None => None,
            };
            if request.overwrite {
                run.clear()?;
                for file in [&spec_path, &model_path] {
                    match std::fs::remove_file(file) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(io_at(file)(e))
                        }
                        _ => {}
                    }
                }
            }
            if spec_path.exists() || model_path.exists() {
                return Err(FinetuneError::Setup(format!(
                    "{} already holds a fine-tuning; continue it with --resume, or replace it \
                     with --overwrite",
                    out.display()
                )));
            }
            let (settings, initial) = match origin {
                Some(origin) => {
                    warn_if_test_materials_were_trained_on(&origin, spec);
                    // The encoders are the origin's (its configuration); how this
                    // fine-tuning runs (seed: epoch order and head; threads; device)
                    // is the command's.
                    let mut tuning = origin.settings;
                    tuning.seed = settings.seed;
                    tuning.threads = settings.threads;
                    tuning.run_on_devices_of(settings);
                    (tuning, Initial::From(origin.weights))
                }
                None => ((**settings).clone(), Initial::Fresh),
            };
            // Absolute paths, so that `--resume` works from any directory.
            let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            let spec = FinetuneSpec {
                db: absolute(&spec.db),
                from: spec.from.as_deref().map(absolute),
                ..spec.clone()
            };
            run.create()?;
            let toml = toml::to_string(&settings)
                .map_err(|e| FinetuneError::Setup(format!("configuration: {e}")))?;
            let config = run.config_path();
            crate::atomic::write(&config, toml.as_bytes()).map_err(io_at(&config))?;
            let json = serde_json::to_vec_pretty(&spec)
                .map_err(|e| FinetuneError::Setup(format!("recipe: {e}")))?;
            crate::atomic::write(&spec_path, &json).map_err(io_at(&spec_path))?;
            Ok((spec, settings, initial))
        }
    }
}

/// Opens `--from` for a new fine-tuning into `out`: refuses `out` itself (an
/// `--overwrite` would remove it first) and weights of another plugin version than
/// the installed one.
fn open_origin(
    from: &Path,
    out: &Path,
    request: &FinetuneRequest,
) -> Result<Origin, FinetuneError> {
    if let (Ok(a), Ok(b)) = (std::fs::canonicalize(from), std::fs::canonicalize(out)) {
        if a == b {
            return Err(FinetuneError::Setup(format!(
                "--from and --out both name {}: write the new fine-tuning to another directory",
                out.display()
            )));
        }
    }
    let origin = Origin::open(from)?;
    if let Some(trained) = &origin.encoder {
        let installed = request
            .search
            .find(&trained.plugin)
            .map_err(ModelError::from)?;
        check_plugin_version(&origin.path, trained, installed.description())?;
    }
    Ok(origin)
}

/// Warns when some of this fine-tuning's test materials were in the training split
/// of `origin` (another split seed, or a test share that reaches into its training
/// share): its test scores then flatter the model.
fn warn_if_test_materials_were_trained_on(origin: &Origin, spec: &FinetuneSpec) {
    let Some((seed, splits)) = origin.held_out else {
        return;
    };
    if test_meets_training(spec.split_seed, spec.splits, seed, splits) {
        tracing::warn!(
            "{} held out other test materials (split seed {seed}, fractions {splits:?}) than \
             this fine-tuning's (split seed {}, fractions {:?}): some of its test materials \
             were in the training split of the model it starts from",
            origin.path.display(),
            spec.split_seed,
            spec.splits
        );
    }
}
