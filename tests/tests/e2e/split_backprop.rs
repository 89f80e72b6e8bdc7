//! Split back-propagation through the plugin ABI (forward in the plugin → loss in
//! another plugin → backward in the plugin) gives the same parameter gradients as
//! one end-to-end autodiff graph in this process, on real DOS rows.

use burn::{
    module::AutodiffModule,
    nn::loss::CrossEntropyLossConfig,
    optim::GradientsParams,
    tensor::{backend::Backend, Int, Tensor, TensorData},
};
use mmhost::{
    backprop::{forward_backward, step_all, ModalityBatch},
    plugins::{EncoderHandle, PluginLibrary},
};
use mmhost_dos::DosPlugin;
use mmhost_plugin_api::Record;
use mmhost_plugin_sdk::{
    named_gradients, resolve_config, stack_field, Cpu, EncoderModel, NamedTensor, Trainer,
    TrainerOps,
};
use mmhost_tests::{built_library, pretraining_step_settings, real_dos_records};

const TAU: f64 = 0.2;

fn config(seed: u64) -> String {
    format!("preset = \"small\"\nseed = {seed}\nthreads = 1\n")
}

/// The model inside a plugin instance, rebuilt in this process from its weights.
fn in_process_model(encoder: &EncoderHandle, seed: u64) -> mmhost_dos::DosTransformer<Cpu> {
    let resolved = resolve_config(
        &config(seed),
        DosPlugin::default_config(),
        &DosPlugin::presets(),
    )
    .unwrap();
    let mut trainer =
        Trainer::<Cpu, DosPlugin>::new(resolved.model, &resolved.runtime, Default::default());
    trainer
        .load_weights(&encoder.save_weights().unwrap())
        .unwrap();
    trainer.model().clone()
}

/// Reference CLIP pair loss written independently of the clip plugin: burn's
/// cross-entropy over `S = â b̂ᵀ / τ` and its transpose.
fn reference_pair_loss<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 1> {
    let normalize = |x: Tensor<B, 2>| {
        let norm = x.clone().powf_scalar(2.0).sum_dim(1).sqrt();
        x / norm
    };
    let n = a.dims()[0];
    let device = a.device();
    let logits = normalize(a)
        .matmul(normalize(b).transpose())
        .div_scalar(TAU);
    let targets = Tensor::<B, 1, Int>::from_data(
        TensorData::new((0..n as i64).collect::<Vec<_>>(), [n]),
        &device,
    );
    let ce = CrossEntropyLossConfig::new().init(&device);
    (ce.forward(logits.clone(), targets.clone()) + ce.forward(logits.transpose(), targets))
        .div_scalar(2.0)
}

fn relative_error(a: &[f32], b: &[f32]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (diff / norm.max(1e-30)).sqrt()
}

fn plugin_gradients(encoder: &EncoderHandle) -> Vec<NamedTensor> {
    encoder
        .gradients()
        .unwrap()
        .fields
        .iter()
        .map(|f| NamedTensor {
            name: f.name.to_string(),
            shape: f.array.dims(),
            values: f.array.to_f32().unwrap(),
        })
        .collect()
}

