//! The text plugin's frozen BERT against sentence-transformers on the 100 real
//! descriptions (`tests/fixtures/text/make_reference.py` made the reference), and a
//! clear error when the model is missing. Needs `scripts/install-text-model.sh`.

use std::io::Read;

use mmhost::plugins::PluginLibrary;
use mmhost_materials::records::text_record;
use mmhost_tests::{built_library, data_dir, repo_root};
use serde_json::Value;

fn descriptions() -> Vec<(String, String)> {
    let dir = data_dir().join("samples/text");
    let mut rows = Vec::new();
    for name in [
        "textedge_prop_mp22_train.csv",
        "textedge_prop_mp22_valid.csv",
        "textedge_prop_mp22_test.csv",
    ] {
        let mut reader = csv::Reader::from_path(dir.join(name)).unwrap();
        let headers = reader.headers().unwrap().clone();
        let id = headers.iter().position(|h| h == "material_id").unwrap();
        let text = headers.iter().position(|h| h == "description").unwrap();
        rows.extend(reader.records().map(|r| {
            let r = r.unwrap();
            (r[id].to_string(), r[text].to_string())
        }));
    }
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("robocrys_mp40_sample30.json")).unwrap(),
    )
    .unwrap();
    rows.extend(json.as_array().unwrap().iter().map(|r| {
        (
            r["material_id"].as_str().unwrap().to_string(),
            r["description"].as_str().unwrap().to_string(),
        )
    }));
    rows
}

#[test]
fn sentence_embeddings_match_sentence_transformers() {
    let mut text = String::new();
    let file = std::fs::File::open(
        repo_root().join("tests/fixtures/text/sentence_transformers_reference.json.gz"),
    )
    .unwrap();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap();
    let reference: Value = serde_json::from_str(&text).unwrap();
    let expected: Vec<Vec<f64>> = reference["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    let rows = descriptions();
    assert_eq!(rows.len(), 100);
    assert_eq!(expected.len(), 100);

    let library = PluginLibrary::load(&built_library("mmhost_text")).unwrap();
    let featurizer = library.featurizer("threads = 2").unwrap();
    let mut worst = 0.0f64;
    for ((id, description), want) in rows.iter().zip(&expected) {
        let record = featurizer
            .featurize(&text_record(description))
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        let got = record.require("sentence").unwrap().to_f32().unwrap();
        assert_eq!(got.len(), 384);
        for (g, w) in got.iter().zip(want) {
            worst = worst.max((f64::from(*g) - w).abs());
        }
    }
    eprintln!("largest difference from sentence-transformers: {worst:e}");
    // Measured: 2.2e-7 (f32 rounding, the vectorized GELU; the order of parallel sums
    // varies).
    assert!(worst <= 5e-7, "{worst}");

    // The trainable MLP maps cached sentence embeddings to the 128-d latent space.
    let mut encoder = library.encoder("threads = 2").unwrap();
    let sentences: Vec<_> = rows[..4]
        .iter()
        .map(|(_, t)| featurizer.featurize(&text_record(t)).unwrap())
        .collect();
    let z = encoder.embed(&sentences).unwrap();
    assert_eq!((z.rows, z.dim), (4, 128));
}

#[test]
fn a_missing_model_names_the_install_script() {
    let library = PluginLibrary::load(&built_library("mmhost_text")).unwrap();
    let featurizer = library
        .featurizer("model_dir = \"/nonexistent/model\"")
        .unwrap();
    let err = featurizer
        .featurize(&text_record("NaCl is cubic."))
        .unwrap_err();
    assert!(
        err.to_string().contains("scripts/install-text-model.sh"),
        "{err}"
    );
    assert!(err.to_string().contains("/nonexistent/model"), "{err}");
}

/// The installed language model's folder, as the plugin finds it by default (the
/// text crate's `model_dir`, which this test binary cannot link: it links the DOS
/// plugin, and two plugin crates would define the root-module symbol twice).
fn installed_model_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("MMHOST_TEXT_MODEL") {
        return dir.into();
    }
    let cache = std::env::var_os("MMHOST_MODEL_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/mmhost/models")
        });
    cache.join("all-MiniLM-L6-v2")
}

/// A model folder whose `config.json` disagrees with its weights, or a description
/// longer than the model's positions, is refused with the reason, not a panic.
#[test]
fn a_model_folder_that_contradicts_itself_is_refused() {
    let installed = installed_model_dir();
    let config: Value =
        serde_json::from_slice(&std::fs::read(installed.join("config.json")).unwrap()).unwrap();
    let library = PluginLibrary::load(&built_library("mmhost_text")).unwrap();
    for (key, value, expected) in [
        ("num_attention_heads", 0, "num_attention_heads 0"),
        ("hidden_size", 768, "config.json: hidden_size 768"),
        ("intermediate_size", 100, "intermediate_size 100"),
    ] {
        let dir = mmhost_tests::scratch_dir(&format!("text-model-{key}"));
        for file in ["tokenizer.json", "model.safetensors"] {
            std::os::unix::fs::symlink(installed.join(file), dir.join(file)).unwrap();
        }
        let mut changed = config.clone();
        changed[key] = value.into();
        std::fs::write(dir.join("config.json"), changed.to_string()).unwrap();
        let featurizer = library
            .featurizer(&format!("model_dir = \"{}\"", dir.display()))
            .unwrap();
        let err = featurizer
            .featurize(&text_record("NaCl is cubic."))
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{key}: {err}");
    }
    // all-MiniLM-L6-v2 has 512 positions
    let featurizer = library.featurizer("max_tokens = 4096").unwrap();
    let err = featurizer
        .featurize(&text_record(&"NaCl is cubic. ".repeat(300)))
        .unwrap_err();
    assert!(
        err.to_string().contains("the model takes 1 to 512"),
        "{err}"
    );
}
