//! Activations with vectorized CPU kernels on burn's Flex backend: sigmoid, SiLU,
//! ReLU and GELU for training and inference (with their own backward under
//! autodiff); burn's own elsewhere.

use burn::tensor::{activation, backend::Backend, Tensor};

use crate::cpu::{
    activation_op::{self, Activation},
    by_backend,
};

/// `σ(x) = 1 / (1 + e⁻ˣ)` element-wise; any shape. On Flex and `Autodiff<Flex>`
/// (`f32`) a vectorized kernel (within 1e-6 of burn's), elsewhere burn's `sigmoid`.
pub fn sigmoid<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    by_backend(
        x,
        |x| activation_op::training(Activation::Sigmoid, x),
        |x| activation_op::inference(Activation::Sigmoid, x),
        activation::sigmoid,
    )
}

/// SiLU, `x·σ(x)`, element-wise; any shape. On Flex and `Autodiff<Flex>` (`f32`) a
/// vectorized kernel, elsewhere burn's `silu`.
pub fn silu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    by_backend(
        x,
        |x| activation_op::training(Activation::Silu, x),
        |x| activation_op::inference(Activation::Silu, x),
        activation::silu,
    )
}

/// ReLU, `max(x, 0)`, element-wise; any shape. On Flex and `Autodiff<Flex>`
/// (`f32`) one pass forward and one backward (burn's backward builds a mask
/// first), elsewhere burn's `relu`.
pub fn relu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    by_backend(
        x,
        |x| activation_op::training(Activation::Relu, x),
        |x| activation_op::inference(Activation::Relu, x),
        activation::relu,
    )
}

/// The exact (erf) GELU, `x·Φ(x)`, element-wise; any shape. On Flex and
/// `Autodiff<Flex>` (`f32`) a vectorized kernel in place of burn's
/// element-by-element `erf` (within 2e-7 absolute of the f64 definition), with its
/// own backward; elsewhere burn's `gelu`.
pub fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    by_backend(
        x,
        |x| activation_op::training(Activation::Gelu, x),
        |x| activation_op::inference(Activation::Gelu, x),
        activation::gelu,
    )
}

#[cfg(test)]
mod tests {
    use burn::{
        backend::{Autodiff, Flex},
        tensor::{Distribution, Tolerance},
    };

    use super::*;

    #[test]
    fn flex_gelu_matches_burns_on_strided_and_shared_tensors() {
        let device = Default::default();
        let x = Tensor::<Flex, 3>::random([3, 17, 40], Distribution::Normal(0.0, 3.0), &device);
        let expected = activation::gelu(x.clone()).into_data();
        // A transposed view (not contiguous) while `x` itself stays shared.
        let transposed = gelu(x.clone().swap_dims(1, 2)).swap_dims(1, 2);
        transposed
            .into_data()
            .assert_approx_eq::<f32>(&expected, Tolerance::absolute(1e-6));
        gelu(x.clone())
            .into_data()
            .assert_approx_eq::<f32>(&expected, Tolerance::absolute(1e-6));
        // The shared input was left as it was.
        activation::gelu(x)
            .into_data()
            .assert_approx_eq::<f32>(&expected, Tolerance::absolute(0.0));
    }

    /// Values and gradients against burn's on the same inputs, a transposed view
    /// among them; 1001 elements (a remainder after the vector lanes).
    #[test]
    fn sigmoid_silu_relu_and_gelu_match_burns_with_gradients() {
        type Training = Autodiff<Flex>;
        let device = Default::default();
        let x = Tensor::<Training, 2>::random([7, 143], Distribution::Normal(0.0, 6.0), &device);
        let weight =
            Tensor::<Training, 2>::random([143, 7], Distribution::Uniform(-1.0, 1.0), &device);
        let ours: [fn(Tensor<Training, 2>) -> Tensor<Training, 2>; 4] = [sigmoid, silu, relu, gelu];
        let burns: [fn(Tensor<Training, 2>) -> Tensor<Training, 2>; 4] = [
            activation::sigmoid,
            activation::silu,
            activation::relu,
            activation::gelu,
        ];
        for (ours, burns) in ours.into_iter().zip(burns) {
            let run = |f: fn(Tensor<Training, 2>) -> Tensor<Training, 2>| {
                let input = x.clone().detach().require_grad();
                let out = f(input.clone().transpose());
                let grads = (out.clone() * weight.clone()).sum().backward();
                (
                    out.into_data(),
                    input.grad(&grads).expect("gradient").into_data(),
                )
            };
            let ((out, grad), (expected_out, expected_grad)) = (run(ours), run(burns));
            out.assert_approx_eq::<f32>(&expected_out, Tolerance::absolute(1e-5));
            grad.assert_approx_eq::<f32>(&expected_grad, Tolerance::absolute(1e-5));
        }
        let inference = x.inner();
        sigmoid(inference.clone())
            .into_data()
            .assert_approx_eq::<f32>(
                &activation::sigmoid(inference.clone()).into_data(),
                Tolerance::absolute(1e-6),
            );
        silu(inference.clone()).into_data().assert_approx_eq::<f32>(
            &activation::silu(inference.clone()).into_data(),
            Tolerance::absolute(1e-5),
        );
        relu(inference.clone()).into_data().assert_approx_eq::<f32>(
            &activation::relu(inference).into_data(),
            Tolerance::absolute(0.0),
        );
    }
}
