//! `.npy` arrays through the importer, with a one-id list written beside them.
fn main() {
    let dir = std::env::temp_dir().join(format!("mmhost-fuzz-npy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    std::fs::write(dir.join("fuzz_ids.txt"), "mp-1\n").expect("id list");
    let name = dir.join("fuzz.npy").display().to_string();
    afl::fuzz!(|data: &[u8]| {
        mmhost_fuzz::import_as(&name, data);
    });
}
