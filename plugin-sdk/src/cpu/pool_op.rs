//! Max-pooling of channels-last volumes over non-overlapping cubic windows as burn
//! operations: on Flex one pass that also records, for every output value, which
//! input point held the maximum; on `Autodiff<Flex>` a backward step that writes
//! each output gradient to that point (windows do not overlap, so no point gets
//! two), in parallel over volumes.

use std::mem::MaybeUninit;

use burn::{
    backend::{
        autodiff::{
            checkpoint::{base::Checkpointer, strategy::NoCheckpointing},
            grads::Gradients,
            ops::{Backward, Ops, OpsKind},
        },
        flex::FlexTensor,
        Autodiff, Flex,
    },
    tensor::{Tensor, TensorData, TensorPrimitive},
};
use rayon::prelude::*;

use super::{contiguous_f32, f32_values, written};

/// Names the operation in a dtype error.
const OPERATION: &str = "max_pool_rows";

/// The pooling's sizes.
#[derive(Clone, Copy, Debug)]
pub struct Pooling {
    pub batch: usize,
    /// Input grid points per axis.
    pub size: [usize; 3],
    /// Window edge (and stride), in grid points.
    pub window: usize,
    pub channels: usize,
}

impl Pooling {
    /// Output grid points per axis: `size / window`, rounded down.
    pub fn output_size(&self) -> [usize; 3] {
        self.size.map(|n| n / self.window)
    }

    fn in_points(&self) -> usize {
        self.size.iter().product()
    }

    fn out_points(&self) -> usize {
        self.output_size().iter().product()
    }
}

/// The pooled volumes on Flex: `x` `[batch·d·h·w, channels]`, `f32` →
/// `[batch·d'·h'·w', channels]`.
pub fn inference(x: Tensor<Flex, 2>, pooling: Pooling) -> Tensor<Flex, 2> {
    let x = contiguous_f32(&x.into_primitive().tensor(), OPERATION);
    let (out, _) = pool(f32_values(&x), pooling);
    let shape = [pooling.batch * pooling.out_points(), pooling.channels];
    Tensor::from_primitive(TensorPrimitive::Float(FlexTensor::from_data(
        TensorData::new(out, shape),
    )))
}

/// The pooled volumes on `Autodiff<Flex>`, differentiable (shapes as
/// [`inference`]).
pub fn training(x: Tensor<Autodiff<Flex>, 2>, pooling: Pooling) -> Tensor<Autodiff<Flex>, 2> {
    let input = x.into_primitive().tensor();
    let x = contiguous_f32(&input.primitive, OPERATION);
    let (out, sources) = pool(f32_values(&x), pooling);
    let shape = [pooling.batch * pooling.out_points(), pooling.channels];
    let out = FlexTensor::from_data(TensorData::new(out, shape));
    let output = match MaxPoolBackward
        .prepare::<NoCheckpointing>([input.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(Saved { pooling, sources }, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// The maxima `[batch·out_points, channels]` and, for each, the input point of its
/// volume that held it (the first in window order among equals).
fn pool(x: &[f32], pooling: Pooling) -> (Vec<f32>, Vec<u32>) {
    let Pooling {
        window, channels, ..
    } = pooling;
    let [_, h, w] = pooling.size;
    let [od, oh, ow] = pooling.output_size();
    let (in_span, out_span) = (
        pooling.in_points() * channels,
        pooling.out_points() * channels,
    );
    assert_eq!(x.len(), pooling.batch * in_span, "{OPERATION}: input size");
    assert!(
        u32::try_from(pooling.in_points()).is_ok(),
        "{OPERATION}: more than 2³² points per volume"
    );
    let mut sources = vec![0u32; pooling.batch * out_span];
    let fill = |out: &mut [MaybeUninit<f32>]| {
        out.par_chunks_mut(out_span.max(1))
            .zip(sources.par_chunks_mut(out_span.max(1)))
            .zip(x.par_chunks(in_span.max(1)))
            .for_each_init(Vec::new, |best, ((out, sources), volume)| {
                let cells = (0..od)
                    .flat_map(|z| (0..oh).flat_map(move |y| (0..ow).map(move |x| (z, y, x))));
                for (((z, y, x), out), sources) in cells
                    .zip(out.chunks_exact_mut(channels))
                    .zip(sources.chunks_exact_mut(channels))
                {
                    let points = (0..window).flat_map(|dz| {
                        (0..window).flat_map(move |dy| {
                            (0..window).map(move |dx| {
                                ((z * window + dz) * h + y * window + dy) * w + x * window + dx
                            })
                        })
                    });
                    best.clear();
                    for point in points {
                        let row = &volume[point * channels..(point + 1) * channels];
                        if best.is_empty() {
                            best.extend_from_slice(row);
                            sources.fill(point as u32);
                            continue;
                        }
                        for ((best, source), &value) in best.iter_mut().zip(&mut *sources).zip(row)
                        {
                            if value > *best {
                                *best = value;
                                *source = point as u32;
                            }
                        }
                    }
                    for (out, &value) in out.iter_mut().zip(best.iter()) {
                        out.write(value);
                    }
                }
            })
    };
    // SAFETY: volumes pair up with their output chunks, and every output value is
    // written from `best`, which the window's first point fills (a window has
    // `window³ ≥ 1` points; the caller refuses a window of 0).
    let out = unsafe { written(pooling.batch * out_span, fill) };
    (out, sources)
}

/// What the backward step needs.
#[derive(Clone, Debug)]
struct Saved {
    pooling: Pooling,
    /// For each output value, the input point of its volume that held the maximum.
    sources: Vec<u32>,
}

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let d_out = grads.consume::<Flex>(&ops.node).to_contiguous();
        let Some(parent) = parent else { return };
        let Saved { pooling, sources } = ops.state;
        let channels = pooling.channels;
        let (in_span, out_span) = (
            pooling.in_points() * channels,
            pooling.out_points() * channels,
        );
        let d_out = f32_values(&d_out);
        let mut d_x = vec![0.0f32; pooling.batch * in_span];
        d_x.par_chunks_mut(in_span.max(1))
            .zip(d_out.par_chunks(out_span.max(1)))
            .zip(sources.par_chunks(out_span.max(1)))
            .for_each(|((d_x, d_out), sources)| {
                for (d_out, sources) in d_out
                    .chunks_exact(channels)
                    .zip(sources.chunks_exact(channels))
                {
                    for (c, (&d, &point)) in d_out.iter().zip(sources).enumerate() {
                        d_x[point as usize * channels + c] = d;
                    }
                }
            });
        let shape = [pooling.batch * pooling.in_points(), channels];
        grads.register::<Flex>(
            parent.id,
            FlexTensor::from_data(TensorData::new(d_x, shape)),
        );
    }
}
