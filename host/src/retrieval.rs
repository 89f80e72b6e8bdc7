//! Cross-modal retrieval metrics (DESIGN.md "Retrieval"): query row `i` of one
//! modality should find target row `i` of another (the same material) among all
//! target rows, by cosine similarity.

use std::thread;

use serde::Serialize;

/// Retrieval accuracy of one query modality against one target modality.
#[derive(Clone, Debug, PartialEq, Serialize)]
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
/// same material. Runs on all cores; memory stays O(rows × dim).
pub fn own_target_ranks(query: &[f32], target: &[f32], dim: usize) -> Vec<usize> {
    let q = normalized_rows(query, dim);
    let t = normalized_rows(target, dim);
    let rows = q.len() / dim.max(1);
    let threads = thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = rows.div_ceil(threads).max(1);
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    thread::scope(|scope| {
        let workers: Vec<_> = (0..rows)
            .step_by(chunk)
            .map(|start| {
                let (q, t) = (&q, &t);
                scope.spawn(move || {
                    (start..(start + chunk).min(rows))
                        .map(|i| {
                            let qi = &q[i * dim..(i + 1) * dim];
                            let own = dot(qi, &t[i * dim..(i + 1) * dim]);
                            1 + t.chunks_exact(dim).filter(|tj| dot(qi, tj) > own).count()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
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
}
