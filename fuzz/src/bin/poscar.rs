//! POSCAR/CONTCAR: `read_poscar`, then the structure checks.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            if let Ok((structure, _)) = mmhost_materials::read_poscar(text) {
                mmhost_fuzz::exercise(&structure);
            }
        }
    });
}
