//! 3-D convolutions of channels-last [`Volumes`] as a gather and a matrix product.
//! Each output point's receptive field (kernel taps × the input channels of its
//! group) is gathered into one row by `select` with precomputed row indices, then
//! multiplied by the kernel: one product, or one batched product over the groups.
//! Back-propagation is then the product's (two matrix products) and the gather's (a
//! scatter-add). burn's own 3-D convolution computes a grouped convolution's weight
//! gradient group by group as a convolution whose kernel is the whole output grid,
//! which made the charge encoder's backward pass several times its forward.
//! Parameters stay burn [`Conv3d`] modules: same names, shapes and initialization.

use std::{
    any::{Any, TypeId},
    sync::Mutex,
};

use burn::{
    nn::{conv::Conv3d, PaddingConfig3d},
    prelude::*,
};

use crate::volumes::Volumes;

/// `conv` applied to `x`: `[batch·d·h·w, c_in]` rows → `[batch·d'·h'·w', c_out]`
/// rows, with burn's output size `(n + 2·padding − dilation·(k − 1) − 1) / stride + 1`
/// per axis. On the CPU (burn's Flex backend) by a gather and a matrix product; on
/// other backends (CUDA) by burn's own convolution kernels, where the gather's
/// scatter-add back-propagation is slow and its gathered rows take tens of GB.
pub fn convolve<B: Backend>(conv: &Conv3d<B>, x: Volumes<B>) -> Volumes<B> {
    let geometry = Geometry::of(conv, &x);
    if !geometry.is_pointwise() && !on_cpu::<B>() {
        return Volumes::from_channels_first(conv.forward(x.into_channels_first()));
    }
    if !geometry.fits_i32_rows() && x.batch > 1 {
        // Row indices are the backend's 32-bit integers: halve the batch.
        let half = x.batch / 2;
        let split = half * x.points();
        let [rows, channels] = x.rows.dims();
        let part = |range: std::ops::Range<usize>, batch| Volumes {
            rows: x.rows.clone().slice([range, 0..channels]),
            batch,
            size: x.size,
        };
        let first = convolve(conv, part(0..split, half));
        let second = convolve(conv, part(split..rows, x.batch - half));
        return Volumes {
            rows: Tensor::cat(vec![first.rows, second.rows], 0),
            batch: x.batch,
            size: first.size,
        };
    }
    let weight = conv.weight.val(); // [c_out, c_in / groups, kd, kh, kw]
    let [c_out, group_in, ..] = weight.dims();
    let groups = conv.groups;
    let taps: usize = conv.kernel_size.iter().product();
    let out_size = geometry.output_size();
    let out_rows = x.batch * out_size.iter().product::<usize>();
    let rows = if geometry.is_pointwise() {
        // [rows, c_in] × [c_in, c_out]
        x.rows.matmul(weight.reshape([c_out, group_in]).transpose())
    } else {
        let device = x.rows.device();
        let in_rows = x.batch * x.points();
        // One zero row per group after the group's rows: where padding points.
        let padded = if groups == 1 {
            Tensor::cat(vec![x.rows, Tensor::zeros([1, group_in], &device)], 0)
        } else {
            let grouped = x.rows.reshape([in_rows, groups, group_in]).swap_dims(0, 1); // [groups, rows, c_in / groups]
            Tensor::cat(
                vec![grouped, Tensor::zeros([groups, 1, group_in], &device)],
                1,
            )
            .reshape([groups * (in_rows + 1), group_in])
        };
        let patches = padded
            .select(0, gather_index::<B>(&geometry, &device))
            .reshape([groups, out_rows, taps * group_in]); // [groups, out rows, taps·c_in/groups]
        let group_out = c_out / groups;
        let kernel = weight
            .reshape([groups, group_out, group_in, taps])
            .permute([0, 3, 2, 1])
            .reshape([groups, taps * group_in, group_out]);
        let products = patches.matmul(kernel); // [groups, out rows, c_out / groups]
        if groups == 1 {
            products.reshape([out_rows, c_out])
        } else {
            products.swap_dims(0, 1).reshape([out_rows, c_out])
        }
    };
    let rows = match &conv.bias {
        Some(bias) => rows + bias.val().reshape([1, c_out]),
        None => rows,
    };
    Volumes {
        rows,
        batch: x.batch,
        size: out_size,
    }
}

/// Whether `B` is burn's CPU backend (Flex), with or without autodiff.
fn on_cpu<B: Backend>() -> bool {
    use burn::backend::{Autodiff, Flex};
    let backend = TypeId::of::<B>();
    backend == TypeId::of::<Flex>() || backend == TypeId::of::<Autodiff<Flex>>()
}

/// Everything the gather's row indices depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Geometry {
    batch: usize,
    size: [usize; 3],
    kernel: [usize; 3],
    stride: [usize; 3],
    padding: [usize; 3],
    dilation: [usize; 3],
    groups: usize,
}

