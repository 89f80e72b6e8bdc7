//! The CLIP loss plugin against an independent float64 Python reference
//! (`tests/fixtures/clip/make_reference.py`): loss values and finite-difference
//! gradients, AllPairs and Anchored, with missing modalities masked.

use mmhost::plugins::{ComparedPairs, PluginLibrary};
use mmhost_plugin_api::{Embeddings, ModalityEmbeddings};
use mmhost_tests::{built_library, repo_root};
use serde_json::Value;

fn matrix(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
        })
        .collect()
}

#[test]
fn clip_losses_match_the_python_reference() {
    let path = repo_root().join("tests/fixtures/clip/reference.json");
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let modalities: Vec<&str> = reference["modalities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let inputs: Vec<ModalityEmbeddings> = modalities
        .iter()
        .map(|m| {
            let values = matrix(&reference["embeddings"][m]);
            let present: Vec<u8> = reference["present"][m]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_u64().unwrap() as u8)
                .collect();
            ModalityEmbeddings {
                modality: (*m).into(),
                embeddings: Embeddings::new(present.len(), values.len() / present.len(), values),
                present: present.into(),
            }
        })
        .collect();
    let clip = PluginLibrary::load(&built_library("mmhost_clip")).unwrap();
    for kind in ["all-pairs", "anchored"] {
        let expected = &reference["expected"][kind];
        let mut loss = clip
            .loss(&format!(
                "kind = \"{kind}\"\ntemperature = {}",
                reference["temperature"]
            ))
            .unwrap();
        let out = loss.compute(&inputs).unwrap();
        let want = expected["loss"].as_f64().unwrap();
        assert!(
            (out.loss - want).abs() < 1e-5,
            "{kind}: {} vs {want}",
            out.loss
        );
        assert_eq!(out.gradients.len(), modalities.len(), "{kind}");
        for (m, grad) in modalities.iter().zip(out.gradients.iter()) {
            let want = matrix(&expected["gradients"][m]);
            assert_eq!(grad.values.len(), want.len(), "{kind} d/d{m}: length");
            for (i, (g, w)) in grad.values.iter().zip(&want).enumerate() {
                assert!((g - w).abs() < 1e-4, "{kind} d/d{m}[{i}]: {g} vs {w}");
            }
        }
        let names: Vec<String> = out.metrics.iter().map(|m| m.name.to_string()).collect();
        assert!(names.contains(&"crystal-dos/top1".to_string()), "{names:?}");
    }

    // A loss needs two modalities, and the anchor must be among them.
    let mut anchored = clip.loss("kind = \"anchored\"\nanchor = \"text\"").unwrap();
    let err = anchored.compute(&inputs).unwrap_err();
    assert!(err.to_string().contains("anchor modality 'text'"), "{err}");

    // The plugin states which pairs it compares: every pair, or each modality with
    // the anchor; the host trains and validates exactly those.
    let run = ["dos", "crystal", "charge"].map(String::from);
    let pairs = |config: &str| clip.loss(config).unwrap().pairs(&run);
    let all = pairs("kind = \"all-pairs\"").unwrap();
    assert_eq!(
        all,
        ComparedPairs {
            pairs: vec![(0, 1), (0, 2), (1, 2)],
            anchor: None
        }
    );
    let stated = pairs("kind = \"anchored\"").unwrap();
    assert_eq!(stated.pairs, [(1, 0), (1, 2)]);
    assert_eq!(stated.anchor, Some(1));
    let err = pairs("kind = \"anchored\"\nanchor = \"text\"").unwrap_err();
    assert_eq!(err.operation, "pairs");
    assert!(err.to_string().contains("anchor modality 'text'"), "{err}");

    let err = clip.loss("temperature = -1.0").err().unwrap();
    assert!(
        err.to_string().contains("temperature must be positive"),
        "{err}"
    );
}
