//! Fused multi-head self-attention on the CPU: one sequence at a time (rayon over
//! the batch), one head after another, the `tokens × tokens` scores living only in a
//! per-thread scratch buffer that stays in cache. Forward keeps each row's
//! log-sum-exp; backward recomputes the probabilities from it (FlashAttention's
//! scheme, without the tiling that sequences of a few hundred tokens do not need).
//!
//! Layouts (all row-major `f32`): `qkv` `[batch, tokens, 3·inner]` as the fused
//! projection writes it — queries, keys, values, head `h` in columns
//! `h·head_dim..(h+1)·head_dim` of each third —, output `[batch, tokens, inner]`
//! with the heads concatenated, log-sum-exp `[batch, heads, tokens]`.

use rayon::prelude::*;

use super::{
    matrix::{multiply, Layout, View, ViewMut},
    vector,
};

/// Sizes of one attention call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub batch: usize,
    pub tokens: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl Shape {
    /// Width of the concatenated heads (`heads · head_dim`).
    pub fn inner(&self) -> usize {
        self.heads * self.head_dim
    }

    /// Elements of `qkv` (and of its gradient).
    pub fn qkv_len(&self) -> usize {
        self.batch * self.tokens * 3 * self.inner()
    }

    /// Elements of the output (and of its gradient).
    pub fn out_len(&self) -> usize {
        self.batch * self.tokens * self.inner()
    }

    /// Elements of the log-sum-exp.
    pub fn lse_len(&self) -> usize {
        self.batch * self.heads * self.tokens
    }

    /// Head `head`'s queries (`part` 0), keys (1) or values (2) inside one sequence's
    /// `[tokens, 3·inner]` block: `tokens × head_dim`.
    fn qkv_part(&self, part: usize, head: usize) -> Layout {
        let offset = part * self.inner() + head * self.head_dim;
        Layout::rows(offset, self.tokens, self.head_dim, 3 * self.inner())
    }

    /// Head `head`'s columns inside one sequence's `[tokens, inner]` block.
    fn head_columns(&self, head: usize) -> Layout {
        Layout::rows(
            head * self.head_dim,
            self.tokens,
            self.head_dim,
            self.inner(),
        )
    }

    /// A `tokens × tokens` scratch matrix.
    fn square(&self) -> Layout {
        Layout::rows(0, self.tokens, self.tokens, self.tokens)
    }
}

/// `softmax(scale · q·kᵀ) · v` per head. Returns the output `[batch, tokens, inner]`
/// and each score row's log-sum-exp `[batch, heads, tokens]`, which `backward` needs.
pub fn forward(shape: Shape, qkv: &[f32], scale: f32) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(qkv.len(), shape.qkv_len(), "qkv of {shape:?}");
    let per_sequence = shape.tokens * 3 * shape.inner();
    let mut out = vec![0.0; shape.out_len()];
    let mut lse = vec![0.0; shape.lse_len()];
    out.par_chunks_mut(shape.tokens * shape.inner())
        .zip(lse.par_chunks_mut(shape.heads * shape.tokens))
        .zip(qkv.par_chunks(per_sequence))
        .for_each_init(
            || vec![0.0; shape.tokens * shape.tokens],
            |scores, ((out, lse), qkv)| {
                for head in 0..shape.heads {
                    let q = View::new(qkv, shape.qkv_part(0, head));
                    let k = View::new(qkv, shape.qkv_part(1, head));
                    let v = View::new(qkv, shape.qkv_part(2, head));
                    multiply(ViewMut::new(scores, shape.square()), q, k.t(), scale);
                    let lse = &mut lse[head * shape.tokens..(head + 1) * shape.tokens];
                    for (row, lse) in scores.chunks_exact_mut(shape.tokens).zip(lse) {
                        *lse = softmax_in_place(row);
                    }
                    let probabilities = View::new(scores, shape.square());
                    multiply(
                        ViewMut::new(out, shape.head_columns(head)),
                        probabilities,
                        v,
                        1.0,
                    );
                }
            },
        );
    (out, lse)
}

