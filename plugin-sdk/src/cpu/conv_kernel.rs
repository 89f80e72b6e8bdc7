//! 3-D convolution of channels-last volumes over plain `f32` slices, any kernel,
//! stride, padding, dilation and group count. Work is cut into tiles of one group,
//! one volume and at most [`TILE_POINTS`] output points; a tile gathers its
//! receptive fields into a small buffer (`[points, taps·c_in/groups]`, tap by tap)
//! and multiplies it by the group's kernel. The backward pass does the same per
//! group and run of volumes: the weight gradient as `patchesᵀ·d_out` (the patches
//! gathered again, not kept), the input gradient as `d_out·kernelᵀ` added back into
//! the receptive fields. Volumes never share input points and groups never share
//! channels, so tasks write disjoint memory, and every sum runs in a fixed order:
//! results do not depend on the thread count. Narrow groups with as many outputs as
//! inputs go to `conv_direct` instead.

use std::{borrow::Cow, mem::MaybeUninit, ops::Range};

use rayon::prelude::*;

use super::{
    conv_direct,
    matrix::{multiply, multiply_add, Layout, View, ViewMut},
    written,
};
use crate::ops::Conv3dGeometry;

/// Output points per tile: a tile's gathered patches stay in the core's cache.
const TILE_POINTS: usize = 256;
/// Tasks the backward pass is cut into at least (when there are enough volumes).
const MIN_TASKS: usize = 16;

/// Sizes derived from a geometry and the channel counts, shared by every pass.
#[derive(Clone, Debug)]
pub struct Plan {
    pub geometry: Conv3dGeometry,
    pub in_channels: usize,
    pub out_channels: usize,
    /// Input channels per group.
    pub(super) group_in: usize,
    /// Output channels per group.
    pub(super) group_out: usize,
    /// Kernel taps (`kd·kh·kw`).
    pub(super) taps: usize,
    /// Input grid points per volume.
    pub(super) in_points: usize,
    /// Output grid points per volume.
    pub(super) out_points: usize,
    /// Each output point's receptive field (row-major over the output grid).
    windows: Vec<Window>,
    /// Each output point's first tap's coordinates (d, h, w), some negative in the
    /// padding.
    origins: Vec<[isize; 3]>,
    /// Each tap's offset from its window's first point, in input points (taps in
    /// row-major order over the kernel).
    tap_offsets: Vec<usize>,
    /// Each tap's offset along each axis, in grid points (dilation applied).
    tap_steps: Vec<[usize; 3]>,
}

/// Where an output point's receptive field lies in its input volume.
#[derive(Clone, Copy, Debug)]
enum Window {
    /// Wholly inside: the input point of the first tap.
    Inside(usize),
    /// Partly in the padding: the first tap's coordinates, some negative.
    Border([isize; 3]),
}

impl Plan {
    /// The plan of a convolution of `in_channels` into `out_channels`; panics when
    /// the channels do not divide into the groups.
    pub fn new(geometry: Conv3dGeometry, in_channels: usize, out_channels: usize) -> Self {
        let groups = geometry.groups;
        assert!(
            groups > 0 && in_channels.is_multiple_of(groups) && out_channels.is_multiple_of(groups),
            "conv3d: {in_channels} input and {out_channels} output channels in {groups} groups"
        );
        // an empty grid could still have padded output points: nothing to read
        assert!(
            geometry.size.iter().all(|&n| n > 0),
            "conv3d: an empty grid {:?}",
            geometry.size
        );
        let out_size = geometry.output_size();
        let taps = geometry.kernel.iter().product();
        let [d, h, w] = geometry.size;
        let tap_steps: Vec<[usize; 3]> = grid(geometry.kernel)
            .map(|(tz, ty, tx)| {
                let [dz, dy, dx] = geometry.dilation;
                [tz * dz, ty * dy, tx * dx]
            })
            .collect();
        let tap_offsets = tap_steps
            .iter()
            .map(|[z, y, x]| (z * h + y) * w + x)
            .collect();
        let origins: Vec<[isize; 3]> = grid(out_size)
            .map(|(oz, oy, ox)| {
                std::array::from_fn(|a| {
                    let o = [oz, oy, ox][a];
                    (o * geometry.stride[a]) as isize - geometry.padding[a] as isize
                })
            })
            .collect();
        let windows = origins
            .iter()
            .map(|&origin| {
                let reach = |a: usize| geometry.dilation[a] * (geometry.kernel[a] - 1) + 1;
                let inside = (0..3)
                    .all(|a| origin[a] >= 0 && origin[a] as usize + reach(a) <= geometry.size[a]);
                if inside {
                    let [z, y, x] = origin.map(|c| c as usize);
                    Window::Inside((z * h + y) * w + x)
                } else {
                    Window::Border(origin)
                }
            })
            .collect();
        Self {
            geometry,
            in_channels,
            out_channels,
            group_in: in_channels / groups,
            group_out: out_channels / groups,
            taps,
            in_points: d * h * w,
            out_points: out_size.iter().product(),
            windows,
            origins,
            tap_offsets,
            tap_steps,
        }
    }

