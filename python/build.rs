//! Records where this build's artifacts go (`<target>/<profile>`), where `cargo
//! build` of the same profile puts the plugin libraries: the package searches it
//! after `MMHOST_PLUGIN_PATH` and the configured directories, as the `mmhost`
//! binary searches its own directory.

fn main() {
    let out = std::env::var("OUT_DIR").unwrap_or_default();
    // OUT_DIR = <target>/<profile>/build/<package>-<hash>/out
    let profile_dir = std::path::Path::new(&out)
        .ancestors()
        .nth(3)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    println!("cargo:rustc-env=MMHOST_BUILD_PROFILE_DIR={profile_dir}");
    println!("cargo:rerun-if-changed=build.rs");
}
