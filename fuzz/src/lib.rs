//! What every harness does with a parsed structure: the checks and the neighbour
//! search the featurizers run next, so that the fuzzer reaches them too.

use mmhost_materials::{all_neighbors, validate_structure, Structure};

/// Validates `structure` and, when it passes, runs a PotNet-sized neighbour search.
pub fn exercise(structure: &Structure) {
    if validate_structure(structure).is_ok() {
        let _ = all_neighbors(structure, 4.0);
    }
}

/// Feeds `bytes` to the host's importer as the content of a file named `name`.
pub fn import_as(name: &str, bytes: &[u8]) {
    let _ = mmhost::import::read_bytes(std::path::Path::new(name), bytes);
}
