//! Broken and hostile files beside good ones: each is refused with its file, record
//! and reason, the import exits non-zero, nothing allocates what a header claims,
//! and every good file is still imported and listed.

use std::fs;

use mmhost::inputs::{gather, RawInput};
use mmhost_tests::{
    data_dir, malformed_structure_files, mmhost, mmhost_command, mmhost_ok, path, refused,
    scratch_dir, stderr_text, stdout_json, under_memory_limit,
};
use serde_json::Value;

/// A cubic CIF of Na sites with cell length `a` (as written) at `fracs`.
fn cif(name: &str, a: &str, fracs: &[&str]) -> String {
    let mut text = format!(
        "data_{name}\n_cell_length_a {a}\n_cell_length_b 4.0\n_cell_length_c 4.0\n\
         _cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n\
         _atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n\
         _atom_site_fract_z\n"
    );
    for (k, frac) in fracs.iter().enumerate() {
        text.push_str(&format!("Na{k} Na {frac}\n"));
    }
    text
}

fn report<'a>(reports: &'a Value, name: &str) -> &'a Value {
    reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("{name} not reported: {reports}"))
}

fn failure(reports: &Value, name: &str) -> String {
    let r = report(reports, name);
    assert_eq!(r["outcome"]["status"], "failed", "{r}");
    r["outcome"]["reason"].as_str().unwrap().to_string()
}

#[test]
fn hostile_files_are_refused_with_reasons_and_the_good_ones_import() {
    let dir = scratch_dir("hostile-import");
    let sources = dir.join("sources");
    fs::create_dir_all(&sources).unwrap();
    // A real CHGCAR whose header claims a 10⁶ × 10⁶ × 10⁶ grid.
    let li = fs::read_to_string(data_dir().join("samples/chgcar/Li_CHG")).unwrap();
    let huge = li.replacen("   10   10   10", "   1000000   1000000   1000000", 1);
    assert_ne!(huge, li);
    fs::write(sources.join("Huge_CHGCAR"), huge).unwrap();
    fs::write(sources.join("good.cif"), cif("good", "4.0", &["0 0 0"])).unwrap();
    fs::write(sources.join("inf.cif"), cif("inf", "1e300", &["0 0 0"])).unwrap();
    fs::write(sources.join("nan.cif"), cif("nan", "nan", &["0 0 0"])).unwrap();
    fs::write(sources.join("negative.cif"), cif("neg", "-4.0", &["0 0 0"])).unwrap();
    let stacked = cif("stacked", "1.0", &["0 0 0", "0 0 0.001", "0 0.001 0"]);
    fs::write(sources.join("stacked.cif"), stacked).unwrap();
    // A 2 MiB comment line in an otherwise good CIF.
    let long = format!(
        "#{}\n{}",
        "x".repeat(2 << 20),
        cif("long", "4.0", &["0 0 0"])
    );
    fs::write(sources.join("long_line.cif"), long).unwrap();
    fs::write(
        sources.join("labels.csv"),
        "material_id,band_gap,description\nm-1,abc,a rock salt\nm-2,1.5,a perovskite\n",
    )
    .unwrap();
    // A DOSCAR whose header claims 10¹⁸ rows.
    fs::write(
        sources.join("Huge_DOSCAR"),
        "1\n0\n0\n0\nx\n10.0 -10.0 1e18 0.0 1.0\n-10.0 0.0 0.0\n",
    )
    .unwrap();

    // Under a 4 GiB address-space limit: what the headers claim is never allocated,
    // so the process ends normally (no allocation abort, no kill) with its report.
    let db = dir.join("hostile.redb");
    let out = under_memory_limit([
        "data",
        "import",
        "--json",
        "--db",
        path(&db),
        path(&sources),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_text(&out));
    let message = refused(&out);
    assert!(message.contains("everything else is imported"), "{message}");
    let reports = stdout_json(&out);

    let grid = failure(&reports, "Huge_CHGCAR");
    assert!(grid.contains("more points than the limit"), "{grid}");
    let inf = failure(&reports, "inf.cif");
    assert!(
        inf.contains("data block 1 (inf): lattice vector a is")
            && inf.contains("long, more than the limit of 1000 Å"),
        "{inf}"
    );
    let nan = failure(&reports, "nan.cif");
    assert!(nan.contains("_cell_length_a is NaN"), "{nan}");
    let negative = failure(&reports, "negative.cif");
    assert!(negative.contains("_cell_length_a is -4"), "{negative}");
    let stacked = failure(&reports, "stacked.cif");
    assert!(
        stacked.contains("sites 0 (Na0) and") && stacked.contains("closer than 0.5 Å"),
        "{stacked}"
    );
    let long = failure(&reports, "long_line.cif");
    assert!(
        long.contains("line 1 is 2097153 bytes long, more than the limit of 1048576"),
        "{long}"
    );
    let doscar = failure(&reports, "Huge_DOSCAR");
    assert!(doscar.contains("NEDOS is 1000000000000000000"), "{doscar}");
    let labels = report(&reports, "labels.csv");
    assert_eq!(labels["outcome"]["materials"], 2, "{labels}");
    let rejected = &labels["outcome"]["rejected"][0];
    assert_eq!(rejected["record"], "row 2 (m-1), column band_gap");
    assert!(
        rejected["reason"]
            .as_str()
            .unwrap()
            .contains("'abc' is not a number"),
        "{rejected}"
    );

    // What did import: listed with the ids the importer assigned.
    let listed = stdout_json(&mmhost_ok(&["data", "list", "--json", "--db", path(&db)]));
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["good", "m-1", "m-2"], "{listed}");
    assert_eq!(listed[2]["labels"]["band_gap"], 1.5);
    assert!(listed[1]["labels"].get("band_gap").is_none());
    let crystals = stdout_json(&mmhost_ok(&[
        "data",
        "list",
        "--json",
        "--modality",
        "crystal",
        "--db",
        path(&db),
    ]));
    assert_eq!(crystals.as_array().unwrap().len(), 1, "{crystals}");
    assert_eq!(crystals[0]["formula"], "Na");

    // The same check guards the commands that read a structure file directly.
    let stacked = sources.join("stacked.cif");
    let message = refused(
        &mmhost_command(&["describe", path(&stacked)])
            .output()
            .unwrap(),
    );
    assert!(
        message.contains("stacked.cif") && message.contains("closer than 0.5 Å"),
        "{message}"
    );
}

