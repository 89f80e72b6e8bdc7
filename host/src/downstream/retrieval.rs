//! Cross-modal retrieval metrics (README "Pretraining"): query row `i` of one
//! modality should find target row `i` of another (the same material) among all
//! target rows, by cosine similarity.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Retrieval accuracy of one query modality against one target modality.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrievalScores {
    /// Number of queries (materials with both modalities).
    pub queries: usize,
    /// Fraction of queries whose own target ranks first.
    pub top1: f64,
    pub top5: f64,
    pub top10: f64,
    pub top25: f64,
    /// Mean and median rank of the own target (1 = best).
    pub mean_rank: f64,
    pub median_rank: f64,
}

impl RetrievalScores {
    /// Scores from the 1-based ranks of each query's own target.
    pub fn from_ranks(ranks: &[usize]) -> Self {
        let n = ranks.len().max(1) as f64;
        let within = |k: usize| ranks.iter().filter(|&&r| r <= k).count() as f64 / n;
        let mut sorted = ranks.to_vec();
        sorted.sort_unstable();
        let median_rank = match sorted.len() {
            0 => 0.0,
            len if len % 2 == 1 => sorted[len / 2] as f64,
            len => (sorted[len / 2 - 1] + sorted[len / 2]) as f64 / 2.0,
        };
        Self {
            queries: ranks.len(),
            top1: within(1),
            top5: within(5),
            top10: within(10),
            top25: within(25),
            mean_rank: ranks.iter().sum::<usize>() as f64 / n,
            median_rank,
        }
    }
}

/// Rows scaled to unit L2 norm. `values`: `[rows, dim]` row-major.
pub fn normalized_rows(values: &[f32], dim: usize) -> Vec<f32> {
    let mut out = values.to_vec();
    for row in out.chunks_exact_mut(dim.max(1)) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    out
}

/// For every query row `i` the 1-based rank of target row `i` among all target rows
/// by cosine similarity (ties count in the query's favour). `query` and `target`:
/// `[rows, dim]` row-major with the same number of rows, row `i` of both being the
/// same material. Runs on rayon's pool (all cores); memory stays O(rows × dim).
pub fn own_target_ranks(query: &[f32], target: &[f32], dim: usize) -> Vec<usize> {
    let q = normalized_rows(query, dim);
    let t = normalized_rows(target, dim);
    let rows = q.len() / dim.max(1);
    (0..rows)
        .into_par_iter()
        .map(|i| {
            let qi = &q[i * dim..(i + 1) * dim];
            let own = dot(qi, &t[i * dim..(i + 1) * dim]);
            1 + t.chunks_exact(dim).filter(|tj| dot(qi, tj) > own).count()
        })
        .collect()
}

/// One hit of a search: target row and cosine similarity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    pub row: usize,
    pub similarity: f32,
}

/// Target rows normalized per chunk, so memory beyond the inputs stays
/// O(`chunk_rows` × dim) however large the collection.
const DEFAULT_CHUNK_ROWS: usize = 16_384;

/// Queries scored against a target chunk at once: the similarity block is
/// `QUERY_BLOCK × chunk_rows` floats (16 MB with the default chunk).
const QUERY_BLOCK: usize = 256;

/// The `k` most cosine-similar target rows of every query row, best first (ties:
/// lower row first). Exact: every target is scored, chunk by chunk, keeping a
/// bounded list per query. `queries` and `targets`: `[rows, dim]` row-major.
///
/// Each (query block × target chunk) of similarities is one matrix product
/// (the `gemm` crate's kernels, AVX-512 where the CPU has it, on rayon's pool), then
/// every query row's list is updated from its row of the block, in parallel.
pub fn top_k(queries: &[f32], targets: &[f32], dim: usize, k: usize) -> Vec<Vec<Hit>> {
    top_k_chunked(queries, targets, dim, k, DEFAULT_CHUNK_ROWS)
}

/// [`top_k`] with an explicit chunk size (tests use small ones).
pub fn top_k_chunked(
    queries: &[f32],
    targets: &[f32],
    dim: usize,
    k: usize,
    chunk_rows: usize,
) -> Vec<Vec<Hit>> {
    let q = normalized_rows(queries, dim);
    let n_queries = q.len() / dim.max(1);
    let mut best: Vec<Vec<Hit>> = vec![Vec::with_capacity(k + 1); n_queries];
    if k == 0 || dim == 0 {
        return best;
    }
    let chunk_rows = chunk_rows.max(1);
    let threads = rayon::current_num_threads();
    let mut scores = vec![0.0f32; QUERY_BLOCK.min(n_queries) * chunk_rows];
    let q = &q[..n_queries * dim];
    for (chunk_index, chunk) in targets.chunks(chunk_rows * dim).enumerate() {
        let n_targets = chunk.len() / dim;
        let t = normalized_rows(&chunk[..n_targets * dim], dim);
        let first_row = chunk_index * chunk_rows;
        for (q_block, lists) in q
            .chunks(QUERY_BLOCK * dim)
            .zip(best.chunks_mut(QUERY_BLOCK))
        {
            let block = &mut scores[..lists.len() * n_targets];
            similarities(q_block, &t, dim, block, threads);
            let block = &*block;
            lists
                .par_iter_mut()
                .zip(block.par_chunks(n_targets))
                .for_each(|(list, similarities)| {
                    for (j, &similarity) in similarities.iter().enumerate() {
                        insert_hit(
                            list,
                            k,
                            Hit {
                                row: first_row + j,
                                similarity,
                            },
                        );
                    }
                });
        }
    }
    best
}

