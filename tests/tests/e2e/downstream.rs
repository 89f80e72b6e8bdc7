//! Using a trained run: `mmhost embed`, `retrieve`, `discover` and `map` on the
//! bundled demo dataset (real Materials Project data), after a short pretraining run.

use std::fs;

use mmhost_tests::{import_demo, mmhost, mmhost_ok, path, refused, repo_root, scratch_dir};
use serde_json::Value;

#[test]
fn embed_and_retrieve_use_the_trained_encoders() {
    let dir = scratch_dir("downstream");
    let db = import_demo(&dir);
    let run = dir.join("run");
    let config = repo_root().join("configs/demo.toml");
    let out = mmhost_ok(&[
        "train",
        "--config",
        path(&config),
        "--set",
        "threads=1",
        "--db",
        path(&db),
        "--plugins",
        "crystal,dos,charge",
        "--epochs",
        "2",
        "--out",
        path(&run),
        "--quiet",
        "--json",
    ]);
    let last: Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap();

    // Retrieval on the validation split reproduces the run's own last validation.
    let out = mmhost_ok(&[
        "retrieve",
        "--model",
        path(&run),
        "--query",
        "dos",
        "--target",
        "crystal",
        "--split",
        "validation",
        "--json",
    ]);
    let retrieved: Value = serde_json::from_slice(&out.stdout).unwrap();
    let during_training = &last["validation"]["retrieval"]["dos→crystal"];
    for key in [
        "queries",
        "top1",
        "top5",
        "top10",
        "mean_rank",
        "median_rank",
    ] {
        assert_eq!(retrieved["scores"][key], during_training[key], "{key}");
    }
    // The held-out test split is another, disjoint set of materials.
    let out = mmhost_ok(&[
        "retrieve",
        "--model",
        path(&run),
        "--query",
        "charge",
        "--target",
        "crystal",
        "--json",
    ]);
    let test: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(test["split"], "test");
    assert!(test["scores"]["queries"].as_u64().unwrap() >= 5);

    // One query from a file: the Fe₂ vasprun.xml DOS of ../shared/data finds
    // crystals of the dataset, best first.
    let vasprun = mmhost_tests::data_dir().join("samples/dos/Fe2_vasprun.xml");
    let out = mmhost_ok(&[
        "retrieve",
        "--model",
        path(&run),
        "--query",
        "dos",
        "--target",
        "crystal",
        "--input",
        path(&vasprun),
        "--top",
        "7",
        "--json",
    ]);
    let single: Value = serde_json::from_slice(&out.stdout).unwrap();
    let candidates = single["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 7);
    let similarities: Vec<f64> = candidates
        .iter()
        .map(|c| c["similarity"].as_f64().unwrap())
        .collect();
    assert!(
        similarities.windows(2).all(|w| w[1] <= w[0]),
        "{similarities:?}"
    );

    // Embeddings of every material with a DOS, with the ids beside them.
    let npy = dir.join("dos.npy");
    mmhost_ok(&[
        "embed",
        "--model",
        path(&run),
        "--modality",
        "dos",
        "--output",
        path(&npy),
    ]);
    let ids: Vec<String> = fs::read_to_string(dir.join("dos_ids.txt"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let demo_ids = fs::read_to_string(repo_root().join("demo/dos_ids.txt")).unwrap();
    assert_eq!(ids.len(), demo_ids.lines().count());
    for id in &ids {
        assert!(demo_ids.lines().any(|l| l.trim() == id), "{id}");
    }
    let array = npyz::NpyFile::new(fs::File::open(&npy).unwrap()).unwrap();
    assert_eq!(array.shape(), &[ids.len() as u64, 128]);
    let values: Vec<f32> = array.into_vec().unwrap();
    assert!(values.iter().all(|v| v.is_finite()));
    assert_ne!(
        values[..128],
        values[128..256],
        "rows differ between materials"
    );

    // Discovery for a real DOS of the dataset: the best normalized MAE among the
    // N nearest crystals can only improve with N.
    let target = demo_ids.lines().next().unwrap().trim();
    let found = dir.join("discovery");
    mmhost_ok(&[
        "discover",
        "--model",
        path(&run),
        "--target-dos",
        target,
        "--neighbours",
        "10",
        "--out",
        path(&found),
    ]);
    let rows: Vec<Vec<String>> = fs::read_to_string(found.join("discovery.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    assert_eq!(rows.len(), 10);
    let best: Vec<f64> = rows.iter().map(|r| r[6].parse().unwrap()).collect();
    assert!(best.windows(2).all(|w| w[1] <= w[0]), "{best:?}");
    assert!(
        rows.iter().all(|r| r[1] != target),
        "the target is not its own candidate"
    );
    for png in ["discovery.png", "best_dos.png"] {
        assert!(
            fs::read(found.join(png)).unwrap().starts_with(b"\x89PNG"),
            "{png}"
        );
    }
    // A target from a file: the Fe₂ DOSCAR of ../shared/data.
    let doscar = mmhost_tests::data_dir().join("samples/dos/Fe2_DOSCAR");
    mmhost_ok(&[
        "discover",
        "--model",
        path(&run),
        "--target-dos",
        path(&doscar),
        "--out",
        path(&dir.join("discovery-fe")),
    ]);

    // UMAP maps of all 407 crystals in the three colourings.
    for colour in ["crystal-system", "formation-energy", "is-metal"] {
        let png = dir.join(format!("map-{colour}.png"));
        mmhost_ok(&[
            "map",
            "--model",
            path(&run),
            "--color",
            colour,
            "--output",
            path(&png),
        ]);
        assert!(fs::read(&png).unwrap().starts_with(b"\x89PNG"), "{colour}");
        let coordinates = fs::read_to_string(png.with_extension("csv")).unwrap();
        assert_eq!(coordinates.lines().count(), 408, "{colour}");
    }

    // A modality the run did not train is refused with the run's modalities.
    let out = mmhost(&[
        "embed",
        "--model",
        path(&run),
        "--modality",
        "text",
        "--output",
        path(&dir.join("text.npy")),
    ]);
    let stderr = refused(&out);
    assert!(stderr.contains("not 'text'"), "{stderr}");
}
