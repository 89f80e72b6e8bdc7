//! Exact top-k retrieval over a large collection: 1,000,000 synthetic 128-d target
//! embeddings (`MMHOST_BENCH_TARGETS`), 1,000 queries (`MMHOST_BENCH_QUERIES`),
//! k = 10, chunked over targets, queries on all cores. Reports queries/s and the
//! memory beyond the inputs, then runs `benches/torch/retrieval.py` (normalization,
//! chunked matrix product and `torch.topk`) on the same embeddings with the same
//! thread count, and prints both with the ratio. Run through `benches/retrieval.sh`.

use std::time::Instant;

use mmhost::downstream::retrieval::top_k;
use mmhost_bench_support::{
    exchange_dir, peak_memory_mb, report, reset_peak_memory, run_torch, threads, write_npy, Timing,
};

const DIM: usize = 128;
const K: usize = 10;

fn main() {
    let count = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (targets, queries) = (
        count("MMHOST_BENCH_TARGETS", 1_000_000),
        count("MMHOST_BENCH_QUERIES", 1_000),
    );
    // Gaussian-like rows from a fixed linear congruential stream (sum of 4 uniforms).
    let mut state = 42u64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let mut gaussian = move || (0..4).map(|_| uniform()).sum::<f32>() - 2.0;
    let target_values: Vec<f32> = (0..targets * DIM).map(|_| gaussian()).collect();
    // Queries: noisy copies of known targets, so the right answer is known.
    let query_values: Vec<f32> = (0..queries)
        .flat_map(|i| {
            let row = (i * 997) % targets;
            target_values[row * DIM..(row + 1) * DIM].to_vec()
        })
        .zip((0..queries * DIM).map(|_| gaussian()))
        .map(|(v, noise)| v + 0.3 * noise)
        .collect();
    let rss_before = rss_gb();
    reset_peak_memory();
    let started = Instant::now();
    let hits = top_k(&query_values, &target_values, DIM, K);
    let seconds = started.elapsed().as_secs_f64();
    let found = (0..queries)
        .filter(|&i| hits[i].first().map(|h| h.row) == Some((i * 997) % targets))
        .count();
    println!(
        "{queries} queries × {targets} targets × {DIM}-d, k = {K}: {seconds:.2} s = {:.1} queries/s \
         ({:.2} G similarities/s); the noisy copy's source ranked first for {found}/{queries}; \
         resident memory {:.2} GB before, peak {:.2} GB",
        queries as f64 / seconds,
        (queries * targets) as f64 / seconds / 1e9,
        rss_before,
        peak_memory_mb() / 1024.0
    );
    let mmhost = Timing {
        seconds,
        peak_mb: peak_memory_mb(),
    };
    let dir = exchange_dir("retrieval");
    write_npy(
        &dir.join("targets.npy"),
        &[targets as u64, DIM as u64],
        &target_values,
    );
    write_npy(
        &dir.join("queries.npy"),
        &[queries as u64, DIM as u64],
        &query_values,
    );
    let torch = run_torch("retrieval.py", &dir, &["--k", &K.to_string()]);
    println!("{queries} queries, {} threads:", threads());
    report("run", queries, "queries", mmhost, torch);
}

fn status_gb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1e6)
}

fn rss_gb() -> f64 {
    status_gb("VmRSS:")
}
