//! Batch normalization of `[rows, channels]` in training. On `Autodiff<Flex>`
//! (`f32`) a fused operation (statistics in one pass, output in another, a backward
//! of its own), elsewhere composed of burn's operations; the running statistics
//! move as burn's `BatchNorm` moves them, and without autodiff they normalize as
//! one scale and shift per channel. Layer normalization over the last dimension,
//! fused on Flex and `Autodiff<Flex>` (`f32`; its own backward there), burn's
//! elsewhere.

use burn::{
    backend::{Autodiff, Flex},
    module::RunningState,
    nn::BatchNorm,
    tensor::{backend::Backend, DType, Tensor, TensorPrimitive},
};

use crate::cpu::{as_backend, batch_norm_op, layer_norm_op, same_type};

/// The outcome of [`normalize_batch`].
pub struct BatchNormalized<B: Backend> {
    /// `[rows, channels]`
    pub output: Tensor<B, 2>,
    /// `[channels]`: the batch's mean, without gradient.
    pub mean: Tensor<B, 1>,
    /// `[channels]`: the batch's biased variance, without gradient.
    pub variance: Tensor<B, 1>,
}

/// `(x − mean)/√(var + ε)·γ + β` with the statistics of the batch `x` `[rows,
/// channels]` (biased variance), `gamma`, `beta` `[channels]`: batch normalization
/// in training, without the running statistics (see [`batch_norm`]).
pub fn normalize_batch<B: Backend>(
    x: Tensor<B, 2>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    epsilon: f64,
) -> BatchNormalized<B> {
    if x.dtype() == DType::F32 {
        if let Ok(x) = same_type::<_, Tensor<Autodiff<Flex>, 2>>(x.clone()) {
            // the parameters have the input's backend B
            let fused = batch_norm_op::training(x, as_backend(gamma), as_backend(beta), epsilon);
            return BatchNormalized {
                output: as_backend(fused.output),
                mean: as_backend(fused.mean),
                variance: as_backend(fused.variance),
            };
        }
    }
    let channels = x.dims()[1];
    let mean = x.clone().mean_dim(0); // [1, channels]
    let centered = x - mean.clone();
    let variance = centered.clone().square().mean_dim(0); // [1, channels]
    let scale = gamma
        / variance
            .clone()
            .reshape([channels])
            .add_scalar(epsilon)
            .sqrt();
    BatchNormalized {
        output: centered * scale.reshape([1, channels]) + beta.reshape([1, channels]),
        mean: mean.reshape([channels]).detach(),
        variance: variance.reshape([channels]).detach(),
    }
}

/// Moves a running statistic towards a batch's: `running·(1 − momentum) +
/// batch·momentum`, as burn's `BatchNorm` does.
pub fn update_running<B: Backend>(
    running: &RunningState<Tensor<B, 1>>,
    batch: Tensor<B, 1>,
    momentum: f64,
) {
    let old = running.value_sync().to_device(&batch.device());
    running.update(
        old.mul_scalar(1.0 - momentum)
            .add(batch.detach().mul_scalar(momentum))
            .detach(),
    );
}

/// `norm.forward(x)` for `x` `[rows, channels]`: with autodiff, the batch's mean and
/// biased variance normalize `x` ([`normalize_batch`]) and move the running
/// statistics by `momentum`; without, the running statistics do, folded into one
/// scale and one shift per channel (two passes over `x` where burn's `BatchNorm`
/// makes four).
pub fn batch_norm<B: Backend>(norm: &BatchNorm<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    if !B::ad_enabled(&x.device()) {
        let scale = norm.gamma.val() / norm.running_var.value().add_scalar(norm.epsilon).sqrt();
        let shift = norm.beta.val() - norm.running_mean.value() * scale.clone();
        return x * scale.unsqueeze_dim(0) + shift.unsqueeze_dim(0);
    }
    let batch = normalize_batch(x, norm.gamma.val(), norm.beta.val(), norm.epsilon);
    update_running(&norm.running_mean, batch.mean, norm.momentum);
    update_running(&norm.running_var, batch.variance, norm.momentum);
    batch.output
}

