//! The crystal encoder plugins (CGCNN and PotNet): featurization of real structures
//! and a learning check on real formation energies (encoder + host linear head,
//! split back-propagation), both loaded into the same host.

use mmhost::{head::LinearHead, plugins::PluginLibrary};
use mmhost_materials::records::crystal_record;
use mmhost_plugin_api::{Embeddings, Record, StepSettings};
use mmhost_tests::{built_library, real_structures_with_formation_energy};

const TRAIN: usize = 1000;
const VALID: usize = 200;

/// Trains `library`'s encoder (small preset) with a linear head on 1,000 real
/// formation energies for `epochs`; returns the validation MAE and the mean
/// predictor's, in eV/atom.
fn learning_check(library: &PluginLibrary, epochs: usize) -> (f64, f64) {
    let config = "preset = \"small\"\nseed = 3\nthreads = 2";
    let featurizer = library.featurizer(config).unwrap();
    let data = real_structures_with_formation_energy(TRAIN + VALID);
    let records: Vec<Record> = data
        .iter()
        .map(|(id, s, _)| {
            featurizer
                .featurize(&crystal_record(s))
                .unwrap_or_else(|e| panic!("{id}: {e}"))
        })
        .collect();
    let n = data[0].1.len();
    assert_eq!(records[0].require("atom_features").unwrap().dims(), [n, 92]);

    let targets: Vec<f64> = data.iter().map(|(_, _, e)| *e).collect();
    let (train, valid) = records.split_at(TRAIN);
    let (train_y, valid_y) = targets.split_at(TRAIN);
    let mean = train_y.iter().sum::<f64>() / TRAIN as f64;
    let baseline = valid_y.iter().map(|y| (y - mean).abs()).sum::<f64>() / VALID as f64;

    let mut encoder = library.encoder(config).unwrap();
    let mut head = LinearHead::new(encoder.embed_dim(), mean);
    // Cosine decay from 2e-3 to 0 over the run: the last epoch's noise then no longer
    // decides the outcome (with a constant rate the final MAE moved by ±30 % with float
    // rounding alone).
    let steps = epochs * TRAIN.div_ceil(50);
    let mut step = 0;
    for _epoch in 0..epochs {
        for (x, y) in train.chunks(50).zip(train_y.chunks(50)) {
            let progress = step as f64 / steps as f64;
            let learning_rate = 1e-3 * (1.0 + (std::f64::consts::PI * progress).cos());
            step += 1;
            let z = encoder.forward(x, true).unwrap();
            let (_, grad) = head.mse_step(&z.values, y, learning_rate);
            encoder
                .backward(&Embeddings::new(x.len(), z.dim as usize, grad))
                .unwrap();
            encoder
                .step(&StepSettings {
                    learning_rate,
                    weight_decay: 0.0,
                    beta1: 0.9,
                    beta2: 0.999,
                    epsilon: 1e-8,
                    grad_clip_norm: 5.0,
                })
                .unwrap();
        }
    }
    let z = encoder.embed(valid).unwrap();
    let predictions = head.predict(&z.values);
    let mae = predictions
        .iter()
        .zip(valid_y)
        .map(|(p, y)| (p - y).abs())
        .sum::<f64>()
        / VALID as f64;
    (mae, baseline)
}

#[test]
fn cgcnn_learns_formation_energy_well_below_the_mean_predictor() {
    let library = PluginLibrary::load(&built_library("mmhost_crystal_cgcnn")).unwrap();
    assert_eq!(library.description().modality, "crystal");
    let (mae, baseline) = learning_check(&library, 20);
    eprintln!("CGCNN validation MAE {mae:.3} eV/atom vs mean predictor {baseline:.3} eV/atom");
    assert!(
        mae < 0.5 * baseline,
        "MAE {mae} vs mean predictor {baseline}"
    );
}

#[test]
fn potnet_learns_formation_energy_well_below_the_mean_predictor() {
    let library = PluginLibrary::load(&built_library("mmhost_crystal_potnet")).unwrap();
    assert_eq!(library.description().modality, "crystal");
    let (mae, baseline) = learning_check(&library, 20);
    eprintln!("PotNet validation MAE {mae:.3} eV/atom vs mean predictor {baseline:.3} eV/atom");
    assert!(
        mae < 0.5 * baseline,
        "MAE {mae} vs mean predictor {baseline}"
    );
}
