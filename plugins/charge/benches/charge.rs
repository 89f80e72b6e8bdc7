//! A charge-encoder training step (forward, back-propagation of a fixed dL/dZ,
//! AdamW) at batch 32 on real 32³ grids (`multimat/charge_density.npy`), with peak
//! resident memory. `MMHOST_BENCH_PRESET` = `reference` (ResNeXt-50 sizes, default)
//! or `small`. Run through `benches/charge.sh`.

use std::{fs::File, io::BufReader, path::PathBuf, time::Instant};

use mmhost_charge::ChargePlugin;
use mmhost_plugin_sdk::{
    api::{Array, Embeddings, Record, StepSettings},
    resolve_config, Cpu, EncoderModel, Trainer, TrainerOps,
};

const BATCH: usize = 32;
const STEPS: usize = 3;

fn main() {
    let preset = std::env::var("MMHOST_BENCH_PRESET").unwrap_or_else(|_| "reference".into());
    let data = std::env::var_os("MMHOST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let file = File::open(data.join("multimat/charge_density.npy")).expect("charge_density.npy");
    let values: Vec<f32> = npyz::NpyFile::new(BufReader::new(file))
        .unwrap()
        .into_vec()
        .unwrap();
    let config = format!("preset = \"{preset}\"\nthreads = 2\nseed = 1");
    let resolved = resolve_config(
        &config,
        ChargePlugin::default_config(),
        &ChargePlugin::presets(),
    )
    .unwrap();
    let batch: Vec<Record> = values
        .chunks_exact(32 * 32 * 32)
        .filter(|grid| grid.iter().any(|&v| v > 0.0))
        .take(BATCH)
        .map(|grid| {
            let raw = Record::single("charge", Array::from_f32(&[32, 32, 32], grid));
            ChargePlugin::featurize(&resolved.model, &raw).unwrap()
        })
        .collect();
    let mut trainer = Trainer::<Cpu, ChargePlugin>::new(
        resolved.model.clone(),
        &resolved.runtime,
        Default::default(),
    );
    let grad = Embeddings::new(
        BATCH,
        128,
        (0..BATCH * 128)
            .map(|k| ((k % 13) as f32 - 6.0) * 1e-4)
            .collect(),
    );
    let settings = StepSettings {
        learning_rate: 1e-4,
        weight_decay: 0.05,
        beta1: 0.9,
        beta2: 0.95,
        epsilon: 1e-8,
        grad_clip_norm: 0.0,
    };
    let mut step = || {
        trainer.forward(&batch, true).expect("forward");
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
        "charge train step ({preset}, batch {BATCH}, {} parameters): {per_step:.2} s/step = {:.1} materials/s",
        trainer.parameter_count(),
        BATCH as f64 / per_step
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM")) {
        println!("peak memory: {}", line.trim_start_matches("VmHWM:").trim());
    }
}
