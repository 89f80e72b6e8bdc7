//! The direct path of the channels-last 3-D convolution for narrow groups (as many
//! output as input channels per group, at most [`MAX_GROUP`]): a ResNeXt's 3³
//! convolutions with 32 groups of 4 or 8 channels. Gathering their receptive fields
//! writes 27 copies of the input, and the products behind them are 4 or 8 columns
//! wide, which matrix kernels run far below their speed. Here each input point's
//! channels are first spread so that every output channel's lane holds the input
//! channel it multiplies (`spread[point][ci][c] = x[point][group(c)·n + ci]`), and
//! the convolution becomes element-wise multiply-adds over `n·c_out` contiguous
//! values per tap: `acc += spread[source] ⊙ expanded[tap]`, with the weight
//! expanded alike (`expanded[tap][ci][c] = w[c][ci][tap]`). Each task is one
//! volume (volumes share no input points); sums run in a fixed order.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::{conv_kernel::Plan, written};

/// The widest group the direct path takes: the spread input is this many times
/// the input's size.
pub const MAX_GROUP: usize = 8;
/// Output points per block of the weight gradient.
const BLOCK_POINTS: usize = 16;

/// Whether the direct path computes `plan`'s convolution.
pub fn applies(plan: &Plan) -> bool {
    plan.group_in == plan.group_out && plan.group_in <= MAX_GROUP
}

/// The weight `[c_out, n, taps]` expanded to `[taps, n, c_out]`.
fn expand(plan: &Plan, weight: &[f32]) -> Vec<f32> {
    let (n, taps, c_out) = (plan.group_in, plan.taps, plan.out_channels);
    let mut expanded = vec![0.0; weight.len()];
    for (c, filters) in weight.chunks_exact(n * taps).enumerate() {
        for (ci, filter) in filters.chunks_exact(taps).enumerate() {
            for (tap, &value) in filter.iter().enumerate() {
                expanded[(tap * n + ci) * c_out + c] = value;
            }
        }
    }
    expanded
}

/// The inverse of [`expand`]: `[taps, n, c_out]` back to `[c_out, n, taps]`.
fn contract(plan: &Plan, expanded: &[f32]) -> Vec<f32> {
    let (n, taps, c_out) = (plan.group_in, plan.taps, plan.out_channels);
    let mut weight = vec![0.0; expanded.len()];
    for (c, filters) in weight.chunks_exact_mut(n * taps).enumerate() {
        for (ci, filter) in filters.chunks_exact_mut(taps).enumerate() {
            for (tap, value) in filter.iter_mut().enumerate() {
                *value = expanded[(tap * n + ci) * c_out + c];
            }
        }
    }
    weight
}

/// One volume's input points `[in_points, c_in]` spread to `[in_points, n, c_out]`.
#[inline(always)]
fn spread(plan: &Plan, volume: &[f32], spread: &mut Vec<f32>) {
    let (n, c_in) = (plan.group_in, plan.in_channels);
    spread.resize(plan.in_points * n * c_in, 0.0);
    for (point, spread) in volume
        .chunks_exact(c_in)
        .zip(spread.chunks_exact_mut(n * c_in))
    {
        for (ci, lanes) in spread.chunks_exact_mut(c_in).enumerate() {
            // each group's n lanes hold the group's input channel ci
            for (group, lanes) in lanes.chunks_exact_mut(n).enumerate() {
                lanes.fill(point[group * n + ci]);
            }
        }
    }
}

/// `acc += a ⊙ b`.
#[inline(always)]
fn multiply_add(acc: &mut [f32], a: &[f32], b: &[f32]) {
    for ((acc, a), b) in acc.iter_mut().zip(a).zip(b) {
        *acc += a * b;
    }
}

/// `out[c] = Σ_ci acc[ci][c]` for `acc` `[n, c_out]`.
#[inline(always)]
fn sum_spread(acc: &[f32], out: &mut [MaybeUninit<f32>]) {
    let c_out = out.len();
    for (c, out) in out.iter_mut().enumerate() {
        out.write(acc.iter().skip(c).step_by(c_out).sum());
    }
}

/// Buffers a task reuses from volume to volume.
#[derive(Default)]
struct Scratch {
    /// `[in_points, n, c_out]`: the spread input.
    spread: Vec<f32>,
    /// `[n, c_out]`: one output point's sums, or its gradient in every lane.
    lanes: Vec<f32>,
    /// One output point's `(tap, input point)` pairs.
    sources: Vec<(usize, usize)>,
    /// A block of output points' input point per tap, `[points, taps]`.
    table: Vec<Option<usize>>,
}

