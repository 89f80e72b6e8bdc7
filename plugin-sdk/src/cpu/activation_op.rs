//! Sigmoid, SiLU, ReLU and GELU as burn operations on Flex, element-wise with the
//! vectorized kernels of `vector`, in parallel over chunks; on `Autodiff<Flex>`
//! with a backward step of their own: sigmoid keeps its output `s` (`dx =
//! dy·s·(1 − s)`), SiLU its input `x` and recomputes `s = σ(x)` (`dx = dy·(s +
//! x·s·(1 − s))`), ReLU its output `y` (`dx = dy` where `y > 0`, else 0), GELU its
//! input `x` (`dx = dy·(Φ(x) + x·φ(x))`).

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

use super::{contiguous_f32, f32_values, vector, written};

/// Names the operations in a dtype error.
const OPERATION: &str = "the fused activations";
/// Elements per parallel chunk.
const CHUNK: usize = 1 << 14;

/// Which activation.
#[derive(Clone, Copy, Debug)]
pub enum Activation {
    /// `σ(x) = 1 / (1 + e⁻ˣ)`.
    Sigmoid,
    /// `x·σ(x)`.
    Silu,
    /// `max(x, 0)`.
    Relu,
    /// `x·Φ(x)`, Φ the standard normal distribution (the exact, erf GELU).
    Gelu,
}

/// The activation of `x` (`f32`, any shape) on Flex.
pub fn inference<const D: usize>(kind: Activation, x: Tensor<Flex, D>) -> Tensor<Flex, D> {
    let x = contiguous_f32(&x.into_primitive().tensor(), OPERATION);
    Tensor::from_primitive(TensorPrimitive::Float(apply(kind, &x)))
}

/// The activation of `x` (`f32`, any shape) on `Autodiff<Flex>`, differentiable.
pub fn training<const D: usize>(
    kind: Activation,
    x: Tensor<Autodiff<Flex>, D>,
) -> Tensor<Autodiff<Flex>, D> {
    let input = x.into_primitive().tensor();
    let x = contiguous_f32(&input.primitive, OPERATION);
    let out = apply(kind, &x);
    let output = match (ActivationBackward { kind })
        .prepare::<NoCheckpointing>([input.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            // Sigmoid's and ReLU's backward need their output, SiLU's and GELU's
            // their input.
            let saved = match kind {
                Activation::Sigmoid | Activation::Relu => out.clone(),
                Activation::Silu | Activation::Gelu => x,
            };
            prep.finish(saved, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// A new tensor of `x`'s shape holding the activation of each element.
fn apply(kind: Activation, x: &FlexTensor) -> FlexTensor {
    let input = f32_values(x);
    let fill = |out: &mut [MaybeUninit<f32>]| {
        out.par_chunks_mut(CHUNK)
            .zip(input.par_chunks(CHUNK))
            .for_each(|(out, input)| match kind {
                Activation::Sigmoid => vector::sigmoid(input, out),
                Activation::Silu => vector::silu(input, out),
                Activation::Relu => vector::relu(input, out),
                Activation::Gelu => vector::gelu(input, out),
            })
    };
    // SAFETY: the chunks of `out` and `input` pair up one to one, equally long, and
    // each kernel writes all of its chunk (or panics).
    let out = unsafe { written(input.len(), fill) };
    FlexTensor::from_data(TensorData::new(out, x.layout().shape().clone()))
}

#[derive(Debug)]
struct ActivationBackward {
    kind: Activation,
}

impl Backward<Flex, 1> for ActivationBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<FlexTensor, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let d_out = grads.consume::<Flex>(&ops.node).to_contiguous();
        let Some(parent) = parent else { return };
        let saved = ops.state;
        let (saved_values, d_out_values) = (f32_values(&saved), f32_values(&d_out));
        assert_eq!(saved_values.len(), d_out_values.len());
        let fill = |d_x: &mut [MaybeUninit<f32>]| {
            d_x.par_chunks_mut(CHUNK)
                .zip(saved_values.par_chunks(CHUNK))
                .zip(d_out_values.par_chunks(CHUNK))
                .for_each(|((d_x, saved), d_out)| match self.kind {
                    Activation::Sigmoid => vector::sigmoid_backward(saved, d_out, d_x),
                    Activation::Silu => vector::silu_backward(saved, d_out, d_x),
                    Activation::Relu => vector::relu_backward(saved, d_out, d_x),
                    Activation::Gelu => vector::gelu_backward(saved, d_out, d_x),
                })
        };
        // SAFETY: the chunks of `d_x`, `saved` and `d_out` pair up one to one, equally
        // long, and each kernel writes all of its chunk (or panics).
        let d_x = unsafe { written(saved_values.len(), fill) };
        let d_x = FlexTensor::from_data(TensorData::new(d_x, saved.layout().shape().clone()));
        grads.register::<Flex>(parent.id, d_x);
    }
}
