//! Matrix products and linear layers on 2-D tensors. On burn's CPU backend (Flex,
//! with or without autodiff, `f32`) the product writes straight into its output
//! (burn's own allocates it twice and copies it once) and back-propagates with a
//! step of its own; elsewhere burn's `matmul`.

use burn::{
    backend::{Autodiff, Flex},
    nn::Linear,
    tensor::{backend::Backend, DType, Tensor},
};

use crate::cpu::{as_backend, matmul_op, same_type};

/// `a·b`: `a` `[n, k]`, `b` `[k, m]` → `[n, m]`, any layouts.
pub fn matmul<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 2> {
    if a.dtype() != DType::F32 || b.dtype() != DType::F32 {
        return a.matmul(b);
    }
    // `b` has `a`'s backend B: `a`'s type stands for both.
    let a = match same_type::<_, Tensor<Autodiff<Flex>, 2>>(a) {
        Ok(a) => return as_backend(matmul_op::training(a, as_backend(b))),
        Err(a) => a,
    };
    match same_type::<_, Tensor<Flex, 2>>(a) {
        Ok(a) => as_backend(matmul_op::inference(a, as_backend(b))),
        Err(a) => a.matmul(b),
    }
}

/// `a·bᵀ`: `a` `[n, k]`, `b` `[m, k]` → `[n, m]`, `b` read transposed where it
/// lies (on Flex, neither the operand nor its gradient is copied to transpose it).
pub fn matmul_transposed<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 2> {
    if a.dtype() != DType::F32 || b.dtype() != DType::F32 {
        return a.matmul(b.transpose());
    }
    // `b` has `a`'s backend B: `a`'s type stands for both.
    let a = match same_type::<_, Tensor<Autodiff<Flex>, 2>>(a) {
        Ok(a) => return as_backend(matmul_op::training_transposed(a, as_backend(b))),
        Err(a) => a,
    };
    match same_type::<_, Tensor<Flex, 2>>(a) {
        Ok(a) => as_backend(matmul_op::inference_transposed(a, as_backend(b))),
        Err(a) => a.matmul(b.transpose()),
    }
}

/// `layer` on the last dimension: `x` `[…, d_input]` → `x·W + b` `[…, d_output]`
/// (any rank ≥ 1: the leading dimensions are rows of one product), the same as
/// `layer.forward(x)` with the product through [`matmul`].
pub fn linear<B: Backend, const D: usize>(layer: &Linear<B>, x: Tensor<B, D>) -> Tensor<B, D> {
    let mut dims = x.dims();
    let [d_input, d_output] = layer.weight.dims();
    let rows = dims[..D - 1].iter().product();
    let product = matmul(x.reshape([rows, d_input]), layer.weight.val());
    let out = match &layer.bias {
        Some(bias) => product + bias.val().unsqueeze_dim(0),
        None => product,
    };
    dims[D - 1] = d_output;
    out.reshape(dims)
}

#[cfg(test)]
mod tests {
    use burn::{
        nn::LinearConfig,
        tensor::{Distribution, Tolerance},
    };

    use super::*;

    type Cpu = Autodiff<Flex>;

    /// Values and both gradients against burn's `matmul`, for plain and transposed
    /// (strided) operands, below and above the size products go parallel at.
    #[test]
    fn matches_burn_in_values_and_gradients() {
        let device = Default::default();
        // (1, 700, 9) and (9, 1100, 1): the vector paths, inner dimensions past one
        // depth block; (40, 600, 30): several depth blocks of the blocked kernel.
        for (n, k, m, transposed) in [
            (7, 5, 3, false),
            (300, 200, 150, false),
            (64, 33, 17, true),
            (1, 700, 9, false),
            (9, 1100, 1, false),
            (40, 600, 30, false),
        ] {
            // entries of `a·b` of unit size whatever `k`, so one tolerance serves all
            let scale = (1.0 / k as f64).sqrt();
            let a = Tensor::<Cpu, 2>::random([n, k], Distribution::Normal(0.0, scale), &device);
            let b = Tensor::<Cpu, 2>::random([k, m], Distribution::Normal(0.0, 1.0), &device);
            let upstream =
                Tensor::<Cpu, 2>::random([n, m], Distribution::Normal(0.0, 1.0), &device);
            let leaves = |t: &Tensor<Cpu, 2>, transpose: bool| {
                let leaf = if transpose {
                    Tensor::<Cpu, 2>::from_data(t.clone().transpose().into_data(), &device)
                        .require_grad()
                } else {
                    Tensor::<Cpu, 2>::from_data(t.clone().into_data(), &device).require_grad()
                };
                let operand = if transpose {
                    leaf.clone().transpose()
                } else {
                    leaf.clone()
                };
                (leaf, operand)
            };
            let mut results = Vec::new();
            for ours in [true, false] {
                let (a_leaf, a_op) = leaves(&a, transposed);
                let (b_leaf, b_op) = leaves(&b, transposed);
                let y = if ours {
                    matmul(a_op, b_op)
                } else {
                    a_op.matmul(b_op)
                };
                let grads = (y.clone() * upstream.clone()).sum().backward();
                results.push((
                    y.into_data(),
                    a_leaf.grad(&grads).unwrap().into_data(),
                    b_leaf.grad(&grads).unwrap().into_data(),
                ));
            }
            let tolerance = Tolerance::<f32>::absolute(1e-4);
            let (ours, burns) = (&results[0], &results[1]);
            ours.0.assert_approx_eq::<f32>(&burns.0, tolerance);
            ours.1.assert_approx_eq::<f32>(&burns.1, tolerance);
            ours.2.assert_approx_eq::<f32>(&burns.2, tolerance);
        }
    }

