//! Batch normalization of `[rows, channels]` in training. On `Autodiff<Flex>`
//! (`f32`) a fused operation (statistics in one pass, output in another, a backward
//! of its own), with the running statistics updated as burn's `BatchNorm` updates
//! them; elsewhere, and without autodiff, burn's `BatchNorm::forward`.

use burn::{
    backend::{Autodiff, Flex},
    nn::BatchNorm,
    tensor::{backend::Backend, DType, Tensor},
};

use crate::cpu::{as_backend, batch_norm_op, same_type};

/// `norm.forward(x)` for `x` `[rows, channels]`: with autodiff, the batch's mean and
/// biased variance normalize `x` and move the running statistics by `momentum`;
/// without, the running statistics normalize it.
pub fn batch_norm<B: Backend>(norm: &BatchNorm<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    if x.dtype() != DType::F32 {
        return norm.forward(x);
    }
    let device = x.device();
    let x = match same_type::<_, Tensor<Autodiff<Flex>, 2>>(x) {
        Ok(x) => x,
        Err(x) => return norm.forward(x),
    };
    let (Ok(gamma), Ok(beta)) = (
        same_type::<_, Tensor<Autodiff<Flex>, 1>>(norm.gamma.val()),
        same_type::<_, Tensor<Autodiff<Flex>, 1>>(norm.beta.val()),
    ) else {
        unreachable!("the parameters have the input's backend")
    };
    let normalized = batch_norm_op::training(x, gamma, beta, norm.epsilon);
    let momentum = norm.momentum;
    let update = |running: Tensor<B, 1>, batch: Tensor<B, 1>| {
        running
            .to_device(&device)
            .mul_scalar(1.0 - momentum)
            .add(batch.mul_scalar(momentum))
            .detach()
    };
    norm.running_mean.update(update(
        norm.running_mean.value_sync(),
        as_backend(normalized.mean),
    ));
    norm.running_var.update(update(
        norm.running_var.value_sync(),
        as_backend(normalized.variance),
    ));
    as_backend(normalized.output)
}

#[cfg(test)]
mod tests {
    use burn::{
        module::Param,
        nn::BatchNormConfig,
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

    #[test]
    fn without_autodiff_it_is_burns_inference() {
        let device = Default::default();
        let norm = BatchNormConfig::new(6).init::<Flex>(&device);
        let x = Tensor::<Flex, 2>::random([10, 6], Distribution::Normal(0.0, 1.0), &device);
        batch_norm(&norm, x.clone())
            .into_data()
            .assert_approx_eq::<f32>(&norm.forward(x).into_data(), Tolerance::absolute(0.0));
    }
}
