//! Layer normalization of `[rows, width]` as one burn operation on Flex and
//! `Autodiff<Flex>`: each row's mean and biased variance (two passes over the row,
//! in cache: no `E[x²] − E[x]²` cancellation) and the output in one pass over the
//! tensor, and on `Autodiff<Flex>` a backward step of its own, also one pass (`dx = γ/σ·(… )` per row,
//! `dγ`, `dβ` summed per block of rows, the blocks' sums added in order, so the
//! result does not depend on the thread count). burn 0.21 differentiates its layer
//! norm as some ten separate element-wise operations.

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

use super::{contiguous_f32, f32_matrix, f32_values, vector, written};

/// Names the operation in a dtype error.
const OPERATION: &str = "the fused layer norm";
/// Rows per block of the parallel passes.
const BLOCK_ROWS: usize = 256;

/// `(x − mean)/√(var + ε)·γ + β` over each row of `x` `[rows, width]` (biased
/// variance), `gamma`, `beta` `[width]`, all `f32` → `[rows, width]`, on Flex.
pub fn inference(
    x: Tensor<Flex, 2>,
    gamma: Tensor<Flex, 1>,
    beta: Tensor<Flex, 1>,
    epsilon: f64,
) -> Tensor<Flex, 2> {
    let x = contiguous_f32(&x.into_primitive().tensor(), OPERATION);
    let gamma = contiguous_f32(&gamma.into_primitive().tensor(), OPERATION);
    let beta = contiguous_f32(&beta.into_primitive().tensor(), OPERATION);
    let normalized = normalize(&x, f32_values(&gamma), f32_values(&beta), epsilon);
    Tensor::from_primitive(TensorPrimitive::Float(normalized.out))
}

/// [`inference`] on `Autodiff<Flex>`, differentiable with respect to all three.
pub fn training(
    x: Tensor<Autodiff<Flex>, 2>,
    gamma: Tensor<Autodiff<Flex>, 1>,
    beta: Tensor<Autodiff<Flex>, 1>,
    epsilon: f64,
) -> Tensor<Autodiff<Flex>, 2> {
    let (x, gamma, beta) = (
        x.into_primitive().tensor(),
        gamma.into_primitive().tensor(),
        beta.into_primitive().tensor(),
    );
    let x_values = contiguous_f32(&x.primitive, OPERATION);
    let gamma_values = contiguous_f32(&gamma.primitive, OPERATION);
    let beta_values = contiguous_f32(&beta.primitive, OPERATION);
    let gamma_slice = f32_values(&gamma_values);
    let normalized = normalize(&x_values, gamma_slice, f32_values(&beta_values), epsilon);
    let state = State {
        x: x_values,
        mean: normalized.mean,
        inv_std: normalized.inv_std,
        gamma: gamma_slice.to_vec(),
    };
    let output = match LayerNormBackward
        .prepare::<NoCheckpointing>([x.node.clone(), gamma.node.clone(), beta.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, normalized.out),
        OpsKind::UnTracked(prep) => prep.finish(normalized.out),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// What [`normalize`] computes.
struct Normalized {
    /// `[rows, width]`
    out: FlexTensor,
    /// `[rows]` each.
    mean: Vec<f32>,
    inv_std: Vec<f32>,
}

/// The forward pass over `x` (contiguous `f32` `[rows, width]`), blocks of rows in
/// parallel.
fn normalize(x: &FlexTensor, gamma: &[f32], beta: &[f32], epsilon: f64) -> Normalized {
    let (values, rows, width) = f32_matrix(x);
    assert!(
        width > 0 && gamma.len() == width && beta.len() == width,
        "{OPERATION}: rows of {width} need γ and β of as many elements, got {} and {}",
        gamma.len(),
        beta.len()
    );
    let mut mean = vec![0.0; rows];
    let mut inv_std = vec![0.0; rows];
    let fill = |out: &mut [MaybeUninit<f32>]| {
        out.par_chunks_mut(BLOCK_ROWS * width)
            .zip(values.par_chunks(BLOCK_ROWS * width))
            .zip(mean.par_chunks_mut(BLOCK_ROWS))
            .zip(inv_std.par_chunks_mut(BLOCK_ROWS))
            .for_each(|(((out, x), mean), inv_std)| {
                vector::layer_norm_rows(x, gamma, beta, epsilon as f32, out, mean, inv_std)
            })
    };
    // SAFETY: `values` holds `rows` whole rows of `width`, so the blocks of `out`
    // pair up one to one with those of `values`, `mean` and `inv_std`, and
    // `layer_norm_rows` writes every element of each (or panics).
    let out = unsafe { written(values.len(), fill) };
    Normalized {
        out: FlexTensor::from_data(TensorData::new(out, [rows, width])),
        mean,
        inv_std,
    }
}

/// What the backward step needs.
#[derive(Clone, Debug)]
struct State {
    /// `[rows, width]`, contiguous.
    x: FlexTensor,
    /// `[rows]` each.
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    /// `[width]`.
    gamma: Vec<f32>,
}

#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    type State = State;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent_x, parent_gamma, parent_beta] = ops.parents;
        let d_out = grads.consume::<Flex>(&ops.node).to_contiguous();
        let state = ops.state;
        let (x, rows, width) = f32_matrix(&state.x);
        let dy = f32_values(&d_out);
        assert!(dy.len() == x.len() && x.len() == rows * width);
        let blocks = rows.div_ceil(BLOCK_ROWS);
        // Per block: dγ and dβ of its rows, side by side ([blocks, 2·width]).
        let mut partial = vec![0.0f32; blocks * 2 * width];
        let fill = |dx: &mut [MaybeUninit<f32>]| {
            dx.par_chunks_mut(BLOCK_ROWS * width)
                .zip(x.par_chunks(BLOCK_ROWS * width))
                .zip(dy.par_chunks(BLOCK_ROWS * width))
                .zip(state.mean.par_chunks(BLOCK_ROWS))
                .zip(state.inv_std.par_chunks(BLOCK_ROWS))
                .zip(partial.par_chunks_mut(2 * width))
                .for_each(|(((((dx, x), dy), mean), inv_std), partial)| {
                    let (d_gamma, d_beta) = partial.split_at_mut(width);
                    vector::layer_norm_backward_rows(
                        x,
                        dy,
                        &state.gamma,
                        mean,
                        inv_std,
                        dx,
                        d_gamma,
                        d_beta,
                    )
                })
        };
        // SAFETY: `x` and `dy` hold the same `rows` whole rows of `width`, so the
        // blocks of `dx` pair up one to one with theirs and with those of the
        // statistics, and `layer_norm_backward_rows` writes every element of each.
        let dx = unsafe { written(x.len(), fill) };
        let summed = |offset: usize| {
            let mut total = vec![0.0f64; width];
            for block in partial.chunks_exact(2 * width) {
                for (total, &value) in total.iter_mut().zip(&block[offset..offset + width]) {
                    *total += f64::from(value);
                }
            }
            let total: Vec<f32> = total.into_iter().map(|v| v as f32).collect();
            FlexTensor::from_data(TensorData::new(total, [width]))
        };
        if let Some(parent) = parent_gamma {
            grads.register::<Flex>(parent.id, summed(0));
        }
        if let Some(parent) = parent_beta {
            grads.register::<Flex>(parent.id, summed(width));
        }
        if let Some(parent) = parent_x {
            let dx = FlexTensor::from_data(TensorData::new(dx, [rows, width]));
            grads.register::<Flex>(parent.id, dx);
        }
    }
}
