//! Activations with a vectorized CPU kernel for inference on burn's Flex backend.

use burn::{
    backend::Flex,
    tensor::{activation, backend::Backend, DType, Tensor, TensorPrimitive},
};

use crate::cpu::{as_backend, same_type, vector};

/// The exact (erf) GELU, `x·Φ(x)`, element-wise; any shape. On Flex (inference,
/// `f32`) a vectorized kernel in place of burn's element-by-element `erf`
/// (within 2e-7 absolute of the f64 definition); elsewhere, including under
/// autodiff, burn's own `gelu`.
pub fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    if x.dtype() != DType::F32 {
        return activation::gelu(x);
    }
    match same_type::<_, Tensor<Flex, D>>(x) {
        Ok(cpu) => as_backend(gelu_flex(cpu)),
        Err(other) => activation::gelu(other),
    }
}

fn gelu_flex<const D: usize>(x: Tensor<Flex, D>) -> Tensor<Flex, D> {
    // Contiguous and covering its whole buffer (copied first if not, or if shared).
    let mut values = x.into_primitive().tensor().to_contiguous();
    vector::gelu_in_place(values.storage_mut::<f32>());
    Tensor::from_primitive(TensorPrimitive::Float(values))
}

#[cfg(test)]
mod tests {
    use burn::{
        backend::Autodiff,
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

    #[test]
    fn autodiff_tensors_keep_burns_differentiable_gelu() {
        let device = Default::default();
        let x = Tensor::<Autodiff<Flex>, 1>::from_floats([-1.0, 0.5, 2.0], &device).require_grad();
        let grads = gelu(x.clone()).sum().backward();
        assert!(x.grad(&grads).is_some());
    }
}
