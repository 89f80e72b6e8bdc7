//! DOSCAR: `read_doscar` and the DOS record.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            if let Ok(dos) = mmhost_materials::read_doscar(text) {
                let _ = mmhost_materials::records::dos_record(&dos);
            }
        }
    });
}