#[test]
fn split_gradients_equal_end_to_end_gradients_on_real_dos() {
    let dos = PluginLibrary::load(&built_library("mmhost_dos")).unwrap();
    let clip = PluginLibrary::load(&built_library("mmhost_clip")).unwrap();
    let featurizer = dos.featurizer(&config(1)).unwrap();
    let records: Vec<Record> = real_dos_records(8)
        .iter()
        .map(|r| featurizer.featurize(r).unwrap())
        .collect();

    // Two instances of the same plugin side by side, as two "modalities"; the second
    // misses material 3, so the loss must mask it.
    let mut encoders = vec![
        dos.encoder(&config(1)).unwrap(),
        dos.encoder(&config(2)).unwrap(),
    ];
    let present_b: Vec<bool> = (0..8).map(|i| i != 3).collect();
    let records_b: Vec<Record> = records
        .iter()
        .zip(&present_b)
        .filter(|(_, &p)| p)
        .map(|(r, _)| r.clone())
        .collect();
    let batches = vec![
        ModalityBatch {
            records: records.clone(),
            present: vec![true; 8],
        },
        ModalityBatch {
            records: records_b.clone(),
            present: present_b,
        },
    ];
    let mut loss = clip
        .loss(&format!("kind = \"all-pairs\"\ntemperature = {TAU}"))
        .unwrap();

    let model_a = in_process_model(&encoders[0], 1);
    let model_b = in_process_model(&encoders[1], 2);
    let output = forward_backward(&mut encoders, &batches, &mut loss).unwrap();

    // End to end in this process: one graph from both models through the loss.
    let device = Default::default();
    let za = model_a.forward(stack_field::<Cpu, 3>(&records, "dos", &device).unwrap());
    let zb = model_b.forward(stack_field::<Cpu, 3>(&records_b, "dos", &device).unwrap());
    let shared = Tensor::<Cpu, 1, Int>::from_data(
        TensorData::new(vec![0i64, 1, 2, 4, 5, 6, 7], [7]),
        &device,
    );
    let reference = reference_pair_loss(za.select(0, shared), zb);
    let reference_value: f32 = reference.clone().into_scalar();
    assert!(
        (output.loss - f64::from(reference_value)).abs() < 1e-5,
        "plugin loss {} vs end-to-end {reference_value}",
        output.loss
    );
    let mut grads = reference.backward();
    let expected = [
        named_gradients(
            &model_a,
            &GradientsParams::from_module(&mut grads, &model_a),
        ),
        named_gradients(
            &model_b,
            &GradientsParams::from_module(&mut grads, &model_b),
        ),
    ];

    for (encoder, expected) in encoders.iter().zip(&expected) {
        let got = plugin_gradients(encoder);
        assert_eq!(got.len(), expected.len());
        assert!(got.len() >= 10, "{} parameters", got.len());
        for (g, e) in got.iter().zip(expected) {
            assert_eq!((&g.name, &g.shape), (&e.name, &e.shape));
            let err = relative_error(&g.values, &e.values);
            assert!(err <= 1e-5, "{}: relative error {err:e}", g.name);
            assert!(
                e.values.iter().any(|v| *v != 0.0),
                "{}: zero gradient",
                e.name
            );
        }
    }

    // A step changes the weights, and the instances stay independent.
    let before = encoders[1].save_weights().unwrap();
    let settings = pretraining_step_settings();
    let norms = step_all(&mut encoders, &batches, &settings).unwrap();
    assert!(norms.iter().all(|n| n.is_finite() && *n > 0.0), "{norms:?}");
    assert!(
        encoders[1].save_weights().unwrap() != before,
        "weights unchanged"
    );
    let _ = model_a.valid();
}

#[test]
fn two_instances_of_one_plugin_live_side_by_side() {
    let dos = PluginLibrary::load(&built_library("mmhost_dos")).unwrap();
    let again = PluginLibrary::load(&built_library("mmhost_dos")).unwrap();
    let featurizer = dos.featurizer(&config(7)).unwrap();
    let records: Vec<Record> = real_dos_records(4)
        .iter()
        .map(|r| featurizer.featurize(r).unwrap())
        .collect();
    let mut first = dos.encoder(&config(7)).unwrap();
    let mut same_seed = again.encoder(&config(7)).unwrap();
    let mut other_seed = dos.encoder(&config(8)).unwrap();
    let z1 = first.embed(&records).unwrap();
    assert_eq!(
        z1,
        same_seed.embed(&records).unwrap(),
        "same seed, same weights"
    );
    assert_ne!(
        z1,
        other_seed.embed(&records).unwrap(),
        "another seed, other weights"
    );
    // Weights move from one instance to another.
    other_seed
        .load_weights(&first.save_weights().unwrap())
        .unwrap();
    assert_eq!(z1, other_seed.embed(&records).unwrap());
}

#[test]
fn recomputed_chunks_give_the_gradients_of_the_whole_batch() {
    let dos = PluginLibrary::load(&built_library("mmhost_dos")).unwrap();
    let featurizer = dos.featurizer(&config(5)).unwrap();
    let records: Vec<Record> = real_dos_records(12)
        .iter()
        .map(|r| featurizer.featurize(r).unwrap())
        .collect();
    let mut whole = dos.encoder(&config(5)).unwrap();
    let mut chunked = dos
        .encoder(&format!("{}recompute_chunk = 5\n", config(5)))
        .unwrap();
    let z_whole = whole.forward(&records, true).unwrap();
    let z_chunked = chunked.forward(&records, true).unwrap();
    assert!(relative_error(&z_chunked.values, &z_whole.values) < 1e-5);
    // Any fixed dL/dZ: a smooth function of the row and column.
    let values: Vec<f32> = (0..z_whole.values.len())
        .map(|i| ((i % 17) as f32 - 8.0) * 0.01)
        .collect();
    let grad =
        mmhost_plugin_api::Embeddings::new(z_whole.rows as usize, z_whole.dim as usize, values);
    whole.backward(&grad).unwrap();
    chunked.backward(&grad).unwrap();
    let (a, b) = (plugin_gradients(&chunked), plugin_gradients(&whole));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.name, y.name);
        let error = relative_error(&x.values, &y.values);
        assert!(error < 1e-5, "{}: relative error {error}", x.name);
    }
}
