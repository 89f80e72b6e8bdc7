//! Pretraining throughput: one `mmhost train` step (crystal, DOS and charge
//! encoders through their plugins, forward and backward concurrently, the CLIP loss
//! plugin, AdamW in every plugin) on real materials that have all three
//! modalities, at the batch sizes in `MMHOST_BENCH_BATCHES` (default `32,128`) and
//! the preset in `MMHOST_BENCH_PRESET` (default `reference`, MultiMat's sizes), with
//! `MMHOST_BENCH_THREADS` threads per plugin (default 0: one per core), on
//! `MMHOST_BENCH_DEVICE` (default `cpu`; `cuda:0` with plugins built with `cuda`),
//! or replicated over `MMHOST_BENCH_DEVICES` (e.g. `cpu,cpu`: data parallelism).
//!
//! The batches cycle through the 89 demo materials with a structure, a DOS and a
//! charge density (a batch of 128 repeats some). Featurization is done beforehand
//! (training reads it from the dataset's cache). Also reports the ABI crossing's
//! share of a step: the by-value copies of embeddings and gradients between the
//! host and the plugins. `MMHOST_BENCH_MODALITIES` (e.g. `crystal,dos`) times a
//! subset; `MMHOST_BENCH_DOS_RECOMPUTE=N` back-propagates the DOS encoder in
//! recomputed chunks of N. Run through `benches/pretrain.sh`.
//!
//! On the CPU with the reference sizes it also times, in the same invocation and
//! before mmhost's steps (so that both sides have the machine's memory), each
//! encoder's PyTorch counterpart (`benches/torch/`) on the same featurized batch
//! with the same number of threads, one after another, and prints their sum beside
//! the CLIP step. (The sum leaves out PyTorch's CLIP loss: the comparison favours
//! PyTorch by that much.)

use std::{path::PathBuf, time::Instant};

use mmhost::{
    backprop::{train_step, ModalityBatch},
    plugins::{EncoderHandle, PluginSearch},
};
use mmhost_bench_support::{
    exchange_dir, fixed_gradient, run_torch_on,
    torch_inputs::{write_charge, write_dos, write_potnet},
    Timing,
};
use mmhost_plugin_api::{Embeddings, Record, StepSettings};

const MODALITIES: [(&str, &str); 3] = [
    ("crystal", "crystal-potnet"),
    ("dos", "dos"),
    ("charge", "charge"),
];
const TIMED_STEPS: usize = 3;

