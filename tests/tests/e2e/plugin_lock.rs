//! Plugin pinning and permission checks: `mmhost plugins lock` pins the libraries
//! in use by SHA-256; a changed or unpinned library is refused, and so is a
//! world-writable library or directory.

use std::{fs, os::unix::fs::PermissionsExt, path::Path, process::Output};

use mmhost_tests::{built_library, mmhost_command, refused, scratch_dir, stderr_text};

fn mmhost(dir: &Path, args: &[&str]) -> Output {
    mmhost_command(args)
        .current_dir(dir)
        .env_remove("MMHOST_PLUGIN_PATH")
        .output()
        .expect("run mmhost")
}

#[test]
fn locked_plugins_load_and_changed_or_unpinned_ones_are_refused() {
    let dir = scratch_dir("plugin-lock");
    let plugins = dir.join("plugins");
    fs::create_dir_all(&plugins).unwrap();
    for lib in ["mmhost_dos", "mmhost_clip"] {
        let source = built_library(lib);
        let copy = plugins.join(source.file_name().unwrap());
        fs::copy(&source, &copy).unwrap();
        fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::set_permissions(&plugins, fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.join("run.toml");
    fs::write(
        &config,
        format!(
            "[plugins]\ndir = [\"{}\"]\n[encoders.dos]\nplugin = \"dos\"\nconfig = {{ preset = \"small\" }}\n",
            plugins.display()
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();

    let out = mmhost(&dir, &["plugins", "lock", "--config", cfg]);
    assert!(out.status.success(), "{}", stderr_text(&out));
    let lock = fs::read_to_string(dir.join("mmhost.lock")).unwrap();
    assert_eq!(lock.matches("[[plugin]]").count(), 2, "{lock}");
    assert!(lock.contains("name = \"dos\"") && lock.contains("name = \"clip\""));
    let ok = mmhost(&dir, &["config", "check", "--config", cfg]);
    assert!(ok.status.success(), "{}", stderr_text(&ok));

    // A changed library is refused, naming both digests.
    let dos = plugins.join(built_library("mmhost_dos").file_name().unwrap());
    let original = fs::read(&dos).unwrap();
    let mut changed = original.clone();
    changed.push(0);
    fs::write(&dos, &changed).unwrap();
    let out = mmhost(&dir, &["config", "check", "--config", cfg]);
    let message = refused(&out);
    assert!(
        message.contains("has changed since it was locked"),
        "{message}"
    );
    assert!(message.contains("mmhost.lock records"), "{message}");
    let digest = |bytes: &[u8]| {
        use sha2::Digest;
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert!(message.contains("plugin 'dos'"), "{message}");
    assert!(message.contains(&dos.display().to_string()), "{message}");
    assert!(message.contains(&digest(&changed)), "{message}");
    assert!(message.contains(&digest(&original)), "{message}");
    fs::write(&dos, &original).unwrap();

    // A plugin the lock does not pin is refused before it is opened.
    let out = mmhost(
        &dir,
        &[
            "config",
            "check",
            "--config",
            cfg,
            "--set",
            "encoders.crystal.plugin=crystal-cgcnn",
        ],
    );
    assert!(
        refused(&out).contains("'crystal-cgcnn' is not in the lock file"),
        "{}",
        stderr_text(&out)
    );
    // A pinned library found by name outside the configured plugin directories is
    // refused: here the configuration now searches another (empty) directory.
    let elsewhere = dir.join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o755)).unwrap();
    let moved = dir.join("moved.toml");
    fs::write(
        &moved,
        fs::read_to_string(&config).unwrap().replace(
            &plugins.display().to_string(),
            &elsewhere.display().to_string(),
        ),
    )
    .unwrap();
    let out = mmhost(
        &dir,
        &["config", "check", "--config", moved.to_str().unwrap()],
    );
    assert!(
        refused(&out).contains("outside the plugin directories"),
        "{}",
        stderr_text(&out)
    );
    // `plugins list` shows the pinned libraries only.
    let out = mmhost(&dir, &["plugins", "list", "--json", "--config", cfg]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // Without a lock: a world-writable directory or library is refused (named by
    // path here, so that the copy beside the executable does not stand in).
    fs::remove_file(dir.join("mmhost.lock")).unwrap();
    let by_path = format!("encoders.dos.plugin=\"{}\"", dos.display());
    let check = ["config", "check", "--config", cfg, "--set", &by_path];
    assert!(mmhost(&dir, &check).status.success());
    fs::set_permissions(&plugins, fs::Permissions::from_mode(0o777)).unwrap();
    let out = mmhost(&dir, &check);
    fs::set_permissions(&plugins, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        refused(&out).contains("world-writable"),
        "{}",
        stderr_text(&out)
    );
    fs::set_permissions(&dos, fs::Permissions::from_mode(0o757)).unwrap();
    let out = mmhost(&dir, &check);
    assert!(
        refused(&out).contains("is world-writable"),
        "{}",
        stderr_text(&out)
    );
}
