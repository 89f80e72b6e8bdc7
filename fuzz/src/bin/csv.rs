//! CSV (cif, description and label columns) through the importer.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        mmhost_fuzz::import_as("fuzz.csv", data);
    });
}
