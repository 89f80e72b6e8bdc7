//! UMAP (McInnes, Healy & Melville 2018) for mapping embeddings to 2D: an exact
//! cosine k-nearest-neighbour graph, its fuzzy simplicial set (per-point ρ and σ,
//! symmetrized by fuzzy union), then stochastic gradient descent of the
//! cross-entropy layout loss with negative sampling, as umap-learn does it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::retrieval::top_k;

/// Settings of a UMAP layout.
#[derive(Clone, Debug, PartialEq)]
pub struct UmapConfig {
    /// Neighbours of the graph (15 by default, as umap-learn).
    pub neighbours: usize,
    /// Closest distance between points in the layout (0.1).
    pub min_dist: f64,
    pub spread: f64,
    /// Optimization epochs (0: 500 below 10,000 points, 200 above, as umap-learn).
    pub epochs: usize,
    pub negative_samples: usize,
    pub seed: u64,
}

impl Default for UmapConfig {
    fn default() -> Self {
        Self {
            neighbours: 15,
            min_dist: 0.1,
            spread: 1.0,
            epochs: 0,
            negative_samples: 5,
            seed: 42,
        }
    }
}

/// 2D coordinates `[(x, y); rows]` of the `[rows, dim]` row-major `values`.
pub fn umap(values: &[f32], dim: usize, config: &UmapConfig) -> Vec<(f64, f64)> {
    let rows = values.len() / dim.max(1);
    if rows < 3 {
        return (0..rows).map(|i| (i as f64, 0.0)).collect();
    }
    let k = config.neighbours.min(rows - 1).max(1);
    let edges = fuzzy_graph(values, dim, k);
    let (a, b) = fit_ab(config.min_dist, config.spread);
    let epochs = match config.epochs {
        0 if rows <= 10_000 => 500,
        0 => 200,
        n => n,
    };
    layout(
        rows,
        &edges,
        a,
        b,
        epochs,
        config.negative_samples,
        config.seed,
    )
}

/// Symmetrized fuzzy membership edges `(i, j, weight)` of the k-NN graph.
fn fuzzy_graph(values: &[f32], dim: usize, k: usize) -> Vec<(usize, usize, f64)> {
    let rows = values.len() / dim;
    let hits = top_k(values, values, dim, k + 1);
    let mut directed = std::collections::HashMap::new();
    for (i, list) in hits.iter().enumerate() {
        // Cosine distances to the k nearest other points.
        let neighbours: Vec<(usize, f64)> = list
            .iter()
            .filter(|h| h.row != i)
            .take(k)
            .map(|h| (h.row, (1.0 - f64::from(h.similarity)).max(0.0)))
            .collect();
        let rho = neighbours
            .iter()
            .map(|n| n.1)
            .find(|&d| d > 0.0)
            .unwrap_or(0.0);
        let sigma = smooth_sigma(&neighbours, rho, (k as f64).log2());
        for (j, d) in neighbours {
            let w = (-((d - rho).max(0.0)) / sigma).exp();
            directed.insert((i, j), w);
        }
    }
    let mut edges = Vec::new();
    for (&(i, j), &w) in &directed {
        if i < j || !directed.contains_key(&(j, i)) {
            let back = directed.get(&(j, i)).copied().unwrap_or(0.0);
            edges.push((i.min(j), i.max(j), w + back - w * back));
        }
    }
    edges.sort_by_key(|e| (e.0, e.1));
    debug_assert!(edges.iter().all(|e| e.0 < rows && e.1 < rows));
    edges
}

/// σ with `Σ_j exp(−max(0, d_j − ρ)/σ) = target` (bisection, 64 steps).
fn smooth_sigma(neighbours: &[(usize, f64)], rho: f64, target: f64) -> f64 {
    let (mut lo, mut hi, mut sigma) = (0.0, f64::INFINITY, 1.0);
    for _ in 0..64 {
        let sum: f64 = neighbours
            .iter()
            .map(|(_, d)| (-((d - rho).max(0.0)) / sigma).exp())
            .sum();
        if (sum - target).abs() < 1e-5 {
            break;
        }
        if sum > target {
            hi = sigma;
            sigma = (lo + hi) / 2.0;
        } else {
            lo = sigma;
            sigma = if hi.is_infinite() {
                sigma * 2.0
            } else {
                (lo + hi) / 2.0
            };
        }
    }
    sigma
        .max(1e-3 * neighbours.iter().map(|n| n.1).sum::<f64>() / neighbours.len().max(1) as f64)
        .max(1e-12)
}