/// `(x − mean)/√(var + ε)·γ + β` over the last dimension of `x` `[…, width]` (each
/// row's mean and biased variance), `gamma` and `beta` `[width]`: what burn's
/// `LayerNorm` with this `epsilon` computes. On Flex and `Autodiff<Flex>` (`f32`,
/// with β) one fused operation (with its own backward under autodiff); elsewhere
/// burn's layer norm.
pub fn layer_norm<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    gamma: Tensor<B, 1>,
    beta: Option<Tensor<B, 1>>,
    epsilon: f64,
) -> Tensor<B, D> {
    let (x, beta) = match beta {
        Some(beta)
            if [x.dtype(), gamma.dtype(), beta.dtype()] == [DType::F32; 3]
                && x.dims()[D - 1] > 0 =>
        {
            let dims = x.dims();
            let width = dims[D - 1];
            let rows = dims[..D - 1].iter().product();
            // the parameters have the input's backend B
            let x = match same_type::<_, Tensor<Autodiff<Flex>, D>>(x) {
                Ok(x) => {
                    let (gamma, beta) = (as_backend(gamma), as_backend(beta));
                    let out =
                        layer_norm_op::training(x.reshape([rows, width]), gamma, beta, epsilon);
                    return as_backend(out.reshape(dims));
                }
                Err(x) => x,
            };
            match same_type::<_, Tensor<Flex, D>>(x) {
                Ok(x) => {
                    let (gamma, beta) = (as_backend(gamma), as_backend(beta));
                    let out =
                        layer_norm_op::inference(x.reshape([rows, width]), gamma, beta, epsilon);
                    return as_backend(out.reshape(dims));
                }
                Err(x) => (x, Some(beta)),
            }
        }
        beta => (x, beta),
    };
    Tensor::from_primitive(TensorPrimitive::Float(B::layer_norm(
        x.into_primitive().tensor(),
        gamma.into_primitive().tensor(),
        beta.map(|beta| beta.into_primitive().tensor()),
        epsilon,
    )))
}

#[cfg(test)]
mod tests {
    use burn::{
        module::{AutodiffModule, Param, RunningState},
        nn::{BatchNormConfig, LayerNormConfig},
        tensor::{Distribution, TensorData, Tolerance},
    };

    use super::*;

    type Cpu = Autodiff<Flex>;

    /// Output, gradients of input, γ and β, and the running statistics against
    /// burn's `BatchNorm` in training, on more rows than one parallel block.
    #[test]
    fn matches_burns_batch_norm() {
        let device = Default::default();
        let (rows, channels) = (1300, 24);
        let x = Tensor::<Cpu, 2>::random([rows, channels], Distribution::Normal(3.0, 2.0), &device);
        let upstream =
            Tensor::<Cpu, 2>::random([rows, channels], Distribution::Normal(0.0, 1.0), &device);
        let mut results = Vec::new();
        for ours in [true, false] {
            let mut norm = BatchNormConfig::new(channels).init::<Cpu>(&device);
            let values = |offset: f32| {
                let values: Vec<f32> = (0..channels).map(|c| offset + c as f32 / 10.0).collect();
                Tensor::<Cpu, 1>::from_data(TensorData::new(values, [channels]), &device)
            };
            norm.gamma = Param::from_tensor(values(0.5));
            norm.beta = Param::from_tensor(values(-1.0));
            let input = Tensor::<Cpu, 2>::from_data(x.clone().into_data(), &device).require_grad();
            // A transposed view, as products leave them.
            let operand = input.clone().transpose().transpose();
            let y = if ours {
                batch_norm(&norm, operand)
            } else {
                norm.forward(operand)
            };
            let grads = (y.clone() * upstream.clone()).sum().backward();
            results.push([
                y.into_data(),
                input.grad(&grads).unwrap().into_data(),
                norm.gamma.grad(&grads).unwrap().into_data(),
                norm.beta.grad(&grads).unwrap().into_data(),
                norm.running_mean.value().into_data(),
                norm.running_var.value().into_data(),
            ]);
        }
        for (ours, burns) in results[0].iter().zip(&results[1]) {
            ours.assert_approx_eq::<f32>(burns, Tolerance::absolute(2e-4));
        }
    }