#[test]
fn a_folder_linked_into_itself_is_read_once() {
    // Two links back to the folder would otherwise give 2⁴⁰ paths to one file (the
    // kernel stops following at 40 links deep).
    let dir = scratch_dir("folder-loop");
    let folder = dir.join("structures");
    fs::create_dir_all(&folder).unwrap();
    fs::write(folder.join("good.cif"), cif("good", "4.0", &["0 0 0"])).unwrap();
    std::os::unix::fs::symlink(".", folder.join("again")).unwrap();
    std::os::unix::fs::symlink(".", folder.join("more")).unwrap();
    let db = dir.join("loop.redb");
    let out = mmhost_ok(&["data", "import", "--json", "--db", path(&db), path(&folder)]);
    let reports = stdout_json(&out);
    assert_eq!(reports.as_array().unwrap().len(), 1, "{reports}");
    assert_eq!(reports[0]["outcome"]["status"], "imported", "{reports}");
}

#[test]
fn a_folder_given_twice_or_inside_another_given_is_read_once() {
    let dir = scratch_dir("inputs-given-twice");
    let folder = dir.join("structures");
    fs::create_dir_all(folder.join("inner")).unwrap();
    fs::write(folder.join("a.cif"), cif("a", "4.0", &["0 0 0"])).unwrap();
    fs::write(folder.join("inner/b.cif"), cif("b", "4.2", &["0 0 0"])).unwrap();
    // a file named is read as given, even when a folder given holds it too
    let inputs = [
        folder.clone(),
        folder.join("inner"),
        folder.join("inner/.."),
        folder.join("a.cif"),
    ]
    .map(RawInput::File);
    let (found, refused) = gather(&inputs, "crystal");
    assert!(refused.is_empty(), "{refused:?}");
    let ids: Vec<&str> = found.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "a"]);
}

#[test]
fn a_vasprun_imports_its_final_structure_with_its_dos() {
    let dir = scratch_dir("vasprun-structure");
    let db = dir.join("vasprun.redb");
    let vasprun = data_dir().join("samples/dos/Fe2_vasprun.xml");
    mmhost_ok(&["data", "import", "--db", path(&db), path(&vasprun)]);
    let listed = stdout_json(&mmhost_ok(&["data", "list", "--json", "--db", path(&db)]));
    assert_eq!(listed[0]["formula"], "Fe", "{listed}");
    let modalities = listed[0]["modalities"].as_array().unwrap();
    assert!(
        modalities.contains(&Value::from("crystal")) && modalities.contains(&Value::from("dos")),
        "{listed}"
    );
}

