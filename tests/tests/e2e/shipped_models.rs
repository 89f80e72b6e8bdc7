//! The trained models of `models/`: listed with their cards, loadable right after the
//! build, predicting what they predicted when they were packaged, refused when the
//! installed plugin is another version, and safe on the malformed corpus.

use std::{collections::HashMap, fs, path::Path};

use mmhost_tests::{
    data_dir, import_demo, malformed_structure_files, mmhost, mmhost_command, mmhost_ok, path,
    refused, repo_root, scratch_dir, stderr_text, stdout_json, under_memory_limit,
};
use serde_json::Value;

const FORMATION: &str = "models/potnet-mp-formation-energy";
const PRETRAINED: &str = "models/multimat-mp-pretrained";

/// `material_id → cif` for `ids`, from `mp/structures.csv.gz`.
fn cifs(ids: &[String]) -> HashMap<String, String> {
    let file = fs::File::open(data_dir().join("mp/structures.csv.gz")).unwrap();
    let mut reader = csv::Reader::from_reader(flate2::read::GzDecoder::new(file));
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (id, cif) = (col("material_id"), col("cif"));
    reader
        .records()
        .map(Result::unwrap)
        .filter(|r| ids.iter().any(|wanted| wanted == &r[id]))
        .map(|r| (r[id].to_string(), r[cif].to_string()))
        .collect()
}