fn main() {
    let preset = std::env::var("MMHOST_BENCH_PRESET").unwrap_or_else(|_| "reference".into());
    let batches: Vec<usize> = std::env::var("MMHOST_BENCH_BATCHES")
        .unwrap_or_else(|_| "32,128".into())
        .split(',')
        .map(|b| b.trim().parse().expect("batch size"))
        .collect();
    let db = PathBuf::from(std::env::var("MMHOST_BENCH_DB").expect("MMHOST_BENCH_DB"));
    let dataset = mmhost::dataset::Dataset::open(&db).expect("dataset");
    let search = PluginSearch::only(vec![mmhost_bench_support::built_plugin_dir()]);

    // CPU threads of each plugin's pool (0: one per core).
    let threads = std::env::var("MMHOST_BENCH_THREADS").unwrap_or_else(|_| "0".into());
    let mut device = std::env::var("MMHOST_BENCH_DEVICE").unwrap_or_else(|_| "cpu".into());
    let placement = match std::env::var("MMHOST_BENCH_DEVICES") {
        Ok(list) => {
            let quoted: Vec<String> = list
                .split(',')
                .map(|d| format!("\"{}\"", d.trim()))
                .collect();
            device = format!("[{list}]");
            format!("devices = [{}]", quoted.join(", "))
        }
        Err(_) => format!("device = \"{device}\""),
    };
    let config = format!("preset = \"{preset}\"\nseed = 1\nthreads = {threads}\n{placement}");
    let mut encoders: Vec<EncoderHandle> = Vec::new();
    // Each encoder's default configuration (the reference sizes), for PyTorch.
    let mut defaults: Vec<serde_json::Value> = Vec::new();
    let mut featurized: Vec<Vec<Record>> = Vec::new();
    let ids: Vec<String> = {
        let with = |m: &str| dataset.ids_with(m).expect("ids");
        let (dos, charge) = (with("dos"), with("charge"));
        // Materials with all three, whichever subset runs: the same batches.
        with("crystal")
            .into_iter()
            .filter(|id| dos.contains(id) && charge.contains(id))
            .collect()
    };
    // Chunk size of the DOS encoder's recomputed back-propagation (0: off).
    let dos_recompute = std::env::var("MMHOST_BENCH_DOS_RECOMPUTE").unwrap_or_else(|_| "0".into());
    // A subset of the modalities (crystal and at least one other), for breakdowns.
    let chosen =
        std::env::var("MMHOST_BENCH_MODALITIES").unwrap_or_else(|_| "crystal,dos,charge".into());
    let started = Instant::now();
    for (modality, plugin) in MODALITIES
        .into_iter()
        .filter(|(m, _)| chosen.split(',').any(|c| c == *m))
    {
        let library = search.find(plugin).expect("plugin");
        let mut config = config.clone();
        if modality == "dos" {
            config.push_str(&format!("\nrecompute_chunk = {dos_recompute}"));
        }
        let featurizer = library.featurizer(&config).expect("featurizer");
        let records = ids
            .iter()
            .filter_map(|id| {
                let raw = dataset.record(modality, id).ok()??;
                featurizer.featurize(&raw).ok()
            })
            .collect::<Vec<_>>();
        assert_eq!(
            records.len(),
            ids.len(),
            "{modality}: every material featurizes"
        );
        featurized.push(records);
        let default: toml::Value =
            toml::from_str(&library.description().default_config).expect("default config");
        defaults.push(serde_json::to_value(default).expect("config as JSON"));
        let encoder = library.encoder(&config).expect("encoder");
        println!(
            "{modality:<8} {plugin:<15} {:>10} parameters",
            encoder.parameter_count()
        );
        encoders.push(encoder);
    }
    println!(
        "{} materials with crystal, DOS and charge density; featurized in {:.1} s; preset {preset}, device {device}, threads {threads}, DOS recompute chunk {dos_recompute}",
        ids.len(),
        started.elapsed().as_secs_f64()
    );
    let mut loss = search
        .find("clip")
        .expect("clip")
        .loss("kind = \"anchored\"\nanchor = \"crystal\"")
        .expect("loss");
    let settings = StepSettings {
        learning_rate: 1e-4,
        weight_decay: 0.05,
        beta1: 0.9,
        beta2: 0.95,
        epsilon: 1e-8,
        grad_clip_norm: 1.0,
    };

    let batch_of = |batch: usize| -> Vec<ModalityBatch> {
        featurized
            .iter()
            .map(|records| ModalityBatch {
                records: records.iter().cycle().take(batch).cloned().collect(),
                present: vec![true; batch],
            })
            .collect()
    };
    let torch: Vec<Option<Vec<TorchStep>>> = batches
        .iter()
        .map(|&batch| {
            let compare = preset == "reference" && device == "cpu";
            compare.then(|| torch_steps(&batch_of(batch), &chosen, &defaults, &threads))
        })
        .collect();

    for (batch, torch) in batches.into_iter().zip(torch) {
        let modalities = batch_of(batch);
        train_step(&mut encoders, &modalities, &mut loss, &settings).expect("warm-up step");
        let started = Instant::now();
        for _ in 0..TIMED_STEPS {
            train_step(&mut encoders, &modalities, &mut loss, &settings).expect("step");
        }
        let step = started.elapsed().as_secs_f64() / TIMED_STEPS as f64;
        let crossing = crossing_copies(batch, &encoders);
        println!(
            "batch {batch:>4}: {step:.2} s/step = {:.2} materials/s; ABI crossing copies {:.3} ms = {:.4} % of the step; peak RSS {:.2} GB",
            batch as f64 / step,
            crossing * 1e3,
            crossing / step * 100.0,
            peak_rss_gb()
        );
        if let Some(torch) = torch {
            report_torch(step, &torch);
        }
    }
}

