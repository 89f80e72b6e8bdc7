//! burn's AdamW, with the same settings, state and formula, that updates each `f32`
//! parameter of burn's CPU backend (Flex) in one pass: the parameter, its gradient
//! and both moments read once, the new parameter and moments written once. burn's
//! own step makes about a dozen passes of separate tensor operations, which took a
//! tenth of the charge encoder's training step (26 M parameters). Elsewhere (other
//! backends and dtypes) burn's step runs. The state is burn's [`AdamWState`], so
//! optimizer records read and write as burn's.

use std::mem::MaybeUninit;

use burn::{
    backend::{flex::FlexTensor, Flex},
    module::AutodiffModule,
    optim::{
        adaptor::OptimizerAdaptor, AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState,
        LearningRate, SimpleOptimizer,
    },
    tensor::{
        backend::{AutodiffBackend, Backend},
        DType, Tensor, TensorData, TensorPrimitive,
    },
};
use rayon::prelude::*;

use crate::cpu::{as_backend, f32_values, same_type, written};

/// Elements per parallel chunk.
const CHUNK: usize = 1 << 14;

/// AdamW's settings; burn's defaults by [`Default`].
#[derive(Clone)]
pub struct FusedAdamW {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: f32,
    /// burn's optimizer with the same settings, for tensors off Flex.
    burns: AdamW,
}

impl Default for FusedAdamW {
    /// β₁ 0.9, β₂ 0.999, ε 1e-5, weight decay 1e-4 (burn's `AdamWConfig` defaults).
    fn default() -> Self {
        Self::new(0.9, 0.999, 1e-5, 1e-4)
    }
}

impl FusedAdamW {
    /// AdamW with these moments' decay rates, `epsilon` added to `√v̂` and decoupled
    /// `weight_decay` (times the learning rate per step).
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32, weight_decay: f32) -> Self {
        let burns = AdamWConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .with_weight_decay(weight_decay)
            .build();
        Self {
            beta_1,
            beta_2,
            epsilon,
            weight_decay,
            burns,
        }
    }

    /// The optimizer of a module's parameters (no gradient clipping).
    pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(self) -> OptimizerAdaptor<Self, M, B> {
        OptimizerAdaptor::from(self)
    }

    /// One step on Flex: the new parameter and state.
    fn step_flex<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<Flex, D>,
        grad: Tensor<Flex, D>,
        state: Option<AdamWState<Flex, D>>,
    ) -> (Tensor<Flex, D>, AdamWState<Flex, D>) {
        let shape = tensor.shape();
        let primitive = |t: Tensor<Flex, D>| t.into_primitive().tensor().to_contiguous();
        let (parameter, gradient) = (primitive(tensor), primitive(grad));
        let (moments, time) = match state {
            Some(state) => {
                let m = state.momentum;
                (
                    Some((primitive(m.moment_1), primitive(m.moment_2))),
                    m.time + 1,
                )
            }
            None => (None, 1),
        };
        // burn's scalars: f32 factors, the bias corrections with β^t in f32
        let time_i32 = i32::try_from(time).unwrap_or(i32::MAX);
        let scalars = Scalars {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            factor_1: 1.0 - self.beta_1,
            factor_2: 1.0 - self.beta_2,
            correction_1: 1f32 - self.beta_1.powi(time_i32),
            correction_2: 1f32 - self.beta_2.powi(time_i32),
            epsilon: self.epsilon,
            keep: {
                let decay = lr * self.weight_decay as f64;
                (decay != 0.0).then_some((1.0 - decay) as f32)
            },
            lr: lr as f32,
        };
        let p = f32_values(&parameter);
        let g = f32_values(&gradient);
        assert_eq!(p.len(), g.len(), "AdamW: gradient of another shape");
        let (m, v) = match &moments {
            Some((m, v)) => (Some(f32_values(m)), Some(f32_values(v))),
            None => (None, None),
        };
        let len = p.len();
        let (mut new_m, mut new_v) = (Vec::with_capacity(len), Vec::with_capacity(len));
        let fill = |new_p: &mut [MaybeUninit<f32>]| {
            let new_m = &mut new_m.spare_capacity_mut()[..len];
            let new_v = &mut new_v.spare_capacity_mut()[..len];
            new_p
                .par_chunks_mut(CHUNK)
                .zip(new_m.par_chunks_mut(CHUNK))
                .zip(new_v.par_chunks_mut(CHUNK))
                .enumerate()
                .for_each(|(chunk, ((new_p, new_m), new_v))| {
                    let range = chunk * CHUNK..(chunk * CHUNK + new_p.len());
                    let old = m
                        .zip(v)
                        .map(|(m, v)| (&m[range.clone()], &v[range.clone()]));
                    scalars.update(&p[range.clone()], &g[range], old, new_p, new_m, new_v);
                })
        };
        // SAFETY: the three outputs are chunked alike and `update` writes every
        // element of its chunks.
        let new_p = unsafe { written(len, fill) };
        // SAFETY: `fill` wrote the first `len` elements of both (above).
        unsafe {
            new_m.set_len(len);
            new_v.set_len(len);
        }
        let tensor = |values: Vec<f32>| {
            Tensor::<Flex, D>::from_primitive(TensorPrimitive::Float(FlexTensor::from_data(
                TensorData::new(values, shape.clone()),
            )))
        };
        let state = AdamWState::new(AdaptiveMomentumState {
            time,
            moment_1: tensor(new_m),
            moment_2: tensor(new_v),
            max_moment_2: None,
        });
        (tensor(new_p), state)
    }
}

