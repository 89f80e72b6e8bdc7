//! PotNet throughput on structures drawn at random (seeded) from the whole of
//! `mp/structures.csv.gz`, against a PyTorch counterpart on the same inputs, in one
//! invocation:
//! * featurization (CGCNN features, 16-NN local graph, the three lattice sums of
//!   every atom pair), structures/s on one thread;
//! * a training step — forward, back-propagation of a fixed dL/dZ, AdamW — at
//!   batch 128 with the reference sizes (3 × 256), s/step, materials/s and peak
//!   resident memory of the step (VmHWM after resetting it), for mmhost and for
//!   `benches/torch/potnet.py` run on the same batch (written as `.npy`) with the
//!   same thread count, and the ratio.
//!
//! Environment: `MMHOST_BENCH_PRESET` = `reference` (default) or `small`,
//! `MMHOST_BENCH_SEED` (default 7), `MMHOST_BENCH_THREADS` (default 2),
//! `MMHOST_DATA`. Run through `benches/potnet.sh`.

use std::{fs::File, path::Path, time::Instant};

use flate2::read::GzDecoder;
use mmhost_bench_support::{
    data_dir, draw, env_or, exchange_dir, fixed_gradient, report, run_torch, threads,
    time_training_steps, torch_inputs::write_potnet,
};
use mmhost_crystal_potnet::PotNetPlugin;
use mmhost_materials::cif::read_cif;
use mmhost_materials::records::crystal_record;
use mmhost_plugin_sdk::{
    api::{Embeddings, Record},
    resolve_config, Cpu, EncoderModel, Trainer,
};

const FEATURIZE: usize = 512;
const BATCH: usize = 128;
const STEPS: usize = 3;

fn main() {
    let preset = std::env::var("MMHOST_BENCH_PRESET").unwrap_or_else(|_| "reference".into());
    let seed: u64 = env_or("MMHOST_BENCH_SEED", 7);
    let threads = threads();
    let cifs = all_cifs(&data_dir().join("mp/structures.csv.gz"));
    let raw: Vec<Record> = draw(cifs.len(), FEATURIZE, Some(seed))
        .into_iter()
        .map(|i| crystal_record(&read_cif(&cifs[i]).expect("CIF")[0]))
        .collect();
    println!(
        "{FEATURIZE} structures drawn at random (seed {seed}) from the {} of mp/structures.csv.gz",
        cifs.len()
    );

    let config = format!("preset = \"{preset}\"\nthreads = {threads}\nseed = 1");
    let resolved = resolve_config(
        &config,
        PotNetPlugin::default_config(),
        &PotNetPlugin::presets(),
    )
    .expect("config");
    let started = Instant::now();
    let records: Vec<Record> = raw
        .iter()
        .map(|r| PotNetPlugin::featurize(&resolved.model, r).expect("featurize"))
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    let all = Workload::of(&records);
    println!(
        "featurization: {FEATURIZE} structures ({}) in {seconds:.2} s = {:.1} structures/s \
         (one thread)",
        all.describe(),
        FEATURIZE as f64 / seconds
    );

    let batch = &records[..BATCH];
    let workload = Workload::of(batch);
    let grad = fixed_gradient(BATCH, 128);
    let mut trainer = Trainer::<Cpu, PotNetPlugin>::new(
        resolved.model.clone(),
        &resolved.runtime,
        Default::default(),
    );
    let gradient = Embeddings::new(BATCH, 128, grad.clone());
    let mmhost = time_training_steps(STEPS, &mut trainer, batch, &gradient);
    println!(
        "training step ({preset}, batch {BATCH}: {}), {threads} threads:",
        workload.describe()
    );
    let dir = exchange_dir("potnet");
    let config = serde_json::to_value(&resolved.model).expect("config as JSON");
    write_potnet(&dir, batch, &grad, &config);
    let torch = run_torch("potnet.py", &dir, &["--steps", &STEPS.to_string()]);
    report("step", BATCH, "materials", mmhost, torch);
}

/// The `cif` column of every row.
fn all_cifs(path: &Path) -> Vec<String> {
    let file = File::open(path).expect("structures.csv.gz");
    let mut reader = csv::Reader::from_reader(GzDecoder::new(file));
    let cif = reader
        .headers()
        .expect("header")
        .iter()
        .position(|h| h == "cif")
        .expect("cif column");
    reader
        .records()
        .map(|r| r.expect("CSV row")[cif].to_string())
        .collect()
}

/// Atoms and edges of featurized records.
struct Workload {
    structures: usize,
    atoms: usize,
    local_edges: usize,
    infinite_edges: usize,
}

impl Workload {
    fn of(records: &[Record]) -> Self {
        let mut w = Workload {
            structures: records.len(),
            atoms: 0,
            local_edges: 0,
            infinite_edges: 0,
        };
        for r in records {
            let n = r.require("atom_features").expect("features").dims()[0];
            w.atoms += n;
            w.infinite_edges += n * n;
            w.local_edges += r.require("local_edges").expect("edges").dims()[0];
        }
        w
    }

    fn describe(&self) -> String {
        format!(
            "{} atoms, {:.1} per structure, {} local + {} infinite edges",
            self.atoms,
            self.atoms as f64 / self.structures as f64,
            self.local_edges,
            self.infinite_edges
        )
    }
}
