//! Shared pieces of mmhost's benchmarks.
//!
//! Every benchmark that compares mmhost with PyTorch follows one pattern: draw its
//! inputs at random (seeded) from the whole dataset, time mmhost, write the same
//! inputs as `.npy` files, run the PyTorch counterpart in `benches/torch/` with the
//! same thread count, and print both figures, their peak memory and the ratio.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

pub mod torch_inputs;

use mmhost_plugin_sdk::{
    api::{Embeddings, Record, StepSettings},
    TrainerOps,
};

use npyz::WriterBuilder;
use rand::{seq::index::sample, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// An environment variable parsed as `T`, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The real data: `$MMHOST_DATA`, or `../shared/data` beside the repository.
pub fn data_dir() -> PathBuf {
    std::env::var_os("MMHOST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data"))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The plugin libraries a host benchmark loads: `target/release`, the folder above
/// the benchmark executable's `deps/`.
pub fn built_plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("bench path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/release/deps")
        .to_path_buf()
}

/// Where a benchmark writes its inputs for the PyTorch side: `target/bench-NAME`.
pub fn exchange_dir(name: &str) -> PathBuf {
    let dir = repo_root().join("target").join(format!("bench-{name}"));
    std::fs::create_dir_all(&dir).expect("benchmark exchange directory");
    dir
}

/// `count` distinct indices of `0..len` drawn at random with `seed`
/// (`MMHOST_BENCH_SEED`, default 7, when `None`).
pub fn draw(len: usize, count: usize, seed: Option<u64>) -> Vec<usize> {
    let seed = seed.unwrap_or_else(|| env_or("MMHOST_BENCH_SEED", 7));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    sample(&mut rng, len, count.min(len)).into_vec()
}

/// A fixed dL/dZ `[rows, dim]` (row-major): a sawtooth of 17 values around 0,
/// small enough for AdamW steps to stay in range.
pub fn fixed_gradient(rows: usize, dim: usize) -> Vec<f32> {
    (0..rows * dim)
        .map(|k| ((k % 17) as f32 - 8.0) * 1e-4)
        .collect()
}

/// Threads for both sides (`MMHOST_BENCH_THREADS`, default 2).
pub fn threads() -> usize {
    env_or("MMHOST_BENCH_THREADS", 2)
}

/// Writes `values` as a C-order `.npy` array of `shape`.
pub fn write_npy<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
    path: &Path,
    shape: &[u64],
    values: &[T],
) {
    let file = File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(std::io::BufWriter::new(file))
        .begin_nd()
        .expect("npy header");
    writer.extend(values.iter().copied()).expect("npy data");
    writer.finish().expect("npy finish");
}

/// Resets the process's peak resident memory (Linux `/proc/self/clear_refs`).
pub fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory since the last reset, MB.
pub fn peak_memory_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// One side's measurement: seconds per unit of work (a step, a batch of
/// queries) and peak memory over the timed part.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub seconds: f64,
    pub peak_mb: f64,
}

/// Runs `benches/torch/SCRIPT dir --threads N EXTRA…` with `threads()` threads,
/// which prints one JSON object with `seconds` and `peak_mb`.
pub fn run_torch(script: &str, dir: &Path, extra: &[&str]) -> Result<Timing, String> {
    run_torch_on(script, dir, threads(), extra)
}

/// `run_torch` with `threads` threads.
pub fn run_torch_on(
    script: &str,
    dir: &Path,
    threads: usize,
    extra: &[&str],
) -> Result<Timing, String> {
    let path = repo_root().join("benches/torch").join(script);
    let out = Command::new("python3")
        .arg(path)
        .arg(dir)
        .args(["--threads", &threads.to_string()])
        .args(extra)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("").to_string();
        return Err(format!("{script} failed: {last}"));
    }
    let result: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{script} output: {e}"))?;
    match (result["seconds"].as_f64(), result["peak_mb"].as_f64()) {
        (Some(seconds), Some(peak_mb)) => Ok(Timing { seconds, peak_mb }),
        _ => Err(format!("{script}: unexpected output {result}")),
    }
}

/// Prints mmhost's and PyTorch's figures for `items` per unit (materials per
/// step, queries per run) and the speed ratio.
pub fn report(unit: &str, items: usize, what: &str, mmhost: Timing, torch: Result<Timing, String>) {
    let line = |side: &str, t: Timing| {
        println!(
            "  {side:<8} {:8.3} s/{unit} = {:8.1} {what}/s, peak {:6.0} MB",
            t.seconds,
            items as f64 / t.seconds,
            t.peak_mb
        )
    };
    line("mmhost", mmhost);
    match torch {
        Ok(t) => {
            line("PyTorch", t);
            println!(
                "  mmhost / PyTorch speed: {:.2}×",
                t.seconds / mmhost.seconds
            );
        }
        Err(reason) => println!("  PyTorch  not run: {reason}"),
    }
}

/// The AdamW settings of every timed training step (the PyTorch counterparts use
/// the same).
pub const STEP_SETTINGS: StepSettings = StepSettings {
    learning_rate: 1e-4,
    weight_decay: 0.05,
    beta1: 0.9,
    beta2: 0.95,
    epsilon: 1e-8,
    grad_clip_norm: 0.0,
};

/// Times `steps` training steps of `trainer` on `batch` (after one untimed
/// warm-up step): forward, back-propagation of the fixed `gradient` (dL/dZ,
/// `[batch, embed_dim]`) and AdamW. Prints the mean seconds of each phase and
/// returns the whole step's mean and the peak resident memory over the timed steps.
pub fn time_training_steps(
    steps: usize,
    trainer: &mut dyn TrainerOps,
    batch: &[Record],
    gradient: &Embeddings,
) -> Timing {
    let mut phases = [0.0f64; 3];
    let mut step = |phases: &mut [f64; 3]| {
        let started = Instant::now();
        trainer.forward(batch, true).expect("forward");
        let forward = started.elapsed().as_secs_f64();
        trainer.backward(gradient).expect("backward");
        let backward = started.elapsed().as_secs_f64();
        trainer.step(&STEP_SETTINGS).expect("optimizer step");
        let whole = started.elapsed().as_secs_f64();
        phases[0] += forward;
        phases[1] += backward - forward;
        phases[2] += whole - backward;
    };
    step(&mut [0.0; 3]);
    reset_peak_memory();
    for _ in 0..steps {
        step(&mut phases);
    }
    let per_step = |s: f64| s / steps.max(1) as f64;
    println!(
        "  mmhost phases: forward {:.3} s, backward {:.3} s, optimizer {:.3} s",
        per_step(phases[0]),
        per_step(phases[1]),
        per_step(phases[2])
    );
    Timing {
        seconds: per_step(phases.iter().sum()),
        peak_mb: peak_memory_mb(),
    }
}
