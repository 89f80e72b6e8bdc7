//! Batches of 3-D volumes laid out channels-last, one row per grid point: the layout
//! in which a pointwise convolution is one matrix product and batch normalization
//! reduces over rows, so the encoder never transposes its activations.

use burn::prelude::*;
use mmhost_plugin_sdk::ops::max_pool_rows;

/// A batch of volumes: `rows` `[batch·d·h·w, channels]`, grid points in row-major
/// order over (batch, d, h, w).
#[derive(Clone, Debug)]
pub struct Volumes<B: Backend> {
    /// `[batch·d·h·w, channels]`.
    pub rows: Tensor<B, 2>,
    pub batch: usize,
    /// Grid points per axis, `[d, h, w]`.
    pub size: [usize; 3],
}

impl<B: Backend> Volumes<B> {
    /// `[batch, channels, d, h, w]` → rows (one transpose of the input).
    pub fn from_channels_first(x: Tensor<B, 5>) -> Self {
        let [batch, channels, d, h, w] = x.dims();
        let rows = x
            .reshape([batch, channels, d * h * w])
            .swap_dims(1, 2)
            .reshape([batch * d * h * w, channels]);
        Self {
            rows,
            batch,
            size: [d, h, w],
        }
    }

    /// Grid points per volume.
    pub fn points(&self) -> usize {
        self.size.iter().product()
    }

    /// The same volumes with `f` applied to the rows (batch and size unchanged).
    pub fn map_rows(self, f: impl FnOnce(Tensor<B, 2>) -> Tensor<B, 2>) -> Self {
        Self {
            rows: f(self.rows),
            batch: self.batch,
            size: self.size,
        }
    }

    /// 2³ max-pool with stride 2 (odd trailing planes are dropped): size `[d, h, w]`
    /// → `[d/2, h/2, w/2]`, channels unchanged.
    pub fn max_pool_2(self) -> Self {
        let size = self.size.map(|n| n / 2);
        Self {
            rows: max_pool_rows(self.rows, self.batch, self.size, 2),
            batch: self.batch,
            size,
        }
    }

    /// Mean over each volume's grid points: `[batch, channels]`.
    pub fn global_mean(self) -> Tensor<B, 2> {
        let channels = self.rows.dims()[1];
        let points = self.points();
        self.rows
            .reshape([self.batch, points, channels])
            .mean_dim(1)
            .reshape([self.batch, channels])
    }
}

#[cfg(test)]
mod tests {
    use burn::{
        backend::Flex,
        tensor::{Distribution, Tolerance},
    };

    use super::*;

    type B = Flex;

    /// The volumes back as `[batch, channels, d, h, w]`.
    fn channels_first(v: &Volumes<B>) -> Tensor<B, 5> {
        let [d, h, w] = v.size;
        let c = v.rows.dims()[1];
        v.rows
            .clone()
            .reshape([v.batch, d * h * w, c])
            .swap_dims(1, 2)
            .reshape([v.batch, c, d, h, w])
    }

    #[test]
    fn max_pool_matches_burns_and_round_trips_the_layout() {
        let device = Default::default();
        let x = Tensor::<B, 5>::random([2, 3, 5, 4, 6], Distribution::Default, &device);
        let volumes = Volumes::from_channels_first(x.clone());
        channels_first(&volumes)
            .to_data()
            .assert_eq(&x.to_data(), true);
        let pooled = volumes.max_pool_2();
        assert_eq!(pooled.size, [2, 2, 3]);
        // Each 2³ cell's eight values side by side, then their maximum.
        let expected = x
            .slice([0..2, 0..3, 0..4, 0..4, 0..6])
            .reshape([2, 3, 2, 2, 2, 2, 3, 2])
            .permute([0, 1, 2, 4, 6, 3, 5, 7])
            .reshape([2, 3, 2, 2, 3, 8])
            .max_dim(5)
            .reshape([2, 3, 2, 2, 3]);
        channels_first(&pooled)
            .to_data()
            .assert_approx_eq::<f32>(&expected.to_data(), Tolerance::absolute(0.0));
    }
}