    /// Rows of the input, `batch·in_points`.
    pub fn in_rows(&self) -> usize {
        self.geometry.batch * self.in_points
    }

    /// Rows of the output, `batch·out_points`.
    pub fn out_rows(&self) -> usize {
        self.geometry.batch * self.out_points
    }

    /// Columns of a group's patches: `taps·c_in/groups`.
    fn patch_width(&self) -> usize {
        self.taps * self.group_in
    }

    /// Elements of the weight `[c_out, c_in/groups, kd, kh, kw]`.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.group_in * self.taps
    }

    /// Gathers the receptive fields of output points `points` of volume `volume`,
    /// group `group`, into `patches` `[points, taps·c_in/groups]` (zeros for
    /// padding).
    fn gather(
        &self,
        x: &[f32],
        volume: usize,
        group: usize,
        points: Range<usize>,
        patches: &mut [f32],
    ) {
        // a run length known when compiled becomes register moves, not memcpy calls
        match self.group_in {
            1 => self.gather_runs::<1>(x, volume, group, points, patches),
            2 => self.gather_runs::<2>(x, volume, group, points, patches),
            4 => self.gather_runs::<4>(x, volume, group, points, patches),
            8 => self.gather_runs::<8>(x, volume, group, points, patches),
            16 => self.gather_runs::<16>(x, volume, group, points, patches),
            32 => self.gather_runs::<32>(x, volume, group, points, patches),
            _ => self.gather_runs::<0>(x, volume, group, points, patches),
        }
    }

    /// [`Plan::gather`] for `c_in/groups` = `RUN`, or any when `RUN` is 0.
    #[inline(always)]
    fn gather_runs<const RUN: usize>(
        &self,
        x: &[f32],
        volume: usize,
        group: usize,
        points: Range<usize>,
        patches: &mut [f32],
    ) {
        let run = if RUN == 0 { self.group_in } else { RUN };
        let c_in = self.in_channels;
        let [d, h, w] = self.geometry.size.map(|n| n as isize);
        let [_, kh, kw] = self.geometry.kernel;
        let [dz, dy, dx] = self.geometry.dilation.map(|n| n as isize);
        // With one group, the taps along w of a kernel row read consecutive input
        // points' whole rows: one copy.
        let contiguous = self.geometry.groups == 1 && dx == 1;
        let first = volume * self.in_points * c_in + group * run;
        let fields = patches.chunks_exact_mut(self.taps * run);
        for (fields, &[z0, y0, x0]) in fields.zip(&self.origins[points]) {
            // the taps along w that fall inside the grid: [x_lo, x_hi)
            let (x_lo, x_hi) = taps_inside(x0, dx, w, kw);
            for (tz, plane) in fields.chunks_exact_mut(kh * kw * run).enumerate() {
                let z = z0 + tz as isize * dz;
                if !(0..d).contains(&z) {
                    plane.fill(0.0);
                    continue;
                }
                for (ty, line) in plane.chunks_exact_mut(kw * run).enumerate() {
                    let y = y0 + ty as isize * dy;
                    if !(0..h).contains(&y) {
                        line.fill(0.0);
                        continue;
                    }
                    line[..x_lo * run].fill(0.0);
                    line[x_hi * run..].fill(0.0);
                    if x_lo == x_hi {
                        // every tap of the row in the padding
                        continue;
                    }
                    // the grid point (z, y, x0 + x_lo·dx): inside, as x_lo < x_hi
                    let row = ((z * h + y) * w + x0 + x_lo as isize * dx) as usize;
                    let inside = &mut line[x_lo * run..x_hi * run];
                    if contiguous {
                        let start = first + row * c_in;
                        inside.copy_from_slice(&x[start..start + inside.len()]);
                    } else {
                        for (k, field) in inside.chunks_exact_mut(run).enumerate() {
                            let start = first + (row + k * dx as usize) * c_in;
                            field[..run].copy_from_slice(&x[start..start + run]);
                        }
                    }
                }
            }
        }
    }

    /// The `(tap, input point)` pairs of output point `point` (of a volume) whose
    /// tap reads an input point, in tap order, into `sources` (emptied first):
    /// every tap of a window inside the grid, the taps off the padding of a
    /// border one.
    pub(super) fn sources_of(&self, point: usize, sources: &mut Vec<(usize, usize)>) {
        sources.clear();
        match self.windows[point] {
            Window::Inside(base) => sources.extend(
                self.tap_offsets
                    .iter()
                    .map(|offset| base + offset)
                    .enumerate(),
            ),
            Window::Border(origin) => sources.extend(
                self.tap_steps
                    .iter()
                    .enumerate()
                    .filter_map(|(tap, steps)| Some((tap, self.point_at(origin, steps)?))),
            ),
        }
    }

    /// The input point `steps` past `origin`, `None` in the padding.
    #[inline(always)]
    fn point_at(&self, origin: [isize; 3], steps: &[usize; 3]) -> Option<usize> {
        let [d, h, w] = self.geometry.size;
        let coordinate = |a: usize, n: usize| {
            usize::try_from(origin[a] + steps[a] as isize)
                .ok()
                .filter(|&c| c < n)
        };
        Some((coordinate(0, d)? * h + coordinate(1, h)?) * w + coordinate(2, w)?)
    }

    /// Adds `d_patches` `[points, taps·c_in/groups]` of output points `points` back
    /// into the input points they were gathered from: `d_x` holds one volume's input
    /// points, this group's channels only (`[in_points, c_in/groups]`).
    fn scatter_add(&self, d_patches: &[f32], points: Range<usize>, d_x: &mut [f32]) {
        match self.group_in {
            1 => self.scatter_add_runs::<1>(d_patches, points, d_x),
            2 => self.scatter_add_runs::<2>(d_patches, points, d_x),
            4 => self.scatter_add_runs::<4>(d_patches, points, d_x),
            8 => self.scatter_add_runs::<8>(d_patches, points, d_x),
            16 => self.scatter_add_runs::<16>(d_patches, points, d_x),
            32 => self.scatter_add_runs::<32>(d_patches, points, d_x),
            _ => self.scatter_add_runs::<0>(d_patches, points, d_x),
        }
    }

    /// [`Plan::scatter_add`] for `c_in/groups` = `RUN`, or any when `RUN` is 0.
    #[inline(always)]
    fn scatter_add_runs<const RUN: usize>(
        &self,
        d_patches: &[f32],
        points: Range<usize>,
        d_x: &mut [f32],
    ) {
        let run = if RUN == 0 { self.group_in } else { RUN };
        let add = |d_x: &mut [f32], point: usize, field: &[f32]| {
            let to = &mut d_x[point * run..(point + 1) * run];
            to.iter_mut()
                .zip(&field[..run])
                .for_each(|(to, from)| *to += from);
        };
        let fields = d_patches.chunks_exact(self.taps * run);
        for (fields, window) in fields.zip(&self.windows[points]) {
            match *window {
                Window::Inside(base) => {
                    for (field, offset) in fields.chunks_exact(run).zip(&self.tap_offsets) {
                        add(d_x, base + offset, field);
                    }
                }
                Window::Border(origin) => {
                    for (field, steps) in fields.chunks_exact(run).zip(&self.tap_steps) {
                        if let Some(point) = self.point_at(origin, steps) {
                            add(d_x, point, field);
                        }
                    }
                }
            }
        }
    }

    /// The weight `[c_out, c_in/groups, taps]` with each output channel's filter
    /// reordered tap by tap, as the patches' columns: `[c_out, taps·c_in/groups]`
    /// (the weight itself for a one-tap kernel). Rows of a group are that group's
    /// kernel, transposed.
    fn tap_major<'w>(&self, weight: &'w [f32]) -> Cow<'w, [f32]> {
        let (gin, taps) = (self.group_in, self.taps);
        if taps == 1 {
            return Cow::Borrowed(weight);
        }
        let mut filters = vec![0.0; weight.len()];
        filters
            .par_chunks_mut(gin * taps)
            .zip(weight.par_chunks(gin * taps))
            .for_each(|(to, from)| {
                for (ci, filter) in from.chunks_exact(taps).enumerate() {
                    for (tap, &value) in filter.iter().enumerate() {
                        to[tap * gin + ci] = value;
                    }
                }
            });
        Cow::Owned(filters)
    }

    /// The inverse of [`Plan::tap_major`]: `[c_out, taps·c_in/groups]` back to the
    /// weight's layout `[c_out, c_in/groups, taps]`.
    fn channel_major(&self, filters: Vec<f32>) -> Vec<f32> {
        let (gin, taps) = (self.group_in, self.taps);
        if taps == 1 {
            return filters;
        }
        let mut weight = vec![0.0; filters.len()];
        weight
            .par_chunks_mut(gin * taps)
            .zip(filters.par_chunks(gin * taps))
            .for_each(|(to, from)| {
                for (ci, filter) in to.chunks_exact_mut(taps).enumerate() {
                    for (tap, value) in filter.iter_mut().enumerate() {
                        *value = from[tap * gin + ci];
                    }
                }
            });
        weight
    }

    /// Group `group`'s rows of tap-major `filters`: `[c_out/groups, taps·c_in/groups]`.
    fn group_filters<'f>(&self, filters: &'f [f32], group: usize) -> View<'f> {
        let (gout, width) = (self.group_out, self.patch_width());
        View::new(
            filters,
            Layout::rows(group * gout * width, gout, width, width),
        )
    }

    /// The output point ranges of one volume's tiles.
    fn tiles(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        (0..self.out_points)
            .step_by(TILE_POINTS)
            .map(|start| start..(start + TILE_POINTS).min(self.out_points))
    }

    /// The convolution of `x` `[batch·in_points, c_in]` by `weight` `[c_out,
    /// c_in/groups, kd, kh, kw]` → `[batch·out_points, c_out]`.
    pub fn forward(&self, x: &[f32], weight: &[f32]) -> Vec<f32> {
        assert_eq!(x.len(), self.in_rows() * self.in_channels, "conv3d input");
        assert_eq!(weight.len(), self.weight_len(), "conv3d weight");
        if conv_direct::applies(self) {
            return conv_direct::forward(self, x, weight);
        }
        let (groups, gout) = (self.geometry.groups, self.group_out);
        let filters = self.tap_major(weight);
        let width = self.patch_width();
        let chunk = self.out_points * gout;
        let len = self.out_rows() * self.out_channels;
        // Each (group, volume) writes its own `[out_points, c_out/groups]` chunk of
        // a `[groups, batch, out_points, c_out/groups]` buffer.
        let fill = |out: &mut [MaybeUninit<f32>]| {
            out.par_chunks_mut(chunk.max(1)).enumerate().for_each_init(
                Vec::new,
                |patches, (task, out)| {
                    let (group, volume) = (task / self.geometry.batch, task % self.geometry.batch);
                    let kernel = self.group_filters(&filters, group).t(); // [width, gout]
                    for points in self.tiles() {
                        patches.resize(points.len() * width, 0.0);
                        self.gather(x, volume, group, points.clone(), patches);
                        let destination =
                            Layout::rows(points.start * gout, points.len(), gout, gout);
                        multiply(
                            ViewMut::uninit(out, destination),
                            View::new(patches, Layout::rows(0, points.len(), width, width)),
                            kernel,
                            1.0,
                        );
                    }
                },
            )
        };
        // SAFETY: the chunks cover the buffer (`groups·batch` chunks of
        // `out_points·c_out/groups`), and each chunk's tiles cover its output
        // points, every element of which a product writes.
        let by_group = unsafe { written(len, fill) };
        if groups == 1 {
            return by_group;
        }
        interleave_groups(&by_group, self.out_rows(), groups, gout)
    }

    /// Gradients of the input and of the weight from `d_out` `[batch·out_points,
    /// c_out]`, given the forward pass's `x` and `weight`: `(d_x [batch·in_points,
    /// c_in], d_weight [c_out, c_in/groups, kd, kh, kw])`, each only when asked for.
    pub fn backward(
        &self,
        x: &[f32],
        weight: &[f32],
        d_out: &[f32],
        want_input: bool,
        want_weight: bool,
    ) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
        assert_eq!(x.len(), self.in_rows() * self.in_channels, "conv3d input");
        assert_eq!(weight.len(), self.weight_len(), "conv3d weight");
        assert_eq!(
            d_out.len(),
            self.out_rows() * self.out_channels,
            "conv3d d_out"
        );
        if conv_direct::applies(self) {
            return conv_direct::backward(self, x, weight, d_out, want_input, want_weight);
        }
        let (groups, batch) = (self.geometry.groups, self.geometry.batch);
        let (gin, gout, width) = (self.group_in, self.group_out, self.patch_width());
        let filters = self.tap_major(weight);
        // Tasks: a group and a run of volumes, at least MIN_TASKS of them when there
        // are as many volumes and groups, whatever the thread count (the runs, and
        // so the sums, depend on the sizes alone).
        let runs = MIN_TASKS.div_ceil(groups).clamp(1, batch.max(1));
        let per_run = (batch / runs).max(1);
        let tasks: Vec<(usize, Range<usize>)> = (0..groups)
            .flat_map(|group| {
                (0..batch)
                    .step_by(per_run)
                    .map(move |first| (group, first..(first + per_run).min(batch)))
            })
            .collect();
        let runs = tasks.len() / groups;
        // Each task's share of its group's filters' gradient `[c_out/groups,
        // taps·c_in/groups]` (tap-major), and the input gradient of its volumes in its group's
        // channels: `[groups, batch·in_points, c_in/groups]` cut along the volumes.
        let mut filter_gradients = vec![
            0.0f32;
            if want_weight {
                tasks.len() * width * gout
            } else {
                0
            }
        ];
        let mut d_x = vec![
            0.0f32;
            if want_input {
                groups * self.in_rows() * gin
            } else {
                0
            }
        ];
        let filter_parts: Vec<Option<&mut [f32]>> = if want_weight {
            filter_gradients
                .chunks_mut(width * gout)
                .map(Some)
                .collect()
        } else {
            tasks.iter().map(|_| None).collect()
        };
        let mut input_parts: Vec<Option<&mut [f32]>> = Vec::with_capacity(tasks.len());
        let mut rest = &mut d_x[..];
        for (_, volumes) in &tasks {
            if want_input {
                let (part, tail) = rest.split_at_mut(volumes.len() * self.in_points * gin);
                input_parts.push(Some(part));
                rest = tail;
            } else {
                input_parts.push(None);
            }
        }
        tasks
            .par_iter()
            .zip(filter_parts)
            .zip(input_parts)
            .for_each_init(
                || (Vec::new(), Vec::new()),
                |(patches, d_patches), (((group, volumes), mut d_filters), mut d_input)| {
                    let group_filters = self.group_filters(&filters, *group); // [gout, width]
                    for volume in volumes.clone() {
                        for points in self.tiles() {
                            let n = points.len();
                            let first_row = volume * self.out_points + points.start;
                            let d_tile = View::new(
                                d_out,
                                Layout::rows(
                                    first_row * self.out_channels + group * gout,
                                    n,
                                    gout,
                                    self.out_channels,
                                ),
                            );
                            if let Some(d_filters) = d_filters.as_deref_mut() {
                                patches.resize(n * width, 0.0);
                                self.gather(x, volume, *group, points.clone(), patches);
                                multiply_add(
                                    ViewMut::new(d_filters, Layout::rows(0, gout, width, width)),
                                    d_tile.t(),
                                    View::new(patches, Layout::rows(0, n, width, width)),
                                );
                            }
                            if let Some(d_input) = d_input.as_deref_mut() {
                                d_patches.resize(n * width, 0.0);
                                multiply(
                                    ViewMut::new(d_patches, Layout::rows(0, n, width, width)),
                                    d_tile,
                                    group_filters,
                                    1.0,
                                );
                                let span = self.in_points * gin;
                                let offset = (volume - volumes.start) * span;
                                self.scatter_add(
                                    d_patches,
                                    points,
                                    &mut d_input[offset..offset + span],
                                );
                            }
                        }
                    }
                },
            );
        let d_weight = want_weight.then(|| {
            // the runs' shares of each group, added in order: `[c_out, width]`
            let mut summed = vec![0.0f32; groups * width * gout];
            for (group, sum) in summed.chunks_exact_mut(width * gout).enumerate() {
                for part in filter_gradients[group * runs * width * gout..]
                    .chunks_exact(width * gout)
                    .take(runs)
                {
                    sum.iter_mut().zip(part).for_each(|(s, p)| *s += p);
                }
            }
            self.channel_major(summed)
        });
        let d_input = want_input.then(|| {
            if groups == 1 {
                d_x
            } else {
                interleave_groups(&d_x, self.in_rows(), groups, gin)
            }
        });
        (d_input, d_weight)
    }
}

