//! Max-pooling of channels-last volumes (`[batch·d·h·w, channels]` rows, see
//! [`crate::ops::conv3d_rows`]) over non-overlapping cubic windows. On Flex (`f32`)
//! one pass forward and one backward (with autodiff); elsewhere burn's reductions,
//! one axis at a time.

use burn::tensor::{backend::Backend, DType, Tensor};

use crate::cpu::{as_backend, pool_op, same_type};

/// The maximum of each `window³` cell of the volumes `x` `[batch·d·h·w, channels]`
/// with grid `size` `[d, h, w]` → `[batch·d'·h'·w', channels]`, `d' = d / window`
/// (trailing planes that fill no cell are dropped), and so on per axis. Under
/// autodiff, where a cell holds its maximum more than once the gradient goes to one
/// of them.
///
/// # Panics
/// If `window` is 0 or `x` does not hold `batch` volumes of `size`.
pub fn max_pool_rows<B: Backend>(
    x: Tensor<B, 2>,
    batch: usize,
    size: [usize; 3],
    window: usize,
) -> Tensor<B, 2> {
    let [rows, channels] = x.dims();
    assert!(window > 0, "max_pool_rows: a window of 0");
    assert_eq!(
        rows,
        batch * size.iter().product::<usize>(),
        "max_pool_rows: {rows} rows are not {batch} volumes of {size:?}"
    );
    let pooling = pool_op::Pooling {
        batch,
        size,
        window,
        channels,
    };
    if x.dtype() == DType::F32 {
        let x = match same_type::<_, Tensor<burn::backend::Autodiff<burn::backend::Flex>, 2>>(x) {
            Ok(x) => return as_backend(pool_op::training(x, pooling)),
            Err(x) => x,
        };
        match same_type::<_, Tensor<burn::backend::Flex, 2>>(x) {
            Ok(x) => as_backend(pool_op::inference(x, pooling)),
            Err(x) => by_reductions(x, pooling),
        }
    } else {
        by_reductions(x, pooling)
    }
}

/// [`max_pool_rows`] by burn's `max_dim` along w, then h, then d.
fn by_reductions<B: Backend>(x: Tensor<B, 2>, pooling: pool_op::Pooling) -> Tensor<B, 2> {
    let pool_op::Pooling {
        batch,
        size: [d, h, w],
        window: k,
        channels: c,
    } = pooling;
    let [d2, h2, w2] = pooling.output_size();
    let x = x
        .reshape([batch, d, h, w, c])
        .slice([0..batch, 0..k * d2, 0..k * h2, 0..k * w2, 0..c]);
    let x = x.reshape([batch * k * d2 * k * h2 * w2, k, c]).max_dim(1); // [b·kd2·kh2·w2, 1, c]
    let x = x.reshape([batch * k * d2 * h2, k, w2 * c]).max_dim(1); // [b·kd2·h2, 1, w2·c]
    let x = x.reshape([batch * d2, k, h2 * w2 * c]).max_dim(1); // [b·d2, 1, h2·w2·c]
    x.reshape([batch * d2 * h2 * w2, c])
}

#[cfg(test)]
mod tests {
    use burn::{
        backend::{Autodiff, Flex},
        tensor::{Distribution, Tolerance},
    };

    use super::*;

    type Cpu = Autodiff<Flex>;

    fn pooling_output_points(size: [usize; 3], window: usize) -> usize {
        size.iter().map(|n| n / window).product()
    }

    #[test]
    fn the_fused_pooling_matches_burns_reductions_with_gradients() {
        let device = Default::default();
        for (batch, size, window) in [(2, [5, 4, 6], 2), (1, [6, 7, 3], 3), (3, [2, 2, 2], 1)] {
            let rows = batch * size.iter().product::<usize>();
            let x = Tensor::<Cpu, 2>::random([rows, 5], Distribution::Normal(0.0, 1.0), &device);
            let out_rows = batch * pooling_output_points(size, window);
            let upstream = Tensor::<Cpu, 2>::random([out_rows, 5], Distribution::Default, &device);
            let pooling = pool_op::Pooling {
                batch,
                size,
                window,
                channels: 5,
            };
            let run = |ours: bool| {
                let x = x.clone().require_grad();
                let y = if ours {
                    max_pool_rows(x.clone(), batch, size, window)
                } else {
                    by_reductions(x.clone(), pooling)
                };
                let grads = (y.clone() * upstream.clone()).sum().backward();
                (y.into_data(), x.grad(&grads).expect("gradient").into_data())
            };
            let ((y, d_x), (expected_y, expected_d_x)) = (run(true), run(false));
            y.assert_approx_eq::<f32>(&expected_y, Tolerance::absolute(0.0));
            d_x.assert_approx_eq::<f32>(&expected_d_x, Tolerance::absolute(0.0));
            let inference = max_pool_rows(x.clone().inner(), batch, size, window);
            inference
                .into_data()
                .assert_approx_eq::<f32>(&expected_y, Tolerance::absolute(0.0));
        }
    }
}