/// `(id, value)` rows of a predictions CSV's column `column`.
fn column(csv_path: &Path, column: &str) -> Vec<(String, f64)> {
    let mut reader = csv::Reader::from_path(csv_path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let at = headers.iter().position(|h| h == column).unwrap();
    reader
        .records()
        .map(Result::unwrap)
        .map(|r| (r[0].to_string(), r[at].parse().unwrap()))
        .collect()
}

/// `mmhost predict` with `model` on the `mp/` materials `ids` (a CSV of their CIFs
/// beside `output`), writing `output`.
fn predict_mp_materials(model: &Path, ids: &[String], output: &Path) -> std::process::Output {
    let structures = cifs(ids);
    let rows: Vec<(&str, &str)> = ids
        .iter()
        .map(|id| (id.as_str(), structures[id].as_str()))
        .collect();
    predict_cif_table(
        model,
        &rows,
        &output.with_file_name("structures.csv"),
        output,
    )
}

/// `mmhost predict` with `model` on a CSV `input` it writes first, one row per
/// `(material_id, cif)` of `rows`, writing `output`.
fn predict_cif_table(
    model: &Path,
    rows: &[(&str, &str)],
    input: &Path,
    output: &Path,
) -> std::process::Output {
    let mut writer = csv::Writer::from_path(input).unwrap();
    writer.write_record(["material_id", "cif"]).unwrap();
    for (id, cif) in rows {
        writer.write_record([id, cif]).unwrap();
    }
    writer.flush().unwrap();
    mmhost_ok(&[
        "predict",
        "--model",
        path(model),
        "--input",
        path(input),
        "--output",
        path(output),
    ])
}

#[test]
fn the_shipped_models_are_listed_and_load() {
    let models = repo_root().join("models");
    let listed = stdout_json(&mmhost_ok(&["models", "--json", "--dir", path(&models)]));
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["card"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "multimat-mp-pretrained",
            "potnet-mp-band-gap",
            "potnet-mp-formation-energy"
        ]
    );
    for model in listed.as_array().unwrap() {
        assert_eq!(model["changed_weights"], Value::Array(vec![]), "{model}");
        assert_eq!(model["plugin_problems"], Value::Array(vec![]), "{model}");
    }
    let mut total = 0;
    for entry in walk(&models) {
        total += fs::metadata(entry).unwrap().len();
    }
    assert!(total <= 60 << 20, "models/ holds {total} bytes");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn the_formation_energy_model_predicts_what_its_card_reports() {
    predicts_what_its_card_reports(FORMATION, "formation_energy_per_atom");
}

/// The band-gap model's floor holds in `predict` too: metals come out at 0 eV.
#[test]
fn the_band_gap_model_predicts_what_its_card_reports() {
    let predicted = predicts_what_its_card_reports("models/potnet-mp-band-gap", "band_gap");
    assert!(predicted.iter().all(|p| *p >= 0.0), "{predicted:?}");
    assert!(predicted.contains(&0.0), "{predicted:?}");
}

/// Predicts every 50th test-split material of the shipped model in `model` (a path
/// under the repository) and compares with the predictions made when the model was
/// packaged; returns the predictions.
fn predicts_what_its_card_reports(model: &str, property: &str) -> Vec<f64> {
    let model = repo_root().join(model);
    let column_name = format!("predicted_{property}");
    let packaged = column(&model.join("test_predictions.csv"), &column_name);
    let sample: Vec<(String, f64)> = packaged.into_iter().step_by(50).collect();
    let ids: Vec<String> = sample.iter().map(|(id, _)| id.clone()).collect();
    let output = scratch_dir(&format!("shipped-{property}")).join("predictions.csv");
    predict_mp_materials(&model, &ids, &output);
    let predicted: HashMap<String, f64> = column(&output, &column_name).into_iter().collect();
    assert_eq!(predicted.len(), sample.len());
    for (id, want) in &sample {
        let got = predicted[id];
        assert!((got - want).abs() < 1e-4, "{id}: {got} vs {want}");
    }
    sample.iter().map(|(id, _)| predicted[id]).collect()
}

/// A structure with an element that none of a model's training materials contained
/// is predicted and flagged: KrF₂ (mp-30009) has no band-gap label, and no
/// band-gap training material has krypton; GaTe (mp-10009) is flagged with the
/// model's count of its rarer element.
#[test]
fn an_element_the_band_gap_model_never_trained_on_is_flagged() {
    let model = repo_root().join("models/potnet-mp-band-gap");
    let info: Value =
        serde_json::from_str(&fs::read_to_string(model.join("model.json")).unwrap()).unwrap();
    let trained = &info["training_elements"];
    assert!(trained.get("Kr").is_none(), "{trained}");
    let ids = ["mp-30009".to_string(), "mp-10009".to_string()];
    let output = scratch_dir("shipped-unseen-element").join("predictions.csv");
    let out = predict_mp_materials(&model, &ids, &output);
    let stderr = stderr_text(&out);
    assert!(stderr.contains("Kr (1 structure)"), "{stderr}");
    assert!(!stderr.contains("Ga ("), "{stderr}");
    let mut reader = csv::Reader::from_path(&output).unwrap();
    let rows: HashMap<String, (String, u64)> = reader
        .records()
        .map(Result::unwrap)
        .map(|r| (r[0].to_string(), (r[3].to_string(), r[4].parse().unwrap())))
        .collect();
    assert_eq!(rows["mp-30009"], ("Kr".to_string(), 0));
    let (ga, te) = (
        trained["Ga"].as_u64().unwrap(),
        trained["Te"].as_u64().unwrap(),
    );
    let rarer = if ga <= te {
        ("Ga".to_string(), ga)
    } else {
        ("Te".to_string(), te)
    };
    assert_eq!(rows["mp-10009"], rarer);
}

/// Ids and file names with commas and quotes come back intact in predict's CSV.
#[test]
fn predictions_keep_ids_with_commas_and_quotes() {
    let id = "GaTe, \"layered\"";
    let cif = &cifs(&["mp-10009".to_string()])["mp-10009"];
    let dir = scratch_dir("shipped-quoted-ids");
    let (input, output) = (dir.join("a, b.csv"), dir.join("predictions.csv"));
    predict_cif_table(&repo_root().join(FORMATION), &[(id, cif)], &input, &output);
    let mut reader = csv::Reader::from_path(&output).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!((&rows[0][0], &rows[0][1]), (id, path(&input)));
    assert_eq!(rows[0].len(), 5);
    rows[0][2].parse::<f64>().unwrap();
}

/// Without `--output`, `predict` writes the same CSV to standard output and its
/// summary to standard error.
#[test]
fn predictions_go_to_standard_output_without_an_output_file() {
    let ids = ["mp-10009".to_string(), "mp-30009".to_string()];
    let dir = scratch_dir("shipped-stdout");
    let output = dir.join("predictions.csv");
    predict_mp_materials(&repo_root().join(FORMATION), &ids, &output);
    let out = mmhost_ok(&[
        "predict",
        "--model",
        path(&repo_root().join(FORMATION)),
        "--input",
        path(&dir.join("structures.csv")),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        fs::read_to_string(&output).unwrap()
    );
    let stderr = stderr_text(&out);
    assert!(
        stderr.contains("2 structures predicted (formation_energy_per_atom) → standard output"),
        "{stderr}"
    );
}

/// A copy of the formation-energy model in `copy` whose model.json says its
/// encoder was trained with plugin version 0.0.9.
fn formation_model_of_plugin_version_0_0_9(copy: &Path) {
    fs::create_dir_all(copy).unwrap();
    for entry in fs::read_dir(repo_root().join(FORMATION)).unwrap() {
        let file = entry.unwrap().path();
        fs::copy(&file, copy.join(file.file_name().unwrap())).unwrap();
    }
    let model_json = copy.join("model.json");
    let mut info: Value = serde_json::from_str(&fs::read_to_string(&model_json).unwrap()).unwrap();
    info["encoder"]["version"] = "0.0.9".into();
    fs::write(&model_json, info.to_string()).unwrap();
}

#[test]
fn a_model_of_another_plugin_version_is_refused() {
    let dir = scratch_dir("shipped-version");
    let copy = dir.join("model");
    formation_model_of_plugin_version_0_0_9(&copy);
    // One test-split structure of the model's own predictions.
    let (id, _) = column(
        &copy.join("test_predictions.csv"),
        "predicted_formation_energy_per_atom",
    )
    .swap_remove(0);
    let input = dir.join(format!("{id}.cif"));
    fs::write(&input, &cifs(std::slice::from_ref(&id))[&id]).unwrap();
    let message = refused(
        &mmhost_command(&[
            "predict",
            "--model",
            path(&copy),
            "--input",
            path(&input),
            "--output",
            path(&dir.join("out.csv")),
        ])
        .output()
        .unwrap(),
    );
    assert!(
        message.contains("trained with plugin 'crystal-potnet' 0.0.9, but the installed")
            && message.contains("install plugin version 0.0.9"),
        "{message}"
    );
}

#[test]
fn the_pretrained_model_embeds_and_retrieves_the_demo() {
    let dir = scratch_dir("shipped-pretrained");
    let db = import_demo(&dir);
    let model = repo_root().join(PRETRAINED);
    let out = mmhost_ok(&[
        "retrieve",
        "--model",
        path(&model),
        "--db",
        path(&db),
        "--query",
        "text",
        "--target",
        "crystal",
        "--text",
        "a cubic rock salt structure of sodium and chlorine",
        "--top",
        "5",
        "--json",
    ]);
    // Five candidates, best first; the shipped model reads "sodium and chlorine"
    // (measured: NiCl2, KCuCl3, NaN3, NaMn2O4, NiHO2 among the demo's 407 crystals).
    let hits = stdout_json(&out);
    let candidates = hits["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 5, "{hits}");
    let similarity = |c: &Value| c["similarity"].as_f64().unwrap();
    assert!(candidates
        .windows(2)
        .all(|w| similarity(&w[0]) >= similarity(&w[1])));
    let named = candidates
        .iter()
        .filter(|c| {
            let formula = c["formula"].as_str().unwrap();
            formula.contains("Na") || formula.contains("Cl")
        })
        .count();
    assert!(named >= 3, "{hits}");
    let embeddings = dir.join("crystal.npy");
    mmhost_ok(&[
        "embed",
        "--model",
        path(&model),
        "--db",
        path(&db),
        "--modality",
        "crystal",
        "--split",
        "all",
        "--output",
        path(&embeddings),
    ]);
    let array = npyz::NpyFile::new(fs::File::open(&embeddings).unwrap()).unwrap();
    assert_eq!(array.shape()[1], 128);
    assert_eq!(array.shape()[0], 407, "every demo crystal");
}

#[test]
fn the_malformed_corpus_is_refused_by_predict_under_a_memory_limit() {
    let model = repo_root().join(FORMATION);
    let output = scratch_dir("shipped-malformed").join("out.csv");
    let mut checked = 0;
    for file in malformed_structure_files() {
        let out = under_memory_limit([
            "predict",
            "--model",
            path(&model),
            "--input",
            path(&file),
            "--output",
            path(&output),
        ]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}: {}",
            file.display(),
            stderr_text(&out)
        );
        assert!(
            stderr_text(&out).contains("not predicted:"),
            "{}: {}",
            file.display(),
            stderr_text(&out)
        );
        checked += 1;
    }
    assert!(checked >= 25, "{checked} structure files");
}

#[test]
fn finetuning_from_the_pretrained_model_takes_the_commands_seed() {
    let dir = scratch_dir("shipped-seed");
    let db = import_demo(&dir);
    let finetune = |splits: &str, out: &Path| {
        mmhost_ok(&[
            "finetune",
            "--config",
            path(&repo_root().join("configs/demo.toml")),
            "--set",
            "seed=7",
            "--db",
            path(&db),
            "--from",
            path(&repo_root().join(PRETRAINED)),
            "--property",
            "formation_energy_per_atom",
            "--splits",
            splits,
            "--epochs",
            "1",
            "--out",
            path(out),
        ])
    };
    // The pretraining's test share (10 %): its test materials, no warning.
    let out = dir.join("ft");
    let warning = "held out other test materials";
    let same = finetune("0.8,0.1,0.1", &out);
    assert!(
        !stderr_text(&same).contains(warning),
        "{}",
        stderr_text(&same)
    );
    // A test share reaching into the pretraining's training share (70 %) draws test
    // materials from it; a larger one that stays clear of it does not.
    let other = finetune("0.5,0.1,0.4", &dir.join("ft-other-test"));
    assert!(
        stderr_text(&other).contains(warning),
        "{}",
        stderr_text(&other)
    );
    let clear = finetune("0.7,0.1,0.2", &dir.join("ft-clear-test"));
    assert!(
        !stderr_text(&clear).contains(warning),
        "{}",
        stderr_text(&clear)
    );
    // The encoder configuration is the pretraining's (a half-width reference PotNet,
    // where the command's demo configuration asks for the small preset), the seed the
    // command's.
    let config = fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.lines().any(|l| l == "seed = 7"), "{config}");
    assert!(config.contains("hidden_dim = 128"), "{config}");
}

/// The tensors of a safetensors file, name → raw bytes, batch-norm running
/// statistics left out (every training forward updates them, at any learning rate).
fn parameters(file: &Path) -> HashMap<String, Vec<u8>> {
    let bytes = fs::read(file).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let data = &bytes[8 + header_len..];
    header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| *name != "__metadata__" && !name.contains("running_"))
        .map(|(name, tensor)| {
            let offsets = &tensor["data_offsets"];
            let (start, end) = (
                offsets[0].as_u64().unwrap() as usize,
                offsets[1].as_u64().unwrap() as usize,
            );
            (name.clone(), data[start..end].to_vec())
        })
        .collect()
}

