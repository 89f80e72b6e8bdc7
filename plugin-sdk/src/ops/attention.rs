//! Multi-head scaled dot-product self-attention (the DOS transformer's, BERT's). On
//! burn's CPU backend (Flex, with or without autodiff) it runs a fused kernel that
//! never materializes the `[batch, heads, tokens, tokens]` scores; on other backends
//! (CUDA) it is composed of burn's tensor operations ([`decomposed`]), the same
//! computation the fused kernel is tested against.

use burn::{prelude::*, tensor::activation::softmax};

use crate::cpu::{attention_op as fused, by_backend};

/// `softmax(q·kᵀ/√head_dim)·v` for each head: `qkv` `[batch, tokens,
/// 3·heads·head_dim]` (queries, keys, values; head `h` in columns `h·head_dim..` of
/// each third) → `[batch, tokens, heads·head_dim]`, the heads concatenated.
pub fn self_attention<B: Backend>(
    qkv: Tensor<B, 3>,
    heads: usize,
    head_dim: usize,
) -> Tensor<B, 3> {
    by_backend(
        qkv,
        |qkv| fused::training(qkv, heads, head_dim),
        |qkv| fused::inference(qkv, heads, head_dim),
        |qkv| decomposed(qkv, heads, head_dim),
    )
}

/// `self_attention` from burn's tensor operations, materializing the scores
/// `[batch, heads, tokens, tokens]` (what burn's autodiff then keeps for backward).
pub fn decomposed<B: Backend>(qkv: Tensor<B, 3>, heads: usize, head_dim: usize) -> Tensor<B, 3> {
    let [batch, tokens, _] = qkv.dims();
    let split = |t: Tensor<B, 3>| {
        t.reshape([batch, tokens, heads, head_dim]).swap_dims(1, 2) // [batch, heads, tokens, head_dim]
    };
    let mut parts = qkv.chunk(3, 2).into_iter().map(split);
    let (q, k, v) = match (parts.next(), parts.next(), parts.next()) {
        (Some(q), Some(k), Some(v)) => (q, k, v),
        _ => unreachable!("chunk(3) yields three tensors"),
    };
    // Scaling q rather than the scores: the same product, on a tensor `tokens /
    // head_dim` times smaller than the score matrix.
    let scale = (head_dim as f64).powf(-0.5);
    let scores = q.mul_scalar(scale).matmul(k.swap_dims(2, 3)); // [batch, heads, tokens, tokens]
    let mixed = softmax(scores, 3).matmul(v); // [batch, heads, tokens, head_dim]
    mixed
        .swap_dims(1, 2)
        .reshape([batch, tokens, heads * head_dim])
}

#[cfg(test)]
mod tests {
    use burn::{
        backend::{Autodiff, Flex},
        tensor::{Distribution, TensorData, Tolerance},
    };

    use super::*;
    use crate::cpu::same_type;

    type Training = Autodiff<Flex>;

    fn random_qkv<B: Backend>(shape: [usize; 3], device: &B::Device) -> Tensor<B, 3> {
        B::seed(device, 3);
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
    }

    /// Fused against decomposed on the same inputs: output and d(qkv) after the
    /// same output gradient, 37 tokens (a remainder after the 8-lane vectors).
    fn compare(batch: usize, tokens: usize, heads: usize, head_dim: usize) {
        let device = Default::default();
        let qkv = random_qkv::<Training>([batch, tokens, 3 * heads * head_dim], &device);
        let weight = Tensor::<Training, 3>::random(
            [batch, tokens, heads * head_dim],
            Distribution::Uniform(-1.0, 1.0),
            &device,
        );
        let run = |fused: bool| -> (TensorData, TensorData) {
            let input = qkv.clone().detach().require_grad();
            let out = if fused {
                fused::training(input.clone(), heads, head_dim)
            } else {
                decomposed(input.clone(), heads, head_dim)
            };
            let grads = (out.clone() * weight.clone()).sum().backward();
            let grad = input.grad(&grads).expect("qkv gradient");
            (out.into_data(), grad.into_data())
        };
        let (out, grad) = run(true);
        let (expected_out, expected_grad) = run(false);
        out.assert_approx_eq::<f32>(&expected_out, Tolerance::absolute(1e-5));
        grad.assert_approx_eq::<f32>(&expected_grad, Tolerance::absolute(1e-4));
    }

    #[test]
    fn fused_attention_matches_the_decomposed_one_with_gradients() {
        compare(3, 37, 2, 16);
        compare(2, 9, 8, 64);
    }

    #[test]
    fn inference_backend_uses_the_same_attention() {
        let device = Default::default();
        let qkv = random_qkv::<Flex>([2, 21, 3 * 4 * 8], &device);
        fused::inference(qkv.clone(), 4, 8)
            .into_data()
            .assert_approx_eq::<f32>(
                &decomposed(qkv, 4, 8).into_data(),
                Tolerance::absolute(1e-5),
            );
    }

    #[test]
    fn cpu_backends_are_recognized_by_type() {
        let device = Default::default();
        let training = random_qkv::<Training>([1, 2, 3], &device);
        assert!(same_type::<_, Tensor<Training, 3>>(training.clone()).is_ok());
        assert!(same_type::<_, Tensor<Flex, 3>>(training).is_err());
        let inference = random_qkv::<Flex>([1, 2, 3], &device);
        assert!(same_type::<_, Tensor<Flex, 3>>(inference).is_ok());
    }

    #[test]
    fn untracked_training_tensors_take_the_fused_path_without_a_graph() {
        let device = Default::default();
        let qkv = random_qkv::<Training>([1, 5, 3 * 2 * 4], &device);
        let out = fused::training(qkv.clone(), 2, 4);
        assert!(!out.is_require_grad());
        out.into_data().assert_approx_eq::<f32>(
            &decomposed(qkv, 2, 4).into_data(),
            Tolerance::absolute(1e-5),
        );
    }
}