multiversioned! {
    /// One volume's output points `out` `[out_points, c_out]` from its input points
    /// `x` `[in_points, c_in]`.
    fn forward_volume(
        plan: &Plan,
        expanded: &[f32],
        x: &[f32],
        out: &mut [MaybeUninit<f32>],
        scratch: &mut Scratch,
    ) {
        let (n, c_out) = (plan.group_in, plan.out_channels);
        let width = n * c_out;
        spread(plan, x, &mut scratch.spread);
        scratch.lanes.resize(width, 0.0);
        for (point, out) in out.chunks_exact_mut(c_out).enumerate() {
            scratch.lanes.fill(0.0);
            plan.sources_of(point, &mut scratch.sources);
            for &(tap, source) in &scratch.sources {
                multiply_add(
                    &mut scratch.lanes,
                    &scratch.spread[source * width..(source + 1) * width],
                    &expanded[tap * width..(tap + 1) * width],
                );
            }
            sum_spread(&scratch.lanes, out);
        }
    }
}

multiversioned! {
    /// One volume's share of the gradients: its input points' `d_x` `[in_points,
    /// c_in]` (every element written) and its addition to `d_expanded` `[taps, n, c_out]`,
    /// from its output points' gradient `d_out` `[out_points, c_out]`. `readers` lists
    /// for each input point the `(output point, tap)` pairs that read it.
    fn backward_volume(
        plan: &Plan,
        expanded: &[f32],
        readers: &Readers,
        x: &[f32],
        d_out: &[f32],
        d_x: Option<&mut [MaybeUninit<f32>]>,
        d_expanded: Option<&mut [f32]>,
        scratch: &mut Scratch,
    ) {
        let (n, c_in, c_out, taps) = (
            plan.group_in,
            plan.in_channels,
            plan.out_channels,
            plan.taps,
        );
        let width = n * c_out;
        if let Some(d_expanded) = d_expanded {
            // d_expanded[tap][ci][c] += spread[source][ci][c]·d_out[point][c], a block
            // of output points at a time, tap by tap: the tap's row stays in cache
            spread(plan, x, &mut scratch.spread);
            for first in (0..plan.out_points).step_by(BLOCK_POINTS) {
                let block = first..(first + BLOCK_POINTS).min(plan.out_points);
                scratch.table.clear();
                scratch.table.resize(block.len() * taps, None);
                for (i, point) in block.clone().enumerate() {
                    plan.sources_of(point, &mut scratch.sources);
                    for &(tap, source) in &scratch.sources {
                        scratch.table[i * taps + tap] = Some(source);
                    }
                }
                for (tap, row) in d_expanded.chunks_exact_mut(width).enumerate() {
                    for (i, point) in block.clone().enumerate() {
                        let Some(source) = scratch.table[i * taps + tap] else {
                            continue;
                        };
                        let d_point = &d_out[point * c_out..(point + 1) * c_out];
                        let spread_source = &scratch.spread[source * width..(source + 1) * width];
                        for (row, spread_ci) in row
                            .chunks_exact_mut(c_out)
                            .zip(spread_source.chunks_exact(c_out))
                        {
                            multiply_add(row, spread_ci, d_point);
                        }
                    }
                }
            }
        }
        if let Some(d_x) = d_x {
            // lanes[ci][c] = Σ over the (point, tap) reading this input point of
            // d_out[point][c]·expanded[tap][ci][c]; then d_x[group·n + ci] sums the
            // group's lanes
            scratch.lanes.resize(width, 0.0);
            for (input, d_point) in d_x.chunks_exact_mut(c_in).enumerate() {
                scratch.lanes.fill(0.0);
                for &(point, tap) in readers.of(input) {
                    let d_out_point = &d_out[point * c_out..(point + 1) * c_out];
                    let kernel = &expanded[tap * width..(tap + 1) * width];
                    for (lanes, kernel_ci) in scratch
                        .lanes
                        .chunks_exact_mut(c_out)
                        .zip(kernel.chunks_exact(c_out))
                    {
                        multiply_add(lanes, d_out_point, kernel_ci);
                    }
                }
                for (ci, lanes) in scratch.lanes.chunks_exact(c_out).enumerate() {
                    for (group, lanes) in lanes.chunks_exact(n).enumerate() {
                        d_point[group * n + ci].write(lanes.iter().sum());
                    }
                }
            }
        }
    }
}

/// For each input point of a volume, the `(output point, tap)` pairs whose tap
/// reads it, in order of output point then tap.
struct Readers {
    /// `[in_points + 1]`: where each input point's pairs start in `pairs`.
    starts: Vec<usize>,
    pairs: Vec<(usize, usize)>,
}