/// The gradient with respect to `qkv` `[batch, tokens, 3·inner]` of
/// `sum(out · d_out)`, from `forward`'s inputs and outputs and `d_out`
/// `[batch, tokens, inner]`.
pub fn backward(
    shape: Shape,
    qkv: &[f32],
    out: &[f32],
    lse: &[f32],
    d_out: &[f32],
    scale: f32,
) -> Vec<f32> {
    assert_eq!(qkv.len(), shape.qkv_len(), "qkv of {shape:?}");
    assert_eq!(out.len(), shape.out_len(), "output of {shape:?}");
    assert_eq!(d_out.len(), shape.out_len(), "output gradient of {shape:?}");
    assert_eq!(lse.len(), shape.lse_len(), "log-sum-exp of {shape:?}");
    let per_sequence = shape.tokens * 3 * shape.inner();
    let per_output = shape.tokens * shape.inner();
    let mut d_qkv = vec![0.0; shape.qkv_len()];
    d_qkv
        .par_chunks_mut(per_sequence)
        .zip(qkv.par_chunks(per_sequence))
        .zip(out.par_chunks(per_output))
        .zip(d_out.par_chunks(per_output))
        .zip(lse.par_chunks(shape.heads * shape.tokens))
        .for_each_init(
            || {
                let square = shape.tokens * shape.tokens;
                (
                    vec![0.0; square],
                    vec![0.0; square],
                    vec![0.0; shape.tokens],
                )
            },
            |(probabilities, d_scores, row_dot), ((((d_qkv, qkv), out), d_out), lse)| {
                for head in 0..shape.heads {
                    let q = View::new(qkv, shape.qkv_part(0, head));
                    let k = View::new(qkv, shape.qkv_part(1, head));
                    let v = View::new(qkv, shape.qkv_part(2, head));
                    let d_o = View::new(d_out, shape.head_columns(head));
                    // P = exp(scale · q·kᵀ − lse), recomputed.
                    multiply(ViewMut::new(probabilities, shape.square()), q, k.t(), scale);
                    let lse = &lse[head * shape.tokens..(head + 1) * shape.tokens];
                    for (row, &lse) in probabilities.chunks_exact_mut(shape.tokens).zip(lse) {
                        vector::exp_shifted(row, lse);
                    }
                    let p = View::new(probabilities, shape.square());
                    // dV = Pᵀ·dO, dP = dO·vᵀ.
                    multiply(
                        ViewMut::new(d_qkv, shape.qkv_part(2, head)),
                        p.t(),
                        d_o,
                        1.0,
                    );
                    multiply(ViewMut::new(d_scores, shape.square()), d_o, v.t(), 1.0);
                    // dS = P ⊙ (dP − rowsum(dO ⊙ O)).
                    head_row_dots(&shape, head, out, d_out, row_dot);
                    for ((d_row, p_row), &dot) in d_scores
                        .chunks_exact_mut(shape.tokens)
                        .zip(probabilities.chunks_exact(shape.tokens))
                        .zip(row_dot.iter())
                    {
                        vector::softmax_backward_row(d_row, p_row, dot);
                    }
                    // dQ = scale · dS·k, dK = scale · dSᵀ·q.
                    let d_s = View::new(d_scores, shape.square());
                    multiply(ViewMut::new(d_qkv, shape.qkv_part(0, head)), d_s, k, scale);
                    multiply(
                        ViewMut::new(d_qkv, shape.qkv_part(1, head)),
                        d_s.t(),
                        q,
                        scale,
                    );
                }
            },
        );
    d_qkv
}

/// `dot[i] = Σ_d out[i, head·D + d] · d_out[i, head·D + d]` within one sequence.
fn head_row_dots(shape: &Shape, head: usize, out: &[f32], d_out: &[f32], dot: &mut [f32]) {
    let columns = head * shape.head_dim..(head + 1) * shape.head_dim;
    for ((dot, o), d_o) in dot
        .iter_mut()
        .zip(out.chunks_exact(shape.inner()))
        .zip(d_out.chunks_exact(shape.inner()))
    {
        *dot = o[columns.clone()]
            .iter()
            .zip(&d_o[columns.clone()])
            .map(|(a, b)| a * b)
            .sum();
    }
}

/// Replaces `row` by its softmax; returns its log-sum-exp.
fn softmax_in_place(row: &mut [f32]) -> f32 {
    let max = vector::max(row);
    let sum = vector::exp_shifted(row, max);
    let inverse = 1.0 / sum;
    row.iter_mut().for_each(|x| *x *= inverse);
    max + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_sum_to_one_and_return_their_log_sum_exp() {
        let mut row = vec![1.0, 2.0, 3.0, -40.0, 0.5];
        let expected = row.iter().map(|x: &f32| x.exp()).sum::<f32>().ln();
        let lse = softmax_in_place(&mut row);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((lse - expected).abs() < 1e-6);
    }
}
