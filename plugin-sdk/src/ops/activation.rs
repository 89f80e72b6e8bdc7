//! Activations with vectorized CPU kernels on burn's Flex backend: sigmoid, SiLU,
//! ReLU and GELU for training and inference (with their own backward under
//! autodiff); burn's own elsewhere. Softplus without overflow on any backend.

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

/// `β·x` above which [`softplus`] is `x` itself: there `ln(1 + e^{βx})` and `βx`
/// are the same `f32` (they differ by less than `e^{−βx}`, and the f32 spacing at
/// 80 is 8e-6), while `e^{βx}` overflows `f32` past 88.7.
const SOFTPLUS_LINEAR_ABOVE: f64 = 80.0;

/// Softplus, `ln(1 + e^{βx}) / β`, element-wise; any shape, any backend. Burn's
/// `softplus` computes `e^{βx}` as it stands, which is infinite for `βx > 88.7` in
/// `f32` and turns the value into `inf` and its gradient into NaN; here such
/// elements are `x` with gradient 1. Below that the operations and their order
/// are burn's, so values and gradients are the same bits.
pub fn softplus<B: Backend, const D: usize>(x: Tensor<B, D>, beta: f64) -> Tensor<B, D> {
    let scaled = x.mul_scalar(beta);
    let linear = scaled.clone().greater_elem(SOFTPLUS_LINEAR_ABOVE);
    let curved = (scaled.clone().clamp_max(SOFTPLUS_LINEAR_ABOVE).exp() + 1).log();
    curved.mask_where(linear, scaled).div_scalar(beta)
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

    /// Where burn's softplus is finite, the same bits in value and gradient; past
    /// e^x's range `x` with gradient 1 where burn's gives inf and NaN.
    #[test]
    fn softplus_is_burns_where_finite_and_linear_past_the_overflow() {
        type Training = Autodiff<Flex>;
        let device = Default::default();
        let run = |f: fn(Tensor<Training, 1>, f64) -> Tensor<Training, 1>, values: &[f32]| {
            let input = Tensor::<Training, 1>::from_floats(values, &device).require_grad();
            let out = f(input.clone(), 2.0);
            let grads = out.clone().sum().backward();
            let grad = input.grad(&grads).expect("gradient").into_data();
            (
                out.into_data().to_vec::<f32>().expect("f32"),
                grad.to_vec::<f32>().expect("f32"),
            )
        };
        let finite: Vec<f32> = (-400..=400).map(|i| i as f32 * 0.1).collect();
        assert_eq!(run(softplus, &finite), run(activation::softplus, &finite));

        let (values, grads) = run(softplus, &[45.0, 100.0, 1e6]);
        assert_eq!(values, [45.0, 100.0, 1e6]);
        assert_eq!(grads, [1.0, 1.0, 1.0]);
        let (burn_values, burn_grads) = run(activation::softplus, &[100.0]);
        assert!(burn_values[0].is_infinite() && burn_grads[0].is_nan());
    }
}
