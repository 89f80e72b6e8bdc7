//! Configuration layering (file < `MMHOST__…` environment < flags) through the CLI,
//! and the shipped configs are accepted by the plugins they name.

use std::ffi::OsStr;

use mmhost::{plugins::PluginSearch, settings};
use mmhost_tests::{
    artifact_dir, mmhost_command, mmhost_ok, path, repo_root, scratch_dir, stderr_text, stdout_json,
};
use serde_json::Value;

fn show(config: &std::path::Path, env: &[(&str, &str)], flags: &[&str]) -> std::process::Output {
    let mut command = mmhost_command(&[OsStr::new("--config"), config.as_os_str()]);
    command.args(flags).args(["config", "show", "--json"]);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("mmhost runs")
}

#[test]
fn file_then_environment_then_flags() {
    let dir = scratch_dir("config-layering");
    let file = dir.join("run.toml");
    std::fs::write(
        &file,
        "seed = 1\n[encoders.dos]\nplugin = \"dos\"\nconfig = { preset = \"small\", depth = 2 }\n",
    )
    .unwrap();
    let parse = |out: std::process::Output| -> Value {
        assert!(out.status.success(), "{}", stderr_text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };

    let v = parse(show(&file, &[], &[]));
    assert_eq!(
        (v["seed"].as_u64(), v["device"].as_str()),
        (Some(1), Some("cpu"))
    );
    assert_eq!(v["encoders"]["dos"]["config"]["depth"], 2);
    assert_eq!(v["loss"]["plugin"], "clip");

    let env = [
        ("MMHOST__SEED", "5"),
        ("MMHOST__ENCODERS__DOS__CONFIG__DEPTH", "3"),
    ];
    let v = parse(show(&file, &env, &[]));
    assert_eq!(v["seed"], 5);
    assert_eq!(v["encoders"]["dos"]["config"]["depth"], 3);
    assert_eq!(v["encoders"]["dos"]["config"]["preset"], "small");

    let flags = ["--set", "encoders.dos.config.depth=4", "--device", "cuda:1"];
    let v = parse(show(&file, &env, &flags));
    assert_eq!(v["encoders"]["dos"]["config"]["depth"], 4);
    assert_eq!(v["device"], "cuda:1");

    let out = show(&dir.join("missing.toml"), &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_text(&out).contains("missing.toml does not exist"));
}

#[test]
fn shipped_configs_are_accepted_by_their_plugins() {
    let search = PluginSearch::only(vec![artifact_dir()]);
    for name in ["default.toml", "demo.toml"] {
        let path = repo_root().join("configs").join(name);
        let settings = settings::load(Some(&path), &[]).unwrap();
        assert!(!settings.encoders.is_empty(), "{name}");
        for (modality, encoder) in &settings.encoders {
            let plugin = search.find(&encoder.plugin).unwrap();
            assert_eq!(&plugin.description().modality, modality, "{name}");
            let config = settings.plugin_config(&encoder.config);
            plugin
                .featurizer(&config)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            plugin
                .encoder(&config)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let loss = search.find(&settings.loss.plugin).unwrap();
        loss.loss(&settings.plugin_config(&settings.loss.config))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn one_config_line_swaps_the_crystal_encoder_in_the_same_host() {
    let dir = scratch_dir("encoder-swap");
    let demo = std::fs::read_to_string(repo_root().join("configs/demo.toml")).unwrap();
    assert!(demo.contains("plugin = \"crystal-potnet\""));
    let mut seen = Vec::new();
    for plugin in ["crystal-potnet", "crystal-cgcnn"] {
        let file = dir.join(format!("{plugin}.toml"));
        std::fs::write(
            &file,
            demo.replace(
                "plugin = \"crystal-potnet\"",
                &format!("plugin = \"{plugin}\""),
            ),
        )
        .unwrap();
        let out = mmhost_ok(&["--config", path(&file), "config", "check", "--json"]);
        let checked = stdout_json(&out);
        let crystal = checked
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["role"] == "encoder:crystal")
            .unwrap()
            .clone();
        assert_eq!(crystal["plugin"], plugin);
        assert_eq!(crystal["embed_dim"], 128);
        seen.push(crystal["path"].as_str().unwrap().to_string());
    }
    assert_ne!(seen[0], seen[1], "two different libraries behind one host");
}
