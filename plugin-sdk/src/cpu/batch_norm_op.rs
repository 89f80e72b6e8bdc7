//! Batch normalization of `[rows, channels]` in training as one burn operation on
//! `Autodiff<Flex>`: the batch statistics in one pass (f64 sums over fixed blocks of
//! rows, added in order, so the result does not depend on the thread count), the
//! output in a second, and a backward step of its own (two passes:
//! `dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂))`, `dγ = Σ dy·x̂`, `dβ = Σ dy`). burn's
//! `BatchNorm` copies a transposed `[channels, rows]` twice for the statistics and
//! runs some ten element-wise passes forward and back.

use std::mem::MaybeUninit;

use burn::{
    backend::{
        autodiff::{
            checkpoint::{base::Checkpointer, strategy::NoCheckpointing},
            grads::Gradients,
            ops::{Backward, Ops, OpsKind},
        },
        flex::FlexTensor,
        Autodiff, Flex,
    },
    tensor::{Tensor, TensorData, TensorPrimitive},
};
use rayon::prelude::*;

use super::{contiguous_f32, f32_matrix, f32_values, written};

/// Names the operation in a dtype error.
const OPERATION: &str = "the fused batch norm";
/// Rows per block of the parallel passes.
const BLOCK_ROWS: usize = 512;

/// What [`training`] returns: the normalized output and the batch statistics.
pub struct Normalized {
    /// `[rows, channels]`, differentiable.
    pub output: Tensor<Autodiff<Flex>, 2>,
    /// `[channels]`: batch mean (no gradient).
    pub mean: Tensor<Autodiff<Flex>, 1>,
    /// `[channels]`: batch biased variance (no gradient).
    pub variance: Tensor<Autodiff<Flex>, 1>,
}

