//! 3-D convolutions of channels-last volumes: a batch of `d × h × w` grids stored
//! as rows, one per grid point (`[batch·d·h·w, channels]`, points in row-major
//! order over batch, d, h, w), the layout in which pointwise convolutions are
//! matrix products and batch normalization reduces over rows. On Flex (`f32`)
//! kernels of the SDK's own (tiles of gathered receptive fields times the group's
//! kernel; element-wise multiply-adds for narrow groups; with a backward of their
//! own under autodiff); elsewhere burn's `conv3d` on the channels-first layout.

use burn::tensor::{backend::Backend, module::conv3d, ops::ConvOptions, DType, Tensor};

use crate::cpu::{as_backend, conv_op, same_type};

/// Where a 3-D convolution reads: the batch and grid it runs over and its kernel's
/// size, stride, zero padding and dilation per axis (d, h, w), as burn's `Conv3d`
/// takes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv3dGeometry {
    /// Volumes in the batch.
    pub batch: usize,
    /// Input grid points per axis, `[d, h, w]`.
    pub size: [usize; 3],
    /// Kernel taps per axis, each ≥ 1.
    pub kernel: [usize; 3],
    /// Each ≥ 1.
    pub stride: [usize; 3],
    /// Zero points added at both ends of each axis.
    pub padding: [usize; 3],
    /// Spacing of the kernel's taps, each ≥ 1.
    pub dilation: [usize; 3],
    /// Channel groups (input and output channels split alike), ≥ 1.
    pub groups: usize,
}

impl Conv3dGeometry {
    /// Output grid points per axis: `(n + 2·padding − dilation·(k − 1) − 1) /
    /// stride + 1`, 0 where the kernel's reach exceeds the padded axis.
    pub fn output_size(&self) -> [usize; 3] {
        std::array::from_fn(|a| {
            let reach = self.dilation[a] * (self.kernel[a] - 1) + 1;
            (self.size[a] + 2 * self.padding[a])
                .checked_sub(reach)
                .map_or(0, |room| room / self.stride[a] + 1)
        })
    }

    /// Grid points per input volume.
    pub fn points(&self) -> usize {
        self.size.iter().product()
    }
}

/// The convolution of the volumes `x` `[batch·d·h·w, c_in]` by `weight` `[c_out,
/// c_in/groups, kd, kh, kw]` (burn's `Conv3d` weight), without bias →
/// `[batch·d'·h'·w', c_out]` with `[d', h', w']` = `geometry.output_size()`.
///
/// # Panics
/// If the shapes disagree with `geometry` (rows, kernel, channels per group), or a
/// grid axis, kernel size, stride, dilation, the group count or a channel count is
/// 0.
pub fn conv3d_rows<B: Backend>(
    x: Tensor<B, 2>,
    weight: Tensor<B, 5>,
    geometry: Conv3dGeometry,
) -> Tensor<B, 2> {
    let [rows, c_in] = x.dims();
    let [c_out, group_in, kd, kh, kw] = weight.dims();
    let g = &geometry;
    assert!(
        g.size
            .iter()
            .chain(&g.kernel)
            .chain(&g.stride)
            .chain(&g.dilation)
            .all(|&n| n > 0)
            && g.groups > 0
            && c_in > 0
            && c_out > 0,
        "conv3d: grid axes, kernel sizes, strides, dilations, groups and channels must be \
         positive: {g:?}, {c_in} → {c_out} channels"
    );
    assert!(
        rows == g.batch * g.points()
            && [kd, kh, kw] == g.kernel
            && group_in * g.groups == c_in
            && c_out.is_multiple_of(g.groups),
        "conv3d: input [{rows}, {c_in}] and weight {:?} do not fit {g:?}",
        weight.dims()
    );
    if x.dtype() == DType::F32 && weight.dtype() == DType::F32 {
        // `weight` has `x`'s backend B: `x`'s type stands for both.
        let x = match same_type::<_, Tensor<burn::backend::Autodiff<burn::backend::Flex>, 2>>(x) {
            Ok(x) => return as_backend(conv_op::training(x, as_backend(weight), geometry)),
            Err(x) => x,
        };
        match same_type::<_, Tensor<burn::backend::Flex, 2>>(x) {
            Ok(x) => as_backend(conv_op::inference(x, as_backend(weight), geometry)),
            Err(x) => channels_first_conv(x, weight, geometry),
        }
    } else {
        channels_first_conv(x, weight, geometry)
    }
}