/// `out[i, j] = q_i · t_j` for the rows of `q` (`[m, dim]`) and `t` (`[n, dim]`):
/// `out` is `[m, n]` row-major.
fn similarities(q: &[f32], t: &[f32], dim: usize, out: &mut [f32], threads: usize) {
    let (m, n) = (q.len() / dim, t.len() / dim);
    assert!(out.len() == m * n && q.len() == m * dim && t.len() == n * dim);
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserted lengths make every index gemm forms from these strides
    // fall inside `q` (m × dim, row stride dim), `t` read as its transpose
    // (dim × n: row stride 1, column stride dim) and `out` (m × n, row stride n);
    // `out` does not alias the inputs.
    unsafe {
        gemm::gemm(
            m,
            n,
            dim,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            q.as_ptr(),
            1,
            dim as isize,
            t.as_ptr(),
            dim as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Dot product with eight independent partial sums, which the compiler keeps in
/// SIMD registers (a single running sum would serialize every addition).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Inserts `hit` into `list` (sorted best first, at most `k` long) if it belongs.
fn insert_hit(list: &mut Vec<Hit>, k: usize, hit: Hit) {
    if list.len() == k && list.last().is_some_and(|w| hit.similarity <= w.similarity) {
        return;
    }
    let at = list.partition_point(|h| h.similarity >= hit.similarity);
    list.insert(at, hit);
    list.truncate(k);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_follow_cosine_similarity() {
        // Targets: the query rotated slightly, except row 2 whose target points
        // away; row 2's own target then ranks behind the others.
        let query = [1.0, 0.0, 0.0, 1.0, 0.7, 0.7];
        let target = [2.0, 0.1, 0.1, 3.0, -1.0, -0.9];
        let ranks = own_target_ranks(&query, &target, 2);
        assert_eq!(ranks, vec![1, 1, 3]);
        let scores = RetrievalScores::from_ranks(&ranks);
        assert_eq!(scores.queries, 3);
        assert!((scores.top1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(scores.top5, 1.0);
        assert!((scores.mean_rank - 5.0 / 3.0).abs() < 1e-12);
        assert_eq!(scores.median_rank, 1.0);
    }

    #[test]
    fn chunked_top_k_equals_sorting_the_full_similarity_matrix() {
        // Deterministic pseudo-random rows, some duplicated to create ties.
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let dim = 16;
        let mut targets: Vec<f32> = (0..500 * dim).map(|_| next()).collect();
        targets.copy_within(0..dim, 37 * dim);
        let mut queries: Vec<f32> = (0..23 * dim).map(|_| next()).collect();
        queries[..dim].copy_from_slice(&targets[..dim]);
        let (q, t) = (
            normalized_rows(&queries, dim),
            normalized_rows(&targets, dim),
        );
        for chunk in [1, 7, 64, 10_000] {
            let found = top_k_chunked(&queries, &targets, dim, 10, chunk);
            for (i, hits) in found.iter().enumerate() {
                let qi = &q[i * dim..(i + 1) * dim];
                // The full similarity matrix's row, in f64.
                let mut all: Vec<(usize, f64)> = t
                    .chunks_exact(dim)
                    .map(|tj| {
                        qi.iter()
                            .zip(tj)
                            .map(|(a, b)| f64::from(*a) * f64::from(*b))
                            .sum()
                    })
                    .enumerate()
                    .collect();
                // Best first; ties by lower row.
                all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                // Similarities agree to float rounding; rows agree wherever the
                // neighbours' similarities are not within that rounding.
                let separated = |r: usize| {
                    (r == 0 || all[r - 1].1 - all[r].1 > 1e-5) && all[r].1 - all[r + 1].1 > 1e-5
                };
                for (r, hit) in hits.iter().enumerate() {
                    assert!(
                        (f64::from(hit.similarity) - all[r].1).abs() < 1e-5,
                        "query {i}"
                    );
                    if separated(r) {
                        assert_eq!(hit.row, all[r].0, "query {i}, chunk {chunk}, rank {r}");
                    }
                }
                assert_eq!(hits.len(), 10);
            }
            // Query 0 is target row 0, which row 37 duplicates: an exact tie at
            // similarity 1, the lower row first.
            assert_eq!((found[0][0].row, found[0][1].row), (0, 37), "chunk {chunk}");
            assert_eq!(found[0][0].similarity, found[0][1].similarity);
        }
    }
}