/// `(x − mean)/√(var + ε)·γ + β` with the batch's statistics: `x` `[rows, channels]`,
/// `gamma`, `beta` `[channels]`, all `f32`.
pub fn training(
    x: Tensor<Autodiff<Flex>, 2>,
    gamma: Tensor<Autodiff<Flex>, 1>,
    beta: Tensor<Autodiff<Flex>, 1>,
    epsilon: f64,
) -> Normalized {
    let device = x.device();
    let (x, gamma, beta) = (
        x.into_primitive().tensor(),
        gamma.into_primitive().tensor(),
        beta.into_primitive().tensor(),
    );
    let x_values = contiguous_f32(&x.primitive, OPERATION);
    let gamma_values = contiguous_f32(&gamma.primitive, OPERATION);
    let beta_values = contiguous_f32(&beta.primitive, OPERATION);
    let (values, rows, channels) = f32_matrix(&x_values);
    let (mean, variance) = statistics(values, rows, channels);
    let inv_std: Vec<f32> = variance
        .iter()
        .map(|v| (1.0 / (v + epsilon).sqrt()) as f32)
        .collect();
    let (gamma_slice, beta_slice) = (f32_values(&gamma_values), f32_values(&beta_values));
    assert!(
        gamma_slice.len() == channels && beta_slice.len() == channels,
        "{OPERATION}: γ and β need {channels} elements, got {} and {}",
        gamma_slice.len(),
        beta_slice.len()
    );
    let scale: Vec<f32> = inv_std
        .iter()
        .zip(gamma_slice)
        .map(|(s, g)| s * g)
        .collect();
    let shift: Vec<f32> = (0..channels)
        .map(|c| beta_slice[c] - mean[c] as f32 * scale[c])
        .collect();
    assert_eq!(values.len(), rows * channels);
    let fill = |out: &mut [MaybeUninit<f32>]| {
        out.par_chunks_mut(BLOCK_ROWS * channels)
            .zip(values.par_chunks(BLOCK_ROWS * channels))
            .for_each(|(out, x)| normalize_block(out, x, &scale, &shift))
    };
    // SAFETY: `values` holds whole rows of `channels` (asserted above), so the
    // blocks, their rows and each row's elements pair up one to one with those of
    // `out`, and `scale` and `shift` are `channels` long (γ and β, asserted): every
    // element is written.
    let out = unsafe { written(values.len(), fill) };
    let out = FlexTensor::from_data(TensorData::new(out, [rows, channels]));
    let state = State {
        x: x_values,
        mean: mean.iter().map(|&m| m as f32).collect(),
        inv_std,
        gamma: gamma_slice.to_vec(),
    };
    let output = match BatchNormBackward
        .prepare::<NoCheckpointing>([x.node.clone(), gamma.node.clone(), beta.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    let vector = |values: Vec<f64>| {
        let values: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
        Tensor::<Autodiff<Flex>, 1>::from_data(TensorData::new(values, [channels]), &device)
    };
    Normalized {
        output: Tensor::from_primitive(TensorPrimitive::Float(output)),
        mean: vector(mean),
        variance: vector(variance),
    }
}

/// What [`channel_sums`] adds up per channel.
#[derive(Clone, Copy)]
enum Sums<'a> {
    /// `Σ x` and `Σ x²` (the statistics; `y` unused).
    Moments,
    /// `Σ dy` and `Σ dy·x̂`, `x̂ = (x − mean)·inv_std` (the backward's; `y` = dy).
    Gradient { mean: &'a [f32], inv_std: &'a [f32] },
}

/// Per-channel sums of `kind` over all rows, in f64, two sums per channel: blocks
/// of rows in parallel (compiled for AVX-512 or AVX2 where the CPU has them), the
/// blocks' sums added in order.
fn channel_sums(x: &[f32], y: &[f32], channels: usize, kind: Sums) -> (Vec<f64>, Vec<f64>) {
    let blocks: Vec<(Vec<f64>, Vec<f64>)> = x
        .par_chunks(BLOCK_ROWS * channels)
        .zip(y.par_chunks(BLOCK_ROWS * channels))
        .map(|(x, y)| {
            let (mut first, mut second) = (vec![0.0f64; channels], vec![0.0f64; channels]);
            add_block(kind, x, y, channels, &mut first, &mut second);
            (first, second)
        })
        .collect();
    let (mut first, mut second) = (vec![0.0f64; channels], vec![0.0f64; channels]);
    for (a, b) in blocks {
        first.iter_mut().zip(a).for_each(|(t, v)| *t += v);
        second.iter_mut().zip(b).for_each(|(t, v)| *t += v);
    }
    (first, second)
}

multiversioned! {
    /// Adds one block of rows' `kind` sums into `first` and `second` `[channels]`.
    fn add_block(
        kind: Sums,
        x: &[f32],
        y: &[f32],
        channels: usize,
        first: &mut [f64],
        second: &mut [f64],
    ) {
        let (first, second) = (&mut first[..channels], &mut second[..channels]);
        match kind {
            Sums::Moments => {
                for x in x.chunks_exact(channels) {
                    for ((sum, square), &x) in first.iter_mut().zip(second.iter_mut()).zip(x) {
                        let v = f64::from(x);
                        *sum += v;
                        *square += v * v;
                    }
                }
            }
            Sums::Gradient { mean, inv_std } => {
                let (mean, inv_std) = (&mean[..channels], &inv_std[..channels]);
                for (x, dy) in x.chunks_exact(channels).zip(y.chunks_exact(channels)) {
                    let (x, dy) = (&x[..channels], &dy[..channels]);
                    for c in 0..channels {
                        let xhat = (x[c] - mean[c]) * inv_std[c];
                        first[c] += f64::from(dy[c]);
                        second[c] += f64::from(dy[c] * xhat);
                    }
                }
            }
        }
    }
}

/// Per-channel mean and biased variance of `[rows, channels]` values.
fn statistics(values: &[f32], rows: usize, channels: usize) -> (Vec<f64>, Vec<f64>) {
    let (sum, sum_of_squares) = channel_sums(values, values, channels, Sums::Moments);
    let n = rows.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let variance = sum_of_squares
        .iter()
        .zip(&mean)
        .map(|(sq, m)| (sq / n - m * m).max(0.0))
        .collect();
    (mean, variance)
}

multiversioned! {
    /// `out = x·scale + shift` row by row, for rows of `scale.len()` channels; writes
    /// every element of `out` (as long as `x`).
    fn normalize_block(out: &mut [MaybeUninit<f32>], x: &[f32], scale: &[f32], shift: &[f32]) {
        let channels = scale.len();
        for (out, x) in out.chunks_exact_mut(channels).zip(x.chunks_exact(channels)) {
            for (((out, x), scale), shift) in out.iter_mut().zip(x).zip(scale).zip(shift) {
                out.write(x * scale + shift);
            }
        }
    }
}

/// The per-channel terms of `dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂))`, each
/// `[channels]`.
struct InputGradient<'a> {
    mean: &'a [f32],
    inv_std: &'a [f32],
    /// `γ/σ`.
    factor: &'a [f32],
    mean_dy: &'a [f32],
    mean_dy_xhat: &'a [f32],
}