/// [`conv3d_rows`] by burn's `conv3d` on `[batch, c_in, d, h, w]` (one transpose
/// each way).
fn channels_first_conv<B: Backend>(
    x: Tensor<B, 2>,
    weight: Tensor<B, 5>,
    geometry: Conv3dGeometry,
) -> Tensor<B, 2> {
    let [d, h, w] = geometry.size;
    let c_in = x.dims()[1];
    let c_out = weight.dims()[0];
    let volumes = x
        .reshape([geometry.batch, d * h * w, c_in])
        .swap_dims(1, 2)
        .reshape([geometry.batch, c_in, d, h, w]);
    let options = ConvOptions::new(
        geometry.stride,
        geometry.padding,
        geometry.dilation,
        geometry.groups,
    );
    let out = conv3d(volumes, weight, None, options); // [batch, c_out, d', h', w']
    let points = geometry.output_size().iter().product::<usize>();
    out.reshape([geometry.batch, c_out, points])
        .swap_dims(1, 2)
        .reshape([geometry.batch * points, c_out])
}

#[cfg(test)]
mod tests {
    use burn::{
        backend::{Autodiff, Flex},
        tensor::{Distribution, Tolerance},
    };

    use super::*;

    type Cpu = Autodiff<Flex>;

    /// `[batch, c, d, h, w]` → channels-last rows.
    fn rows<B: Backend>(x: Tensor<B, 5>) -> Tensor<B, 2> {
        let [b, c, d, h, w] = x.dims();
        x.reshape([b, c, d * h * w])
            .swap_dims(1, 2)
            .reshape([b * d * h * w, c])
    }

    /// Output, input gradient and weight gradient against burn's `conv3d` on the
    /// channels-first layout, for a random input and weight.
    fn compare(geometry: Conv3dGeometry, c_in: usize, c_out: usize) {
        let device = Default::default();
        let [d, h, w] = geometry.size;
        let [kd, kh, kw] = geometry.kernel;
        let x = Tensor::<Cpu, 5>::random(
            [geometry.batch, c_in, d, h, w],
            Distribution::Normal(0.0, 1.0),
            &device,
        )
        .require_grad();
        let weight = Tensor::<Cpu, 5>::random(
            [c_out, c_in / geometry.groups, kd, kh, kw],
            Distribution::Normal(0.0, 0.3),
            &device,
        )
        .require_grad();
        let options = ConvOptions::new(
            geometry.stride,
            geometry.padding,
            geometry.dilation,
            geometry.groups,
        );
        let theirs = rows(conv3d(x.clone(), weight.clone(), None, options));
        let ours = conv3d_rows(rows(x.clone()), weight.clone(), geometry);
        let [out_rows, _] = ours.dims();
        assert_eq!(
            out_rows,
            geometry.batch * geometry.output_size().iter().product::<usize>()
        );
        let tolerance = Tolerance::<f32>::absolute(1e-4);
        ours.to_data()
            .assert_approx_eq::<f32>(&theirs.to_data(), tolerance);
        let upstream = Tensor::<Cpu, 2>::random(ours.dims(), Distribution::Default, &device);
        let g_ours = (ours * upstream.clone()).sum().backward();
        let g_theirs = (theirs * upstream).sum().backward();
        let gradients = [
            (x.grad(&g_ours), x.grad(&g_theirs)),
            (weight.grad(&g_ours), weight.grad(&g_theirs)),
        ];
        for (ours, theirs) in gradients {
            let (ours, theirs) = (ours.expect("a gradient"), theirs.expect("a gradient"));
            ours.to_data()
                .assert_approx_eq::<f32>(&theirs.to_data(), Tolerance::absolute(1e-3));
        }
        // and without autodiff, the same values
        let inference = conv3d_rows(rows(x.clone().inner()), weight.clone().inner(), geometry);
        let training = conv3d_rows(rows(x.inner()).require_grad(), weight.inner(), geometry);
        inference
            .to_data()
            .assert_approx_eq::<f32>(&training.to_data(), Tolerance::absolute(0.0));
    }