/// The per-step constants of the update.
#[derive(Clone, Copy)]
struct Scalars {
    beta_1: f32,
    beta_2: f32,
    factor_1: f32,
    factor_2: f32,
    correction_1: f32,
    correction_2: f32,
    epsilon: f32,
    /// `1 − lr·weight_decay`, none when that product is 0.
    keep: Option<f32>,
    lr: f32,
}

impl Scalars {
    /// burn's AdamW on one chunk: moments `m = β₁m + (1 − β₁)g`, `v = β₂v + (1 −
    /// β₂)g²` (from `(1 − β₁)g` and `(1 − β₂)g²` on the first step, `old` none),
    /// then `p·(1 − lr·λ) − lr·m̂/(√v̂ + ε)` with `m̂ = m/(1 − β₁ᵗ)`, `v̂ = v/(1 −
    /// β₂ᵗ)`. Writes every element of the three outputs.
    fn update(
        &self,
        p: &[f32],
        g: &[f32],
        old: Option<(&[f32], &[f32])>,
        new_p: &mut [MaybeUninit<f32>],
        new_m: &mut [MaybeUninit<f32>],
        new_v: &mut [MaybeUninit<f32>],
    ) {
        let n = new_p.len();
        assert!(p.len() == n && g.len() == n && new_m.len() == n && new_v.len() == n);
        for i in 0..n {
            let g_i = g[i];
            let (m, v) = match old {
                Some((m, v)) => (
                    m[i] * self.beta_1 + g_i * self.factor_1,
                    v[i] * self.beta_2 + g_i * g_i * self.factor_2,
                ),
                None => (g_i * self.factor_1, g_i * g_i * self.factor_2),
            };
            let delta = (m / self.correction_1) / ((v / self.correction_2).sqrt() + self.epsilon);
            let decayed = match self.keep {
                Some(keep) => p[i] * keep,
                None => p[i],
            };
            new_p[i].write(decayed - delta * self.lr);
            new_m[i].write(m);
            new_v[i].write(v);
        }
    }
}

impl<B: Backend> SimpleOptimizer<B> for FusedAdamW {
    type State<const D: usize> = AdamWState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let fused = tensor.dtype() == DType::F32
            && grad.dtype() == DType::F32
            && state
                .as_ref()
                .is_none_or(|s| s.momentum.max_moment_2.is_none());
        if fused {
            if let Ok(tensor) = same_type::<_, Tensor<Flex, D>>(tensor.clone()) {
                // grad and state are of the parameter's backend B: Flex
                let state = state.map(|s| match same_type::<_, AdamWState<Flex, D>>(s) {
                    Ok(s) => s,
                    Err(_) => unreachable!("the state of a Flex parameter is on Flex"),
                });
                let (tensor, state) = self.step_flex(lr, tensor, as_backend(grad), state);
                let state = match same_type::<_, AdamWState<B, D>>(state) {
                    Ok(s) => s,
                    Err(_) => unreachable!("B is Flex"),
                };
                return (as_backend(tensor), Some(state));
            }
        }
        SimpleOptimizer::<B>::step(&self.burns, lr, tensor, grad, state)
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        <AdamW as SimpleOptimizer<B>>::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tolerance};

    use super::*;

    /// Three steps (the first without state) against burn's AdamW on the same
    /// parameter and gradients, with and without weight decay.
    #[test]
    fn steps_match_burns_adamw() {
        let device = Default::default();
        for weight_decay in [0.05, 0.0] {
            let ours = FusedAdamW::new(0.9, 0.95, 1e-8, weight_decay);
            let burns = ours.burns.clone();
            let mut p_ours = Tensor::<Flex, 2>::random([37, 29], Distribution::Default, &device);
            let mut p_burns = p_ours.clone();
            let (mut s_ours, mut s_burns) = (None, None);
            for step in 0..3 {
                let g =
                    Tensor::<Flex, 2>::random([37, 29], Distribution::Normal(0.0, 1.0), &device);
                let lr = 1e-3 * (step + 1) as f64;
                let (p, s) = SimpleOptimizer::<Flex>::step(&ours, lr, p_ours, g.clone(), s_ours);
                (p_ours, s_ours) = (p, s);
                let (p, s) = SimpleOptimizer::<Flex>::step(&burns, lr, p_burns, g, s_burns);
                (p_burns, s_burns) = (p, s);
                p_ours
                    .to_data()
                    .assert_approx_eq::<f32>(&p_burns.to_data(), Tolerance::absolute(1e-6));
                let (a, b) = (
                    s_ours.as_ref().expect("state").momentum.clone(),
                    s_burns.as_ref().expect("state").momentum.clone(),
                );
                assert_eq!(a.time, b.time);
                a.moment_2
                    .to_data()
                    .assert_approx_eq::<f32>(&b.moment_2.to_data(), Tolerance::absolute(1e-7));
            }
        }
    }
}