    /// Without autodiff (evaluation), burn's inference with the running statistics.
    #[test]
    fn without_autodiff_it_matches_burns_inference() {
        let device = Default::default();
        let mut norm = BatchNormConfig::new(6).init::<Flex>(&device);
        let values = |offset: f32| {
            let values: Vec<f32> = (0..6).map(|c| offset + c as f32 / 4.0).collect();
            Tensor::<Flex, 1>::from_data(TensorData::new(values, [6]), &device)
        };
        norm.gamma = Param::from_tensor(values(0.5));
        norm.beta = Param::from_tensor(values(-1.0));
        norm.running_mean = RunningState::new(values(2.0));
        norm.running_var = RunningState::new(values(0.3));
        let x = Tensor::<Flex, 2>::random([10, 6], Distribution::Normal(2.0, 1.0), &device);
        batch_norm(&norm, x.clone())
            .into_data()
            .assert_approx_eq::<f32>(&norm.forward(x).into_data(), Tolerance::absolute(1e-5));
    }

    /// Output and the gradients of input, γ and β against burn's `LayerNorm`, on a
    /// 3-D transposed view with more rows than one parallel block and a width that
    /// is not a multiple of the vector lanes; and burn's without autodiff.
    #[test]
    fn layer_norm_matches_burns() {
        let device = Default::default();
        let (batch, tokens, width) = (3, 190, 37);
        let epsilon = 1e-5;
        let x = Tensor::<Cpu, 3>::random(
            [batch, width, tokens],
            Distribution::Normal(3.0, 2.0),
            &device,
        );
        let upstream = Tensor::<Cpu, 3>::random(
            [batch, tokens, width],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let mut norm = LayerNormConfig::new(width)
            .with_epsilon(epsilon)
            .init::<Cpu>(&device);
        let values = |offset: f32| {
            let values: Vec<f32> = (0..width).map(|c| offset + c as f32 / 10.0).collect();
            Tensor::<Cpu, 1>::from_data(TensorData::new(values, [width]), &device)
        };
        norm.gamma = Param::from_tensor(values(0.5));
        norm.beta = Some(Param::from_tensor(values(-1.0)));
        let mut results = Vec::new();
        for ours in [true, false] {
            let input = Tensor::<Cpu, 3>::from_data(x.clone().into_data(), &device).require_grad();
            let operand = input.clone().swap_dims(1, 2);
            let y = if ours {
                let beta = norm.beta.as_ref().map(|beta| beta.val());
                layer_norm(operand, norm.gamma.val(), beta, epsilon)
            } else {
                norm.forward(operand)
            };
            let grads = (y.clone() * upstream.clone()).sum().backward();
            let beta = norm.beta.as_ref().expect("β");
            results.push([
                y.into_data(),
                input.grad(&grads).unwrap().into_data(),
                norm.gamma.grad(&grads).unwrap().into_data(),
                beta.grad(&grads).unwrap().into_data(),
            ]);
        }
        for (ours, burns) in results[0].iter().zip(&results[1]) {
            ours.assert_approx_eq::<f32>(burns, Tolerance::absolute(2e-4));
        }
        let inference = x.inner().swap_dims(1, 2);
        let norm = norm.valid();
        let beta = norm.beta.as_ref().map(|beta| beta.val());
        // outputs reach |15| (random input, unseeded): 1e-5 absolute is some 10 ulps
        // there, so the bound is relative too (1e-6, 8 ulps)
        layer_norm(inference.clone(), norm.gamma.val(), beta, epsilon)
            .into_data()
            .assert_approx_eq::<f32>(
                &norm.forward(inference).into_data(),
                Tolerance::rel_abs(1e-6, 1e-5),
            );
    }
}