multiversioned! {
    /// `dx` of one block of rows of `x` and `dy` from `terms`; writes every element of
    /// `dx`.
    fn input_gradient_block(
        terms: &InputGradient,
        dx: &mut [MaybeUninit<f32>],
        x: &[f32],
        dy: &[f32],
    ) {
        let channels = terms.mean.len();
        let (mean, inv_std, factor, mean_dy, mean_dy_xhat) = (
            terms.mean,
            &terms.inv_std[..channels],
            &terms.factor[..channels],
            &terms.mean_dy[..channels],
            &terms.mean_dy_xhat[..channels],
        );
        for ((dx, x), dy) in dx
            .chunks_exact_mut(channels)
            .zip(x.chunks_exact(channels))
            .zip(dy.chunks_exact(channels))
        {
            let (dx, x, dy) = (&mut dx[..channels], &x[..channels], &dy[..channels]);
            for c in 0..channels {
                let xhat = (x[c] - mean[c]) * inv_std[c];
                dx[c].write(factor[c] * (dy[c] - mean_dy[c] - xhat * mean_dy_xhat[c]));
            }
        }
    }
}

/// What the backward step needs.
#[derive(Clone, Debug)]
struct State {
    /// `[rows, channels]`, contiguous.
    x: FlexTensor,
    /// `[channels]` each.
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    gamma: Vec<f32>,
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    type State = State;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent_x, parent_gamma, parent_beta] = ops.parents;
        let d_out = grads.consume::<Flex>(&ops.node).to_contiguous();
        let state = ops.state;
        let (x, rows, channels) = f32_matrix(&state.x);
        let dy = f32_values(&d_out);
        let (mean, inv_std) = (&state.mean, &state.inv_std);
        // Σ dy and Σ dy·x̂ per channel.
        let (sum_dy, sum_dy_xhat) = channel_sums(x, dy, channels, Sums::Gradient { mean, inv_std });
        let vector = |values: &[f64]| {
            let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
            FlexTensor::from_data(TensorData::new(values, [channels]))
        };
        if let Some(parent) = parent_gamma {
            grads.register::<Flex>(parent.id, vector(&sum_dy_xhat));
        }
        if let Some(parent) = parent_beta {
            grads.register::<Flex>(parent.id, vector(&sum_dy));
        }
        if let Some(parent) = parent_x {
            let n = rows.max(1) as f64;
            let mean_dy: Vec<f32> = sum_dy.iter().map(|s| (s / n) as f32).collect();
            let mean_dy_xhat: Vec<f32> = sum_dy_xhat.iter().map(|s| (s / n) as f32).collect();
            let factor: Vec<f32> = state
                .gamma
                .iter()
                .zip(inv_std)
                .map(|(g, s)| g * s)
                .collect();
            assert!(x.len() == rows * channels && dy.len() == x.len());
            let fill = |dx: &mut [MaybeUninit<f32>]| {
                dx.par_chunks_mut(BLOCK_ROWS * channels)
                    .zip(x.par_chunks(BLOCK_ROWS * channels))
                    .zip(dy.par_chunks(BLOCK_ROWS * channels))
                    .for_each(|((dx, x), dy)| {
                        let coefficients = InputGradient {
                            mean,
                            inv_std,
                            factor: &factor,
                            mean_dy: &mean_dy,
                            mean_dy_xhat: &mean_dy_xhat,
                        };
                        input_gradient_block(&coefficients, dx, x, dy)
                    })
            };
            // SAFETY: `x` and `dy` hold the same whole rows of `channels` (asserted),
            // so the blocks and rows of `dx` pair up one to one with theirs, and each
            // row's `channels` elements are written.
            let dx = unsafe { written(x.len(), fill) };
            grads.register::<Flex>(
                parent.id,
                FlexTensor::from_data(TensorData::new(dx, [rows, channels])),
            );
        }
    }
}
