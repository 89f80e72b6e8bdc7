//! PotNet throughput on real structures (first rows of `mp/structures.csv.gz`), one
//! process on this machine:
//! * featurization (CGCNN features, 16-NN local graph, the three lattice sums of
//!   every atom pair), structures/s on one thread;
//! * a training step — forward, back-propagation of a fixed dL/dZ, AdamW — at
//!   batch 128 with the reference sizes (3 × 256), materials/s;
//! * peak resident memory of the process (VmHWM).
//!
//! `MMHOST_BENCH_PRESET` = `reference` (default) or `small`. Run through
//! `benches/potnet.sh`.

use std::{fs::File, path::PathBuf, time::Instant};

use flate2::read::GzDecoder;
use mmhost::import::crystal_record;
use mmhost_crystal_potnet::PotNetPlugin;
use mmhost_materials::cif::read_cif;
use mmhost_plugin_sdk::{
    api::{Embeddings, Record, StepSettings},
    resolve_config, Cpu, EncoderModel, Trainer, TrainerOps,
};

const FEATURIZE: usize = 512;
const BATCH: usize = 128;
const STEPS: usize = 3;

fn main() {
    let preset = std::env::var("MMHOST_BENCH_PRESET").unwrap_or_else(|_| "reference".into());
    let data = std::env::var_os("MMHOST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let file = File::open(data.join("mp/structures.csv.gz")).expect("structures.csv.gz");
    let mut reader = csv::Reader::from_reader(GzDecoder::new(file));
    let cif = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "cif")
        .unwrap();
    let raw: Vec<Record> = reader
        .records()
        .take(FEATURIZE)
        .map(|r| crystal_record(&read_cif(&r.unwrap()[cif]).unwrap()[0]))
        .collect();
    let atoms: usize = raw.len();

    let config = format!("preset = \"{preset}\"\nthreads = 2\nseed = 1");
    let resolved = resolve_config(
        &config,
        PotNetPlugin::default_config(),
        &PotNetPlugin::presets(),
    )
    .unwrap();
    let started = Instant::now();
    let records: Vec<Record> = raw
        .iter()
        .map(|r| PotNetPlugin::featurize(&resolved.model, r).expect("featurize"))
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "featurization: {atoms} structures in {seconds:.2} s = {:.1} structures/s (one thread)",
        atoms as f64 / seconds
    );

    let mut trainer = Trainer::<Cpu, PotNetPlugin>::new(
        resolved.model.clone(),
        &resolved.runtime,
        Default::default(),
    );
    let batch = &records[..BATCH];
    let grad = Embeddings::new(
        BATCH,
        128,
        (0..BATCH * 128)
            .map(|k| ((k % 17) as f32 - 8.0) * 1e-4)
            .collect(),
    );
    let settings = StepSettings {
        learning_rate: 1e-3,
        weight_decay: 0.0,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        grad_clip_norm: 0.0,
    };
    let mut step = || {
        trainer.forward(batch, true).expect("forward");
        trainer.backward(&grad).expect("backward");
        trainer.step(&settings).expect("step");
    };
    step(); // warm-up
    let started = Instant::now();
    for _ in 0..STEPS {
        step();
    }
    let per_step = started.elapsed().as_secs_f64() / STEPS as f64;
    println!(
        "train step ({preset}, batch {BATCH}): {per_step:.2} s/step = {:.1} materials/s",
        BATCH as f64 / per_step
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM")) {
        println!("peak memory: {}", line.trim_start_matches("VmHWM:").trim());
    }
}
