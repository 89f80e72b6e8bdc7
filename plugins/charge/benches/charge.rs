//! A charge-encoder training step (forward, back-propagation of a fixed dL/dZ,
//! AdamW) at batch 32 on real 32³ grids drawn at random (seeded) from
//! `multimat/charge_density.npy`, by mmhost and by `benches/torch/charge.py` (the
//! same 3D ResNeXt in PyTorch) on the same featurized batch, in one invocation:
//! s/step, materials/s, peak resident memory over the timed steps, and the ratio.
//! `MMHOST_BENCH_PRESET` = `reference` (ResNeXt-50 sizes, default) or `small`;
//! `MMHOST_BENCH_SEED`, `MMHOST_BENCH_THREADS`, `MMHOST_DATA`. Run through
//! `benches/charge.sh`.

use std::{fs::File, io::BufReader};

use mmhost_bench_support::{
    data_dir, draw, exchange_dir, report, run_torch, threads, time_training_steps,
    torch_inputs::write_charge,
};
use mmhost_charge::ChargePlugin;
use mmhost_plugin_sdk::{
    api::{Array, Embeddings, Record},
    resolve_config, Cpu, EncoderModel, Trainer, TrainerOps,
};

const BATCH: usize = 32;
/// Timed steps on each side, after one warm-up step: mmhost's heap still grows (and
/// takes fresh pages from the kernel) over its first two or three steps.
const STEPS: usize = 6;

fn main() {
    let preset = std::env::var("MMHOST_BENCH_PRESET").unwrap_or_else(|_| "reference".into());
    let threads = threads();
    let file =
        File::open(data_dir().join("multimat/charge_density.npy")).expect("charge_density.npy");
    let values: Vec<f32> = npyz::NpyFile::new(BufReader::new(file))
        .expect("npy header")
        .into_vec()
        .expect("f32 data");
    let config = format!("preset = \"{preset}\"\nthreads = {threads}\nseed = 1");
    let resolved = resolve_config(
        &config,
        ChargePlugin::default_config(),
        &ChargePlugin::presets(),
    )
    .expect("config");
    // Real grids only: the importer refuses all-zero ones.
    let grids: Vec<&[f32]> = values
        .chunks_exact(32 * 32 * 32)
        .filter(|grid| grid.iter().any(|&v| v > 0.0))
        .collect();
    let batch: Vec<Record> = draw(grids.len(), BATCH, None)
        .into_iter()
        .map(|i| {
            let raw = Record::single("charge", Array::from_f32(&[32, 32, 32], grids[i]));
            ChargePlugin::featurize(&resolved.model, &raw).expect("real grids featurize")
        })
        .collect();
    let mut trainer = Trainer::<Cpu, ChargePlugin>::new(
        resolved.model.clone(),
        &resolved.runtime,
        Default::default(),
    );
    let grad: Vec<f32> = (0..BATCH * 128)
        .map(|k| ((k % 13) as f32 - 6.0) * 1e-4)
        .collect();
    let gradient = Embeddings::new(BATCH, 128, grad.clone());
    let mmhost = time_training_steps(STEPS, &mut trainer, &batch, &gradient);
    println!(
        "charge training step ({preset}, {} parameters), batch {BATCH} of the {} real grids \
         drawn at random, 32³ = 32,768 grid points each, {threads} threads:",
        trainer.parameter_count(),
        grids.len()
    );
    let dir = exchange_dir("charge");
    let config = serde_json::to_value(&resolved.model).expect("config as JSON");
    write_charge(&dir, &batch, &grad, &config);
    let torch = run_torch("charge.py", &dir, &["--steps", &STEPS.to_string()]);
    report("step", BATCH, "materials", mmhost, torch);
}