/// `mmhost finetune` of `property` on the demo dataset `db` with the demo
/// configuration, from `from`, one epoch into `out`, with the `recipe` flags.
fn finetune_one_epoch(
    db: &Path,
    from: &Path,
    property: &str,
    recipe: &[&str],
    out: &Path,
) -> std::process::Output {
    let config = repo_root().join("configs/demo.toml");
    let mut args = vec![
        "finetune",
        "--config",
        path(&config),
        "--db",
        path(db),
        "--from",
        path(from),
        "--property",
        property,
        "--epochs",
        "1",
        "--out",
        path(out),
    ];
    args.extend_from_slice(recipe);
    mmhost(&args)
}

#[test]
fn finetuning_from_the_formation_energy_model_starts_from_its_encoder() {
    let dir = scratch_dir("shipped-transfer");
    let db = import_demo(&dir);
    let finetune = |from: &Path, extra: &[&str], out: &Path| {
        let recipe = [&["--loss", "l1", "--floor", "0"], extra].concat();
        finetune_one_epoch(&db, from, "band_gap", &recipe, out)
    };
    let formation = repo_root().join(FORMATION);
    // At learning rate 0 the new model's crystal encoder is the formation-energy
    // model's, parameter for parameter; the formation-energy model held out the same
    // test materials (split seed 42, a 10 % test share): no warning.
    let out = dir.join("ft");
    let same = finetune(&formation, &["--lr", "0", "--splits", "0.8,0.1,0.1"], &out);
    let log = stderr_text(&same);
    assert!(same.status.success(), "{log}");
    assert!(!log.contains("held out other test materials"), "{log}");
    let started = parameters(&formation.join("crystal.safetensors"));
    let kept = parameters(&out.join("crystal.safetensors"));
    assert!(started.len() > 20, "{} tensors", started.len());
    assert_eq!(started.len(), kept.len());
    for (name, tensor) in &started {
        assert!(kept[name] == *tensor, "{name} changed at learning rate 0");
    }
    // A test share reaching into its training share (80 %) draws test materials
    // from it.
    let other = finetune(
        &formation,
        &["--splits", "0.5,0.1,0.4"],
        &dir.join("ft-other-test"),
    );
    let log = stderr_text(&other);
    assert!(other.status.success(), "{log}");
    assert!(log.contains("held out other test materials"), "{log}");
    // Weights of another plugin version are refused, naming both.
    let copy = dir.join("other-version");
    formation_model_of_plugin_version_0_0_9(&copy);
    let refused_out = dir.join("ft-other-version");
    let message = refused(&finetune(&copy, &[], &refused_out));
    assert!(
        message.contains("trained with plugin 'crystal-potnet' 0.0.9, but the installed"),
        "{message}"
    );
    assert!(
        !refused_out.exists(),
        "a refused fine-tuning writes nothing"
    );
    // A fine-tuning that has not finished (no model.json) has no weights to hand on.
    fs::remove_file(copy.join("model.json")).unwrap();
    let message = refused(&finetune(&copy, &[], &refused_out));
    assert!(message.contains("has not finished"), "{message}");
    // Nor can a fine-tuning replace the model it starts from.
    let message = refused(&finetune(&out, &["--overwrite"], &out));
    assert!(message.contains("--from and --out both name"), "{message}");
    assert!(out.join("model.json").is_file());
    // Where it runs is the command's choice, not the model's (trained on the CPU):
    // the test build has no `cuda` feature, so the encoder refuses, naming it.
    let message = refused(&finetune(
        &formation,
        &["--device", "cuda:0"],
        &dir.join("ft-gpu"),
    ));
    assert!(
        message.contains("device 'cuda:0'") && message.contains("built without the `cuda` feature"),
        "{message}"
    );
}