#[test]
fn a_vasprun_with_a_broken_dos_still_imports_its_final_structure() {
    let dir = scratch_dir("vasprun-broken-dos");
    let text = fs::read_to_string(data_dir().join("samples/dos/Fe2_vasprun.xml")).unwrap();
    let broken = text.replacen("\"efermi\">      5.97876516 ", "\"efermi\">      NaN ", 1);
    assert_ne!(broken, text);
    let vasprun = dir.join("Fe2_vasprun.xml");
    fs::write(&vasprun, broken).unwrap();
    let db = dir.join("vasprun.redb");
    let out = mmhost(&[
        "data",
        "import",
        "--json",
        "--db",
        path(&db),
        path(&vasprun),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_text(&out));
    let report = &stdout_json(&out)[0]["outcome"];
    assert_eq!(report["status"], "imported", "{report}");
    let rejected = report["rejected"].to_string();
    assert!(rejected.contains("E_Fermi is NaN"), "{report}");
    let listed = stdout_json(&mmhost_ok(&["data", "list", "--json", "--db", path(&db)]));
    assert_eq!(
        listed[0]["modalities"],
        Value::from(vec!["crystal"]),
        "{listed}"
    );
    // Given as an input (`predict`, the Python package), its structure is used and
    // the DOS's refusal is reported only when DOS records are asked for.
    let input = [RawInput::File(vasprun)];
    let (found, refused) = gather(&input, "crystal");
    assert_eq!((found.len(), refused.len()), (1, 0), "{refused:?}");
    let (found, refused) = gather(&input, "dos");
    assert!(found.is_empty());
    assert!(
        refused.len() == 1 && refused[0].contains("E_Fermi is NaN"),
        "{refused:?}"
    );
}

#[test]
fn every_file_of_the_malformed_corpus_is_refused_under_a_memory_limit() {
    // tests/malformed: broken variants of every format (scripts/make-malformed-corpus.py).
    let corpus = mmhost_tests::repo_root().join("tests/malformed");
    let files = fs::read_dir(&corpus).unwrap().count();
    assert!(files >= 40, "{files} files in {}", corpus.display());
    let dir = scratch_dir("malformed-corpus");
    let db = dir.join("malformed.redb");
    let out = under_memory_limit(["data", "import", "--json", "--db", path(&db), path(&corpus)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_text(&out));
    let all = stdout_json(&out);
    let reports = all.as_array().unwrap();
    assert_eq!(reports.len(), files);
    for report in reports {
        let outcome = &report["outcome"];
        let refused = match outcome["status"].as_str().unwrap() {
            "failed" => !outcome["reason"].as_str().unwrap().is_empty(),
            // The id lists of the .npy files are read with them.
            "skipped" => report["path"].as_str().unwrap().ends_with("_ids.txt"),
            "imported" => !outcome["rejected"].as_array().unwrap().is_empty(),
            _ => false,
        };
        assert!(refused, "not refused: {report}");
    }
    // The files that take a reader's time or memory in proportion to their size,
    // each refused by its own limit before it is spent.
    for (name, reason) in [
        ("symmetry_bomb.cif", "1000 symmetry operations"),
        (
            "site_bomb.cif",
            "more than 2000 sites once the symmetry operations",
        ),
        ("tokens_bomb.cif.gz", "more than 4194304 tags and values"),
        ("Newlines_bomb_DOSCAR.gz", "more than the limit of 67108864"),
        (
            "numbers_bomb.json.gz",
            "parsed, more than the limit of 2048 MiB",
        ),
        ("rows_bomb.csv.gz", "more than 4194304 rows"),
        (
            "cell_bomb.csv.gz",
            "row 2 is longer than the limit of 268435456 bytes",
        ),
        ("Nan_efermi_DOSCAR", "E_Fermi is NaN"),
        ("empty_huge_rows.npy", "overflows"),
        ("\u{212A}.vasp", "unknown element 'Xx'"),
    ] {
        let report = report(&all, name);
        let given = report["outcome"]["reason"].as_str().unwrap_or_default();
        assert!(given.contains(reason), "{name}: {report}");
    }
    // Each structure file given straight to a command (`describe` reads structures
    // as `predict` and `embed --input` do): refused with a message, under the limit.
    for file in malformed_structure_files() {
        let out = under_memory_limit(["describe", path(&file)]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}: {}",
            file.display(),
            stderr_text(&out)
        );
        assert!(stderr_text(&out).contains("error:"), "{}", file.display());
    }
}