impl Geometry {
    fn of<B: Backend>(conv: &Conv3d<B>, x: &Volumes<B>) -> Self {
        let kernel = conv.kernel_size;
        let padding = match &conv.padding {
            PaddingConfig3d::Explicit(d, h, w) => [*d, *h, *w],
            PaddingConfig3d::Valid => [0; 3],
            PaddingConfig3d::Same => kernel.map(|k| k / 2),
        };
        Self {
            batch: x.batch,
            size: x.size,
            kernel,
            stride: conv.stride,
            padding,
            dilation: conv.dilation,
            groups: conv.groups,
        }
    }

    /// A 1³ kernel, stride 1, no padding, one group: a matrix product of the rows.
    fn is_pointwise(&self) -> bool {
        self.kernel == [1; 3] && self.stride == [1; 3] && self.padding == [0; 3] && self.groups == 1
    }

    fn output_size(&self) -> [usize; 3] {
        std::array::from_fn(|a| {
            let reach = self.dilation[a] * (self.kernel[a] - 1) + 1;
            (self.size[a] + 2 * self.padding[a]).saturating_sub(reach) / self.stride[a] + 1
        })
    }

    /// Whether every gathered row index (groups × (rows + 1)) fits in an i32.
    fn fits_i32_rows(&self) -> bool {
        let rows = self.batch * self.size.iter().product::<usize>() + 1;
        self.groups.saturating_mul(rows) <= i32::MAX as usize
    }

    /// For each group, output point (batch, d, h, w order) and kernel tap (kd, kh,
    /// kw order): the input row of `[groups·(rows + 1), c_in / groups]` it reads, the
    /// group's zero row where the tap falls in the padding. `[groups·out·taps]`;
    /// groups differ only by their offset, `rows + 1` apart.
    fn gather_rows(&self) -> Vec<i32> {
        let [d, h, w] = self.size;
        let rows = self.batch * d * h * w;
        let out = self.output_size();
        // Input coordinate along axis `a` of output `o`, tap `t`; None in the padding.
        let source = |a: usize, o: usize, t: usize| {
            (o * self.stride[a] + t * self.dilation[a])
                .checked_sub(self.padding[a])
                .filter(|&i| i < self.size[a])
        };
        let mut first_group = Vec::new();
        for b in 0..self.batch {
            for (oz, oy, ox) in grid(out) {
                for (tz, ty, tx) in grid(self.kernel) {
                    first_group.push(
                        match (source(0, oz, tz), source(1, oy, ty), source(2, ox, tx)) {
                            (Some(z), Some(y), Some(x)) => ((b * d + z) * h + y) * w + x,
                            _ => rows,
                        },
                    );
                }
            }
        }
        (0..self.groups)
            .flat_map(|group| {
                let base = group * (rows + 1);
                first_group.iter().map(move |&row| (base + row) as i32)
            })
            .collect()
    }
}

/// Every `(i, j, k)` of a `[n0, n1, n2]` grid in row-major order.
fn grid(n: [usize; 3]) -> impl Iterator<Item = (usize, usize, usize)> {
    (0..n[0]).flat_map(move |i| (0..n[1]).flat_map(move |j| (0..n[2]).map(move |k| (i, j, k))))
}

/// Cached gather indices: a training run convolves the same few geometries every
/// step, and an index holds one entry per group, output point and kernel tap.
struct IndexCache {
    entries: Vec<CachedIndex>,
    /// Indices held, in elements.
    held: usize,
}

/// One cached index: a `Tensor<B, 1, Int>` of the backend `backend` on `device`.
struct CachedIndex {
    backend: TypeId,
    device: String,
    geometry: Geometry,
    length: usize,
    index: Box<dyn Any + Send>,
}

static INDEX_CACHE: Mutex<IndexCache> = Mutex::new(IndexCache {
    entries: Vec::new(),
    held: 0,
});

/// Indices the cache holds at most (1 GiB of i32); the oldest go first.
const CACHE_ELEMENTS: usize = 1 << 28;

/// The gather index of `geometry` on `device`: `[groups·out points·taps]`.
fn gather_index<B: Backend>(geometry: &Geometry, device: &B::Device) -> Tensor<B, 1, Int> {
    let backend = TypeId::of::<B>();
    let device_name = format!("{device:?}");
    let mut cache = INDEX_CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let found = cache.entries.iter().find_map(|entry| {
        (entry.backend == backend && entry.device == device_name && entry.geometry == *geometry)
            .then(|| entry.index.downcast_ref::<Tensor<B, 1, Int>>().cloned())
            .flatten()
    });
    if let Some(index) = found {
        return index;
    }
    let rows = geometry.gather_rows();
    let length = rows.len();
    let index = Tensor::<B, 1, Int>::from_data(TensorData::new(rows, [length]), device);
    if length <= CACHE_ELEMENTS {
        while cache.held + length > CACHE_ELEMENTS && !cache.entries.is_empty() {
            let oldest = cache.entries.remove(0);
            cache.held -= oldest.length;
        }
        cache.held += length;
        cache.entries.push(CachedIndex {
            backend,
            device: device_name,
            geometry: geometry.clone(),
            length,
            index: Box::new(index.clone()),
        });
    }
    index
}

