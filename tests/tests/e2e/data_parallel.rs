//! Data parallelism inside a plugin (`devices = ["cpu", "cpu"]`): two replicas
//! holding 64 rows each of every batch of 128 train exactly as one replica on the
//! whole batch. The loss sees the whole batch's embeddings (negatives from all of
//! it), each replica back-propagates its rows of dL/dZ, and burn-collective sums
//! the replicas' gradients before AdamW.

use std::sync::Mutex;

use mmhost::{
    backprop::{train_step, ModalityBatch},
    plugins::{EncoderHandle, PluginLibrary},
};
use mmhost_plugin_api::Record;
use mmhost_tests::{built_library, pretraining_step_settings, real_dos_records};

const STEPS: usize = 20;

/// A plugin library holds one replicated encoder at a time (burn-collective keeps
/// one group per library): the tests here take turns.
static ONE_GROUP: Mutex<()> = Mutex::new(());
const BATCH: usize = 128;

/// The small DOS transformer over spectra resampled to 151 energies (a test of the
/// replication, not of the model: 16× fewer attention scores than 601).
fn config(seed: u64) -> String {
    format!("preset = \"small\"\npoints = 151\nseed = {seed}\nthreads = 1\n")
}

/// Trains the DOS encoder (seed 1, configured by `extra`) against a second DOS
/// encoder (seed 2) with the CLIP loss for `STEPS` steps over real spectra; returns
/// both encoders' weights and the losses.
fn train(library: &PluginLibrary, extra: &str) -> (Vec<u8>, Vec<u8>, Vec<f64>) {
    let clip = PluginLibrary::load(&built_library("mmhost_clip")).unwrap();
    let featurizer = library.featurizer(&config(1)).unwrap();
    let spectra: Vec<Record> = real_dos_records(2 * BATCH)
        .iter()
        .map(|r| featurizer.featurize(r).unwrap())
        .collect();
    let mut encoders: Vec<EncoderHandle> = vec![
        library.encoder(&format!("{}{extra}", config(1))).unwrap(),
        library.encoder(&config(2)).unwrap(),
    ];
    let mut loss = clip
        .loss("kind = \"all-pairs\"\ntemperature = 0.2")
        .unwrap();
    let settings = pretraining_step_settings();
    let mut losses = Vec::new();
    for step in 0..STEPS {
        // Alternate between two batches of real spectra.
        let records = &spectra[(step % 2) * BATCH..(step % 2 + 1) * BATCH];
        let batch = || ModalityBatch {
            records: records.to_vec(),
            present: vec![true; BATCH],
        };
        let report = train_step(&mut encoders, &[batch(), batch()], &mut loss, &settings).unwrap();
        losses.push(report.loss);
    }
    let weights = |e: &EncoderHandle| e.save_weights().unwrap();
    (weights(&encoders[0]), weights(&encoders[1]), losses)
}

/// Largest difference, relative to the largest weight, between two safetensors
/// files of one model: the same header (names, shapes, offsets), then the f32 data
/// compared value by value.
fn weight_difference(a: &[u8], b: &[u8]) -> f64 {
    let header = |bytes: &[u8]| -> (usize, serde_json::Value) {
        let end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        (end, serde_json::from_slice(&bytes[8..end]).unwrap())
    };
    let ((start, layout), (other_start, other_layout)) = (header(a), header(b));
    assert_eq!(layout, other_layout, "same tensors, shapes and offsets");
    assert_eq!(start, other_start);
    let floats = |bytes: &[u8]| -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let (x, y) = (floats(&a[start..]), floats(&b[start..]));
    let scale = y.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    x.iter()
        .zip(&y)
        .map(|(p, q)| f64::from((p - q).abs()) / scale)
        .fold(0.0, f64::max)
}

#[test]
fn two_replicas_of_half_batches_train_as_one_on_the_whole_batch() {
    let _turn = ONE_GROUP.lock().unwrap_or_else(|e| e.into_inner());
    let dos = PluginLibrary::load(&built_library("mmhost_dos")).unwrap();
    let (single, partner_single, losses_single) = train(&dos, "");
    let (replicated, partner_replicated, losses_replicated) =
        train(&dos, "devices = [\"cpu\", \"cpu\"]\n");
    for (step, (a, b)) in losses_replicated.iter().zip(&losses_single).enumerate() {
        assert!(
            (a - b).abs() < 1e-4 * b.abs(),
            "step {step}: loss {a} vs {b}"
        );
    }
    assert!(
        losses_single[STEPS - 2] < losses_single[0],
        "the encoders learn: {losses_single:?}"
    );
    let difference = weight_difference(&replicated, &single);
    assert!(
        difference < 1e-4,
        "replicated encoder's weights differ by {difference}"
    );
    let partner = weight_difference(&partner_replicated, &partner_single);
    assert!(partner < 1e-4, "its partner's weights differ by {partner}");
    // The weights moved: the comparison is not of two initial models.
    let initial = dos.encoder(&config(1)).unwrap().save_weights().unwrap();
    assert!(weight_difference(&single, &initial) > 1e-3);
}

#[test]
fn replica_devices_are_checked() {
    let _turn = ONE_GROUP.lock().unwrap_or_else(|e| e.into_inner());
    let dos = PluginLibrary::load(&built_library("mmhost_dos")).unwrap();
    let error = dos
        .encoder(&format!("{}devices = [\"cpu\", \"cuda:0\"]\n", config(1)))
        .err()
        .expect("mixed devices refused")
        .to_string();
    assert!(error.contains("mix the CPU and CUDA"), "{error}");
    let mut replicated = dos
        .encoder(&format!(
            "{}devices = [\"cpu\", \"cpu\", \"cpu\"]\n",
            config(1)
        ))
        .unwrap();
    let featurizer = dos.featurizer(&config(1)).unwrap();
    let two: Vec<Record> = real_dos_records(2)
        .iter()
        .map(|r| featurizer.featurize(r).unwrap())
        .collect();
    let error = replicated.forward(&two, true).unwrap_err().to_string();
    assert!(
        error.contains("a batch of 2 cannot be split across 3 replicas"),
        "{error}"
    );
}
