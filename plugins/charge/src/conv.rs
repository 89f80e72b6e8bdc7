//! 3-D convolutions of channels-last [`Volumes`]: pointwise ones (1³ kernel, stride
//! 1, one group) as one matrix product of the rows, the others by the SDK's
//! channels-last convolution (on the CPU its own kernels: tiles of gathered
//! receptive fields times each group's kernel; elsewhere burn's `conv3d`).
//! Parameters stay burn [`Conv3d`] modules: same names, shapes and initialization.

use burn::{
    nn::{conv::Conv3d, PaddingConfig3d},
    prelude::*,
};
use mmhost_plugin_sdk::ops::{conv3d_rows, matmul_transposed, Conv3dGeometry};

use crate::volumes::Volumes;

/// `conv` applied to `x`: `[batch·d·h·w, c_in]` rows → `[batch·d'·h'·w', c_out]`
/// rows, with burn's output size `(n + 2·padding − dilation·(k − 1) − 1) / stride + 1`
/// per axis.
pub fn convolve<B: Backend>(conv: &Conv3d<B>, x: Volumes<B>) -> Volumes<B> {
    let kernel = conv.kernel_size;
    let padding = match &conv.padding {
        PaddingConfig3d::Explicit(d, h, w) => [*d, *h, *w],
        PaddingConfig3d::Valid => [0; 3],
        PaddingConfig3d::Same => kernel.map(|k| k / 2),
    };
    let geometry = Conv3dGeometry {
        batch: x.batch,
        size: x.size,
        kernel,
        stride: conv.stride,
        padding,
        dilation: conv.dilation,
        groups: conv.groups,
    };
    let weight = conv.weight.val(); // [c_out, c_in / groups, kd, kh, kw]
    let [c_out, group_in, ..] = weight.dims();
    let pointwise =
        kernel == [1; 3] && conv.stride == [1; 3] && padding == [0; 3] && conv.groups == 1;
    let rows = if pointwise {
        // [rows, c_in] × [c_out, c_in]ᵀ
        matmul_transposed(x.rows, weight.reshape([c_out, group_in]))
    } else {
        conv3d_rows(x.rows, weight, geometry)
    };
    let rows = match &conv.bias {
        Some(bias) => rows + bias.val().reshape([1, c_out]),
        None => rows,
    };
    Volumes {
        rows,
        batch: x.batch,
        size: geometry.output_size(),
    }
}

#[cfg(test)]
mod tests {
    use burn::{
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
}
