//! `mmhost data import | info | show` on all of ../shared/data: counts, joins by
//! material id, idempotence, an import killed midway and rerun, and bad input
//! reported per file and record while everything else imports.

use std::{
    fs,
    path::Path,
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use mmhost_tests::{
    data_dir, mmhost, mmhost_command, mmhost_ok, path, refused, repo_root, scratch_dir,
    stderr_text, stdout_json,
};
use serde_json::Value;

/// `mmhost ARGS --json`, which must succeed: its JSON output.
fn mmhost_json(args: &[&str]) -> Value {
    stdout_json(&mmhost_ok(args))
}

/// `data import --json` of `sources` into `db`: the per-file reports and the exit
/// message, whatever the exit status (non-zero when a file failed or a record was
/// rejected).
fn import_reporting(db: &Path, sources: &[&Path]) -> (Value, String) {
    let mut args = vec!["data", "import", "--json", "--db", db.to_str().unwrap()];
    args.extend(sources.iter().map(|s| s.to_str().unwrap()));
    let out = mmhost(&args);
    (stdout_json(&out), stderr_text(&out))
}

fn import(db: &Path, sources: &[&Path]) -> Value {
    import_reporting(db, sources).0
}

fn info(db: &Path) -> Value {
    mmhost_json(&["data", "info", "--json", "--db", db.to_str().unwrap()])
}

#[test]
fn imports_all_real_data_joined_by_material_id_and_idempotently() {
    let dir = scratch_dir("data-import-all");
    let db = dir.join("all.redb");
    let data = data_dir();
    let (_, message) = import_reporting(&db, &[&data]);
    // The atom-feature table is no dataset file; 37 charge grids are all zero, and
    // one DOS (mp-696961) repeats its first energy.
    assert!(
        message.contains("1 files failed and 38 records were rejected"),
        "{message}"
    );
    let summary = info(&db);
    let modality = |m: &str| summary["modalities"][m].as_u64().unwrap_or(0);
    // 11,618 CSV structures plus the structures inside the sample files.
    assert!(modality("crystal") >= 11_618, "{summary}");
    assert_eq!(modality("dos"), 311 + 5, "{summary}"); // dos.npy + vasprun, DOSCAR, 3 pymatgen DOS
                                                       // charge_density.npy (its 37 all-zero grids rejected) + 4 CHGCAR-family files.
    assert_eq!(modality("charge"), 408 - 37 + 4, "{summary}");
    assert_eq!(modality("text"), 100, "{summary}");
    assert!(
        summary["labels"]["formation_energy_per_atom"]
            .as_u64()
            .unwrap()
            >= 11_000
    );
    assert_eq!(summary["labels"]["bulk_modulus_gpa"], 100);

    // A material present in the CSV, dos.npy and charge_density.npy is one material.
    let shown = mmhost_json(&[
        "data",
        "show",
        "--json",
        "--db",
        db.to_str().unwrap(),
        "mp-10009",
    ]);
    let modalities: Vec<&str> = shown["modalities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(modalities, ["charge", "crystal", "dos"]);
    assert_eq!(shown["material"]["formula"], "GaTe");
    assert_eq!(shown["material"]["space_group"], 194);
    assert_eq!(shown["material"]["labels"]["spacegroup_number"], 194.0);

    // Importing again changes nothing.
    let again = import(&db, &[&data]);
    for report in again.as_array().unwrap() {
        let status = report["outcome"]["status"].as_str().unwrap();
        assert!(
            ["unchanged", "skipped", "failed"].contains(&status),
            "{report}"
        );
    }
    assert_eq!(info(&db), summary);

    // An import killed midway and rerun ends in the same dataset.
    let killed = dir.join("killed.redb");
    let mut child = mmhost_command(&["data", "import", "--db", path(&killed), path(&data)])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !killed.exists() && started.elapsed() < Duration::from_secs(30) {
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = info(&killed);
    assert!(
        partial["sources"].as_u64() < summary["sources"].as_u64(),
        "killed too late: {partial}"
    );
    import(&killed, &[&data]);
    assert_eq!(info(&killed), summary);
}

#[test]
fn bad_files_and_records_are_reported_and_the_rest_imports() {
    let dir = scratch_dir("data-import-bad");
    let sources = dir.join("sources");
    fs::create_dir_all(&sources).unwrap();
    // A CSV with one good structure (a real one) and one broken CIF.
    let li = fs::read_to_string(data_dir().join("samples/chgcar/Li_CHG")).unwrap();
    let good_cif = "data_Li\n_cell_length_a 3.0\n_cell_length_b 3.0\n_cell_length_c 3.0\n\
        _cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_label\n\
        _atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nLi1 0 0 0\nLi2 0.5 0.5 0.5\n";
    let csv = format!(
        "material_id,band_gap,cif\ngood-1,0.5,\"{good_cif}\"\nbroken-2,1.0,\"data_x\n_cell_length_a 3\n\"\n"
    );
    fs::write(sources.join("structures.csv"), csv).unwrap();
    // A CHGCAR cut short.
    let truncated: Vec<&str> = li.lines().take(40).collect();
    fs::write(sources.join("Li_CHGCAR"), truncated.join("\n")).unwrap();
    // Text that is not a CIF.
    fs::write(sources.join("garbage.cif"), "this is not a CIF").unwrap();

    let db = dir.join("bad.redb");
    let out = mmhost_command(&[
        "data",
        "import",
        "--json",
        "--db",
        path(&db),
        path(&sources),
    ])
    .output()
    .unwrap();
    // Everything good is imported, but the command says that not everything was.
    let message = refused(&out);
    assert!(
        message.contains("2 files failed and 1 records were rejected"),
        "{message}"
    );
    let reports = stdout_json(&out);
    let by_name = |name: &str| {
        reports
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} not reported: {reports}"))
            .clone()
    };
    let csv = by_name("structures.csv");
    assert_eq!(csv["outcome"]["status"], "imported", "{csv}");
    assert_eq!(csv["outcome"]["materials"], 1);
    let rejected = &csv["outcome"]["rejected"][0];
    assert_eq!(rejected["record"], "row 3 (broken-2)");
    assert!(
        rejected["reason"]
            .as_str()
            .unwrap()
            .contains("missing _cell_length_b"),
        "{rejected}"
    );
    let chgcar = by_name("Li_CHGCAR");
    assert_eq!(chgcar["outcome"]["status"], "failed");
    assert!(
        chgcar["outcome"]["reason"]
            .as_str()
            .unwrap()
            .contains("grid ends after"),
        "{chgcar}"
    );
    let garbage = by_name("garbage.cif");
    assert_eq!(garbage["outcome"]["status"], "failed");

    let summary = info(&db);
    assert_eq!(summary["materials"], 1, "{summary}");
    assert_eq!(summary["modalities"]["crystal"], 1);
    let shown = mmhost_json(&[
        "data",
        "show",
        "--json",
        "--db",
        db.to_str().unwrap(),
        "good-1",
    ]);
    assert_eq!(shown["material"]["labels"]["band_gap"], 0.5);
    assert_eq!(shown["material"]["formula"], "Li");
}

#[test]
fn bundled_demo_dataset_imports_and_stays_small() {
    let demo = repo_root().join("demo");
    let size: u64 = fs::read_dir(&demo)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(size <= 20 * 1024 * 1024, "demo/ is {size} bytes");
    let db = scratch_dir("data-import-demo").join("demo.redb");
    import(&db, &[&demo]);
    let summary = info(&db);
    assert_eq!(summary["materials"], 407, "{summary}");
    assert_eq!(summary["modalities"]["crystal"], 407);
    assert_eq!(summary["modalities"]["dos"], 91);
    assert_eq!(summary["modalities"]["charge"], 105);
    assert_eq!(summary["labels"]["formation_energy_per_atom"], 407);

    // Materials without a description get a generated one; a second run adds none.
    for expected in ["407 descriptions generated", "0 descriptions generated"] {
        let out = mmhost_ok(&["data", "describe", "--db", path(&db)]);
        assert!(stderr_text(&out).contains(expected));
    }
    assert_eq!(info(&db)["modalities"]["text"], 407);
    let dataset = mmhost::dataset::Dataset::open(&db).unwrap();
    let text = dataset.record("text", "mp-10009").unwrap().unwrap();
    let text = String::from_utf8(text.require("text").unwrap().bytes.to_vec()).unwrap();
    assert!(
        text.starts_with("GaTe (Ga4Te4) crystallizes in the hexagonal P6_3/mmc space group"),
        "{text}"
    );
    drop(dataset);

    // A reader that closes the pipe early (`mmhost data list | head`) ends the
    // listing quietly, without a panic: the pipe is closed before mmhost writes.
    let mut child = mmhost_command(&["data", "list", "--db", path(&db)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = stderr_text(&out);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
