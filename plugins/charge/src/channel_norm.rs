//! Batch normalization of channels-last volumes (`[points, channels]` rows, see
//! `Volumes`), computed as burn's `BatchNorm` computes it (biased batch variance,
//! momentum 0.1, ε = 1e-5, same parameter names): statistics reduce the rows, and
//! per-channel values broadcast as one `[1, channels]` row.

use burn::{
    module::{Param, RunningState},
    prelude::*,
};
use mmhost_plugin_sdk::ops::{normalize_batch, update_running};

/// Settings of a [`ChannelNorm`].
#[derive(Config, Debug)]
pub struct ChannelNormConfig {
    pub channels: usize,
    #[config(default = 1e-5)]
    pub epsilon: f64,
    /// Weight of the new batch statistics in the running averages.
    #[config(default = 0.1)]
    pub momentum: f64,
}

/// Per-channel batch normalization with learned scale `gamma` and shift `beta`.
#[derive(Module, Debug)]
pub struct ChannelNorm<B: Backend> {
    pub gamma: Param<Tensor<B, 1>>,
    pub beta: Param<Tensor<B, 1>>,
    pub running_mean: RunningState<Tensor<B, 1>>,
    pub running_var: RunningState<Tensor<B, 1>>,
    #[module(skip)]
    epsilon: f64,
    #[module(skip)]
    momentum: f64,
}

impl ChannelNormConfig {
    /// Scale 1, shift 0, running mean 0 and variance 1.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ChannelNorm<B> {
        let c = self.channels;
        ChannelNorm {
            gamma: Param::from_tensor(Tensor::ones([c], device)),
            beta: Param::from_tensor(Tensor::zeros([c], device)),
            running_mean: RunningState::new(Tensor::zeros([c], device)),
            running_var: RunningState::new(Tensor::ones([c], device)),
            epsilon: self.epsilon,
            momentum: self.momentum,
        }
    }
}

impl<B: Backend> ChannelNorm<B> {
    /// `[points, channels]` → same shape. Batch statistics while the backend
    /// records gradients (training; on the CPU one fused operation of the SDK, with
    /// a backward of its own), running statistics otherwise.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let channels = x.dims()[1];
        if B::ad_enabled(&x.device()) {
            let batch = normalize_batch(x, self.gamma.val(), self.beta.val(), self.epsilon);
            update_running(&self.running_mean, batch.mean, self.momentum);
            update_running(&self.running_var, batch.variance, self.momentum);
            return batch.output;
        }
        let scale = self.gamma.val() / self.running_var.value().add_scalar(self.epsilon).sqrt(); // [channels]
        let shift = self.beta.val() - self.running_mean.value() * scale.clone(); // [channels]
        x * scale.reshape([1, channels]) + shift.reshape([1, channels])
    }
}

#[cfg(test)]
mod tests {
    use burn::{
        module::AutodiffModule,
        nn::BatchNormConfig,
        tensor::{Distribution, Tolerance},
    };
    use mmhost_plugin_sdk::Cpu as Ad;

    use super::*;

    /// `[3, 6, 4, 3, 5]` → `[3·4·3·5, 6]` channels-last rows.
    fn volume_to_rows<B: Backend>(x: Tensor<B, 5>) -> Tensor<B, 2> {
        x.reshape([3, 6, 60]).swap_dims(1, 2).reshape([180, 6])
    }

    /// The inverse of [`volume_to_rows`].
    fn rows_to_volume<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 5> {
        x.reshape([3, 60, 6])
            .swap_dims(1, 2)
            .reshape([3, 6, 4, 3, 5])
    }

    #[test]
    fn matches_burns_batch_norm_forward_backward_and_running_statistics() {
        let device = Default::default();
        let ours = ChannelNormConfig::new(6).init::<Ad>(&device);
        let theirs = BatchNormConfig::new(6).init::<Ad>(&device);
        let x = Tensor::<Ad, 5>::random([3, 6, 4, 3, 5], Distribution::Normal(0.5, 2.0), &device)
            .require_grad();
        let weights = Tensor::<Ad, 5>::random([3, 6, 4, 3, 5], Distribution::Default, &device);
        let a = rows_to_volume(ours.forward(volume_to_rows(x.clone())));
        let b = theirs.forward(x.clone());
        a.to_data()
            .assert_approx_eq::<f32>(&b.to_data(), Tolerance::absolute(1e-5));
        let ga = (a * weights.clone()).sum().backward();
        let gb = (b * weights).sum().backward();
        x.grad(&ga)
            .unwrap()
            .to_data()
            .assert_approx_eq::<f32>(&x.grad(&gb).unwrap().to_data(), Tolerance::absolute(1e-5));
        ours.gamma
            .grad(&ga)
            .unwrap()
            .to_data()
            .assert_approx_eq::<f32>(
                &theirs.gamma.grad(&gb).unwrap().to_data(),
                Tolerance::absolute(1e-4),
            );
        // Running statistics, then inference with them.
        let (ours, theirs) = (ours.valid(), theirs.valid());
        ours.running_var.value().to_data().assert_approx_eq::<f32>(
            &theirs.running_var.value().to_data(),
            Tolerance::absolute(1e-6),
        );
        let x = x.inner();
        rows_to_volume(ours.forward(volume_to_rows(x.clone())))
            .to_data()
            .assert_approx_eq::<f32>(&theirs.forward(x).to_data(), Tolerance::absolute(1e-5));
    }
}