#[cfg(test)]
mod tests {
    use burn::{
        module::AutodiffModule,
        nn::conv::Conv3dConfig,
        tensor::{Distribution, Tolerance},
    };
    use mmhost_plugin_sdk::Cpu as Ad;

    use super::*;

    /// Output, input gradient and weight gradient of `conv` on a random input, by the
    /// gather and by burn's convolution.
    fn compare(conv: Conv3dConfig, input: [usize; 5]) {
        let device = Default::default();
        let conv = conv.init::<Ad>(&device);
        let x =
            Tensor::<Ad, 5>::random(input, Distribution::Normal(0.0, 1.0), &device).require_grad();
        let theirs = conv.forward(x.clone()); // [b, c_out, d', h', w']
        let [b, c_out, d, h, w] = theirs.dims();
        let ours = convolve(&conv, Volumes::from_channels_first(x.clone()));
        assert_eq!(ours.size, [d, h, w]);
        let ours = ours
            .rows
            .reshape([b, d * h * w, c_out])
            .swap_dims(1, 2)
            .reshape([b, c_out, d, h, w]);
        ours.to_data()
            .assert_approx_eq::<f32>(&theirs.to_data(), Tolerance::absolute(1e-4));
        let weights = Tensor::<Ad, 5>::random([b, c_out, d, h, w], Distribution::Default, &device);
        let g_ours = (ours * weights.clone()).sum().backward();
        let g_theirs = (theirs * weights).sum().backward();
        x.grad(&g_ours).unwrap().to_data().assert_approx_eq::<f32>(
            &x.grad(&g_theirs).unwrap().to_data(),
            Tolerance::absolute(1e-4),
        );
        conv.weight
            .grad(&g_ours)
            .unwrap()
            .to_data()
            .assert_approx_eq::<f32>(
                &conv.weight.grad(&g_theirs).unwrap().to_data(),
                Tolerance::absolute(1e-3),
            );
    }

    #[test]
    fn grouped_strided_kernel_matches_burns_convolution_and_gradients() {
        let conv = Conv3dConfig::new([8, 8], [3, 3, 3])
            .with_stride([2, 2, 2])
            .with_padding(PaddingConfig3d::Explicit(1, 1, 1))
            .with_groups(4)
            .with_bias(false);
        compare(conv, [2, 8, 5, 4, 6]);
    }

    #[test]
    fn stem_kernel_with_bias_matches_burns_convolution_and_gradients() {
        let conv = Conv3dConfig::new([1, 6], [7, 5, 3])
            .with_stride([2, 1, 2])
            .with_padding(PaddingConfig3d::Explicit(3, 2, 1));
        compare(conv, [3, 1, 9, 6, 7]);
    }

    #[test]
    fn pointwise_kernels_match_burns_convolution_and_gradients() {
        let conv = Conv3dConfig::new([6, 10], [1, 1, 1]).with_bias(false);
        compare(conv.clone(), [2, 6, 3, 4, 5]);
        compare(conv.with_stride([2, 2, 2]), [2, 6, 3, 4, 5]);
    }

    #[test]
    fn training_and_inference_backends_keep_their_own_cached_indices() {
        // The same geometry on two backends: two cache entries of different types.
        let device = Default::default();
        let conv = Conv3dConfig::new([4, 4], [3, 3, 3])
            .with_padding(PaddingConfig3d::Explicit(1, 1, 1))
            .with_groups(2)
            .init::<Ad>(&device);
        let x = Tensor::<Ad, 5>::random([1, 4, 3, 3, 3], Distribution::Default, &device);
        // Built on the first pass, found on the second.
        for _ in 0..2 {
            let training = convolve(&conv, Volumes::from_channels_first(x.clone()));
            let inference = convolve(
                &conv.valid(),
                Volumes::from_channels_first(x.clone().inner()),
            );
            inference.rows.to_data().assert_approx_eq::<f32>(
                &training.rows.inner().to_data(),
                Tolerance::absolute(1e-6),
            );
        }
    }

    #[test]
    fn gather_of_a_small_grid_reads_the_expected_rows() {
        // One volume of 1 × 1 × 3 points, kernel 3 along w, padding 1: each output
        // reads its left neighbour, itself, its right neighbour; row 3 is zero.
        let geometry = Geometry {
            batch: 1,
            size: [1, 1, 3],
            kernel: [1, 1, 3],
            stride: [1; 3],
            padding: [0, 0, 1],
            dilation: [1; 3],
            groups: 2,
        };
        assert_eq!(geometry.output_size(), [1, 1, 3]);
        assert_eq!(
            geometry.gather_rows(),
            [3, 0, 1, 0, 1, 2, 1, 2, 3, 7, 4, 5, 4, 5, 6, 5, 6, 7]
        );
    }
}
