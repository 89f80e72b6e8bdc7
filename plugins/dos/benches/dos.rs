//! DOS-transformer training step at batch 128 (`MMHOST_BENCH_BATCH`) on real spectra drawn at random
//! (seeded) from `multimat/dos.npy`, against a PyTorch counterpart on the same
//! featurized batch, in one invocation: forward, back-propagation of a fixed dL/dZ,
//! AdamW; s/step, materials/s and peak resident memory over the timed steps.
//!
//! mmhost runs as `configs/default.toml` configures it (reference sizes, the fused
//! CPU attention, the whole batch's graph: `recompute_chunk = 0` unless
//! `MMHOST_BENCH_RECOMPUTE` says otherwise); `benches/torch/dos.py` computes
//! attention as the reference does (scores, softmax, product). Environment: `MMHOST_BENCH_PRESET`, `MMHOST_BENCH_SEED`,
//! `MMHOST_BENCH_THREADS`, `MMHOST_DATA`. Run through `benches/dos.sh`.

use std::{fs::File, io::BufReader};

use mmhost_bench_support::{
    data_dir, draw, env_or, exchange_dir, fixed_gradient, report, run_torch, threads,
    time_training_steps, torch_inputs::write_dos,
};
use mmhost_dos::{featurize_dos, DosPlugin};
use mmhost_plugin_sdk::{
    api::{Array, Embeddings, Record},
    resolve_config, Cpu, EncoderModel, Trainer,
};

const STEPS: usize = 2;

fn main() {
    let preset = std::env::var("MMHOST_BENCH_PRESET").unwrap_or_else(|_| "reference".into());
    let recompute: usize = env_or("MMHOST_BENCH_RECOMPUTE", 0);
    let batch_size: usize = env_or("MMHOST_BENCH_BATCH", 128);
    let threads = threads();
    let path = data_dir().join("multimat/dos.npy");
    let file = File::open(&path).expect("dos.npy");
    let values: Vec<f32> = npyz::NpyFile::new(BufReader::new(file))
        .expect("npy header")
        .into_vec()
        .expect("f32 data");
    // The spectra the featurizer accepts (as the importer and training would).
    let featurized: Vec<Record> = values
        .chunks_exact(2 * 601)
        .filter_map(|row| {
            featurize_dos(&Record::single("dos", Array::from_f32(&[2, 601], row)), 601).ok()
        })
        .collect();
    let rows = values.len() / (2 * 601);
    let batch: Vec<Record> = draw(featurized.len(), batch_size, None)
        .into_iter()
        .map(|i| featurized[i].clone())
        .collect();
    let config = format!(
        "preset = \"{preset}\"\nthreads = {threads}\nseed = 1\nrecompute_chunk = {recompute}"
    );
    let resolved = resolve_config(&config, DosPlugin::default_config(), &DosPlugin::presets())
        .expect("config");
    let model = &resolved.model;
    let tokens = model.points;
    println!(
        "DOS training step ({preset}: {} blocks, {} heads × {}), batch {batch_size} spectra drawn at \
         random from the {} of the {rows} in multimat/dos.npy that featurize, {tokens} tokens \
         each ({} attention scores per block), recompute_chunk {recompute}, {threads} threads:",
        model.depth,
        model.heads,
        model.head_dim,
        featurized.len(),
        batch_size * model.heads * tokens * tokens
    );
    let grad = fixed_gradient(batch_size, model.embed_dim);
    let mut trainer =
        Trainer::<Cpu, DosPlugin>::new(model.clone(), &resolved.runtime, Default::default());
    let gradient = Embeddings::new(batch_size, model.embed_dim, grad.clone());
    let mmhost = time_training_steps(STEPS, &mut trainer, &batch, &gradient);

    let dir = exchange_dir("dos");
    let config = serde_json::to_value(model).expect("config as JSON");
    write_dos(&dir, &batch, &grad, &config);
    let torch = run_torch("dos.py", &dir, &["--steps", &STEPS.to_string()]);
    report("step", batch_size, "materials", mmhost, torch);
}