/// `a`, `b` of the layout kernel `1 / (1 + a·d^(2b))`, least-squares fitted to
/// 1 below `min_dist` and `exp(−(d − min_dist)/spread)` beyond, on d ∈ (0, 3·spread].
pub fn fit_ab(min_dist: f64, spread: f64) -> (f64, f64) {
    let xs: Vec<f64> = (1..=300)
        .map(|i| 3.0 * spread * f64::from(i) / 300.0)
        .collect();
    let target: Vec<f64> = xs
        .iter()
        .map(|&x| {
            if x < min_dist {
                1.0
            } else {
                (-(x - min_dist) / spread).exp()
            }
        })
        .collect();
    let error = |a: f64, b: f64| -> f64 {
        xs.iter()
            .zip(&target)
            .map(|(x, t)| (1.0 / (1.0 + a * x.powf(2.0 * b)) - t).powi(2))
            .sum()
    };
    // Coarse grid, then shrinking local search.
    let mut best = (1.0, 1.0, f64::MAX);
    for i in 1..=60 {
        for j in 1..=40 {
            let (a, b) = (f64::from(i) * 0.1, f64::from(j) * 0.05);
            let e = error(a, b);
            if e < best.2 {
                best = (a, b, e);
            }
        }
    }
    let mut step = 0.05;
    while step > 1e-6 {
        let mut improved = false;
        for (da, db) in [(step, 0.0), (-step, 0.0), (0.0, step), (0.0, -step)] {
            let (a, b) = (best.0 + da, best.1 + db);
            if a > 0.0 && b > 0.0 {
                let e = error(a, b);
                if e < best.2 {
                    best = (a, b, e);
                    improved = true;
                }
            }
        }
        if !improved {
            step /= 2.0;
        }
    }
    (best.0, best.1)
}

/// Stochastic gradient descent of the layout, umap-learn's schedule: each edge is
/// sampled in proportion to its weight, with `negative` repulsive samples, and a
/// learning rate decaying linearly from 1.
fn layout(
    rows: usize,
    edges: &[(usize, usize, f64)],
    a: f64,
    b: f64,
    epochs: usize,
    negative: usize,
    seed: u64,
) -> Vec<(f64, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut y: Vec<[f64; 2]> = (0..rows)
        .map(|_| {
            [
                rng.random::<f64>() * 20.0 - 10.0,
                rng.random::<f64>() * 20.0 - 10.0,
            ]
        })
        .collect();
    let max_weight = edges.iter().map(|e| e.2).fold(0.0, f64::max).max(1e-12);
    let every: Vec<f64> = edges.iter().map(|e| max_weight / e.2.max(1e-12)).collect();
    let mut next_at = every.clone();
    let clip = |g: f64| g.clamp(-4.0, 4.0);
    for epoch in 0..epochs {
        let alpha = 1.0 - epoch as f64 / epochs as f64;
        for (e, &(i, j, _)) in edges.iter().enumerate() {
            if next_at[e] > (epoch + 1) as f64 {
                continue;
            }
            next_at[e] += every[e];
            for (head, tail) in [(i, j), (j, i)] {
                let d2 = dist2(&y[head], &y[tail]);
                let attract = if d2 > 0.0 {
                    -2.0 * a * b * d2.powf(b - 1.0) / (1.0 + a * d2.powf(b))
                } else {
                    0.0
                };
                let (p, q) = (y[head], y[tail]);
                let g = [0, 1].map(|c| clip(attract * (p[c] - q[c])) * alpha);
                y[head] = [p[0] + g[0], p[1] + g[1]];
                y[tail] = [q[0] - g[0], q[1] - g[1]];
                for _ in 0..negative {
                    let other = rng.random_range(0..rows);
                    if other == head {
                        continue;
                    }
                    let d2 = dist2(&y[head], &y[other]);
                    let repel = if d2 > 0.0 {
                        2.0 * b / ((0.001 + d2) * (1.0 + a * d2.powf(b)))
                    } else {
                        0.0
                    };
                    let (p, q) = (y[head], y[other]);
                    let g = [0, 1].map(|c| {
                        if repel > 0.0 {
                            clip(repel * (p[c] - q[c]))
                        } else {
                            4.0
                        }
                    });
                    y[head] = [p[0] + g[0] * alpha, p[1] + g[1] * alpha];
                }
            }
        }
    }
    y.into_iter().map(|p| (p[0], p[1])).collect()
}

fn dist2(p: &[f64; 2], q: &[f64; 2]) -> f64 {
    (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_parameters_match_umap_learn() {
        // umap-learn's find_ab_params(1.0, 0.1): a = 1.5769, b = 0.8951.
        let (a, b) = fit_ab(0.1, 1.0);
        assert!((a - 1.577).abs() < 0.03, "a = {a}");
        assert!((b - 0.895).abs() < 0.01, "b = {b}");
    }

    #[test]
    fn clusters_stay_together_and_apart() {
        // Three clusters in 16-d around orthogonal directions.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let dim = 16;
        let mut values = Vec::new();
        let mut labels = Vec::new();
        for cluster in 0..3 {
            for _ in 0..40 {
                for d in 0..dim {
                    let centre = if d == cluster * 5 { 5.0 } else { 0.0 };
                    values.push((centre + rng.random::<f64>() - 0.5) as f32);
                }
                labels.push(cluster);
            }
        }
        let config = UmapConfig {
            epochs: 200,
            ..UmapConfig::default()
        };
        let points = umap(&values, dim, &config);
        // Each point's nearest layout neighbour is from its own cluster.
        let agree = (0..points.len())
            .filter(|&i| {
                let nearest = (0..points.len())
                    .filter(|&j| j != i)
                    .min_by(|&p, &q| {
                        let d = |j: usize| {
                            (points[i].0 - points[j].0).powi(2)
                                + (points[i].1 - points[j].1).powi(2)
                        };
                        d(p).total_cmp(&d(q))
                    })
                    .unwrap();
                labels[nearest] == labels[i]
            })
            .count();
        assert!(
            agree >= 114,
            "{agree}/120 nearest neighbours in the same cluster"
        );
    }
}
