//! CIF: `read_cif`, then the structure checks.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            for structure in mmhost_materials::cif::read_cif(text).unwrap_or_default() {
                mmhost_fuzz::exercise(&structure);
            }
        }
    });
}
