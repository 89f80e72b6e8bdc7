//! vasprun.xml: the DOS and the final structure.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = mmhost_materials::read_vasprun_dos(text);
            if let Ok(structure) = mmhost_materials::read_vasprun_structure(text) {
                mmhost_fuzz::exercise(&structure);
            }
        }
    });
}