/// Of `taps` taps at `origin + t·step` (t = 0, 1, …) along an axis of `size`
/// points, the range of `t` that falls inside `[0, size)`.
fn taps_inside(origin: isize, step: isize, size: isize, taps: usize) -> (usize, usize) {
    // first t with origin + t·step ≥ 0, first t with origin + t·step ≥ size
    let first_at = |bound: isize| -> usize {
        let missing = bound - origin;
        if missing <= 0 {
            0
        } else {
            (missing as usize).div_ceil(step as usize).min(taps)
        }
    };
    let (lo, hi) = (first_at(0), first_at(size));
    (lo, hi.max(lo))
}

/// `[groups, rows, width]` → `[rows, groups·width]`.
fn interleave_groups(by_group: &[f32], rows: usize, groups: usize, width: usize) -> Vec<f32> {
    let mut out = vec![0.0; by_group.len()];
    out.par_chunks_mut(TILE_POINTS * groups * width)
        .enumerate()
        .for_each(|(block, out)| {
            let first = block * TILE_POINTS;
            for (row, out) in out.chunks_exact_mut(groups * width).enumerate() {
                for (group, out) in out.chunks_exact_mut(width).enumerate() {
                    let start = (group * rows + first + row) * width;
                    out.copy_from_slice(&by_group[start..start + width]);
                }
            }
        });
    out
}

/// Every `(i, j, k)` of a `[n0, n1, n2]` grid in row-major order.
fn grid(n: [usize; 3]) -> impl Iterator<Item = (usize, usize, usize)> {
    (0..n[0]).flat_map(move |i| (0..n[1]).flat_map(move |j| (0..n[2]).map(move |k| (i, j, k))))
}