impl Readers {
    fn new(plan: &Plan) -> Self {
        let mut counts = vec![0usize; plan.in_points + 1];
        let mut sources = Vec::new();
        for point in 0..plan.out_points {
            plan.sources_of(point, &mut sources);
            for &(_, source) in &sources {
                counts[source + 1] += 1;
            }
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let starts = counts.clone();
        let mut next = counts;
        let mut pairs = vec![(0, 0); starts[plan.in_points]];
        for point in 0..plan.out_points {
            plan.sources_of(point, &mut sources);
            for &(tap, source) in &sources {
                pairs[next[source]] = (point, tap);
                next[source] += 1;
            }
        }
        Self { starts, pairs }
    }

    fn of(&self, input: usize) -> &[(usize, usize)] {
        &self.pairs[self.starts[input]..self.starts[input + 1]]
    }
}

/// The convolution of `x` `[batch·in_points, c_in]` by `weight` `[c_out, n,
/// taps]` → `[batch·out_points, c_out]`.
pub fn forward(plan: &Plan, x: &[f32], weight: &[f32]) -> Vec<f32> {
    let (c_in, c_out) = (plan.in_channels, plan.out_channels);
    let expanded = expand(plan, weight);
    let fill = |out: &mut [MaybeUninit<f32>]| {
        out.par_chunks_mut((plan.out_points * c_out).max(1))
            .zip(x.par_chunks((plan.in_points * c_in).max(1)))
            .for_each_init(Scratch::default, |scratch, (out, volume)| {
                forward_volume(plan, &expanded, volume, out, scratch)
            })
    };
    // SAFETY: the volumes' chunks cover the output (`batch` chunks of
    // `out_points·c_out`, as `x` holds `batch` chunks of `in_points·c_in`, checked
    // by the caller), and each chunk's points write all `c_out` of their values.
    unsafe { written(plan.out_rows() * c_out, fill) }
}

/// Gradients of the input and of the weight from `d_out` `[batch·out_points,
/// c_out]`, given the forward pass's `x` and `weight` (see [`Plan::backward`]).
pub fn backward(
    plan: &Plan,
    x: &[f32],
    weight: &[f32],
    d_out: &[f32],
    want_input: bool,
    want_weight: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let (c_in, c_out, batch) = (plan.in_channels, plan.out_channels, plan.geometry.batch);
    let expanded = expand(plan, weight);
    let readers = Readers::new(plan);
    let (in_span, out_span) = (plan.in_points * c_in, plan.out_points * c_out);
    let mut d_expanded = vec![
        0.0f32;
        if want_weight {
            batch * expanded.len()
        } else {
            0
        }
    ];
    let weight_parts: Vec<Option<&mut [f32]>> = if want_weight {
        d_expanded
            .chunks_mut(expanded.len().max(1))
            .map(Some)
            .collect()
    } else {
        (0..batch).map(|_| None).collect()
    };
    let run = |input_parts: Vec<Option<&mut [MaybeUninit<f32>]>>| {
        (0..batch)
            .into_par_iter()
            .zip(input_parts)
            .zip(weight_parts)
            .for_each_init(
                Scratch::default,
                |scratch, ((volume, d_input), d_weight)| {
                    let x = &x[volume * in_span..(volume + 1) * in_span];
                    let d_out = &d_out[volume * out_span..(volume + 1) * out_span];
                    backward_volume(
                        plan, &expanded, &readers, x, d_out, d_input, d_weight, scratch,
                    )
                },
            )
    };
    // The direct path has as many input as output channels (`applies`), which is
    // what makes `backward_volume` write every input channel.
    debug_assert_eq!(c_in, c_out);
    let d_x = if want_input {
        let fill =
            |d_x: &mut [MaybeUninit<f32>]| run(d_x.chunks_mut(in_span.max(1)).map(Some).collect());
        // SAFETY: the buffer splits into `batch` volumes of `in_points·c_in`, one per
        // task, and `backward_volume` writes all `c_in` values of each of a volume's
        // points (each group's `n` lanes, `c_in = groups·n`).
        Some(unsafe { written(plan.in_rows() * c_in, fill) })
    } else {
        run((0..batch).map(|_| None).collect());
        None
    };
    let d_weight = want_weight.then(|| {
        // the volumes' shares, added in order
        let mut summed = vec![0.0f32; expanded.len()];
        for part in d_expanded.chunks_exact(expanded.len().max(1)) {
            summed.iter_mut().zip(part).for_each(|(s, p)| *s += p);
        }
        contract(plan, &summed)
    });
    (d_x, d_weight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Conv3dGeometry;

    #[test]
    fn narrow_equal_groups_take_the_direct_path_and_others_not() {
        let geometry = |groups| Conv3dGeometry {
            batch: 1,
            size: [4; 3],
            kernel: [3; 3],
            stride: [1; 3],
            padding: [1; 3],
            dilation: [1; 3],
            groups,
        };
        // 128 channels in 32 groups of 4, as a ResNeXt's first stage
        assert!(applies(&Plan::new(geometry(32), 128, 128)));
        assert!(applies(&Plan::new(geometry(2), 16, 16)));
        // wider groups, or not as many outputs as inputs per group
        assert!(!applies(&Plan::new(geometry(2), 32, 32)));
        assert!(!applies(&Plan::new(geometry(4), 16, 32)));
    }
}
