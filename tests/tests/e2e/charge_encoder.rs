//! The charge-density plugin on the real MultiMat grids: featurization, and training
//! (encoder + host linear head on formation energies) lowers the training loss.

use std::collections::HashMap;

use mmhost::{head::LinearHead, plugins::PluginLibrary};
use mmhost_plugin_api::{Embeddings, Record, StepSettings};
use mmhost_tests::{built_library, real_charge_records, real_structures_with_formation_energy};

#[test]
fn charge_encoder_trains_on_real_grids() {
    let library = PluginLibrary::load(&built_library("mmhost_charge")).unwrap();
    assert_eq!(library.description().modality, "charge");
    let config = "preset = \"small\"\nseed = 5\nthreads = 2";
    let featurizer = library.featurizer(config).unwrap();

    // Formation energies of the charge-density materials that have a structure.
    let energies: HashMap<String, f64> = real_structures_with_formation_energy(usize::MAX)
        .into_iter()
        .map(|(id, _, e)| (id, e))
        .collect();
    let mut records = Vec::new();
    let mut targets = Vec::new();
    let mut empty = 0;
    for (id, raw) in real_charge_records(&[]) {
        match featurizer.featurize(&raw) {
            // 37 source grids are all zeros: refused, as the importer refuses them.
            Err(err) if err.to_string().contains("no positive density") => empty += 1,
            Err(err) => panic!("{id}: {err}"),
            Ok(featurized) => {
                assert_eq!(
                    featurized.require("density").unwrap().dims(),
                    [1, 32, 32, 32]
                );
                if let Some(&e) = energies.get(&id) {
                    records.push(featurized);
                    targets.push(e);
                }
            }
        }
    }
    assert_eq!(empty, 37);
    assert!(records.len() >= 100, "{} grids with labels", records.len());

    let mut encoder = library.encoder(config).unwrap();
    let mean = targets.iter().sum::<f64>() / targets.len() as f64;
    let mut head = LinearHead::new(encoder.embed_dim(), mean);
    let settings = StepSettings {
        learning_rate: 2e-3,
        weight_decay: 0.0,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        grad_clip_norm: 5.0,
    };
    let mse = |encoder: &mut mmhost::plugins::EncoderHandle,
               head: &LinearHead,
               x: &[Record],
               y: &[f64]| {
        let z = encoder.embed(x).unwrap();
        head.predict(&z.values)
            .iter()
            .zip(y)
            .map(|(p, t)| (p - t).powi(2))
            .sum::<f64>()
            / y.len() as f64
    };
    let initial = mse(&mut encoder, &head, &records, &targets);
    for _epoch in 0..12 {
        for (x, y) in records.chunks(16).zip(targets.chunks(16)) {
            let z = encoder.forward(x, true).unwrap();
            let (_, grad) = head.mse_step(&z.values, y, 5e-3);
            encoder
                .backward(&Embeddings::new(x.len(), z.dim as usize, grad))
                .unwrap();
            encoder.step(&settings).unwrap();
        }
    }
    let last = mse(&mut encoder, &head, &records, &targets);
    eprintln!("charge encoder: training MSE {initial:.4} → {last:.4} (eV/atom)²");
    assert!(last < 0.5 * initial, "{initial} → {last}");
}
