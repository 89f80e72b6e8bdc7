//! The plugin in process, through the SDK code path the ABI uses: featurize real
//! structures, train a step, and refuse bad input with a clear reason.

use mmhost_plugin_sdk::{
    api::{Array, Embeddings, Record, StepSettings},
    records, resolve_config, Cpu, EncoderModel, Trainer, TrainerOps,
};
use mmhost_xrd::XrdPlugin;
use serde_json::Value;

fn structures() -> Vec<Vec<u8>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/xrd_reference.json"
    );
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    json["materials"]
        .as_array()
        .expect("materials")
        .iter()
        .map(|m| serde_json::to_vec(&m["structure"]).expect("structure"))
        .collect()
}

fn raw(structure: &[u8]) -> Record {
    Record::single(
        records::STRUCTURE_FIELD,
        Array::from_u8(&[structure.len()], structure),
    )
}

#[test]
fn small_preset_featurizes_and_trains() {
    let resolved = resolve_config(
        "preset = \"small\"\nthreads = 1",
        XrdPlugin::default_config(),
        &XrdPlugin::presets(),
    )
    .expect("config");
    let records: Vec<Record> = structures()
        .iter()
        .map(|s| XrdPlugin::featurize(&resolved.model, &raw(s)).expect("featurize"))
        .collect();
    assert_eq!(records[0].require("xrd").expect("xrd").dims(), vec![1701]);
    let mut trainer = Trainer::<Cpu, XrdPlugin>::new(
        resolved.model.clone(),
        &resolved.runtime,
        Default::default(),
    );
    let z = trainer.forward(&records, true).expect("forward");
    assert_eq!((z.rows, z.dim), (5, 128));
    assert!(z.values.iter().all(|v| v.is_finite()));
    let before = trainer.embed(&records).expect("embed");
    trainer
        .backward(&Embeddings::new(5, 128, vec![1.0; 5 * 128]))
        .expect("backward");
    let settings = StepSettings {
        learning_rate: 1e-3,
        weight_decay: 0.0,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        grad_clip_norm: 0.0,
    };
    trainer.step(&settings).expect("step");
    let after = trainer.embed(&records).expect("embed");
    // Gradient of sum(Z): a step lowers the sum of the embeddings.
    let sum = |e: &Embeddings| e.values.iter().map(|&v| f64::from(v)).sum::<f64>();
    assert!(
        sum(&after) < sum(&before),
        "sum {} → {}",
        sum(&before),
        sum(&after)
    );
}

#[test]
fn bad_structures_are_refused_with_the_reason() {
    let config = XrdPlugin::default_config();
    let refuse = |structure: &str| {
        XrdPlugin::featurize(&config, &raw(structure.as_bytes()))
            .expect_err("must be refused")
            .to_string()
    };
    let lattice = r#""lattice": {"matrix": [[3, 0, 0], [0, 3, 0], [0, 0, 3]]}"#;
    let message = refuse(&format!(
        r#"{{{lattice}, "sites": [{{"abc": [0, 0, 0], "species": [{{"element": "Xx", "occu": 1}}]}}]}}"#
    ));
    assert!(
        message.contains("site 0") && message.contains("'Xx'"),
        "{message}"
    );
    // A valid but 500 Å cell: some 10⁹ reflections in range, refused before the search.
    let message = refuse(
        r#"{"lattice": {"matrix": [[500, 0, 0], [0, 500, 0], [0, 0, 500]]},
            "sites": [{"abc": [0, 0, 0], "species": [{"element": "Na", "occu": 1}]}]}"#,
    );
    assert!(message.contains("Miller indices"), "{message}");
    let message = refuse(r#"{"sites": []}"#);
    assert!(message.contains("lattice"), "{message}");
    let message = refuse("not json");
    assert!(message.contains("not JSON"), "{message}");
    let message = XrdPlugin::featurize(
        &config,
        &Record::single("dos", Array::from_f32(&[1], &[0.0])),
    )
    .expect_err("no structure")
    .to_string();
    assert!(message.contains("structure"), "{message}");
}
