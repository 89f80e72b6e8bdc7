//! `a[target] + b[source] + c + bias` (rows of `a` and `b` picked per edge) as one
//! burn operation on `Autodiff<Flex>`: one pass writes the `[edges, width]` output
//! where burn's `select`s and broadcast additions write five; its backward adds the
//! output gradient into `a`'s and `b`'s rows (in parallel over column blocks, so the
//! sums' order and result do not depend on the thread count), passes it to `c` as
//! it is, and sums its rows for `bias`.

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

use super::{contiguous_f32, f32_values, vector, written};

/// Edges per parallel block of the forward pass and of the bias gradient.
const BLOCK_ROWS: usize = 512;
/// Columns per parallel block of the scatter-add (one 64-byte cache line).
const BLOCK_COLUMNS: usize = 16;

/// The differentiable sum on `Autodiff<Flex>`: `a`, `b` `[nodes, width]`, `c`
/// `[edges, width]`, `bias` `[width]`, all `f32`; `target`, `source` one node index
/// per edge, each below `nodes` → `[edges, width]`.
pub fn training(
    a: Tensor<Autodiff<Flex>, 2>,
    target: Vec<usize>,
    b: Tensor<Autodiff<Flex>, 2>,
    source: Vec<usize>,
    c: Tensor<Autodiff<Flex>, 2>,
    bias: Tensor<Autodiff<Flex>, 1>,
) -> Tensor<Autodiff<Flex>, 2> {
    let [a, b, c, bias] = [
        a.into_primitive().tensor(),
        b.into_primitive().tensor(),
        c.into_primitive().tensor(),
        bias.into_primitive().tensor(),
    ];
    let nodes = a.primitive.layout().shape().dims::<2>()[0];
    let out = sum_rows(
        [&a.primitive, &b.primitive, &c.primitive, &bias.primitive],
        &target,
        &source,
    );
    let state = Indices {
        nodes,
        target,
        source,
    };
    let output = match GatherSumBackward
        .prepare::<NoCheckpointing>([
            a.node.clone(),
            b.node.clone(),
            c.node.clone(),
            bias.node.clone(),
        ])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// The same sum on Flex, without a graph.
pub fn inference(
    a: Tensor<Flex, 2>,
    target: Vec<usize>,
    b: Tensor<Flex, 2>,
    source: Vec<usize>,
    c: Tensor<Flex, 2>,
    bias: Tensor<Flex, 1>,
) -> Tensor<Flex, 2> {
    let [a, b, c, bias] = [
        a.into_primitive().tensor(),
        b.into_primitive().tensor(),
        c.into_primitive().tensor(),
        bias.into_primitive().tensor(),
    ];
    let out = sum_rows([&a, &b, &c, &bias], &target, &source);
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// `a[target] + b[source] + c + bias` of the operands `[a, b, c, bias]` into a new
/// `[edges, width]` tensor.
fn sum_rows(operands: [&FlexTensor; 4], target: &[usize], source: &[usize]) -> FlexTensor {
    let [a_values, b_values, c_values, bias_values] =
        operands.map(|x| contiguous_f32(x, "gather_sum"));
    let nodes = a_values.layout().shape().dims::<2>()[0];
    let [edges, width] = c_values.layout().shape().dims::<2>();
    assert!(
        b_values.layout().shape().dims::<2>() == [nodes, width]
            && a_values.layout().shape().dims::<2>()[1] == width
            && bias_values.layout().shape().num_elements() == width
            && target.len() == edges
            && source.len() == edges,
        "gather_sum: shapes disagree"
    );
    assert!(
        target.iter().chain(source).all(|&i| i < nodes),
        "gather_sum: an index is not below the {nodes} nodes"
    );
    let (a_rows, b_rows, c_rows, bias_row) = (
        f32_values(&a_values),
        f32_values(&b_values),
        f32_values(&c_values),
        f32_values(&bias_values),
    );
    assert_eq!(c_rows.len(), edges * width);
    let fill = |out: &mut [MaybeUninit<f32>]| {
        out.par_chunks_mut(BLOCK_ROWS * width)
            .zip(c_rows.par_chunks(BLOCK_ROWS * width))
            .enumerate()
            .for_each(|(block, (out, c))| {
                let rows = block * BLOCK_ROWS..block * BLOCK_ROWS + c.len() / width;
                let (target, source) = (&target[rows.clone()], &source[rows]);
                vector::gather_sum_rows(out, c, a_rows, b_rows, bias_row, target, source)
            })
    };
    // SAFETY: `c` holds `edges` rows of `width` (asserted), so the blocks and rows
    // of `out` pair up one to one with its own, and each row's `width` elements are
    // written (`a`'s and `b`'s rows and `bias` are `width` long, checked above).
    let out = unsafe { written(edges * width, fill) };
    FlexTensor::from_data(TensorData::new(out, [edges, width]))
}

/// `Σ_e d_out[e]` into row `index[e]` of a `[nodes, width]` gradient.
fn scatter_add(d_out: &[f32], index: &[usize], nodes: usize, width: usize) -> FlexTensor {
    let mut sums = vec![0.0f32; nodes * width];
    // Each task owns a block of columns of every row: disjoint writes, and each
    // element's sum runs over the edges in order.
    let blocks = width.div_ceil(BLOCK_COLUMNS);
    let columns: Vec<Vec<f32>> = (0..blocks)
        .into_par_iter()
        .map(|block| {
            let start = block * BLOCK_COLUMNS;
            let span = BLOCK_COLUMNS.min(width - start);
            let mut part = vec![0.0f32; nodes * span];
            vector::scatter_add_columns(&mut part, d_out, index, width, start, span);
            part
        })
        .collect();
    for (block, part) in columns.iter().enumerate() {
        let start = block * BLOCK_COLUMNS;
        let span = BLOCK_COLUMNS.min(width - start);
        for (node, values) in part.chunks_exact(span).enumerate() {
            sums[node * width + start..node * width + start + span].copy_from_slice(values);
        }
    }
    FlexTensor::from_data(TensorData::new(sums, [nodes, width]))
}

/// Column sums of `[edges, width]` rows: blocks of rows in parallel, added in order.
fn column_sums(d_out: &[f32], width: usize) -> FlexTensor {
    let blocks: Vec<Vec<f32>> = d_out
        .par_chunks(BLOCK_ROWS * width)
        .map(|rows| {
            let mut sums = vec![0.0f32; width];
            for row in rows.chunks_exact(width) {
                sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
            }
            sums
        })
        .collect();
    let mut sums = vec![0.0f32; width];
    for block in blocks {
        sums.iter_mut().zip(block).for_each(|(s, v)| *s += v);
    }
    FlexTensor::from_data(TensorData::new(sums, [width]))
}

/// The edges' node indices, kept for the backward step.
#[derive(Clone, Debug)]
struct Indices {
    nodes: usize,
    target: Vec<usize>,
    source: Vec<usize>,
}

#[derive(Debug)]
struct GatherSumBackward;

impl Backward<Flex, 4> for GatherSumBackward {
    type State = Indices;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent_a, parent_b, parent_c, parent_bias] = ops.parents;
        let d_out = grads.consume::<Flex>(&ops.node).to_contiguous();
        let [edges, width] = d_out.layout().shape().dims::<2>();
        let state = ops.state;
        let d_values = &f32_values(&d_out)[..edges * width];
        if let Some(parent) = parent_a {
            let d_a = scatter_add(d_values, &state.target, state.nodes, width);
            grads.register::<Flex>(parent.id, d_a);
        }
        if let Some(parent) = parent_b {
            let d_b = scatter_add(d_values, &state.source, state.nodes, width);
            grads.register::<Flex>(parent.id, d_b);
        }
        if let Some(parent) = parent_bias {
            grads.register::<Flex>(parent.id, column_sums(d_values, width));
        }
        if let Some(parent) = parent_c {
            grads.register::<Flex>(parent.id, d_out);
        }
    }
}