/// `--head-init fit` fits the new head to the starting encoder before the first
/// step. At learning rate 0 nothing trains after that: a zero head predicts the
/// training mean, a head fitted to the formation-energy model's encoder predicts
/// formation energies nearly as well as that model, and one shrunk by a strong
/// ridge predicts them less well.
#[test]
fn a_head_fitted_to_the_formation_energy_encoder_predicts_before_any_step() {
    let dir = scratch_dir("shipped-head-fit");
    let db = import_demo(&dir);
    let formation = repo_root().join(FORMATION);
    let finetune = |property: &str, head_init: &str, ridge: &[&str], out: &str| {
        let recipe = [
            &[
                "--head-init",
                head_init,
                "--lr",
                "0",
                "--splits",
                "0.8,0.1,0.1",
                "--json",
            ],
            ridge,
        ]
        .concat();
        finetune_one_epoch(&db, &formation, property, &recipe, &dir.join(out))
    };
    let ratio = |outcome: &Value| {
        outcome["test"]["mae"].as_f64().unwrap() / outcome["baseline"]["mae"].as_f64().unwrap()
    };
    let zero = finetune("formation_energy_per_atom", "zero", &[], "zero");
    assert!(zero.status.success(), "{}", stderr_text(&zero));
    let zero = stdout_json(&zero);
    assert!((ratio(&zero) - 1.0).abs() < 1e-9, "{}", zero["test"]);
    assert!(
        zero["recipe"].get("head_init").is_none(),
        "{}",
        zero["recipe"]
    );

    let fit = finetune("formation_energy_per_atom", "fit", &[], "fit");
    let log = stderr_text(&fit);
    assert!(fit.status.success(), "{log}");
    assert!(
        log.contains("head fitted to the starting encoder's embeddings"),
        "{log}"
    );
    let fit = stdout_json(&fit);
    assert_eq!(fit["recipe"]["head_init"], "fit");
    assert_eq!(fit["recipe"]["head_ridge"], 1.0);
    eprintln!(
        "measured: head fitted to the formation-energy encoder, test MAE {:.4} ({:.3} of the \
         training mean's)",
        fit["test"]["mae"].as_f64().unwrap(),
        ratio(&fit)
    );
    assert!(ratio(&fit) < 0.3, "{}", fit["test"]);

    let shrunk = finetune(
        "formation_energy_per_atom",
        "fit",
        &["--head-ridge", "100"],
        "shrunk",
    );
    assert!(shrunk.status.success(), "{}", stderr_text(&shrunk));
    let shrunk = stdout_json(&shrunk);
    assert_eq!(shrunk["recipe"]["head_ridge"], 100.0);
    assert!(
        ratio(&fit) < ratio(&shrunk) && ratio(&shrunk) < 1.0,
        "{} against {}",
        shrunk["test"],
        fit["test"]
    );
    let message = refused(&finetune(
        "formation_energy_per_atom",
        "zero",
        &["--head-ridge", "1"],
        "zero-ridge",
    ));
    assert!(
        message.contains("--head-ridge applies to a fitted head only"),
        "{message}"
    );

    // A classification's head is not fitted by least squares.
    let message = refused(&finetune("is_metal", "fit", &[], "metal"));
    assert!(
        message.contains("--head-init fit apply to regression only"),
        "{message}"
    );
}

#[test]
fn the_device_flag_moves_a_shipped_model_off_the_cpu() {
    // The models were trained on the CPU; `--device cuda:0` must reach their
    // encoders. The test build has no `cuda` feature, so each encoder refuses,
    // naming the feature (a build with it would run there instead).
    let dir = scratch_dir("shipped-device");
    let db = import_demo(&dir);
    let embed = mmhost(&[
        "--device",
        "cuda:0",
        "embed",
        "--model",
        path(&repo_root().join(PRETRAINED)),
        "--db",
        path(&db),
        "--modality",
        "dos",
        "--output",
        path(&dir.join("dos.npy")),
    ]);
    let input = data_dir().join("samples/chgcar/Fe_CHGCAR_no_spin");
    let predict = mmhost(&[
        "predict",
        "--device",
        "cuda:0",
        "--model",
        path(&repo_root().join(FORMATION)),
        "--input",
        path(&input),
        "--output",
        path(&dir.join("predictions.csv")),
    ]);
    for out in [embed, predict] {
        let message = refused(&out);
        assert!(
            message.contains("device 'cuda:0'")
                && message.contains("built without the `cuda` feature"),
            "{message}"
        );
    }
}