    /// An empty inner dimension gives zeros, in values and gradients (the output is
    /// not zeroed before the product writes it).
    #[test]
    fn an_empty_inner_dimension_gives_zeros() {
        let device = Default::default();
        let a = Tensor::<Cpu, 2>::zeros([4, 0], &device).require_grad();
        let b = Tensor::<Cpu, 2>::zeros([0, 3], &device).require_grad();
        let y = matmul(a.clone(), b.clone());
        assert_eq!(y.dims(), [4, 3]);
        y.clone()
            .into_data()
            .assert_eq(&Tensor::<Cpu, 2>::zeros([4, 3], &device).into_data(), true);
        let grads = (y * Tensor::<Cpu, 2>::ones([4, 3], &device))
            .sum()
            .backward();
        assert_eq!(a.grad(&grads).map(|g| g.dims()), Some([4, 0]));
        assert_eq!(b.grad(&grads).map(|g| g.dims()), Some([0, 3]));
    }

    #[test]
    fn the_transposed_product_matches_burn_in_values_and_gradients() {
        let device = Default::default();
        let a = Tensor::<Cpu, 2>::random([37, 21], Distribution::Normal(0.0, 1.0), &device);
        let b = Tensor::<Cpu, 2>::random([15, 21], Distribution::Normal(0.0, 1.0), &device);
        let upstream = Tensor::<Cpu, 2>::random([37, 15], Distribution::Normal(0.0, 1.0), &device);
        let run = |ours: bool| {
            let (a, b) = (a.clone().require_grad(), b.clone().require_grad());
            let y = if ours {
                matmul_transposed(a.clone(), b.clone())
            } else {
                a.clone().matmul(b.clone().transpose())
            };
            let grads = (y.clone() * upstream.clone()).sum().backward();
            let (d_a, d_b) = (a.grad(&grads).unwrap(), b.grad(&grads).unwrap());
            (y.into_data(), d_a.into_data(), d_b.into_data())
        };
        let (ours, burns) = (run(true), run(false));
        let tolerance = Tolerance::<f32>::absolute(1e-4);
        ours.0.assert_approx_eq::<f32>(&burns.0, tolerance);
        ours.1.assert_approx_eq::<f32>(&burns.1, tolerance);
        ours.2.assert_approx_eq::<f32>(&burns.2, tolerance);
        let inference = matmul_transposed(a.inner(), b.inner());
        inference
            .into_data()
            .assert_approx_eq::<f32>(&ours.0, tolerance);
    }

    #[test]
    fn linear_matches_the_layer_on_flex() {
        let device = Default::default();
        let layer = LinearConfig::new(12, 5).init::<Flex>(&device);
        let x = Tensor::<Flex, 2>::random([9, 12], Distribution::Normal(0.0, 1.0), &device);
        linear(&layer, x.clone())
            .into_data()
            .assert_approx_eq::<f32>(&layer.forward(x).into_data(), Tolerance::absolute(1e-5));
        // Three dimensions, one of them a transposed view; and no bias.
        let x = Tensor::<Flex, 3>::random([4, 12, 3], Distribution::Normal(0.0, 1.0), &device)
            .swap_dims(1, 2);
        linear(&layer, x.clone())
            .into_data()
            .assert_approx_eq::<f32>(
                &layer.forward(x.clone()).into_data(),
                Tolerance::absolute(1e-5),
            );
        let unbiased = LinearConfig::new(12, 5)
            .with_bias(false)
            .init::<Flex>(&device);
        linear(&unbiased, x.clone())
            .into_data()
            .assert_approx_eq::<f32>(&unbiased.forward(x).into_data(), Tolerance::absolute(1e-5));
    }
}
