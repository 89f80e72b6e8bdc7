//! Helpers shared by the end-to-end tests: where the built artifacts and the real
//! data are, and readers for the data the tests use.
//!
//! The tests use the plugin libraries built by `cargo build --workspace` (the
//! README's test command runs it first).

use std::{
    ffi::OsStr,
    fmt::Debug,
    fs::File,
    io::BufReader,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use mmhost_plugin_api::{Array, Record, StepSettings};
use serde_json::Value;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The real data: `$MMHOST_DATA`, or `../shared/data` beside the repository.
pub fn data_dir() -> PathBuf {
    std::env::var_os("MMHOST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data"))
}

/// The cargo output directory of this build profile (`target/debug`).
pub fn artifact_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test binary>
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// Path of the built shared library of crate `lib_name` (e.g. `mmhost_dos`).
pub fn built_library(lib_name: &str) -> PathBuf {
    let file = format!(
        "{}{lib_name}.{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_EXTENSION
    );
    let path = artifact_dir().join(file);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace` before the tests",
        path.display()
    );
    path
}

/// Path of the built `mmhost` binary.
pub fn mmhost_binary() -> PathBuf {
    let path = artifact_dir().join(format!("mmhost{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace` before the tests",
        path.display()
    );
    path
}

/// The first `count` rows of `multimat/dos.npy` as raw DOS records (`dos`: `(2, 601)`).
pub fn real_dos_records(count: usize) -> Vec<Record> {
    let path = data_dir().join("multimat/dos.npy");
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(BufReader::new(file))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    assert_eq!(&shape[1..], &[2, 601], "{}", path.display());
    let values: Vec<f32> = npy
        .into_vec()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    values
        .chunks_exact(2 * 601)
        .take(count)
        .map(|row| Record::single("dos", Array::from_f32(&[2, 601], row)))
        .collect()
}

/// The first `count` rows of `mp/structures.csv.gz` that have a formation energy:
/// material id, structure and formation energy (eV/atom).
pub fn real_structures_with_formation_energy(
    count: usize,
) -> Vec<(String, mmhost_materials::Structure, f64)> {
    let path = data_dir().join("mp/structures.csv.gz");
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = csv::Reader::from_reader(flate2::read::GzDecoder::new(file));
    let headers = reader.headers().expect("header").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let (id, energy, cif) = (
        col("material_id"),
        col("formation_energy_per_atom"),
        col("cif"),
    );
    reader
        .records()
        .map(|r| r.expect("CSV row"))
        .filter_map(|r| {
            let e: f64 = r[energy].parse().ok()?;
            let s = mmhost_materials::cif::read_cif(&r[cif])
                .ok()?
                .swap_remove(0);
            Some((r[id].to_string(), s, e))
        })
        .take(count)
        .collect()
}

/// The rows of `multimat/charge_density.npy` whose ids are in `wanted` (all rows
/// when `wanted` is empty), as raw charge records (`charge`: `(32, 32, 32)`).
pub fn real_charge_records(wanted: &[String]) -> Vec<(String, Record)> {
    let dir = data_dir().join("multimat");
    let ids: Vec<String> = std::fs::read_to_string(dir.join("charge_density_ids.txt"))
        .expect("charge ids")
        .lines()
        .map(str::to_string)
        .collect();
    let file = File::open(dir.join("charge_density.npy")).expect("charge_density.npy");
    let values: Vec<f32> = npyz::NpyFile::new(BufReader::new(file))
        .expect("npy header")
        .into_vec()
        .expect("float32 grids");
    ids.into_iter()
        .zip(values.chunks_exact(32 * 32 * 32))
        .filter(|(id, _)| wanted.is_empty() || wanted.contains(id))
        .map(|(id, grid)| {
            (
                id,
                Record::single("charge", Array::from_f32(&[32, 32, 32], grid)),
            )
        })
        .collect()
}

/// An empty scratch directory for one test, under the build's artifact directory.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = artifact_dir().join("test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// The bundled demo dataset (`demo/`) imported into `dir/demo.redb` by the binary.
pub fn import_demo(dir: &Path) -> PathBuf {
    let db = dir.join("demo.redb");
    let demo = repo_root().join("demo");
    mmhost_ok(&["data", "import", "--db", path(&db), path(&demo)]);
    db
}

/// A `mmhost ARGS` command of the built binary, to add environment or a directory.
pub fn mmhost_command<S: AsRef<OsStr>>(args: &[S]) -> Command {
    let mut command = Command::new(mmhost_binary());
    command.args(args);
    command
}

/// `mmhost ARGS` run to completion, whatever its exit status.
pub fn mmhost<S: AsRef<OsStr>>(args: &[S]) -> Output {
    mmhost_command(args).output().expect("run mmhost")
}

/// `mmhost ARGS`, which must succeed.
pub fn mmhost_ok<S: AsRef<OsStr> + Debug>(args: &[S]) -> Output {
    succeeded(args, mmhost(args))
}

/// `out` of `mmhost ARGS`, which must have succeeded: otherwise a panic showing the
/// arguments and stderr.
pub fn succeeded<S: Debug>(args: &[S], out: Output) -> Output {
    assert!(
        out.status.success(),
        "mmhost {args:?} failed:\n{}",
        stderr_text(&out)
    );
    out
}

/// The stderr of a command that must have failed.
pub fn refused(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected a refusal, but it succeeded:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr_text(out)
}

/// What a command wrote on stderr.
pub fn stderr_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A command's stdout, parsed as one JSON document.
pub fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Every line of a JSON-lines file (`metrics.jsonl`).
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

/// A path as a command-line argument.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `mmhost ARGS` under a 4 GiB address-space limit (`ulimit -v`), run to completion.
pub fn under_memory_limit<const N: usize>(args: [&str; N]) -> Output {
    Command::new("sh")
        .args(["-c", "ulimit -v 4194304 && exec \"$0\" \"$@\""])
        .arg(mmhost_binary())
        .args(args)
        .output()
        .unwrap()
}

/// The structure files of the malformed-input corpus `tests/malformed` (CIF, POSCAR,
/// JSON, CHGCAR-family).
pub fn malformed_structure_files() -> Vec<PathBuf> {
    let corpus = repo_root().join("tests/malformed");
    std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("{}: {e}", corpus.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            [".cif", ".vasp", ".json"].iter().any(|e| name.ends_with(e)) || name.contains("CHGCAR")
        })
        .collect()
}

/// AdamW as pretraining configures it (β = 0.9, 0.95; weight decay 0.05; gradient
/// norm clipped at 1) at learning rate 1e-3.
pub fn pretraining_step_settings() -> StepSettings {
    StepSettings {
        learning_rate: 1e-3,
        weight_decay: 0.05,
        beta1: 0.9,
        beta2: 0.95,
        epsilon: 1e-8,
        grad_clip_norm: 1.0,
    }
}