/// Each modality's PyTorch counterpart of its encoder's step, in `MODALITIES` order.
const TORCH_SCRIPTS: [(&str, &str); 3] = [
    ("crystal", "potnet.py"),
    ("dos", "dos.py"),
    ("charge", "charge.py"),
];

/// Each chosen encoder's PyTorch training step on `modalities` (in `MODALITIES`
/// order, configured as `defaults`), with `fixed_gradient` as dL/dZ and as many
/// threads as each mmhost plugin.
fn torch_steps(
    modalities: &[ModalityBatch],
    chosen: &str,
    defaults: &[serde_json::Value],
    threads: &str,
) -> Vec<TorchStep> {
    let threads = match threads.parse::<usize>() {
        Ok(0) | Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Ok(n) => n,
    };
    let scripts = TORCH_SCRIPTS
        .into_iter()
        .filter(|(m, _)| chosen.split(',').any(|c| c == *m));
    scripts
        .zip(modalities)
        .zip(defaults)
        .map(|(((modality, script), batch), config)| {
            let records = &batch.records;
            let width = config["embed_dim"].as_u64().unwrap_or(128) as usize;
            let grad = fixed_gradient(records.len(), width);
            let dir = exchange_dir(&format!("pretrain-{modality}"));
            match modality {
                "crystal" => write_potnet(&dir, records, &grad, config),
                "dos" => write_dos(&dir, records, &grad, config),
                _ => write_charge(&dir, records, &grad, config),
            }
            let steps = TIMED_STEPS.to_string();
            TorchStep {
                modality,
                script,
                timing: run_torch_on(script, &dir, threads, &["--steps", &steps]),
            }
        })
        .collect()
}

/// One encoder's PyTorch step.
struct TorchStep {
    modality: &'static str,
    script: &'static str,
    timing: Result<Timing, String>,
}

/// PyTorch's encoder steps beside mmhost's CLIP step of `step` seconds.
fn report_torch(step: f64, torch: &[TorchStep]) {
    let mut sum = 0.0;
    for TorchStep {
        modality,
        script,
        timing,
    } in torch
    {
        match timing {
            Ok(t) => {
                println!(
                    "  PyTorch {modality:<8} ({script}): {:.2} s/step, peak {:.1} GB",
                    t.seconds,
                    t.peak_mb / 1e3
                );
                sum += t.seconds;
            }
            Err(reason) => {
                println!("  PyTorch not run: {reason}");
                return;
            }
        }
    }
    println!(
        "  PyTorch encoders' steps summed: {sum:.2} s; mmhost CLIP step / that: {:.2}× speed",
        sum / step
    );
}

/// Seconds for the data that crosses the ABI by value in one step: each encoder's
/// `[batch, dim]` embeddings out, scattered into the loss input, the loss's
/// gradients out, gathered back for `backward` (records cross as borrowed slices).
fn crossing_copies(batch: usize, encoders: &[EncoderHandle]) -> f64 {
    const REPEATS: usize = 200;
    let started = Instant::now();
    for _ in 0..REPEATS {
        for encoder in encoders {
            let dim = encoder.embed_dim();
            let z = Embeddings::new(batch, dim, vec![0.5; batch * dim]);
            let scattered = z.clone();
            let gradient = scattered.clone();
            let gathered = gradient.clone();
            std::hint::black_box((z, scattered, gradient, gathered));
        }
    }
    started.elapsed().as_secs_f64() / REPEATS as f64
}

/// Peak resident memory of this process (Linux `VmHWM`), in GB.
fn peak_rss_gb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1e6)
}
