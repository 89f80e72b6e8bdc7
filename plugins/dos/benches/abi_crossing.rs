//! The ABI crossing's share of a DOS-encoder training step at batch 128.
//!
//! Both variants run the same step on the same 128 real DOS spectra
//! (`multimat/dos.npy`) with the same fixed `dL/dZ`: forward with graph,
//! back-propagation of `sum(Z ⊙ G)`, AdamW step.
//! * `in_process`: the burn model called directly in this process;
//! * `through_plugin`: the `libmmhost_dos` plugin loaded by the host, with the batch,
//!   embeddings and gradient copied across the ABI as plain data.
//!
//! Share = (through_plugin − in_process) / through_plugin, and, resolved below the
//! run-to-run noise of a multi-second step, the copies the plugin path adds
//! (`dos_abi_crossing_b128/copies_per_step`) over the step time.
//! `benches/abi_crossing.sh` runs this and prints both. `MMHOST_BENCH_PRESET` picks the model size
//! (`small`, the default here, or `reference`).

use std::{fs::File, io::BufReader, path::PathBuf, time::Duration};

use burn::{
    optim::{AdamWConfig, GradientsParams, Optimizer},
    tensor::{Tensor, TensorData},
};
use criterion::{criterion_group, criterion_main, Criterion};
use mmhost::plugins::PluginLibrary;
use mmhost_dos::{featurize_dos, DosPlugin};
use mmhost_plugin_sdk::{
    api::{Array, Embeddings, Record, StepSettings},
    embeddings_from_tensor, resolve_config, stack_field, tensor_from_embeddings, Cpu, EncoderModel,
};

const BATCH: usize = 128;

fn preset() -> String {
    std::env::var("MMHOST_BENCH_PRESET").unwrap_or_else(|_| "small".to_string())
}

fn data_dir() -> PathBuf {
    std::env::var_os("MMHOST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

/// 128 real DOS spectra, featurized: `dos` `(2, 601)` each.
fn batch() -> Vec<Record> {
    let file = File::open(data_dir().join("multimat/dos.npy")).expect("dos.npy");
    let values: Vec<f32> = npyz::NpyFile::new(BufReader::new(file))
        .expect("npy header")
        .into_vec()
        .expect("f32 data");
    values
        .chunks_exact(2 * 601)
        .take(BATCH)
        .map(|row| {
            let raw = Record::single("dos", Array::from_f32(&[2, 601], row));
            featurize_dos(&raw, 601).expect("real DOS featurizes")
        })
        .collect()
}

/// A fixed pseudo-random `dL/dZ`, `[BATCH, 128]`.
fn gradient() -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..BATCH * 128)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 1e-2
        })
        .collect()
}

const SETTINGS: StepSettings = StepSettings {
    learning_rate: 1e-4,
    weight_decay: 0.05,
    beta1: 0.9,
    beta2: 0.95,
    epsilon: 1e-8,
    grad_clip_norm: 0.0,
};

fn plugin_path() -> PathBuf {
    // target/release/deps/abi_crossing-… → target/release/libmmhost_dos.so
    let exe = std::env::current_exe().expect("bench path");
    exe.parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join(format!(
            "{}mmhost_dos.{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_EXTENSION
        ))
}

fn training_step(c: &mut Criterion) {
    let records = batch();
    let grad = gradient();
    let config = format!("preset = \"{}\"\nseed = 1\nthreads = 2\n", preset());
    let mut group = c.benchmark_group(format!("dos_train_step_b{BATCH}_{}", preset()));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));

    let resolved = resolve_config(&config, DosPlugin::default_config(), &DosPlugin::presets())
        .expect("config");
    let device = Default::default();
    let mut model = DosPlugin::init::<Cpu>(&resolved.model, &device);
    let mut optimizer = AdamWConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.95)
        .with_epsilon(1e-8)
        .with_weight_decay(0.05)
        .init::<Cpu, _>();
    let flat: Vec<f32> = records
        .iter()
        .flat_map(|r| r.require("dos").and_then(Array::to_f32).expect("dos"))
        .collect();
    group.bench_function("in_process", |b| {
        b.iter(|| {
            let x = Tensor::<Cpu, 3>::from_data(
                TensorData::new(flat.clone(), [BATCH, 2, 601]),
                &device,
            );
            let z = model.forward(x);
            let g =
                Tensor::<Cpu, 2>::from_data(TensorData::new(grad.clone(), [BATCH, 128]), &device);
            let grads = GradientsParams::from_grads((z * g).sum().backward(), &model);
            model = optimizer.step(SETTINGS.learning_rate, model.clone(), grads);
        })
    });

    let library = PluginLibrary::load(&plugin_path()).expect("plugin library");
    let mut encoder = library.encoder(&config).expect("encoder");
    let g = Embeddings::new(BATCH, 128, grad.clone());
    group.bench_function("through_plugin", |b| {
        b.iter(|| {
            encoder.forward(&records, true).expect("forward");
            encoder.backward(&g).expect("backward");
            encoder.step(&SETTINGS).expect("step");
        })
    });
    group.finish();
}

/// The work the plugin path adds to a step, measured on its own: the batch's records
/// copied into the input tensor, Z copied out to an ABI matrix (with the finiteness
/// scan), and dL/dZ copied back into a tensor. Compare with the step time above.
fn crossing_work(c: &mut Criterion) {
    let records = batch();
    let grad = Embeddings::new(BATCH, 128, gradient());
    let device = Default::default();
    let z = Tensor::<Cpu, 2>::from_data(TensorData::new(gradient(), [BATCH, 128]), &device);
    let mut group = c.benchmark_group(format!("dos_abi_crossing_b{BATCH}"));
    group.bench_function("copies_per_step", |b| {
        b.iter(|| {
            let x = stack_field::<Cpu, 3>(&records, "dos", &device).expect("stack");
            let out = embeddings_from_tensor(z.clone()).expect("finite");
            let g = tensor_from_embeddings::<Cpu>(&grad, &device).expect("grad");
            (x, out, g)
        })
    });
    group.finish();
}

criterion_group!(benches, training_step, crossing_work);
criterion_main!(benches);