    fn geometry(batch: usize, size: [usize; 3], kernel: [usize; 3]) -> Conv3dGeometry {
        Conv3dGeometry {
            batch,
            size,
            kernel,
            stride: [1; 3],
            padding: [0; 3],
            dilation: [1; 3],
            groups: 1,
        }
    }

    #[test]
    fn a_grouped_strided_padded_kernel_matches_burn() {
        let g = Conv3dGeometry {
            stride: [2; 3],
            padding: [1; 3],
            groups: 4,
            ..geometry(2, [5, 4, 6], [3; 3])
        };
        compare(g, 8, 12);
    }

    #[test]
    fn an_uneven_kernel_with_dilation_and_one_group_matches_burn() {
        let g = Conv3dGeometry {
            stride: [2, 1, 2],
            padding: [3, 2, 1],
            dilation: [1, 2, 1],
            ..geometry(3, [9, 6, 7], [7, 3, 3])
        };
        compare(g, 1, 6);
        // taps along w spaced apart: not one contiguous run
        let g = Conv3dGeometry {
            padding: [1, 2, 2],
            dilation: [2, 1, 2],
            ..geometry(2, [6, 5, 7], [3, 2, 3])
        };
        compare(g, 3, 4);
    }

    #[test]
    fn grids_larger_than_one_tile_and_more_volumes_than_tasks_match_burn() {
        // 9·8·8 = 576 output points per volume (three tiles), 20 volumes over 2
        // groups: runs of two volumes per backward task (20 tasks).
        let g = Conv3dGeometry {
            padding: [1; 3],
            groups: 2,
            ..geometry(20, [9, 8, 8], [3; 3])
        };
        compare(g, 4, 6);
    }

    #[test]
    fn a_pointwise_strided_kernel_and_a_kernel_past_the_grid_match_burn() {
        let g = Conv3dGeometry {
            stride: [2; 3],
            ..geometry(2, [3, 4, 5], [1; 3])
        };
        compare(g, 6, 10);
        // a 3³ kernel over a 1³ grid, padding 1: only the centre tap reads data
        let g = Conv3dGeometry {
            padding: [1; 3],
            groups: 2,
            ..geometry(3, [1; 3], [3; 3])
        };
        compare(g, 4, 4);
        // one group, padding past a 1³ kernel's reach: rows wholly in the padding
        let g = Conv3dGeometry {
            padding: [1, 0, 2],
            ..geometry(2, [2, 3, 3], [1; 3])
        };
        compare(g, 2, 3);
    }

    #[test]
    fn narrow_groups_on_the_direct_path_match_burn() {
        // as many output as input channels per group (4 and 8, a ResNeXt's; 1,
        // depthwise; 4 again in 3 groups): the direct path, strided with padding
        // and not
        let g = Conv3dGeometry {
            stride: [2; 3],
            padding: [1; 3],
            groups: 8,
            ..geometry(3, [6, 5, 7], [3; 3])
        };
        compare(g, 32, 32);
        let g = Conv3dGeometry {
            padding: [1; 3],
            groups: 2,
            ..geometry(2, [5, 4, 6], [3; 3])
        };
        compare(g, 16, 16);
        let g = Conv3dGeometry {
            padding: [0, 1, 2],
            groups: 16,
            ..geometry(2, [4, 3, 5], [2, 3, 3])
        };
        compare(g, 16, 16);
        let g = Conv3dGeometry {
            padding: [1; 3],
            groups: 3,
            ..geometry(2, [4, 4, 4], [3; 3])
        };
        compare(g, 12, 12);
    }

    #[test]
    fn output_size_follows_burns_formula_and_is_zero_past_the_reach() {
        let g = Conv3dGeometry {
            stride: [2, 1, 3],
            padding: [1, 0, 2],
            dilation: [1, 2, 1],
            ..geometry(1, [8, 5, 7], [3; 3])
        };
        assert_eq!(g.output_size(), [4, 1, 3]);
        assert_eq!(geometry(1, [2, 5, 5], [3; 3]).output_size(), [0, 3, 3]);
    }
}
