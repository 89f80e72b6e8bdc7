//! CUDA against CPU (README "Devices"), run by `scripts/gpu-check.sh`: for each
//! encoder plugin, one real batch of materials drawn at random (seeded) from the
//! dataset in `MMHOST_CHECK_DB` goes through a CPU instance and an instance on
//! `MMHOST_CHECK_DEVICE` (default `cuda:0`) that holds the same weights. Prints the
//! relative error ‖device − cpu‖ / ‖cpu‖ of the `[batch, dim]` embeddings and of the
//! parameter gradients after both back-propagate the same `dL/dZ`, then the
//! device's forward + backward time, and exits non-zero when an error is over its
//! tolerance.
//!
//! `MMHOST_CHECK_BATCH` (default 32) materials per batch, `MMHOST_CHECK_PRESET`
//! (default `reference`, MultiMat's sizes, for the plugins that have presets),
//! `MMHOST_CHECK_PLUGINS` (default all five, comma-separated). Featurization goes through the dataset's
//! cache, so a dataset featurized beforehand (the text encoder's frozen language
//! model runs in its featurizer) needs no language model where the check runs.

use std::{path::PathBuf, process::ExitCode, time::Instant};

use mmhost::{
    dataset::Dataset,
    featurize::{cache_key, featurize_cached},
    plugins::{PluginLibrary, PluginSearch},
};
use mmhost_plugin_api::{Embeddings, Record};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Embeddings: float32 on both sides, differing in summation order (and the GPU's
/// fused kernels), through up to 50 layers.
const FORWARD_TOLERANCE: f64 = 1e-3;
/// All parameter gradients together: one more pass through the network, and
/// batch-norm's division by the batch variance amplifies rounding.
const GRADIENT_TOLERANCE: f64 = 1e-2;
/// Forward + backward passes timed on the device after one warm-up.
const TIMED_PASSES: usize = 3;

const ENCODERS: [(&str, &str); 5] = [
    ("crystal", "crystal-potnet"),
    ("crystal", "crystal-cgcnn"),
    ("dos", "dos"),
    ("charge", "charge"),
    ("text", "text"),
];

/// One encoder's comparison.
struct Comparison {
    parameters: u64,
    forward: f64,
    gradients: f64,
    /// The parameter with the largest relative gradient error, and that error.
    worst: (String, f64),
    device_pass_s: f64,
}

fn main() -> ExitCode {
    let db = PathBuf::from(std::env::var("MMHOST_CHECK_DB").expect("MMHOST_CHECK_DB"));
    let device = std::env::var("MMHOST_CHECK_DEVICE").unwrap_or_else(|_| "cuda:0".into());
    let preset = std::env::var("MMHOST_CHECK_PRESET").unwrap_or_else(|_| "reference".into());
    let batch: usize = mmhost_bench_support::env_or("MMHOST_CHECK_BATCH", 32);
    let chosen = std::env::var("MMHOST_CHECK_PLUGINS").unwrap_or_default();
    let dataset = Dataset::open(&db).expect("dataset");
    let search = PluginSearch::only(vec![mmhost_bench_support::built_plugin_dir()]);
    println!("device {device} against cpu; preset {preset}; batch {batch}");
    println!(
        "tolerances: embeddings {FORWARD_TOLERANCE:.0e}, gradients {GRADIENT_TOLERANCE:.0e} (relative, float32)"
    );
    let mut failed = false;
    for (modality, plugin) in ENCODERS
        .into_iter()
        .filter(|(_, p)| chosen.is_empty() || chosen.split(',').any(|c| c == *p))
    {
        let library = search.find(plugin).expect("plugin");
        let mut config = String::from("seed = 1\nthreads = 0\n");
        if library.description().presets.contains(&preset) {
            config.push_str(&format!("preset = \"{preset}\"\n"));
        }
        let featurizer = library.featurizer(&config).expect("featurizer");
        let key = cache_key(plugin, &library.description().version, &config);
        let ids = drawn(dataset.ids_with(modality).expect("ids"), batch);
        let started = Instant::now();
        let (records, report) =
            featurize_cached(&dataset, &featurizer, &key, modality, &ids, 0).expect("featurize");
        let records: Vec<Record> = records.into_iter().flatten().collect();
        assert!(
            !records.is_empty(),
            "{plugin}: nothing featurized: {:?}",
            report.failed
        );
        let featurized = started.elapsed().as_secs_f64();
        match compare(&library, &config, &device, &records) {
            Ok(c) => {
                let pass = c.forward <= FORWARD_TOLERANCE && c.gradients <= GRADIENT_TOLERANCE;
                failed |= !pass;
                println!(
                    "{plugin:<15} {:>10} params, {} materials ({}), featurized {featurized:.1} s: embeddings {:.1e}, gradients {:.1e} (worst {} {:.1e}); {device} forward+backward {:.3} s  {}",
                    c.parameters,
                    records.len(),
                    workload(modality, &records),
                    c.forward,
                    c.gradients,
                    c.worst.0,
                    c.worst.1,
                    c.device_pass_s,
                    if pass { "ok" } else { "OVER TOLERANCE" },
                );
            }
            Err(e) => {
                failed = true;
                println!("{plugin:<15} FAILED: {e}");
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A CPU instance and one on `device` with the CPU's weights: forward both,
/// back-propagate the same `dL/dZ`, compare; then time the device.
fn compare(
    library: &PluginLibrary,
    config: &str,
    device: &str,
    records: &[Record],
) -> Result<Comparison, Box<dyn std::error::Error>> {
    let encoder = |device: &str| library.encoder(&format!("{config}device = \"{device}\"\n"));
    let (mut cpu, mut other) = (encoder("cpu")?, encoder(device)?);
    other.load_weights(&cpu.save_weights()?)?;
    let reference = cpu.forward(records, true)?;
    let tested = other.forward(records, true)?;
    let forward = relative_error(&tested.values, &reference.values);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (rows, dim) = (reference.rows as usize, reference.dim as usize);
    let grad = Embeddings::new(
        rows,
        dim,
        (0..rows * dim)
            .map(|_| rng.random_range(-1.0f32..1.0) / rows as f32)
            .collect(),
    );
    cpu.backward(&grad)?;
    other.backward(&grad)?;
    let (expected, got) = (cpu.gradients()?, other.gradients()?);
    let (mut all_expected, mut all_got) = (Vec::new(), Vec::new());
    let mut worst = (String::new(), 0.0);
    for field in expected.fields.iter() {
        let name = field.name.as_str();
        let e = field.array.to_f32()?;
        let g = got
            .get(name)
            .ok_or_else(|| format!("no gradient for {name} on the device"))?
            .to_f32()?;
        let error = relative_error(&g, &e);
        if error > worst.1 || error.is_nan() {
            worst = (name.to_string(), error);
        }
        all_expected.extend(e);
        all_got.extend(g);
    }
    let gradients = relative_error(&all_got, &all_expected);
    // Timing: one warm-up pass (kernel compilation), then the mean of the timed ones.
    other.forward(records, true)?;
    other.backward(&grad)?;
    let started = Instant::now();
    for _ in 0..TIMED_PASSES {
        other.forward(records, true)?;
        other.backward(&grad)?;
    }
    // `gradients` reads the values back, so the device's work is finished here.
    other.gradients()?;
    Ok(Comparison {
        parameters: cpu.parameter_count(),
        forward,
        gradients,
        worst,
        device_pass_s: started.elapsed().as_secs_f64() / TIMED_PASSES as f64,
    })
}

/// ‖got − expected‖ / ‖expected‖ (NaN anywhere gives NaN, which fails).
fn relative_error(got: &[f32], expected: &[f32]) -> f64 {
    if got.len() != expected.len() {
        return f64::NAN;
    }
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (&g, &e) in got.iter().zip(expected) {
        diff += (g as f64 - e as f64).powi(2);
        norm += (e as f64).powi(2);
    }
    if norm == 0.0 {
        diff.sqrt()
    } else {
        (diff / norm).sqrt()
    }
}

/// `count` ids drawn at random (seed 7) from all of them.
fn drawn(ids: Vec<String>, count: usize) -> Vec<String> {
    mmhost_bench_support::draw(ids.len(), count, Some(7))
        .into_iter()
        .map(|i| ids[i].clone())
        .collect()
}

/// What the batch holds: atoms (and local edges) for crystals, values otherwise
/// (DOS energies, charge-density grid points, sentence-embedding widths).
fn workload(modality: &str, records: &[Record]) -> String {
    let rows = |name: &str| -> usize {
        records
            .iter()
            .filter_map(|r| r.get(name))
            .map(|a| a.dims().first().copied().unwrap_or(0))
            .sum()
    };
    match modality {
        "crystal" if records.iter().any(|r| r.get("local_edges").is_some()) => format!(
            "{} atoms, {} local edges",
            rows("atom_features"),
            rows("local_edges")
        ),
        "crystal" => format!("{} atoms", rows("atom_features")),
        _ => {
            let values: usize = records
                .iter()
                .flat_map(|r| r.fields.iter())
                .map(|f| f.array.len())
                .sum();
            format!("{values} values")
        }
    }
}
