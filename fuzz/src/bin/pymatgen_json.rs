//! pymatgen / Materials Project JSON through the importer (structures, DOS, MP
//! documents, JSON Lines), then the structure checks on a bare `Structure` dict.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        mmhost_fuzz::import_as("fuzz.json", data);
        mmhost_fuzz::import_as("fuzz.jsonl", data);
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
            if let Ok(structure) = mmhost_materials::structure_from_pymatgen(&value) {
                mmhost_fuzz::exercise(&structure);
            }
        }
    });
}
