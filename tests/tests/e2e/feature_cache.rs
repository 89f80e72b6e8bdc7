//! Featurization runs on worker threads once per featurizer configuration; a second
//! pass (a second epoch) reads every record back from the dataset's cache.

use mmhost::{
    dataset::Dataset,
    featurize::{cache_key, featurize_cached},
    plugins::PluginLibrary,
};
use mmhost_tests::{built_library, import_demo, scratch_dir};

#[test]
fn second_pass_does_no_featurization() {
    let dir = scratch_dir("feature-cache");
    let db = import_demo(&dir);
    let dataset = Dataset::open(&db).unwrap();
    let mut ids: Vec<String> = dataset
        .ids_with("crystal")
        .unwrap()
        .into_iter()
        .take(40)
        .collect();
    ids.push("no-such-material".into());

    let library = PluginLibrary::load(&built_library("mmhost_crystal_potnet")).unwrap();
    let config = "preset = \"small\"";
    let featurizer = library.featurizer(config).unwrap();
    let description = library.description();
    let key = cache_key(&description.name, &description.version, config);

    let (first, report) =
        featurize_cached(&dataset, &featurizer, &key, "crystal", &ids, 2).unwrap();
    assert_eq!((report.cached, report.computed), (0, 40));
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, "no-such-material");
    assert!(report.failed[0].1.contains("no crystal record"));

    let (second, report) =
        featurize_cached(&dataset, &featurizer, &key, "crystal", &ids, 2).unwrap();
    assert_eq!((report.cached, report.computed), (40, 0));
    assert_eq!(first, second);

    // Another configuration is another cache entry.
    let other = cache_key(
        &description.name,
        &description.version,
        "preset = \"reference\"",
    );
    assert_ne!(key, other);
    let (_, report) =
        featurize_cached(&dataset, &featurizer, &other, "crystal", &ids[..5], 2).unwrap();
    assert_eq!((report.cached, report.computed), (0, 5));
}
