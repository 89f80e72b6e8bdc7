//! CHGCAR/AECCAR/CHG: `read_chgcar`, the structure checks and the 32³ resampling.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            if let Ok(volumetric) = mmhost_materials::read_chgcar(text) {
                mmhost_fuzz::exercise(&volumetric.structure);
                let _ = mmhost_materials::records::charge_record(&volumetric);
            }
        }
    });
}
