//! Loading plugin libraries: the CLI's listing, refusal of non-plugins and of
//! plugins built against another ABI version, without the host crashing.

use std::{fs, path::Path, process::Command};

use mmhost::plugins::{LoadError, PluginLibrary};
use mmhost_plugin_api::ABI_VERSION;
use mmhost_tests::{
    artifact_dir, built_library, mmhost_command, repo_root, scratch_dir, stderr_text,
};

/// `mmhost ARGS` with only the built plugins (none from the environment).
fn mmhost_isolated(args: &[&str]) -> std::process::Output {
    mmhost_command(args)
        .env_remove("MMHOST_PLUGIN_PATH")
        .env("RUST_LOG", "error")
        .output()
        .expect("run mmhost")
}

#[test]
fn cli_lists_and_inspects_the_built_plugins() {
    let out = mmhost_isolated(&["plugins", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr_text(&out));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let find = |name: &str| {
        listed
            .as_array()
            .expect("a list")
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {listed}"))
            .clone()
    };
    let dos = find("dos");
    assert_eq!(dos["kind"], "encoder");
    assert_eq!(dos["modality"], "dos");
    assert_eq!(dos["embed_dim"], 128);
    assert_eq!(dos["abi_version"], ABI_VERSION);
    assert!(dos["path"]
        .as_str()
        .unwrap()
        .ends_with(&format!("mmhost_dos.{}", std::env::consts::DLL_EXTENSION)));
    assert_eq!(find("clip")["kind"], "loss");
    assert_eq!(find("faulty")["kind"], "encoder");

    let out = mmhost_isolated(&["plugins", "inspect", "dos"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr_text(&out));
    for expected in [
        "head_dim = 64",
        "depth = 4",
        "device = \"cpu\"",
        "reference, small",
    ] {
        assert!(
            text.contains(expected),
            "'{expected}' missing from:\n{text}"
        );
    }

    let out = mmhost_isolated(&["plugins", "inspect", "no-such-plugin"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_text(&out);
    assert!(err.contains("no plugin named 'no-such-plugin'"), "{err}");
}

#[test]
fn a_library_that_is_not_a_plugin_is_refused_by_name() {
    let path = built_library("not_a_plugin");
    let err = PluginLibrary::load(&path).err().expect("refused");
    assert!(matches!(err, LoadError::NotAPlugin { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(err.to_string().contains("not an mmhost plugin"), "{err}");

    let junk_dir = scratch_dir("junk-plugin");
    let junk = junk_dir.join(format!("junk.{}", std::env::consts::DLL_EXTENSION));
    fs::write(&junk, "this is text, not a shared library").unwrap();
    let err = PluginLibrary::load(&junk).err().expect("refused");
    assert!(matches!(err, LoadError::Open { .. }), "{err}");
    assert!(
        err.to_string().contains(&junk.display().to_string()),
        "{err}"
    );

    // Through the CLI: a clean error and exit code 1, not a crash.
    let out = mmhost_isolated(&["plugins", "inspect", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_text(&out).contains("not an mmhost plugin"));
}

/// Copies `from` (a directory of source files) to `to`, skipping `target`.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "target" {
                copy_tree(&entry.path(), &dest);
            }
        } else {
            fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Builds `tests/fixtures/foreign-abi-plugin` against a copy of plugin-api whose
/// version is `abi` and whose `src/module.rs` has each `(from, to)` of `edits`
/// applied, in a scratch directory named by `tag`; returns the library's path.
/// The copy's `Loss` trait ends at `compute`, as in the first release, before
/// `pairs` was appended: the fixture is a plugin built then.
fn build_plugin_against_abi(tag: &str, abi: &str, edits: &[(&str, &str)]) -> std::path::PathBuf {
    let scratch = artifact_dir().join(format!("abi-{tag}-fixture"));
    let api = scratch.join("plugin-api");
    copy_tree(&repo_root().join("plugin-api/src"), &api.join("src"));
    let module = api.join("src/module.rs");
    let mut source = fs::read_to_string(&module).unwrap();
    for (from, to) in edits {
        assert!(
            source.contains(from),
            "plugin-api/src/module.rs has no `{from}`"
        );
        source = source.replace(from, to);
    }
    fs::write(&module, source).unwrap();
    let objects = api.join("src/objects.rs");
    let mut source = fs::read_to_string(&objects).unwrap();
    let appended = source
        .find("    /// Which of `modalities` (a run's, in run order) the loss compares")
        .expect("objects.rs declares Loss::pairs");
    let end = "\n    }\n}\n";
    let length = source[appended..].find(end).expect("end of Loss::pairs") + end.len();
    source.replace_range(appended..appended + length, "}\n");
    fs::write(&objects, source).unwrap();
    let manifest = format!(
        "[package]\nname = \"mmhost-plugin-api\"\nversion = \"{abi}\"\nedition = \"2021\"\n\n\
         [dependencies]\nabi_stable = {{ version = \"0.11.3\", default-features = false }}\n"
    );
    fs::write(api.join("Cargo.toml"), manifest).unwrap();
    let plugin = scratch.join("plugin");
    copy_tree(
        &repo_root().join("tests/fixtures/foreign-abi-plugin"),
        &plugin,
    );
    fs::copy(repo_root().join("Cargo.lock"), plugin.join("Cargo.lock")).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .args(["build", "--offline", "--quiet", "--manifest-path"])
        .arg(plugin.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", scratch.join("target"))
        .env_remove("RUSTFLAGS")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the foreign-ABI fixture failed");
    scratch.join("target/debug").join(format!(
        "{}foreign_abi_plugin.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    ))
}

#[test]
fn a_plugin_built_against_another_abi_version_is_refused_naming_both() {
    let path = build_plugin_against_abi("version", "0.2.0", &[]);
    let err = PluginLibrary::load(&path).err().expect("refused");
    let message = err.to_string();
    assert!(matches!(err, LoadError::AbiMismatch { .. }), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("ABI 0.2.0"), "{message}");
    assert!(message.contains(&format!("ABI {ABI_VERSION}")), "{message}");

    // The host keeps working: the real plugins still load after the refusal.
    let dos = PluginLibrary::load(&built_library("mmhost_dos")).expect("dos loads");
    assert_eq!(dos.description().name, "dos");
}

#[test]
fn a_plugin_whose_types_differ_under_the_same_abi_version_is_refused_by_the_layout_check() {
    // The same ABI version, but `PluginInfo::embed_dim` narrowed from u64 to u32:
    // only abi_stable's type-layout check can tell.
    let path = build_plugin_against_abi(
        "layout",
        ABI_VERSION,
        &[("pub embed_dim: u64,", "pub embed_dim: u32,")],
    );
    let err = PluginLibrary::load(&path).err().expect("refused");
    let message = err.to_string();
    assert!(matches!(err, LoadError::Incompatible { .. }), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains("type layouts differ at info.__returns.embed_dim: mismatched type Expected: u64 Found: u32"),
        "{message}"
    );
}

#[test]
fn a_plugin_built_before_a_method_was_appended_still_loads() {
    // The same ABI version without `Loss::pairs`: abi_stable's check reports its
    // vtable one method short; the host accepts exactly that, and answers the
    // missing method with the ABI's default, every pair and no anchor.
    let path = build_plugin_against_abi("first-release", ABI_VERSION, &[]);
    let library = PluginLibrary::load(&path).expect("an older plugin loads");
    assert_eq!(library.description().name, "foreign");
    let loss = library.loss("").unwrap();
    let modalities = ["crystal", "dos", "text"].map(String::from);
    let stated = loss.pairs(&modalities).unwrap();
    assert_eq!(stated.pairs, [(0, 1), (0, 2), (1, 2)]);
    assert_eq!(stated.anchor, None);
}
